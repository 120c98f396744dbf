/* Sector-diff flashing, pure parts: sector hashes, differing runs (dense cut-off), and the
 * flash_record JSON round trip with malformed entries refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engines/esp/esp_diff.h"

static uint8_t *image(size_t len, unsigned seed)
{
        uint8_t *d = malloc(len);
        for (size_t i = 0; i < len; i++)
                d[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
        return d;
}

static void runs_of_changed_sectors(void **state)
{
        (void)state;
        size_t len = 40 * 4096 + 100; /* 41 sectors, the last short */
        uint8_t *a = image(len, 1), *b = image(len, 1), *ha, *hb;
        size_t na, nb, nr;
        uint32_t runs[ESP_DIFF_MAX_RUNS + 1][2];
        b[5 * 4096 + 7] ^= 1;                 /* sector 5 */
        b[6 * 4096] ^= 1;                     /* sector 6: same run */
        b[len - 1] ^= 1;                      /* the short last sector 40 */
        assert_int_equal(esp_diff_hash(a, len, &ha, &na), 0);
        assert_int_equal(esp_diff_hash(b, len, &hb, &nb), 0);
        assert_int_equal(na, 41);
        assert_int_equal(esp_diff_runs(hb, nb, ha, na, runs, ESP_DIFF_MAX_RUNS, &nr), 3);
        assert_int_equal(nr, 2);
        assert_int_equal(runs[0][0], 5);
        assert_int_equal(runs[0][1], 2);
        assert_int_equal(runs[1][0], 40);
        assert_int_equal(runs[1][1], 1);
        /* Identical: nothing. */
        assert_int_equal(esp_diff_runs(ha, na, ha, na, runs, ESP_DIFF_MAX_RUNS, &nr), 0);
        assert_int_equal(nr, 0);
        /* Longer than the record: the new sectors always differ. */
        assert_int_equal(esp_diff_runs(ha, na, ha, 30, runs, ESP_DIFF_MAX_RUNS, &nr), 11);
        assert_int_equal(nr, 1);
        assert_int_equal(runs[0][0], 30);
        /* More runs than allowed: reported as max + 1. */
        uint8_t *c = image(len, 1), *hc;
        size_t nc;
        for (size_t s = 0; s < 41; s += 2)
                c[s * 4096] ^= 1;
        assert_int_equal(esp_diff_hash(c, len, &hc, &nc), 0);
        assert_int_equal(esp_diff_runs(hc, nc, ha, na, runs, 4, &nr), 21);
        assert_int_equal(nr, 5);
        free(a), free(b), free(c), free(ha), free(hb), free(hc);
}

static void record_round_trip_and_bad_input(void **state)
{
        (void)state;
        size_t len = 3 * 4096 + 12;
        uint8_t *a = image(len, 7), *h, md5[16];
        size_t n;
        memset(md5, 0xab, sizeof(md5));
        assert_int_equal(esp_diff_hash(a, len, &h, &n), 0);
        json_t *j = esp_diff_record_json(0x10000, (uint32_t)len, md5, h, n);
        assert_non_null(j);
        struct esp_flash_record r;
        assert_int_equal(esp_diff_record_parse(j, &r), 0);
        assert_int_equal(r.offset, 0x10000);
        assert_int_equal(r.len, len);
        assert_int_equal(r.n_sectors, 4);
        assert_memory_equal(r.sectors, h, n * ESP_DIFF_HASH);
        assert_memory_equal(r.md5, md5, 16);
        esp_diff_record_clear(&r);
        esp_diff_record_clear(NULL);
        /* Sector string of the wrong length, bad hex, missing fields, negative offset. */
        json_object_set_new(j, "sectors", json_string("abcd"));
        assert_int_equal(esp_diff_record_parse(j, &r), -EINVAL);
        json_decref(j);
        const char *bad[] = { "{}", "{\"offset\":-1,\"length\":4096,\"md5\":\"00000000000000000000000000000000\",\"sectors\":\"0000000000000000\"}",
                              "{\"offset\":0,\"length\":4096,\"md5\":\"zz000000000000000000000000000000\",\"sectors\":\"0000000000000000\"}",
                              "{\"offset\":0,\"length\":4096,\"md5\":\"00000000000000000000000000000000\",\"sectors\":\"000000000000000g\"}" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *b = json_loads(bad[i], 0, NULL);
                assert_int_equal(esp_diff_record_parse(b, &r), -EINVAL);
                assert_null(r.sectors);
                json_decref(b);
        }
        free(a), free(h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(runs_of_changed_sectors),
                cmocka_unit_test(record_round_trip_and_bad_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
