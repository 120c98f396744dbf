/* Compressed-image cache: entries keyed by SHA-256, reference-counted while a caller computes or
 * copies them, least recently used ones evicted beyond the byte bound. */
#include "firmware/zcache.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_flash.h"
#include "util.h"

struct zentry {
        struct zentry *next;
        uint8_t key[32];
        uint8_t *z;      /* NULL while being computed */
        size_t zlen;
        bool failed;     /* the computation failed: waiters compute themselves */
        unsigned refs;   /* callers computing, waiting for or copying this entry */
        uint64_t used;   /* LRU clock */
};

struct esp_zcache {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct zentry *head;
        size_t bytes, max_bytes;
        uint64_t clock, hits, misses;
};

int esp_zcache_new(size_t max_bytes, struct esp_zcache **ret)
{
        struct esp_zcache *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->mu, NULL);
        util_cond_init_mono(&c->cv);
        c->max_bytes = max_bytes;
        *ret = c;
        return 0;
}

struct esp_zcache *esp_zcache_free(struct esp_zcache *c)
{
        if (!c)
                return NULL;
        for (struct zentry *e = c->head, *n; e; e = n) {
                n = e->next;
                free(e->z);
                free(e);
        }
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
}

static void unlink_entry(struct esp_zcache *c, struct zentry *e)
{
        for (struct zentry **pp = &c->head; *pp; pp = &(*pp)->next) {
                if (*pp == e) {
                        *pp = e->next;
                        break;
                }
        }
        c->bytes -= e->z ? e->zlen : 0;
        free(e->z);
        free(e);
}

/* Drop unreferenced entries, least recently used first, until the bound holds. Locked. */
static void evict(struct esp_zcache *c)
{
        while (c->bytes > c->max_bytes) {
                struct zentry *victim = NULL;
                for (struct zentry *e = c->head; e; e = e->next)
                        if (!e->refs && e->z && (!victim || e->used < victim->used))
                                victim = e;
                if (!victim)
                        return;
                unlink_entry(c, victim);
        }
}

static int copy_out(const struct zentry *e, uint8_t **out, size_t *out_len)
{
        uint8_t *b = malloc(e->zlen ? e->zlen : 1);
        if (!b)
                return -ENOMEM;
        memcpy(b, e->z, e->zlen);
        *out = b;
        *out_len = e->zlen;
        return 0;
}

int esp_zcache_get(struct esp_zcache *c, const uint8_t *data, size_t len, uint8_t **out,
                   size_t *out_len, int *ret_hit)
{
        uint8_t key[32];
        unsigned klen = 0;
        if (!c)
                return -EINVAL;
        if (!EVP_Digest(data, len, key, &klen, EVP_sha256(), NULL))
                return -EIO;
        pthread_mutex_lock(&c->mu);
        struct zentry *e = c->head;
        while (e && memcmp(e->key, key, sizeof(key)) != 0)
                e = e->next;
        if (e) {
                e->refs++;
                while (!e->z && !e->failed)
                        pthread_cond_wait(&c->cv, &c->mu);
                int r = -EAGAIN;
                if (e->z) {
                        r = copy_out(e, out, out_len);
                        e->used = ++c->clock;
                        c->hits++;
                }
                e->refs--;
                if (e->failed && !e->refs)
                        unlink_entry(c, e);
                pthread_mutex_unlock(&c->mu);
                if (r != -EAGAIN) {
                        if (r == 0 && ret_hit)
                                *ret_hit = 1;
                        return r;
                }
                /* The other caller failed (out of memory?): try on our own, uncached. */
                int rr = esp_deflate(data, len, out, out_len);
                if (rr == 0 && ret_hit)
                        *ret_hit = 0;
                return rr;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                pthread_mutex_unlock(&c->mu);
                return -ENOMEM;
        }
        memcpy(e->key, key, sizeof(key));
        e->refs = 1;
        e->next = c->head;
        c->head = e;
        c->misses++;
        pthread_mutex_unlock(&c->mu);

        uint8_t *z = NULL;
        size_t zlen = 0;
        int r = esp_deflate(data, len, &z, &zlen);

        pthread_mutex_lock(&c->mu);
        if (r == 0) {
                e->z = z;
                e->zlen = zlen;
                e->used = ++c->clock;
                c->bytes += zlen;
                r = copy_out(e, out, out_len);
        } else {
                e->failed = true;
        }
        e->refs--;
        pthread_cond_broadcast(&c->cv);
        if (e->failed && !e->refs)
                unlink_entry(c, e);
        else
                evict(c);
        pthread_mutex_unlock(&c->mu);
        if (r == 0 && ret_hit)
                *ret_hit = 0;
        return r;
}

void esp_zcache_stats(struct esp_zcache *c, uint64_t *ret_hits, uint64_t *ret_misses)
{
        pthread_mutex_lock(&c->mu);
        if (ret_hits)
                *ret_hits = c->hits;
        if (ret_misses)
                *ret_misses = c->misses;
        pthread_mutex_unlock(&c->mu);
}
