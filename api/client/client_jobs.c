/* CLI jobs: queue a job and follow it through the polled event stream (live output of run jobs,
 * progress of flash jobs), plus the `corral run` and `corral flash` commands. */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 150
#define JOB_CHECK_EVERY 20 /* polls between direct looks at the job (in case events were missed) */

static void sleep_ms(int ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static const char *or_else(const char *s, const char *dflt)
{
        return s ? s : dflt;
}

static bool terminal(const char *state)
{
        return state && strcmp(state, "queued") && strcmp(state, "running");
}

/* Board output to our stdout/stderr, CR LF as LF. */
static void write_output(FILE *f, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] != '\r')
                        fputc(s[i], f);
        fflush(f);
}

static int get_job(struct cli *c, long long id, json_t **ret)
{
        char path[64];
        snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
        struct cli_resp r = { 0 };
        int rc = cli_call(c, "GET", path, NULL, 0, &r);
        if (rc)
                return rc;
        if (r.status != 200) {
                rc = cli_fail(c, "cannot read the job", &r);
                cli_resp_clear(&r);
                return rc;
        }
        *ret = r.body;
        return 0;
}

struct follow {
        long long job;
        unsigned long long seq;
        bool lost;
        bool done;
        size_t out_bytes, err_bytes;
        int last_tenth;
        char last_phase[128];
};

static void on_event(struct follow *fw, const json_t *e, bool stream, bool progress, const char *board)
{
        const char *type = json_string_value(json_object_get(e, "type"));
        const json_t *d = json_object_get(e, "data");
        if (!type || json_integer_value(json_object_get(d, "job")) != fw->job)
                return;
        if (!strcmp(type, "job.output") && stream) {
                const char *s = json_string_value(json_object_get(d, "data"));
                size_t n = json_string_length(json_object_get(d, "data"));
                bool err = !strcmp(json_string_value(json_object_get(d, "stream")), "stderr");
                write_output(err ? stderr : stdout, s, n);
                *(err ? &fw->err_bytes : &fw->out_bytes) += n;
        } else if (!strcmp(type, "job.progress") && progress) {
                int pct = (int)json_integer_value(json_object_get(d, "progress"));
                const char *phase = json_string_value(json_object_get(d, "phase"));
                if (!phase)
                        phase = "";
                if (pct / 10 != fw->last_tenth || strcmp(phase, fw->last_phase)) {
                        fprintf(stderr, "corral: %s: %3d%% %s\n", board, pct, phase);
                        fw->last_tenth = pct / 10;
                        snprintf(fw->last_phase, sizeof(fw->last_phase), "%s", phase);
                }
        } else if (!strcmp(type, "job.state")) {
                fw->done = terminal(json_string_value(json_object_get(d, "state")));
        }
}

/* Print what the events did not carry (history overrun): the tail of the result's output. */
static void print_rest(const json_t *job, const struct follow *fw)
{
        const json_t *res = json_object_get(job, "result");
        const json_t *o = json_object_get(res, "stdout"), *e = json_object_get(res, "stderr");
        if (json_string_length(o) > fw->out_bytes)
                write_output(stdout, json_string_value(o) + fw->out_bytes, json_string_length(o) - fw->out_bytes);
        if (json_string_length(e) > fw->err_bytes)
                write_output(stderr, json_string_value(e) + fw->err_bytes, json_string_length(e) - fw->err_bytes);
}

int cli_job_follow(struct cli *c, const char *board, const json_t *body, bool stream, bool progress, json_t **ret_job)
{
        struct cli_resp r = { 0 };
        struct follow fw = { .last_tenth = -1 };
        int rc = cli_call(c, "GET", "/api/v1/events?since=9223372036854775807", NULL, 0, &r);
        if (rc)
                return rc;
        fw.seq = (unsigned long long)json_integer_value(json_object_get(r.body, "last_seq"));
        cli_resp_clear(&r);
        char eb[256], path[512];
        cli_escape(board, eb, sizeof(eb));
        snprintf(path, sizeof(path), "/api/v1/boards/%s/jobs", eb);
        if ((rc = cli_call(c, "POST", path, body, 0, &r)))
                return rc;
        if (r.status != 202) {
                char what[256];
                snprintf(what, sizeof(what), "cannot queue the job on %s", board);
                rc = cli_fail(c, what, &r);
                cli_resp_clear(&r);
                return rc;
        }
        fw.job = json_integer_value(json_object_get(r.body, "id"));
        cli_resp_clear(&r);
        json_t *job = NULL;
        for (unsigned polls = 1; !fw.done; polls++) {
                snprintf(path, sizeof(path), "/api/v1/events?since=%llu", fw.seq);
                if ((rc = cli_call(c, "GET", path, NULL, 0, &r)))
                        return rc;
                json_t *events = json_object_get(r.body, "events");
                size_t i;
                json_t *e;
                json_array_foreach(events, i, e) {
                        unsigned long long s = (unsigned long long)json_integer_value(json_object_get(e, "seq"));
                        if (i == 0 && s > fw.seq + 1)
                                fw.lost = true;
                        fw.seq = s;
                        on_event(&fw, e, stream, progress, board);
                }
                bool idle = json_array_size(events) == 0;
                cli_resp_clear(&r);
                if (!fw.done && polls % JOB_CHECK_EVERY == 0) {
                        if ((rc = get_job(c, fw.job, &job)))
                                return rc;
                        if (terminal(json_string_value(json_object_get(job, "state")))) {
                                fw.done = fw.lost = true; /* its events are gone: take the result's text */
                                break;
                        }
                        job = (json_decref(job), NULL);
                }
                if (idle && !fw.done)
                        sleep_ms(POLL_MS);
        }
        if (!job && (rc = get_job(c, fw.job, &job)))
                return rc;
        if (stream && fw.lost)
                print_rest(job, &fw);
        *ret_job = job;
        return 0;
}

int cli_run_exit(const json_t *job)
{
        const char *state = json_string_value(json_object_get(job, "state"));
        const json_t *err = json_object_get(job, "error");
        if (state && !strcmp(state, "succeeded")) {
                json_t *st = json_object_get(json_object_get(job, "result"), "exit_status");
                return json_is_integer(st) ? (int)json_integer_value(st) : CLI_OK;
        }
        const char *code = json_string_value(json_object_get(err, "code"));
        if (code && !strcmp(code, "timeout"))
                return CLI_TIMEOUT;
        fprintf(stderr, "corral: job %lld %s: %s (%s)\n", (long long)json_integer_value(json_object_get(job, "id")),
                state ? state : "ended", or_else(json_string_value(json_object_get(err, "message")), "no reason given"),
                code ? code : "?");
        return CLI_FARM;
}

static char *base64(const char *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (out)
                EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
        return out;
}

json_t *cli_run_params(struct cli *c, const char *script_path)
{
        char *script;
        size_t len;
        int e = cli_read_file(script_path, &script, &len);
        if (e < 0) {
                fprintf(stderr, "corral: cannot read %s: %s\n", script_path, strerror(-e));
                return NULL;
        }
        json_t *body = json_pack("{s:s, s:s%}", "kind", "run", "script", script, len);
        free(script);
        if (!body) {
                fprintf(stderr, "corral: %s is not UTF-8 text\n", script_path);
                return NULL;
        }
        if (c->timeout_s > 0)
                json_object_set_new(body, "timeout_s", json_integer(c->timeout_s));
        if (c->nputs) {
                json_t *files = json_array();
                for (int i = 0; i < c->nputs; i++) {
                        char *data;
                        size_t n;
                        if ((e = cli_read_file(c->puts[i], &data, &n)) < 0) {
                                fprintf(stderr, "corral: cannot read %s: %s\n", c->puts[i], strerror(-e));
                                json_decref(files);
                                json_decref(body);
                                return NULL;
                        }
                        char *b64 = base64(data, n), dest[PATH_MAX];
                        free(data);
                        const char *slash = strrchr(c->puts[i], '/');
                        snprintf(dest, sizeof(dest), "/%s", slash ? slash + 1 : c->puts[i]);
                        json_array_append_new(files, json_pack("{s:s, s:s}", "path", dest, "content_b64", b64 ? b64 : ""));
                        free(b64);
                }
                json_object_set_new(body, "files", files);
        }
        return body;
}

int cmd_run(struct cli *c, int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "corral: usage: corral run BOARD script.py [--put FILE]... [--timeout S]\n");
                return CLI_USAGE;
        }
        json_t *body = cli_run_params(c, argv[1]);
        if (!body)
                return CLI_USAGE;
        json_t *job = NULL;
        int rc = cli_job_follow(c, argv[0], body, !c->json, false, &job);
        json_decref(body);
        if (rc)
                return rc;
        if (c->json) {
                json_dumpf(job, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        }
        rc = cli_run_exit(job);
        const json_t *res = json_object_get(job, "result");
        if (!c->json && rc == CLI_FAILED && json_string_value(json_object_get(res, "exception_type")))
                fprintf(stderr, "corral: the script raised %s: %s\n",
                        json_string_value(json_object_get(res, "exception_type")),
                        or_else(json_string_value(json_object_get(res, "exception_message")), ""));
        else if (!c->json && rc == CLI_TIMEOUT)
                fprintf(stderr, "corral: the script was still running at its timeout and was interrupted\n");
        json_decref(job);
        return rc;
}

/* Upload the image to the firmware library: its id into id (65 bytes). 0 on success, else an exit
 * code. corrald never reads a client's path on its own host: the bytes always go up first. */
int cli_upload_firmware(struct cli *c, const char *file, char *id)
{
        char *data;
        size_t len;
        int e = cli_read_file(file, &data, &len);
        if (e < 0) {
                fprintf(stderr, "corral: cannot read %s: %s\n", file, strerror(-e));
                return CLI_USAGE;
        }
        const char *slash = strrchr(file, '/');
        char name[512], path[700];
        cli_escape(slash ? slash + 1 : file, name, sizeof(name));
        snprintf(path, sizeof(path), "/api/v1/firmware?filename=%s", name);
        struct cli_resp r = { 0 };
        int rc = cli_call_raw(c, "POST", path, data, len, "application/octet-stream", 300, &r);
        free(data);
        if (rc)
                return rc;
        if (r.status != 200 && r.status != 201) {
                rc = cli_fail(c, "cannot upload the firmware", &r);
                cli_resp_clear(&r);
                return rc;
        }
        snprintf(id, 65, "%s", or_else(json_string_value(json_object_get(r.body, "id")), ""));
        cli_resp_clear(&r);
        return 0;
}

int cmd_flash(struct cli *c, int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "corral: usage: corral flash BOARD FIRMWARE [--mode dio] [--erase]\n");
                return CLI_USAGE;
        }
        if (access(argv[1], R_OK) < 0) {
                fprintf(stderr, "corral: cannot read %s: %s\n", argv[1], strerror(errno));
                return CLI_USAGE;
        }
        char id[65] = "";
        int rc = cli_upload_firmware(c, argv[1], id);
        if (rc)
                return rc;
        json_t *body = json_pack("{s:s, s:s}", "kind", "flash", "firmware", id);
        if (c->mode)
                json_object_set_new(body, "flash_mode", json_string(c->mode));
        if (c->erase)
                json_object_set_new(body, "erase", json_true());
        if (c->timeout_s > 0)
                json_object_set_new(body, "timeout_s", json_integer(c->timeout_s));
        json_t *job = NULL;
        rc = cli_job_follow(c, argv[0], body, false, !c->json, &job);
        json_decref(body);
        if (rc)
                return rc;
        const char *state = json_string_value(json_object_get(job, "state"));
        const json_t *res = json_object_get(job, "result");
        if (c->json) {
                json_dumpf(job, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        }
        if (state && !strcmp(state, "succeeded")) {
                if (!c->json)
                        fprintf(stderr, "corral: flashed %s: %lld bytes written in %.1f s (verify: %s)\n", argv[0],
                                (long long)json_integer_value(json_object_get(res, "bytes_written")),
                                json_number_value(json_object_get(res, "seconds")),
                                or_else(json_string_value(json_object_get(res, "verify")), "?"));
                rc = CLI_OK;
        } else {
                rc = cli_run_exit(job) == CLI_TIMEOUT ? CLI_TIMEOUT : CLI_FARM;
        }
        json_decref(job);
        return rc;
}
