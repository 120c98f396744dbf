/* Job kind "flash": write one or more binaries to an ESP board through its ROM loader (or the
 * flasher stub): connect, identify, prepare, write, verify, hard reset. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engines/esp_flash.h"
#include "engines/esp_image.h"
#include "engines/esp_rom.h"
#include "firmware.h"
#include "engines/esp_zcache.h"
#include "jobs/job_esp.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"

#define FLASH_FILE_MAX (64u << 20)
/* Compressed images kept for boards flashed with the same bytes (in parallel or one after the
 * other): bounded, least recently used out first. */
#define ZCACHE_MAX_BYTES (64u << 20)

static const char *const sizes[] = { "keep", "detect", "256KB", "512KB", "1MB", "2MB", "2MB-c1",
                                     "4MB", "4MB-c1", "8MB", "16MB", "32MB", "64MB", "128MB", NULL };
static const char *const modes[] = { "keep", "qio", "qout", "dio", "dout", NULL };
static const char *const freqs[] = { "keep", "12m", "15m", "16m", "20m", "24m", "26m", "30m",
                                     "40m", "48m", "60m", "80m", NULL };

static bool one_of(const char *s, const char *const *set)
{
        for (size_t i = 0; set[i]; i++)
                if (!strcmp(s, set[i]))
                        return true;
        return false;
}

static int check_str(const json_t *params, const char *key, const char *const *set, char *msg,
                     size_t size)
{
        json_t *v = json_object_get(params, key);
        if (!v)
                return 0;
        if (!json_is_string(v) || !one_of(json_string_value(v), set)) {
                size_t o = (size_t)snprintf(msg, size, "'%s' must be one of:", key);
                for (size_t i = 0; set[i] && o < size; i++)
                        o += (size_t)snprintf(msg + o, size - o, "%s %s", i ? "," : "", set[i]);
                return -EINVAL;
        }
        return 0;
}

static int check_file(const char *what, const json_t *path, char *msg, size_t size)
{
        struct stat st;
        if (!json_is_string(path) || json_string_value(path)[0] != '/') {
                snprintf(msg, size, "%s: 'path' must be an absolute file path", what);
                return -EINVAL;
        }
        const char *p = json_string_value(path);
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(msg, size, "%s: %s is not a readable file", what, p);
                return -EBADMSG;
        }
        if (st.st_size == 0 || (uint64_t)st.st_size > FLASH_FILE_MAX) {
                snprintf(msg, size, "%s: %s is %s", what, p, st.st_size ? "larger than 64 MiB" : "empty");
                return -EBADMSG;
        }
        return 0;
}

static int check_offset(const char *what, const json_t *off, char *msg, size_t size)
{
        if (off && (!json_is_integer(off) || json_integer_value(off) < 0 ||
                    json_integer_value(off) > 0x10000000)) {
                snprintf(msg, size, "%s: 'offset' must be an integer between 0 and 0x10000000", what);
                return -EINVAL;
        }
        return 0;
}

/* Shared by flash and erase: reset / stub_dir / baud. */
int job_esp_check_common(const json_t *params, char *msg, size_t size)
{
        static const char *const resets[] = { "auto", "classic", "unix_tight", "usb_jtag", "none", NULL };
        int e = check_str(params, "reset", resets, msg, size);
        if (e < 0)
                return e;
        json_t *sd = json_object_get(params, "stub_dir");
        if (sd && (!json_is_string(sd) || json_string_value(sd)[0] != '/')) {
                snprintf(msg, size, "'stub_dir' must be an absolute directory path");
                return -EINVAL;
        }
        json_t *b = json_object_get(params, "baud");
        if (b && (!json_is_integer(b) || json_integer_value(b) < 9600 || json_integer_value(b) > 4000000)) {
                snprintf(msg, size, "'baud' must be an integer between 9600 and 4000000");
                return -EINVAL;
        }
        return 0;
}

static int flash_check(const json_t *params, char *msg, size_t size)
{
        static const char *const verifies[] = { "md5", "readback", "none", NULL };
        static const char *const compress[] = { "auto", "on", "off", NULL };
        if (!json_is_object(params)) {
                snprintf(msg, size, "Parameters must be an object with 'parts' or 'image_path'");
                return -EINVAL;
        }
        json_t *parts = json_object_get(params, "parts"), *img = json_object_get(params, "image_path");
        json_t *fw = json_object_get(params, "firmware");
        int e;
        if (parts && img) {
                snprintf(msg, size, "Give either 'parts' or 'image_path', not both");
                return -EINVAL;
        }
        if (fw && (parts || img)) {
                snprintf(msg, size, "Give either 'firmware' or '%s', not both", parts ? "parts" : "image_path");
                return -EINVAL;
        }
        if (fw) {
                if (!json_is_string(fw) || !firmware_id_valid(json_string_value(fw))) {
                        snprintf(msg, size, "'firmware' must be a firmware id (64 hex digits) from POST /api/v1/firmware");
                        return -EINVAL;
                }
                if ((e = check_offset("firmware", json_object_get(params, "offset"), msg, size)) < 0)
                        return e;
        } else if (img) {
                if ((e = check_file("image_path", img, msg, size)) < 0 ||
                    (e = check_offset("image_path", json_object_get(params, "offset"), msg, size)) < 0)
                        return e;
        } else if (json_is_array(parts) && json_array_size(parts) > 0) {
                if (json_array_size(parts) > ESP_FLASH_MAX_PARTS) {
                        snprintf(msg, size, "At most %d parts", ESP_FLASH_MAX_PARTS);
                        return -EINVAL;
                }
                size_t i;
                json_t *p;
                json_array_foreach(parts, i, p) {
                        char what[32];
                        snprintf(what, sizeof(what), "parts[%zu]", i);
                        json_t *off = json_object_get(p, "offset");
                        if (!json_is_object(p) || !off) {
                                snprintf(msg, size, "%s must be {\"offset\": N, \"path\": \"/abs/file.bin\"}", what);
                                return -EINVAL;
                        }
                        if ((e = check_offset(what, off, msg, size)) < 0 ||
                            (e = check_file(what, json_object_get(p, "path"), msg, size)) < 0)
                                return e;
                }
        } else {
                snprintf(msg, size, "Nothing to flash: give 'firmware' (an id), 'parts' [{\"offset\", \"path\"}] or "
                         "'image_path'");
                return -EINVAL;
        }
        if ((e = check_str(params, "flash_mode", modes, msg, size)) < 0 ||
            (e = check_str(params, "flash_size", sizes, msg, size)) < 0 ||
            (e = check_str(params, "flash_freq", freqs, msg, size)) < 0 ||
            (e = check_str(params, "verify", verifies, msg, size)) < 0)
                return e;
        json_t *c = json_object_get(params, "compress");
        if (c && !json_is_boolean(c) && (e = check_str(params, "compress", compress, msg, size)) < 0)
                return e;
        static const char *const bools[] = { "erase", "skip_unchanged", NULL };
        for (size_t i = 0; bools[i]; i++) {
                json_t *b = json_object_get(params, bools[i]);
                if (b && !json_is_boolean(b)) {
                        snprintf(msg, size, "'%s' must be true or false", bools[i]);
                        return -EINVAL;
                }
        }
        return job_esp_check_common(params, msg, size);
}

/* A firmware id must name a file in the library (HTTP 422 otherwise). */
static int flash_check_store(const json_t *params, struct store *store, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "firmware"));
        char path[640];
        if (!id || firmware_path(store, id, path, sizeof(path)) == 0)
                return 0;
        snprintf(msg, size, "unknown firmware id %s: upload it first (POST /api/v1/firmware)", id);
        return -EBADMSG;
}

/* Connect options from params and board hints. */
void job_esp_connect_opts(struct job_run *jr, struct esp_connect_opts *o)
{
        const json_t *params = jr_params(jr);
        memset(o, 0, sizeof(*o));
        const char *r = json_string_value(json_object_get(params, "reset"));
        if (!r) {
                /* USB-Serial/JTAG (303a:1001) needs its own sequence. */
                const char *vid = json_string_value(json_object_get(jr_board_hints(jr), "vid"));
                const char *pid = json_string_value(json_object_get(jr_board_hints(jr), "pid"));
                r = vid && pid && !strcasecmp(vid, "303a") && !strcasecmp(pid, "1001") ? "usb_jtag" : "auto";
        }
        o->reset = !strcmp(r, "classic") ? ESP_RESET_CLASSIC
                   : !strcmp(r, "unix_tight") ? ESP_RESET_UNIX_TIGHT
                   : !strcmp(r, "usb_jtag") ? ESP_RESET_USB_JTAG
                   : !strcmp(r, "none") ? ESP_RESET_NONE
                   : ESP_RESET_AUTO;
        /* rfc2217 and raw sockets: esptool uses the classic sequence there. */
        struct port *p = jr_port(jr);
        if (o->reset == ESP_RESET_AUTO && p && p->url && strncmp(p->url, "/dev/", 5) != 0)
                o->reset = ESP_RESET_CLASSIC;
        o->stub_dir = json_string_value(json_object_get(params, "stub_dir"));
        if (!o->stub_dir)
                o->stub_dir = json_string_value(json_object_get(jr_board_hints(jr), "stub_dir"));
}

/* Report the loader's facts; returns them (borrowed by the caller to free). */
void job_esp_report_facts(struct job_run *jr, const struct esp_loader *l)
{
        json_t *facts = esp_loader_facts(l);
        const char *k;
        json_t *v;
        json_object_foreach(facts, k, v)
                jr_fact(jr, k, json_incref(v));
        jr_result_set(jr, "facts", facts);
        char mac[18] = "?";
        if (l->have_mac)
                esp_format_mac(l->mac, mac);
        jr_log(jr, "Chip is %s, MAC %s, flash %06x (%u KiB), crystal %u MHz%s", l->description, mac,
               l->flash_id, l->flash_size / 1024, l->xtal_mhz, l->stub ? ", stub running" : "");
        if (l->note[0])
                jr_log(jr, "%s", l->note);
}

/* Record an engine failure; returns the engine's errno when the worker must act on it (board
 * gone: close the port; cancelled) and -EIO otherwise. */
int job_esp_fail(struct job_run *jr, int e, const struct esp_loader *l)
{
        jr_fail(jr, job_esp_fail_code(e), "%s", esp_loader_msg(l));
        return e == -ENODEV || e == -ECANCELED ? e : -EIO;
}

/* "board_gone", "esp_no_answer", ... for a failed step. */
const char *job_esp_fail_code(int e)
{
        switch (e) {
        case -ENODEV: return "board_gone";
        case -ECANCELED: return "cancelled";
        case -ETIMEDOUT: return "esp_no_answer";
        case -EINVAL: return "invalid";
        case -EIO: return "flash_failed";
        default: return "esp_error";
        }
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len, char *msg, size_t size)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(msg, size, "Cannot open %s: %s", path, strerror(errno));
                return -errno;
        }
        struct stat st;
        if (fstat(fileno(f), &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > FLASH_FILE_MAX) {
                fclose(f);
                snprintf(msg, size, "%s is empty or larger than 64 MiB", path);
                return -EFBIG;
        }
        uint8_t *b = malloc((size_t)st.st_size);
        size_t n = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
        fclose(f);
        if (!b || n != (size_t)st.st_size) {
                free(b);
                snprintf(msg, size, "Reading %s failed", path);
                return -EIO;
        }
        *ret = b;
        *ret_len = n;
        return 0;
}

struct ctx {
        struct job_run *jr;
        int last_pct;
        unsigned zcache_hits;
};

static void on_progress(void *user, const char *phase, int pct, uint64_t done, uint64_t total,
                        double kbps)
{
        struct ctx *c = user;
        int base = 10, span = 80;
        if (!strcmp(phase, "erasing"))
                base = 5, span = 5;
        else if (!strcmp(phase, "verifying"))
                base = 90, span = 8;
        else if (!strcmp(phase, "resetting"))
                base = 98, span = 2;
        int overall = base + span * pct / 100;
        if (overall < c->last_pct)
                overall = c->last_pct; /* never backwards */
        jr_progress_bytes(c->jr, overall, phase, done, total, kbps);
        c->last_pct = overall;
}

/* The daemon-wide cache of compressed images. The job API has no daemon context to hang it on,
 * so it is the one process-wide object of this file: created once, thread-safe, bounded. */
static pthread_once_t zcache_once = PTHREAD_ONCE_INIT;
static struct esp_zcache *zcache;

static void zcache_init(void)
{
        if (esp_zcache_new(ZCACHE_MAX_BYTES, &zcache) < 0)
                zcache = NULL;
}

static int cached_deflate(void *user, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
        struct ctx *c = user;
        pthread_once(&zcache_once, zcache_init);
        if (!zcache)
                return esp_deflate(data, len, out, out_len);
        int hit = 0;
        int e = esp_zcache_get(zcache, data, len, out, out_len, &hit);
        if (e == 0 && hit)
                c->zcache_hits++;
        return e;
}

/* Before any reset: when an earlier job learned the board's chip, an image for another chip fails
 * at once. Returns 0 (fine or unknown) or jr_fail(). */
static int check_known_chip(struct job_run *jr, const struct esp_flash_part *parts, size_t n)
{
        const char *name = json_string_value(json_object_get(jr_board_facts(jr), "chip"));
        const struct esp_chip *chip = name ? esp_chip_by_name(name) : NULL;
        if (!chip)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char m[200];
                if (esp_image_check(parts[i].data, parts[i].len, chip, -1, m, sizeof(m)) == -EINVAL)
                        return jr_fail(jr, "wrong_chip", "%s: %s (chip known from an earlier "
                                       "job; nothing was written, the board was not reset)",
                                       parts[i].name ? parts[i].name : "image", m);
        }
        return 0;
}

static void on_log(void *user, const char *line)
{
        jr_log(((struct ctx *)user)->jr, "%s", line);
}

static enum esp_compress compress_opt(const json_t *v)
{
        if (json_is_boolean(v))
                return json_is_true(v) ? ESP_COMPRESS_ON : ESP_COMPRESS_OFF;
        const char *s = json_string_value(v);
        return !s || !strcmp(s, "auto") ? ESP_COMPRESS_AUTO : !strcmp(s, "on") ? ESP_COMPRESS_ON : ESP_COMPRESS_OFF;
}

static json_t *result_parts(const struct esp_flash_result *r)
{
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_parts; i++) {
                const struct esp_flash_part_result *p = &r->parts[i];
                json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:s, s:b, s:b}", "offset",
                                                   (json_int_t)p->offset, "length", (json_int_t)p->len,
                                                   "compressed", (json_int_t)p->compressed_len, "md5",
                                                   p->md5, "skipped", p->skipped, "verified", p->verified));
        }
        return a;
}

static int flash_run(struct job_run *jr)
{
        const json_t *params = jr_params(jr);
        struct esp_flash_part parts[ESP_FLASH_MAX_PARTS];
        uint8_t *bufs[ESP_FLASH_MAX_PARTS] = { 0 };
        size_t n = 0;
        char msg[512];
        int e = 0;
        struct esp_loader *l = NULL;
        memset(parts, 0, sizeof(parts));
        /* Load the files first: a missing file must not cost a reset. */
        json_t *img = json_object_get(params, "image_path");
        const char *fw_id = json_string_value(json_object_get(params, "firmware"));
        char fw_path[640], fw_name[24];
        uint32_t fw_off = 0;
        if (fw_id && firmware_resolve(jr_store(jr), fw_id, fw_path, sizeof(fw_path), &fw_off) < 0) {
                e = jr_fail(jr, "unknown_firmware", "Firmware %s is not (or no longer) in the firmware library", fw_id);
                goto out;
        }
        if (img || fw_id) {
                const char *path = fw_id ? fw_path : json_string_value(img);
                json_t *off = json_object_get(params, "offset");
                e = read_file(path, &bufs[0], &parts[0].len, msg, sizeof(msg));
                parts[0].offset = off || !fw_id ? (uint32_t)json_integer_value(off) : fw_off;
                snprintf(fw_name, sizeof(fw_name), "fw-%.12s", fw_id ? fw_id : "");
                parts[0].name = fw_id ? fw_name : strrchr(path, '/') + 1;
                n = e == 0;
                if (fw_id && e == 0)
                        jr_log(jr, "Firmware %.12s from the library, %zu bytes at 0x%x", fw_id, parts[0].len,
                               parts[0].offset);
        } else {
                size_t i;
                json_t *p;
                json_array_foreach(json_object_get(params, "parts"), i, p) {
                        if (i >= ESP_FLASH_MAX_PARTS)
                                break;
                        const char *path = json_string_value(json_object_get(p, "path"));
                        e = path ? read_file(path, &bufs[i], &parts[i].len, msg, sizeof(msg)) : -EINVAL;
                        if (e < 0)
                                break;
                        parts[i].offset = (uint32_t)json_integer_value(json_object_get(p, "offset"));
                        parts[i].name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
                        n = i + 1;
                }
        }
        if (e < 0) {
                e = jr_fail(jr, "file_unreadable", "%s", msg);
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                parts[i].data = bufs[i];
        if ((e = check_known_chip(jr, parts, n)) < 0)
                goto out;

        struct esp_connect_opts co;
        job_esp_connect_opts(jr, &co);
        if ((e = esp_loader_new(jr_port(jr), &l)) < 0) {
                e = jr_fail(jr, "internal", "Out of memory");
                goto out;
        }
        jr_progress(jr, 0, "connecting");
        e = esp_loader_prepare(l, &co);
        if (e < 0) {
                e = job_esp_fail(jr, e, l);
                goto out;
        }
        job_esp_report_facts(jr, l);
        jr_progress(jr, 5, "connecting");

        struct ctx c = { .jr = jr, .last_pct = -1 };
        const char *verify = json_string_value(json_object_get(params, "verify"));
        json_t *baud = json_object_get(params, "baud");
        struct esp_flash_opts fo = {
                .flash_mode = json_string_value(json_object_get(params, "flash_mode")),
                .flash_size = json_string_value(json_object_get(params, "flash_size")),
                .flash_freq = json_string_value(json_object_get(params, "flash_freq")),
                .erase_all = json_is_true(json_object_get(params, "erase")),
                .compress = compress_opt(json_object_get(params, "compress")),
                .verify = !verify || !strcmp(verify, "md5") ? ESP_VERIFY_MD5
                          : !strcmp(verify, "readback") ? ESP_VERIFY_READBACK : ESP_VERIFY_NONE,
                .baud = baud ? (unsigned)json_integer_value(baud) : 0,
                .skip_unchanged = !json_is_false(json_object_get(params, "skip_unchanged")),
                .no_reset = co.reset == ESP_RESET_NONE,
                .progress = on_progress,
                .log = on_log,
                .deflate = cached_deflate,
                .user = &c,
        };
        struct esp_flash_result r;
        e = esp_flash_write(l, parts, n, &fo, &r);
        jr_result_set(jr, "parts", result_parts(&r));
        jr_result_set(jr, "bytes_written", json_integer((json_int_t)r.bytes_written));
        jr_result_set(jr, "bytes_skipped", json_integer((json_int_t)r.bytes_skipped));
        jr_result_set(jr, "skip_unchanged", json_string(r.skip));
        if (e < 0) {
                e = job_esp_fail(jr, e, l);
                goto out;
        }
        jr_result_set(jr, "seconds", json_real(r.seconds));
        jr_result_set(jr, "kbit_per_s", json_real(r.kbps));
        jr_result_set(jr, "verify", json_string(r.verify));
        jr_result_set(jr, "patched_header", json_boolean(r.patched));
        jr_result_set(jr, "loader", json_string(l->stub ? "stub" : "rom"));
        jr_result_set(jr, "compressed_from_cache", json_integer(c.zcache_hits));
        if (c.zcache_hits)
                jr_log(jr, "%u compressed part(s) came from the cache (the same image was compressed "
                       "for another flash)", c.zcache_hits);
        jr_log(jr, "Flashed %llu bytes (%llu skipped) in %.1f s, %.1f kbit/s effective; verify: %s",
               (unsigned long long)r.bytes_written, (unsigned long long)r.bytes_skipped, r.seconds,
               r.kbps, r.verify);
        jr_progress(jr, 100, "done");
        e = 0;
out:
        esp_loader_free(l);
        for (size_t i = 0; i < ESP_FLASH_MAX_PARTS; i++)
                free(bufs[i]);
        return e;
}

const struct job_kind job_kind_flash = {
        .name = "flash",
        .summary = "write firmware to an ESP board through its ROM loader (firmware id, parts or image_path)",
        .default_timeout_s = 900,
        .check = flash_check,
        .check_store = flash_check_store,
        .run = flash_run,
};
