/* A bounded, thread-safe cache of zlib-compressed flash images keyed by the SHA-256 of the
 * uncompressed bytes, so that boards flashed in parallel with the same image deflate it once. */
#ifndef CORRAL_ESP_ZCACHE_H
#define CORRAL_ESP_ZCACHE_H

#include <stddef.h>
#include <stdint.h>

struct esp_zcache;

/* A cache keeping at most max_bytes of compressed data (entries being used by a caller are
 * never evicted). *ret owned, free with esp_zcache_free() once no thread uses it. */
int esp_zcache_new(size_t max_bytes, struct esp_zcache **ret);
struct esp_zcache *esp_zcache_free(struct esp_zcache *c);

/* The zlib stream (esp_deflate(), level 9) of data/len. A hit copies the cached stream; a miss
 * compresses, and callers asking for the same bytes meanwhile wait for that one result instead of
 * compressing again. On success *out is malloc'd (caller frees) and *ret_hit (optional) tells
 * whether the stream came from the cache or another caller's work. Returns 0 or -ENOMEM / -EIO. */
int esp_zcache_get(struct esp_zcache *c, const uint8_t *data, size_t len, uint8_t **out,
                   size_t *out_len, int *ret_hit);

/* Counters for logs and tests: lookups answered from the cache / compressions done. */
void esp_zcache_stats(struct esp_zcache *c, uint64_t *ret_hits, uint64_t *ret_misses);

#endif
