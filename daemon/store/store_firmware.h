/* Firmware rows and known-good pins in the store (tables firmware, firmware_known_good, schema
 * step 3). The files themselves live in store_firmware_dir(); firmware.h is the library on top.
 * Same error conventions as store.h: -EINVAL, -ENOENT, -EEXIST, -ENOSPC, -EIO. */
#ifndef CORRAL_STORE_FIRMWARE_H
#define CORRAL_STORE_FIRMWARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* A firmware row as JSON: {"id", "size", "kind", "chip", "family", "name", "filename", "notes",
 * "labels": [...], "created_at", "micropython": {...} | null, "esp" / "uf2" / "ihex": {...} (when
 * that kind), "known_good_for": ["esp8266", ...]}. */

/* "<state_dir>/firmware" (next to corral.db). 0 or -ENAMETOOLONG. */
int store_firmware_dir(struct store *s, char *buf, size_t size);

/* Insert a row. meta: firmware_info_json() (kind, chip, family and the per-kind objects).
 * name must be non-empty; filename/notes may be NULL (""), labels NULL ([]). When the id exists
 * already nothing changes and *ret_created is false. */
int store_firmware_put(struct store *s, const char *id, int64_t size, const json_t *meta, const char *name,
                       const char *filename, const char *notes, const json_t *labels, bool *ret_created);
/* The catalogue fields (schema step 6); NULL leaves one as it is. family overrides what the bytes
 * said; version drops a leading 'v'. -ENOENT for an unknown id. */
int store_firmware_set_catalogue(struct store *s, const char *id, const char *title, const char *family,
                                 const char *version, const char *release_notes);
/* The library fields a person edits (PATCH /firmware/{id}); NULL leaves one as it is. name must
 * not be empty; labels is an array of strings. -ENOENT for an unknown id. */
int store_firmware_set_info(struct store *s, const char *id, const char *name, const char *notes,
                            const json_t *labels);
/* New reference in *ret, or -ENOENT. */
int store_firmware_get(struct store *s, const char *id, json_t **ret);
/* Newest first; filters may be NULL. version matches the MicroPython version ("1.25.0" or
 * "v1.25.0"). */
int store_firmware_list(struct store *s, const char *chip, const char *family, const char *version,
                        json_t **ret);
/* The oldest queued or running job whose params mention id: 1 (and *ret_job), 0 none. */
int store_firmware_job_using(struct store *s, const char *id, int64_t *ret_job);
/* Delete the row unless a queued/running job mentions it (-EBUSY, *ret_job) or it is pinned
 * (-EADDRINUSE, pinned_family gets the family); -ENOENT when there is no such row. Checked and
 * deleted in one transaction. file (NULL: none) is unlinked once the checks pass and before the
 * row goes: on a full disk that frees the space the delete itself needs (a row left behind by a
 * failed delete has no file; the next delete finishes it). */
int store_firmware_delete(struct store *s, const char *id, int64_t *ret_job, char *pinned_family,
                          size_t pinned_size, const char *file);
/* The library's size: the sum of every firmware's bytes. */
int store_firmware_total(struct store *s, uint64_t *ret);

/* Known-good pins. by: "manual", "job:12". -ENOENT for an unknown firmware id. */
int store_firmware_pin(struct store *s, const char *family, const char *id, const char *by);
/* {"family", "firmware_id", "pinned_at", "pinned_by"}; -ENOENT when the family has no pin. */
int store_firmware_pin_get(struct store *s, const char *family, json_t **ret);
/* Array of pins as above, by family. */
int store_firmware_pin_list(struct store *s, json_t **ret);
/* -ENOENT when the family had no pin. */
int store_firmware_unpin(struct store *s, const char *family);

#endif
