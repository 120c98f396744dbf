/* Specification of the expect engine (daemon/engines/expect/expect.c): literal and regex steps over a
 * byte stream (any chunking gives the same result), named captures, send and wait steps, step
 * timeouts on a fake clock, fail_on patterns (defaults for ESP panics with their evidence, an
 * unexpected reboot), and the parameter checks' messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engines/expect/expect.h"

static struct expect *make(const char *json)
{
        json_error_t je;
        json_t *p = json_loads(json, 0, &je);
        assert_non_null(p);
        struct expect *x = NULL;
        char msg[512];
        int e = expect_new(p, &x, msg, sizeof(msg));
        if (e < 0)
                fail_msg("expect_new: %s", msg);
        json_decref(p);
        expect_start(x, 1000);
        return x;
}

static const char *check_msg(const char *json)
{
        static char msg[512];
        json_t *p = json_loads(json, 0, NULL);
        assert_non_null(p);
        msg[0] = '\0';
        assert_int_equal(expect_params_check(p, msg, sizeof(msg)), -EINVAL);
        json_decref(p);
        return msg;
}

/* Feed s in chunks of n bytes (0: all at once) at time t. */
static void feed(struct expect *x, const char *s, size_t n, uint64_t t)
{
        size_t len = strlen(s);
        if (!n)
                n = len ? len : 1;
        for (size_t i = 0; i < len; i += n)
                expect_feed(x, s + i, len - i < n ? len - i : n, t);
}

static json_t *result(struct expect *x)
{
        json_t *r = expect_result_json(x);
        assert_non_null(r);
        return r;
}

static const char unity[] = "boot\r\nRunning a...\r\nt.c:1:a:PASS\r\n-----\r\n5 Tests 1 Failures 0 Ignored\r\nFAIL\r\n";

static void test_any_chunking_gives_the_same_captures(void **state)
{
        (void)state;
        for (size_t n = 0; n <= 7; n++) {
                struct expect *x = make("{\"steps\": [{\"expect\": \"Running a\"}, "
                                        "{\"expect_re\": \"(?<tests>\\\\d+) Tests (?<failures>\\\\d+) Failures (\\\\d+)\"}]}");
                feed(x, unity, n, 1010);
                assert_int_equal(expect_outcome(x), EXPECT_PASSED);
                json_t *r = result(x);
                json_t *c = json_object_get(r, "captures");
                assert_string_equal(json_string_value(json_object_get(c, "tests")), "5");
                assert_string_equal(json_string_value(json_object_get(c, "failures")), "1");
                assert_string_equal(json_string_value(json_object_get(c, "step1.3")), "0");
                assert_int_equal(json_integer_value(json_object_get(r, "ended_ms")), 10);
                json_decref(r);
                expect_free(x);
        }
}

static void test_a_literal_split_across_chunks_matches(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"Hello world\"}]}");
        expect_feed(x, "xxHel", 5, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING);
        expect_feed(x, "lo wo", 5, 1002);
        expect_feed(x, "rld", 3, 1003);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);
}

static void test_a_literal_matches_a_prompt_without_line_end(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"login: \"}]}");
        feed(x, "banner\r\nlogin: ", 1, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);
}

static void test_a_regex_matches_whole_lines_only(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect_re\": \"^n=\\\\d+$\"}]}");
        feed(x, "n=12", 1, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING); /* "n=1" must not match early */
        feed(x, "3\r\n", 1, 1002);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        json_t *r = result(x);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "steps"), 0),
                                                              "matched")), "n=123");
        json_decref(r);
        expect_free(x);
}

static void test_steps_match_in_order_and_never_reuse_consumed_bytes(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"A\"}, {\"expect\": \"A\"}]}");
        feed(x, "A", 0, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING);
        feed(x, "xA", 0, 1002);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);
}

static void test_step_timeout_on_the_fake_clock(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"never\", \"timeout_ms\": 500}]}");
        struct expect_action a;
        expect_next(x, 1000, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ);
        assert_int_equal(a.deadline_ms, 1500);
        feed(x, "some output\r\npartial", 0, 1200);
        expect_next(x, 1499, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ);
        expect_next(x, 1500, &a);
        assert_int_equal(a.act, EXPECT_ACT_DONE);
        assert_int_equal(expect_outcome(x), EXPECT_TIMEOUT);
        json_t *r = result(x);
        json_t *fs = json_object_get(r, "failed_step");
        assert_int_equal(json_integer_value(json_object_get(fs, "index")), 0);
        assert_string_equal(json_string_value(json_object_get(fs, "reason")), "no match for expect 'never' within 500 ms");
        json_t *t = json_object_get(r, "transcript");
        assert_int_equal(json_array_size(t), 2);
        assert_string_equal(json_string_value(json_array_get(t, 0)), "some output");
        assert_string_equal(json_string_value(json_array_get(t, 1)), "partial");
        json_decref(r);
        expect_free(x);
}

static void test_send_then_wait_then_expect_sees_what_came_meanwhile(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"send\": \"go\"}, {\"wait_ms\": 100}, {\"expect\": \"ok\"}, "
                                "{\"send_hex\": \"0d0A\"}]}");
        struct expect_action a;
        expect_next(x, 1000, &a);
        assert_int_equal(a.act, EXPECT_ACT_SEND);
        assert_int_equal(a.len, 3);
        assert_memory_equal(a.data, "go\n", 3);
        expect_next(x, 1001, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ);
        assert_int_equal(a.deadline_ms, 1101);
        feed(x, "go\r\nok\r\n", 0, 1050); /* during the wait */
        expect_next(x, 1101, &a);
        assert_int_equal(a.act, EXPECT_ACT_SEND); /* the expect matched at once from the window */
        assert_memory_equal(a.data, "\r\n", 2);
        expect_next(x, 1102, &a);
        assert_int_equal(a.act, EXPECT_ACT_DONE);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);
}

static void test_default_panic_ends_with_its_backtrace_as_evidence(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"never\"}]}");
        feed(x, "Running t3...\r\nGuru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n"
                "\r\nCore  0 register dump:\r\nPC      : 0x400d1f2e\r\n", 3, 1100);
        struct expect_action a;
        expect_next(x, 1200, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ); /* still collecting the panic dump */
        feed(x, "Backtrace: 0x400d1f2e:0x3ffb4e80 0x400d2a11:0x3ffb4ea0\r\nELF file SHA256: 00\r\n", 5, 1210);
        assert_int_equal(expect_outcome(x), EXPECT_FAIL_ON);
        assert_string_equal(expect_fail_name(x), "panic");
        assert_string_equal(expect_fail_line(x),
                            "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.");
        assert_string_equal(expect_fail_evidence(x), "\nCore  0 register dump:\nPC      : 0x400d1f2e\n"
                                                     "Backtrace: 0x400d1f2e:0x3ffb4e80 0x400d2a11:0x3ffb4ea0");
        json_t *r = result(x);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "fail_on"), "at_ms")), 100);
        assert_int_equal(json_integer_value(json_object_get(r, "ended_ms")), 210);
        json_decref(r);
        expect_free(x);
}

static void test_panic_evidence_stops_at_its_deadline(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"never\"}]}");
        feed(x, "abort() was called at PC 0x400d1 on core 0\r\n", 0, 1000);
        struct expect_action a;
        expect_next(x, 1299, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ);
        assert_int_equal(a.deadline_ms, 1300);
        expect_next(x, 1300, &a);
        assert_int_equal(a.act, EXPECT_ACT_DONE);
        assert_string_equal(expect_fail_name(x), "abort");
        expect_free(x);
}

static void test_a_custom_fail_on_ends_at_once_on_its_line(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"never\"}], \"fail_on\": [\"FATAL:\", "
                                "{\"regex\": \"err=\\\\d+\", \"name\": \"err\"}]}");
        feed(x, "ok\r\nerr=5 at boot\r\nmore\r\n", 1, 1042);
        assert_int_equal(expect_outcome(x), EXPECT_FAIL_ON);
        assert_string_equal(expect_fail_name(x), "err");
        json_t *r = result(x);
        assert_int_equal(json_integer_value(json_object_get(r, "ended_ms")), 42);
        json_t *t = json_object_get(r, "transcript");
        assert_string_equal(json_string_value(json_array_get(t, json_array_size(t) - 1)), "err=5 at boot");
        json_decref(r);
        expect_free(x);
}

static void test_the_first_rom_banner_is_fine_the_second_is_a_reboot(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"never\"}]}");
        feed(x, "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\napp\r\n", 2, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING);
        feed(x, "ets Jul 29 2019 12:21:46\r\n", 2, 1002);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING); /* collecting the reset line as evidence */
        feed(x, "\r\nrst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nmore\r\n", 2, 1003);
        assert_int_equal(expect_outcome(x), EXPECT_FAIL_ON);
        assert_string_equal(expect_fail_name(x), "reboot");
        assert_string_equal(expect_fail_evidence(x), "\nrst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)");
        expect_free(x);
}

static void test_default_fail_on_false_leaves_panics_to_the_steps(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"Guru Meditation\"}], \"default_fail_on\": false}");
        feed(x, "Guru Meditation Error: Core  0\r\n", 0, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);
}

static void test_watchdog_and_brownout_resets_are_failures(void **state)
{
        (void)state;
        static const char *const lines[] = { "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
                                             "Brownout detector was triggered\r\n", "invalid header: 0xffffffff\r\n" };
        static const char *const names[] = { "watchdog", "brownout", "boot_failure" };
        for (size_t i = 0; i < 3; i++) {
                struct expect *x = make("{\"steps\": [{\"expect\": \"never\"}]}");
                feed(x, lines[i], 0, 1001);
                struct expect_action a;
                expect_next(x, 1400, &a);
                assert_int_equal(expect_outcome(x), EXPECT_FAIL_ON);
                assert_string_equal(expect_fail_name(x), names[i]);
                expect_free(x);
        }
}

static void test_abort_times_out_the_waiting_step(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect\": \"x\"}]}");
        expect_abort(x, 2000);
        assert_int_equal(expect_outcome(x), EXPECT_TIMEOUT);
        expect_free(x);
}

static void test_bad_params_name_the_problem(void **state)
{
        (void)state;
        assert_string_equal(check_msg("{\"steps\": [{\"expect_re\": \"(a\"}]}"),
                            "steps[0].expect_re is not a valid regular expression: missing closing parenthesis at offset 2");
        assert_non_null(strstr(check_msg("{\"steps\": []}"), "'steps' must be a list of 1 to 256 steps"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"bogus\": 1}]}"), "steps[0]: unknown step type 'bogus'"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"name\": \"x\"}]}"), "steps[0] has no step type"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"expect\": \"a\", \"send\": \"b\"}]}"), "two step types"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"expect\": \"a\", \"timeout_ms\": 0}]}"),
                               "steps[0]: 'timeout_ms' must be a whole number of milliseconds from 1 to 3600000"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"send\": \"a\", \"timeout_ms\": 5}]}"), "belongs to expect steps (and sends with ${...} references) only"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"send_hex\": \"zz\"}]}"), "hex digits"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"expect\": \"a\"}], \"timeout_ms\": 99999999}"),
                               "'timeout_ms' must be"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"expect\": \"a\"}], \"fail_on\": [5]}"), "fail_on[0] must be"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"expect\": \"a\"}], \"default_fail_on\": 1}"),
                               "'default_fail_on' must be true or false"));
}

/* Another board's captures, as the job's group table would give them. */
static char *fake_vars(void *user, const char *ref)
{
        const char *have = *(const char **)user;
        return have && !strcmp(ref, "ap.token") ? strdup(have) : NULL;
}

static void test_send_fills_in_own_and_other_boards_captures(void **state)
{
        (void)state;
        const char *ap_token = NULL;
        struct expect *x = make("{\"steps\": [{\"expect_re\": \"id=(?<id>\\\\w+)\"}, "
                                "{\"send\": \"join ${ap.token} as ${id}\", \"timeout_ms\": 500}]}");
        expect_set_var_fn(x, fake_vars, &ap_token);
        feed(x, "id=s7\r\n", 0, 1010);
        struct expect_action a;
        expect_next(x, 1020, &a);
        /* ap's token is not there yet: read on, asking again within EXPECT_VAR_POLL_MS */
        assert_int_equal(a.act, EXPECT_ACT_READ);
        assert_true(a.deadline_ms <= 1020 + EXPECT_VAR_POLL_MS);
        ap_token = "k9x2";
        expect_next(x, 1100, &a);
        assert_int_equal(a.act, EXPECT_ACT_SEND);
        assert_int_equal(a.len, strlen("join k9x2 as s7\n"));
        assert_memory_equal(a.data, "join k9x2 as s7\n", a.len);
        expect_next(x, 1101, &a);
        assert_int_equal(a.act, EXPECT_ACT_DONE);
        assert_int_equal(expect_outcome(x), EXPECT_PASSED);
        expect_free(x);

        /* never there: the send step times out at its timeout_ms, naming the reference */
        ap_token = NULL;
        x = make("{\"steps\": [{\"send\": \"${ap.token}\", \"timeout_ms\": 300}]}");
        expect_set_var_fn(x, fake_vars, &ap_token);
        expect_next(x, 1299, &a);
        assert_int_equal(a.act, EXPECT_ACT_READ);
        expect_next(x, 1300, &a);
        assert_int_equal(a.act, EXPECT_ACT_DONE);
        assert_int_equal(expect_outcome(x), EXPECT_TIMEOUT);
        json_t *r = result(x);
        assert_string_equal(json_string_value(json_object_get(json_object_get(r, "failed_step"), "reason")),
                            "send: no value for ${ap.token} within 300 ms");
        json_decref(r);
        expect_free(x);

        /* an own capture that no step made: at once, not after a timeout */
        x = make("{\"steps\": [{\"send\": \"${nope}\"}]}");
        expect_next(x, 1000, &a);
        assert_int_equal(expect_outcome(x), EXPECT_TIMEOUT);
        expect_free(x);
        assert_non_null(strstr(check_msg("{\"steps\": [{\"send\": \"${a.b.c}\"}]}"), "steps[0].send: '${' must start a reference"));
        assert_non_null(strstr(check_msg("{\"steps\": [{\"send\": \"${oops\"}]}"), "steps[0].send: '${'"));
}

static void test_a_catastrophic_regex_fails_instead_of_hanging(void **state)
{
        (void)state;
        struct expect *x = make("{\"steps\": [{\"expect_re\": \"^(a+)+$\"}]}");
        char line[1100];
        memset(line, 'a', 1000);
        strcpy(line + 1000, "b\n");
        feed(x, line, 0, 1001);
        assert_int_equal(expect_outcome(x), EXPECT_RUNNING); /* no match, and we got here */
        expect_free(x);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_any_chunking_gives_the_same_captures),
                cmocka_unit_test(test_a_literal_split_across_chunks_matches),
                cmocka_unit_test(test_a_literal_matches_a_prompt_without_line_end),
                cmocka_unit_test(test_a_regex_matches_whole_lines_only),
                cmocka_unit_test(test_steps_match_in_order_and_never_reuse_consumed_bytes),
                cmocka_unit_test(test_step_timeout_on_the_fake_clock),
                cmocka_unit_test(test_send_then_wait_then_expect_sees_what_came_meanwhile),
                cmocka_unit_test(test_default_panic_ends_with_its_backtrace_as_evidence),
                cmocka_unit_test(test_panic_evidence_stops_at_its_deadline),
                cmocka_unit_test(test_a_custom_fail_on_ends_at_once_on_its_line),
                cmocka_unit_test(test_the_first_rom_banner_is_fine_the_second_is_a_reboot),
                cmocka_unit_test(test_default_fail_on_false_leaves_panics_to_the_steps),
                cmocka_unit_test(test_watchdog_and_brownout_resets_are_failures),
                cmocka_unit_test(test_abort_times_out_the_waiting_step),
                cmocka_unit_test(test_bad_params_name_the_problem),
                cmocka_unit_test(test_send_fills_in_own_and_other_boards_captures),
                cmocka_unit_test(test_a_catastrophic_regex_fails_instead_of_hanging),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
