/* Firmware bytes in the store (table firmware_blobs, schema step 10): with a shared store
 * (PostgreSQL) an uploaded image's bytes are copied into the database in chunks, so that a host
 * that lacks the file can fetch it by id. Rows go with their firmware row (ON DELETE CASCADE).
 * Errors as store.h: -EINVAL, -ENOENT, -ENOSPC, -ENOTCONN, -EIO; -EOPNOTSUPP with SQLite. */
#ifndef CORRAL_STORE_FIRMWARE_BLOB_H
#define CORRAL_STORE_FIRMWARE_BLOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Bytes per chunk row. */
#define STORE_FIRMWARE_BLOB_CHUNK (256u * 1024u)

/* Replace the stored bytes of firmware id (its row must exist: -ENOENT otherwise) with data,
 * all chunks in one transaction: readers see every chunk or none. */
int store_firmware_blob_put(struct store *s, const char *id, const uint8_t *data, size_t len);
/* What the store holds for id: *ret_chunks rows and *ret_bytes bytes in all (both 0: none), and
 * the lowercase hex SHA-256 of the chunks joined in order, computed by the server (sha256 is
 * "" when there are none). Equal to id: a complete, intact copy. */
int store_firmware_blob_stat(struct store *s, const char *id, int64_t *ret_chunks, int64_t *ret_bytes,
                             char sha256[65]);
/* Called with each chunk in order (data borrowed for the call); a negative return stops the
 * read and is returned by store_firmware_blob_get(). */
typedef int store_blob_sink(void *ctx, const uint8_t *data, size_t len);
/* Read the chunks of id in order into sink, one query (and one hold of the store lock) per
 * chunk: the caller checks the whole against its digest. -ENODATA when the store has none,
 * -EBADMSG when the chunks are not numbered 0..n-1. */
int store_firmware_blob_get(struct store *s, const char *id, store_blob_sink *sink, void *ctx);

/* Firmware rows with no bytes in the store (uploaded before schema step 10, or while a copy
 * failed): a new array of {"id", "size"} in *ret (caller frees). */
int store_firmware_blob_missing(struct store *s, json_t **ret);

#endif
