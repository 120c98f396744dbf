/* Specification of the MicroPython REPL engine, byte by byte against a scripted device model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_diag.h"
#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_xfer.h"
#include "engines/mp/mp_resp.h"
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

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->p = fake_port_new();
        mp_model_init(&f->m, f->p);
        mp_repl_init(&f->r, f->p);
        f->r.now_ms = fake_clock;
        f->r.clock_user = f->p;
        f->r.log = log_line;
        f->r.log_user = f;
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

static void to_raw(struct fx *f)
{
        assert_int_equal(mp_repl_enter_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        fake_port_clear_written(f->p);
}

/* ---- interrupt / raw REPL ---- */

static void interrupt_sends_ctrl_c_twice(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_interrupt(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\r\x03\x03", 3);
        assert_int_equal(f->m.ctrl_c, 2);
}

static void enter_raw_sends_ctrl_a_and_waits_for_the_raw_prompt(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_enter_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\r\x01", 2);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        assert_int_equal(f->m.mode, MPM_RAW);
}

static void enter_raw_times_out_on_a_silent_board(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        assert_int_equal(mp_repl_enter_raw(&f->r, f->msg, sizeof(f->msg)), -ETIMEDOUT);
        assert_non_null(strstr(f->msg, "no raw REPL prompt"));
        assert_true(fake_port_now(f->p) >= 2000);
}

static void exit_raw_returns_to_friendly_and_remembers_the_banner(void **state)
{
        struct fx *f = *state;
        to_raw(f);
        assert_int_equal(mp_repl_exit_raw(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x02", 1);
        assert_int_equal(f->r.mode, MP_MODE_FRIENDLY);
        assert_string_equal(f->r.banner, f->m.banner);
}

/* ---- exec ---- */

static const struct mp_model_answer answers[] = {
        { "print(6*7)", "42\r\n", NULL, false },
        { "1/0", "before\r\n",
          "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
          "ZeroDivisionError: divide by zero\r\n", false },
        { "while True", NULL, NULL, true },
};

static void exec_plain_raw_sends_code_then_ctrl_d(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.paste_supported = false;
        f->m.paste_refused = true;
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        /* The raw-paste probe, the helper's install steps (the board had none), then the code as
         * one checked step: its length and Adler-32 twice (the chunk, the whole). */
        size_t len;
        const uint8_t *w = fake_port_written(f->p, &len);
        assert_memory_equal(w, "\x05" "A\x01" "_crx(", 8); /* tried at once: NameError, no helper yet */
        assert_non_null(memmem(w, len, "_crh={}\n", 8));
        char last[128];
        uint32_t a = mp_xfer_adler((const uint8_t *)"print(6*7)", 10);
        int n = snprintf(last, sizeof(last), "_crx(0,b'print(6*7)',10,%u,%u,10,%u,%u)\x04", a & 0xffffu, a >> 16,
                         a & 0xffffu, a >> 16);
        assert_true(len > (size_t)n);
        assert_memory_equal(w + len - (size_t)n, last, (size_t)n);
        assert_int_equal(f->m.installs, 1);
        assert_int_equal(f->m.execs, 1);
        assert_string_equal(res.out, "42\r\n");
        assert_int_equal(res.err_len, 0);
        assert_int_equal(f->r.raw_paste, 0);
        assert_string_equal(f->m.last_code, "print(6*7)");
        mp_exec_result_clear(&res);
}

static void exec_separates_stdout_from_exception_text(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, "1/0", 3, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(res.out, "before\r\n");
        assert_non_null(strstr(res.err, "ZeroDivisionError: divide by zero"));
        assert_int_equal(mp_exit_status(0, &res), 1);
        mp_exec_result_clear(&res);
}

struct streams {
        char out[256], err[512];
        unsigned calls;
};

static void collect(enum mp_stream s, const uint8_t *d, size_t n, void *user)
{
        struct streams *st = user;
        char *b = s == MP_STREAM_STDOUT ? st->out : st->err;
        size_t have = strlen(b);
        snprintf(b + have, 256 - have, "%.*s", (int)n, (const char *)d);
        st->calls++;
}

static void exec_streams_output_live_even_byte_by_byte(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        struct streams st = { 0 };
        struct mp_exec_opts o = { .on_output = collect, .user = &st };
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        fake_port_set_read_chunk(f->p, 1);
        assert_int_equal(mp_repl_exec(&f->r, "1/0", 3, &o, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(st.out, "before\r\n");
        assert_non_null(strstr(st.err, "ZeroDivisionError"));
        assert_null(strstr(st.err, "_crx")); /* the helper's frames are not the script's */
        assert_true(st.calls >= 9); /* 8 stdout bytes one by one, then the exception */
        assert_string_equal(res.out, "before\r\n");
        mp_exec_result_clear(&res);
}

static void exec_uses_raw_paste_within_the_granted_window(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        char code[301];
        memset(code, 'x', 300);
        code[300] = 0;
        memcpy(code, "print(6*7)#", 11);
        f->m.window = 16;
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, code, 300, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_false(f->m.overrun);
        assert_int_equal(f->r.raw_paste, 1);
        assert_string_equal(f->m.last_code, code);
        assert_string_equal(res.out, "42\r\n");
        /* With flow control the code goes in one step (no chunking into small pieces). */
        size_t len;
        const uint8_t *w = fake_port_written(f->p, &len);
        assert_memory_equal(w, "\x05" "A\x01", 3);
        assert_int_equal(w[len - 1], 0x04);
        /* Once the board granted raw-paste, the 300 bytes went in one step. */
        assert_non_null(memmem(w, len, "_crx(0,b'print(6*7)#xxx", 23));
        mp_exec_result_clear(&res);
}

/* Our steps always compile: a raw-paste transfer the board ends early (it saw fewer or other
 * bytes than were sent) is damage, sent again, and in the end link_corrupt; nothing runs. */
static void raw_paste_early_end_is_resent_and_then_link_corrupt(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.window = 8;
        f->m.paste_end_early_at = 10;
        to_raw(f);
        const char *code = "print(1)\nprint(2)\n";
        assert_int_equal(mp_repl_exec(&f->r, code, strlen(code), NULL, &res, f->msg, sizeof(f->msg)), -EILSEQ);
        assert_non_null(strstr(f->msg, "did not reach the board intact"));
        assert_non_null(strstr(f->msg, "% of the bytes sent were lost or changed"));
        assert_null(f->m.last_code); /* nothing ran */
        mp_exec_result_clear(&res);
}

/* A syntax error in the script itself is the script's: reported, with its own line. */
static void a_script_syntax_error_is_the_scripts_own(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        static const struct mp_model_answer syn[] = {
                { "def f(:", NULL, "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\n"
                                  "SyntaxError: invalid syntax\r\n", false },
        };
        f->m.answers = syn;
        f->m.n_answers = 1;
        to_raw(f);
        const char *code = "def f(:\n  pass\n";
        assert_int_equal(mp_repl_exec(&f->r, code, strlen(code), NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(res.err, "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\n"
                                     "SyntaxError: invalid syntax\r\n");
        assert_int_equal(f->m.execs, 1);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        mp_exec_result_clear(&res);
}

static void raw_paste_refusal_is_cached_for_the_session(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.paste_supported = false;
        f->m.paste_refused = true;
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        fake_port_clear_written(f->p);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        char want[128];
        uint32_t a = mp_xfer_adler((const uint8_t *)"print(6*7)", 10);
        int n = snprintf(want, sizeof(want), "_crx(0,b'print(6*7)',10,%u,%u,10,%u,%u)\x04", a & 0xffffu, a >> 16,
                         a & 0xffffu, a >> 16);
        assert_written(f, want, (size_t)n); /* no probe, no helper install the second time */
        mp_exec_result_clear(&res);
}

static void old_firmware_raw_paste_echo_falls_back_to_plain_raw(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.paste_supported = false; /* micro:bit 1.9: Ctrl-A resets the raw REPL */
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(res.out, "42\r\n");
        assert_string_equal(f->m.last_code, "print(6*7)");
        assert_int_equal(f->r.raw_paste, 0);
        mp_exec_result_clear(&res);
}

static void junk_answer_to_raw_paste_resyncs_to_the_raw_prompt(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.paste_supported = false;
        f->m.paste_junk = true;
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(res.out, "42\r\n");
        assert_string_equal(f->m.last_code, "print(6*7)");
        mp_exec_result_clear(&res);
}

static void plain_raw_sends_big_code_in_chunks_no_faster_than_the_line_rate(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        char code[600];
        memset(code, ' ', sizeof(code));
        memcpy(code, "pass", 4);
        f->m.paste_supported = false;
        f->m.paste_refused = true;
        to_raw(f);
        f->r.raw_paste = 0;
        struct mp_exec_result warm = { 0 };
        assert_int_equal(mp_repl_exec(&f->r, "pass", 4, NULL, &warm, f->msg, sizeof(f->msg)), 0);
        mp_exec_result_clear(&warm); /* the helper is installed */
        fake_port_clear_written(f->p);
        uint64_t t0 = fake_port_now(f->p);
        assert_int_equal(mp_repl_exec(&f->r, code, sizeof(code), NULL, &res, f->msg, sizeof(f->msg)), 0);
        /* Checked steps of at most MP_XFER_CHUNK bytes of code each; every write paced to at least
         * the time it takes on a 115200 baud line, even where nothing paces the bytes. */
        size_t len;
        fake_port_written(f->p, &len);
        assert_true(fake_port_now(f->p) - t0 >= len * 10 * 1000 / 115200);
        assert_true(f->m.steps >= (sizeof(code) + MP_XFER_CHUNK - 1) / MP_XFER_CHUNK);
        assert_int_equal(f->m.last_len, sizeof(code));
        assert_memory_equal(f->m.last_code, code, sizeof(code));
        mp_exec_result_clear(&res);
}

static void exec_enters_raw_mode_by_itself(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        f->m.answers = answers;
        f->m.n_answers = 3;
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        size_t len;
        const uint8_t *w = fake_port_written(f->p, &len);
        assert_memory_equal(w, "\r\x03\x03\r\x01\x05" "A\x01", 8);
        assert_string_equal(res.out, "42\r\n");
        mp_exec_result_clear(&res);
}

static void exec_refuses_raw_repl_control_bytes(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        assert_int_equal(mp_repl_exec(&f->r, "a\x04" "b", 3, NULL, &res, f->msg, sizeof(f->msg)), -EINVAL);
        assert_non_null(strstr(f->msg, "0x04"));
}

static void timeout_interrupts_and_leaves_the_board_usable(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        struct mp_exec_opts o = { .timeout_ms = 3000 };
        f->m.answers = answers;
        f->m.n_answers = 3;
        to_raw(f);
        const char *code = "while True: pass";
        int rc = mp_repl_exec(&f->r, code, strlen(code), &o, &res, f->msg, sizeof(f->msg));
        assert_int_equal(rc, -ETIMEDOUT);
        assert_true(res.timed_out);
        assert_true(res.board_usable);
        assert_int_equal(mp_exit_status(rc, &res), 124);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        assert_non_null(strstr(f->msg, "usable"));
        assert_true(res.duration_ms >= 3000);
        mp_exec_result_clear(&res);
        assert_int_equal(mp_repl_exec(&f->r, "print(6*7)", 10, NULL, &res, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(res.out, "42\r\n");
        mp_exec_result_clear(&res);
}

static void timeout_on_a_board_that_ignores_ctrl_c_says_so(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        struct mp_exec_opts o = { .timeout_ms = 1000 };
        f->m.answers = answers;
        f->m.n_answers = 3;
        f->m.ignore_ctrl_c = true;
        to_raw(f);
        int rc = mp_repl_exec(&f->r, "while True: pass", 16, &o, &res, f->msg, sizeof(f->msg));
        assert_int_equal(rc, -ETIMEDOUT);
        assert_false(res.board_usable);
        assert_int_equal(f->r.mode, MP_MODE_UNKNOWN);
        mp_exec_result_clear(&res);
}

static uint64_t ticking_clock(void *user)
{
        return ++*(uint64_t *)user; /* every look at the clock costs 1 ms */
}

static void timeout_holds_even_while_output_keeps_coming(void **state)
{
        struct fx *f = *state;
        struct mp_exec_result res = { 0 };
        struct mp_exec_opts o = { .timeout_ms = 500 };
        static char spam[200001];
        static struct mp_model_answer chatty[1] = { { "while", spam, NULL, true } };
        uint64_t ticks = 0;
        for (size_t i = 0; i < 200000; i += 2)
                memcpy(spam + i, "1\n", 2);
        f->m.answers = chatty;
        f->m.n_answers = 1;
        to_raw(f);
        f->r.now_ms = ticking_clock;
        f->r.clock_user = &ticks;
        fake_port_set_read_chunk(f->p, 64);
        int rc = mp_repl_exec(&f->r, "while True: print(1)", 20, &o, &res, f->msg, sizeof(f->msg));
        assert_int_equal(rc, -ETIMEDOUT);
        assert_true(res.board_usable);
        assert_true(res.out_len > 0 && res.out_len < 200000);
        assert_int_equal(mp_exit_status(rc, &res), 124);
        mp_exec_result_clear(&res);
}

static void exit_status_maps_outcomes_like_a_process(void **state)
{
        (void)state;
        struct mp_exec_result ok = { 0 }, exc = { .err = "x", .err_len = 1 }, to = { .timed_out = true };
        assert_int_equal(mp_exit_status(0, &ok), 0);
        assert_int_equal(mp_exit_status(0, &exc), 1);
        assert_int_equal(mp_exit_status(-ETIMEDOUT, &to), 124);
        assert_int_equal(mp_exit_status(-ETIMEDOUT, &ok), -1);
        assert_int_equal(mp_exit_status(-ENODEV, &ok), -1);
}

/* ---- exception parser ---- */

static void exception_parser_table(void **state)
{
        (void)state;
        static const struct {
                const char *text, *type, *message;
                int line;
        } t[] = {
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                  "ZeroDivisionError: divide by zero\r\n", "ZeroDivisionError", "divide by zero", 1 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3, in <module>\r\n"
                  "KeyboardInterrupt: \r\n", "KeyboardInterrupt", "", 3 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 2, in <module>\r\n"
                  "StopIteration\r\n", "StopIteration", "", 2 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 5, in <module>\r\n"
                  "  File \"lib/mod.py\", line 17, in f\r\nmymod.CustomError: it broke\r\n",
                  "mymod.CustomError", "it broke", 17 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                  "OSError: [Errno 2] ENOENT\r\n", "OSError", "[Errno 2] ENOENT", 1 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 4\r\n"
                  "SyntaxError: invalid syntax\r\n", "SyntaxError", "invalid syntax", 4 },
                { "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n"
                  "ValueError: a: b: c\n", "ValueError", "a: b: c", 1 },
                { "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                  "MyErr: line one\r\nline two\r\n", "MyErr", "line one\nline two", 1 },
                { "MemoryError: memory allocation failed, allocating 4096 bytes\r\n", "MemoryError",
                  "memory allocation failed, allocating 4096 bytes", -1 },
                { "Traceback (most recent call last):\r\n  File \"main.py\", line 9, in <module>\r\n"
                  "ImportError: no module named 'foo'\r\n", "ImportError", "no module named 'foo'", 9 },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                struct mp_exception e;
                assert_int_equal(mp_exception_parse(t[i].text, strlen(t[i].text), &e), 0);
                assert_string_equal(e.type, t[i].type);
                assert_string_equal(e.message, t[i].message);
                assert_int_equal(e.line, t[i].line);
        }
}

static void exception_parser_rejects_text_without_an_exception(void **state)
{
        (void)state;
        struct mp_exception e;
        assert_int_equal(mp_exception_parse("", 0, &e), -ENOENT);
        assert_int_equal(mp_exception_parse("hello world\r\n", 13, &e), -ENOENT);
        assert_int_equal(mp_exception_parse("Traceback (most recent call last):\r\n", 36, &e), -ENOENT);
}

static void exception_errno_reads_oserror_forms(void **state)
{
        (void)state;
        struct mp_exception e = { .type = "OSError" };
        snprintf(e.message, sizeof(e.message), "[Errno 2] ENOENT");
        assert_int_equal(mp_exception_errno(&e), ENOENT);
        snprintf(e.message, sizeof(e.message), "17");
        assert_int_equal(mp_exception_errno(&e), EEXIST);
        snprintf(e.message, sizeof(e.message), "ENOTDIR");
        assert_int_equal(mp_exception_errno(&e), ENOTDIR);
        snprintf(e.message, sizeof(e.message), "44"); /* webassembly's ENOENT: not a MicroPython errno */
        assert_int_equal(mp_exception_errno(&e), 0);
        snprintf(e.message, sizeof(e.message), "divide by zero");
        assert_int_equal(mp_exception_errno(&e), 0);
}

static void exception_errno_reads_the_microbit_file_not_found_message(void **state)
{
        (void)state;
        struct mp_exception e = { .type = "OSError", .message = "file not found" };
        assert_int_equal(mp_exception_errno(&e), ENOENT);
}

static void exception_errno_wasi_translates_emscripten_numbers(void **state)
{
        (void)state;
        struct mp_exception e = { .type = "OSError" };
        snprintf(e.message, sizeof(e.message), "44");
        assert_int_equal(mp_exception_errno_wasi(&e), ENOENT);
        snprintf(e.message, sizeof(e.message), "20"); /* ENOTDIR on Linux, EEXIST in WASI */
        assert_int_equal(mp_exception_errno_wasi(&e), EEXIST);
        snprintf(e.message, sizeof(e.message), "[Errno 55] ENOTEMPTY");
        assert_int_equal(mp_exception_errno_wasi(&e), ENOTEMPTY);
        snprintf(e.message, sizeof(e.message), "ENOSPC");
        assert_int_equal(mp_exception_errno_wasi(&e), ENOSPC);
        snprintf(e.message, sizeof(e.message), "9999");
        assert_int_equal(mp_exception_errno_wasi(&e), 0);
}

static void response_parser_rejects_a_reply_without_ok(void **state)
{
        (void)state;
        struct mp_resp p;
        mp_resp_init(&p, true, NULL, NULL, 100);
        assert_int_equal(mp_resp_feed(&p, (const uint8_t *)"print(1)", 8), -EPROTO);
        mp_resp_release(&p);
}

static void response_parser_stops_after_the_prompt(void **state)
{
        (void)state;
        struct mp_resp p;
        const char *reply = "OKhi\x04\x04>tail";
        mp_resp_init(&p, true, NULL, NULL, 100);
        assert_int_equal(mp_resp_feed(&p, (const uint8_t *)reply, strlen(reply)), 7);
        assert_int_equal(p.state, MP_RESP_DONE);
        assert_string_equal(p.cap[0].data, "hi");
        mp_resp_release(&p);
}

/* ---- resets and recovery ---- */

static void soft_reset_from_raw_comes_back_to_the_raw_prompt(void **state)
{
        struct fx *f = *state;
        to_raw(f);
        assert_int_equal(mp_repl_soft_reset(&f->r, true, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x04", 1);
        assert_int_equal(f->m.soft_resets, 1);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
}

static void soft_reset_on_old_firmware_re_enters_raw(void **state)
{
        struct fx *f = *state;
        f->m.soft_reset_to_raw = false;
        to_raw(f);
        assert_int_equal(mp_repl_soft_reset(&f->r, true, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x04\r\x01", 3);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
        assert_int_equal(f->m.mode, MPM_RAW);
}

static void soft_reset_to_run_main_goes_through_the_friendly_repl(void **state)
{
        struct fx *f = *state;
        to_raw(f);
        assert_int_equal(mp_repl_soft_reset(&f->r, false, f->msg, sizeof(f->msg)), 0);
        assert_written(f, "\x02\x04", 2);
        assert_int_equal(f->m.soft_resets, 1);
        assert_int_equal(f->m.mode, MPM_FRIENDLY);
}

static void hard_reset_pulses_rts_with_dtr_released(void **state)
{
        struct fx *f = *state;
        const uint8_t *hist;
        uint64_t t0 = fake_port_now(f->p);
        assert_int_equal(mp_repl_hard_reset(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(fake_port_line_history(f->p, &hist), 2);
        assert_int_equal(hist[0], 2); /* RTS only */
        assert_int_equal(hist[1], 0);
        assert_int_equal(fake_port_now(f->p) - t0, 100);
        assert_int_equal(f->m.hard_resets, 1);
}

static void hard_reset_without_modem_lines_is_not_supported(void **state)
{
        struct fx *f = *state;
        struct port_ops ops = *f->p->ops;
        const struct port_ops *saved = f->p->ops;
        ops.set_lines = NULL;
        f->p->ops = &ops;
        assert_int_equal(mp_repl_hard_reset(&f->r, f->msg, sizeof(f->msg)), -ENOTSUP);
        assert_non_null(strstr(f->msg, "reset lines"));
        f->p->ops = saved;
}

static void recover_climbs_the_ladder_in_order(void **state)
{
        struct fx *f = *state;
        f->m.deaf = true;
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), 0);
        const char *s1 = strstr(f->log, "recover 1/4 (Ctrl-C twice): no raw prompt");
        const char *s2 = strstr(f->log, "recover 2/4 (Ctrl-B then Ctrl-A): no raw prompt");
        const char *s3 = strstr(f->log, "recover 3/4 (soft reset): no raw prompt");
        const char *s4 = strstr(f->log, "recover 4/4 (hard reset): raw REPL is back");
        assert_non_null(s1);
        assert_non_null(s2);
        assert_non_null(s3);
        assert_non_null(s4);
        assert_true(s1 < s2 && s2 < s3 && s3 < s4);
        assert_int_equal(f->m.hard_resets, 1);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
}

static void recover_stops_at_the_first_step_that_works(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(f->log, "recover 1/4 (Ctrl-C twice): raw REPL is back\n");
        assert_int_equal(f->m.hard_resets, 0);
}

static void recover_gives_up_with_a_diagnosis(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), -EHOSTDOWN);
        assert_non_null(strstr(f->log, "recover 4/4 (hard reset): no raw prompt"));
        assert_non_null(strstr(f->log, "giving up"));
        assert_non_null(strstr(f->msg, "sent nothing"));
}

/* The power rung: a fake backend that brings a dead board back (as cutting its power would). */
static int fake_power(struct mp_repl *r, void *user, char *msg, size_t msg_size)
{
        struct fx *f = user;
        f->m.dead = false;
        f->m.deaf = false;
        snprintf(msg, msg_size, "fake backend");
        return r->port == f->p ? 0 : -EINVAL;
}

static int no_power(struct mp_repl *r, void *user, char *msg, size_t msg_size)
{
        snprintf(msg, msg_size, "this board has no power backend");
        return -ENOTSUP;
}

static void recover_cycles_the_power_as_its_last_rung(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        f->r.power_cycle = fake_power;
        f->r.power_user = f;
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), 0);
        const char *s4 = strstr(f->log, "recover 4/5 (hard reset): no raw prompt");
        const char *s5 = strstr(f->log, "recover 5/5 (power cycle): cutting the board's power");
        const char *ok = strstr(f->log, "recover 5/5 (power cycle): raw REPL is back");
        assert_non_null(s4);
        assert_non_null(s5);
        assert_non_null(ok);
        assert_true(s4 < s5 && s5 < ok);
        assert_int_equal(f->r.mode, MP_MODE_RAW);
}

static void recover_without_a_power_backend_gives_up_as_before(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        f->r.power_cycle = no_power;
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), -EHOSTDOWN);
        assert_non_null(strstr(f->log, "recover 5/5 (power cycle): skipped: this board has no power backend"));
        assert_non_null(strstr(f->msg, "sent nothing"));
}

static void recover_stops_climbing_when_the_budget_is_spent(void **state)
{
        struct fx *f = *state;
        f->m.dead = true;
        mp_repl_set_budget(&f->r, 1000); /* less than step 1's own waits on a silent board */
        assert_int_equal(mp_repl_recover(&f->r, f->msg, sizeof(f->msg)), -EHOSTDOWN);
        assert_non_null(strstr(f->log, "recover 1/4 (Ctrl-C twice): no raw prompt"));
        assert_non_null(strstr(f->log, "recover 2/4: skipped, the job's time is up"));
        assert_null(strstr(f->log, "recover 3/4"));
        assert_null(strstr(f->log, "recover 4/4"));
        assert_non_null(strstr(f->msg, "sent nothing"));
}

static void connect_reports_a_silent_board(void **state)
{
        struct fx *f = *state;
        struct mp_diag d;
        f->m.dead = true;
        assert_int_equal(mp_repl_connect(&f->r, &d, f->msg, sizeof(f->msg)), -EHOSTDOWN);
        assert_int_equal(d.kind, MP_DIAG_SILENT);
        assert_string_equal(d.code, "board_silent");
}

static void connect_reports_an_unplugged_board(void **state)
{
        struct fx *f = *state;
        struct mp_diag d;
        fake_port_unplug(f->p);
        assert_int_equal(mp_repl_connect(&f->r, &d, f->msg, sizeof(f->msg)), -ENODEV);
        assert_string_equal(d.code, "board_gone");
}

/* ---- diagnosis ---- */

static void diag(const char *s, size_t n, enum mp_diag_kind want)
{
        struct mp_diag d;
        mp_diag_classify((const uint8_t *)s, n, &d);
        assert_int_equal(d.kind, want);
        assert_non_null(d.code);
        assert_true(strlen(d.message) > 10);
}

static void diagnosis_classes(void **state)
{
        (void)state;
        const char garbage[] = "\x80\xff\x13\x99\xc4\x00\xfe\x7f\x81\xaa\x10x\x90\xe0\xf1";
        diag("", 0, MP_DIAG_SILENT);
        diag(garbage, sizeof(garbage) - 1, MP_DIAG_GARBAGE);
        diag("ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
             118, MP_DIAG_ROM_DOWNLOAD);
        const char *esp8266 = "\r\n ets Jan  8 2013,rst cause:2, boot mode:(1,7)\r\n\r\n";
        diag(esp8266, strlen(esp8266), MP_DIAG_ROM_DOWNLOAD);
        const char *loop = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
                           "flash read err, 1000\r\nets_main.c 371 \r\n";
        diag(loop, strlen(loop), MP_DIAG_ROM_BOOTLOOP);
        diag("\r\n>>> ", 6, MP_DIAG_PROMPT);
        diag("Hello from Arduino\r\nHello from Arduino\r\n", 40, MP_DIAG_TEXT);
}

static void diagnosis_of_a_busy_port_names_the_cause(void **state)
{
        (void)state;
        struct mp_diag d;
        mp_diag_port_error(-EBUSY, "/dev/ttyUSB0", &d);
        assert_int_equal(d.kind, MP_DIAG_BUSY);
        assert_string_equal(d.code, "port_busy");
        assert_non_null(strstr(d.message, "another program"));
}

static void connect_on_a_board_in_download_mode_says_so(void **state)
{
        struct fx *f = *state;
        struct mp_diag d;
        f->m.dead = true;
        fake_port_feed_str(f->p, "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 "
                                 "(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n");
        assert_int_equal(mp_repl_connect(&f->r, &d, f->msg, sizeof(f->msg)), -EHOSTDOWN);
        assert_int_equal(d.kind, MP_DIAG_ROM_DOWNLOAD);
        assert_non_null(strstr(f->msg, "ROM bootloader"));
}

/* ---- identify ---- */

static void identify_answer(struct mp_model *m, const char *code, size_t len, void *user)
{
        (void)len;
        const char *out = user;
        if (strstr(code, "_cid()"))
                mp_model_reply(m, out, strlen(out), NULL, 0);
}

static void identify_collects_facts(void **state)
{
        struct fx *f = *state;
        json_t *facts = NULL;
        f->m.on_exec = identify_answer;
        f->m.user = "implementation\tmicropython\r\nmp_version\t1.27.0\r\nplatform\tesp32\r\n"
                    "release\t1.27.0\r\nmachine\tGeneric ESP32 module with ESP32\r\n"
                    "unique_id\t246f28aabbcc\r\nmem_free\t123456\r\nfs_size\t2097152\r\nfs_free\t2000000\r\n";
        to_raw(f);
        assert_int_equal(mp_identify(&f->r, &facts, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(json_string_value(json_object_get(facts, "mp_version")), "1.27.0");
        assert_string_equal(json_string_value(json_object_get(facts, "platform")), "esp32");
        assert_string_equal(json_string_value(json_object_get(facts, "unique_id")), "246f28aabbcc");
        assert_int_equal(json_integer_value(json_object_get(facts, "mem_free")), 123456);
        assert_int_equal(json_integer_value(json_object_get(facts, "fs_free")), 2000000);
        assert_string_equal(json_string_value(json_object_get(facts, "banner")), f->m.banner);
        assert_null(json_object_get(facts, "release"));
        json_decref(facts);
}

static void identify_on_old_firmware_takes_the_version_from_the_banner(void **state)
{
        struct fx *f = *state;
        json_t *facts = NULL;
        f->m.banner = "MicroPython v1.9.2-34-gd64154c73 on 2017-09-01; micro:bit v1.0.1 with nRF51822";
        f->m.paste_supported = false;
        f->m.soft_reset_to_raw = false;
        f->m.on_exec = identify_answer;
        f->m.user = "platform\tmicrobit\r\nmachine\tmicro:bit with nRF51822\r\nmem_free\t8000\r\n";
        assert_int_equal(mp_identify(&f->r, &facts, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(json_string_value(json_object_get(facts, "mp_version")), "1.9.2");
        assert_null(json_object_get(facts, "fs_size"));
        json_decref(facts);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(interrupt_sends_ctrl_c_twice),
                T(enter_raw_sends_ctrl_a_and_waits_for_the_raw_prompt),
                T(enter_raw_times_out_on_a_silent_board),
                T(exit_raw_returns_to_friendly_and_remembers_the_banner),
                T(exec_plain_raw_sends_code_then_ctrl_d),
                T(exec_separates_stdout_from_exception_text),
                T(exec_streams_output_live_even_byte_by_byte),
                T(exec_uses_raw_paste_within_the_granted_window),
                T(raw_paste_early_end_is_resent_and_then_link_corrupt),
                T(a_script_syntax_error_is_the_scripts_own),
                T(raw_paste_refusal_is_cached_for_the_session),
                T(old_firmware_raw_paste_echo_falls_back_to_plain_raw),
                T(junk_answer_to_raw_paste_resyncs_to_the_raw_prompt),
                T(plain_raw_sends_big_code_in_chunks_no_faster_than_the_line_rate),
                T(exec_enters_raw_mode_by_itself),
                T(exec_refuses_raw_repl_control_bytes),
                T(timeout_interrupts_and_leaves_the_board_usable),
                T(timeout_on_a_board_that_ignores_ctrl_c_says_so),
                T(timeout_holds_even_while_output_keeps_coming),
                cmocka_unit_test(exit_status_maps_outcomes_like_a_process),
                cmocka_unit_test(exception_parser_table),
                cmocka_unit_test(exception_parser_rejects_text_without_an_exception),
                cmocka_unit_test(exception_errno_reads_oserror_forms),
                cmocka_unit_test(exception_errno_reads_the_microbit_file_not_found_message),
                cmocka_unit_test(exception_errno_wasi_translates_emscripten_numbers),
                cmocka_unit_test(response_parser_rejects_a_reply_without_ok),
                cmocka_unit_test(response_parser_stops_after_the_prompt),
                T(soft_reset_from_raw_comes_back_to_the_raw_prompt),
                T(soft_reset_on_old_firmware_re_enters_raw),
                T(soft_reset_to_run_main_goes_through_the_friendly_repl),
                T(hard_reset_pulses_rts_with_dtr_released),
                T(hard_reset_without_modem_lines_is_not_supported),
                T(recover_climbs_the_ladder_in_order),
                T(recover_stops_at_the_first_step_that_works),
                T(recover_gives_up_with_a_diagnosis),
                T(recover_stops_climbing_when_the_budget_is_spent),
                T(recover_cycles_the_power_as_its_last_rung),
                T(recover_without_a_power_backend_gives_up_as_before),
                T(connect_reports_a_silent_board),
                T(connect_reports_an_unplugged_board),
                cmocka_unit_test(diagnosis_classes),
                cmocka_unit_test(diagnosis_of_a_busy_port_names_the_cause),
                T(connect_on_a_board_in_download_mode_says_so),
                T(identify_collects_facts),
                T(identify_on_old_firmware_takes_the_version_from_the_banner),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
