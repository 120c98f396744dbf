/* Sector-diff flashing: what corral wrote at an offset (length, MD5, a short SHA-256 per 4 KiB
 * sector) as a board fact, and the runs of sectors a new image changes against it. Pure logic. */
#ifndef CORRAL_ESP_DIFF_H
#define CORRAL_ESP_DIFF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ESP_DIFF_SECTOR 0x1000u
#define ESP_DIFF_HASH 8u        /* bytes of SHA-256 kept per sector */
#define ESP_DIFF_MAX_RUNS 64    /* more runs than this: write it all (dense) */

struct esp_flash_record {
        uint32_t offset, len;
        uint8_t md5[16];        /* of the len bytes as written */
        size_t n_sectors;
        uint8_t *sectors;       /* n_sectors * ESP_DIFF_HASH, owned (esp_diff_record_clear) */
};

/* Short SHA-256 of each 4 KiB sector of buf (the last one may be shorter). *out malloc'd
 * (n * ESP_DIFF_HASH bytes), caller frees. 0 or -ENOMEM. */
int esp_diff_hash(const uint8_t *buf, size_t len, uint8_t **out, size_t *n);

/* Runs [first sector, count] where the new hashes differ from the old (sectors beyond the old
 * ones always differ). Returns the number of differing sectors; *n_runs = runs used; when more
 * than max_runs would be needed, *n_runs = max_runs + 1 (treat as dense). */
size_t esp_diff_runs(const uint8_t *newh, size_t n_new, const uint8_t *oldh, size_t n_old, uint32_t (*runs)[2],
                     size_t max_runs, size_t *n_runs);

/* {"offset", "length", "md5", "sectors": "<16 hex digits per sector>"}: new reference. */
json_t *esp_diff_record_json(uint32_t offset, uint32_t len, const uint8_t md5[16], const uint8_t *sectors,
                             size_t n_sectors);
/* Parse one entry of that form. 0, or -EINVAL (malformed: ignore the record). */
int esp_diff_record_parse(const json_t *j, struct esp_flash_record *r);
void esp_diff_record_clear(struct esp_flash_record *r);

#endif
