/* Specification of the verified code transfer (mp_xfer): known-answer vectors for the checksum and
 * the literal escaping, traceback clean-up, and the engine byte by byte against the device model,
 * with a lossy receiver: the code runs exactly as sent, or not at all (-EILSEQ). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_xfer.h"
#include "fake_port.h"
#include "mp_device_model.h"

struct fx {
        struct port *p;
        struct mp_model m;
        struct mp_repl r;
        char msg[512];
};

static uint64_t fake_clock(void *user)
{
        return fake_port_now(user);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->p = fake_port_new();
        mp_model_init(&f->m, f->p);
        f->m.paste_supported = false; /* an old board: no flow control */
        f->m.paste_refused = true;
        mp_repl_init(&f->r, f->p);
        f->r.now_ms = fake_clock;
        f->r.clock_user = f->p;
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

/* ---- pure helpers ---- */

static void adler32_known_answers(void **state)
{
        (void)state;
        /* RFC 1950's Adler-32: the standard test vectors. */
        assert_int_equal(mp_xfer_adler((const uint8_t *)"", 0), 0x00000001u);
        assert_int_equal(mp_xfer_adler((const uint8_t *)"a", 1), 0x00620062u);
        assert_int_equal(mp_xfer_adler((const uint8_t *)"abc", 3), 0x024d0127u);
        assert_int_equal(mp_xfer_adler((const uint8_t *)"Wikipedia", 9), 0x11e60398u);
        assert_int_equal(mp_xfer_adler((const uint8_t *)"message digest", 14), 0x29750586u);
        /* 1024 bytes of 0xff: both sums wrap modulo 65521 (the case the board's loop must match). */
        uint8_t ff[1024];
        memset(ff, 0xff, sizeof(ff));
        assert_int_equal(mp_xfer_adler(ff, sizeof(ff)), 0x79a6fc2eu);
}

static void escape_keeps_printables_and_escapes_the_rest(void **state)
{
        (void)state;
        char out[64];
        static const uint8_t in[] = { 'a', '\'', 'b', '\\', 'c', '\n', 0x00, 0x7f, 0xe9, ' ', '~' };
        size_t n = mp_xfer_escape(in, sizeof(in), out);
        assert_string_equal(out, "a\\'b\\\\c\\x0a\\x00\\x7f\\xe9 ~");
        assert_int_equal(n, strlen(out));
        /* No raw quote, backslash-free byte or control byte can end the literal early. */
        mp_xfer_escape((const uint8_t *)"\x01\x02\x03\x04\x05", 5, out);
        assert_string_equal(out, "\\x01\\x02\\x03\\x04\\x05");
}

static void strip_traceback_removes_exactly_the_helper_frames(void **state)
{
        (void)state;
        char t[512];
        snprintf(t, sizeof(t), "Traceback (most recent call last):\r\n"
                               "  File \"<stdin>\", line 1, in <module>\r\n"
                               "  File \"<string>\", line 24, in _crx\r\n"
                               "  File \"<stdin>\", line 4, in <module>\r\n"
                               "  File \"<stdin>\", line 2, in f\r\n"
                               "ValueError: bad value 7\r\n");
        size_t n = mp_xfer_strip_traceback(t, strlen(t));
        assert_string_equal(t, "Traceback (most recent call last):\r\n"
                               "  File \"<stdin>\", line 4, in <module>\r\n"
                               "  File \"<stdin>\", line 2, in f\r\n"
                               "ValueError: bad value 7\r\n");
        assert_int_equal(n, strlen(t));
        /* A traceback that does not go through the helper stays as it is. */
        snprintf(t, sizeof(t), "Traceback (most recent call last):\r\n"
                               "  File \"<stdin>\", line 1, in <module>\r\n"
                               "  File \"<stdin>\", line 2, in g\r\nNameError: x\r\n");
        char copy[512];
        memcpy(copy, t, sizeof(copy));
        assert_int_equal(mp_xfer_strip_traceback(t, strlen(t)), strlen(copy));
        assert_string_equal(t, copy);
        snprintf(t, sizeof(t), "OSError: 2\r\n");
        assert_int_equal(mp_xfer_strip_traceback(t, strlen(t)), strlen("OSError: 2\r\n"));
}

/* ---- against the device model ---- */

static const struct mp_model_answer answers[] = {
        { "raise_here", "before\r\n",
          "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3, in <module>\r\n"
          "ValueError: bad\r\n", false },
        { "print(", "ok\r\n", NULL, false },
};

static void code_runs_after_the_board_checked_it_and_tracebacks_are_the_scripts(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.answers = answers;
        f->m.n_answers = 2;
        const char *code = "x=1\ny=2\nraise_here()\n";
        assert_int_equal(mp_repl_exec(&f->r, code, strlen(code), NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(f->m.last_code, code);
        assert_int_equal(f->m.installs, 1);
        assert_string_equal(res.out, "before\r\n"); /* the board's mark is not output */
        assert_string_equal(res.err, "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3, in <module>\r\n"
                                     "ValueError: bad\r\n");
        mp_exec_result_clear(&res);
        /* The helper stays: the next exec is one step. */
        unsigned steps = f->m.steps;
        assert_int_equal(mp_repl_exec(&f->r, "print(1)", 8, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->m.steps, steps);
        assert_int_equal(f->m.installs, 1);
        mp_exec_result_clear(&res);
}

static void a_helper_lost_to_a_reset_is_installed_again(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.answers = answers;
        f->m.n_answers = 2;
        assert_int_equal(mp_repl_exec(&f->r, "print(1)", 8, NULL, &res, f->msg, sizeof(f->msg)), 0);
        mp_exec_result_clear(&res);
        f->m.helper = false; /* a soft reset, or a script that deleted it */
        assert_int_equal(mp_repl_exec(&f->r, "print(2)", 8, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(f->m.last_code, "print(2)");
        assert_int_equal(f->m.installs, 2);
        assert_int_equal(f->m.execs, 2);
        mp_exec_result_clear(&res);
}

static void long_code_goes_in_checked_chunks(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        char code[3001];
        for (size_t i = 0; i < 3000; i++)
                code[i] = "print('x')\n\\'\x7f\xc3\xa9"[i % 16];
        code[3000] = 0;
        f->m.answers = answers;
        f->m.n_answers = 2;
        assert_int_equal(mp_repl_exec(&f->r, code, 3000, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->m.last_len, 3000);
        assert_memory_equal(f->m.last_code, code, 3000);
        assert_true(f->m.steps > 3000 / MP_XFER_CHUNK_MAX);
        mp_exec_result_clear(&res);
}

/* The guarantee: over a link losing 1% of the bytes, every exec either runs exactly the code that
 * was sent (and nothing else ever runs), or fails with -EILSEQ naming the loss rate. */
static void a_lossy_link_never_runs_other_code(void **state)
{
        struct fx *f = *state;
        static const struct mp_model_answer any[] = { { NULL, "ran\r\n", NULL, false } };
        f->m.answers = any;
        f->m.n_answers = 1;
        f->m.drop_ppm = 10000; /* 1 % */
        f->m.seed = 12345;
        unsigned ok = 0, corrupt = 0, execs = 0;
        for (int n = 0; n < 40; n++) {
                char code[700];
                size_t len = 0;
                for (int k = 0; len + 40 < sizeof(code) - 1 && k < 5 + n % 20; k++)
                        len += (size_t)snprintf(code + len, sizeof(code) - len, "s=(s*31+%d)%%1000003 # '\\\n",
                                                n * 101 + k);
                struct mp_exec_result res = { 0 };
                int rc = mp_repl_exec(&f->r, code, len, NULL, &res, f->msg, sizeof(f->msg));
                if (rc == 0) {
                        ok++;
                        assert_string_equal(res.out, "ran\r\n");
                        assert_int_equal(f->m.last_len, len);
                        assert_memory_equal(f->m.last_code, code, len);
                } else {
                        assert_int_equal(rc, -EILSEQ);
                        assert_non_null(strstr(f->msg, "% of the bytes sent were lost or changed"));
                        corrupt++;
                }
                /* Whatever ran on the board was exactly one of the codes sent. */
                assert_int_equal(f->m.execs, execs + (rc == 0));
                execs = f->m.execs;
                mp_exec_result_clear(&res);
        }
        assert_true(f->m.dropped > 0);
        assert_int_equal(ok + corrupt, 40);
        assert_true(ok >= 30);
        print_message("1%% loss: %u ran exactly, %u link_corrupt, %u bytes dropped\n", ok, corrupt, f->m.dropped);
}

static void a_link_that_loses_too_much_fails_as_link_corrupt_and_runs_nothing(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.answers = answers;
        f->m.n_answers = 2;
        f->m.drop_ppm = 300000; /* 30 % */
        f->m.seed = 99;
        int rc = mp_repl_exec(&f->r, "print('never')", 14, NULL, &res, f->msg, sizeof(f->msg));
        assert_int_equal(rc, -EILSEQ);
        assert_non_null(strstr(f->msg, "did not reach the board intact"));
        double pct = 0;
        const char *p = strstr(f->msg, "% of the bytes sent");
        assert_non_null(p);
        while (p > f->msg && (p[-1] == '.' || (p[-1] >= '0' && p[-1] <= '9')))
                p--;
        assert_int_equal(sscanf(p, "%lf", &pct), 1);
        assert_true(pct > 10.0 && pct < 60.0); /* the estimate is near the 30 % lost */
        assert_null(f->m.last_code);
        mp_exec_result_clear(&res);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(adler32_known_answers),
                cmocka_unit_test(escape_keeps_printables_and_escapes_the_rest),
                cmocka_unit_test(strip_traceback_removes_exactly_the_helper_frames),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(code_runs_after_the_board_checked_it_and_tracebacks_are_the_scripts),
                T(a_helper_lost_to_a_reset_is_installed_again),
                T(long_code_goes_in_checked_chunks),
                T(a_lossy_link_never_runs_other_code),
                T(a_link_that_loses_too_much_fails_as_link_corrupt_and_runs_nothing),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
