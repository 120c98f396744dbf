/* The health_check job kind: identify the board, flash its family's known-good firmware and check
 * that it boots (ESP boards whose family has a pin), and send a short block of data through the
 * MicroPython REPL and back (boards with a REPL). Each step's outcome is the check's evidence
 * (result.checks); health.c turns the job's end into the board's health (release, quarantine). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "jobs/job_mp.h"
#include "jobs/kinds.h"
#include "store/store_firmware.h"

#define LOOPBACK_BYTES 96

struct check_log {
        json_t *checks; /* [{"name","ok","detail"}] */
};

static void note(struct job_run *jr, struct check_log *cl, const char *name, bool ok, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void note(struct job_run *jr, struct check_log *cl, const char *name, bool ok, const char *fmt, ...)
{
        char detail[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        json_array_append_new(cl->checks, json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok, "detail", detail));
        jr_log(jr, "health check %s: %s: %s", name, ok ? "passed" : "FAILED", detail);
}

static bool is_esp(struct job_run *jr)
{
        const char *fam = json_string_value(json_object_get(jr_board_hints(jr), "family"));
        return fam && !strncmp(fam, "esp", 3);
}

/* Known-good flash + boot check (ESP with a pinned firmware). 0 passed / skipped, <0 failed. */
static int check_flash(struct job_run *jr, struct check_log *cl)
{
        const char *fam = json_string_value(json_object_get(jr_board_hints(jr), "family"));
        json_t *pin = NULL;
        if (!fam || store_firmware_pin_get(jr_store(jr), fam, &pin) < 0) {
                note(jr, cl, "known_good_flash", true, "skipped: family %s has no known-good firmware pinned",
                     fam ? fam : "unknown");
                return 0;
        }
        json_t *p = json_pack("{s:s, s:O}", "kind", "flash", "firmware", json_object_get(pin, "firmware_id"));
        jr_params_override(jr, p);
        jr_progress(jr, 40, "known-good flash");
        int rc = job_kind_flash.run(jr);
        jr_params_override(jr, NULL);
        note(jr, cl, "known_good_flash", rc == 0, "firmware %s %s", json_string_value(json_object_get(pin, "firmware_id")),
             rc == 0 ? "flashed and booted" : "did not flash and boot (see the log)");
        json_decref(p);
        json_decref(pin);
        return rc;
}

struct counted {
        struct job_run *jr;
        long long link_errors;
};

static void count_link(const char *key, long long n, void *user)
{
        struct counted *c = user;
        if (!strcmp(key, "link_errors"))
                c->link_errors += n;
        jr_health(c->jr, key, n);
}

/* Random bytes as hex through the REPL; the board prints their length and them back. */
static int check_loopback(struct job_run *jr, struct check_log *cl)
{
        unsigned char raw[LOOPBACK_BYTES / 2];
        char hex[LOOPBACK_BYTES + 1], want[LOOPBACK_BYTES + 16], script[LOOPBACK_BYTES + 64];
        if (RAND_bytes(raw, sizeof(raw)) != 1)
                for (size_t i = 0; i < sizeof(raw); i++)
                        raw[i] = (unsigned char)rand();
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        snprintf(script, sizeof(script), "d='%s'\nprint(len(d),d)\n", hex);
        snprintf(want, sizeof(want), "%d %s", LOOPBACK_BYTES, hex);

        struct mp_repl r;
        struct mp_session *kept = NULL;
        jr_progress(jr, 70, "loopback");
        int rc = job_mp_connect(jr, &r, &kept);
        if (rc < 0) {
                note(jr, cl, "loopback", false, "no REPL to send the data through");
                return rc;
        }
        struct mp_exec_opts opt = { .timeout_ms = 10000 };
        struct mp_exec_result res = { 0 };
        char msg[512] = "";
        /* A healthy link needs no resends: every damaged step counts against the check. */
        struct counted cnt = { .jr = jr };
        r.count = count_link;
        r.count_user = &cnt;
        rc = mp_repl_exec(&r, script, strlen(script), &opt, &res, msg, sizeof(msg));
        bool intact = rc == 0 && res.out && !strncmp(res.out, want, strlen(want)) && !res.err_len;
        bool ok = intact && cnt.link_errors == 0;
        if (ok)
                note(jr, cl, "loopback", true, "%d bytes through the REPL and back, intact, no step resent",
                     LOOPBACK_BYTES);
        else if (intact)
                note(jr, cl, "loopback", false, "the data came back intact, but %lld transfer step(s) arrived damaged "
                     "and had to be sent again: the link loses or changes bytes", cnt.link_errors);
        else if (rc < 0)
                note(jr, cl, "loopback", false, "%s", msg);
        else
                note(jr, cl, "loopback", false, "sent %d bytes, got back '%.120s'%s%.200s", LOOPBACK_BYTES,
                     res.out ? res.out : "", res.err_len ? "; error: " : "", res.err_len ? res.err : "");
        mp_exec_result_clear(&res);
        job_mp_leave(jr, &r, kept);
        if (!ok && rc == 0)
                rc = jr_fail(jr, "link_errors", intact ? "the REPL loopback needed %lld resent step(s): the link "
                             "loses or changes bytes" : "the REPL loopback did not give the data back intact",
                             cnt.link_errors);
        else if (!ok)
                jr_fail(jr, rc == -EILSEQ ? "link_corrupt" : rc == -ENODEV ? "board_gone" : "loopback_failed", "%s", msg);
        return ok ? 0 : rc < 0 ? rc : -EIO;
}

static int health_check_check(const json_t *params, char *msg, size_t msg_size)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)params, k, v) {
                if (!strcmp(k, "kind") || !strcmp(k, "timeout_s"))
                        continue;
                if (!strcmp(k, "release") && json_is_boolean(v))
                        continue;
                if ((!strcmp(k, "requested_by") || !strcmp(k, "reason")) && json_is_string(v) &&
                    strlen(json_string_value(v)) < 128)
                        continue;
                snprintf(msg, msg_size, "health_check takes only 'release' (true/false), 'requested_by' and 'reason', not '%s'", k);
                return -EINVAL;
        }
        return 0;
}

static int health_check_run(struct job_run *jr)
{
        struct check_log cl = { .checks = json_array() };
        jr_progress(jr, 5, "identify");
        json_t *idp = json_pack("{s:s}", "kind", "identify");
        jr_params_override(jr, idp);
        int rc = job_kind_identify.run(jr);
        jr_params_override(jr, NULL);
        json_decref(idp);
        note(jr, &cl, "identify", rc == 0, "%s", rc == 0 ? "the board answered and identified itself"
                                                          : "the board did not identify itself (see the log)");
        if (rc == 0 && is_esp(jr))
                rc = check_flash(jr, &cl);
        else if (rc == 0)
                rc = check_loopback(jr, &cl);
        jr_result_set(jr, "checks", cl.checks);
        jr_result_set(jr, "verdict", json_string(rc == 0 ? "healthy: every check passed" : "the health check failed"));
        jr_progress(jr, 100, "done");
        return rc;
}

const struct job_kind job_kind_health_check = {
        .name = "health_check",
        .summary = "identify, known-good flash + boot check (ESP with a pin), REPL data loopback",
        .default_timeout_s = 300,
        .check = health_check_check,
        .run = health_check_run,
};
