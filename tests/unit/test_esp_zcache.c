/* The compressed-image cache: one compression per distinct image even when several threads ask at
 * once, copies identical to esp_deflate(), and its byte bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engines/esp/esp_flash.h"
#include "firmware/zcache.h"

static uint8_t *pattern(size_t n, unsigned seed)
{
        uint8_t *b = malloc(n);
        uint32_t x = seed * 2654435761u + 1;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                b[i] = (i % 3 == 0) ? (uint8_t)(x >> 16) : (uint8_t)(i / 61);
        }
        return b;
}

static void a_hit_returns_the_same_stream_as_esp_deflate(void **state)
{
        (void)state;
        struct esp_zcache *c;
        assert_int_equal(esp_zcache_new(1 << 20, &c), 0);
        uint8_t *img = pattern(100000, 1), *z1, *z2, *want;
        size_t n1, n2, nw;
        int hit = -1;
        assert_int_equal(esp_zcache_get(c, img, 100000, &z1, &n1, &hit), 0);
        assert_int_equal(hit, 0);
        assert_int_equal(esp_zcache_get(c, img, 100000, &z2, &n2, &hit), 0);
        assert_int_equal(hit, 1);
        assert_int_equal(esp_deflate(img, 100000, &want, &nw), 0);
        assert_int_equal(n1, nw);
        assert_int_equal(n2, nw);
        assert_memory_equal(z1, want, nw);
        assert_memory_equal(z2, want, nw);
        free(z1), free(z2), free(want), free(img);
        esp_zcache_free(c);
}

struct worker_arg {
        struct esp_zcache *c;
        const uint8_t *img;
        size_t len;
        int rc;
        size_t zlen;
};

static void *worker(void *p)
{
        struct worker_arg *a = p;
        uint8_t *z = NULL;
        a->rc = esp_zcache_get(a->c, a->img, a->len, &z, &a->zlen, NULL);
        free(z);
        return NULL;
}

static void parallel_callers_compress_an_image_once(void **state)
{
        (void)state;
        struct esp_zcache *c;
        assert_int_equal(esp_zcache_new(8 << 20, &c), 0);
        uint8_t *img = pattern(1 << 20, 2);
        pthread_t t[8];
        struct worker_arg a[8];
        for (int i = 0; i < 8; i++) {
                a[i] = (struct worker_arg){ .c = c, .img = img, .len = 1 << 20 };
                pthread_create(&t[i], NULL, worker, &a[i]);
        }
        for (int i = 0; i < 8; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(a[i].rc, 0);
                assert_int_equal(a[i].zlen, a[0].zlen);
        }
        uint64_t hits, misses;
        esp_zcache_stats(c, &hits, &misses);
        assert_int_equal(misses, 1);
        assert_int_equal(hits, 7);
        free(img);
        esp_zcache_free(c);
}

static void beyond_its_bound_the_least_recently_used_image_is_dropped(void **state)
{
        (void)state;
        uint8_t *a = pattern(200000, 3), *b = pattern(200000, 4), *z;
        size_t za, zb;
        assert_int_equal(esp_deflate(a, 200000, &z, &za), 0);
        free(z);
        assert_int_equal(esp_deflate(b, 200000, &z, &zb), 0);
        free(z);
        struct esp_zcache *c;
        assert_int_equal(esp_zcache_new(za + zb - 1, &c), 0); /* room for one of them */
        size_t n;
        int hit;
        assert_int_equal(esp_zcache_get(c, a, 200000, &z, &n, &hit), 0);
        free(z);
        assert_int_equal(esp_zcache_get(c, b, 200000, &z, &n, &hit), 0);
        free(z);
        assert_int_equal(esp_zcache_get(c, b, 200000, &z, &n, &hit), 0);
        free(z);
        assert_int_equal(hit, 1);
        assert_int_equal(esp_zcache_get(c, a, 200000, &z, &n, &hit), 0);
        free(z);
        assert_int_equal(hit, 0);
        free(a), free(b);
        esp_zcache_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_hit_returns_the_same_stream_as_esp_deflate),
                cmocka_unit_test(parallel_callers_compress_an_image_once),
                cmocka_unit_test(beyond_its_bound_the_least_recently_used_image_is_dropped),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
