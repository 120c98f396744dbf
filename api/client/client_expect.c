/* `corral test BOARD --expect ... [--junit out.xml]`: one expect job (optionally flashing an
 * uploaded firmware first) that follows the board's serial output through the steps; its parsed
 * Unity/ztest/PASS-FAIL tests become JUnit testcases; the exit code says pass (0), failure or
 * crash (1), a step that timed out (124) or a farm error (3). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "junit.h"

#define TRANSCRIPT_TAIL 20

static const char *str(const json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static json_t *build_body(struct cli *c, const char *fw_id, const char *elf_id)
{
        json_t *steps = json_array(), *fails = json_array();
        for (int i = 0; i < c->nsteps; i++) {
                const char *a = c->steps[i].arg;
                switch (c->steps[i].kind) {
                case 'e': json_array_append_new(steps, json_pack("{s:s}", "expect", a)); break;
                case 'r': json_array_append_new(steps, json_pack("{s:s}", "expect_re", a)); break;
                case 's': json_array_append_new(steps, json_pack("{s:s}", "send", a)); break;
                case 'w': json_array_append_new(steps, json_pack("{s:i}", "wait_ms", atoi(a))); break;
                case 'f': json_array_append_new(fails, json_string(a)); break;
                case 'F': json_array_append_new(fails, json_pack("{s:s}", "regex", a)); break;
                default: break;
                }
        }
        json_t *b = json_pack("{s:s, s:o, s:o, s:b, s:b}", "kind", "expect", "steps", steps, "fail_on", fails,
                              "default_fail_on", !c->no_default_fail_on, "reset", !c->no_reset);
        if (c->parse)
                json_object_set_new(b, "parse", json_string(c->parse));
        if (c->step_timeout_ms)
                json_object_set_new(b, "timeout_ms", json_integer(c->step_timeout_ms));
        if (c->timeout_s)
                json_object_set_new(b, "timeout_s", json_integer(c->timeout_s));
        if (elf_id)
                json_object_set_new(b, "elf", json_string(elf_id));
        if (fw_id) {
                json_t *f = json_pack("{s:s}", "firmware", fw_id);
                if (c->mode)
                        json_object_set_new(f, "flash_mode", json_string(c->mode));
                json_object_set_new(b, "flash", f);
        }
        return b;
}

/* The result's transcript tail (and a fail_on's evidence) on stderr. */
void cli_expect_explain(const json_t *res)
{
        const json_t *fs = json_object_get(res, "failed_step"), *fo = json_object_get(res, "fail_on");
        if (fo)
                fprintf(stderr, "corral: fail_on '%s' matched at %lld ms: %s\n", str(fo, "name"),
                        (long long)json_integer_value(json_object_get(fo, "at_ms")), str(fo, "line"));
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(fo, "evidence"), i, v)
                if (json_string_length(v))
                        fprintf(stderr, "corral:   | %s\n", json_string_value(v));
        const json_t *bt = json_object_get(res, "backtrace");
        json_array_foreach(json_object_get(bt, "frames"), i, v) {
                const char *fn = str(v, "function"), *file = str(v, "file");
                char at[600] = "";
                if (file)
                        snprintf(at, sizeof(at), " at %s:%lld", file, (long long)json_integer_value(json_object_get(v, "line")));
                fprintf(stderr, "corral:   %s %s%s (%s)\n", str(v, "addr"), fn ? fn : "??", at, str(v, "role"));
        }
        if (str(bt, "note"))
                fprintf(stderr, "corral: backtrace: %s\n", str(bt, "note"));
        if (str(json_object_get(res, "boot_reset"), "text"))
                fprintf(stderr, "corral: the board booted after a reset: %s\n",
                        str(json_object_get(res, "boot_reset"), "text"));
        if (fs)
                fprintf(stderr, "corral: step %lld (%s '%s') failed: %s\n",
                        (long long)json_integer_value(json_object_get(fs, "index")), str(fs, "type"),
                        str(fs, "pattern") ? str(fs, "pattern") : "", str(fs, "reason"));
        const json_t *t = json_object_get(res, "transcript");
        size_t n = json_array_size(t);
        if (!n || fo)
                return;
        fprintf(stderr, "corral: the last %zu lines from the board:\n", n < TRANSCRIPT_TAIL ? n : TRANSCRIPT_TAIL);
        for (i = n > TRANSCRIPT_TAIL ? n - TRANSCRIPT_TAIL : 0; i < n; i++)
                fprintf(stderr, "corral:   | %s\n", json_string_value(json_array_get(t, i)));
}

/* The whole transcript as one text (for a JUnit <error> body). Caller frees. */
static char *transcript_text(const json_t *res)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(res, "transcript"), i, v)
                fprintf(f, "%s\n", json_string_value(v));
        fclose(f);
        return buf;
}

struct cases {
        struct junit_case *cases;
        char (*msgs)[1400];
        char (*classes)[300];
        char *transcript;
        size_t n;
};

static void cases_free(struct cases *o)
{
        free(o->cases);
        free(o->msgs);
        free(o->classes);
        free(o->transcript);
        memset(o, 0, sizeof(*o));
}

/* One board's expect job as JUnit cases (borrowing from job). 0 or -ENOMEM. */
static int cases_build(const char *board, const json_t *job, int rc, struct cases *o)
{
        const json_t *res = json_object_get(job, "result"), *tests = json_object_get(res, "tests");
        const char *outcome = str(res, "outcome");
        size_t n = json_array_size(tests);
        memset(o, 0, sizeof(*o));
        o->cases = calloc(n + 1, sizeof(*o->cases));
        o->msgs = calloc(n + 1, sizeof(*o->msgs));
        o->classes = calloc(n + 1, sizeof(*o->classes));
        o->transcript = transcript_text(res);
        if (!o->cases || !o->msgs || !o->classes) {
                cases_free(o);
                return -ENOMEM;
        }
        size_t i;
        json_t *t;
        json_array_foreach(tests, i, t) {
                struct junit_case *tc = &o->cases[i];
                const char *st = str(t, "status"), *file = str(t, "file"), *msg = str(t, "message");
                json_int_t line = json_integer_value(json_object_get(t, "line"));
                snprintf(o->classes[i], sizeof(o->classes[i]), "corral.%s%s%s", board, str(t, "suite") ? "." : "",
                         str(t, "suite") ? str(t, "suite") : "");
                tc->name = str(t, "name");
                tc->classname = o->classes[i];
                tc->time_s = json_is_real(json_object_get(t, "time_s")) ? json_real_value(json_object_get(t, "time_s")) : 0;
                if (file && line)
                        snprintf(o->msgs[i], sizeof(o->msgs[i]), "%s:%lld: %s", file, (long long)line, msg ? msg : "");
                else
                        snprintf(o->msgs[i], sizeof(o->msgs[i]), "%s", msg ? msg : "");
                if (!strcmp(st, "passed")) {
                        tc->outcome = JUNIT_PASSED;
                } else if (!strcmp(st, "skipped")) {
                        tc->outcome = JUNIT_SKIPPED;
                        tc->message = o->msgs[i];
                } else {
                        tc->outcome = !strcmp(st, "failed") ? JUNIT_FAILED : JUNIT_ERROR;
                        tc->type = !strcmp(st, "failed") ? "failure" : "crash";
                        tc->message = o->msgs[i];
                        tc->details = str(t, "details") ? str(t, "details") : o->msgs[i];
                }
        }
        /* The run itself is a testcase when nothing was parsed, or when a step timed out. */
        if (n == 0 || (outcome && !strcmp(outcome, "timeout"))) {
                struct junit_case *tc = &o->cases[n];
                tc->name = "expect";
                snprintf(o->classes[n], sizeof(o->classes[n]), "corral.%s", board);
                tc->classname = o->classes[n];
                tc->system_out = o->transcript;
                snprintf(o->msgs[n], sizeof(o->msgs[n]), "%s", str(res, "reason") ? str(res, "reason")
                         : str(json_object_get(job, "error"), "message") ? str(json_object_get(job, "error"), "message")
                         : "the job failed");
                if (rc == CLI_OK) {
                        tc->outcome = JUNIT_PASSED;
                } else {
                        tc->outcome = rc == CLI_FAILED ? JUNIT_FAILED : JUNIT_ERROR;
                        tc->type = rc == CLI_FAILED ? "fail_on" : rc == CLI_TIMEOUT ? "Timeout" : "farm_error";
                        tc->message = o->msgs[n];
                        tc->details = o->transcript;
                }
                n++;
        }
        o->n = n;
        return 0;
}

int cli_expect_junit(const char *path, size_t n, const char *const *suites, const char *const *boards,
                     json_t *const *jobs, const int *rcs, const char *started)
{
        struct cases *cs = calloc(n, sizeof(*cs));
        struct junit_suite *ss = calloc(n, sizeof(*ss));
        int e = cs && ss ? 0 : -ENOMEM;
        for (size_t i = 0; i < n && e == 0; i++) {
                e = cases_build(boards[i], jobs[i], rcs[i], &cs[i]);
                ss[i] = (struct junit_suite){ suites[i], started, cs[i].cases, cs[i].n };
        }
        FILE *f = e ? NULL : fopen(path, "w");
        if (e == 0)
                e = f ? junit_write_suites(f, ss, n) : -errno;
        if (f && fclose(f) != 0 && e == 0)
                e = -EIO;
        if (e < 0)
                fprintf(stderr, "corral: cannot write %s: %s\n", path, strerror(-e));
        for (size_t i = 0; cs && i < n; i++)
                cases_free(&cs[i]);
        free(cs);
        free(ss);
        return e;
}

static int write_junit(struct cli *c, const char *board, const json_t *job, int rc, const char *started)
{
        char suite[300];
        snprintf(suite, sizeof(suite), "corral.%s", board);
        const char *suites[] = { suite }, *boards[] = { board };
        json_t *jobs[] = { (json_t *)job };
        return cli_expect_junit(c->junit, 1, suites, boards, jobs, &rc, started);
}

int cmd_test_expect(struct cli *c, int argc, char **argv)
{
        if (argc != 1) {
                fprintf(stderr, "corral: usage: corral test BOARD --expect TEXT|--expect-re RE|--send LINE|--wait-ms MS... "
                        "[--fail-on TEXT] [--firmware FILE] [--junit OUT.xml] (no test directory with --expect)\n");
                return CLI_USAGE;
        }
        const char *board = argv[0];
        char started[32];
        time_t t0 = time(NULL);
        struct tm tm;
        strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
        char id[65] = "", elf[65] = "";
        int rc;
        if (c->firmware && (rc = cli_upload_firmware(c, c->firmware, id)) != 0)
                return rc;
        if (c->elf && (rc = cli_upload_firmware(c, c->elf, elf)) != 0)
                return rc;
        json_t *body = build_body(c, c->firmware ? id : NULL, c->elf ? elf : NULL);
        json_t *job = NULL;
        rc = cli_job_follow(c, board, body, !c->json, false, &job);
        json_decref(body);
        if (rc)
                return rc;
        rc = cli_run_exit(job);
        const json_t *res = json_object_get(job, "result");
        if (!c->json && rc != CLI_FARM) {
                cli_expect_explain(res);
                const json_t *tot = json_object_get(res, "test_totals");
                fprintf(stderr, "corral: %s; tests: %lld passed, %lld failed, %lld errors, %lld skipped\n",
                        str(res, "reason") ? str(res, "reason") : "done",
                        (long long)json_integer_value(json_object_get(tot, "passed")),
                        (long long)json_integer_value(json_object_get(tot, "failed")),
                        (long long)json_integer_value(json_object_get(tot, "errors")),
                        (long long)json_integer_value(json_object_get(tot, "skipped")));
        }
        if (c->json) {
                json_t *out = json_pack("{s:i, s:O?}", "exit_status", rc, "result", (json_t *)res);
                char *s = json_dumps(out, JSON_COMPACT);
                if (s)
                        printf("%s\n", s);
                free(s);
                json_decref(out);
        }
        if (c->junit && write_junit(c, board, job, rc, started) < 0 && rc == CLI_OK)
                rc = CLI_FARM;
        json_decref(job);
        return rc;
}
