/* Fuzz ESP image parsing, the chip check, header patching and the MicroPython marker search,
 * with properties: an image serialized from fuzz-chosen segments parses back to exactly those
 * segments with a good checksum and digest; a patched image still parses with the same segments
 * and a good checksum/digest, carries the requested header bytes, changes nothing else, and
 * patching it again changes nothing. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_image.h"

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* Serialize an image (ESP32 extended header when ext) from the fuzz data: data[0] picks the
 * segment count, each segment takes the next byte as its length (1..64) and then that many bytes.
 * Returns its length (0 when the data runs out). */
static size_t serialize(const uint8_t *data, size_t size, bool ext, bool sha, uint8_t *img, size_t cap,
                        uint32_t *lens, size_t *offs, unsigned *nseg)
{
        if (size < 1)
                return 0;
        size_t hdr = ext ? 24 : 8, o = hdr, in = 1;
        unsigned n = (unsigned)(data[0] % ESP_IMAGE_MAX_SEGMENTS) + 1;
        memset(img, 0, cap);
        img[0] = ESP_IMAGE_MAGIC;
        img[1] = (uint8_t)n;
        img[2] = 0x00;          /* QIO */
        img[3] = ext ? 0x2F : 0x20;
        put32(img + 4, 0x40080400);
        if (ext) {
                img[8] = 0xEE;  /* wp pin: not used */
                img[23] = sha;  /* chip id 0 = ESP32, revisions 0 */
        }
        uint8_t c = 0xEF;
        for (unsigned s = 0; s < n; s++) {
                if (in >= size)
                        return 0;
                uint32_t l = (uint32_t)(data[in++] % 64) + 1;
                if (in + l > size || o + 8 + l + 16 + 32 > cap)
                        return 0;
                put32(img + o, 0x3FFB0000 + s * 0x1000);
                put32(img + o + 4, l);
                memcpy(img + o + 8, data + in, l);
                for (uint32_t k = 0; k < l; k++)
                        c ^= data[in + k];
                lens[s] = l;
                offs[s] = o + 8;
                o += 8 + l;
                in += l;
        }
        o |= 15;
        img[o++] = c;
        if (ext && sha) {
                unsigned dn;
                if (!EVP_Digest(img, o, img + o, &dn, EVP_sha256(), NULL))
                        abort();
                o += 32;
        }
        *nseg = n;
        return o;
}

static void round_trip(const uint8_t *data, size_t size, bool ext, bool sha)
{
        static uint8_t img[2048], again[2048];
        uint32_t lens[ESP_IMAGE_MAX_SEGMENTS];
        size_t offs[ESP_IMAGE_MAX_SEGMENTS];
        unsigned n = 0;
        size_t len = serialize(data, size, ext, sha, img, sizeof(img), lens, offs, &n);
        if (!len)
                return;
        struct esp_image_info ii;
        char msg[256];
        if (esp_image_parse(img, len, ext, &ii, msg, sizeof(msg)) != 0 || ii.n_segments != n || !ii.checksum_ok ||
            ii.entry != 0x40080400 || ii.extended != ext)
                abort();
        if (ext && (ii.sha_present != sha || (sha && !ii.sha_ok)))
                abort();
        for (unsigned s = 0; s < n; s++)
                if (ii.seg[s].len != lens[s] || ii.seg[s].offset != offs[s] || ii.seg[s].addr != 0x3FFB0000 + s * 0x1000)
                        abort();
        if (!ext)
                return;
        /* Patch to DIO / 40m at the ESP32 bootloader offset: must happen, and only bytes 2, 3
         * and the digest may change. */
        const struct esp_chip *chip = esp_chip_by_name("esp32");
        bool patched = false;
        memcpy(again, img, len);
        if (esp_image_patch(again, len, chip->bootloader_offset, chip, "dio", "keep", "40m", 4u << 20, false, &patched,
                            msg, sizeof(msg)) != 0 || !patched)
                abort();
        size_t end = sha ? len - 32 : len;
        if (again[2] != 0x02 || again[3] != 0x20 || memcmp(again + 4, img + 4, end - 4) || again[0] != img[0] ||
            again[1] != img[1])
                abort();
        struct esp_image_info pi;
        if (esp_image_parse(again, len, true, &pi, msg, sizeof(msg)) != 0 || !pi.checksum_ok || (sha && !pi.sha_ok) ||
            pi.n_segments != n || pi.flash_mode != 0x02)
                abort();
        /* Idempotent: the same options again leave the bytes as they are. */
        memcpy(img, again, len);
        if (esp_image_patch(again, len, chip->bootloader_offset, chip, "dio", "keep", "40m", 4u << 20, false, &patched,
                            msg, sizeof(msg)) != 0 || memcmp(img, again, len))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size)
                for (int m = 0; m < 3; m++)
                        round_trip(data + 1, size - 1, m > 0, m == 2 || (data[0] & 1));
        char msg[256], ver[64];
        struct esp_image_info ii;
        for (int ext = 0; ext < 2; ext++) {
                if (esp_image_parse(data, size, ext, &ii, msg, sizeof(msg)) == 0) {
                        if (ii.data_length > size || ii.n_segments == 0 || ii.n_segments > 16)
                                abort();
                        for (unsigned i = 0; i < ii.n_segments; i++)
                                if (ii.seg[i].offset + ii.seg[i].len > size)
                                        abort();
                        if (ii.checksum_ok != (ii.checksum == ii.checksum_calc) || (ii.sha_ok && !ii.sha_present))
                                abort();
                }
        }
        const char *chips[] = { "esp8266", "esp32", "esp32c3", "esp32s3", "esp32p4" };
        uint8_t *copy = malloc(size ? size : 1);
        if (!copy)
                return 0;
        for (size_t c = 0; c < sizeof(chips) / sizeof(chips[0]); c++) {
                const struct esp_chip *chip = esp_chip_by_name(chips[c]);
                (void)esp_image_check(data, size, chip, size ? data[0] : -1, msg, sizeof(msg));
                memcpy(copy, data, size);
                bool patched;
                (void)esp_image_patch(copy, size, chip->bootloader_offset, chip, "dio", "detect", "40m",
                                      4u << 20, false, &patched, msg, sizeof(msg));
                if (!patched && size && memcmp(copy, data, size) != 0)
                        abort();
                /* A patched image still parses with the same segments and verifies. */
                if (patched) {
                        struct esp_image_info a, b;
                        bool ext = !chip->is_esp8266;
                        if (esp_image_parse(data, size, ext, &a, msg, sizeof(msg)) != 0 ||
                            esp_image_parse(copy, size, ext, &b, msg, sizeof(msg)) != 0 || a.n_segments != b.n_segments ||
                            !b.checksum_ok || (a.sha_ok && !b.sha_ok) || memcmp(a.seg, b.seg, sizeof(a.seg)))
                                abort();
                }
        }
        free(copy);
        if (esp_image_find_micropython_version(data, size, ver, sizeof(ver)) == 0 &&
            (strlen(ver) < 2 || ver[0] != 'v'))
                abort();
        return 0;
}
