/* Firmware bytes in the store, chunked rows of firmware_blobs: written in one transaction,
 * read back chunk by chunk in order. Bytes travel as hex text (the db layer binds text only),
 * decode()/encode() on the server. Only a PostgreSQL store keeps bytes: -EOPNOTSUPP on SQLite,
 * whose hosts keep firmware only as files in state_dir. */
#include "store/store_firmware_blob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "store/store_internal.h"
#include "util.h"

static const char HEX[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = HEX[in[i] >> 4];
                out[2 * i + 1] = HEX[in[i] & 15];
        }
        out[2 * len] = '\0';
}

/* Decode hex text in place into out (room for strlen(in) / 2). Length or -EBADMSG. */
static ssize_t hex_decode(const char *in, uint8_t *out)
{
        size_t n = strlen(in);
        if (n % 2)
                return -EBADMSG;
        for (size_t i = 0; i < n / 2; i++) {
                int hi = util_hexval(in[2 * i]), lo = util_hexval(in[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EBADMSG;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return (ssize_t)(n / 2);
}

int store_firmware_blob_put(struct store *s, const char *id, const uint8_t *data, size_t len)
{
        if (!s || !id || (!data && len))
                return -EINVAL;
        if (!store_is_pg(s))
                return -EOPNOTSUPP;
        char *hex = malloc(2 * STORE_FIRMWARE_BLOB_CHUNK + 1);
        if (!hex)
                return -ENOMEM;
        int r = store_write_lock(s);
        int64_t one = 0;
        if (r >= 0) {
                /* The row locked: two hosts publishing the same image (one upload each) take turns
                 * instead of colliding on the chunks' keys; the second replaces the first's copy. */
                r = store_run_int(s, &one, "SELECT 1 FROM firmware WHERE id = ?1 FOR UPDATE", "s", id);
                if (r == 0)
                        r = -ENOENT;
        }
        if (r >= 0)
                r = store_run(s, "DELETE FROM firmware_blobs WHERE firmware_id = ?1", "s", id);
        for (size_t off = 0, seq = 0; r >= 0 && off < len; seq++) {
                size_t n = len - off < STORE_FIRMWARE_BLOB_CHUNK ? len - off : STORE_FIRMWARE_BLOB_CHUNK;
                hex_encode(data + off, n, hex);
                r = store_run(s, "INSERT INTO firmware_blobs (firmware_id, seq, data) VALUES (?1, ?2, decode(?3, 'hex'))", "sIs", id, (int64_t)seq, hex);
                off += n;
        }
        r = store_write_unlock(s, r);
        free(hex);
        return r < 0 ? r : 0;
}

int store_firmware_blob_stat(struct store *s, const char *id, int64_t *ret_chunks, int64_t *ret_bytes,
                             char sha256[65])
{
        if (!s || !id || !ret_chunks || !ret_bytes || !sha256)
                return -EINVAL;
        if (!store_is_pg(s))
                return -EOPNOTSUPP;
        struct db_stmt *st;
        sha256[0] = '\0';
        store_lock(s);
        int r = store_prepare(s, &st, "SELECT count(*), coalesce(sum(length(data)), 0),"
                              " coalesce(encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex'), '')"
                              " FROM firmware_blobs WHERE firmware_id = ?1", "s", id);
        if (r >= 0) {
                r = store_step(st);
                if (r == 1) {
                        *ret_chunks = db_col_int64(st, 0);
                        *ret_bytes = db_col_int64(st, 1);
                        const char *h = db_col_text(st, 2);
                        snprintf(sha256, 65, "%s", h ? h : "");
                }
                db_finalize(st);
        }
        store_unlock(s);
        return r < 0 ? r : 0;
}

/* Chunk seq of id decoded into buf (STORE_FIRMWARE_BLOB_CHUNK bytes): its length, -EBADMSG for
 * a gap in the numbering or bad text, or negative errno. Takes the lock for this one query. */
static ssize_t read_chunk(struct store *s, const char *id, int64_t seq, uint8_t *buf)
{
        struct db_stmt *st;
        store_lock(s);
        ssize_t r = store_prepare(s, &st, "SELECT encode(data, 'hex') FROM firmware_blobs WHERE firmware_id = ?1"
                                  " AND seq = ?2", "sI", id, seq);
        if (r >= 0) {
                r = store_step(st);
                const char *hex = r == 1 ? db_col_text(st, 0) : NULL;
                if (r == 0 || (r == 1 && (!hex || strlen(hex) > 2 * STORE_FIRMWARE_BLOB_CHUNK)))
                        r = -EBADMSG;
                else if (r == 1)
                        r = hex_decode(hex, buf);
                db_finalize(st);
        }
        store_unlock(s);
        return r;
}

int store_firmware_blob_get(struct store *s, const char *id, store_blob_sink *sink, void *ctx)
{
        if (!s || !id || !sink)
                return -EINVAL;
        if (!store_is_pg(s))
                return -EOPNOTSUPP;
        uint8_t *buf = malloc(STORE_FIRMWARE_BLOB_CHUNK);
        if (!buf)
                return -ENOMEM;
        int64_t chunks = 0;
        store_lock(s);
        int r = store_run_int(s, &chunks, "SELECT count(*) FROM firmware_blobs WHERE firmware_id = ?1", "s", id);
        store_unlock(s);
        if (r >= 0 && chunks == 0)
                r = -ENODATA;
        /* One short query per chunk, the lock dropped in between: a large image does not hold up
         * this host's other store users (heartbeats). A copy replaced meanwhile reads as a mix,
         * which the caller's digest check refuses. */
        for (int64_t seq = 0; r >= 0 && seq < chunks; seq++) {
                ssize_t n = read_chunk(s, id, seq, buf);
                r = n < 0 ? (int)n : sink(ctx, buf, (size_t)n);
        }
        free(buf);
        return r < 0 ? r : 0;
}

static json_t *missing_row(struct db_stmt *st)
{
        json_t *o = json_object();
        if (o) {
                json_object_set_new(o, "id", store_col_string(st, 0));
                json_object_set_new(o, "size", store_col_int(st, 1));
        }
        return o;
}

int store_firmware_blob_missing(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        if (!store_is_pg(s))
                return -EOPNOTSUPP;
        return store_list(s, missing_row, ret, "SELECT id, size FROM firmware f WHERE NOT EXISTS"
                          " (SELECT 1 FROM firmware_blobs b WHERE b.firmware_id = f.id) ORDER BY id", "");
}
