/* Known-answer vectors for the digests, encodings and checksums the daemon computes itself:
 * expectations come from the standards (FIPS 180-2, RFC 1321, RFC 4648) or were computed outside
 * this code base (Python hashlib/zlib), never with the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "digest.h"
#include "auth.h"
#include "engines/esp/esp_chips.h"
#include "engines/esp/esp_flash.h"
#include "engines/esp/esp_image.h"
#include "engines/esp/esp_rom.h"
#include "engines/mp/mp_fs.h"

/* FIPS 180-2 appendix B (B.1 "abc", B.2 the 448-bit message, B.3 one million 'a') and the
 * well-known digest of the empty string. */
static const struct {
        const char *msg;
        const char *hex;
} sha_vectors[] = {
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};
static const char million_a_hex[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

static void digest_sha256_hex_matches_fips_180_2(void **state)
{
        (void)state;
        char out[65];
        for (size_t i = 0; i < sizeof(sha_vectors) / sizeof(sha_vectors[0]); i++) {
                memset(out, 'x', sizeof(out));
                assert_int_equal(digest_sha256_hex(sha_vectors[i].msg, strlen(sha_vectors[i].msg), out), 0);
                assert_string_equal(out, sha_vectors[i].hex);
        }
        char *a = malloc(1000000);
        assert_non_null(a);
        memset(a, 'a', 1000000);
        assert_int_equal(digest_sha256_hex(a, 1000000, out), 0);
        assert_string_equal(out, million_a_hex);
        free(a);
}

static void mp_sha256_hex_matches_fips_180_2(void **state)
{
        (void)state;
        char out[65];
        for (size_t i = 0; i < sizeof(sha_vectors) / sizeof(sha_vectors[0]); i++) {
                memset(out, 'x', sizeof(out));
                assert_int_equal(mp_sha256_hex((const uint8_t *)sha_vectors[i].msg, strlen(sha_vectors[i].msg), out), 0);
                assert_string_equal(out, sha_vectors[i].hex);
        }
        uint8_t *a = malloc(1000000);
        assert_non_null(a);
        memset(a, 'a', 1000000);
        assert_int_equal(mp_sha256_hex(a, 1000000, out), 0);
        assert_string_equal(out, million_a_hex);
        free(a);
}

/* RFC 4648 section 10. */
static const char *const b64_plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
static const char *const b64_coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

static void base64_matches_rfc_4648(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(b64_plain) / sizeof(b64_plain[0]); i++) {
                char *e = NULL;
                assert_int_equal(mp_b64_encode((const uint8_t *)b64_plain[i], strlen(b64_plain[i]), &e), 0);
                assert_non_null(e);
                assert_string_equal(e, b64_coded[i]);
                free(e);
                uint8_t *d = NULL;
                size_t n = 99;
                assert_int_equal(mp_b64_decode(b64_coded[i], strlen(b64_coded[i]), &d, &n), 0);
                assert_int_equal(n, strlen(b64_plain[i]));
                if (n)
                        assert_memory_equal(d, b64_plain[i], n);
                free(d);
        }
        /* Every byte value: the alphabet's last two characters (RFC 4648 table 1: 62 '+', 63 '/'). */
        const uint8_t high[] = { 0xfb, 0xff, 0xbf };
        char *e = NULL;
        assert_int_equal(mp_b64_encode(high, sizeof(high), &e), 0);
        assert_string_equal(e, "+/+/");
        free(e);
}

/* A hand-made ESP32 image (extended header, two segments, appended SHA-256): its bytes, its
 * checksum (0xEF ^ every segment byte = 0xdd) and both digests were computed with Python's
 * hashlib, outside corral. */
static const uint8_t esp32_image[96] = {
        0xe9, 0x02, 0x00, 0x2f, 0x00, 0x04, 0x08, 0x40, 0xee, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0xff, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x4b, 0x41, 0x54, 0x2d,
        0x73, 0x65, 0x67, 0x30, 0x00, 0x00, 0x08, 0x40, 0x0c, 0x00, 0x00, 0x00,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98,
        0x00, 0x00, 0x00, 0xdd, 0x7c, 0xd9, 0x85, 0x2b, 0xcb, 0xb8, 0x54, 0xe2,
        0xb3, 0x38, 0xec, 0x93, 0x35, 0x4c, 0x0b, 0xd7, 0xa5, 0xd7, 0x0e, 0x96,
        0x11, 0xa8, 0xb6, 0x55, 0x0b, 0xc6, 0xdb, 0x4c, 0x57, 0x15, 0x8e, 0xa6,
};
/* SHA-256 of the first 64 bytes after bytes 2/3 became 0x02 (DIO) / 0x20 (4MB, 40m). */
static const uint8_t esp32_patched_digest[32] = {
        0x6b, 0x0e, 0xe2, 0x41, 0xda, 0x5e, 0xc0, 0x6d, 0xdd, 0x8d, 0x36, 0x70,
        0xe9, 0x24, 0x68, 0x0a, 0x8e, 0x5e, 0xfd, 0xd2, 0x71, 0x3e, 0x34, 0x61,
        0x7f, 0xd5, 0xcb, 0x9e, 0x0c, 0x0b, 0xc6, 0x3b,
};

static void esp_image_parse_accepts_a_known_good_image(void **state)
{
        (void)state;
        struct esp_image_info ii;
        char msg[160];
        assert_int_equal(esp_image_parse(esp32_image, sizeof(esp32_image), true, &ii, msg, sizeof(msg)), 0);
        assert_int_equal(ii.n_segments, 2);
        assert_int_equal(ii.entry, 0x40080400);
        assert_int_equal(ii.seg[0].addr, 0x3FFF0000);
        assert_int_equal(ii.seg[0].len, 8);
        assert_int_equal(ii.seg[0].offset, 32);
        assert_int_equal(ii.seg[1].addr, 0x40080000);
        assert_int_equal(ii.seg[1].len, 12);
        assert_int_equal(ii.seg[1].offset, 48);
        assert_int_equal(ii.checksum, 0xdd);
        assert_int_equal(ii.checksum_calc, 0xdd);
        assert_true(ii.checksum_ok);
        assert_int_equal(ii.data_length, 64);
        assert_true(ii.sha_present);
        assert_true(ii.sha_ok);
}

static void esp_image_parse_sees_a_wrong_checksum_and_digest(void **state)
{
        (void)state;
        uint8_t img[96];
        struct esp_image_info ii;
        char msg[160];
        memcpy(img, esp32_image, sizeof(img));
        img[48] ^= 0x01; /* one bit of segment 1 data (its header is bytes 40..47) */
        assert_int_equal(esp_image_parse(img, sizeof(img), true, &ii, msg, sizeof(msg)), 0);
        assert_int_equal(ii.checksum_calc, 0xdc);
        assert_false(ii.checksum_ok);
        assert_false(ii.sha_ok);
        memcpy(img, esp32_image, sizeof(img));
        img[95] ^= 0x80; /* only the digest */
        assert_int_equal(esp_image_parse(img, sizeof(img), true, &ii, msg, sizeof(msg)), 0);
        assert_true(ii.checksum_ok);
        assert_false(ii.sha_ok);
}

static void esp_image_patch_writes_the_known_digest(void **state)
{
        (void)state;
        uint8_t img[96];
        char msg[160];
        bool patched = false;
        memcpy(img, esp32_image, sizeof(img));
        assert_int_equal(esp_image_patch(img, sizeof(img), 0x1000, esp_chip_by_name("esp32"), "dio", "keep", "40m", 0,
                                         false, &patched, msg, sizeof(msg)),
                         0);
        assert_true(patched);
        assert_int_equal(img[2], 0x02);
        assert_int_equal(img[3], 0x20);
        assert_memory_equal(img + 4, esp32_image + 4, 60);
        assert_memory_equal(img + 64, esp32_patched_digest, 32);
}

static void esp_checksum_is_xor_seeded_with_0xef(void **state)
{
        (void)state;
        /* The segment bytes of the image above: 0xEF ^ ... = 0xdd (Python). */
        assert_int_equal(esp_checksum(esp32_image + 32, 8) ^ esp_checksum(esp32_image + 48, 12) ^ 0xEF, 0xdd);
        assert_int_equal(esp_checksum(NULL, 0), 0xEF);
        const uint8_t one[] = { 0xEF };
        assert_int_equal(esp_checksum(one, 1), 0x00);
}

/* esp_deflate's stream, inflated by zlib itself: the same bytes, and the zlib trailer carries
 * the Adler-32 Python computed for them (RFC 1950). */
static void esp_deflate_round_trips_with_the_known_adler32(void **state)
{
        (void)state;
        static uint8_t in[4096];
        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t)i;
        uint8_t *z = NULL;
        size_t zl = 0;
        assert_int_equal(esp_deflate(in, sizeof(in), &z, &zl), 0);
        assert_true(zl > 6);
        assert_int_equal(z[0], 0x78);
        assert_int_equal(z[1], 0xDA);
        uint32_t adler = (uint32_t)z[zl - 4] << 24 | (uint32_t)z[zl - 3] << 16 | (uint32_t)z[zl - 2] << 8 | z[zl - 1];
        assert_int_equal(adler, 0x60aef86a);
        static uint8_t back[8192];
        uLongf bl = sizeof(back);
        assert_int_equal(uncompress(back, &bl, z, (uLong)zl), Z_OK);
        assert_int_equal(bl, sizeof(in));
        assert_memory_equal(back, in, sizeof(in));
        free(z);

        memset(in, 0xFF, sizeof(in));
        assert_int_equal(esp_deflate(in, sizeof(in), &z, &zl), 0);
        adler = (uint32_t)z[zl - 4] << 24 | (uint32_t)z[zl - 3] << 16 | (uint32_t)z[zl - 2] << 8 | z[zl - 1];
        assert_int_equal(adler, 0x8161f0e2);
        bl = sizeof(back);
        assert_int_equal(uncompress(back, &bl, z, (uLong)zl), Z_OK);
        assert_int_equal(bl, sizeof(in));
        assert_memory_equal(back, in, sizeof(in));
        free(z);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(digest_sha256_hex_matches_fips_180_2),
                cmocka_unit_test(mp_sha256_hex_matches_fips_180_2),
                cmocka_unit_test(base64_matches_rfc_4648),
                cmocka_unit_test(esp_image_parse_accepts_a_known_good_image),
                cmocka_unit_test(esp_image_parse_sees_a_wrong_checksum_and_digest),
                cmocka_unit_test(esp_image_patch_writes_the_known_digest),
                cmocka_unit_test(esp_checksum_is_xor_seeded_with_0xef),
                cmocka_unit_test(esp_deflate_round_trips_with_the_known_adler32),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
