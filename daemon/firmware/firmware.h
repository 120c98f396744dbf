/* The firmware library: content-addressed files under <state_dir>/firmware/<sha256> (written to a
 * temp file in that directory, fsynced, renamed; never a partial file), metadata parsed from the
 * content and the file name, a row per file in the store, and known-good pins per board family. */
#ifndef CORRAL_FIRMWARE_H
#define CORRAL_FIRMWARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* A firmware id is the lowercase hex SHA-256 of its bytes. */
#define FIRMWARE_ID_LEN 64

/* What the bytes (and the file name) say. Filled by firmware_inspect(). */
struct firmware_info {
        char kind[12];            /* "esp-image" | "uf2" | "ihex" | "raw" */
        char chip[16];            /* "esp8266", "esp32", "esp32c3", "rp2040", ...; "" when unknown */
        /* ESP images (header of the first image in the file). */
        bool esp_checksum_ok;
        char flash_mode[8];       /* "qio" | "qout" | "dio" | "dout" */
        char flash_size[12];      /* "4MB" */
        char flash_freq[8];       /* "40m" */
        /* MicroPython: from the "MicroPython vX.Y.Z on DATE; BOARD with MCU" marker in the bytes,
         * else from a release file name "ESP8266_GENERIC-20250415-v1.25.0.bin". */
        char mp_version[40];      /* "1.25.0" */
        char mp_date[16];         /* "2025-04-15" */
        char mp_board[64];        /* "ESP8266_GENERIC" (file name) or "ESP module" (marker) */
        /* UF2 */
        unsigned uf2_blocks;
        bool uf2_has_family;
        uint32_t uf2_family;      /* 0xe48bff56 = RP2040 */
        /* Intel HEX */
        unsigned ihex_records;
        char ihex_error[96];      /* "" when valid */
};

/* Inspect the bytes. filename (may be NULL) adds MicroPython release facts. Never fails. */
void firmware_inspect(const uint8_t *data, size_t len, const char *filename, struct firmware_info *out);

/* "ESP8266_GENERIC-20250415-v1.25.0.bin", "ESP32_GENERIC_C3-20250415-v1.25.0.bin",
 * "RPI_PICO-20250415-v1.25.0.uf2", "esp8266-20230426-v1.20.0.bin" -> board, "2025-04-15",
 * "1.25.0", and the chip the board name implies ("" when it implies none). 0 or -ENOENT. */
int firmware_parse_filename(const char *name, char board[64], char date[16], char version[40],
                            char chip[16]);

/* Can the content be what was declared? declared_chip (may be NULL: not declared) and the file
 * name's extension (.bin/.hex/.ihex/.uf2) and release name. 0, or -EMEDIUMTYPE with the reason
 * in msg ("chip=esp32 was declared, but the image header says ESP8266"). */
int firmware_check_declared(const struct firmware_info *fi, const char *filename, const char *declared_chip,
                            char *msg, size_t msg_size);

/* The board family a firmware is for (the chip, or "" when unknown). */
const char *firmware_family(const struct firmware_info *fi);

/* The parsed facts as the "meta" JSON stored with the row (new reference). */
json_t *firmware_info_json(const struct firmware_info *fi);

bool firmware_id_valid(const char *id);
/* Board family names: 1-32 of [a-z0-9_-]. */
bool firmware_family_valid(const char *family);

/* ---- streaming upload into the library directory ---- */

struct firmware_upload;

/* Start an upload of at most limit bytes into dir (created if missing). The temp file is made on
 * the first write. Returns 0, -ENOMEM. The caller frees with firmware_upload_free(). */
int firmware_upload_begin(const char *dir, size_t limit, struct firmware_upload **ret);
/* Append. -EFBIG over the limit, -ENOSPC disk full, -EIO/-errno otherwise: on any error the temp
 * file is removed at once, msg says why, and later writes return the same error. */
int firmware_upload_write(struct firmware_upload *u, const void *data, size_t len);
int firmware_upload_error(const struct firmware_upload *u, const char **msg); /* 0 or the first error */
uint64_t firmware_upload_size(const struct firmware_upload *u);
/* Finish writing (fsync) and inspect the bytes: sha gets the id. Returns 0 or negative errno
 * (-ENODATA for an empty upload) with msg. */
int firmware_upload_finish(struct firmware_upload *u, const char *filename, struct firmware_info *info,
                           char sha[FIRMWARE_ID_LEN + 1], char *msg, size_t msg_size);
/* Publish as <dir>/<sha> (rename; an existing file with that name is kept and the temp dropped),
 * then fsync the directory. Only after a successful finish. */
int firmware_upload_commit(struct firmware_upload *u, char *msg, size_t msg_size);
/* Removes the temp file unless committed. NULL-safe, returns NULL. */
struct firmware_upload *firmware_upload_free(struct firmware_upload *u);
/* TEST ONLY: the next write fails with -abs(err) as a full disk would (e.g. ENOSPC). */
void firmware_upload_test_fail(struct firmware_upload *u, int err);

/* ---- the library (files + rows in the store) ---- */

/* User metadata; any member may be NULL. labels: array of strings. */
struct firmware_user {
        const char *name;         /* NULL: the file name, else the id's first 12 characters */
        const char *filename;
        const char *notes;
        const json_t *labels;
        /* The catalogue (NULL: not given): title, family (overrides the image's), version,
         * release notes. Applied to a new row and to an existing one alike. */
        const char *title, *family, *version, *release_notes;
};

/* Record a committed upload in the store. *ret gets the row (new reference); *ret_created says
 * whether it is new (false: the same bytes were already there; the row is returned unchanged). */
int firmware_register(struct store *st, const char *sha, uint64_t size, const struct firmware_info *fi,
                      const struct firmware_user *user, json_t **ret, bool *ret_created);
/* Whole-buffer convenience (tests, tools): write, inspect, commit, register. msg on failure. */
int firmware_add_buffer(struct store *st, const void *data, size_t len, const struct firmware_user *user,
                        json_t **ret, char *msg, size_t msg_size);
/* Path of a stored firmware file; -ENOENT when there is no such row. With a PostgreSQL store a
 * file missing here is fetched from the store's copy first (firmware_blob_fetch()): -ENODATA
 * when neither this host nor the store has the bytes, -EBADMSG when the store's copy is corrupt,
 * -ENOTCONN, -ENOSPC. With SQLite a missing file is -ENOENT. firmware_strerror() words these. */
int firmware_path(struct store *st, const char *id, char *buf, size_t size);
/* Path and the flash offset its chip boots from (ESP32/S2: 0x1000, others 0). */
int firmware_resolve(struct store *st, const char *id, char *path, size_t path_size, uint32_t *ret_offset);
/* Delete row and file. -ENOENT; -EBUSY when a queued or running job references the id (*ret_job
 * = that job); -EADDRINUSE while it is a known-good pin (msg names the family). */
int firmware_delete(struct store *st, const char *id, int64_t *ret_job, char *msg, size_t msg_size);
/* Remove the temp files (".upload-*") uploads left in the firmware directory when corrald was
 * killed mid-upload. Call at start, before any upload. Returns how many, or negative errno. */
int firmware_remove_stale_uploads(struct store *st);

/* ---- the bytes in a shared store (firmware_blob.c) ---- */

/* With a PostgreSQL store, copy the library file at path (size bytes) of firmware id into the
 * store unless a complete copy is there already. 0 (also: SQLite, nothing to do) or negative
 * errno (-ENOENT: no firmware row, -ENOSPC, -ENOTCONN, -EIO). */
int firmware_blob_publish(struct store *st, const char *id, const char *path, uint64_t size);
/* Fetch firmware id (size bytes, as its row says) from the store into the library file final:
 * temp file, size and SHA-256 checked against the id, fsync, rename. -ENODATA when the store has
 * no copy (always with SQLite), -EBADMSG when it does not match, -ENOSPC, -ENOTCONN, -errno. */
int firmware_blob_fetch(struct store *st, const char *id, uint64_t size, const char *final);
/* With a PostgreSQL store, at start: remove library files whose row is gone (deleted through
 * another host), then publish every library file whose bytes the store lacks (uploaded before
 * the store kept bytes). How many were published, or negative errno; 0 with SQLite. */
int firmware_blob_backfill(struct store *st);
/* Can firmware id be used on this host, without fetching it: 0 when its row exists and its file
 * is here, or (PostgreSQL) the store holds a complete copy (size and server-side SHA-256 match).
 * Errors as firmware_path(). For checks at job submit, on a host that may not run the job. */
int firmware_available(struct store *st, const char *id);
/* Where firmware id's library file lives on this host (buf, whether or not it is there yet) and
 * its size as the row says (*ret_size, may be NULL). 0, -EINVAL, -ENOENT (no such firmware),
 * -ENAMETOOLONG or a store error. */
int firmware_locate(struct store *st, const char *id, char *buf, size_t size, uint64_t *ret_size);
/* Why firmware_path()/firmware_resolve() failed, as the rest of "Firmware <id> ..." (static). */
const char *firmware_strerror(int err);

/* Known-good pins: one firmware per board family ("esp8266", "esp32", ...). The flash job calls
 * firmware_pin_known_good() after a verified boot (recorded as pinned_by "boot-check"); people
 * pin by hand through the API ("manual"). -ENOENT unknown id, -EINVAL bad family or id. */
int firmware_pin_known_good(struct store *st, const char *family, const char *id);
/* The pinned firmware of a family: id (and path, when path is not NULL). -ENOENT when none. */
int firmware_known_good(struct store *st, const char *family, char id[FIRMWARE_ID_LEN + 1], char *path,
                        size_t path_size);

#endif
