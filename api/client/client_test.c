/* `corral test BOARD DIR --junit out.xml`: every DIR/test_*.py runs as a run job, in name order;
 * the verdicts go to the terminal and to a JUnit XML report. */
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "junit.h"
#include "util.h"

#define MAX_TESTS 512

static int is_test(const struct dirent *d)
{
        size_t n = strlen(d->d_name);
        return !strncmp(d->d_name, "test_", 5) && n > 8 && !strcmp(d->d_name + n - 3, ".py");
}

static double now_s(void)
{
        return (double)util_mono_ms() / 1e3;
}

static const char *str(const json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

/* The board's CR LF line ends as LF, in place in the result object. */
static void strip_cr(json_t *res, const char *key)
{
        const char *s = json_string_value(json_object_get(res, key));
        char *copy = s ? strdup(s) : NULL;
        if (!copy)
                return;
        size_t o = 0;
        for (size_t i = 0; copy[i]; i++)
                if (copy[i] != '\r' || copy[i + 1] != '\n')
                        copy[o++] = copy[i];
        copy[o] = '\0';
        json_object_set_new(res, key, json_string(copy));
        free(copy);
}

/* Fill case tc from a finished run job; returns the exit code it stands for. */
static int verdict(struct junit_case *tc, json_t *job, char *msg, size_t msg_size)
{
        json_t *res = json_object_get(job, "result");
        strip_cr(res, "stdout");
        strip_cr(res, "stderr");
        const json_t *err = json_object_get(job, "error");
        tc->system_out = str(res, "stdout");
        tc->system_err = str(res, "stderr");
        int rc = cli_run_exit(job);
        if (rc == CLI_OK) {
                tc->outcome = JUNIT_PASSED;
        } else if (rc == CLI_FAILED) {
                tc->outcome = JUNIT_FAILED;
                tc->type = str(res, "exception_type") ? str(res, "exception_type") : "Exception";
                tc->message = str(res, "exception_message") ? str(res, "exception_message") : "";
                tc->details = str(res, "stderr");
        } else if (rc == CLI_TIMEOUT) {
                tc->outcome = JUNIT_ERROR;
                tc->type = "Timeout";
                snprintf(msg, msg_size, "still running at its timeout; interrupted");
                tc->message = msg;
        } else {
                tc->outcome = JUNIT_ERROR;
                tc->type = str(err, "code") ? str(err, "code") : "job_failed";
                tc->message = str(err, "message") ? str(err, "message") : "the job failed";
        }
        return rc;
}

/* The test_*.py files of dir, sorted, in *ret (1..MAX_TESTS of them); their count, or -1 after
 * saying what is wrong. */
static int list_tests(const char *dir, struct dirent ***ret)
{
        struct dirent **names = NULL;
        int n = scandir(dir, &names, is_test, alphasort);
        if (n < 0) {
                fprintf(stderr, "corral: cannot read %s: %s\n", dir, strerror(errno));
                return -1;
        }
        if (n == 0 || n > MAX_TESTS) {
                fprintf(stderr, "corral: %s has %s test_*.py files\n", dir, n ? "too many" : "no");
                for (int i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return -1;
        }
        *ret = names;
        return n;
}

/* Run one test file on the board as a run job and judge it into tc. Returns the worst exit
 * status so far, updated. */
static int run_one(struct cli *c, const char *board, const char *path, struct junit_case *tc, json_t **job,
                   char *msg, size_t msg_size, int worst)
{
        json_t *body = cli_run_params(c, path);
        if (!body) {
                tc->outcome = JUNIT_ERROR;
                tc->type = "unreadable";
                tc->message = "cannot read the test file";
                return worst == CLI_FARM ? CLI_FARM : CLI_FAILED;
        }
        double t = now_s();
        int rc = cli_job_follow(c, board, body, !c->json, false, job);
        json_decref(body);
        tc->time_s = now_s() - t;
        if (rc) {
                /* Could not queue or follow it (daemon gone, board offline, lease refused). */
                tc->outcome = JUNIT_ERROR;
                tc->type = "farm_error";
                tc->message = "the test could not be run on the farm (see the corral output)";
                worst = CLI_FARM;
        } else {
                rc = verdict(tc, *job, msg, msg_size);
                if (rc == CLI_FARM)
                        worst = CLI_FARM;
                else if (rc != CLI_OK && worst == CLI_OK)
                        worst = CLI_FAILED;
        }
        if (!c->json)
                fprintf(stderr, "corral: %s %s (%.1f s)%s%s%s%s\n",
                        tc->outcome == JUNIT_PASSED ? "PASS" : tc->outcome == JUNIT_FAILED ? "FAIL" : "ERROR",
                        tc->name, tc->time_s, tc->type ? ": " : "", tc->type ? tc->type : "",
                        tc->message && *tc->message ? ": " : "", tc->message ? tc->message : "");
        return worst;
}

/* The JUnit file (--junit) and the totals line. Returns the worst exit status, updated. */
static int report_tests(struct cli *c, const char *suite, const char *started, const struct junit_case *cases,
                        size_t ran, int worst)
{
        struct junit_totals tot = { 0 };
        junit_count(cases, ran, &tot);
        if (c->junit && cases) {
                FILE *f = fopen(c->junit, "w");
                int e = f ? junit_write(f, suite, started, cases, ran) : -errno;
                if (f && fclose(f) != 0 && e == 0)
                        e = -EIO;
                if (e < 0) {
                        fprintf(stderr, "corral: cannot write %s: %s\n", c->junit, strerror(-e));
                        worst = CLI_FARM;
                }
        }
        if (c->json)
                printf("{\"tests\":%zu,\"failures\":%zu,\"errors\":%zu,\"time_s\":%.3f}\n", tot.tests, tot.failures,
                       tot.errors, tot.time_s);
        else
                fprintf(stderr, "corral: %zu tests, %zu failed, %zu errors (%.1f s)%s%s\n", tot.tests, tot.failures,
                        tot.errors, tot.time_s, c->junit ? "; report: " : "", c->junit ? c->junit : "");
        return worst;
}

int cmd_test(struct cli *c, int argc, char **argv)
{
        if (c->spec)
                return cmd_test_spec(c, argc, argv);
        if (c->nsteps > 0 || c->firmware)
                return cmd_test_expect(c, argc, argv);
        if (argc != 2) {
                fprintf(stderr, "corral: usage: corral test BOARD DIR [--junit out.xml] [--timeout S] [--put FILE]...\n");
                return CLI_USAGE;
        }
        const char *board = argv[0], *dir = argv[1];
        struct dirent **names = NULL;
        int n = list_tests(dir, &names);
        if (n < 0)
                return CLI_USAGE;
        struct junit_case *cases = calloc((size_t)n, sizeof(*cases));
        json_t **jobs = calloc((size_t)n, sizeof(*jobs));
        char (*msgs)[256] = calloc((size_t)n, sizeof(*msgs));
        char (*tnames)[256] = calloc((size_t)n, sizeof(*tnames));
        char classname[300];
        snprintf(classname, sizeof(classname), "corral.%s", board);
        int worst = CLI_OK, ran = 0;
        char started[32];
        time_t t0 = time(NULL);
        struct tm tm;
        strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
        for (int i = 0; cases && jobs && msgs && tnames && i < n; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                snprintf(tnames[i], sizeof(tnames[i]), "%.*s", (int)strlen(names[i]->d_name) - 3, names[i]->d_name);
                cases[i].name = tnames[i];
                cases[i].classname = classname;
                ran++;
                if (!c->json)
                        fprintf(stderr, "corral: ---- %s\n", names[i]->d_name);
                worst = run_one(c, board, path, &cases[i], &jobs[i], msgs[i], sizeof(msgs[i]), worst);
        }
        if (!cases || !jobs || !msgs || !tnames) {
                fprintf(stderr, "corral: out of memory\n");
                worst = CLI_FARM;
        }
        worst = report_tests(c, classname, started, cases, (size_t)ran, worst);
        for (int i = 0; i < n; i++) {
                free(names[i]);
                if (jobs)
                        json_decref(jobs[i]);
        }
        free(names);
        free(jobs);
        free(cases);
        free(msgs);
        free(tnames);
        return worst;
}
