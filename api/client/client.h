/* The corral CLI's shared parts: the connection to corrald (libcurl + jansson), exit codes, and
 * the commands (one file per concern: leases, jobs, tests, console). Not part of libcorral. */
#ifndef CORRAL_CLIENT_H
#define CORRAL_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes (documented in `corral --help` and the README). */
enum {
        CLI_OK = 0,
        CLI_FAILED = 1,     /* the script raised, or tests failed */
        CLI_USAGE = 2,      /* bad command line, or corrald refused the request as invalid (400/422) */
        CLI_FARM = 3,       /* farm error: daemon unreachable, board gone/offline, lease lost or refused,
                             * job failed for infrastructure reasons */
        CLI_TIMEOUT = 124,  /* the script ran past its timeout */
};

#define CLI_MAX_PUTS 32
#define CLI_MAX_STEPS 128
#define CLI_MAX_LABELS 16

struct cli {
        char server[512];       /* base URL, no trailing slash */
        const char *token;      /* CORRAL_TOKEN: sent as Authorization: Bearer (future user auth) */
        char lease[256];        /* lease token: X-Corral-Lease ("" = none) */
        bool json;              /* machine output */
        CURL *curl;
        /* command options */
        const char *labels[CLI_MAX_LABELS];
        int nlabels;
        const char *family, *board_opt, *owner, *lease_file, *junit, *mode;
        const char *expose;       /* reserve --expose rfc2217 */
        const char *puts[CLI_MAX_PUTS];
        int nputs;
        int ttl_s, wait_s, timeout_s;
        bool erase;
        /* corral test BOARD --expect ...: the steps and fail_on patterns in command-line order;
         * kind is the option's letter: 'e' expect, 'r' expect_re, 's' send, 'w' wait_ms,
         * 'f' fail_on literal, 'F' fail_on regex */
        struct { char kind; const char *arg; } steps[CLI_MAX_STEPS];
        int nsteps;
        int step_timeout_ms;
        bool no_default_fail_on, no_reset;
        const char *parse, *firmware, *elf;
        const char *spec;       /* corral test --spec FILE */
};

/* A response: HTTP status and the body (parsed when it is JSON, else NULL). */
struct cli_resp {
        long status;
        json_t *body;
};
void cli_resp_clear(struct cli_resp *r);

/* One request to corrald. body (borrowed) is sent as JSON when not NULL. timeout_s 0: 30 s.
 * Returns 0 when an HTTP answer came back (any status), CLI_FARM after printing why not. */
int cli_call(struct cli *c, const char *method, const char *path, const json_t *body, long timeout_s,
             struct cli_resp *ret);
/* Same with raw bytes (content_type e.g. application/octet-stream). */
int cli_call_raw(struct cli *c, const char *method, const char *path, const void *data, size_t len,
                 const char *content_type, long timeout_s, struct cli_resp *ret);
/* Print corrald's error answer ("corral: what: message (code)") and return the exit code for it. */
int cli_fail(struct cli *c, const char *what, const struct cli_resp *r);
/* Percent-encode s for a path segment or query value into out. */
void cli_escape(const char *s, char *out, size_t size);
/* Read a whole file (NUL-terminated too). Returns 0 or -errno. Caller frees *ret. */
int cli_read_file(const char *path, char **ret, size_t *ret_len);
/* The lease id a token names ("cl-<id>-..."), or -1. */
long long cli_lease_id(const char *token);

/* Commands: each returns the process exit code. args: positional arguments after the command. */
int cmd_boards(struct cli *c, int argc, char **argv);
int cmd_reserve(struct cli *c, int argc, char **argv);
int cmd_release(struct cli *c, int argc, char **argv);
int cmd_renew(struct cli *c, int argc, char **argv);
int cmd_expose(struct cli *c, int argc, char **argv);
int cmd_flash(struct cli *c, int argc, char **argv);
int cmd_run(struct cli *c, int argc, char **argv);
int cmd_test(struct cli *c, int argc, char **argv);
int cmd_console(struct cli *c, int argc, char **argv);
/* `corral test BOARD --expect ...` (client_expect.c): one expect job, JUnit from its parsed tests. */
int cmd_test_expect(struct cli *c, int argc, char **argv);
/* The spec file runner (client_spec.c): `corral test --spec FILE [BOARD]`. */
int cmd_test_spec(struct cli *c, int argc, char **argv);
/* An expect job's failed step, fail_on evidence and transcript tail on stderr. */
void cli_expect_explain(const json_t *res);
/* JUnit for n finished expect jobs, one testsuite each (suites[i] named, classnames from
 * boards[i], rcs[i] their exit codes). 0 or -errno after printing why. */
int cli_expect_junit(const char *path, size_t n, const char *const *suites, const char *const *boards,
                     json_t *const *jobs, const int *rcs, const char *started);
/* Upload a file to the firmware library: its id into id (65 bytes). 0 or an exit code. */
int cli_upload_firmware(struct cli *c, const char *file, char *id);

/* Jobs (client_jobs.c): queue a job on board and follow it to its end, streaming a run job's
 * output to stdout/stderr when stream is set and progress to stderr when progress is set.
 * On 0 *ret_job is the finished job (caller decrefs); otherwise the exit code is returned after
 * printing why. */
int cli_job_follow(struct cli *c, const char *board, const json_t *body, bool stream, bool progress,
                   json_t **ret_job);
/* Exit code for a finished run job (0/1/124 from its result; CLI_FARM when it failed). */
int cli_run_exit(const json_t *job);
/* A run job's params for a script file plus --put files (new reference) or NULL after printing why. */
json_t *cli_run_params(struct cli *c, const char *script_path);

#endif
