/* SLIP encoder/decoder specification: escapes, split reads, garbage, empty and broken frames,
 * with byte-level known-answer vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "engines/esp/slip.h"

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

/* Known-answer vectors for the encoder: every escape rule, byte by byte. */
static void encode_known_answers(void **state)
{
        (void)state;
        static const struct {
                uint8_t in[8];
                size_t in_len;
                uint8_t out[16];
                size_t out_len;
        } v[] = {
                { { 0 }, 0, { 0xC0, 0xC0 }, 2 },
                { { 0x00 }, 1, { 0xC0, 0x00, 0xC0 }, 3 },
                { { 0xC0 }, 1, { 0xC0, 0xDB, 0xDC, 0xC0 }, 4 },
                { { 0xDB }, 1, { 0xC0, 0xDB, 0xDD, 0xC0 }, 4 },
                { { 0xDB, 0xDC }, 2, { 0xC0, 0xDB, 0xDD, 0xDC, 0xC0 }, 5 },
                { { 0xDC, 0xDD }, 2, { 0xC0, 0xDC, 0xDD, 0xC0 }, 4 },
                { { 0xC0, 0xC0, 0xDB }, 3, { 0xC0, 0xDB, 0xDC, 0xDB, 0xDC, 0xDB, 0xDD, 0xC0 }, 8 },
                { { 0x08, 0xDB, 0xC0, 0xFF }, 4, { 0xC0, 0x08, 0xDB, 0xDD, 0xDB, 0xDC, 0xFF, 0xC0 }, 8 },
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                uint8_t out[32];
                assert_int_equal(slip_encode(v[i].in, v[i].in_len, out, sizeof(out)), v[i].out_len);
                assert_memory_equal(out, v[i].out, v[i].out_len);
        }
}

/* What a decoder reports for a wire, fed in chunks of chunk bytes: results in order, with the
 * frames' bytes. */
struct decoded {
        int rc[8];
        uint8_t frame[8][16];
        size_t len[8];
        size_t n;
};

static void decode_all(const uint8_t *wire, size_t len, size_t chunk, struct decoded *out, struct slip_decoder *d)
{
        memset(out, 0, sizeof(*out));
        assert_int_equal(slip_decoder_init(d, 16), 0);
        for (size_t off = 0; off < len;) {
                size_t n = len - off < chunk ? len - off : chunk, used = 0;
                int r = slip_decoder_feed(d, wire + off, n, &used);
                assert_true(used >= 1 && used <= n);
                off += used;
                if (r == 0)
                        continue;
                assert_true(out->n < 8);
                out->rc[out->n] = r;
                if (r == 1) {
                        memcpy(out->frame[out->n], d->frame, d->len);
                        out->len[out->n] = d->len;
                }
                out->n++;
        }
}

/* Known-answer vectors for the decoder's error paths: an escape byte followed by a frame end
 * is a broken frame (-EBADMSG), and that END also opens the next frame, which must come out
 * whole, whether or not the sender puts a second C0 before it; nothing counts as garbage. */
static void escape_then_end_is_an_error_and_the_next_frame_is_delivered(void **state)
{
        (void)state;
        static const struct {
                uint8_t wire[16];
                size_t len;
                uint8_t next[4];
                size_t next_len;
        } v[] = {
                { { 0xC0, 0x01, 0xDB, 0xC0, 0x07, 0xC0 }, 6, { 0x07 }, 1 },
                { { 0xC0, 0x01, 0xDB, 0xC0, 0xC0, 0x07, 0xC0 }, 7, { 0x07 }, 1 },
                { { 0xC0, 0xDB, 0xC0, 0x02, 0xDB, 0xDC, 0xC0 }, 7, { 0x02, 0xC0 }, 2 },
                { { 0xC0, 0x05, 0x06, 0xDB, 0xC0, 0x08, 0xDB, 0xDD, 0x09, 0xC0 }, 10, { 0x08, 0xDB, 0x09 }, 3 },
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                for (size_t chunk = 1; chunk <= v[i].len; chunk += v[i].len - 1) {
                        struct slip_decoder d;
                        struct decoded got;
                        decode_all(v[i].wire, v[i].len, chunk, &got, &d);
                        assert_int_equal(got.n, 2);
                        assert_int_equal(got.rc[0], -EBADMSG);
                        assert_int_equal(got.rc[1], 1);
                        assert_int_equal(got.len[1], v[i].next_len);
                        assert_memory_equal(got.frame[1], v[i].next, v[i].next_len);
                        assert_int_equal(d.errors, 1);
                        assert_int_equal(d.garbage_total, 0);
                        slip_decoder_fini(&d);
                }
        }
}

/* Known-answer vectors for well-formed wires, including escapes at frame edges. */
static void decode_known_answers(void **state)
{
        (void)state;
        static const uint8_t w1[] = { 0xC0, 0xDB, 0xDC, 0xC0 };
        static const uint8_t w2[] = { 0xC0, 0xDB, 0xDD, 0xDB, 0xDC, 0xC0, 0xC0, 0xDB, 0xDD, 0xC0 };
        struct slip_decoder d;
        struct decoded got;
        decode_all(w1, sizeof(w1), sizeof(w1), &got, &d);
        assert_int_equal(got.n, 1);
        assert_int_equal(got.rc[0], 1);
        assert_int_equal(got.len[0], 1);
        assert_int_equal(got.frame[0][0], 0xC0);
        slip_decoder_fini(&d);
        decode_all(w2, sizeof(w2), 1, &got, &d);
        assert_int_equal(got.n, 2);
        assert_int_equal(got.len[0], 2);
        assert_int_equal(got.frame[0][0], 0xDB);
        assert_int_equal(got.frame[0][1], 0xC0);
        assert_int_equal(got.len[1], 1);
        assert_int_equal(got.frame[1][0], 0xDB);
        assert_int_equal(d.errors, 0);
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
                cmocka_unit_test(encode_known_answers),
                cmocka_unit_test(escape_then_end_is_an_error_and_the_next_frame_is_delivered),
                cmocka_unit_test(decode_known_answers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
