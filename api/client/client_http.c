/* The CLI's HTTP side: one libcurl handle (kept alive), JSON bodies in and out, the lease and
 * auth headers, and corrald's error answers turned into messages and exit codes. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
        char *data;
        size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
        struct buf *b = user;
        size_t n = size * nmemb;
        char *nd = realloc(b->data, b->len + n + 1);
        if (!nd)
                return 0;
        memcpy(nd + b->len, ptr, n);
        b->len += n;
        nd[b->len] = '\0';
        b->data = nd;
        return n;
}

void cli_resp_clear(struct cli_resp *r)
{
        json_decref(r->body);
        r->body = NULL;
        r->status = 0;
}

int cli_call_raw(struct cli *c, const char *method, const char *path, const void *data, size_t len,
                 const char *content_type, long timeout_s, struct cli_resp *ret)
{
        if (!c->curl)
                c->curl = curl_easy_init();
        CURL *h = c->curl;
        if (!h) {
                fprintf(stderr, "corral: cannot initialise libcurl\n");
                return CLI_FARM;
        }
        curl_easy_reset(h);
        char url[2048], hdr[512];
        snprintf(url, sizeof(url), "%s%s", c->server, path);
        struct curl_slist *hs = NULL;
        if (content_type) {
                snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
                hs = curl_slist_append(hs, hdr);
        }
        if (c->token && *c->token) {
                snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", c->token);
                hs = curl_slist_append(hs, hdr);
        }
        if (c->lease[0]) {
                snprintf(hdr, sizeof(hdr), "X-Corral-Lease: %s", c->lease);
                hs = curl_slist_append(hs, hdr);
        }
        hs = curl_slist_append(hs, "Expect:"); /* no 100-continue round trip for uploads */
        struct buf b = { 0 };
        char err[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 30L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (data) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        } else if (!strcmp(method, "POST")) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        }
        CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(hs);
        if (rc != CURLE_OK) {
                fprintf(stderr, "corral: cannot reach corrald at %s: %s\n", c->server, err[0] ? err : curl_easy_strerror(rc));
                free(b.data);
                return CLI_FARM;
        }
        memset(ret, 0, sizeof(*ret));
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
        if (b.data)
                ret->body = json_loadb(b.data, b.len, JSON_ALLOW_NUL, NULL); /* board output may hold \u0000 */
        free(b.data);
        return 0;
}

int cli_call(struct cli *c, const char *method, const char *path, const json_t *body, long timeout_s,
             struct cli_resp *ret)
{
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        int r = cli_call_raw(c, method, path, text, text ? strlen(text) : 0, text ? "application/json" : NULL,
                             timeout_s, ret);
        free(text);
        return r;
}

int cli_fail(struct cli *c, const char *what, const struct cli_resp *r)
{
        json_t *e = json_object_get(r->body, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (c->json && r->body) {
                json_dumpf(r->body, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        }
        if (msg)
                fprintf(stderr, "corral: %s: %s (%s, HTTP %ld)\n", what, msg, code ? code : "error", r->status);
        else
                fprintf(stderr, "corral: %s: corrald answered HTTP %ld\n", what, r->status);
        return r->status == 400 || r->status == 422 ? CLI_USAGE : CLI_FARM;
}

void cli_escape(const char *s, char *out, size_t size)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (; *s && o + 4 < size; s++) {
                unsigned char ch = (unsigned char)*s;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '_' || ch == '.' || ch == '~') {
                        out[o++] = (char)ch;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[ch >> 4];
                        out[o++] = hex[ch & 15];
                }
        }
        out[o] = '\0';
}

int cli_read_file(const char *path, char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return -errno;
        char *data = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 65536 + 1 > cap) {
                        cap = cap ? cap * 2 : 131072;
                        char *nd = realloc(data, cap);
                        if (!nd) {
                                free(data);
                                fclose(f);
                                return -ENOMEM;
                        }
                        data = nd;
                }
                size_t n = fread(data + len, 1, 65536, f);
                len += n;
                if (n < 65536)
                        break;
        }
        int bad = ferror(f);
        fclose(f);
        if (bad) {
                free(data);
                return -EIO;
        }
        data[len] = '\0';
        *ret = data;
        *ret_len = len;
        return 0;
}

long long cli_lease_id(const char *token)
{
        if (!token || strncmp(token, "cl-", 3))
                return -1;
        char *end;
        long long id = strtoll(token + 3, &end, 10);
        return end != token + 3 && *end == '-' && id > 0 ? id : -1;
}
