/* Job kinds for a MicroPython board's filesystem (fs_ls, fs_put, fs_get, fs_rm, fs_mkdir,
 * fs_rmdir), deploy (files then a soft reset that runs main.py) and soft_reset. */
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

#define MSG 512

/* ---- parameter checks ---- */

static int need_path(const json_t *params, char *msg, size_t size)
{
        const char *p = json_string_value(json_object_get(params, "path"));
        if (!p || !*p) {
                snprintf(msg, size, "'path' must name a file or directory on the board, like \"/main.py\".");
                return -EINVAL;
        }
        if (strlen(p) > 255) {
                snprintf(msg, size, "'path' is longer than 255 characters.");
                return -EINVAL;
        }
        return 0;
}

static int opt_bool(const json_t *params, const char *key, char *msg, size_t size)
{
        json_t *v = json_object_get(params, key);
        if (v && !json_is_boolean(v)) {
                snprintf(msg, size, "'%s' must be true or false.", key);
                return -EINVAL;
        }
        return 0;
}

static int b64_param(const json_t *params, const char *key, char *msg, size_t size)
{
        const char *b = json_string_value(json_object_get(params, key));
        uint8_t *d;
        size_t n;
        if (!b) {
                snprintf(msg, size, "'%s' (the file contents, base64) is required.", key);
                return -EINVAL;
        }
        if (mp_b64_decode(b, strlen(b), &d, &n) < 0) {
                snprintf(msg, size, "'%s' is not valid base64.", key);
                return -EBADMSG;
        }
        free(d);
        return 0;
}

static int ls_check(const json_t *params, char *msg, size_t size)
{
        if (json_object_get(params, "path") && need_path(params, msg, size) < 0)
                return -EINVAL;
        return opt_bool(params, "recursive", msg, size);
}

static int put_check(const json_t *params, char *msg, size_t size)
{
        int rc = need_path(params, msg, size);
        return rc < 0 ? rc : b64_param(params, "content_b64", msg, size);
}

static int capture_check(const json_t *params, char *msg, size_t size)
{
        json_t *c = json_object_get(params, "capture_ms");
        if (c && (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 30000)) {
                snprintf(msg, size, "'capture_ms' must be a whole number of milliseconds from 0 to 30000.");
                return -EINVAL;
        }
        return 0;
}

static int deploy_check(const json_t *params, char *msg, size_t size)
{
        size_t i;
        json_t *f, *files = json_object_get(params, "files");
        if (!json_is_array(files) || json_array_size(files) == 0) {
                snprintf(msg, size, "'files' must be a non-empty list of {\"path\", \"content_b64\"}.");
                return -EINVAL;
        }
        json_array_foreach(files, i, f) {
                int rc = put_check(f, msg, size);
                if (rc < 0) {
                        size_t n = strlen(msg);
                        snprintf(msg + n, size - n, " (files[%zu])", i);
                        return rc;
                }
        }
        int rc = opt_bool(params, "soft_reset", msg, size);
        return rc < 0 ? rc : capture_check(params, msg, size);
}

static int soft_reset_check(const json_t *params, char *msg, size_t size)
{
        int rc = opt_bool(params, "run_main", msg, size);
        return rc < 0 ? rc : capture_check(params, msg, size);
}

/* ---- running ---- */

static int fail_fs(struct job_run *jr, int rc, const char *what, const char *path, const char *msg)
{
        const char *code = rc == -ENOENT    ? "not_found"
                           : rc == -EEXIST  ? "exists"
                           : rc == -ENOTSUP ? "not_supported"
                           : rc == -ENODEV  ? "board_gone"
                           : rc == -ENOTEMPTY ? "not_empty"
                           : rc == -ECANCELED ? "cancelled"
                           : rc == -ENOSPC    ? "no_space"
                           : rc == -EILSEQ    ? "link_corrupt"
                                              : "fs_error";
        return jr_fail(jr, code, "Could not %s %s: %s%s", what, path, msg,
                       rc == -ENOSPC && !strstr(msg, "filesystem is full") ? " (the board's filesystem is full)" : "");
}

static int done(struct job_run *jr)
{
        jr_progress(jr, 100, "done");
        return 0;
}

/* Connect, run body on the board, leave it for the next job. */
static int with_board(struct job_run *jr, int (*body)(struct job_run *, struct mp_repl *))
{
        struct mp_repl r;
        struct mp_session *kept = NULL;
        int rc = job_mp_connect(jr, &r, &kept);
        if (rc == 0)
                rc = body(jr, &r);
        job_mp_leave(jr, &r, kept);
        return rc;
}

static json_t *jstr(const char *s, size_t n)
{
        json_t *j = utf8_json_string(s, n);
        return j ? j : json_null();
}

static int ls_body(struct job_run *jr, struct mp_repl *r)
{
        const char *path = json_string_value(json_object_get(jr_params(jr), "path"));
        bool rec = json_is_true(json_object_get(jr_params(jr), "recursive"));
        json_t *entries = NULL;
        char msg[MSG];
        int rc;
        if (!path)
                path = "/";
        jr_progress(jr, 30, "listing");
        if ((rc = mp_fs_ls(r, path, rec, &entries, msg, sizeof(msg))) < 0)
                return fail_fs(jr, rc, "list", path, msg);
        jr_result_set(jr, "path", json_string(path));
        jr_result_set(jr, "entries", entries);
        return done(jr);
}

static int ls_run(struct job_run *jr)
{
        return with_board(jr, ls_body);
}

static void put_progress(size_t n, size_t total, void *user)
{
        jr_progress(user, 10 + (int)(80 * n / (total ? total : 1)), "writing");
}

static int put_body(struct job_run *jr, struct mp_repl *r)
{
        const char *path = json_string_value(json_object_get(jr_params(jr), "path"));
        const char *b64 = json_string_value(json_object_get(jr_params(jr), "content_b64"));
        uint8_t *d;
        size_t len;
        char msg[MSG], sha[65];
        int rc;
        if (!path || !b64 || mp_b64_decode(b64, strlen(b64), &d, &len) < 0)
                return jr_fail(jr, "bad_params", "'path' and base64 'content_b64' are required.");
        struct mp_fs_opts o = { .make_dirs = true, .progress = put_progress, .user = jr };
        rc = mp_fs_put(r, path, d, len, &o, msg, sizeof(msg));
        if (rc == 0)
                rc = mp_sha256_hex(d, len, sha);
        free(d);
        if (rc < 0)
                return fail_fs(jr, rc, "write", path, msg);
        jr_log(jr, "put %s (%zu bytes, verified)", path, len);
        jr_result_set(jr, "path", json_string(path));
        jr_result_set(jr, "size", json_integer((json_int_t)len));
        jr_result_set(jr, "sha256", json_string(sha));
        return done(jr);
}

static int put_run(struct job_run *jr)
{
        return with_board(jr, put_body);
}

static int get_body(struct job_run *jr, struct mp_repl *r)
{
        const char *path = json_string_value(json_object_get(jr_params(jr), "path"));
        uint8_t *d = NULL;
        size_t len = 0;
        char msg[MSG], sha[65], *b64 = NULL;
        int rc;
        jr_progress(jr, 30, "reading");
        if ((rc = mp_fs_get(r, path, &d, &len, NULL, msg, sizeof(msg))) < 0)
                return fail_fs(jr, rc, "read", path, msg);
        rc = mp_sha256_hex(d, len, sha);
        if (rc == 0)
                rc = mp_b64_encode(d, len, &b64);
        free(d);
        if (rc < 0)
                return jr_fail(jr, "no_memory", "Out of memory.");
        jr_result_set(jr, "path", json_string(path));
        jr_result_set(jr, "size", json_integer((json_int_t)len));
        jr_result_set(jr, "sha256", json_string(sha));
        jr_result_set(jr, "content_b64", json_string(b64));
        free(b64);
        return done(jr);
}

static int get_run(struct job_run *jr)
{
        return with_board(jr, get_body);
}

static int simple_body(struct job_run *jr, struct mp_repl *r, const char *what,
                       int (*op)(struct mp_repl *, const char *, char *, size_t))
{
        const char *path = json_string_value(json_object_get(jr_params(jr), "path"));
        char msg[MSG];
        int rc;
        if ((rc = op(r, path, msg, sizeof(msg))) < 0)
                return fail_fs(jr, rc, what, path, msg);
        jr_result_set(jr, "path", json_string(path));
        return done(jr);
}

static int rm_body(struct job_run *jr, struct mp_repl *r)
{
        return simple_body(jr, r, "remove", mp_fs_rm);
}

static int mkdir_body(struct job_run *jr, struct mp_repl *r)
{
        return simple_body(jr, r, "create directory", mp_fs_mkdir);
}

static int rmdir_body(struct job_run *jr, struct mp_repl *r)
{
        return simple_body(jr, r, "remove directory", mp_fs_rmdir);
}

static int rm_run(struct job_run *jr)
{
        return with_board(jr, rm_body);
}

static int mkdir_run(struct job_run *jr)
{
        return with_board(jr, mkdir_body);
}

static int rmdir_run(struct job_run *jr)
{
        return with_board(jr, rmdir_body);
}

/* Soft reset; with run_main, from the friendly REPL so boot.py/main.py run, and keep what they print. */
static int reset_and_capture(struct job_run *jr, struct mp_repl *r, bool run_main)
{
        json_t *c = json_object_get(jr_params(jr), "capture_ms");
        int ms = c ? (int)json_integer_value(c) : 2000;
        char msg[MSG];
        jr_progress(jr, 90, "soft reset");
        int rc = mp_repl_soft_reset(r, !run_main, msg, sizeof(msg));
        if (rc < 0)
                return jr_fail(jr, rc == -ENODEV ? "board_gone" : "reset_failed", "Soft reset failed: %s", msg);
        jr_log(jr, "soft reset done%s", run_main ? "; boot.py and main.py run" : "");
        if (run_main && ms > 0) {
                char *out = malloc(65536);
                if (!out)
                        return jr_fail(jr, "no_memory", "Out of memory.");
                int n = mp_repl_capture(r, ms < jr_time_left_ms(jr) ? ms : jr_time_left_ms(jr), out, 65536);
                if (n >= 0)
                        jr_result_set(jr, "boot_output", jstr(out, (size_t)n));
                free(out);
        }
        if (!run_main)
                return done(jr);
        jr_progress(jr, 100, "done");
        return 0;
}

static int deploy_body(struct job_run *jr, struct mp_repl *r)
{
        const json_t *params = jr_params(jr);
        json_t *sr = json_object_get(params, "soft_reset");
        char msg[MSG];
        int rc;
        jr_progress(jr, 10, "putting files");
        if ((rc = mp_fs_put_files(r, json_object_get(params, "files"), msg, sizeof(msg))) < 0)
                return jr_fail(jr, rc == -ENODEV ? "board_gone" : rc == -EILSEQ ? "link_corrupt" : "put_failed",
                               "%s", msg);
        jr_result_set(jr, "files", json_integer((json_int_t)json_array_size(json_object_get(params, "files"))));
        if (sr && !json_is_true(sr))
                return done(jr);
        return reset_and_capture(jr, r, true);
}

static int deploy_run(struct job_run *jr)
{
        return with_board(jr, deploy_body);
}

static int soft_reset_body(struct job_run *jr, struct mp_repl *r)
{
        json_t *rm = json_object_get(jr_params(jr), "run_main");
        return reset_and_capture(jr, r, !rm || json_is_true(rm));
}

static int soft_reset_run(struct job_run *jr)
{
        return with_board(jr, soft_reset_body);
}

const struct job_kind job_kind_fs_ls = {
        .name = "fs_ls",
        .summary = "list files on a MicroPython board (params: path, recursive)",
        .default_timeout_s = 60,
        .check = ls_check,
        .run = ls_run,
};

const struct job_kind job_kind_fs_put = {
        .name = "fs_put",
        .summary = "write a file to a MicroPython board and verify it (params: path, content_b64)",
        .default_timeout_s = 300,
        .check = put_check,
        .run = put_run,
};

const struct job_kind job_kind_fs_get = {
        .name = "fs_get",
        .summary = "read a file from a MicroPython board (params: path; result: content_b64, sha256)",
        .default_timeout_s = 300,
        .check = need_path,
        .run = get_run,
};

const struct job_kind job_kind_fs_rm = {
        .name = "fs_rm",
        .summary = "remove a file from a MicroPython board (params: path)",
        .default_timeout_s = 30,
        .check = need_path,
        .run = rm_run,
};

const struct job_kind job_kind_fs_mkdir = {
        .name = "fs_mkdir",
        .summary = "create a directory on a MicroPython board (params: path)",
        .default_timeout_s = 30,
        .check = need_path,
        .run = mkdir_run,
};

const struct job_kind job_kind_fs_rmdir = {
        .name = "fs_rmdir",
        .summary = "remove an empty directory from a MicroPython board (params: path)",
        .default_timeout_s = 30,
        .check = need_path,
        .run = rmdir_run,
};

const struct job_kind job_kind_deploy = {
        .name = "deploy",
        .summary = "write files to a MicroPython board, then soft-reset so main.py runs (params: files, soft_reset, capture_ms)",
        .default_timeout_s = 600,
        .check = deploy_check,
        .run = deploy_run,
};

const struct job_kind job_kind_soft_reset = {
        .name = "soft_reset",
        .summary = "soft-reset MicroPython (Ctrl-D); run_main=false stays in the raw REPL",
        .default_timeout_s = 30,
        .check = soft_reset_check,
        .run = soft_reset_run,
};
