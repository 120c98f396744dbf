/* ESP image specification: parsing, checksum and SHA-256, chip check, header patching rules
 * (bootloader offset only, keep/detect/explicit, digest recomputed), MicroPython marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "engines/esp/esp_image.h"

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* Build an ESP32-family image (extended header) with two segments; returns its length.
 * With sha, a SHA-256 of everything up to the checksum is appended. */
static size_t build32(uint8_t *img, uint16_t chip_id, bool sha)
{
        memset(img, 0, 256);
        img[0] = 0xE9;
        img[1] = 2;
        img[2] = 0x00; /* QIO */
        img[3] = 0x2F; /* 4MB, 80m */
        put32(img + 4, 0x40080400);
        img[8] = 0xEE;
        img[12] = (uint8_t)chip_id;
        img[13] = (uint8_t)(chip_id >> 8);
        img[23] = sha ? 1 : 0;
        size_t o = 24;
        uint8_t c = 0xEF;
        const uint32_t lens[2] = { 8, 12 };
        for (int s = 0; s < 2; s++) {
                put32(img + o, 0x3FFF0000 + (uint32_t)s * 0x100);
                put32(img + o + 4, lens[s]);
                o += 8;
                for (uint32_t k = 0; k < lens[s]; k++) {
                        img[o] = (uint8_t)(0x30 + s * 16 + k);
                        c ^= img[o++];
                }
        }
        o |= 15;
        img[o++] = c;
        if (sha) {
                unsigned n;
                EVP_Digest(img, o, img + o, &n, EVP_sha256(), NULL);
                o += 32;
        }
        return o;
}

static size_t build8266(uint8_t *img)
{
        memset(img, 0, 64);
        img[0] = 0xE9;
        img[1] = 1;
        img[2] = 0x00;
        img[3] = 0x20;
        put32(img + 4, 0x40100000);
        put32(img + 8, 0x40100000);
        put32(img + 12, 4);
        uint8_t c = 0xEF;
        for (int i = 0; i < 4; i++) {
                img[16 + i] = (uint8_t)(i + 1);
                c ^= (uint8_t)(i + 1);
        }
        img[31] = c;
        return 32;
}

static void parses_an_esp32_image_with_digest(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[128];
        size_t n = build32(img, 0, true);
        struct esp_image_info ii;
        assert_int_equal(esp_image_parse(img, n, true, &ii, msg, sizeof(msg)), 0);
        assert_int_equal(ii.n_segments, 2);
        assert_int_equal(ii.seg[1].len, 12);
        assert_int_equal(ii.chip_id, 0);
        assert_true(ii.checksum_ok);
        assert_true(ii.hash_appended);
        assert_true(ii.sha_ok);
        assert_int_equal(ii.data_length, 64);
        assert_int_equal(ii.entry, 0x40080400);
}

static void bad_checksum_is_reported(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[128];
        size_t n = build32(img, 0, false);
        img[50] ^= 1; /* segment 1 data */
        struct esp_image_info ii;
        assert_int_equal(esp_image_parse(img, n, true, &ii, msg, sizeof(msg)), 0);
        assert_false(ii.checksum_ok);
}

static void truncated_segment_is_an_error(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[128];
        build32(img, 0, false);
        struct esp_image_info ii;
        assert_int_equal(esp_image_parse(img, 40, true, &ii, msg, sizeof(msg)), -EBADMSG);
        assert_non_null(strstr(msg, "truncated"));
        img[0] = 0x00;
        assert_int_equal(esp_image_parse(img, 100, true, &ii, msg, sizeof(msg)), -EBADMSG);
        assert_non_null(strstr(msg, "Not an ESP image"));
}

/* The last segment claims exactly one byte more than the file holds: refused by name, and the
 * parser reads nothing past the end (an exact-size heap copy, so ASan sees any overread). */
static void segment_one_byte_past_the_end_is_truncated(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[128];
        build32(img, 0, false);
        const size_t seg1_end = 24 + 8 + 8 + 8 + 12; /* header, seg 0 (8 bytes), seg 1 (12 bytes) */
        uint8_t *cut = malloc(seg1_end - 1);
        assert_non_null(cut);
        memcpy(cut, img, seg1_end - 1);
        struct esp_image_info ii;
        assert_int_equal(esp_image_parse(cut, seg1_end - 1, true, &ii, msg, sizeof(msg)), -EBADMSG);
        assert_string_equal(msg, "Image truncated: segment 1 wants 12 bytes");
        free(cut);
}

static void esp8266_image_on_esp32_is_a_plain_error(void **state)
{
        (void)state;
        uint8_t img[64];
        char msg[128];
        size_t n = build8266(img);
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp32"), -1, msg, sizeof(msg)),
                         -EINVAL);
        assert_string_equal(msg, "This is an ESP8266 image, but the board is an ESP32");
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp8266"), -1, msg, sizeof(msg)), 0);
}

static void esp32s3_image_on_esp32c3_names_both_chips(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[128];
        size_t n = build32(img, 9, false);
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp32c3"), -1, msg, sizeof(msg)),
                         -EINVAL);
        assert_string_equal(msg, "This image is for ESP32-S3, but the board is an ESP32-C3");
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp8266"), -1, msg, sizeof(msg)),
                         -EINVAL);
        assert_string_equal(msg, "This image is for ESP32-S3, but the board is an ESP8266");
}

static void image_needing_a_newer_revision_is_rejected(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[160];
        size_t n = build32(img, 0, false);
        img[15] = 300 & 0xFF; /* min_rev_full v3.0 */
        img[16] = 300 >> 8;
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp32"), 100, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "v3.0 or newer"));
        assert_int_equal(esp_image_check(img, n, esp_chip_by_name("esp32"), 301, msg, sizeof(msg)), 0);
}

static void patch_only_at_the_bootloader_offset(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 0, false);
        const struct esp_chip *esp32 = esp_chip_by_name("esp32");
        assert_int_equal(esp_image_patch(img, n, 0x10000, esp32, "dio", "keep", "keep", 0, false,
                                         &patched, msg, sizeof(msg)), 0);
        assert_false(patched);
        assert_int_equal(img[2], 0x00);
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp32, "dio", "keep", "keep", 0, false,
                                         &patched, msg, sizeof(msg)), 0);
        assert_true(patched);
        assert_int_equal(img[2], 0x02);
        assert_int_equal(img[3], 0x2F);
        assert_string_equal(msg, "Flash parameters set to 0x022f");
}

static void patch_at_offset_0_for_esp32c3(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 5, false);
        assert_int_equal(esp_image_patch(img, n, 0x0, esp_chip_by_name("esp32c3"), "dout", "2MB",
                                         "40m", 0, false, &patched, msg, sizeof(msg)), 0);
        assert_true(patched);
        assert_int_equal(img[2], 0x03);
        assert_int_equal(img[3], 0x10);
}

static void all_keep_changes_nothing(void **state)
{
        (void)state;
        uint8_t img[256], orig[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 0, true);
        memcpy(orig, img, sizeof(img));
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp_chip_by_name("esp32"), "keep", NULL,
                                         "keep", 0, false, &patched, msg, sizeof(msg)), 0);
        assert_false(patched);
        assert_memory_equal(img, orig, n);
}

static void detect_resolves_the_size_from_jedec(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 0, false);
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp_chip_by_name("esp32"), "keep", "detect",
                                         "keep", 16u << 20, false, &patched, msg, sizeof(msg)), 0);
        assert_true(patched);
        assert_int_equal(img[3], 0x4F);
        /* Unknown size falls back to 4MB. */
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp_chip_by_name("esp32"), "keep", "detect",
                                         "keep", 0, false, &patched, msg, sizeof(msg)), 0);
        assert_int_equal(img[3], 0x2F);
}

static void esp8266_size_codes_differ(void **state)
{
        (void)state;
        uint8_t img[64];
        char msg[160];
        bool patched;
        size_t n = build8266(img);
        assert_int_equal(esp_image_patch(img, n, 0x0, esp_chip_by_name("esp8266"), "dio", "detect",
                                         "keep", 1u << 20, false, &patched, msg, sizeof(msg)), 0);
        assert_true(patched);
        assert_int_equal(img[2], 0x02);
        assert_int_equal(img[3], 0x20); /* 1MB is 0x2 on ESP8266 */
}

static void sha256_is_recomputed_after_patching(void **state)
{
        (void)state;
        uint8_t img[256], expect[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 0, true);
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp_chip_by_name("esp32"), "dio", "keep",
                                         "40m", 0, false, &patched, msg, sizeof(msg)), 0);
        assert_true(patched);
        assert_non_null(strstr(msg, "SHA digest in image updated"));
        /* Equal to building the image with those header bytes from scratch. */
        build32(expect, 0, false);
        expect[2] = 0x02;
        expect[3] = 0x20;
        expect[23] = 1;
        unsigned dn;
        EVP_Digest(expect, 64, expect + 64, &dn, EVP_sha256(), NULL);
        assert_memory_equal(img, expect, n);
        struct esp_image_info ii;
        assert_int_equal(esp_image_parse(img, n, true, &ii, msg, sizeof(msg)), 0);
        assert_true(ii.sha_ok);
}

static void invalid_bootloader_is_not_patched(void **state)
{
        (void)state;
        uint8_t img[256];
        char msg[160];
        bool patched;
        size_t n = build32(img, 0, true);
        img[50] ^= 0xFF; /* breaks checksum and digest */
        assert_int_equal(esp_image_patch(img, n, 0x1000, esp_chip_by_name("esp32"), "dio", "keep",
                                         "keep", 0, false, &patched, msg, sizeof(msg)), 0);
        assert_false(patched);
        assert_int_equal(img[2], 0x00);
        assert_non_null(strstr(msg, "not a valid ESP32 bootloader"));
}

static void bad_option_names_are_errors(void **state)
{
        (void)state;
        int m, s, f;
        char msg[160];
        const struct esp_chip *c = esp_chip_by_name("esp32");
        assert_int_equal(esp_image_param_values(c, "fast", NULL, NULL, 0, &m, &s, &f, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "flash_mode"));
        assert_int_equal(esp_image_param_values(c, NULL, "512KB", NULL, 0, &m, &s, &f, msg, sizeof(msg)), -EINVAL);
        assert_int_equal(esp_image_param_values(c, NULL, NULL, "26m", 0, &m, &s, &f, msg, sizeof(msg)), 0);
        assert_int_equal(f, 1);
        assert_int_equal(esp_image_param_values(esp_chip_by_name("esp32c6"), NULL, NULL, "40m", 0, &m,
                                                &s, &f, msg, sizeof(msg)), 0);
        assert_int_equal(f, 0);
}

static void finds_the_micropython_version(void **state)
{
        (void)state;
        const char buf[] = "\xE9\x03junk MicroPython vs MicroPython v1.22.2 on 2024-02-22; Generic ESP32 module";
        char out[64];
        assert_int_equal(esp_image_find_micropython_version((const uint8_t *)buf, sizeof(buf) - 1, out,
                                                            sizeof(out)), 0);
        assert_string_equal(out, "v1.22.2");
        const char pre[] = "MicroPython v1.23.0-preview.203.gd712feb68 on 2024-03-01";
        assert_int_equal(esp_image_find_micropython_version((const uint8_t *)pre, sizeof(pre) - 1, out,
                                                            sizeof(out)), 0);
        assert_string_equal(out, "v1.23.0-preview.203.gd712feb68");
        const char none[] = "CircuitPython 9.0.0";
        assert_int_equal(esp_image_find_micropython_version((const uint8_t *)none, sizeof(none) - 1, out,
                                                            sizeof(out)), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_an_esp32_image_with_digest),
                cmocka_unit_test(bad_checksum_is_reported),
                cmocka_unit_test(truncated_segment_is_an_error),
                cmocka_unit_test(segment_one_byte_past_the_end_is_truncated),
                cmocka_unit_test(esp8266_image_on_esp32_is_a_plain_error),
                cmocka_unit_test(esp32s3_image_on_esp32c3_names_both_chips),
                cmocka_unit_test(image_needing_a_newer_revision_is_rejected),
                cmocka_unit_test(patch_only_at_the_bootloader_offset),
                cmocka_unit_test(patch_at_offset_0_for_esp32c3),
                cmocka_unit_test(all_keep_changes_nothing),
                cmocka_unit_test(detect_resolves_the_size_from_jedec),
                cmocka_unit_test(esp8266_size_codes_differ),
                cmocka_unit_test(sha256_is_recomputed_after_patching),
                cmocka_unit_test(invalid_bootloader_is_not_patched),
                cmocka_unit_test(bad_option_names_are_errors),
                cmocka_unit_test(finds_the_micropython_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
