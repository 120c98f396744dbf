/* The flash pipeline a job calls on a prepared loader: validate everything, patch the
 * bootloader header, erase, skip unchanged regions, write (deflated where possible), verify,
 * hard reset; with progress and log callbacks and a result summary. */
#ifndef CORRAL_ESP_FLASH_H
#define CORRAL_ESP_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_diff.h"
#include "engines/esp/esp_rom.h"

#define ESP_FLASH_MAX_PARTS 16

/* zlib level 9 of in (esptool-compatible). On success *out is malloc'd, caller frees. */
int esp_deflate(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

struct esp_flash_part {
        uint32_t offset;
        const uint8_t *data; /* borrowed */
        size_t len;
        const char *name;    /* for messages, e.g. the file name; may be NULL */
};

enum esp_compress { ESP_COMPRESS_AUTO, ESP_COMPRESS_ON, ESP_COMPRESS_OFF };
enum esp_verify { ESP_VERIFY_MD5, ESP_VERIFY_READBACK, ESP_VERIFY_NONE };

struct esp_flash_opts {
        const char *flash_mode, *flash_size, *flash_freq; /* NULL or "keep" = keep */
        bool erase_all;
        enum esp_compress compress;
        enum esp_verify verify;
        unsigned baud;         /* 0 = stay at the ROM baud (or let pick_baud choose) */
        /* Optional, when baud is 0: called once, after the unchanged parts were skipped and only
         * when something is left to write, to switch l to a faster baud (esp_change_baud). It
         * returns 0 (at whatever baud it left the link), or an error that ends the write:
         * -EAGAIN when the link no longer answers (the caller reconnects and calls again). */
        int (*pick_baud)(void *user, struct esp_loader *l);
        /* Sector diff (with skip_unchanged, where the loader can MD5): what corral wrote before
         * (borrowed). A changed part whose offset has a record the board still holds (flash MD5
         * of the recorded region) gets only its differing 4 KiB sectors written. */
        const struct esp_flash_record *records;
        size_t n_records;
        bool want_sectors;     /* fill res->parts[].sectors (for the next record) */
        bool skip_unchanged;   /* compare flash MD5 first (needs MD5 support) */
        bool no_reset;         /* leave the chip in the loader */
        /* phase: "erasing", "writing", "verifying", "resetting". Optional. */
        void (*progress)(void *user, const char *phase, int percent, uint64_t done,
                         uint64_t total, double kbps);
        void (*log)(void *user, const char *line);
        /* Optional compressed-blob provider (e.g. a cache shared by parallel flashes): must
         * return a malloc'd zlib stream of exactly data/len (what esp_deflate() returns). */
        int (*deflate)(void *user, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);
        void *user;
};

struct esp_flash_part_result {
        uint32_t offset;       /* as written (ROM: aligned down to 4 KiB) */
        size_t len;            /* bytes written or compared */
        size_t compressed_len; /* 0 when written uncompressed or skipped */
        char md5[33];          /* of the bytes meant to be in flash */
        uint8_t md5raw[16];
        bool skipped, verified;
        /* Sector diff: "sectors" (only differing sectors written), "no_record", "changed" (the
         * board no longer holds the record: written in full), "dense", "unaligned", "off". */
        const char *diff;
        size_t sectors, sectors_written;
        uint8_t *sector_hashes; /* with want_sectors: n = sectors, owned (esp_flash_result_clear) */
};

struct esp_flash_result {
        uint64_t bytes_written, bytes_skipped, wire_bytes;
        double seconds, kbps;  /* effective: uncompressed bits / write time */
        /* Phases (seconds): baud change (a job's baud), erase_all, the MD5 compare of
         * skip_unchanged, verify. seconds above is the write phase. */
        double baud_s, erase_s, compare_s, verify_s;
        double reset_s;        /* the hard reset after verify (not part of connect to verified) */
        bool patched;
        const char *verify;    /* "md5", "readback", "none", "not_possible" (static) */
        const char *skip;      /* skip_unchanged: "md5" (compared), "off", "not_possible" (static) */
        size_t n_parts;
        struct esp_flash_part_result parts[ESP_FLASH_MAX_PARTS];
};

/* Free what a result owns (sector hashes). NULL-safe. */
void esp_flash_result_clear(struct esp_flash_result *res);

/* Validate only (no I/O): parts, options against the chip and flash size. -EINVAL + msg. */
int esp_flash_validate(const struct esp_loader *l, const struct esp_flash_part *parts, size_t n,
                       const struct esp_flash_opts *o, char *msg, size_t msg_size);

/* Run the pipeline. l must be prepared (esp_loader_prepare). res (required) is filled as far
 * as it got. Returns 0 or negative errno with the reason in l->msg. */
int esp_flash_write(struct esp_loader *l, const struct esp_flash_part *parts, size_t n,
                    const struct esp_flash_opts *o, struct esp_flash_result *res);

#endif
