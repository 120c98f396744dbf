/* ESP image header parsing, chip check, esptool-compatible flash-parameter patching. */
#include "engines/esp/esp_image.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int sha256(const uint8_t *d, size_t len, uint8_t out[32])
{
        unsigned n = 0;
        return EVP_Digest(d, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -EIO;
}

int esp_image_parse(const uint8_t *img, size_t len, bool extended, struct esp_image_info *out,
                    char *msg, size_t msg_size)
{
        struct esp_image_info in;
        memset(&in, 0, sizeof(in));
        size_t hdr = extended ? 24 : 8;
        if (!img || len < hdr) {
                snprintf(msg, msg_size, "Image too short (%zu bytes) for a header", len);
                return -EBADMSG;
        }
        if (img[0] != ESP_IMAGE_MAGIC) {
                snprintf(msg, msg_size, "Not an ESP image (first byte 0x%02x, expected 0xe9)", img[0]);
                return -EBADMSG;
        }
        in.extended = extended;
        in.n_segments = img[1];
        in.flash_mode = img[2];
        in.flash_size_freq = img[3];
        in.entry = get32(img + 4);
        if (in.n_segments == 0 || in.n_segments > ESP_IMAGE_MAX_SEGMENTS) {
                snprintf(msg, msg_size, "Image has %u segments (1..16 expected)", in.n_segments);
                return -EBADMSG;
        }
        if (extended) {
                in.wp_pin = img[8];
                in.chip_id = (uint16_t)(img[12] | img[13] << 8);
                in.min_rev = img[14];
                in.min_rev_full = (uint16_t)(img[15] | img[16] << 8);
                in.max_rev_full = (uint16_t)(img[17] | img[18] << 8);
                in.hash_appended = img[23] == 1;
        }
        size_t off = hdr;
        uint8_t c = 0xEF;
        for (unsigned i = 0; i < in.n_segments; i++) {
                if (len - off < 8) {
                        snprintf(msg, msg_size, "Image truncated in segment %u header", i);
                        return -EBADMSG;
                }
                in.seg[i].addr = get32(img + off);
                in.seg[i].len = get32(img + off + 4);
                off += 8;
                if (in.seg[i].len > len - off) {
                        snprintf(msg, msg_size, "Image truncated: segment %u wants %u bytes", i,
                                 in.seg[i].len);
                        return -EBADMSG;
                }
                in.seg[i].offset = off;
                for (uint32_t k = 0; k < in.seg[i].len; k++)
                        c ^= img[off + k];
                off += in.seg[i].len;
        }
        size_t pos = off | 15; /* checksum sits at 16n-1 */
        if (pos >= len) {
                snprintf(msg, msg_size, "Image truncated before its checksum byte");
                return -EBADMSG;
        }
        in.checksum = img[pos];
        in.checksum_calc = c;
        in.checksum_ok = img[pos] == c;
        in.data_length = pos + 1;
        if (in.hash_appended && len - in.data_length >= 32) {
                uint8_t h[32];
                in.sha_present = true;
                in.sha_ok = sha256(img, in.data_length, h) == 0 &&
                            memcmp(h, img + in.data_length, 32) == 0;
        }
        *out = in;
        return 0;
}

int esp_image_check(const uint8_t *img, size_t len, const struct esp_chip *chip, int rev_full,
                    char *msg, size_t msg_size)
{
        struct esp_image_info ii;
        char m[160];
        if (len >= 1 && img[0] == ESP_IMAGE_MAGIC_8266_V2) {
                if (chip->is_esp8266)
                        return 0;
                snprintf(msg, msg_size, "This is an ESP8266 image, but the board is an %s", chip->name);
                return -EINVAL;
        }
        if (len < 1 || img[0] != ESP_IMAGE_MAGIC) {
                snprintf(msg, msg_size, "Not an ESP firmware image");
                return -ENOEXEC;
        }
        bool as32 = esp_image_parse(img, len, true, &ii, m, sizeof(m)) == 0;
        const struct esp_chip *other = as32 ? esp_chip_by_image_id(ii.chip_id) : NULL;
        if (chip->is_esp8266) {
                struct esp_image_info i8;
                bool as8266 = esp_image_parse(img, len, false, &i8, m, sizeof(m)) == 0 && i8.checksum_ok;
                if (as8266)
                        return 0;
                if (other && !other->is_esp8266 && ii.checksum_ok) {
                        snprintf(msg, msg_size, "This image is for %s, but the board is an ESP8266",
                                 other->name);
                        return -EINVAL;
                }
                snprintf(msg, msg_size, "Not a valid ESP8266 image: %s", m);
                return -ENOEXEC;
        }
        if (as32 && ii.chip_id == chip->image_chip_id) {
                if (rev_full >= 0 && ii.min_rev_full && rev_full < ii.min_rev_full) {
                        snprintf(msg, msg_size, "This image needs %s revision v%u.%u or newer; the "
                                 "board has v%d.%d", chip->name, ii.min_rev_full / 100,
                                 ii.min_rev_full % 100, rev_full / 100, rev_full % 100);
                        return -EINVAL;
                }
                if (rev_full >= 0 && ii.max_rev_full && ii.max_rev_full != 0xFFFF &&
                    rev_full > ii.max_rev_full) {
                        snprintf(msg, msg_size, "This image supports %s up to revision v%u.%u; the "
                                 "board has v%d.%d", chip->name, ii.max_rev_full / 100,
                                 ii.max_rev_full % 100, rev_full / 100, rev_full % 100);
                        return -EINVAL;
                }
                return 0;
        }
        struct esp_image_info i8;
        if (esp_image_parse(img, len, false, &i8, m, sizeof(m)) == 0 && i8.checksum_ok &&
            !(as32 && other && ii.checksum_ok)) {
                snprintf(msg, msg_size, "This is an ESP8266 image, but the board is an %s",
                         chip->name);
                return -EINVAL;
        }
        if (as32 && other) {
                snprintf(msg, msg_size, "This image is for %s, but the board is an %s", other->name,
                         chip->name);
                return -EINVAL;
        }
        snprintf(msg, msg_size, "Not a valid %s image", chip->name);
        return -ENOEXEC;
}

static bool is_keep(const char *s)
{
        return !s || !*s || strcasecmp(s, "keep") == 0;
}

int esp_image_param_values(const struct esp_chip *chip, const char *mode, const char *size,
                           const char *freq, uint32_t detected_size, int *ret_mode, int *ret_size,
                           int *ret_freq, char *msg, size_t msg_size)
{
        static const char *const modes[] = { "qio", "qout", "dio", "dout" };
        int mv = -1, sv = -1, fv = -1;
        if (!is_keep(mode)) {
                for (int i = 0; i < 4; i++)
                        if (strcasecmp(mode, modes[i]) == 0)
                                mv = i;
                if (mv < 0) {
                        snprintf(msg, msg_size, "Unknown flash_mode \"%s\" (keep, qio, qout, dio, dout)",
                                 mode);
                        return -EINVAL;
                }
        }
        if (!is_keep(size)) {
                const char *want = size;
                if (strcasecmp(size, "detect") == 0) {
                        want = esp_flash_size_name(detected_size);
                        if (!want)
                                want = "4MB";
                }
                for (int i = 0; i < 16; i++)
                        if (chip->size_names[i] && strcasecmp(chip->size_names[i], want) == 0)
                                sv = i;
                if (sv < 0) {
                        snprintf(msg, msg_size, "flash_size \"%s\" is not valid for %s", want,
                                 chip->name);
                        return -EINVAL;
                }
        }
        if (!is_keep(freq)) {
                for (int i = 0; i < 16; i++)
                        if (chip->freq_names[i] && strcasecmp(chip->freq_names[i], freq) == 0)
                                fv = i;
                if (fv < 0 && strcmp(chip->stub_name, "esp32c6") == 0 && strcasecmp(freq, "40m") == 0)
                        fv = 0;
                if (fv < 0) {
                        snprintf(msg, msg_size, "flash_freq \"%s\" is not valid for %s", freq,
                                 chip->name);
                        return -EINVAL;
                }
        }
        *ret_mode = mv;
        *ret_size = sv;
        *ret_freq = fv;
        return 0;
}

int esp_image_patch(uint8_t *img, size_t len, uint32_t offset, const struct esp_chip *chip,
                    const char *mode, const char *size, const char *freq, uint32_t detected_size,
                    bool secure_boot, bool *ret_patched, char *msg, size_t msg_size)
{
        int mv, sv, fv;
        char m[160];
        *ret_patched = false;
        int e = esp_image_param_values(chip, mode, size, freq, detected_size, &mv, &sv, &fv, msg,
                                       msg_size);
        if (e < 0)
                return e;
        if (mv < 0 && sv < 0 && fv < 0) {
                snprintf(msg, msg_size, "Flash parameters kept");
                return 0;
        }
        if (offset != chip->bootloader_offset || len < 8 || img[0] != ESP_IMAGE_MAGIC) {
                snprintf(msg, msg_size, "Not a bootloader at 0x%x: flash parameters not changed",
                         offset);
                return 0;
        }
        if (secure_boot) {
                snprintf(msg, msg_size, "Secure boot is on: flash parameters not changed");
                return 0;
        }
        struct esp_image_info ii;
        if (esp_image_parse(img, len, !chip->is_esp8266, &ii, m, sizeof(m)) < 0 || !ii.checksum_ok ||
            (ii.extended && ii.chip_id != chip->image_chip_id) || (ii.sha_present && !ii.sha_ok)) {
                snprintf(msg, msg_size, "The image at 0x%x is not a valid %s bootloader: flash "
                         "parameters not changed", offset, chip->name);
                return 0;
        }
        uint8_t b2 = img[2], b3 = img[3];
        if (mv >= 0)
                b2 = (uint8_t)mv;
        if (sv >= 0)
                b3 = (uint8_t)((b3 & 0x0F) | sv << 4);
        if (fv >= 0)
                b3 = (uint8_t)((b3 & 0xF0) | fv);
        img[2] = b2;
        img[3] = b3;
        *ret_patched = true;
        /* esptool inspects byte 23 for every chip but only rehashes when it is 1. */
        if (len >= 24 && img[23] == 1 && !chip->is_esp8266 && len - ii.data_length >= 32) {
                if (sha256(img, ii.data_length, img + ii.data_length) < 0)
                        return -EIO;
                snprintf(msg, msg_size, "Flash parameters set to 0x%02x%02x; SHA digest in image "
                         "updated", b2, b3);
        } else {
                snprintf(msg, msg_size, "Flash parameters set to 0x%02x%02x", b2, b3);
        }
        return 0;
}

int esp_image_find_micropython_version(const uint8_t *buf, size_t len, char *out, size_t out_size)
{
        static const char key[] = "MicroPython v";
        const size_t kl = sizeof(key) - 1;
        const uint8_t *p = buf, *end = buf + len;
        while (p && (size_t)(end - p) > kl) {
                const uint8_t *hit = memmem(p, (size_t)(end - p), key, kl);
                if (!hit)
                        break;
                const uint8_t *v = hit + kl - 1; /* at 'v' */
                const uint8_t *q = v + 1;
                int dots = 0;
                bool digit = false;
                while (q < end && (isdigit(*q) || *q == '.')) {
                        dots += *q == '.';
                        digit = digit || isdigit(*q);
                        q++;
                }
                if (digit && dots >= 1 && isdigit(v[1])) {
                        while (q < end && (isalnum(*q) || *q == '-' || *q == '.' || *q == '+' ||
                                           *q == '_'))
                                q++;
                        size_t n = (size_t)(q - v);
                        if (out_size == 0)
                                return 0;
                        if (n > out_size - 1)
                                n = out_size - 1;
                        memcpy(out, v, n);
                        out[n] = '\0';
                        return 0;
                }
                p = hit + 1;
        }
        return -ENOENT;
}
