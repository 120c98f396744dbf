/* UTF-8 repair specification, byte by byte: valid sequences of every length kept, each byte that
 * starts none (overlong, surrogate, above U+10FFFF, stray continuation, cut short at the end)
 * replaced by one U+FFFD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"

#define R UTF8_REPLACEMENT

/* Repairs in (n bytes) and checks the result is exactly want (want_n bytes). */
static void check(const char *in, size_t n, const char *want, size_t want_n)
{
        char out[64];
        assert_true(3 * n + 1 <= sizeof(out));
        memset(out, 0x55, sizeof(out));
        size_t got = utf8_repair(in, n, out);
        assert_int_equal(got, want_n);
        assert_memory_equal(out, want, want_n);
        assert_int_equal(out[got], '\0');
}

#define CHECK(in, want) check(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void ascii_and_nul_are_kept(void **state)
{
        (void)state;
        CHECK("hello", "hello");
        CHECK("a\0b", "a\0b");
        CHECK("\x7f", "\x7f");
        check("", 0, "", 0);
}

static void valid_sequences_of_each_length_are_kept(void **state)
{
        (void)state;
        CHECK("\xc2\x80", "\xc2\x80");                 /* U+0080, first 2-byte */
        CHECK("\xdf\xbf", "\xdf\xbf");                 /* U+07FF, last 2-byte */
        CHECK("\xe0\xa0\x80", "\xe0\xa0\x80");         /* U+0800, first 3-byte */
        CHECK("\xe2\x82\xac", "\xe2\x82\xac");         /* U+20AC euro */
        CHECK("\xed\x9f\xbf", "\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
        CHECK("\xee\x80\x80", "\xee\x80\x80");         /* U+E000, just above them */
        CHECK("\xef\xbf\xbf", "\xef\xbf\xbf");         /* U+FFFF */
        CHECK("\xf0\x90\x80\x80", "\xf0\x90\x80\x80"); /* U+10000, first 4-byte */
        CHECK("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600 emoji */
        CHECK("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
        CHECK("caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93");
}

static void overlong_forms_become_one_replacement_per_byte(void **state)
{
        (void)state;
        CHECK("\xc0\x80", R R);             /* NUL in 2 bytes */
        CHECK("\xc1\xbf", R R);             /* U+007F in 2 bytes */
        CHECK("\xe0\x80\x80", R R R);       /* NUL in 3 bytes */
        CHECK("\xe0\x9f\xbf", R R R);       /* U+07FF in 3 bytes */
        CHECK("\xf0\x80\x80\x80", R R R R); /* NUL in 4 bytes */
        CHECK("\xf0\x8f\xbf\xbf", R R R R); /* U+FFFF in 4 bytes */
}

static void surrogates_become_replacements(void **state)
{
        (void)state;
        CHECK("\xed\xa0\x80", R R R); /* U+D800 */
        CHECK("\xed\xbf\xbf", R R R); /* U+DFFF */
        CHECK("\xed\xa0\xbd\xed\xb8\x80", R R R R R R); /* a CESU-8 pair */
}

static void code_points_above_the_last_become_replacements(void **state)
{
        (void)state;
        CHECK("\xf4\x90\x80\x80", R R R R); /* U+110000 */
        CHECK("\xf5\x80\x80\x80", R R R R);
        CHECK("\xfe", R);
        CHECK("\xff", R);
}

static void stray_continuation_bytes_become_replacements(void **state)
{
        (void)state;
        CHECK("\x80", R);
        CHECK("a\xbf" "b", "a" R "b");
        CHECK("\xc3\xa9\xa9", "\xc3\xa9" R); /* one too many */
}

static void sequences_cut_short_at_the_end_become_replacements(void **state)
{
        (void)state;
        CHECK("ok\xc3", "ok" R);
        CHECK("ok\xe2\x82", "ok" R R);
        CHECK("ok\xf0\x9f\x98", "ok" R R R);
        /* The same cut in the middle: the byte after the cut starts afresh. */
        CHECK("\xe2\x82" "A", R R "A");
        CHECK("\xf0\x9f\x98\xe2\x82\xac", R R R "\xe2\x82\xac");
}

static void seq_len_reads_no_further_than_n(void **state)
{
        (void)state;
        const char euro[] = "\xe2\x82\xac";
        assert_int_equal(utf8_seq_len(euro, 3), 3);
        assert_int_equal(utf8_seq_len(euro, 2), 0);
        assert_int_equal(utf8_seq_len(euro, 0), 0);
        assert_int_equal(utf8_seq_len("\xf0\x9f\x98\x80", 4), 4);
        assert_int_equal(utf8_seq_len("\xf0\x9f\x98\x80", 3), 0);
        assert_int_equal(utf8_seq_len("A", 1), 1);
}

static void json_string_keeps_valid_text_as_is(void **state)
{
        (void)state;
        const char in[] = "temp \xe2\x84\x83 \xf0\x9f\x8c\xa1";
        json_t *j = utf8_json_string(in, sizeof(in) - 1);
        assert_non_null(j);
        assert_int_equal(json_string_length(j), sizeof(in) - 1);
        assert_memory_equal(json_string_value(j), in, sizeof(in) - 1);
        json_decref(j);
}

static void json_string_repairs_and_keeps_the_valid_neighbours(void **state)
{
        (void)state;
        const char in[] = "\xc3\xa9\xff\xe2\x82\xac\xc0\xaf" "x";
        const char want[] = "\xc3\xa9" R "\xe2\x82\xac" R R "x";
        json_t *j = utf8_json_string(in, sizeof(in) - 1);
        assert_non_null(j);
        assert_int_equal(json_string_length(j), sizeof(want) - 1);
        assert_memory_equal(json_string_value(j), want, sizeof(want) - 1);
        json_decref(j);
}

static void json_string_of_null_is_empty(void **state)
{
        (void)state;
        json_t *j = utf8_json_string(NULL, 5);
        assert_non_null(j);
        assert_string_equal(json_string_value(j), "");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(ascii_and_nul_are_kept),
                cmocka_unit_test(valid_sequences_of_each_length_are_kept),
                cmocka_unit_test(overlong_forms_become_one_replacement_per_byte),
                cmocka_unit_test(surrogates_become_replacements),
                cmocka_unit_test(code_points_above_the_last_become_replacements),
                cmocka_unit_test(stray_continuation_bytes_become_replacements),
                cmocka_unit_test(sequences_cut_short_at_the_end_become_replacements),
                cmocka_unit_test(seq_len_reads_no_further_than_n),
                cmocka_unit_test(json_string_keeps_valid_text_as_is),
                cmocka_unit_test(json_string_repairs_and_keeps_the_valid_neighbours),
                cmocka_unit_test(json_string_of_null_is_empty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
