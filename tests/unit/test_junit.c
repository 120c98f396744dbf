/* Specification of the JUnit XML writer (api/client/junit.c): escaping of text and attributes, the
 * counts on the suite, and how each outcome is written. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/junit.h"

/* Run junit_escape on s (as an attribute value or as text) into a new string. */
static char *escaped_as(const char *s, bool attribute)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        junit_escape(f, s, attribute);
        fclose(f);
        return buf;
}

static char *escaped(const char *s)
{
        return escaped_as(s, true);
}

static char *report(const struct junit_case *cases, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(junit_write(f, "suite", "2026-01-01T00:00:00Z", cases, n), 0);
        fclose(f);
        return buf;
}

static void test_escape_turns_xml_specials_into_entities(void **state)
{
        (void)state;
        char *s = escaped("a<b>&\"c'");
        assert_string_equal(s, "a&lt;b&gt;&amp;&quot;c&apos;");
        free(s);
}

static void test_escape_keeps_tab_cr_lf_as_character_references(void **state)
{
        (void)state;
        char *s = escaped("x\ty\r\nz");
        assert_string_equal(s, "x&#9;y&#13;&#10;z");
        free(s);
}

static void test_escape_in_text_keeps_tab_and_lf_but_not_cr(void **state)
{
        (void)state;
        char *s = escaped_as("x\ty\r\nz<", false);
        assert_string_equal(s, "x\ty&#13;\nz&lt;");
        free(s);
}

static void test_escape_replaces_control_characters_with_replacement_char(void **state)
{
        (void)state;
        char *s = escaped("a\x01" "b\x1b[0m\x7f");
        assert_string_equal(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD[0m\xEF\xBF\xBD");
        free(s);
}

static void test_escape_keeps_valid_utf8_and_replaces_invalid_bytes(void **state)
{
        (void)state;
        char *s = escaped("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xFF\xC3 \xED\xA0\x80");
        assert_string_equal(s, "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD\xEF\xBF\xBD "
                               "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
        free(s);
}

static void test_escape_of_null_writes_nothing(void **state)
{
        (void)state;
        char *s = escaped(NULL);
        assert_string_equal(s, "");
        free(s);
}

static void test_count_tallies_failures_errors_and_skipped(void **state)
{
        (void)state;
        struct junit_case c[] = {
                { .name = "a", .outcome = JUNIT_PASSED, .time_s = 1.0 },
                { .name = "b", .outcome = JUNIT_FAILED, .time_s = 0.5 },
                { .name = "c", .outcome = JUNIT_ERROR },
                { .name = "d", .outcome = JUNIT_FAILED },
                { .name = "e", .outcome = JUNIT_SKIPPED },
        };
        struct junit_totals t;
        junit_count(c, 5, &t);
        assert_int_equal(t.tests, 5);
        assert_int_equal(t.failures, 2);
        assert_int_equal(t.errors, 1);
        assert_int_equal(t.skipped, 1);
        assert_true(t.time_s > 1.49 && t.time_s < 1.51);
}

static void test_suite_element_carries_the_counts(void **state)
{
        (void)state;
        struct junit_case c[] = { { .name = "ok", .outcome = JUNIT_PASSED },
                                  { .name = "bad", .outcome = JUNIT_FAILED, .type = "ValueError" } };
        char *x = report(c, 2);
        assert_non_null(strstr(x, "<testsuite name=\"suite\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""));
        assert_non_null(strstr(x, "<testsuites tests=\"2\" failures=\"1\" errors=\"0\""));
        assert_int_equal(strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), 0);
        free(x);
}

static void test_failure_has_escaped_type_message_details_and_output(void **state)
{
        (void)state;
        struct junit_case c = { .name = "test_x", .classname = "corral.mp", .outcome = JUNIT_FAILED,
                                .type = "AssertionError", .message = "1 < 2", .details = "Traceback <here>",
                                .system_out = "out & about", .system_err = "err" };
        char *x = report(&c, 1);
        assert_non_null(strstr(x, "<testcase name=\"test_x\" classname=\"corral.mp\" time=\"0.000\">"));
        assert_non_null(strstr(x, "<failure type=\"AssertionError\" message=\"1 &lt; 2\">Traceback &lt;here&gt;</failure>"));
        assert_non_null(strstr(x, "<system-out>out &amp; about</system-out>"));
        assert_non_null(strstr(x, "<system-err>err</system-err>"));
        free(x);
}

static void test_error_outcome_is_an_error_element_not_a_failure(void **state)
{
        (void)state;
        struct junit_case c = { .name = "slow", .outcome = JUNIT_ERROR, .type = "Timeout", .message = "124" };
        char *x = report(&c, 1);
        assert_non_null(strstr(x, "<error type=\"Timeout\" message=\"124\"/>"));
        assert_null(strstr(x, "<failure"));
        free(x);
}

static void test_passing_case_has_no_verdict_element_and_no_empty_output(void **state)
{
        (void)state;
        struct junit_case c = { .name = "fine", .outcome = JUNIT_PASSED, .system_out = "" };
        char *x = report(&c, 1);
        assert_null(strstr(x, "<failure"));
        assert_null(strstr(x, "<error"));
        assert_null(strstr(x, "<system-out>"));
        assert_non_null(strstr(x, "<testcase name=\"fine\" time=\"0.000\">\n    </testcase>"));
        free(x);
}

static void test_write_to_a_failed_stream_is_eio(void **state)
{
        (void)state;
        FILE *f = fopen("/dev/full", "w");
        assert_non_null(f);
        struct junit_case c = { .name = "x" };
        assert_int_equal(junit_write(f, "s", NULL, &c, 1), -EIO);
        fclose(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape_turns_xml_specials_into_entities),
                cmocka_unit_test(test_escape_keeps_tab_cr_lf_as_character_references),
                cmocka_unit_test(test_escape_in_text_keeps_tab_and_lf_but_not_cr),
                cmocka_unit_test(test_escape_replaces_control_characters_with_replacement_char),
                cmocka_unit_test(test_escape_keeps_valid_utf8_and_replaces_invalid_bytes),
                cmocka_unit_test(test_escape_of_null_writes_nothing),
                cmocka_unit_test(test_count_tallies_failures_errors_and_skipped),
                cmocka_unit_test(test_suite_element_carries_the_counts),
                cmocka_unit_test(test_failure_has_escaped_type_message_details_and_output),
                cmocka_unit_test(test_error_outcome_is_an_error_element_not_a_failure),
                cmocka_unit_test(test_passing_case_has_no_verdict_element_and_no_empty_output),
                cmocka_unit_test(test_write_to_a_failed_stream_is_eio),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
