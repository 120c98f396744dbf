/* ESP firmware image headers (§4): parse and validate (checksum, appended SHA-256), check an
 * image against the detected chip, patch flash mode/size/freq at the bootloader offset under
 * esptool's rules, and find a MicroPython version marker in a firmware buffer. */
#ifndef CORRAL_ESP_IMAGE_H
#define CORRAL_ESP_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_chips.h"

#define ESP_IMAGE_MAGIC 0xE9
#define ESP_IMAGE_MAGIC_8266_V2 0xEA
#define ESP_IMAGE_MAX_SEGMENTS 16

struct esp_image_segment {
        uint32_t addr, len;
        size_t offset; /* of the segment data in the file */
};

struct esp_image_info {
        bool extended;          /* ESP32-family 16-byte extended header */
        uint8_t n_segments;
        uint8_t flash_mode, flash_size_freq;
        uint32_t entry;
        uint8_t wp_pin;
        uint16_t chip_id, min_rev_full, max_rev_full;
        uint8_t min_rev;
        bool hash_appended;
        struct esp_image_segment seg[ESP_IMAGE_MAX_SEGMENTS];
        uint8_t checksum, checksum_calc;
        bool checksum_ok;
        size_t data_length;     /* file offset just after the checksum byte */
        bool sha_present, sha_ok;
};

/* Parse img as an ESP8266 (extended=false) or ESP32-family (true) image. Returns 0 (look at
 * checksum_ok / sha_ok) or -EBADMSG with a reason in msg. */
int esp_image_parse(const uint8_t *img, size_t len, bool extended, struct esp_image_info *out,
                    char *msg, size_t msg_size);

/* Does the image fit the chip? 0 yes; -EINVAL mismatch ("This image is for ESP8266, but the
 * board is an ESP32"); -ENOEXEC not a recognisable image (caller decides whether that matters).
 * rev_full = major*100+minor of the chip, or -1 when unknown. */
int esp_image_check(const uint8_t *img, size_t len, const struct esp_chip *chip, int rev_full,
                    char *msg, size_t msg_size);

/* Resolve option names to header values (-1 = keep). mode: keep|qio|qout|dio|dout; size:
 * keep|detect|<chip size name>; freq: keep|<chip freq name>. detected_size (bytes) resolves
 * "detect" (fallback 4MB). NULL means keep. Returns 0 or -EINVAL with msg. */
int esp_image_param_values(const struct esp_chip *chip, const char *mode, const char *size,
                           const char *freq, uint32_t detected_size, int *ret_mode, int *ret_size,
                           int *ret_freq, char *msg, size_t msg_size);

/* Patch bytes 2/3 in place when every rule of §4.3 holds (offset == bootloader offset, not all
 * keep, magic, image parses and verifies for this chip, no secure boot), then recompute the
 * appended SHA-256. *ret_patched tells whether it happened; msg explains either way.
 * Returns 0, or -EINVAL for bad option names. */
int esp_image_patch(uint8_t *img, size_t len, uint32_t offset, const struct esp_chip *chip,
                    const char *mode, const char *size, const char *freq, uint32_t detected_size,
                    bool secure_boot, bool *ret_patched, char *msg, size_t msg_size);

/* Find "MicroPython vX.Y[.Z][-suffix]" in buf; out gets "vX.Y.Z..." (NUL-terminated).
 * Returns 0 or -ENOENT. */
int esp_image_find_micropython_version(const uint8_t *buf, size_t len, char *out, size_t out_size);

#endif
