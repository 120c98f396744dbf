/* Job kind "expect": optionally flash an image (the flash job's own steps and options), reset the
 * board, then follow its serial output from the reset through the expect engine's steps, with
 * fail_on patterns and the test result parsers; the result says which step failed and why, the
 * captures, the transcript around the failure, the parsed tests (exit_status 0 / 1 / 124), the
 * crash addresses decoded with the app's ELF ("elf" / "elf_path"), the boot's reset reason and a
 * reset during the test. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/expect/expect.h"
#include "engines/expect/testparse.h"
#include "jobs/crash_report.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"
#include "util.h"

#define READ_SLICE_MS 200     /* longest single read: cancel and the job deadline are checked between */
#define REPORT_MARGIN_MS 1000 /* kept back from the job's timeout to report */
#define RESET_HOLD_MS 100

#define GROUP_IDLE_MS (10 * 60 * 1000) /* a finished test's shared captures are kept this long */
#define GROUPS_MAX 256

/* ---- multi-board tests: the jobs of one test share a "group"; each publishes its captures as
 * ROLE.NAME for the others' ${ROLE.NAME} sends ---- */

static pthread_mutex_t groups_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *groups; /* {group: {"vars": {"role.name": value}, "refs": n, "idle_ms": t}} */

static bool word(const char *s, size_t min, size_t max, const char *extra)
{
        size_t n = s ? strlen(s) : 0;
        if (n < min || n > max)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '_' && !strchr(extra, *s))
                        return false;
        return true;
}

/* Join (delta 1) or leave (-1) group; joining drops groups idle for long. 0 or -ENOSPC. */
static int group_ref(const char *group, int delta)
{
        int rc = 0;
        uint64_t now = util_mono_ms();
        pthread_mutex_lock(&groups_mu);
        if (!groups)
                groups = json_object();
        json_t *g = json_object_get(groups, group);
        if (delta > 0) {
                const char *k;
                json_t *v, *tmp;
                json_object_foreach_safe(groups, tmp, k, v)
                        if (!json_integer_value(json_object_get(v, "refs")) &&
                            now - (uint64_t)json_integer_value(json_object_get(v, "idle_ms")) > GROUP_IDLE_MS)
                                json_object_del(groups, k);
                if (!g && json_object_size(groups) >= GROUPS_MAX)
                        rc = -ENOSPC;
                else if (!g)
                        json_object_set_new(groups, group, g = json_pack("{s:{}, s:i}", "vars", "refs", 0));
        }
        if (g && rc == 0) {
                json_object_set_new(g, "refs", json_integer(json_integer_value(json_object_get(g, "refs")) + delta));
                json_object_set_new(g, "idle_ms", json_integer((json_int_t)now));
        }
        pthread_mutex_unlock(&groups_mu);
        return rc;
}

static void group_publish(const char *group, const char *role, const json_t *captures)
{
        pthread_mutex_lock(&groups_mu);
        json_t *vars = json_object_get(json_object_get(groups, group), "vars");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)captures, k, v) {
                char key[160];
                snprintf(key, sizeof(key), "%s.%s", role, k);
                if (vars && !json_equal(json_object_get(vars, key), v))
                        json_object_set(vars, key, v);
        }
        pthread_mutex_unlock(&groups_mu);
}

struct group_user {
        const char *group;
};

static char *group_lookup(void *user, const char *ref)
{
        struct group_user *gu = user;
        pthread_mutex_lock(&groups_mu);
        const char *v = json_string_value(json_object_get(json_object_get(json_object_get(groups, gu->group), "vars"), ref));
        char *copy = v ? strdup(v) : NULL;
        pthread_mutex_unlock(&groups_mu);
        return copy;
}

/* group/role, and ${ROLE.NAME} sends only with a group. */
static int group_check(const json_t *params, char *msg, size_t size)
{
        json_t *g = json_object_get(params, "group"), *r = json_object_get(params, "role");
        if (g && !word(json_string_value(g), 16, 64, "-")) {
                snprintf(msg, size, "'group' must be 16 to 64 letters, digits, '_' or '-' (an unguessable id shared "
                         "by the jobs of one multi-board test)");
                return -EINVAL;
        }
        if (r && !word(json_string_value(r), 1, 32, "-")) {
                snprintf(msg, size, "'role' must be 1 to 32 letters, digits, '_' or '-' (this board's role in the test)");
                return -EINVAL;
        }
        if (!g != !r) {
                snprintf(msg, size, "'group' and 'role' go together (a multi-board test's id and this board's role)");
                return -EINVAL;
        }
        size_t i;
        json_t *st;
        json_array_foreach(json_object_get(params, "steps"), i, st) {
                const char *send = json_string_value(json_object_get(st, "send"));
                for (const char *p = send ? strstr(send, "${") : NULL; p && !g; p = strstr(p + 2, "${")) {
                        size_t n = strcspn(p, "}");
                        if (memchr(p, '.', n)) {
                                snprintf(msg, size, "steps[%zu].send refers to another board's capture (%.*s}) but "
                                         "the job has no 'group' (a multi-board test)", i, (int)n, p);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}

static const char *const parsers[] = { "auto", "unity", "ztest", "plain", "none", NULL };

static unsigned parse_formats(const char *p)
{
        if (!p || !strcmp(p, "auto"))
                return TESTPARSE_ALL;
        if (!strcmp(p, "unity"))
                return TESTPARSE_UNITY;
        if (!strcmp(p, "ztest"))
                return TESTPARSE_ZTEST;
        if (!strcmp(p, "plain"))
                return TESTPARSE_PLAIN;
        return 0;
}

static int expect_kind_check(const json_t *params, char *msg, size_t size)
{
        int e = expect_params_check(params, msg, size);
        if (e == 0)
                e = group_check(params, msg, size);
        if (e == 0)
                e = crash_report_check(params, msg, size);
        if (e < 0)
                return e;
        json_t *p = json_object_get(params, "parse"), *reset = json_object_get(params, "reset");
        bool ok = false;
        for (size_t i = 0; json_is_string(p) && parsers[i]; i++)
                ok |= !strcmp(json_string_value(p), parsers[i]);
        if (p && !ok) {
                snprintf(msg, size, "'parse' must be one of: auto, unity, ztest, plain, none");
                return -EINVAL;
        }
        if (reset && !json_is_boolean(reset)) {
                snprintf(msg, size, "'reset' must be true (reset the board, then follow its output; the default) "
                         "or false (follow the output as it comes)");
                return -EINVAL;
        }
        json_t *flash = json_object_get(params, "flash");
        if (flash) {
                if (!json_is_object(flash)) {
                        snprintf(msg, size, "'flash' must be an object with the flash job's parameters, e.g. "
                                 "{\"firmware\": \"<library id>\"}");
                        return -EINVAL;
                }
                if (json_object_get(flash, "boot_check")) {
                        snprintf(msg, size, "flash: 'boot_check' does not apply here: the expect steps judge the boot");
                        return -EINVAL;
                }
                char m[448];
                e = job_kind_flash.check(flash, m, sizeof(m));
                if (e < 0) {
                        snprintf(msg, size, "flash: %s", m);
                        return e;
                }
        }
        return 0;
}

/* The flash sub-parameters go through the flash kind's own checks. */
static int expect_check_store(const json_t *params, struct store *store, char *msg, size_t size)
{
        json_t *flash = json_object_get(params, "flash");
        int e = flash ? job_kind_flash.check_store(flash, store, msg, size) : 0;
        return e < 0 ? e : crash_report_check_store(params, store, msg, size);
}

static int expect_check_board(const json_t *params, struct store *store, const json_t *facts, char *msg, size_t size)
{
        json_t *flash = json_object_get(params, "flash");
        return flash ? job_kind_flash.check_board(flash, store, facts, msg, size) : 0;
}

static int expect_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size)
{
        json_t *flash = json_object_get(params, "flash");
        int e = flash ? job_kind_flash.check_caller(flash, caller, msg, size) : 0;
        return e < 0 ? e : crash_report_check_caller(params, caller, msg, size);
}

struct run {
        struct job_run *jr;
        const char *group, *role;
        struct expect *x;
        struct testparse *tp;
        struct crash_report *cr;
};

static void on_line(void *user, const char *line, size_t len, uint64_t ms)
{
        struct run *r = user;
        testparse_line(r->tp, line, len);
        crash_report_line(r->cr, line, len);
}

static int port_error(struct job_run *jr, int e, const char *what)
{
        if (e == -ECANCELED)
                return e;
        return jr_fail(jr, e == -ENODEV ? "board_gone" : "io_error", "%s: %s", what, strerror(-e)), e == -ENODEV ? e : -EIO;
}

/* EN pulse through RTS with DTR released (the reset job's sequence); input before it is dropped. */
static int reset_board(struct job_run *jr)
{
        struct port *p = jr_port(jr);
        enum port_pulse_step failed = PORT_PULSE_ASSERT;
        int e = port_reset_pulse(p, RESET_HOLD_MS, true, &failed);
        if (e == -ENOTSUP)
                return jr_fail(jr, "no_reset_lines",
                               "This port (%s) carries no DTR/RTS lines, so corral cannot reset the board; give "
                               "\"reset\": false to follow its output without a reset.", p->url);
        if (e < 0)
                return port_error(jr, e, failed == PORT_PULSE_ASSERT ? "Could not set the reset line"
                                                                     : "Could not release the reset line");
        return 0;
}

/* Follow the stream until the engine is done (or the job's time runs out). */
static int follow(struct run *r)
{
        struct job_run *jr = r->jr;
        struct port *p = jr_port(jr);
        uint8_t buf[4096];
        struct expect_action a;
        for (;;) {
                uint64_t now = util_mono_ms();
                expect_next(r->x, now, &a);
                if (a.act == EXPECT_ACT_DONE)
                        return 0;
                if (jr_cancelled(jr))
                        return -ECANCELED;
                if (a.act == EXPECT_ACT_SEND) {
                        int e = port_write(p, a.data, a.len, 2000);
                        if (e < 0)
                                return port_error(jr, e, "Could not send a step's bytes");
                        jr_log(jr, "sent %zu bytes", a.len);
                        continue;
                }
                int left = jr_time_left_ms(jr) - REPORT_MARGIN_MS;
                if (left <= 0) {
                        expect_abort(r->x, now);
                        return 0;
                }
                uint64_t wait = a.deadline_ms > now ? a.deadline_ms - now : 0;
                if (wait > (uint64_t)left)
                        wait = (uint64_t)left;
                if (wait > READ_SLICE_MS)
                        wait = READ_SLICE_MS;
                int n = port_read(p, buf, sizeof(buf), (int)wait);
                if (n < 0)
                        return port_error(jr, n, "Reading the board's output failed");
                if (n > 0) {
                        uint64_t t = util_mono_ms();
                        jr_output(jr, "console", buf, (size_t)n);
                        expect_feed(r->x, buf, (size_t)n, t);
                        if (r->group && json_object_size(expect_captures(r->x)))
                                group_publish(r->group, r->role, expect_captures(r->x));
                }
        }
}

/* JUnit-ready totals, exit_status and the verdict. */
static void report(struct run *r, uint64_t t0)
{
        struct job_run *jr = r->jr;
        enum expect_outcome o = expect_outcome(r->x);
        json_t *res = expect_result_json(r->x);
        const char *k;
        json_t *v;
        char reason[2400] = "";
        crash_report_finish(r->cr, jr);
        const char *where = crash_report_where(r->cr), *decoded = crash_report_text(r->cr);
        const char *reset = crash_report_reset(r->cr);
        if (o == EXPECT_FAIL_ON) {
                const char *line = expect_fail_line(r->x), *ev = expect_fail_evidence(r->x);
                char *details = NULL;
                size_t dl = 0;
                FILE *f = open_memstream(&details, &dl);
                if (f) {
                        fprintf(f, "%s%s%s", line ? line : "", ev ? "\n" : "", ev ? ev : "");
                        if (decoded)
                                fprintf(f, "\n\nBacktrace decoded:\n%s", decoded);
                        if (reset)
                                fprintf(f, "\n\n%s", reset);
                        if (crash_report_boot(r->cr))
                                fprintf(f, "\n\nthe test's boot: %s", crash_report_boot(r->cr));
                        fclose(f);
                }
                const char *running = testparse_running(r->tp);
                char crash[2048];
                snprintf(crash, sizeof(crash), "%s%s%s%s%s", line ? line : "", where ? " " : "", where ? where : "",
                         reset ? "; " : "", reset ? reset : "");
                snprintf(reason, sizeof(reason), "fail_on '%s' matched%s%s: %s", expect_fail_name(r->x),
                         running ? " during test " : "", running ? running : "", crash);
                testparse_crash(r->tp, crash, details);
                free(details);
        }
        size_t passed, failed, skipped, errors;
        testparse_totals(r->tp, &passed, &failed, &skipped, &errors);
        unsigned st = 0, sf = 0, si = 0;
        bool have_sum = testparse_summary(r->tp, &st, &sf, &si);
        int status = o == EXPECT_PASSED ? (failed || errors || (have_sum && sf) ? 1 : 0) : o == EXPECT_TIMEOUT ? 124 : 1;
        if (o == EXPECT_TIMEOUT) {
                snprintf(reason, sizeof(reason), "%s",
                         json_string_value(json_object_get(json_object_get(res, "failed_step"), "reason")));
                /* a test that was running when the time ran out hung: it is the error */
                if (testparse_running(r->tp)) {
                        char why[2500];
                        snprintf(why, sizeof(why), "timed out: %s", reason);
                        testparse_crash(r->tp, why, NULL);
                }
        }
        else if (o == EXPECT_PASSED)
                snprintf(reason, sizeof(reason), "every step matched; tests: %zu passed, %zu failed, %zu skipped, "
                         "%zu errors", passed, failed, skipped, errors);
        /* a crash or a reset that no fail_on pattern ended the run for is still news */
        if (o != EXPECT_FAIL_ON && (where || reset)) {
                size_t n = strlen(reason);
                snprintf(reason + n, sizeof(reason) - n, "%s%s%s%s", where ? "; crashed " : "", where ? where : "",
                         reset ? "; " : "", reset ? reset : "");
        }
        json_object_foreach(res, k, v)
                jr_result_set(jr, k, json_incref(v));
        json_decref(res);
        jr_result_set(jr, "tests", testparse_json(r->tp));
        json_t *tot = json_pack("{s:I, s:I, s:I, s:I}", "passed", (json_int_t)passed, "failed", (json_int_t)failed,
                                "skipped", (json_int_t)skipped, "errors", (json_int_t)errors);
        if (have_sum)
                json_object_set_new(tot, "unity_summary",
                                    json_pack("{s:i, s:i, s:i}", "tests", st, "failures", sf, "ignored", si));
        jr_result_set(jr, "test_totals", tot);
        jr_result_set(jr, "exit_status", json_integer(status));
        jr_result_set(jr, "reason", json_string(reason));
        /* When the job stopped reading, against the same clock as fail_on.at_ms / ended_ms. */
        jr_result_set(jr, "stopped_ms", json_integer((json_int_t)(util_mono_ms() - t0)));
        jr_log(jr, "%s (exit status %d)", reason, status);
}

static int expect_run(struct job_run *jr)
{
        const json_t *params = jr_params(jr);
        json_t *flash = json_object_get(params, "flash");
        char msg[512];
        int e;
        if (flash) {
                /* The flash job's own steps and options; its boot check is for MicroPython, so the
                 * expect steps judge the boot instead. */
                json_t *fp = json_deep_copy(flash);
                if (!fp)
                        return jr_fail(jr, "internal", "Out of memory");
                json_object_set_new(fp, "boot_check", json_false());
                jr_params_override(jr, fp);
                e = job_kind_flash.run(jr);
                jr_params_override(jr, NULL);
                json_decref(fp);
                if (e < 0)
                        return e;
                jr_log(jr, "Flashed; now the expect steps");
        }
        struct run r = { .jr = jr };
        if ((e = expect_new(params, &r.x, msg, sizeof(msg))) < 0)
                return jr_fail(jr, e == -ENOMEM ? "internal" : "invalid_params", "%s", msg);
        if (crash_report_new(!json_is_false(json_object_get(params, "reset")), &r.cr) < 0) {
                expect_free(r.x);
                return jr_fail(jr, "internal", "Out of memory");
        }
        unsigned formats = parse_formats(json_string_value(json_object_get(params, "parse")));
        if (formats && testparse_new(formats, &r.tp) < 0) {
                crash_report_free(r.cr);
                expect_free(r.x);
                return jr_fail(jr, "internal", "Out of memory");
        }
        expect_set_line_cb(r.x, on_line, &r);
        struct group_user gu = { json_string_value(json_object_get(params, "group")) };
        r.group = gu.group;
        r.role = json_string_value(json_object_get(params, "role"));
        if (r.group) {
                if (group_ref(r.group, 1) < 0) {
                        crash_report_free(r.cr);
                        expect_free(r.x);
                        testparse_free(r.tp);
                        return jr_fail(jr, "busy", "Too many multi-board tests at once (%d)", GROUPS_MAX);
                }
                expect_set_var_fn(r.x, group_lookup, &gu);
                jr_log(jr, "Role '%s' of multi-board test %.8s...", r.role, r.group);
        }
        jr_progress(jr, flash ? 100 : 0, "following");
        if (!json_is_false(json_object_get(params, "reset"))) {
                jr_log(jr, "Reset (EN pulse through RTS); following the output from the reset");
                e = reset_board(jr);
        } else {
                jr_log(jr, "Following the output (no reset)");
        }
        uint64_t t0 = util_mono_ms();
        if (e == 0) {
                expect_start(r.x, t0);
                e = follow(&r);
        }
        if (e == 0)
                report(&r, t0);
        if (r.group)
                group_ref(r.group, -1);
        expect_free(r.x);
        testparse_free(r.tp);
        crash_report_free(r.cr);
        if (e < 0)
                return e;
        jr_progress(jr, 100, "done");
        return 0;
}

const struct job_kind job_kind_expect = {
        .name = "expect",
        .summary = "flash (optional), reset, then follow the serial output through expect/send/wait steps with "
                   "fail_on patterns; parse Unity/ztest/PASS-FAIL test results",
        .default_timeout_s = 300,
        .check = expect_kind_check,
        .check_store = expect_check_store,
        .check_board = expect_check_board,
        .check_caller = expect_check_caller,
        .run = expect_run,
};
