/* Sector hashes, differing runs, and the record of what was written, as JSON. */
#include "engines/esp/esp_diff.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int esp_diff_hash(const uint8_t *buf, size_t len, uint8_t **out, size_t *n)
{
        size_t ns = (len + ESP_DIFF_SECTOR - 1) / ESP_DIFF_SECTOR;
        uint8_t *h = malloc(ns ? ns * ESP_DIFF_HASH : 1);
        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < ns; i++) {
                size_t off = i * ESP_DIFF_SECTOR, m = len - off < ESP_DIFF_SECTOR ? len - off : ESP_DIFF_SECTOR;
                uint8_t d[EVP_MAX_MD_SIZE];
                unsigned dl = 0;
                EVP_Digest(buf + off, m, d, &dl, EVP_sha256(), NULL);
                memcpy(h + i * ESP_DIFF_HASH, d, ESP_DIFF_HASH);
        }
        *out = h;
        *n = ns;
        return 0;
}

size_t esp_diff_runs(const uint8_t *newh, size_t n_new, const uint8_t *oldh, size_t n_old, uint32_t (*runs)[2],
                     size_t max_runs, size_t *n_runs)
{
        size_t diff = 0, nr = 0;
        bool in = false;
        for (size_t i = 0; i < n_new; i++) {
                bool d = i >= n_old || memcmp(newh + i * ESP_DIFF_HASH, oldh + i * ESP_DIFF_HASH, ESP_DIFF_HASH);
                if (!d) {
                        in = false;
                        continue;
                }
                diff++;
                if (in) {
                        if (nr <= max_runs)
                                runs[nr - 1][1]++;
                        continue;
                }
                in = true;
                if (nr < max_runs) {
                        runs[nr][0] = (uint32_t)i;
                        runs[nr][1] = 1;
                }
                if (nr <= max_runs)
                        nr++;
        }
        *n_runs = nr;
        return diff;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int nibble(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
        for (size_t i = 0; i < n; i++) {
                int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);
                if (lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

json_t *esp_diff_record_json(uint32_t offset, uint32_t len, const uint8_t md5[16], const uint8_t *sectors,
                             size_t n_sectors)
{
        char m[33];
        char *s = malloc(n_sectors * ESP_DIFF_HASH * 2 + 1);
        if (!s)
                return NULL;
        hex(md5, 16, m);
        hex(sectors, n_sectors * ESP_DIFF_HASH, s);
        s[n_sectors * ESP_DIFF_HASH * 2] = '\0';
        json_t *j = json_pack("{s:I, s:I, s:s, s:s}", "offset", (json_int_t)offset, "length", (json_int_t)len, "md5", m,
                              "sectors", s);
        free(s);
        return j;
}

int esp_diff_record_parse(const json_t *j, struct esp_flash_record *r)
{
        memset(r, 0, sizeof(*r));
        json_t *off = json_object_get(j, "offset"), *len = json_object_get(j, "length");
        const char *m = json_string_value(json_object_get(j, "md5"));
        const char *s = json_string_value(json_object_get(j, "sectors"));
        if (!json_is_integer(off) || !json_is_integer(len) || !m || !s || strlen(m) != 32 ||
            json_integer_value(off) < 0 || json_integer_value(off) > 0x10000000 || json_integer_value(len) <= 0 ||
            json_integer_value(len) > 0x10000000)
                return -EINVAL;
        r->offset = (uint32_t)json_integer_value(off);
        r->len = (uint32_t)json_integer_value(len);
        r->n_sectors = (r->len + ESP_DIFF_SECTOR - 1) / ESP_DIFF_SECTOR;
        if (strlen(s) != r->n_sectors * ESP_DIFF_HASH * 2 || unhex(m, 16, r->md5) < 0)
                return -EINVAL;
        if (!(r->sectors = malloc(r->n_sectors * ESP_DIFF_HASH)))
                return -ENOMEM;
        if (unhex(s, r->n_sectors * ESP_DIFF_HASH, r->sectors) < 0) {
                esp_diff_record_clear(r);
                return -EINVAL;
        }
        return 0;
}

void esp_diff_record_clear(struct esp_flash_record *r)
{
        if (!r)
                return;
        free(r->sectors);
        memset(r, 0, sizeof(*r));
}
