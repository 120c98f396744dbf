/* Job kind "run": put files, run a MicroPython script (or a file on the board) in the raw REPL,
 * stream its output live and report it like a process: exit_status 0 / 1 (exception) / 124 (timeout). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_fs.h"
#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_session.h"
#include "jobs/job_mp.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"
#include "utf8.h"

/* Without an explicit timeout_s the script gets the job's time minus this margin, kept back to
 * interrupt it and report. With timeout_s (which is also the job's timeout) the script gets all
 * of it: interrupting and reporting then happen in the worker's grace period after the deadline. */
#define RUN_MARGIN_MS 3000

static int files_check(const json_t *files, char *msg, size_t size)
{
        size_t i;
        json_t *f;
        if (!files)
                return 0;
        if (!json_is_array(files)) {
                snprintf(msg, size, "'files' must be a list of {\"path\", \"content_b64\"}.");
                return -EINVAL;
        }
        json_array_foreach(files, i, f) {
                const char *path = json_string_value(json_object_get(f, "path"));
                const char *b64 = json_string_value(json_object_get(f, "content_b64"));
                uint8_t *d;
                size_t n;
                if (!path || !*path || !b64) {
                        snprintf(msg, size, "files[%zu] needs a 'path' and a 'content_b64' string.", i);
                        return -EINVAL;
                }
                if (mp_b64_decode(b64, strlen(b64), &d, &n) < 0) {
                        snprintf(msg, size, "files[%zu].content_b64 is not valid base64.", i);
                        return -EBADMSG;
                }
                free(d);
        }
        return 0;
}

static int run_check(const json_t *params, char *msg, size_t size)
{
        json_t *script = json_object_get(params, "script"), *file = json_object_get(params, "file");
        json_t *t = json_object_get(params, "timeout_s");
        if (script && !json_is_string(script)) {
                snprintf(msg, size, "'script' must be Python source text.");
                return -EINVAL;
        }
        if (file && (!json_is_string(file) || !*json_string_value(file))) {
                snprintf(msg, size, "'file' must be a path on the board, like \"/main.py\".");
                return -EINVAL;
        }
        if (!script && !file) {
                snprintf(msg, size, "Give a 'script' to run, or the 'file' on the board to run.");
                return -EINVAL;
        }
        if (script) {
                const char *s = json_string_value(script);
                for (size_t i = 0; s[i]; i++)
                        if (s[i] >= 0x01 && s[i] <= 0x05) {
                                snprintf(msg, size, "'script' contains the control character 0x%02x at "
                                         "offset %zu, which the raw REPL reserves.", s[i], i);
                                return -EBADMSG;
                        }
        }
        if (t && (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 86400)) {
                snprintf(msg, size, "'timeout_s' must be a whole number of seconds from 1 to 86400.");
                return -EINVAL;
        }
        return files_check(json_object_get(params, "files"), msg, size);
}

static void on_output(enum mp_stream s, const uint8_t *data, size_t len, void *user)
{
        jr_output(user, s == MP_STREAM_STDOUT ? "stdout" : "stderr", data, len);
}

/* JSON string of board output, repaired by the one rule of utf8.h. */
static json_t *text(const char *s, size_t len)
{
        json_t *j = utf8_json_string(s, len);
        return j ? j : json_null();
}

static int run_script(struct job_run *jr, struct mp_repl *r);

/* A cancelled run (Stop in the web console) must not leave the program running on the board: the
 * port's cancel is lifted for one Ctrl-C Ctrl-C, so the board is back at its prompt when the job
 * ends and its loop no longer prints into the console. */
static void interrupt_cancelled(struct job_run *jr, struct mp_repl *r)
{
        char m[256];
        port_cancel(jr_port(jr), false);
        if (mp_repl_interrupt(r, m, sizeof(m)) == 0)
                jr_log(jr, "the program was interrupted (Ctrl-C)");
        else
                jr_log(jr, "could not interrupt the program: %s", m);
}

static int run_run(struct job_run *jr)
{
        struct mp_repl r;
        struct mp_session *kept = NULL;
        int rc = job_mp_connect(jr, &r, &kept);
        if (rc == 0)
                rc = run_script(jr, &r);
        job_mp_leave(jr, &r, kept);
        return rc;
}

static int run_script(struct job_run *jr, struct mp_repl *r)
{
        const json_t *params = jr_params(jr);
        const char *script = json_string_value(json_object_get(params, "script"));
        const char *file = json_string_value(json_object_get(params, "file"));
        json_t *t = json_object_get(params, "timeout_s");
        struct mp_exec_result res = { 0 };
        char msg[512], *code = NULL;
        int rc;

        const json_t *files = json_object_get(params, "files");
        if (json_array_size(files)) {
                jr_progress(jr, 10, "putting files");
                rc = mp_fs_put_files(r, files, msg, sizeof(msg));
                if (rc < 0)
                        return jr_fail(jr, rc == -ENODEV ? "board_gone" : rc == -EILSEQ ? "link_corrupt" : "put_failed",
                                       "%s", msg);
        }
        if (!script) {
                char q[600];
                if (mp_fs_quote(file, q, sizeof(q)) < 0)
                        return jr_fail(jr, "bad_params", "'file' is too long.");
                if (asprintf(&code, "exec(open(%s).read())\n", q) < 0)
                        return jr_fail(jr, "no_memory", "Out of memory.");
                script = code;
        }
        int left = jr_time_left_ms(jr);
        int timeout_ms = t ? (int)json_integer_value(t) * 1000 : left - RUN_MARGIN_MS;
        if (timeout_ms > left)
                timeout_ms = left;
        if (timeout_ms < 1000)
                timeout_ms = 1000;
        jr_progress(jr, 50, "running");
        struct mp_exec_opts o = { .timeout_ms = timeout_ms, .on_output = on_output, .user = jr };
        rc = mp_repl_exec(r, script, strlen(script), &o, &res, msg, sizeof(msg));
        free(code);
        int status = mp_exit_status(rc, &res);
        if (status < 0 && rc == -ECANCELED)
                interrupt_cancelled(jr, r);
        if (status < 0) {
                /* Cancelled or lost mid-run: keep what the script printed so far. */
                if (res.out_len)
                        jr_result_set(jr, "stdout", text(res.out, res.out_len));
                if (res.err_len)
                        jr_result_set(jr, "stderr", text(res.err, res.err_len));
                mp_exec_result_clear(&res);
                return jr_fail(jr, rc == -ENODEV      ? "board_gone"
                                   : rc == -ECANCELED ? "cancelled"
                                   : rc == -EILSEQ    ? "link_corrupt"
                                                      : "exec_failed",
                               "%s", msg);
        }
        jr_result_set(jr, "exit_status", json_integer(status));
        jr_result_set(jr, "stdout", text(res.out, res.out_len));
        jr_result_set(jr, "stderr", text(res.err, res.err_len));
        jr_result_set(jr, "duration_ms", json_integer(res.duration_ms));
        if (res.truncated)
                jr_result_set(jr, "output_truncated", json_true());
        if (status == 1) {
                struct mp_exception e;
                if (mp_exception_parse(res.err, res.err_len, &e) == 0) {
                        jr_result_set(jr, "exception_type", json_string(e.type));
                        jr_result_set(jr, "exception_message", text(e.message, strlen(e.message)));
                        if (e.line >= 0)
                                jr_result_set(jr, "exception_line", json_integer(e.line));
                        jr_log(jr, "uncaught %s%s%s", e.type, e.message[0] ? ": " : "", e.message);
                }
        } else if (status == 124) {
                jr_log(jr, "%s", msg);
                if (!res.board_usable) {
                        /* Ctrl-C was not enough: climb the ladder (up to a hard reset). */
                        res.board_usable = mp_repl_recover(r, msg, sizeof(msg)) == 0;
                        if (!res.board_usable)
                                jr_log(jr, "the board is not usable after the timeout: %s", msg);
                }
                jr_result_set(jr, "board_usable", json_boolean(res.board_usable));
        }
        mp_exec_result_clear(&res);
        jr_progress(jr, 100, "done");
        return 0;
}

const struct job_kind job_kind_run = {
        .name = "run",
        .summary = "run a MicroPython script on the board (optionally after putting files) and report its output",
        .default_timeout_s = 120,
        .check = run_check,
        .run = run_run,
};
