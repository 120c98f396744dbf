/* CLI commands about boards and leases: `corral boards`, `corral reserve`, `corral release`,
 * `corral renew`, `corral expose`. */
#include "client.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_json(const json_t *j)
{
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
}

/* The active reservation on board id in list, or NULL (borrowed). */
static json_t *lease_of(json_t *list, const char *id)
{
        size_t i;
        json_t *r;
        json_array_foreach(list, i, r)
                if (!strcmp(json_string_value(json_object_get(r, "board")), id))
                        return r;
        return NULL;
}

/* Whether the boards come from more than one host (a farm on a shared store): then the table
 * gets a HOST column. */
static bool several_hosts(const json_t *boards)
{
        const char *first = NULL;
        size_t i;
        json_t *bd;
        json_array_foreach(boards, i, bd) {
                const char *h = json_string_value(json_object_get(bd, "host"));
                if (!h || !*h)
                        continue;
                if (!first)
                        first = h;
                else if (strcmp(first, h))
                        return true;
        }
        return false;
}

static void print_board_row(const json_t *bd, json_t *leases, bool hosts)
{
        const char *id = json_string_value(json_object_get(bd, "id"));
        char labels[256] = "";
        size_t k;
        json_t *l;
        json_array_foreach(json_object_get(bd, "labels"), k, l) {
                size_t n = strlen(labels);
                snprintf(labels + n, sizeof(labels) - n, "%s%s", n ? "," : "", json_string_value(l));
        }
        json_t *lease = lease_of(leases, id);
        char held[256] = "-";
        if (lease)
                snprintf(held, sizeof(held), "%s until %s", json_string_value(json_object_get(lease, "owner")),
                         json_string_value(json_object_get(lease, "expires_at")));
        const char *host = json_string_value(json_object_get(bd, "host"));
        if (hosts)
                printf("%-20s %-16s %-8s %-12s %-24s %s\n", id, host && *host ? host : "-",
                       json_string_value(json_object_get(bd, "state")), json_string_value(json_object_get(bd, "family")),
                       labels[0] ? labels : "-", held);
        else
                printf("%-20s %-8s %-12s %-24s %s\n", id, json_string_value(json_object_get(bd, "state")),
                       json_string_value(json_object_get(bd, "family")), labels[0] ? labels : "-", held);
}

int cmd_boards(struct cli *c, int argc, char **argv)
{
        (void)argv;
        if (argc) {
                fprintf(stderr, "corral: 'boards' takes no arguments\n");
                return CLI_USAGE;
        }
        struct cli_resp b = { 0 }, r = { 0 };
        int rc = cli_call(c, "GET", "/api/v1/boards", NULL, 0, &b);
        if (rc)
                return rc;
        if (b.status != 200) {
                rc = cli_fail(c, "cannot list boards", &b);
                cli_resp_clear(&b);
                return rc;
        }
        if ((rc = cli_call(c, "GET", "/api/v1/reservations", NULL, 0, &r))) {
                cli_resp_clear(&b);
                return rc;
        }
        json_t *boards = json_object_get(b.body, "boards"), *leases = json_object_get(r.body, "reservations");
        size_t i;
        json_t *bd;
        if (c->json) {
                json_array_foreach(boards, i, bd) {
                        json_t *lease = lease_of(leases, json_string_value(json_object_get(bd, "id")));
                        json_object_set_new(bd, "reservation", lease ? json_incref(lease) : json_null());
                }
                print_json(boards);
        } else {
                bool hosts = several_hosts(boards);
                if (hosts)
                        printf("%-20s %-16s %-8s %-12s %-24s %s\n", "ID", "HOST", "STATE", "FAMILY", "LABELS",
                               "RESERVED BY");
                else
                        printf("%-20s %-8s %-12s %-24s %s\n", "ID", "STATE", "FAMILY", "LABELS", "RESERVED BY");
                json_array_foreach(boards, i, bd)
                        print_board_row(bd, leases, hosts);
        }
        cli_resp_clear(&b);
        cli_resp_clear(&r);
        return CLI_OK;
}

static int write_lease_file(const char *path, const char *token)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        size_t n = strlen(token);
        bool ok = write(fd, token, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
        int e = errno;
        if (close(fd) < 0 && ok) {
                ok = false;
                e = errno;
        }
        return ok ? 0 : -e;
}

static const char *default_owner(char *buf, size_t size)
{
        const char *o = getenv("CORRAL_OWNER");
        if (o && *o)
                return o;
        const char *job = getenv("CI_JOB_ID") ? getenv("CI_JOB_ID") : getenv("GITHUB_RUN_ID");
        char host[128] = "host";
        gethostname(host, sizeof(host) - 1);
        if (job)
                snprintf(buf, size, "ci-%s@%s", job, host);
        else
                snprintf(buf, size, "%s@%s", getenv("USER") ? getenv("USER") : "someone", host);
        return buf;
}

int cmd_reserve(struct cli *c, int argc, char **argv)
{
        (void)argv;
        if (argc) {
                fprintf(stderr, "corral: 'reserve' takes options only (--label, --family, --board, --ttl, --wait)\n");
                return CLI_USAGE;
        }
        json_t *match = json_object();
        if (c->nlabels) {
                json_t *l = json_array();
                for (int i = 0; i < c->nlabels; i++)
                        json_array_append_new(l, json_string(c->labels[i]));
                json_object_set_new(match, "labels", l);
        }
        if (c->family)
                json_object_set_new(match, "family", json_string(c->family));
        if (c->board_opt)
                json_object_set_new(match, "board", json_string(c->board_opt));
        char ob[256];
        json_t *body = json_pack("{s:o, s:i, s:s}", "match", match, "ttl_s", c->ttl_s > 0 ? c->ttl_s : 600, "owner",
                                 c->owner ? c->owner : default_owner(ob, sizeof(ob)));
        if (c->wait_s > 0)
                json_object_set_new(body, "wait_s", json_integer(c->wait_s));
        if (c->expose)
                json_object_set_new(body, "expose", json_pack("[s]", c->expose));
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "POST", "/api/v1/reservations", body, c->wait_s + 30, &r);
        json_decref(body);
        if (rc)
                return rc;
        if (r.status != 201) {
                rc = cli_fail(c, "cannot reserve a board", &r);
                cli_resp_clear(&r);
                return rc;
        }
        const char *token = json_string_value(json_object_get(r.body, "token"));
        if (c->lease_file) {
                int e = write_lease_file(c->lease_file, token ? token : "");
                if (e < 0) {
                        fprintf(stderr, "corral: reserved, but cannot write the lease to %s: %s\n", c->lease_file,
                                strerror(-e));
                        cli_resp_clear(&r);
                        return CLI_FARM;
                }
        }
        if (c->json)
                print_json(r.body);
        else if (!c->lease_file)
                printf("%s\n", token);
        fprintf(stderr, "corral: reserved board %s for %s until %s (reservation %lld)\n",
                json_string_value(json_object_get(r.body, "board")), json_string_value(json_object_get(r.body, "owner")),
                json_string_value(json_object_get(r.body, "expires_at")),
                (long long)json_integer_value(json_object_get(r.body, "id")));
        const char *url = json_string_value(json_object_get(json_object_get(r.body, "remote"), "rfc2217"));
        if (url && !c->json) /* the token (if printed) stays the first line of stdout */
                printf("%s\n", url);
        if (url)
                fprintf(stderr, "corral: remote port %s (esptool --port %s; mpremote connect %s)\n", url, url, url);
        cli_resp_clear(&r);
        return CLI_OK;
}

int cmd_release(struct cli *c, int argc, char **argv)
{
        if (argc > 1) {
                fprintf(stderr, "corral: usage: corral release [LEASE_ID]\n");
                return CLI_USAGE;
        }
        if (!c->lease[0]) {
                fprintf(stderr, "corral: release needs the lease token: set CORRAL_LEASE, or give --lease or --lease-file\n");
                return CLI_USAGE;
        }
        long long id = argc ? strtoll(argv[0], NULL, 10) : cli_lease_id(c->lease);
        if (id <= 0) {
                fprintf(stderr, "corral: which reservation? give its id (corral release ID)\n");
                return CLI_USAGE;
        }
        char path[64];
        snprintf(path, sizeof(path), "/api/v1/reservations/%lld", id);
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "DELETE", path, NULL, 0, &r);
        if (rc)
                return rc;
        if (r.status != 200) {
                rc = cli_fail(c, "cannot release the reservation", &r);
                cli_resp_clear(&r);
                return rc;
        }
        if (c->json)
                print_json(r.body);
        else
                fprintf(stderr, "corral: released board %s (reservation %lld)\n",
                        json_string_value(json_object_get(r.body, "board")), id);
        cli_resp_clear(&r);
        return CLI_OK;
}

int cmd_renew(struct cli *c, int argc, char **argv)
{
        if (argc > 1 || !c->lease[0]) {
                fprintf(stderr, "corral: usage: corral renew [LEASE_ID] [--ttl S], with the lease in CORRAL_LEASE, "
                                "--lease or --lease-file\n");
                return CLI_USAGE;
        }
        long long id = argc ? strtoll(argv[0], NULL, 10) : cli_lease_id(c->lease);
        if (id <= 0) {
                fprintf(stderr, "corral: which reservation? give its id (corral renew ID)\n");
                return CLI_USAGE;
        }
        char path[80];
        snprintf(path, sizeof(path), "/api/v1/reservations/%lld/renew", id);
        json_t *body = c->ttl_s > 0 ? json_pack("{s:i}", "ttl_s", c->ttl_s) : NULL;
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "POST", path, body, 0, &r);
        json_decref(body);
        if (rc)
                return rc;
        if (r.status != 200) {
                rc = cli_fail(c, "cannot renew the reservation", &r);
                cli_resp_clear(&r);
                return rc;
        }
        if (c->json)
                print_json(r.body);
        else
                fprintf(stderr, "corral: board %s is yours until %s (reservation %lld)\n",
                        json_string_value(json_object_get(r.body, "board")),
                        json_string_value(json_object_get(r.body, "expires_at")), id);
        cli_resp_clear(&r);
        return CLI_OK;
}

/* corral expose [LEASE_ID] rfc2217|none: open (or close) the lease's remote port later. */
int cmd_expose(struct cli *c, int argc, char **argv)
{
        const char *kind = argc ? argv[argc - 1] : "";
        if (argc < 1 || argc > 2 || !c->lease[0] || (strcmp(kind, "rfc2217") && strcmp(kind, "none"))) {
                fprintf(stderr, "corral: usage: corral expose [LEASE_ID] rfc2217|none, with the lease in CORRAL_LEASE, "
                                "--lease or --lease-file\n");
                return CLI_USAGE;
        }
        long long id = argc == 2 ? strtoll(argv[0], NULL, 10) : cli_lease_id(c->lease);
        if (id <= 0) {
                fprintf(stderr, "corral: which reservation? give its id (corral expose ID rfc2217)\n");
                return CLI_USAGE;
        }
        char path[64];
        snprintf(path, sizeof(path), "/api/v1/reservations/%lld", id);
        bool open = !strcmp(kind, "rfc2217");
        json_t *body = json_pack("{s:o}", "expose", open ? json_pack("[s]", "rfc2217") : json_array());
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "PATCH", path, body, 0, &r);
        json_decref(body);
        if (rc)
                return rc;
        if (r.status != 200) {
                rc = cli_fail(c, open ? "cannot open the remote port" : "cannot close the remote port", &r);
                cli_resp_clear(&r);
                return rc;
        }
        const char *url = json_string_value(json_object_get(json_object_get(r.body, "remote"), "rfc2217"));
        if (c->json)
                print_json(r.body);
        else if (url)
                printf("%s\n", url);
        if (url)
                fprintf(stderr, "corral: remote port %s (esptool --port %s; mpremote connect %s)\n", url, url, url);
        else
                fprintf(stderr, "corral: board %s has no remote port now (reservation %lld)\n",
                        json_string_value(json_object_get(r.body, "board")), id);
        cli_resp_clear(&r);
        return CLI_OK;
}
