/* Job kind "flash": write one or more binaries to an ESP board through its ROM loader (or the
 * flasher stub): connect, identify, prepare, write, verify; then the boot check, remediation by
 * policy (re-flash as DIO, roll back to the known-good firmware) and the verdict. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engines/esp/bootlog.h"
#include "engines/esp/esp_baud.h"
#include "engines/esp/esp_bootcheck.h"
#include "engines/esp/esp_flash.h"
#include "engines/esp/esp_image.h"
#include "engines/esp/esp_rom.h"
#include "engines/esp/esp_stub.h"
#include "firmware/firmware.h"
#include "firmware/zcache.h"
#include "firmware/hostfile.h"
#include "store/store_firmware.h"
#include "jobs/job_esp.h"
#include "jobs/job_power.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"
#include "udev/usb_ids.h"
#include "util.h"

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

/* A host path is checked for syntax here; whether the caller may read it is check_caller's. */
static int check_path(const char *what, const json_t *path, char *msg, size_t size)
{
        if (!json_is_string(path) || json_string_value(path)[0] != '/') {
                snprintf(msg, size, "%s: 'path' must be an absolute file path on corrald's host (admins only, inside "
                         "firmware_dirs); or use 'firmware' (a library id)", what);
                return -EINVAL;
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
        if (json_object_get(params, "stub_dir")) {
                /* A job must not point the loader at a directory of the host's choosing. */
                snprintf(msg, size, "'stub_dir' is not allowed as a job parameter: the flasher stub directory is set "
                         "in corrald's config (stub_dir = DIR) or with --stub-dir");
                return -EACCES;
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
                if ((e = check_path("image_path", img, msg, size)) < 0 ||
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
                        json_t *pfw = json_object_get(p, "firmware"), *path = json_object_get(p, "path");
                        if (!json_is_object(p) || !off || !!pfw == !!path) {
                                snprintf(msg, size, "%s must be {\"offset\": N, \"firmware\": \"<library id>\"} "
                                         "(or, for an admin, \"path\" inside firmware_dirs instead of \"firmware\")",
                                         what);
                                return -EINVAL;
                        }
                        if ((e = check_offset(what, off, msg, size)) < 0)
                                return e;
                        if (pfw && (!json_is_string(pfw) || !firmware_id_valid(json_string_value(pfw)))) {
                                snprintf(msg, size, "%s: 'firmware' must be a firmware id (64 hex digits) from "
                                         "POST /api/v1/firmware", what);
                                return -EINVAL;
                        }
                        if (path && (e = check_path(what, path, msg, size)) < 0)
                                return e;
                }
        } else {
                snprintf(msg, size, "Nothing to flash: give 'firmware' (a library id) or 'parts' [{\"offset\", "
                         "\"firmware\"}]");
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
        static const char *const bools[] = { "erase", "skip_unchanged", "boot_check", "remediate", NULL };
        for (size_t i = 0; bools[i]; i++) {
                json_t *b = json_object_get(params, bools[i]);
                if (b && !json_is_boolean(b)) {
                        snprintf(msg, size, "'%s' must be true or false", bools[i]);
                        return -EINVAL;
                }
        }
        return job_esp_check_common(params, msg, size);
}

/* A firmware id (the job's, or a part's) must name a file in the library (HTTP 422 otherwise). */
static int flash_check_store(const json_t *params, struct store *store, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "firmware"));
        char path[640];
        size_t i;
        json_t *p;
        if (id && firmware_path(store, id, path, sizeof(path)) < 0)
                goto unknown;
        json_array_foreach(json_object_get(params, "parts"), i, p) {
                id = json_string_value(json_object_get(p, "firmware"));
                if (id && firmware_path(store, id, path, sizeof(path)) < 0)
                        goto unknown;
        }
        return 0;
unknown:
        snprintf(msg, size, "unknown firmware id %s: upload it first (POST /api/v1/firmware)", id);
        return -EBADMSG;
}

/* Host paths (image_path, parts[].path): only an admin, only inside firmware_dirs, opened the way
 * the job will open them. A refusal (-EACCES, HTTP 403) is the same whether the file exists. */
static int flash_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size)
{
        const json_t *paths[ESP_FLASH_MAX_PARTS + 1];
        char whats[ESP_FLASH_MAX_PARTS + 1][32];
        size_t n = 0, i;
        json_t *p;
        if (json_object_get(params, "image_path")) {
                snprintf(whats[n], sizeof(whats[n]), "image_path");
                paths[n++] = json_object_get(params, "image_path");
        }
        json_array_foreach(json_object_get(params, "parts"), i, p) {
                if (n > ESP_FLASH_MAX_PARTS)
                        break;
                if (!json_object_get(p, "path"))
                        continue;
                snprintf(whats[n], sizeof(whats[n]), "parts[%zu]", i);
                paths[n++] = json_object_get(p, "path");
        }
        for (i = 0; i < n; i++) {
                const char *path = json_string_value(paths[i]);
                if (!caller || !caller->host_files) {
                        snprintf(msg, size, "%s: reading files on corrald's host is not allowed for token '%s'; "
                                 "upload the firmware (POST /api/v1/firmware) and flash it by id ('firmware' or "
                                 "parts[].firmware)", whats[i], caller ? caller->name : "?");
                        return -EACCES;
                }
                int fd;
                uint64_t len;
                int e = hostfile_open(caller->firmware_dirs, whats[i], path, FLASH_FILE_MAX, &fd, &len, msg, size);
                if (e == -EACCES)
                        return e;
                if (e < 0)
                        return -EBADMSG;
                close(fd);
        }
        return 0;
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
        /* From corrald's config only (the hints carry it); never a job parameter. Unset: the stubs
         * an install put next to corrald (make install), so an installed corrald is fast. */
        o->stub_dir = json_string_value(json_object_get(jr_board_hints(jr), "stub_dir"));
        if (!o->stub_dir)
                o->stub_dir = esp_stub_default_dir();
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

struct flash_job;
struct ctx {
        struct job_run *jr;
        struct flash_job *fj;
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
                json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:b, s:b}", "offset", (json_int_t)p->offset, "length",
                                      (json_int_t)p->len, "compressed", (json_int_t)p->compressed_len, "md5", p->md5,
                                      "skipped", p->skipped, "verified", p->verified);
                if (p->diff && !p->skipped)
                        json_object_set_new(o, "diff", json_string(p->diff));
                if (p->diff && !strcmp(p->diff, "sectors")) {
                        json_object_set_new(o, "sectors", json_integer((json_int_t)p->sectors));
                        json_object_set_new(o, "sectors_written", json_integer((json_int_t)p->sectors_written));
                }
                json_array_append_new(a, o);
        }
        return a;
}

/* One flash job: the parts it writes, its loader session, and the boot checks after it. */
struct flash_job {
        struct job_run *jr;
        struct esp_connect_opts co;
        struct esp_loader *l;
        struct ctx c;
        struct esp_flash_part parts[ESP_FLASH_MAX_PARTS];
        uint8_t *bufs[ESP_FLASH_MAX_PARTS];
        size_t n;
        const char *fw_id;              /* library id of what was asked for, NULL when paths */
        char names[ESP_FLASH_MAX_PARTS][24]; /* "fw-<12 hex>" for library parts */
        uint8_t *kg_buf;                /* the known-good firmware, when rolled back */
        struct esp_flash_part kg;
        const struct esp_flash_part *cur; /* what is in flash now: parts, or &kg after a rollback */
        size_t cur_n;
        struct esp_bootcheck_capture *cap;
        struct esp_bootcheck_attempt att[ESP_BOOTCHECK_MAX_ATTEMPTS];
        size_t n_att;
        /* The baud: chosen by corral (auto) unless the job names one. */
        bool auto_baud;
        struct esp_baud_plan plan;
        const struct usb_id *bridge;  /* NULL when the port has no VID:PID */
        unsigned remembered, baud_used, baud_failed;
        unsigned next_baud;           /* what pick_baud tries next, 0 = stay */
        /* Sector diff: what corral wrote to this board before (the flash_record fact). */
        struct esp_flash_record records[ESP_FLASH_MAX_PARTS * 2];
        size_t n_records;
        json_t *tried;                /* [{baud, ok, error}] */
        double baud_s;                /* changing the baud, checks, reconnects after a failure */
};

/* Read one part: a library id, else a host path (confined to firmware_dirs again, as at submit:
 * the config or the file system may have changed since). 0 or -errno with msg. */
static int read_part(struct flash_job *fj, size_t i, const char *what, const char *id, const char *path,
                     uint32_t *lib_off, char *msg, size_t size)
{
        struct job_run *jr = fj->jr;
        if (id) {
                char lib[640];
                if (firmware_resolve(jr_store(jr), id, lib, sizeof(lib), lib_off) < 0) {
                        snprintf(msg, size, "Firmware %s is not (or no longer) in the firmware library", id);
                        return -ENOMEDIUM;
                }
                snprintf(fj->names[i], sizeof(fj->names[i]), "fw-%.12s", id);
                fj->parts[i].name = fj->names[i];
                return read_file(lib, &fj->bufs[i], &fj->parts[i].len, msg, size);
        }
        fj->parts[i].name = strrchr(path, '/') + 1;
        return hostfile_read(json_object_get(jr_board_hints(jr), "firmware_dirs"), what, path, FLASH_FILE_MAX,
                             &fj->bufs[i], &fj->parts[i].len, msg, size);
}

/* Read the files (library firmware, image_path or parts) into fj->parts. 0 or jr_fail(). */
static int load_parts(struct flash_job *fj)
{
        struct job_run *jr = fj->jr;
        const json_t *params = jr_params(jr);
        char msg[512];
        int e = 0;
        json_t *img = json_object_get(params, "image_path");
        if (img || fj->fw_id) {
                uint32_t fw_off = 0;
                json_t *off = json_object_get(params, "offset");
                e = read_part(fj, 0, "image_path", fj->fw_id, json_string_value(img), &fw_off, msg, sizeof(msg));
                fj->parts[0].offset = off || !fj->fw_id ? (uint32_t)json_integer_value(off) : fw_off;
                fj->n = e == 0;
                if (fj->fw_id && e == 0)
                        jr_log(jr, "Firmware %.12s from the library, %zu bytes at 0x%x", fj->fw_id,
                               fj->parts[0].len, fj->parts[0].offset);
        } else {
                size_t i;
                json_t *p;
                json_array_foreach(json_object_get(params, "parts"), i, p) {
                        if (i >= ESP_FLASH_MAX_PARTS)
                                break;
                        char what[32];
                        uint32_t ignored;
                        snprintf(what, sizeof(what), "parts[%zu]", i);
                        const char *id = json_string_value(json_object_get(p, "firmware"));
                        const char *path = json_string_value(json_object_get(p, "path"));
                        e = id || path ? read_part(fj, i, what, id, path, &ignored, msg, sizeof(msg)) : -EINVAL;
                        if (e < 0)
                                break;
                        fj->parts[i].offset = (uint32_t)json_integer_value(json_object_get(p, "offset"));
                        fj->n = i + 1;
                }
        }
        if (e < 0)
                return jr_fail(jr, e == -EACCES ? "path_not_allowed" : e == -ENOMEDIUM ? "unknown_firmware"
                                   : "file_unreadable", "%s", msg);
        for (size_t i = 0; i < fj->n; i++)
                fj->parts[i].data = fj->bufs[i];
        return 0;
}

/* (Re)connect to the ROM loader; the first time the board's facts are reported. */
/* Free the loader, its unanswered SYNCs counted in the board's health record. Returns NULL. */
static struct esp_loader *loader_drop(struct flash_job *fj)
{
        if (fj->l)
                jr_health(fj->jr, "sync_retries", (long long)fj->l->sync_retries);
        return esp_loader_free(fj->l);
}

static int connect_loader(struct flash_job *fj, bool first)
{
        fj->l = loader_drop(fj);
        if (esp_loader_new(jr_port(fj->jr), &fj->l) < 0)
                return jr_fail(fj->jr, "internal", "Out of memory");
        int e = esp_loader_prepare(fj->l, &fj->co);
        if (e < 0 && fj->co.stub_baud && e != -ENODEV && e != -ECANCELED) {
                jr_log(fj->jr, "Uploading the stub at %u baud failed (%s): reconnecting at the ROM baud",
                       fj->co.stub_baud, esp_loader_msg(fj->l));
                fj->co.stub_baud = 0;
                fj->l = loader_drop(fj);
                if (esp_loader_new(jr_port(fj->jr), &fj->l) < 0)
                        return jr_fail(fj->jr, "internal", "Out of memory");
                e = esp_loader_prepare(fj->l, &fj->co);
        }
        if (e == -ETIMEDOUT && first && json_string_value(json_object_get(jr_board_hints(fj->jr), "power"))) {
                /* The last rung for a hung board: its power, then one more try. */
                char pm[512];
                jr_log(fj->jr, "The ROM loader does not answer (%s): cycling the board's power", esp_loader_msg(fj->l));
                int pr = job_power_cycle(fj->jr, pm, sizeof(pm));
                if (pr == 0) {
                        fj->l = loader_drop(fj);
                        if (esp_loader_new(jr_port(fj->jr), &fj->l) < 0)
                                return jr_fail(fj->jr, "internal", "Out of memory");
                        e = esp_loader_prepare(fj->l, &fj->co);
                } else if (pr == -ENODEV || pr == -ECANCELED) {
                        return jr_fail(fj->jr, pr == -ENODEV ? "board_gone" : "cancelled", "%s", pm);
                }
        }
        if (e < 0)
                return first ? job_esp_fail(fj->jr, e, fj->l) : e;
        if (first)
                job_esp_report_facts(fj->jr, fj->l);
        return 0;
}

static int pick_baud(void *user, struct esp_loader *l);

/* Write parts through the prepared loader with the job's options; mode/erase override them when
 * not NULL / true. The board is left in the loader when a boot check follows. */
static int write_parts(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
                       bool erase, bool no_reset, struct esp_flash_result *r)
{
        const json_t *params = jr_params(fj->jr);
        const char *verify = json_string_value(json_object_get(params, "verify"));
        json_t *baud = json_object_get(params, "baud");
        struct esp_flash_opts fo = {
                .flash_mode = mode ? mode : json_string_value(json_object_get(params, "flash_mode")),
                .flash_size = json_string_value(json_object_get(params, "flash_size")),
                .flash_freq = json_string_value(json_object_get(params, "flash_freq")),
                .erase_all = erase || json_is_true(json_object_get(params, "erase")),
                .compress = compress_opt(json_object_get(params, "compress")),
                .verify = !verify || !strcmp(verify, "md5") ? ESP_VERIFY_MD5
                          : !strcmp(verify, "readback") ? ESP_VERIFY_READBACK : ESP_VERIFY_NONE,
                .baud = baud ? (unsigned)json_integer_value(baud) : 0, /* else pick_baud() */
                .skip_unchanged = !json_is_false(json_object_get(params, "skip_unchanged")),
                .no_reset = no_reset,
                .progress = on_progress,
                .log = on_log,
                .deflate = cached_deflate,
                .pick_baud = fj->auto_baud ? pick_baud : NULL,
                .records = fj->n_records ? fj->records : NULL,
                .n_records = fj->n_records,
                .want_sectors = true,
                .user = &fj->c,
        };
        return esp_flash_write(fj->l, parts, n, &fo, r);
}

static double now_s(void)
{
        return (double)util_mono_ms() / 1000.0;
}

/* The baud that held on this board before (flash_baud fact), 0 when none or the port has no
 * real baud (USB-Serial/JTAG). */
static unsigned remembered_baud(struct flash_job *fj)
{
        const json_t *hints = jr_board_hints(fj->jr);
        const char *vid = json_string_value(json_object_get(hints, "vid"));
        const char *pid = json_string_value(json_object_get(hints, "pid"));
        if (vid && pid && usb_ids_lookup(vid, pid)->usb_native)
                return 0;
        json_int_t rem = json_integer_value(json_object_get(json_object_get(jr_board_facts(fj->jr), "flash_baud"), "baud"));
        return rem > ESP_BAUD_ROM && rem <= 12000000 ? (unsigned)rem : 0;
}

/* Candidates for an automatic baud: the bridge (VID:PID table), the chip and loader, and what
 * held on this board before (the flash_baud fact). */
static void plan_baud(struct flash_job *fj)
{
        const json_t *hints = jr_board_hints(fj->jr);
        const char *vid = json_string_value(json_object_get(hints, "vid"));
        const char *pid = json_string_value(json_object_get(hints, "pid"));
        fj->bridge = vid && pid ? usb_ids_lookup(vid, pid) : NULL;
        const json_t *fact = json_object_get(jr_board_facts(fj->jr), "flash_baud");
        json_int_t rem = json_integer_value(json_object_get(fact, "baud"));
        fj->remembered = rem > 0 && rem <= 12000000 ? (unsigned)rem : 0;
        struct esp_baud_in in = {
                .chip = fj->l->chip,
                .stub = fj->l->stub,
                .bridge_max = fj->bridge ? fj->bridge->max_baud : 0,
                .usb_native = fj->bridge && fj->bridge->usb_native,
                .remembered = fj->remembered,
        };
        esp_baud_plan(&in, &fj->plan);
}

static void tried_add(struct flash_job *fj, unsigned baud, const char *error)
{
        if (!fj->tried)
                fj->tried = json_array();
        json_array_append_new(fj->tried, json_pack("{s:i, s:b, s:s?}", "baud", (int)baud, "ok", !error, "error",
                                                   error));
}

/* pick_baud of the flash pipeline, called only when something is left to write: the next
 * candidate of the plan. A link that does not hold it is lost (the chip switched, the bridge
 * cannot follow): -EAGAIN, and the job resets into the loader and runs the pipeline again, one
 * step lower. */
static int pick_baud(void *user, struct esp_loader *l)
{
        struct flash_job *fj = ((struct ctx *)user)->fj;
        unsigned b = fj->next_baud;
        if (!b) {
                fj->baud_used = l->port->baud;
                if (fj->plan.n)
                        jr_log(fj->jr, "No faster baud held: staying at %u", fj->baud_used);
                return 0;
        }
        if (l->port->baud == b) { /* the stub was uploaded at this baud and answered at it */
                if (!fj->tried)
                        tried_add(fj, b, NULL);
                fj->baud_used = b;
                return 0;
        }
        int e = esp_change_baud(l, b);
        if (e == 0)
                e = esp_link_check(l);
        if (e == 0) {
                tried_add(fj, b, NULL);
                fj->baud_used = b;
                jr_log(fj->jr, "Changed baud rate to %u (%s)", b, fj->plan.why);
                return 0;
        }
        if (e == -ENODEV || e == -ECANCELED)
                return e;
        tried_add(fj, b, esp_loader_msg(l));
        fj->baud_failed = b;
        fj->next_baud = esp_baud_next(&fj->plan, b);
        fj->co.stub_baud = 0;
        jr_log(fj->jr, "%u baud does not hold (%s): reconnecting to step down", b, esp_loader_msg(l));
        jr_health(fj->jr, "link_errors", 1);
        return -EAGAIN;
}

/* Run the pipeline; when the baud corral chose fails (the link check, or the write itself:
 * sync/checksum trouble under load), reset into the loader and run it again one step lower.
 * Reconnects count as the baud phase. Returns what the last run returned. */
static int write_stepping(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
                          bool erase, bool no_reset, struct esp_flash_result *r)
{
        for (;;) {
                fj->baud_used = 0;
                esp_flash_result_clear(r); /* a retry's result replaces the last one */
                int e = write_parts(fj, parts, n, mode, erase, no_reset, r);
                fj->baud_s += r->baud_s;
                if (e >= 0 || !fj->auto_baud || e == -ENODEV || e == -ECANCELED)
                        return e;
                if (e != -EAGAIN) {
                        if (fj->baud_used <= ESP_BAUD_ROM || e == -EINVAL || e == -ENOMEM)
                                return e;
                        unsigned failed = fj->baud_used;
                        tried_add(fj, failed, esp_loader_msg(fj->l));
                        fj->baud_failed = failed;
                        fj->next_baud = esp_baud_next(&fj->plan, failed);
                        fj->co.stub_baud = 0;
                        jr_log(fj->jr, "Writing at %u baud failed (%s): reconnecting to step down", failed,
                               esp_loader_msg(fj->l));
                        jr_health(fj->jr, "resends", 1);
                }
                double t = now_s();
                e = connect_loader(fj, false);
                fj->baud_s += now_s() - t;
                if (e < 0)
                        return e;
        }
}

/* What corral wrote to this board before: the flash_record fact's entries (bad ones ignored). */
static void load_records(struct flash_job *fj)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(json_object_get(jr_board_facts(fj->jr), "flash_record"), "parts"), i, e) {
                if (fj->n_records >= sizeof(fj->records) / sizeof(fj->records[0]))
                        break;
                if (esp_diff_record_parse(e, &fj->records[fj->n_records]) == 0)
                        fj->n_records++;
        }
}

/* After a verified write: the parts just written (with their sector hashes) replace what the
 * record had where they overlap; the rest of the record stays. */
static void save_records(struct flash_job *fj, const struct esp_flash_result *r)
{
        json_t *parts = json_array();
        for (size_t k = 0; k < r->n_parts; k++) {
                const struct esp_flash_part_result *p = &r->parts[k];
                if (!p->sector_hashes || !p->verified)
                        continue;
                json_array_append_new(parts, esp_diff_record_json(p->offset, (uint32_t)p->len, p->md5raw,
                                                                  p->sector_hashes, p->sectors));
        }
        for (size_t i = 0; i < fj->n_records; i++) {
                const struct esp_flash_record *o = &fj->records[i];
                bool overlaps = false;
                for (size_t k = 0; k < r->n_parts; k++) {
                        uint64_t a0 = r->parts[k].offset, a1 = a0 + r->parts[k].len;
                        overlaps |= o->offset < a1 && a0 < (uint64_t)o->offset + o->len;
                }
                if (!overlaps)
                        json_array_append_new(parts, esp_diff_record_json(o->offset, o->len, o->md5, o->sectors,
                                                                          o->n_sectors));
        }
        jr_fact(fj->jr, "flash_record", json_pack("{s:o}", "parts", parts));
}

/* The job result's baud object; remembers on the board what held (the flash_baud fact). */
static void report_baud(struct flash_job *fj, bool succeeded)
{
        struct job_run *jr = fj->jr;
        const char *by = !fj->auto_baud ? "job" : !fj->plan.n ? "rom" : !fj->tried ? "not_needed"
                         : fj->remembered && fj->plan.cand[0] == fj->remembered ? "remembered" : "auto";
        unsigned used = fj->auto_baud && fj->baud_used ? fj->baud_used : jr_port(jr)->baud;
        json_t *b = json_pack("{s:i, s:s, s:s?, s:o?, s:i, s:s}", "used", (int)used, "chosen_by", by, "bridge",
                              fj->bridge ? fj->bridge->bridge : NULL, "bridge_max_baud",
                              fj->bridge && fj->bridge->max_baud ? json_integer(fj->bridge->max_baud) : NULL,
                              "ceiling", (int)fj->plan.ceiling, "why", fj->auto_baud ? fj->plan.why : "the job's baud parameter");
        if (fj->tried)
                json_object_set(b, "tried", fj->tried);
        jr_result_set(jr, "baud", b);
        if (!succeeded || !fj->auto_baud || !fj->tried || used == fj->remembered)
                return;
        jr_fact(jr, "flash_baud", json_pack("{s:i, s:o?, s:s?}", "baud", (int)used, "failed",
                                            fj->baud_failed ? json_integer(fj->baud_failed) : NULL, "bridge",
                                            fj->bridge ? fj->bridge->bridge : NULL));
        jr_log(jr, "Remembered for this board: flashing holds %u baud", used);
}

/* ---- boot check and remediation ---- */

/* What an attempt wrote, in words, and the header mode now at the boot offset. */
static void describe_write(struct flash_job *fj, struct esp_bootcheck_attempt *a, const struct esp_flash_part *parts,
                           size_t n, const struct esp_flash_result *r, const char *mode)
{
        uint32_t boot = fj->l->chip->bootloader_offset;
        const struct esp_flash_part *bp = NULL;
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
                total += parts[i].len;
                if (parts[i].offset == boot)
                        bp = &parts[i];
        }
        a->wrote_boot = bp != NULL;
        a->flash_mode[0] = '\0';
        if (bp && bp->len > 3 && bp->data[0] == ESP_IMAGE_MAGIC) {
                const char *m = r->patched && mode && strcmp(mode, "keep") ? mode : esp_bootcheck_mode_name(bp->data[2]);
                snprintf(a->flash_mode, sizeof(a->flash_mode), "%s", m ? m : "");
        }
        struct firmware_info fi;
        const struct esp_flash_part *main_part = bp ? bp : &parts[0];
        firmware_inspect(main_part->data, main_part->len, NULL, &fi);
        if (fi.mp_version[0])
                snprintf(a->what, sizeof(a->what), "MicroPython v%s", fi.mp_version);
        else if (bp)
                snprintf(a->what, sizeof(a->what), "%s (%zu bytes)", bp->name ? bp->name : "the image", bp->len);
        else
                snprintf(a->what, sizeof(a->what), "%llu bytes at 0x%x", (unsigned long long)total, parts[0].offset);
}

/* One boot check of attempt a (already described). Returns 0 or a port error. */
static int check_boot(struct flash_job *fj, struct esp_bootcheck_attempt *a, enum bootlog_chip chip, bool other)
{
        struct esp_bootcheck_opts o = { .chip = chip, .usb = fj->l->usb_jtag };
        if (other) {
                unsigned rb = bootlog_rom_baud(chip) == ESP_BOOTCHECK_FW_BAUD ? BOOTLOG_ROM_BAUD_ESP8266
                                                                               : ESP_BOOTCHECK_FW_BAUD;
                o.reset = ESP_BOOTCHECK_RESET_LONG;
                o.rom_baud = o.fw_baud = rb;
        }
        char msg[256];
        /* The phase stays "resetting" (reset and watch the boot): the job log names each check. */
        jr_progress(fj->jr, fj->c.last_pct > 98 ? fj->c.last_pct : 98, "resetting");
        int e = esp_bootcheck_run(jr_port(fj->jr), &o, fj->cap, &a->boot, msg, sizeof(msg));
        if (e < 0)
                return jr_fail(fj->jr, job_esp_fail_code(e), "%s", msg), e;
        a->reset_sent = fj->cap->reset_sent;
        a->rom_baud = fj->cap->rom_baud;
        a->fw_baud = fj->cap->fw_baud;
        jr_log(fj->jr, "Boot check %zu (%s reset, listening at %u%s%.0u baud): %s — %s", fj->n_att,
               other ? "long EN" : "RTS", a->rom_baud, a->fw_baud ? " then " : "", a->fw_baud,
               bootlog_class_name(a->boot.cls), a->boot.summary);
        for (size_t i = 0; i < a->boot.n_evidence; i++)
                jr_log(fj->jr, "  | %s", a->boot.evidence[i]);
        if (a->boot.cls == BOOTLOG_BOOTED) {
                a->repl_checked = true;
                a->repl_ok = esp_bootcheck_repl(jr_port(fj->jr), chip, &a->boot, msg, sizeof(msg)) == 0;
                jr_log(fj->jr, "  REPL: %s", a->repl_ok ? "print(1) answered 1" : msg);
        }
        return 0;
}

/* The known-good firmware for this board other than the one just flashed: the family's pin,
 * else the board's known_good_firmware fact. 0 with id/path, or -ENOENT. */
static int find_known_good(struct flash_job *fj, char id[FIRMWARE_ID_LEN + 1], char *path, size_t size,
                           uint32_t *off)
{
        struct store *st = jr_store(fj->jr);
        const char *fact = json_string_value(json_object_get(json_object_get(jr_board_facts(fj->jr),
                                                                             "known_good_firmware"), "id"));
        if (firmware_known_good(st, fj->l->chip->stub_name, id, NULL, 0) == 0 &&
            (!fj->fw_id || strcmp(id, fj->fw_id)) && firmware_resolve(st, id, path, size, off) == 0)
                return 0;
        if (fact && firmware_id_valid(fact) && (!fj->fw_id || strcmp(fact, fj->fw_id)) &&
            firmware_resolve(st, fact, path, size, off) == 0) {
                snprintf(id, FIRMWARE_ID_LEN + 1, "%s", fact);
                return 0;
        }
        return -ENOENT;
}

/* Re-flash (DIO) or roll back, as attempt a. Returns 0 (a->flash_error tells how the write
 * went) or a port error that ends the job. */
static int remediate(struct flash_job *fj, struct esp_bootcheck_attempt *a, enum esp_bootcheck_action act,
                     const struct bootlog_result *last)
{
        const struct esp_flash_part *parts = fj->cur ? fj->cur : fj->parts;
        size_t n = fj->cur ? fj->cur_n : fj->n;
        const char *mode = "dio";
        bool erase = last->fs_corrupt;
        if (act == ESP_BOOTCHECK_ROLLBACK) {
                char id[FIRMWARE_ID_LEN + 1], path[640], msg[256];
                uint32_t off = 0;
                size_t len = 0;
                if (find_known_good(fj, id, path, sizeof(path), &off) < 0 ||
                    read_file(path, &fj->kg_buf, &len, msg, sizeof(msg)) < 0) {
                        a->flash_error = -ENOENT;
                        snprintf(a->what, sizeof(a->what), "from the library");
                        snprintf(a->flash_msg, sizeof(a->flash_msg), "the known-good firmware could not be read");
                        return 0;
                }
                fj->kg = (struct esp_flash_part){ .offset = off, .data = fj->kg_buf, .len = len, .name = "known-good" };
                parts = fj->cur = &fj->kg;
                n = fj->cur_n = 1;
                snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", id);
                snprintf(a->what, sizeof(a->what), "fw-%.12s", id); /* until the write names it */
                /* DIO when this job learned the board needs it; else as the pin was written. */
                const json_t *kgf = json_object_get(jr_board_facts(fj->jr), "known_good_firmware");
                const char *fact_id = json_string_value(json_object_get(kgf, "id"));
                const char *fact_mode = fact_id && !strcmp(fact_id, id)
                                        ? json_string_value(json_object_get(kgf, "flash_mode")) : NULL;
                bool tried_dio = false;
                for (size_t i = 0; i < fj->n_att; i++)
                        tried_dio |= fj->att[i].step == ESP_BOOTCHECK_STEP_REFLASH_DIO;
                mode = tried_dio ? "dio" : fact_mode ? fact_mode : NULL;
                erase = false;
                jr_log(fj->jr, "Remediation: roll back to the known-good firmware %.12s%s%s", id, mode ? " as " : "",
                       mode ? mode : "");
        } else {
                jr_log(fj->jr, "Remediation: re-flash with flash mode DIO%s", erase ? " after erasing the chip "
                       "(the filesystem looked corrupt)" : "");
        }
        jr_progress(fj->jr, fj->c.last_pct, act == ESP_BOOTCHECK_ROLLBACK ? "rolling back" : "re-flashing as DIO");
        int e = connect_loader(fj, false);
        struct esp_flash_result r;
        memset(&r, 0, sizeof(r));
        /* Back to the baud that held in this job, without probing the ladder again. */
        fj->next_baud = fj->auto_baud && fj->baud_used > ESP_BAUD_ROM ? fj->baud_used : 0;
        if (e == 0)
                e = write_stepping(fj, parts, n, mode, erase, true, &r);
        if (e < 0)
                esp_flash_result_clear(&r);
        if (e == -ENODEV || e == -ECANCELED)
                return job_esp_fail(fj->jr, e, fj->l);
        if (e < 0) {
                a->flash_error = e;
                snprintf(a->flash_msg, sizeof(a->flash_msg), "%s", fj->l ? esp_loader_msg(fj->l) : "no loader");
                jr_log(fj->jr, "  the flash failed: %s", a->flash_msg);
                return 0;
        }
        describe_write(fj, a, parts, n, &r, mode);
        jr_log(fj->jr, "  wrote %llu bytes (%llu skipped), %s at the boot offset",
               (unsigned long long)r.bytes_written, (unsigned long long)r.bytes_skipped,
               a->flash_mode[0] ? a->flash_mode : "no image");
        esp_flash_result_clear(&r);
        return 0;
}

/* Facts and the known-good pin after a verified boot of what this job wrote. */
static void record_boot(struct flash_job *fj, const struct esp_bootcheck_attempt *a)
{
        struct job_run *jr = fj->jr;
        const char *id = a->firmware_id[0] ? a->firmware_id : NULL;
        if (a->boot.mp_version[0])
                jr_fact(jr, "mp_version", json_string(a->boot.mp_version));
        jr_fact(jr, "firmware", json_pack("{s:s, s:s?, s:s?, s:s?}", "name", a->what, "id", id, "version",
                                          a->boot.mp_version[0] ? a->boot.mp_version : NULL, "flash_mode",
                                          a->flash_mode[0] ? a->flash_mode : NULL));
        if (!a->repl_ok || !id || a->step == ESP_BOOTCHECK_STEP_ROLLBACK)
                return;
        jr_fact(jr, "known_good_firmware", json_pack("{s:s, s:s, s:s?, s:s?}", "id", id, "name", a->what, "version",
                                                     a->boot.mp_version[0] ? a->boot.mp_version : NULL,
                                                     "flash_mode", a->flash_mode[0] ? a->flash_mode : NULL));
        int e = firmware_pin_known_good(jr_store(jr), fj->l->chip->stub_name, id);
        jr_log(jr, e == 0 ? "Pinned %.12s as the known-good firmware for %s" : "Could not pin %.12s for %s", id,
               fj->l->chip->stub_name);
}

/* Boot check, remediation by policy, verdict. Returns 0 or jr_fail(). */
static int boot_check_loop(struct flash_job *fj, const struct esp_flash_result *first)
{
        struct job_run *jr = fj->jr;
        const json_t *params = jr_params(jr);
        enum bootlog_chip chip;
        if (bootlog_chip_from_name(fj->l->chip->stub_name, &chip) < 0)
                return 0;
        if (!(fj->cap = malloc(sizeof(*fj->cap))))
                return jr_fail(jr, "internal", "Out of memory");
        struct esp_bootcheck_state s = {
                .chip = chip,
                .remediate = !json_is_false(json_object_get(params, "remediate")),
        };
        struct esp_bootcheck_attempt *a = &fj->att[fj->n_att++];
        memset(a, 0, sizeof(*a));
        a->step = ESP_BOOTCHECK_STEP_FLASH;
        snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", fj->fw_id ? fj->fw_id : "");
        describe_write(fj, a, fj->parts, fj->n, first, json_string_value(json_object_get(params, "flash_mode")));
        int e = check_boot(fj, a, chip, false);
        const char *remedy = NULL;
        while (e == 0) {
                char id[FIRMWARE_ID_LEN + 1], path[640];
                uint32_t off;
                s.cls = a->flash_error < 0 ? BOOTLOG_BAD_IMAGE : a->boot.cls;
                snprintf(s.flashed_mode, sizeof(s.flashed_mode), "%s", a->flash_mode);
                s.wrote_boot = a->wrote_boot;
                s.reset_sent = a->reset_sent;
                s.have_known_good = find_known_good(fj, id, path, sizeof(path), &off) == 0;
                s.attempts = (unsigned)fj->n_att;
                s.time_left_ms = jr_time_left_ms(jr);
                const char *why;
                enum esp_bootcheck_action act = esp_bootcheck_next(&s, &why);
                jr_log(jr, "Next: %s (%s)", esp_bootcheck_action_name(act), why);
                if (act == ESP_BOOTCHECK_DONE || act == ESP_BOOTCHECK_GIVE_UP || fj->n_att >= ESP_BOOTCHECK_MAX_ATTEMPTS)
                        break;
                struct esp_bootcheck_attempt *prev = a;
                a = &fj->att[fj->n_att++];
                memset(a, 0, sizeof(*a));
                if (act == ESP_BOOTCHECK_RECHECK_OTHER) {
                        *a = *prev;
                        a->step = ESP_BOOTCHECK_STEP_RECHECK;
                        a->repl_checked = a->repl_ok = false;
                        s.tried_other_reset = true;
                        e = check_boot(fj, a, chip, true);
                        remedy = "another reset";
                        continue;
                }
                a->step = act == ESP_BOOTCHECK_REFLASH_DIO ? ESP_BOOTCHECK_STEP_REFLASH_DIO : ESP_BOOTCHECK_STEP_ROLLBACK;
                s.tried_dio |= act == ESP_BOOTCHECK_REFLASH_DIO;
                s.tried_rollback |= act == ESP_BOOTCHECK_ROLLBACK;
                if (act == ESP_BOOTCHECK_REFLASH_DIO)
                        snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", prev->firmware_id);
                remedy = act == ESP_BOOTCHECK_REFLASH_DIO ? "flash mode DIO" : "rolled back to known-good";
                if ((e = remediate(fj, a, act, &prev->boot)) == 0 && a->flash_error == 0)
                        e = check_boot(fj, a, chip, false);
        }
        if (e < 0)
                return e;
        const struct esp_bootcheck_attempt *last = &fj->att[fj->n_att - 1];
        if (last->flash_error == 0 && last->boot.cls == BOOTLOG_BOOTED)
                record_boot(fj, last);
        char verdict[1024];
        esp_bootcheck_verdict(fj->att, fj->n_att, esp_flash_size_name(fj->l->flash_size), verdict, sizeof(verdict));
        const char *code = esp_bootcheck_error_code(fj->att, fj->n_att);
        json_t *atts = json_array();
        for (size_t i = 0; i < fj->n_att; i++)
                json_array_append_new(atts, esp_bootcheck_attempt_json(&fj->att[i]));
        json_t *boot = esp_bootcheck_boot_json(&last->boot);
        if (last->repl_checked)
                json_object_set_new(boot, "repl", json_boolean(last->repl_ok));
        jr_result_set(jr, "boot", boot);
        jr_result_set(jr, "attempts", atts);
        jr_result_set(jr, "remediation", fj->n_att > 1 && remedy ? json_string(remedy) : json_null());
        jr_result_set(jr, "verdict", json_string(verdict));
        jr_log(jr, "Verdict: %s", verdict);
        char line[1100];
        int len = snprintf(line, sizeof(line), "\r\n[corral] %s\r\n", verdict);
        jr_output(jr, "console", line, len > 0 && (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
        return code ? jr_fail(jr, code, "%s", verdict) : 0;
}

static int flash_run(struct job_run *jr)
{
        const json_t *params = jr_params(jr);
        struct flash_job *fj = calloc(1, sizeof(*fj));
        if (!fj)
                return jr_fail(jr, "internal", "Out of memory");
        struct port *p = jr_port(jr);
        unsigned orig_baud = p ? p->baud : 0;
        fj->jr = jr;
        fj->c = (struct ctx){ .jr = jr, .fj = fj, .last_pct = -1 };
        fj->fw_id = json_string_value(json_object_get(params, "firmware"));
        bool boot_check = !json_is_false(json_object_get(params, "boot_check"));
        int e;
        struct esp_flash_result r;
        memset(&r, 0, sizeof(r));
        /* Load the files first: a missing file must not cost a reset. */
        if ((e = load_parts(fj)) < 0 || (e = check_known_chip(jr, fj->parts, fj->n)) < 0)
                goto out;
        job_esp_connect_opts(jr, &fj->co);
        if (boot_check && fj->co.reset == ESP_RESET_NONE) {
                jr_log(jr, "No boot check: reset is 'none', so corral must not touch the reset lines");
                boot_check = false;
        }
        fj->auto_baud = !json_object_get(params, "baud");
        if (fj->auto_baud && fj->co.stub_dir)
                fj->co.stub_baud = remembered_baud(fj);
        jr_progress(jr, 0, "connecting");
        double t_start = now_s();
        if ((e = connect_loader(fj, true)) < 0)
                goto out;
        double connect_s = fj->l->connect_s, stub_s = fj->l->stub_s;
        if (fj->co.stub_baud && jr_port(jr)->baud == fj->co.stub_baud) {
                tried_add(fj, fj->co.stub_baud, NULL);
                jr_log(jr, "Uploaded the flasher stub at %u baud (it held on this board before)", fj->co.stub_baud);
        }
        jr_progress(jr, 5, "connecting");
        if (fj->auto_baud) {
                plan_baud(fj);
                fj->next_baud = fj->plan.n ? fj->plan.cand[0] : 0;
        }

        load_records(fj);
        e = write_stepping(fj, fj->parts, fj->n, NULL, false, boot_check || fj->co.reset == ESP_RESET_NONE, &r);
        if (e >= 0)
                save_records(fj, &r);
        /* Remediation writes whole parts: the old record no longer describes the flash. */
        for (size_t i = 0; i < fj->n_records; i++)
                esp_diff_record_clear(&fj->records[i]);
        fj->n_records = 0;
        report_baud(fj, e >= 0);
        jr_result_set(jr, "parts", result_parts(&r));
        jr_result_set(jr, "bytes_written", json_integer((json_int_t)r.bytes_written));
        jr_result_set(jr, "bytes_skipped", json_integer((json_int_t)r.bytes_skipped));
        jr_result_set(jr, "skip_unchanged", json_string(r.skip));
        jr_result_set(jr, "phases", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "connect_s", connect_s,
                                              "stub_s", stub_s, "baud_s", fj->baud_s, "erase_s",
                                              r.erase_s, "compare_s", r.compare_s, "write_s", r.seconds,
                                              "verify_s", r.verify_s, "total_s", now_s() - t_start));
        if (e < 0) {
                e = job_esp_fail(jr, e, fj->l);
                goto out;
        }
        jr_result_set(jr, "seconds", json_real(r.seconds));
        jr_result_set(jr, "kbit_per_s", json_real(r.kbps));
        jr_result_set(jr, "verify", json_string(r.verify));
        jr_result_set(jr, "patched_header", json_boolean(r.patched));
        jr_result_set(jr, "loader", json_string(fj->l->stub ? "stub" : "rom"));
        jr_result_set(jr, "compressed_from_cache", json_integer(fj->c.zcache_hits));
        if (fj->c.zcache_hits)
                jr_log(jr, "%u compressed part(s) came from the cache (the same image was compressed "
                       "for another flash)", fj->c.zcache_hits);
        jr_log(jr, "Flashed %llu bytes (%llu skipped) in %.1f s, %.1f kbit/s effective; verify: %s",
               (unsigned long long)r.bytes_written, (unsigned long long)r.bytes_skipped, r.seconds,
               r.kbps, r.verify);
        jr_log(jr, "Phases: connect %.2f s, stub %.2f s, baud %.2f s, write %.2f s, verify %.2f s; %.2f s connect "
               "to verified", connect_s, stub_s, fj->baud_s, r.seconds, r.verify_s, now_s() - t_start);
        if (boot_check && (e = boot_check_loop(fj, &r)) < 0)
                goto out;
        jr_progress(jr, 100, "done");
        e = 0;
out:
        /* The next job talks to the firmware at the port's own baud, whatever the flash used. A
         * power cycle reopened the port: the new one starts at the port's baud. */
        if (p != jr_port(jr))
                p = NULL;
        if (p && orig_baud && p->baud != orig_baud && e != -ENODEV)
                port_set_baud(p, orig_baud);
        esp_flash_result_clear(&r);
        fj->l = loader_drop(fj);
        for (size_t i = 0; i < ESP_FLASH_MAX_PARTS; i++)
                free(fj->bufs[i]);
        free(fj->kg_buf);
        free(fj->cap);
        json_decref(fj->tried);
        for (size_t i = 0; i < fj->n_records; i++)
                esp_diff_record_clear(&fj->records[i]);
        free(fj);
        return e;
}

/* A library firmware for another chip than the board's (known from an earlier job) is refused
 * before queueing (HTTP 422), naming both. */
static int flash_check_board(const json_t *params, struct store *store, const json_t *facts, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "firmware"));
        const char *board_chip = json_string_value(json_object_get(facts, "chip"));
        json_t *row = NULL;
        if (!id || !board_chip || store_firmware_get(store, id, &row) < 0)
                return 0;
        const char *fw_chip = json_string_value(json_object_get(row, "chip"));
        const struct esp_chip *bc = esp_chip_by_name(board_chip), *fc = esp_chip_by_name(fw_chip);
        int e = 0;
        if (bc && fc && bc != fc) {
                const char *name = json_string_value(json_object_get(row, "name"));
                snprintf(msg, size, "Firmware %s (%.12s) is an %s image, but this board is an %s (learned by an earlier "
                         "job); nothing was queued", name ? name : id, id, fc->name, bc->name);
                e = -EBADMSG;
        }
        json_decref(row);
        return e;
}

const struct job_kind job_kind_flash = {
        .name = "flash",
        .summary = "write firmware to an ESP board through its ROM loader (a library firmware id or parts), "
                   "then check that it boots, remediate and give a verdict",
        .default_timeout_s = 900,
        .check = flash_check,
        .check_store = flash_check_store,
        .check_board = flash_check_board,
        .check_caller = flash_check_caller,
        .run = flash_run,
};
