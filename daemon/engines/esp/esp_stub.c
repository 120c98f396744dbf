/* Flasher stub loading (JSON + base64 via jansson/libcrypto) and upload over MEM_* commands. */
#include "engines/esp/esp_stub.h"
#include "engines/esp/esp_flashcmd.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct esp_stub *esp_stub_free(struct esp_stub *s)
{
        if (!s)
                return NULL;
        free(s->text);
        free(s->data);
        free(s);
        return NULL;
}

static int b64(const char *in, uint8_t **out, size_t *out_len)
{
        size_t n = strlen(in);
        if (n % 4 || n > (1u << 26))
                return -EBADMSG;
        uint8_t *buf = malloc(n / 4 * 3 + 1);
        if (!buf)
                return -ENOMEM;
        int r = n ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n) : 0;
        if (r < 0) {
                free(buf);
                return -EBADMSG;
        }
        size_t len = (size_t)r;
        /* EVP_DecodeBlock keeps the zero bytes that '=' padding stands for. */
        if (n && in[n - 1] == '=')
                len--;
        if (n > 1 && in[n - 2] == '=')
                len--;
        *out = buf;
        *out_len = len;
        return 0;
}

int esp_stub_parse(const char *json, size_t len, struct esp_stub **ret, char *msg, size_t msg_size)
{
        json_error_t jerr;
        json_t *root = json_loadb(json, len, 0, &jerr);
        if (!root) {
                snprintf(msg, msg_size, "Stub JSON is invalid: %s (line %d)", jerr.text, jerr.line);
                return -EBADMSG;
        }
        struct esp_stub *s = calloc(1, sizeof(*s));
        int e = -EBADMSG;
        if (!s) {
                e = -ENOMEM;
                goto out;
        }
        json_t *entry = json_object_get(root, "entry"), *ts = json_object_get(root, "text_start"),
               *text = json_object_get(root, "text"), *ds = json_object_get(root, "data_start"),
               *data = json_object_get(root, "data");
        if (!json_is_integer(entry) || !json_is_integer(ts) || !json_is_string(text)) {
                snprintf(msg, msg_size, "Stub JSON lacks entry/text/text_start");
                goto out;
        }
        s->entry = (uint32_t)json_integer_value(entry);
        s->text_start = (uint32_t)json_integer_value(ts);
        if (b64(json_string_value(text), &s->text, &s->text_len) < 0) {
                snprintf(msg, msg_size, "Stub JSON text is not base64");
                goto out;
        }
        if (json_is_string(data) && json_is_integer(ds)) {
                s->data_start = (uint32_t)json_integer_value(ds);
                if (b64(json_string_value(data), &s->data, &s->data_len) < 0) {
                        snprintf(msg, msg_size, "Stub JSON data is not base64");
                        goto out;
                }
        }
        *ret = s;
        s = NULL;
        e = 0;
out:
        esp_stub_free(s);
        json_decref(root);
        return e;
}

int esp_stub_load(const char *dir, const struct esp_chip *chip, struct esp_stub **ret, char *msg,
                  size_t msg_size)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.json", dir, chip->stub_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
                int e = -errno;
                snprintf(msg, msg_size, "No flasher stub for %s (%s: %s)", chip->name, path,
                         strerror(-e));
                return e;
        }
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 65536 > cap) {
                        cap = cap ? cap * 2 : 131072;
                        char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                fclose(f);
                                snprintf(msg, msg_size, "Stub file %s is too large", path);
                                return -EFBIG;
                        }
                        buf = nb;
                }
                size_t n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        fclose(f);
        int e = esp_stub_parse(buf, len, ret, msg, msg_size);
        free(buf);
        return e;
}

static int upload(struct esp_loader *l, const uint8_t *d, size_t len, uint32_t addr)
{
        uint32_t blocks = (uint32_t)((len + ESP_RAM_BLOCK - 1) / ESP_RAM_BLOCK);
        int e = esp_mem_begin(l, (uint32_t)len, blocks, ESP_RAM_BLOCK, addr);
        for (uint32_t seq = 0; e == 0 && seq < blocks; seq++) {
                size_t off = (size_t)seq * ESP_RAM_BLOCK;
                size_t n = len - off < ESP_RAM_BLOCK ? len - off : ESP_RAM_BLOCK;
                e = esp_mem_block(l, d + off, n, seq);
        }
        return e;
}

int esp_stub_run(struct esp_loader *l, const struct esp_stub *s)
{
        int e = upload(l, s->text, s->text_len, s->text_start);
        if (e == 0 && s->data_len)
                e = upload(l, s->data, s->data_len, s->data_start);
        if (e == 0)
                e = esp_mem_end(l, s->entry);
        if (e < 0)
                return esp_loader_fail(l, e, "Uploading the flasher stub failed: %s", l->msg);
        for (int i = 0; i < 4; i++) {
                const uint8_t *f;
                size_t n;
                e = esp_loader_read_frame(l, ESP_DEFAULT_TIMEOUT_MS, &f, &n);
                if (e < 0)
                        return esp_loader_fail(l, e, "Waiting for the flasher stub: %s",
                                               e == -ENODEV ? "the board disappeared" : strerror(-e));
                if (e == 0)
                        break;
                if (n == 4 && memcmp(f, "OHAI", 4) == 0) {
                        l->stub = true;
                        l->status_len = 2;
                        l->block_size = ESP_STUB_BLOCK;
                        return 0;
                }
        }
        return esp_loader_fail(l, -ETIMEDOUT, "The flasher stub did not start (no \"OHAI\")");
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static char default_dir[4096];

static bool is_dir(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void find_default_dir(void)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = '\0';
                char cand[4096 + 32];
                snprintf(cand, sizeof(cand), "%s/../share/corral/stubs", dirname(exe));
                if (is_dir(cand) && realpath(cand, default_dir))
                        return;
        }
        default_dir[0] = '\0';
#ifdef CORRAL_STUB_DIR
        if (is_dir(CORRAL_STUB_DIR))
                snprintf(default_dir, sizeof(default_dir), "%s", CORRAL_STUB_DIR);
#endif
}

const char *esp_stub_default_dir(void)
{
        pthread_once(&default_once, find_default_dir);
        return default_dir[0] ? default_dir : NULL;
}
