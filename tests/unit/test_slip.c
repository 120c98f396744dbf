/* SLIP encoder/decoder specification: escapes, split reads, garbage, empty and broken frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "engines/slip.h"

/* Feed all of data; collect the first frame. Returns feed's last result. */
static int feed_all(struct slip_decoder *d, const uint8_t *data, size_t len, size_t *used_total)
{
        size_t off = 0;
        int r = 0;
        while (off < len) {
                size_t used = 0;
                r = slip_decoder_feed(d, data + off, len - off, &used);
                off += used;
                if (r != 0)
                        break;
        }
        if (used_total)
                *used_total = off;
        return r;
}

static void encode_escapes_c0_and_db(void **state)
{
        (void)state;
        const uint8_t in[] = { 0x01, 0xC0, 0x02, 0xDB, 0x03 };
        const uint8_t want[] = { 0xC0, 0x01, 0xDB, 0xDC, 0x02, 0xDB, 0xDD, 0x03, 0xC0 };
        uint8_t out[32];
        assert_int_equal(slip_encode(in, sizeof(in), out, sizeof(out)), sizeof(want));
        assert_memory_equal(out, want, sizeof(want));
}

static void encode_reports_too_small_buffer(void **state)
{
        (void)state;
        const uint8_t in[] = { 0xC0, 0xC0 };
        uint8_t out[5];
        assert_int_equal(slip_encode(in, sizeof(in), out, sizeof(out)), -ENOSPC);
}

static void round_trip_of_all_byte_values(void **state)
{
        (void)state;
        uint8_t in[256], enc[600];
        for (int i = 0; i < 256; i++)
                in[i] = (uint8_t)i;
        int n = slip_encode(in, sizeof(in), enc, sizeof(enc));
        assert_true(n > 0);
        struct slip_decoder d;
        assert_int_equal(slip_decoder_init(&d, 512), 0);
        assert_int_equal(feed_all(&d, enc, (size_t)n, NULL), 1);
        assert_int_equal(d.len, 256);
        assert_memory_equal(d.frame, in, 256);
        assert_int_equal(d.garbage_total, 0);
        slip_decoder_fini(&d);
}

static void escape_split_across_reads(void **state)
{
        (void)state;
        const uint8_t a[] = { 0xC0, 0x11, 0xDB };
        const uint8_t b[] = { 0xDC, 0x22, 0xC0 };
        struct slip_decoder d;
        size_t used;
        slip_decoder_init(&d, 64);
        assert_int_equal(slip_decoder_feed(&d, a, sizeof(a), &used), 0);
        assert_int_equal(used, 3);
        assert_int_equal(slip_decoder_feed(&d, b, sizeof(b), &used), 1);
        const uint8_t want[] = { 0x11, 0xC0, 0x22 };
        assert_int_equal(d.len, 3);
        assert_memory_equal(d.frame, want, 3);
        slip_decoder_fini(&d);
}

static void one_byte_at_a_time_gives_the_same_frame(void **state)
{
        (void)state;
        const uint8_t wire[] = { 0xC0, 0x01, 0xDB, 0xDD, 0x02, 0xC0 };
        struct slip_decoder d;
        slip_decoder_init(&d, 64);
        int r = 0;
        for (size_t i = 0; i < sizeof(wire); i++) {
                size_t used;
                r = slip_decoder_feed(&d, wire + i, 1, &used);
                assert_int_equal(used, 1);
                if (i + 1 < sizeof(wire))
                        assert_int_equal(r, 0);
        }
        assert_int_equal(r, 1);
        const uint8_t want[] = { 0x01, 0xDB, 0x02 };
        assert_memory_equal(d.frame, want, 3);
        slip_decoder_fini(&d);
}

static void garbage_before_a_frame_is_skipped_counted_and_kept(void **state)
{
        (void)state;
        const char *log = "ets Jun  8 2016\r\nwaiting for download\r\n";
        uint8_t wire[128];
        size_t n = strlen(log);
        memcpy(wire, log, n);
        const uint8_t frame[] = { 0xC0, 0x01, 0x08, 0xC0 };
        memcpy(wire + n, frame, sizeof(frame));
        struct slip_decoder d;
        slip_decoder_init(&d, 64);
        assert_int_equal(feed_all(&d, wire, n + sizeof(frame), NULL), 1);
        assert_int_equal(d.len, 2);
        assert_int_equal(d.garbage_total, n);
        char g[300];
        assert_int_equal(slip_decoder_garbage(&d, g, sizeof(g)), n);
        assert_string_equal(g, log);
        slip_decoder_fini(&d);
}

static void garbage_ring_keeps_the_last_256_bytes(void **state)
{
        (void)state;
        uint8_t junk[1000];
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t)('a' + i % 26);
        memcpy(junk + sizeof(junk) - 15, "Fatal exception", 15);
        struct slip_decoder d;
        slip_decoder_init(&d, 64);
        assert_int_equal(feed_all(&d, junk, sizeof(junk), NULL), 0);
        assert_int_equal(d.garbage_total, 1000);
        char g[400];
        assert_int_equal(slip_decoder_garbage(&d, g, sizeof(g)), SLIP_GARBAGE_KEEP);
        assert_non_null(strstr(g, "Fatal exception"));
        assert_memory_equal(g, junk + 1000 - 256, 256);
        slip_decoder_fini(&d);
}

static void empty_frames_are_skipped(void **state)
{
        (void)state;
        const uint8_t wire[] = { 0xC0, 0xC0, 0xC0, 0xC0, 0x42, 0xC0 };
        struct slip_decoder d;
        size_t used;
        slip_decoder_init(&d, 64);
        assert_int_equal(feed_all(&d, wire, sizeof(wire), &used), 1);
        assert_int_equal(used, sizeof(wire));
        assert_int_equal(d.len, 1);
        assert_int_equal(d.frame[0], 0x42);
        assert_true(d.empty_frames >= 2);
        slip_decoder_fini(&d);
}

static void bad_escape_is_an_error_and_the_next_frame_decodes(void **state)
{
        (void)state;
        const uint8_t wire[] = { 0xC0, 0x01, 0xDB, 0x55, 0x02, 0xC0, 0xC0, 0x07, 0xC0 };
        struct slip_decoder d;
        size_t used;
        slip_decoder_init(&d, 64);
        assert_int_equal(slip_decoder_feed(&d, wire, sizeof(wire), &used), -EBADMSG);
        assert_int_equal(used, 4);
        assert_int_equal(d.errors, 1);
        size_t rest = 0;
        assert_int_equal(feed_all(&d, wire + used, sizeof(wire) - used, &rest), 1);
        assert_int_equal(d.len, 1);
        assert_int_equal(d.frame[0], 0x07);
        slip_decoder_fini(&d);
}

static void oversize_frame_is_an_error_then_resyncs(void **state)
{
        (void)state;
        uint8_t wire[32];
        size_t n = 0;
        wire[n++] = 0xC0;
        for (int i = 0; i < 10; i++)
                wire[n++] = 0x11;
        wire[n++] = 0xC0;
        wire[n++] = 0xC0;
        wire[n++] = 0x22;
        wire[n++] = 0xC0;
        struct slip_decoder d;
        size_t used;
        slip_decoder_init(&d, 8);
        assert_int_equal(slip_decoder_feed(&d, wire, n, &used), -EMSGSIZE);
        size_t rest;
        assert_int_equal(feed_all(&d, wire + used, n - used, &rest), 1);
        assert_int_equal(d.len, 1);
        assert_int_equal(d.frame[0], 0x22);
        slip_decoder_fini(&d);
}

static void two_frames_in_one_read_come_out_one_by_one(void **state)
{
        (void)state;
        const uint8_t wire[] = { 0xC0, 0x01, 0xC0, 0xC0, 0x02, 0xC0 };
        struct slip_decoder d;
        size_t used;
        slip_decoder_init(&d, 64);
        assert_int_equal(slip_decoder_feed(&d, wire, sizeof(wire), &used), 1);
        assert_int_equal(used, 3);
        assert_int_equal(d.frame[0], 0x01);
        assert_int_equal(slip_decoder_feed(&d, wire + 3, 3, &used), 1);
        assert_int_equal(d.frame[0], 0x02);
        assert_int_equal(d.garbage_total, 0);
        slip_decoder_fini(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(encode_escapes_c0_and_db),
                cmocka_unit_test(encode_reports_too_small_buffer),
                cmocka_unit_test(round_trip_of_all_byte_values),
                cmocka_unit_test(escape_split_across_reads),
                cmocka_unit_test(one_byte_at_a_time_gives_the_same_frame),
                cmocka_unit_test(garbage_before_a_frame_is_skipped_counted_and_kept),
                cmocka_unit_test(garbage_ring_keeps_the_last_256_bytes),
                cmocka_unit_test(empty_frames_are_skipped),
                cmocka_unit_test(bad_escape_is_an_error_and_the_next_frame_decodes),
                cmocka_unit_test(oversize_frame_is_an_error_then_resyncs),
                cmocka_unit_test(two_frames_in_one_read_come_out_one_by_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
