/* Specification of what a MicroPython session keeps for the next one on the same port (mode hint,
 * raw-paste support, fs capabilities), the one-Ctrl-A check of a kept prompt with its fallback,
 * and the Ctrl-C drain that stops at a prompt. Byte by byte against the scripted device model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_fs.h"
#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_session.h"
#include "engines/mp/mp_xfer.h"
#include "fake_port.h"
#include "mp_device_model.h"

struct fx {
        struct port *p;
        struct mp_model m;
        struct mp_repl r;
        char log[4096];
        char msg[256];
};

static uint64_t fake_clock(void *user)
{
        return fake_port_now(user);
}

static void log_line(const char *line, void *user)
{
        struct fx *f = user;
        size_t n = strlen(f->log);
        snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
}

static const struct mp_model_answer answers[] = {
        { "print(1)", "1\r\n", NULL, false },
};

/* A new session on the fixture's port, as each job starts one. */
static void new_session(struct fx *f)
{
        mp_repl_init(&f->r, f->p);
        f->r.now_ms = fake_clock;
        f->r.clock_user = f->p;
        f->r.log = log_line;
        f->r.log_user = f;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->p = fake_port_new();
        mp_model_init(&f->m, f->p);
        f->m.answers = answers;
        f->m.n_answers = 1;
        new_session(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        mp_model_release(&f->m);
        port_close(f->p);
        free(f);
        return 0;
}

static void assert_written(struct fx *f, const void *want, size_t n)
{
        size_t len;
        const uint8_t *w = fake_port_written(f->p, &len);
        assert_int_equal(len, n);
        assert_memory_equal(w, want, n);
}

static bool written_contains(struct fx *f, const char *s)
{
        size_t len, n = strlen(s);
        const uint8_t *w = fake_port_written(f->p, &len);
        for (size_t i = 0; i + n <= len; i++)
                if (memcmp(w + i, s, n) == 0)
                        return true;
        return false;
}

/* The first job on a port: a full connect, one exec, then what it keeps. */
static void first_job(struct fx *f, struct mp_session *kept)
{
        struct mp_exec_result res = { 0 };
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(mp_repl_eval(&f->r, "print(1)", 1000, &res, f->msg, sizeof(f->msg)), 0);
        mp_exec_result_clear(&res);
        mp_session_save(&f->r, kept);
        fake_port_clear_written(f->p);
        f->m.ctrl_c = 0;
        f->log[0] = '\0'; /* its transfer installed the checking helper: logged, not asserted here */
}

/* ---- what is kept ---- */

static void save_then_load_carries_capabilities_and_a_mode_hint(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        f->r.mode = MP_MODE_RAW;
        f->r.raw_paste = 0;
        f->r.fs_caps = MP_FS_PROBED | MP_FS_SIZE;
        snprintf(f->r.banner, sizeof(f->r.banner), "MicroPython v1.9.2 on 2017-09-01; micro:bit");
        mp_session_save(&f->r, &s);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(f->r.raw_paste, 0);
        assert_int_equal(f->r.fs_caps, MP_FS_PROBED | MP_FS_SIZE);
        assert_string_equal(f->r.banner, "MicroPython v1.9.2 on 2017-09-01; micro:bit");
        assert_int_equal(f->r.kept_mode, MP_MODE_RAW);
        assert_int_equal(f->r.mode, MP_MODE_UNKNOWN); /* a hint, not yet trusted */
}

static void a_disturbed_port_keeps_capabilities_but_forgets_the_mode(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        f->r.mode = MP_MODE_RAW;
        f->r.raw_paste = 1;
        f->r.fs_caps = MP_FS_PROBED | MP_FS_DIRS;
        mp_session_save(&f->r, &s);
        new_session(f);
        mp_session_load(&f->r, &s, true);
        assert_int_equal(f->r.raw_paste, 1);
        assert_int_equal(f->r.fs_caps, MP_FS_PROBED | MP_FS_DIRS);
        assert_int_equal(f->r.kept_mode, MP_MODE_UNKNOWN);
}

static void a_board_left_in_an_unknown_state_is_not_trusted(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        f->r.mode = MP_MODE_UNKNOWN; /* e.g. after a soft reset that ran main.py */
        mp_session_save(&f->r, &s);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(f->r.kept_mode, MP_MODE_UNKNOWN);
}

static void an_empty_or_foreign_memo_changes_nothing(void **state)
{
        struct fx *f = *state;
        struct mp_session zero, foreign;
        memset(&zero, 0, sizeof(zero));
        memset(&foreign, 0x5a, sizeof(foreign));
        mp_session_load(&f->r, &zero, false);
        mp_session_load(&f->r, &foreign, false);
        mp_session_load(&f->r, NULL, false);
        assert_int_equal(f->r.raw_paste, -1);
        assert_int_equal(f->r.fs_caps, 0);
        assert_int_equal(f->r.kept_mode, MP_MODE_UNKNOWN);
        assert_string_equal(f->r.banner, "");
}

/* ---- connect with a kept prompt ---- */

static void a_kept_raw_prompt_is_checked_with_one_ctrl_a_and_no_interrupt(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        uint64_t t0 = fake_port_now(f->p);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x01", 1);
        assert_int_equal(f->m.ctrl_c, 0);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        assert_int_equal(fake_port_now(f->p) - t0, 0); /* no quiet period waited */
        assert_string_equal(f->log, "");
}

static void a_kept_friendly_prompt_is_checked_the_same_way(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        assert_int_equal(mp_repl_exit_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        mp_session_save(&f->r, &s);
        fake_port_clear_written(f->p);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x01", 1);
        assert_int_equal(f->m.mode, MPM_RAW);
}

static void a_second_session_runs_code_without_interrupting_or_reprobing(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        struct mp_exec_result res = { 0 };
        f->m.paste_supported = false; /* old firmware: raw-paste requests reset the raw REPL */
        first_job(f, &s);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(mp_repl_eval(&f->r, "print(1)", 1000, &res, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(res.out_len, 3);
        assert_memory_equal(res.out, "1\r\n", 3);
        mp_exec_result_clear(&res);
        /* One Ctrl-A, then the code in one checked step: the helper from the first job is still
         * there, and the raw-paste refusal is remembered. */
        uint32_t a = mp_xfer_adler((const uint8_t *)"print(1)", 8);
        char want[128];
        int n = snprintf(want, sizeof(want), "\x01_crx(0,b'print(1)',8,%u,%u,8,%u,%u)\x04", a & 0xffffu, a >> 16,
                         a & 0xffffu, a >> 16);
        assert_written(f, want, (size_t)n);
        assert_int_equal(f->m.installs, 1);
}

static void a_kept_prompt_that_is_gone_falls_back_to_the_interrupt(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        f->m.mode = MPM_RUNNING; /* something started a program behind the session's back */
        new_session(f);
        mp_session_load(&f->r, &s, false);
        uint64_t t0 = fake_port_now(f->p);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_non_null(strstr(f->log, "did not answer Ctrl-A within 500 ms; interrupting it"));
        assert_true(written_contains(f, "\r\x03\x03"));
        assert_true(f->m.ctrl_c >= 1);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        assert_true(fake_port_now(f->p) - t0 >= 500);
}

static void a_kept_prompt_on_a_deaf_board_climbs_the_ladder(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        f->m.deaf = true; /* only a hard reset wakes it */
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_non_null(strstr(f->log, "recover 4/4 (hard reset): raw REPL is back"));
        assert_int_equal(f->m.hard_resets, 1);
}

static void a_kept_prompt_on_an_unplugged_board_fails_at_once(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        struct mp_diag d;
        first_job(f, &s);
        fake_port_unplug(f->p);
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, &d, f->msg, sizeof(f->msg)), -ENODEV);
        assert_null(strstr(f->log, "recover"));
}

static void without_a_kept_mode_connect_interrupts_first(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        new_session(f);
        mp_session_load(&f->r, &s, true); /* the console was used meanwhile */
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        size_t len;
        const uint8_t *w = fake_port_written(f->p, &len);
        assert_true(len >= 3);
        assert_memory_equal(w, "\r\x03\x03", 3);
}

static void kept_fs_capabilities_skip_the_probe(void **state)
{
        struct fx *f = *state;
        struct mp_session s;
        first_job(f, &s);
        f->r.fs_caps = MP_FS_PROBED | MP_FS_B64DEC | MP_FS_DIRS;
        mp_session_save(&f->r, &s);
        unsigned execs = f->m.execs;
        new_session(f);
        mp_session_load(&f->r, &s, false);
        assert_int_equal(mp_repl_connect(&f->r, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(mp_fs_probe(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->m.execs, execs);
        assert_int_equal(f->r.fs_caps, MP_FS_PROBED | MP_FS_B64DEC | MP_FS_DIRS);
}

/* ---- the Ctrl-C drain ---- */

static void interrupt_at_the_friendly_prompt_settles_soon_after_the_prompt(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_interrupt(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(fake_port_now(f->p), MP_SETTLE_MS);
}

static void interrupt_of_a_running_raw_program_settles_at_its_prompt(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_enter_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        f->m.mode = MPM_RUNNING;
        uint64_t t0 = fake_port_now(f->p);
        assert_int_equal(mp_repl_interrupt(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(fake_port_now(f->p) - t0, MP_SETTLE_MS);
}

static void interrupt_in_the_silent_raw_repl_still_waits_for_quiet(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_enter_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        uint64_t t0 = fake_port_now(f->p);
        assert_int_equal(mp_repl_interrupt(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(fake_port_now(f->p) - t0, 100);
}

static void output_that_does_not_end_in_a_prompt_is_drained_until_quiet(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        fake_port_feed_str(f->p, "tick 41\r\ntick 42\r\n>>> x = 1\r\n");
        assert_int_equal(mp_repl_interrupt(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(fake_port_now(f->p), 100);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(save_then_load_carries_capabilities_and_a_mode_hint),
                T(a_disturbed_port_keeps_capabilities_but_forgets_the_mode),
                T(a_board_left_in_an_unknown_state_is_not_trusted),
                T(an_empty_or_foreign_memo_changes_nothing),
                T(a_kept_raw_prompt_is_checked_with_one_ctrl_a_and_no_interrupt),
                T(a_kept_friendly_prompt_is_checked_the_same_way),
                T(a_second_session_runs_code_without_interrupting_or_reprobing),
                T(a_kept_prompt_that_is_gone_falls_back_to_the_interrupt),
                T(a_kept_prompt_on_a_deaf_board_climbs_the_ladder),
                T(a_kept_prompt_on_an_unplugged_board_fails_at_once),
                T(without_a_kept_mode_connect_interrupts_first),
                T(kept_fs_capabilities_skip_the_probe),
                T(interrupt_at_the_friendly_prompt_settles_soon_after_the_prompt),
                T(interrupt_of_a_running_raw_program_settles_at_its_prompt),
                T(interrupt_in_the_silent_raw_repl_still_waits_for_quiet),
                T(output_that_does_not_end_in_a_prompt_is_drained_until_quiet),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
