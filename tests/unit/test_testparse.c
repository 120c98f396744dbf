/* Specification of the test result parsers (daemon/engines/expect/testparse.c): Unity (plain, with exec
 * time, ESP-IDF's runner with "Running ..." lines and names with spaces), Zephyr ztest (suites,
 * assertion file:line, times), plain PASS:/FAIL: lines, a crash mid-test, and lines that are not
 * test results. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engines/expect/testparse.h"

static struct testparse *parse(unsigned formats, const char *text)
{
        struct testparse *tp = NULL;
        assert_int_equal(testparse_new(formats, &tp), 0);
        const char *p = text;
        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                testparse_line(tp, p, n);
                p += n + (nl ? 1 : 0);
        }
        return tp;
}

static void assert_case(const struct testparse *tp, size_t i, const char *name, enum testparse_status st,
                        const char *file, unsigned line, const char *message)
{
        const struct testparse_case *c = testparse_case(tp, i);
        assert_non_null(c);
        assert_string_equal(c->name, name);
        assert_int_equal(c->status, st);
        if (file)
                assert_string_equal(c->file, file);
        else
                assert_null(c->file);
        assert_int_equal(c->line, line);
        if (message)
                assert_string_equal(c->message, message);
        else
                assert_null(c->message);
}

static void test_unity_plain_results_and_summary(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ALL, "test_main.c:10:test_a:PASS\r\n"
                                                    "test_main.c:42:test_wifi_connects:FAIL: Expected 1 Was 0\r\n"
                                                    "test_main.c:50:test_c:IGNORE: not on this board\r\n"
                                                    "test_main.c:60:test_d:PASS (12 ms)\r\n"
                                                    "\r\n-----------------------\r\n4 Tests 1 Failures 1 Ignored\r\nFAIL\r\n");
        assert_int_equal(testparse_count(tp), 4);
        assert_case(tp, 0, "test_a", TESTPARSE_PASS, "test_main.c", 10, NULL);
        assert_case(tp, 1, "test_wifi_connects", TESTPARSE_FAIL, "test_main.c", 42, "Expected 1 Was 0");
        assert_case(tp, 2, "test_c", TESTPARSE_SKIP, "test_main.c", 50, "not on this board");
        assert_case(tp, 3, "test_d", TESTPARSE_PASS, "test_main.c", 60, NULL);
        assert_true(testparse_case(tp, 3)->time_s > 0.0119 && testparse_case(tp, 3)->time_s < 0.0121);
        unsigned t, f, ig;
        assert_true(testparse_summary(tp, &t, &f, &ig));
        assert_int_equal(t, 4);
        assert_int_equal(f, 1);
        assert_int_equal(ig, 1);
        size_t p, fl, s, e;
        testparse_totals(tp, &p, &fl, &s, &e);
        assert_int_equal(p * 1000 + fl * 100 + s * 10 + e, 2110);
        testparse_free(tp);
}

static void test_esp_idf_runner_names_with_spaces_and_the_running_test(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_UNITY, "Running Mean of an empty array is zero...\n"
                                                      "/IDF/components/testable/test/test_mean.c:16:Mean of an empty "
                                                      "array is zero:PASS\n"
                                                      "Running can read: the sensor...\n");
        assert_int_equal(testparse_count(tp), 1);
        assert_case(tp, 0, "Mean of an empty array is zero", TESTPARSE_PASS, "/IDF/components/testable/test/test_mean.c",
                    16, NULL);
        assert_string_equal(testparse_running(tp), "can read: the sensor");
        testparse_free(tp);
}

static void test_a_crash_mid_test_marks_the_running_test_error_and_keeps_the_rest(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ALL, "Running t1...\nm.c:1:t1:PASS\nRunning t2...\nm.c:2:t2:PASS\n"
                                                    "Running t3...\n");
        testparse_crash(tp, "Guru Meditation Error: Core  0 panic'ed (LoadProhibited).",
                        "Guru...\nBacktrace: 0x400d1f2e:0x3ffb4e80");
        testparse_line(tp, "m.c:4:t4:PASS", 13); /* after the crash: ignored */
        assert_int_equal(testparse_count(tp), 3);
        assert_case(tp, 0, "t1", TESTPARSE_PASS, "m.c", 1, NULL);
        assert_case(tp, 2, "t3", TESTPARSE_ERROR, NULL, 0, "Guru Meditation Error: Core  0 panic'ed (LoadProhibited).");
        assert_string_equal(testparse_case(tp, 2)->details, "Guru...\nBacktrace: 0x400d1f2e:0x3ffb4e80");
        assert_null(testparse_running(tp));
        testparse_free(tp);
}

static void test_a_crash_between_tests_adds_a_crash_case(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ALL, "m.c:1:t1:PASS\n");
        testparse_crash(tp, NULL, NULL);
        assert_int_equal(testparse_count(tp), 2);
        assert_case(tp, 1, "crash", TESTPARSE_ERROR, NULL, 0, "the firmware crashed");
        testparse_free(tp);
}

static void test_ztest_suites_assertions_and_times(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ZTEST, "Running TESTSUITE framework_tests\n"
                                                      "===================================\n"
                                                      "START - test_assert\n"
                                                      " PASS - test_assert in 0.001 seconds\n"
                                                      "START - test_fail\n"
                                                      "\n    Assertion failed at WEST_TOPDIR/zephyr/tests/main.c:42: "
                                                      "test_fail: (a == b) is false\n"
                                                      " FAIL - test_fail in 0.002 seconds\n"
                                                      " SKIP - test_skipped in 0.000 seconds\n"
                                                      "TESTSUITE framework_tests failed.\n"
                                                      "PROJECT EXECUTION FAILED\n");
        assert_int_equal(testparse_count(tp), 3);
        assert_case(tp, 0, "test_assert", TESTPARSE_PASS, NULL, 0, NULL);
        assert_string_equal(testparse_case(tp, 0)->suite, "framework_tests");
        assert_case(tp, 1, "test_fail", TESTPARSE_FAIL, "WEST_TOPDIR/zephyr/tests/main.c", 42, "(a == b) is false");
        assert_true(testparse_case(tp, 1)->time_s > 0.0019 && testparse_case(tp, 1)->time_s < 0.0021);
        assert_case(tp, 2, "test_skipped", TESTPARSE_SKIP, NULL, 0, NULL);
        testparse_free(tp);
}

static void test_old_ztest_starting_test_lines(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ALL, "starting test - test_old\nPASS - test_old\n");
        assert_int_equal(testparse_count(tp), 1);
        assert_case(tp, 0, "test_old", TESTPARSE_PASS, NULL, 0, NULL);
        testparse_free(tp);
}

static void test_plain_pass_fail_lines(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_PLAIN, "PASS: boots\nFAIL: wifi: no AP found\nSKIP: ble\nPASS: \n");
        assert_int_equal(testparse_count(tp), 3);
        assert_case(tp, 0, "boots", TESTPARSE_PASS, NULL, 0, NULL);
        assert_case(tp, 1, "wifi", TESTPARSE_FAIL, NULL, 0, "no AP found");
        assert_case(tp, 2, "ble", TESTPARSE_SKIP, NULL, 0, NULL);
        testparse_free(tp);
}

static void test_other_lines_are_not_tests(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_ALL, "I (312) cpu_start: Starting scheduler\nhttp://x:80:y:PASSWORD\n"
                                                    "a:b:c:PASS\n:1:x:PASS\nFAIL\nOK\nRunning ...\n");
        assert_int_equal(testparse_count(tp), 0);
        assert_false(testparse_summary(tp, NULL, NULL, NULL));
        testparse_free(tp);
}

static void test_only_the_asked_formats_are_parsed(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_UNITY, "PASS: plain\n PASS - ztest\nm.c:1:u:PASS\n");
        assert_int_equal(testparse_count(tp), 1);
        assert_case(tp, 0, "u", TESTPARSE_PASS, "m.c", 1, NULL);
        testparse_free(tp);
        assert_int_equal(testparse_new(0, &tp), -EINVAL);
}

static void test_json_replaces_invalid_utf8_and_keeps_valid_utf8(void **state)
{
        (void)state;
        struct testparse *tp = parse(TESTPARSE_PLAIN, "FAIL: t\xff: bad \xfe byte \xc2\xb0" "C\n");
        json_t *j = testparse_json(tp);
        assert_int_equal(json_array_size(j), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "name")), "t\xef\xbf\xbd");
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "message")),
                            "bad \xef\xbf\xbd byte \xc2\xb0" "C");
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "status")), "failed");
        json_decref(j);
        testparse_free(tp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unity_plain_results_and_summary),
                cmocka_unit_test(test_esp_idf_runner_names_with_spaces_and_the_running_test),
                cmocka_unit_test(test_a_crash_mid_test_marks_the_running_test_error_and_keeps_the_rest),
                cmocka_unit_test(test_a_crash_between_tests_adds_a_crash_case),
                cmocka_unit_test(test_ztest_suites_assertions_and_times),
                cmocka_unit_test(test_old_ztest_starting_test_lines),
                cmocka_unit_test(test_plain_pass_fail_lines),
                cmocka_unit_test(test_other_lines_are_not_tests),
                cmocka_unit_test(test_only_the_asked_formats_are_parsed),
                cmocka_unit_test(test_json_replaces_invalid_utf8_and_keeps_valid_utf8),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
