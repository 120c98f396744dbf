/* `corral test --spec hil.json [BOARD]`: a repository's HIL test as a JSON file: one board's
 * expect steps, or several boards by role ("roles": {"ap": {...}, "sta": {...}}) leased together
 * (all or none), flashed and run in parallel, with ${ROLE.NAME} sends between them; one JUnit
 * testsuite per role. A bad spec is a usage error (exit 2) naming the field. */
#include "client.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROLES 8

/* Keys of a role (also allowed at the top level as every role's defaults). */
static const char *const role_keys[] = { "board", "label", "labels", "family", "firmware", "elf", "flash_mode", "steps",
                                         "fail_on", "default_fail_on", "parse", "timeout_ms", "reset", NULL };
static const char *const top_keys[] = { "name", "roles", "timeout_s", "wait_s", "ttl_s", NULL };
/* Keys passed through to the expect job as they are. */
static const char *const job_keys[] = { "steps", "fail_on", "default_fail_on", "parse", "timeout_ms", "reset", NULL };

struct role {
        const char *name;
        json_t *spec;           /* merged: top-level defaults, then the role's own keys */
        char board[128];
        char token[256];
        long long resv_id;
        json_t *job;
        int rc;
        struct cli cli;
        json_t *params;
};

static bool in(const char *const *list, const char *k)
{
        for (size_t i = 0; list[i]; i++)
                if (!strcmp(list[i], k))
                        return true;
        return false;
}

static int bad(const char *file, const char *field, const char *what)
{
        fprintf(stderr, "corral: %s: %s %s\n", file, field, what);
        return CLI_USAGE;
}

/* Check one role's merged keys; where: "roles.ap" or "" (top level). */
static int check_role(const char *file, const char *where, const json_t *r, const json_t *roles)
{
        char f[160];
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)r, k, v) {
                snprintf(f, sizeof(f), "%s%s%s", where, *where ? "." : "", k);
                bool ok = true;
                const char *want = "";
                if (!strcmp(k, "steps")) {
                        ok = json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= CLI_MAX_STEPS;
                        want = "must be a list of 1 to 128 steps ({\"expect\": ...}, {\"send\": ...}, ...)";
                        size_t i;
                        json_t *st;
                        json_array_foreach(v, i, st) {
                                if (!json_is_object(st)) {
                                        snprintf(f + strlen(f), sizeof(f) - strlen(f), "[%zu]", i);
                                        return bad(file, f, "must be an object such as {\"expect\": \"ready\"}");
                                }
                                const char *send = json_string_value(json_object_get(st, "send"));
                                for (const char *p = send ? strstr(send, "${") : NULL; p; p = strstr(p + 2, "${")) {
                                        size_t n = strcspn(p + 2, ".}");
                                        if (p[2 + n] != '.')
                                                continue;
                                        char role[64];
                                        snprintf(role, sizeof(role), "%.*s", (int)n, p + 2);
                                        if (!json_object_get(roles, role)) {
                                                snprintf(f + strlen(f), sizeof(f) - strlen(f), "[%zu].send", i);
                                                fprintf(stderr, "corral: %s: %s refers to role '%s', which the spec's "
                                                        "'roles' does not name\n", file, f, role);
                                                return CLI_USAGE;
                                        }
                                }
                        }
                } else if (!strcmp(k, "fail_on")) {
                        ok = json_is_array(v), want = "must be a list of strings or {\"regex\": ...} objects";
                } else if (!strcmp(k, "default_fail_on") || !strcmp(k, "reset")) {
                        ok = json_is_boolean(v), want = "must be true or false";
                } else if (!strcmp(k, "timeout_ms")) {
                        ok = json_is_integer(v) && json_integer_value(v) > 0, want = "must be a positive whole number";
                } else if (!strcmp(k, "labels")) {
                        size_t i;
                        json_t *l;
                        ok = json_is_array(v), want = "must be a list of strings";
                        json_array_foreach(v, i, l)
                                ok = ok && json_is_string(l);
                } else {
                        ok = json_is_string(v) && json_string_length(v), want = "must be a non-empty string";
                }
                if (!ok)
                        return bad(file, f, want);
        }
        if (!json_object_get(r, "steps")) {
                snprintf(f, sizeof(f), "%s%ssteps", where, *where ? "." : "");
                return bad(file, f, "is missing: give the steps to run (e.g. [{\"expect\": \"ready\"}])");
        }
        return 0;
}

/* Parse and check the spec into roles (n of them). 0 or an exit code after printing why. */
static int load(const char *file, json_t **ret_spec, struct role *roles, size_t *n)
{
        json_error_t je;
        json_t *spec = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
        if (!spec) {
                fprintf(stderr, "corral: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
                return CLI_USAGE;
        }
        *ret_spec = spec;
        if (!json_is_object(spec))
                return bad(file, "the spec", "must be a JSON object");
        const char *k;
        json_t *v;
        json_object_foreach(spec, k, v) {
                if (!in(role_keys, k) && !in(top_keys, k)) {
                        fprintf(stderr, "corral: %s: unknown key '%s' (a spec has roles, timeout_s, wait_s, ttl_s, "
                                "name and a role's keys: board, label, labels, family, firmware, elf, flash_mode, steps, "
                                "fail_on, default_fail_on, parse, timeout_ms, reset)\n", file, k);
                        return CLI_USAGE;
                }
                if ((!strcmp(k, "timeout_s") || !strcmp(k, "wait_s") || !strcmp(k, "ttl_s")) &&
                    (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400))
                        return bad(file, k, "must be a whole number of seconds (0 to 86400)");
        }
        json_t *rs = json_object_get(spec, "roles");
        json_t *defaults = json_object();
        json_object_foreach(spec, k, v)
                if (in(role_keys, k))
                        json_object_set(defaults, k, v);
        json_object_set_new(spec, "_defaults", defaults); /* owned by spec from here on */
        *n = 0;
        if (!rs) {
                roles[0].name = "dut";
                roles[0].spec = json_incref(defaults);
                *n = 1;
                return check_role(file, "", defaults, NULL);
        }
        if (!json_is_object(rs) || !json_object_size(rs) || json_object_size(rs) > MAX_ROLES)
                return bad(file, "roles", "must be an object of 1 to 8 roles, e.g. {\"ap\": {\"label\": \"esp32\", "
                           "\"steps\": [...]}}");
        json_object_foreach(rs, k, v) {
                char where[96];
                snprintf(where, sizeof(where), "roles.%s", k);
                size_t len = strlen(k);
                bool ok = len >= 1 && len <= 32;
                for (size_t i = 0; ok && i < len; i++)
                        ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') ||
                             k[i] == '_' || k[i] == '-';
                if (!ok)
                        return bad(file, where, "is not a role name: use 1 to 32 letters, digits, '_' or '-'");
                if (!json_is_object(v))
                        return bad(file, where, "must be an object with the role's board match and steps");
                const char *rk;
                json_t *rv;
                json_object_foreach(v, rk, rv)
                        if (!in(role_keys, rk)) {
                                fprintf(stderr, "corral: %s: %s: unknown key '%s'\n", file, where, rk);
                                return CLI_USAGE;
                        }
                json_t *m = json_deep_copy(defaults);
                json_object_update(m, v);
                roles[*n].name = k;
                roles[*n].spec = m;
                (*n)++;
                int rc = check_role(file, where, m, rs);
                if (rc)
                        return rc;
        }
        return 0;
}

/* The reservation match of a role. */
static json_t *role_match(const json_t *r)
{
        json_t *m = json_object(), *labels = json_array();
        if (json_object_get(r, "label"))
                json_array_append(labels, json_object_get(r, "label"));
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(r, "labels"), i, l)
                json_array_append(labels, l);
        if (json_array_size(labels))
                json_object_set(m, "labels", labels);
        json_decref(labels);
        if (json_object_get(r, "family"))
                json_object_set(m, "family", json_object_get(r, "family"));
        if (json_object_get(r, "board"))
                json_object_set(m, "board", json_object_get(r, "board"));
        return m;
}

/* Lease every role's board in one request (all or none). */
static int reserve_all(struct cli *c, const json_t *spec, struct role *roles, size_t n)
{
        json_t *boards = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(boards, json_pack("{s:s, s:o}", "role", roles[i].name, "match", role_match(roles[i].spec)));
        char owner[256];
        const char *job = getenv("CI_JOB_ID") ? getenv("CI_JOB_ID") : getenv("GITHUB_RUN_ID");
        snprintf(owner, sizeof(owner), "%s%s%s", getenv("CORRAL_OWNER") ? getenv("CORRAL_OWNER") : "corral-test",
                 job ? "-ci-" : "", job ? job : "");
        json_t *ttl = json_object_get(spec, "ttl_s"), *wait = json_object_get(spec, "wait_s");
        int wait_s = c->wait_s ? c->wait_s : wait ? (int)json_integer_value(wait) : 0;
        json_t *body = json_pack("{s:o, s:s, s:i}", "boards", boards, "owner", owner, "wait_s", wait_s);
        if (ttl)
                json_object_set(body, "ttl_s", ttl);
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "POST", "/api/v1/reservations", body, wait_s + 30, &r);
        json_decref(body);
        if (rc)
                return rc;
        if (r.status != 201) {
                rc = cli_fail(c, "cannot reserve the test's boards", &r);
                cli_resp_clear(&r);
                return rc;
        }
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(r.body, "reservations"), i, l) {
                const char *role = json_string_value(json_object_get(l, "role"));
                for (size_t k = 0; k < n; k++)
                        if (role && !strcmp(role, roles[k].name)) {
                                snprintf(roles[k].board, sizeof(roles[k].board), "%s",
                                         json_string_value(json_object_get(l, "board")));
                                snprintf(roles[k].token, sizeof(roles[k].token), "%s",
                                         json_string_value(json_object_get(l, "token")));
                                roles[k].resv_id = json_integer_value(json_object_get(l, "id"));
                        }
        }
        cli_resp_clear(&r);
        if (!c->json)
                for (size_t k = 0; k < n; k++)
                        fprintf(stderr, "corral: role %s: board %s (reservation %lld)\n", roles[k].name, roles[k].board,
                                roles[k].resv_id);
        return 0;
}

static void release_all(struct cli *c, struct role *roles, size_t n)
{
        for (size_t k = 0; k < n; k++) {
                if (!roles[k].token[0])
                        continue;
                char path[64];
                snprintf(path, sizeof(path), "/api/v1/reservations/%lld", roles[k].resv_id);
                snprintf(c->lease, sizeof(c->lease), "%s", roles[k].token);
                struct cli_resp r = { 0 };
                if (cli_call(c, "DELETE", path, NULL, 0, &r) == 0 && r.status != 200)
                        cli_fail(c, "cannot release a test board", &r);
                cli_resp_clear(&r);
        }
}

static void *run_role(void *arg)
{
        struct role *r = arg;
        r->rc = cli_job_follow(&r->cli, r->board, r->params, false, false, &r->job);
        if (r->rc == 0)
                r->rc = cli_run_exit(r->job);
        return NULL;
}

/* Worst first: farm error, timeout, failure, pass. */
static int worse(int a, int b)
{
        static const int order[] = { CLI_FARM, CLI_USAGE, CLI_TIMEOUT, CLI_FAILED, CLI_OK };
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
                if (a == order[i] || b == order[i])
                        return order[i];
        return a;
}

/* The expect job's params of each role, its firmware uploaded first (a missing file is a usage
 * error before any board is taken). dir: where the spec is, for relative firmware paths. */
static int role_params(struct cli *c, const json_t *spec, const char *dir, struct role *roles, size_t n)
{
        for (size_t k = 0; k < n; k++) {
                json_t *p = json_object();
                const char *jk;
                json_t *v;
                json_object_foreach(roles[k].spec, jk, v)
                        if (in(job_keys, jk))
                                json_object_set(p, jk, v);
                json_object_set_new(p, "kind", json_string("expect"));
                if (json_object_get(spec, "timeout_s"))
                        json_object_set(p, "timeout_s", json_object_get(spec, "timeout_s"));
                if (c->timeout_s)
                        json_object_set_new(p, "timeout_s", json_integer(c->timeout_s));
                roles[k].params = p;
                const char *fw = json_string_value(json_object_get(roles[k].spec, "firmware"));
                if (fw) {
                        char path[4096], id[65] = "";
                        snprintf(path, sizeof(path), "%s%s%s", fw[0] == '/' ? "" : dir, fw[0] == '/' ? "" : "/", fw);
                        int rc = cli_upload_firmware(c, path, id);
                        if (rc != 0)
                                return rc;
                        json_t *f = json_pack("{s:s}", "firmware", id);
                        if (json_object_get(roles[k].spec, "flash_mode"))
                                json_object_set(f, "flash_mode", json_object_get(roles[k].spec, "flash_mode"));
                        json_object_set_new(p, "flash", f);
                }
                const char *elf = json_string_value(json_object_get(roles[k].spec, "elf"));
                if (elf) {
                        char path[4096], id[65] = "";
                        snprintf(path, sizeof(path), "%s%s%s", elf[0] == '/' ? "" : dir, elf[0] == '/' ? "" : "/", elf);
                        int rc = cli_upload_firmware(c, path, id);
                        if (rc != 0)
                                return rc;
                        json_object_set_new(p, "elf", json_string(id));
                }
        }
        return 0;
}

/* Run every role's job at once, one thread each; the worst exit status. multi: the roles share
 * one random group id, for their ${ROLE.NAME} captures. */
static int run_roles(struct cli *c, struct role *roles, size_t n, bool multi)
{
        unsigned char rnd[16];
        char group[40] = "";
        FILE *ur = fopen("/dev/urandom", "rb");
        bool ok = ur && fread(rnd, 1, sizeof(rnd), ur) == sizeof(rnd);
        if (ur)
                fclose(ur);
        for (size_t i = 0; ok && i < sizeof(rnd); i++)
                snprintf(group + 2 * i, 3, "%02x", rnd[i]);
        pthread_t th[MAX_ROLES];
        bool started_th[MAX_ROLES] = { false };
        for (size_t k = 0; k < n; k++) {
                roles[k].cli = *c;
                roles[k].cli.curl = NULL;
                snprintf(roles[k].cli.lease, sizeof(roles[k].cli.lease), "%s", roles[k].token);
                if (multi && ok) {
                        json_object_set_new(roles[k].params, "group", json_string(group));
                        json_object_set_new(roles[k].params, "role", json_string(roles[k].name));
                }
                started_th[k] = pthread_create(&th[k], NULL, run_role, &roles[k]) == 0;
                if (!started_th[k])
                        roles[k].rc = CLI_FARM;
        }
        for (size_t k = 0; k < n; k++)
                if (started_th[k])
                        pthread_join(th[k], NULL);
        int rc = CLI_OK;
        for (size_t k = 0; k < n; k++) {
                if (roles[k].cli.curl)
                        curl_easy_cleanup(roles[k].cli.curl);
                rc = k ? worse(rc, roles[k].rc) : roles[k].rc;
                const json_t *res = json_object_get(roles[k].job, "result");
                if (!c->json && roles[k].job) {
                        fprintf(stderr, "corral: role %s on %s: %s\n", roles[k].name, roles[k].board,
                                json_string_value(json_object_get(res, "reason"))
                                        ? json_string_value(json_object_get(res, "reason"))
                                        : "the job failed");
                        cli_expect_explain(res);
                }
        }
        return rc;
}

/* The JUnit file (--junit, one suite per role) and the --json summary. Returns rc, updated. */
static int report_roles(struct cli *c, const struct role *roles, size_t n, const char *started, int rc)
{
        if (c->junit) {
                const char *suites[MAX_ROLES], *boards[MAX_ROLES];
                char names[MAX_ROLES][200];
                json_t *jobs[MAX_ROLES];
                int rcs[MAX_ROLES];
                for (size_t k = 0; k < n; k++) {
                        snprintf(names[k], sizeof(names[k]), "corral.%s.%s", roles[k].name, roles[k].board);
                        suites[k] = names[k];
                        boards[k] = roles[k].board;
                        jobs[k] = roles[k].job;
                        rcs[k] = roles[k].rc;
                }
                if (cli_expect_junit(c->junit, n, suites, boards, jobs, rcs, started) < 0 && rc == CLI_OK)
                        rc = CLI_FARM;
        }
        if (c->json) {
                json_t *out = json_pack("{s:i, s:{}}", "exit_status", rc, "roles");
                for (size_t k = 0; k < n; k++)
                        json_object_set_new(json_object_get(out, "roles"), roles[k].name,
                                            json_pack("{s:s, s:I, s:O?, s:i, s:O?}", "board", roles[k].board,
                                                      "reservation", (json_int_t)roles[k].resv_id, "job",
                                                      json_object_get(roles[k].job, "id"), "exit_status",
                                                      roles[k].rc, "result",
                                                      json_object_get(roles[k].job, "result")));
                char *s = json_dumps(out, JSON_COMPACT);
                if (s)
                        printf("%s\n", s);
                free(s);
                json_decref(out);
        }
        return rc;
}

int cmd_test_spec(struct cli *c, int argc, char **argv)
{
        if (argc > 1 || c->nsteps || c->firmware || c->parse || c->elf) {
                fprintf(stderr, "corral: usage: corral test --spec FILE [BOARD] [--junit OUT.xml] [--wait S] (the "
                        "steps, firmware, ELF and parser come from the spec)\n");
                return CLI_USAGE;
        }
        struct role roles[MAX_ROLES] = { 0 };
        json_t *spec = NULL;
        size_t n = 0;
        int rc = load(c->spec, &spec, roles, &n);
        char *dup = strdup(c->spec);
        const char *dir = dup ? dirname(dup) : ".";
        char started[32];
        time_t t0 = time(NULL);
        struct tm tm;
        strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
        bool multi = json_object_get(spec, "roles") != NULL;
        if (rc == 0 && argc == 1 && multi)
                rc = bad(c->spec, "roles", "names several boards: leave BOARD out, corral leases them itself");
        if (rc == 0)
                rc = role_params(c, spec, dir, roles, n);
        bool leased = false;
        if (rc == 0 && argc == 1) {
                snprintf(roles[0].board, sizeof(roles[0].board), "%s", argv[0]);
                snprintf(roles[0].token, sizeof(roles[0].token), "%s", c->lease);
        } else if (rc == 0) {
                rc = reserve_all(c, spec, roles, n);
                leased = rc == 0;
        }
        if (rc == 0)
                rc = report_roles(c, roles, n, started, run_roles(c, roles, n, multi));
        if (leased)
                release_all(c, roles, n);
        for (size_t k = 0; k < MAX_ROLES; k++) {
                json_decref(roles[k].spec);
                json_decref(roles[k].params);
                json_decref(roles[k].job);
        }
        json_decref(spec);
        free(dup);
        return rc;
}
