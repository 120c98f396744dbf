/* Job kind "flash", the orchestration: load the parts, connect, identify, prepare, write,
 * verify (esp_flash.c), then the boot check (job_flash_boot.c); the baud is job_flash_baud.c's,
 * the submit checks job_flash_check.c's. */
#include "jobs/job_flash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engines/esp/esp_image.h"
#include "engines/esp/esp_info.h"
#include "firmware/firmware.h"
#include "firmware/hostfile.h"
#include "firmware/zcache.h"
#include "jobs/boot_state.h"
#include "jobs/job_power.h"

/* Compressed images kept for boards flashed with the same bytes (in parallel or one after the
 * other): bounded, least recently used out first. */
#define ZCACHE_MAX_BYTES (64u << 20)

int flash_read_file(const char *path, uint8_t **ret, size_t *ret_len, char *msg, size_t size)
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

/* Read one part: a library id, else a host path (confined to firmware_dirs again, as at submit:
 * the config or the file system may have changed since). 0 or -errno with msg. */
static int read_part(struct flash_job *fj, size_t i, const char *what, const char *id, const char *path,
                     uint32_t *lib_off, char *msg, size_t size)
{
        struct job_run *jr = fj->jr;
        if (id) {
                char lib[640];
                int e = firmware_resolve(jr_store(jr), id, lib, sizeof(lib), lib_off);
                if (e < 0) {
                        snprintf(msg, size, "Firmware %s %s", id, firmware_strerror(e));
                        return -ENOMEDIUM;
                }
                snprintf(fj->names[i], sizeof(fj->names[i]), "fw-%.12s", id);
                fj->parts[i].name = fj->names[i];
                return flash_read_file(lib, &fj->bufs[i], &fj->parts[i].len, msg, size);
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

/* Free the loader, its unanswered SYNCs counted in the board's health record. Returns NULL. */
static struct esp_loader *loader_drop(struct flash_job *fj)
{
        if (fj->l)
                jr_health(fj->jr, "sync_retries", (long long)fj->l->sync_retries);
        return esp_loader_free(fj->l);
}

/* (Re)connect to the ROM loader; the first time the board's facts are reported. */
int flash_connect_loader(struct flash_job *fj, bool first)
{
        fj->l = loader_drop(fj);
        if (esp_loader_new(jr_port(fj->jr), &fj->l) < 0)
                return jr_fail(fj->jr, "internal", "Out of memory");
        int e = esp_loader_prepare(fj->l, &fj->co);
        unsigned sb = fj->l->stub_baud_tried;
        if (e < 0 && sb && e != -ENODEV && e != -ECANCELED) {
                jr_log(fj->jr, "Uploading the stub at %u baud failed (%s): reconnecting at the ROM baud",
                       sb, esp_loader_msg(fj->l));
                if (!fj->co.stub_baud) { /* corral's own first pick: a step of the baud plan */
                        flash_tried_add(fj, sb, esp_loader_msg(fj->l));
                        fj->baud_failed = fj->stub_pick_failed = sb;
                        jr_health(fj->jr, "link_errors", 1);
                }
                fj->co.stub_baud = 0;
                fj->co.pick_stub_baud = NULL;
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

/* Write parts through the prepared loader with the job's options; mode/erase override them when
 * not NULL / true. The board is left in the loader when a boot check follows. */
int flash_write_parts(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
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
                .baud = baud ? (unsigned)json_integer_value(baud) : 0, /* else flash_pick_baud() */
                .skip_unchanged = !json_is_false(json_object_get(params, "skip_unchanged")),
                .no_reset = no_reset,
                .progress = on_progress,
                .log = on_log,
                .deflate = cached_deflate,
                .pick_baud = fj->auto_baud ? flash_pick_baud : NULL,
                .records = fj->n_records ? fj->records : NULL,
                .n_records = fj->n_records,
                .want_sectors = true,
                .user = &fj->c,
        };
        return esp_flash_write(fj->l, parts, n, &fo, r);
}

/* The job's result and log lines once the write is done (or failed). */
static void report_write(struct flash_job *fj, const struct esp_flash_result *r, double connect_s, double stub_s,
                         double t_start, bool ok)
{
        struct job_run *jr = fj->jr;
        jr_result_set(jr, "parts", result_parts(r));
        jr_result_set(jr, "bytes_written", json_integer((json_int_t)r->bytes_written));
        jr_result_set(jr, "bytes_skipped", json_integer((json_int_t)r->bytes_skipped));
        jr_result_set(jr, "skip_unchanged", json_string(r->skip));
        double total = flash_now_s() - t_start;
        /* total_s runs to the end of the final reset; verified_s (connect to verified) stops before it. */
        jr_result_set(jr, "phases", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "connect_s",
                                              connect_s, "stub_s", stub_s, "baud_s", fj->baud_s, "erase_s",
                                              r->erase_s, "compare_s", r->compare_s, "write_s", r->seconds,
                                              "verify_s", r->verify_s, "reset_s", r->reset_s, "verified_s",
                                              total - r->reset_s, "total_s", total));
        if (!ok)
                return;
        jr_result_set(jr, "seconds", json_real(r->seconds));
        jr_result_set(jr, "kbit_per_s", json_real(r->kbps));
        jr_result_set(jr, "verify", json_string(r->verify));
        jr_result_set(jr, "patched_header", json_boolean(r->patched));
        jr_result_set(jr, "loader", json_string(fj->l->stub ? "stub" : "rom"));
        jr_result_set(jr, "compressed_from_cache", json_integer(fj->c.zcache_hits));
        if (fj->c.zcache_hits)
                jr_log(jr, "%u compressed part(s) came from the cache (the same image was compressed "
                       "for another flash)", fj->c.zcache_hits);
        jr_log(jr, "Flashed %llu bytes (%llu skipped) in %.1f s, %.1f kbit/s effective; verify: %s",
               (unsigned long long)r->bytes_written, (unsigned long long)r->bytes_skipped, r->seconds,
               r->kbps, r->verify);
        jr_log(jr, "Phases: connect %.2f s, stub %.2f s, baud %.2f s, compare %.2f s, write %.2f s, verify %.2f s; "
               "%.2f s connect to verified, reset %.2f s", connect_s, stub_s, fj->baud_s, r->compare_s, r->seconds,
               r->verify_s, total - r->reset_s, r->reset_s);
}

/* Connect (at the baud that held before, when corral picks it), report the facts, plan the baud. */
static int connect_first(struct flash_job *fj)
{
        struct job_run *jr = fj->jr;
        fj->auto_baud = !json_object_get(jr_params(jr), "baud");
        if (fj->auto_baud && fj->co.stub_dir) {
                fj->co.stub_baud = flash_remembered_baud(fj);
                /* Nothing remembered: the plan's first step, before the stub upload. */
                fj->co.pick_stub_baud = fj->co.stub_baud ? NULL : flash_pick_stub_baud;
                fj->co.pick_user = fj;
        }
        jr_progress(jr, 0, "connecting");
        int e = flash_connect_loader(fj, true);
        fj->co.pick_stub_baud = NULL; /* reconnects after a failure start at the ROM baud */
        if (e < 0)
                return e;
        unsigned sb = fj->l->stub_baud_tried;
        if (sb && jr_port(jr)->baud == sb) {
                flash_tried_add(fj, sb, NULL);
                jr_log(jr, "Uploaded the flasher stub at %u baud (%s)", sb,
                       fj->co.stub_baud ? "it held on this board before" : "the ROM changed the baud first");
        }
        jr_progress(jr, 5, "connecting");
        if (fj->auto_baud) {
                flash_plan_baud(fj);
                fj->next_baud = !fj->plan.n ? 0 : fj->stub_pick_failed ? esp_baud_next(&fj->plan, fj->stub_pick_failed)
                                                                       : fj->plan.cand[0];
        }
        return 0;
}

/* Write the job's parts (the board stays in the loader when a boot check follows); the sector
 * records are saved after a verified write. */
static int write_and_report(struct flash_job *fj, bool boot_check, double t_start, struct esp_flash_result *r)
{
        double connect_s = fj->l->connect_s, stub_s = fj->l->stub_s;
        flash_load_records(fj);
        int e = flash_write_stepping(fj, fj->parts, fj->n, NULL, false, boot_check || fj->co.reset == ESP_RESET_NONE, r);
        if (e >= 0)
                flash_save_records(fj, r);
        /* Remediation writes whole parts: the old record no longer describes the flash. */
        for (size_t i = 0; i < fj->n_records; i++)
                esp_diff_record_clear(&fj->records[i]);
        fj->n_records = 0;
        flash_report_baud(fj, e >= 0);
        report_write(fj, r, connect_s, stub_s, t_start, e >= 0);
        return e < 0 ? job_esp_fail(fj->jr, e, fj->l) : 0;
}

static void flash_job_free(struct flash_job *fj)
{
        fj->l = loader_drop(fj);
        for (size_t i = 0; i < ESP_FLASH_MAX_PARTS; i++)
                free(fj->bufs[i]);
        free(fj->kg_buf);
        free(fj->cap);
        json_decref(fj->tried);
        for (size_t i = 0; i < fj->n_records; i++)
                esp_diff_record_clear(&fj->records[i]);
        free(fj);
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
        struct esp_flash_result r;
        memset(&r, 0, sizeof(r));
        double t_start = 0;
        /* Load the files first: a missing file must not cost a reset. */
        int e = load_parts(fj);
        if (e == 0)
                e = check_known_chip(jr, fj->parts, fj->n);
        if (e == 0) {
                job_esp_connect_opts(jr, &fj->co);
                if (boot_check && fj->co.reset == ESP_RESET_NONE) {
                        jr_log(jr, "No boot check: reset is 'none', so corral must not touch the reset lines");
                        boot_check = false;
                }
                t_start = flash_now_s();
                e = connect_first(fj);
        }
        if (e == 0)
                e = write_and_report(fj, boot_check, t_start, &r);
        if (e == 0 && boot_check && (e = flash_boot_check_loop(fj, &r)) > 0)
                e = 0;
        if (e == 0 && !boot_check)
                jr_fact(jr, "boot", boot_state_flashed(NULL)); /* a blank board's boot loop is over */
        if (e == 0)
                jr_progress(jr, 100, "done");
        /* The next job talks to the firmware at the port's own baud, whatever the flash used. A
         * power cycle reopened the port: the new one starts at the port's baud. */
        if (p != jr_port(jr))
                p = NULL;
        if (p && orig_baud && p->baud != orig_baud && e != -ENODEV)
                port_set_baud(p, orig_baud);
        esp_flash_result_clear(&r);
        flash_job_free(fj);
        return e;
}

const struct job_kind job_kind_flash = {
        .name = "flash",
        .summary = "write firmware to an ESP board through its ROM loader (a library firmware id or parts), "
                   "then check that it boots, remediate and give a verdict",
        .default_timeout_s = 900,
        .check = job_flash_check,
        .check_store = job_flash_check_store,
        .check_board = job_flash_check_board,
        .check_caller = job_flash_check_caller,
        .run = flash_run,
};
