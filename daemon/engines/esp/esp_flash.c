/* Flash pipeline: validate, patch, erase, skip-unchanged, write, verify, reset. */
#include "engines/esp/esp_flash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engines/esp/esp_flashcmd.h"
#include "engines/esp/esp_image.h"
#include "engines/try.h"
#include "util.h"

int esp_deflate(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
        uLongf cap = compressBound((uLong)len);
        uint8_t *buf = malloc(cap ? cap : 1);
        if (!buf)
                return -ENOMEM;
        if (compress2(buf, &cap, in, (uLong)len, 9) != Z_OK) {
                free(buf);
                return -EIO;
        }
        *out = buf;
        *out_len = cap;
        return 0;
}

static double mono_s(void)
{
        return (double)util_mono_ms() / 1e3;
}

static void logf_(const struct esp_flash_opts *o, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void logf_(const struct esp_flash_opts *o, const char *fmt, ...)
{
        if (!o->log)
                return;
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        o->log(o->user, line);
}

static void progress(const struct esp_flash_opts *o, const char *phase, uint64_t done,
                     uint64_t total, double t0)
{
        if (!o->progress)
                return;
        double dt = mono_s() - t0;
        int pct = total ? (int)(done * 100 / total) : 100;
        o->progress(o->user, phase, pct, done, total, dt > 0 ? (double)done * 8 / 1000 / dt : 0);
}

static void md5_hex(const uint8_t *d, size_t len, char out[33], uint8_t raw[16])
{
        unsigned n = 0;
        EVP_Digest(d, len, raw, &n, EVP_md5(), NULL);
        for (int i = 0; i < 16; i++)
                snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static bool rom_8266(const struct esp_loader *l)
{
        return !l->stub && l->chip && l->chip->is_esp8266;
}

static bool can_md5(const struct esp_loader *l)
{
        return l->stub || (l->chip && l->chip->rom_has_md5);
}

static bool can_deflate(const struct esp_loader *l)
{
        return l->stub || (l->chip && l->chip->rom_has_defl);
}

static const char *pname(const struct esp_flash_part *p)
{
        return p->name ? p->name : "image";
}

int esp_flash_validate(const struct esp_loader *l, const struct esp_flash_part *parts, size_t n,
                       const struct esp_flash_opts *o, char *msg, size_t msg_size)
{
        int mv, sv, fv;
        if (!l->chip) {
                snprintf(msg, msg_size, "The chip was not identified");
                return -EINVAL;
        }
        if (n == 0 && !o->erase_all) {
                snprintf(msg, msg_size, "Nothing to write");
                return -EINVAL;
        }
        if (n > ESP_FLASH_MAX_PARTS) {
                snprintf(msg, msg_size, "Too many parts (%zu, at most %d)", n, ESP_FLASH_MAX_PARTS);
                return -EINVAL;
        }
        if (o->compress == ESP_COMPRESS_ON && !can_deflate(l)) {
                snprintf(msg, msg_size, "The %s ROM loader cannot take compressed data; use "
                         "compress \"auto\"/\"off\" or a flasher stub", l->chip->name);
                return -EINVAL;
        }
        if (esp_image_param_values(l->chip, o->flash_mode, o->flash_size, o->flash_freq,
                                   l->flash_size, &mv, &sv, &fv, msg, msg_size) < 0)
                return -EINVAL;
        int rev = l->rev_major >= 0 ? l->rev_major * 100 + l->rev_minor : -1;
        for (size_t i = 0; i < n; i++) {
                const struct esp_flash_part *p = &parts[i];
                if (!p->data || p->len == 0) {
                        snprintf(msg, msg_size, "%s is empty", pname(p));
                        return -EINVAL;
                }
                uint64_t end = (uint64_t)p->offset + p->len;
                if (l->flash_size && end > l->flash_size) {
                        snprintf(msg, msg_size, "%s (%zu bytes at 0x%x) does not fit in the %u KiB "
                                 "flash", pname(p), p->len, p->offset, l->flash_size / 1024);
                        return -EINVAL;
                }
                if (end > UINT32_MAX) {
                        snprintf(msg, msg_size, "%s ends beyond 4 GiB", pname(p));
                        return -EINVAL;
                }
                /* Without a stub writes start on a 4 KiB boundary: compare aligned ranges. */
                uint32_t a0 = l->stub ? p->offset : p->offset & ~(ESP_SECTOR - 1);
                for (size_t k = 0; k < n; k++) {
                        if (k == i)
                                continue;
                        uint64_t b0 = parts[k].offset, b1 = b0 + parts[k].len;
                        if (a0 < b1 && b0 < end) {
                                snprintf(msg, msg_size, "%s (0x%x..0x%llx) overlaps %s at 0x%x",
                                         pname(p), a0, (unsigned long long)end, pname(&parts[k]),
                                         parts[k].offset);
                                return -EINVAL;
                        }
                }
                if (p->data[0] == ESP_IMAGE_MAGIC || p->data[0] == ESP_IMAGE_MAGIC_8266_V2) {
                        char m[200];
                        if (esp_image_check(p->data, p->len, l->chip, rev, m, sizeof(m)) == -EINVAL) {
                                snprintf(msg, msg_size, "%s: %s", pname(p), m);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}

/* The exact bytes that go to flash for one part: ROM alignment prefix, patched header,
 * padding to 4 bytes. */
struct prepared {
        uint32_t offset;
        uint8_t *buf;
        size_t len;
        uint8_t *z;
        size_t zlen;
        char md5[33];
        uint8_t md5raw[16];
        uint32_t runs[ESP_DIFF_MAX_RUNS + 1][2]; /* sector diff: only these are written */
        size_t n_runs;
};

static int prepare_part(struct esp_loader *l, const struct esp_flash_part *p,
                        const struct esp_flash_opts *o, struct prepared *out, bool *patched)
{
        uint32_t pre = l->stub ? 0 : p->offset % ESP_SECTOR;
        size_t len = pre + p->len;
        size_t padded = (len + 3) & ~(size_t)3;
        uint8_t *b = malloc(padded);
        if (!b)
                return esp_loader_fail(l, -ENOMEM, "Out of memory for %s", pname(p));
        memset(b, 0xFF, pre);
        memcpy(b + pre, p->data, p->len);
        memset(b + len, 0xFF, padded - len);
        /* Patch on the part as the user placed it (esptool pads to 4 before patching). */
        bool did = false;
        char m[200];
        int e = esp_image_patch(b + pre, padded - pre, p->offset, l->chip, o->flash_mode,
                                o->flash_size, o->flash_freq, l->flash_size,
                                l->have_sec_info && (l->sec_flags & 1), &did, m, sizeof(m));
        if (e < 0) {
                free(b);
                return esp_loader_fail(l, e, "%s: %s", pname(p), m);
        }
        if (did || (p->offset == l->chip->bootloader_offset && p->data[0] == ESP_IMAGE_MAGIC &&
                    (o->flash_mode || o->flash_size || o->flash_freq)))
                logf_(o, "%s at 0x%x: %s", pname(p), p->offset, m);
        *patched = *patched || did;
        out->offset = p->offset - pre;
        out->buf = b;
        out->len = padded;
        md5_hex(b, padded, out->md5, out->md5raw);
        return 0;
}

static int fail_write(struct esp_loader *l, int e, const char *what, uint32_t at, uint32_t start,
                      size_t total)
{
        if (e == -ENODEV)
                return esp_loader_fail(l, e, "The board disappeared during %s (unplugged?) at 0x%x "
                                       "of 0x%x..0x%zx", what, at, start, start + total);
        if (e == -ECANCELED)
                return esp_loader_fail(l, e, "Cancelled during %s at 0x%x", what, at);
        char prev[sizeof(l->msg)];
        snprintf(prev, sizeof(prev), "%s", l->msg);
        return esp_loader_fail(l, e, "Writing failed at 0x%x: %.400s", at, prev);
}

static int write_part(struct esp_loader *l, struct prepared *pp, bool deflate,
                      const struct esp_flash_opts *o, uint64_t *done, uint64_t total, double t0,
                      uint64_t *wire)
{
        uint32_t bs = l->block_size;
        int e;
        if (deflate) {
                e = esp_flash_defl_begin(l, pp->offset, (uint32_t)pp->len, (uint32_t)pp->zlen);
                if (e < 0)
                        return fail_write(l, e, "erasing", pp->offset, pp->offset, pp->len);
                uint32_t blocks = (uint32_t)((pp->zlen + bs - 1) / bs);
                uint64_t base = *done;
                for (uint32_t seq = 0; seq < blocks; seq++) {
                        size_t off = (size_t)seq * bs;
                        size_t n = pp->zlen - off < bs ? pp->zlen - off : bs;
                        uint32_t est = (uint32_t)((uint64_t)n * pp->len / pp->zlen + 1);
                        e = esp_flash_defl_block(l, pp->z + off, n, seq, est);
                        uint64_t at_unc = (uint64_t)(off + n) * pp->len / pp->zlen;
                        if (e < 0)
                                return fail_write(l, e, "writing",
                                                  pp->offset + (uint32_t)((uint64_t)off * pp->len / pp->zlen),
                                                  pp->offset, pp->len);
                        *wire += n;
                        *done = base + at_unc;
                        progress(o, "writing", *done, total, t0);
                }
                *done = base + pp->len;
        } else {
                e = esp_flash_begin(l, pp->offset, (uint32_t)pp->len);
                if (e < 0)
                        return fail_write(l, e, "erasing", pp->offset, pp->offset, pp->len);
                uint32_t blocks = (uint32_t)((pp->len + bs - 1) / bs);
                for (uint32_t seq = 0; seq < blocks; seq++) {
                        size_t off = (size_t)seq * bs;
                        size_t n = pp->len - off < bs ? pp->len - off : bs;
                        e = esp_flash_block(l, pp->buf + off, n, seq);
                        if (e < 0)
                                return fail_write(l, e, "writing", pp->offset + (uint32_t)off,
                                                  pp->offset, pp->len);
                        *wire += bs;
                        *done += n;
                        progress(o, "writing", *done, total, t0);
                }
        }
        e = esp_flash_finish(l, deflate);
        if (e < 0)
                return fail_write(l, e, "writing", pp->offset + (uint32_t)pp->len, pp->offset, pp->len);
        return 0;
}

static int verify_part(struct esp_loader *l, const struct prepared *pp, enum esp_verify v)
{
        if (v == ESP_VERIFY_MD5) {
                uint8_t got[16];
                int e = esp_flash_md5(l, pp->offset, (uint32_t)pp->len, got);
                if (e < 0)
                        return e;
                if (memcmp(got, pp->md5raw, 16) != 0) {
                        char hex[33];
                        for (int i = 0; i < 16; i++)
                                snprintf(hex + 2 * i, 3, "%02x", got[i]);
                        return esp_loader_fail(l, -EIO, "Verify failed at 0x%x: flash MD5 %s, "
                                               "expected %s (the flash did not keep the data)",
                                               pp->offset, hex, pp->md5);
                }
                return 0;
        }
        uint8_t *back = malloc(pp->len);
        if (!back)
                return esp_loader_fail(l, -ENOMEM, "Out of memory for read-back");
        int e = esp_read_flash(l, pp->offset, (uint32_t)pp->len, back);
        if (e == 0) {
                for (size_t i = 0; i < pp->len; i++) {
                        if (back[i] != pp->buf[i]) {
                                e = esp_loader_fail(l, -EIO, "Verify failed: flash at 0x%zx reads "
                                                    "0x%02x, expected 0x%02x", pp->offset + i,
                                                    back[i], pp->buf[i]);
                                break;
                        }
                }
        }
        free(back);
        return e;
}

static size_t run_len(const struct prepared *pp, size_t k);

/* A sector-diff part: the written runs are verified; the rest matched the record by MD5 just
 * before the write and was not touched. */
static int verify_runs(struct esp_loader *l, const struct prepared *pp, enum esp_verify v)
{
        for (size_t k = 0; k < pp->n_runs; k++) {
                struct prepared sub = { .offset = pp->offset + pp->runs[k][0] * ESP_DIFF_SECTOR,
                                        .buf = pp->buf + (size_t)pp->runs[k][0] * ESP_DIFF_SECTOR, .len = run_len(pp, k) };
                md5_hex(sub.buf, sub.len, sub.md5, sub.md5raw);
                int e = verify_part(l, &sub, v);
                if (e < 0)
                        return e;
        }
        return 0;
}

static void free_prepared(struct prepared *pp, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(pp[i].buf);
                free(pp[i].z);
        }
}

void esp_flash_result_clear(struct esp_flash_result *res)
{
        if (!res)
                return;
        for (size_t i = 0; i < ESP_FLASH_MAX_PARTS; i++) {
                free(res->parts[i].sector_hashes);
                res->parts[i].sector_hashes = NULL;
        }
}

static size_t run_len(const struct prepared *pp, size_t k)
{
        size_t start = (size_t)pp->runs[k][0] * ESP_DIFF_SECTOR, len = (size_t)pp->runs[k][1] * ESP_DIFF_SECTOR;
        return start + len > pp->len ? pp->len - start : len;
}

/* A part that changed: when corral's record for its offset still matches the flash, plan the
 * runs of differing sectors (pp->n_runs > 0). got: the flash MD5 over the part's length, when
 * known. 0 (a full write otherwise, r->diff says why) or a port error. */
static int plan_diff(struct esp_loader *l, const struct esp_flash_opts *o, const struct esp_flash_part *p,
                     struct prepared *pp, struct esp_flash_part_result *r, const uint8_t got[16])
{
        const struct esp_flash_record *rec = NULL;
        for (size_t k = 0; k < o->n_records; k++)
                if (o->records[k].offset == pp->offset)
                        rec = &o->records[k];
        r->diff = "no_record";
        if (!rec)
                return 0;
        if (pp->offset % ESP_DIFF_SECTOR) {
                r->diff = "unaligned";
                return 0;
        }
        uint8_t held[16];
        if (rec->len == pp->len && got) {
                memcpy(held, got, 16);
        } else {
                int e = esp_flash_md5(l, rec->offset, rec->len, held);
                if (e == -ENODEV || e == -ECANCELED)
                        return e;
                if (e < 0)
                        return 0;
        }
        if (memcmp(held, rec->md5, 16)) {
                r->diff = "changed";
                logf_(o, "%s at 0x%x: the flash no longer holds what corral wrote there last (written by another "
                      "tool?): writing all of it", pname(p), pp->offset);
                return 0;
        }
        uint8_t *h = NULL;
        size_t n = 0;
        if (esp_diff_hash(pp->buf, pp->len, &h, &n) < 0)
                return esp_loader_fail(l, -ENOMEM, "Out of memory");
        size_t nr = 0, d = esp_diff_runs(h, n, rec->sectors, rec->n_sectors, pp->runs, ESP_DIFF_MAX_RUNS, &nr);
        free(h);
        r->sectors = n;
        if (d == 0) { /* the hashes match but the MD5 did not: trust neither */
                r->diff = "changed";
                return 0;
        }
        if (nr > ESP_DIFF_MAX_RUNS || d * 2 > n) {
                r->diff = "dense";
                logf_(o, "%s at 0x%x: %zu of %zu sectors changed: writing all of it", pname(p), pp->offset, d, n);
                return 0;
        }
        pp->n_runs = nr;
        r->diff = "sectors";
        r->sectors_written = d;
        logf_(o, "%s at 0x%x: %zu of %zu sectors changed since corral wrote it (the board still holds that): "
              "writing only those", pname(p), pp->offset, d, n);
        return 0;
}

/* Write the planned runs of one part, each deflated where the loader can. */
static int write_runs(struct esp_loader *l, struct prepared *pp, struct esp_flash_part_result *r, bool deflate,
                      const struct esp_flash_opts *o, uint64_t *done, uint64_t total, double t0,
                      struct esp_flash_result *res)
{
        double ts = mono_s();
        size_t bytes = 0, zbytes = 0;
        for (size_t k = 0; k < pp->n_runs; k++) {
                struct prepared sub = { .offset = pp->offset + pp->runs[k][0] * ESP_DIFF_SECTOR,
                                        .buf = pp->buf + (size_t)pp->runs[k][0] * ESP_DIFF_SECTOR, .len = run_len(pp, k) };
                bool z = false;
                if (deflate) {
                        int e = esp_deflate(sub.buf, sub.len, &sub.z, &sub.zlen);
                        if (e < 0)
                                return esp_loader_fail(l, e, "Compressing failed");
                        z = o->compress == ESP_COMPRESS_ON || sub.zlen < sub.len;
                }
                int e = write_part(l, &sub, z, o, done, total, t0, &res->wire_bytes);
                free(sub.z);
                if (e < 0)
                        return e;
                bytes += sub.len;
                zbytes += z ? sub.zlen : sub.len;
        }
        res->bytes_written += bytes;
        r->compressed_len = deflate ? zbytes : 0;
        double dt = mono_s() - ts;
        logf_(o, "Wrote %zu changed bytes (%zu on the wire) in %zu run(s) at 0x%08x.. in %.2f s", bytes, zbytes,
              pp->n_runs, pp->offset, dt);
        return 0;
}

/* Erase the whole chip first when asked. */
static int erase_all_phase(struct esp_loader *l, const struct esp_flash_opts *o, double t0)
{
        progress(o, "erasing", 0, 1, t0);
        int e = esp_erase_all(l);
        if (e < 0)
                return fail_write(l, e, "erasing", 0, 0, l->flash_size);
        logf_(o, "Erased the whole flash (%u KiB)", l->flash_size / 1024);
        progress(o, "erasing", 1, 1, t0);
        return 0;
}

/* Fill in each part's result and decide what to write: parts whose MD5 already matches are
 * skipped, changed ones may be cut to their changed sectors. *ret_total: the bytes to write. */
static int plan_parts(struct esp_loader *l, const struct esp_flash_part *parts, struct prepared *pp, size_t np,
                      const struct esp_flash_opts *o, struct esp_flash_result *res, uint64_t *ret_total)
{
        bool skip = o->skip_unchanged && !o->erase_all;
        uint64_t total = 0;
        if (skip) {
                res->skip = can_md5(l) ? "md5" : "not_possible";
                if (!can_md5(l))
                        logf_(o, "Unchanged parts cannot be skipped: the %s ROM loader has no MD5 "
                              "command (a flasher stub, stub_dir, can); writing everything",
                              l->chip->name);
        }
        for (size_t i = 0; i < np; i++) {
                struct esp_flash_part_result *r = &res->parts[i];
                r->offset = pp[i].offset;
                r->len = pp[i].len;
                memcpy(r->md5, pp[i].md5, sizeof(r->md5));
                memcpy(r->md5raw, pp[i].md5raw, 16);
                r->diff = "off";
                if (o->want_sectors && esp_diff_hash(pp[i].buf, pp[i].len, &r->sector_hashes, &r->sectors) < 0)
                        return esp_loader_fail(l, -ENOMEM, "Out of memory");
                if (skip && can_md5(l)) {
                        uint8_t got[16];
                        int e = esp_flash_md5(l, pp[i].offset, (uint32_t)pp[i].len, got);
                        if (e == -ENODEV || e == -ECANCELED)
                                return e;
                        if (e == 0 && memcmp(got, pp[i].md5raw, 16) == 0) {
                                r->skipped = true;
                                r->verified = true; /* its MD5 matched */
                                res->bytes_skipped += pp[i].len;
                                logf_(o, "%s at 0x%x is already in flash (MD5 %s): skipped",
                                      pname(&parts[i]), pp[i].offset, pp[i].md5);
                                continue;
                        }
                        e = plan_diff(l, o, &parts[i], &pp[i], r, e == 0 ? got : NULL);
                        if (e < 0)
                                return e;
                        if (pp[i].n_runs) {
                                for (size_t k = 0; k < pp[i].n_runs; k++)
                                        total += run_len(&pp[i], k);
                                continue;
                        }
                }
                total += pp[i].len;
        }
        *ret_total = total;
        return 0;
}

/* The write baud: the one asked for, or the caller's choice (pick_baud); the ESP8266 ROM keeps its own. */
static int set_write_baud(struct esp_loader *l, const struct esp_flash_opts *o)
{
        if (o->baud && o->baud != l->port->baud) {
                if (rom_8266(l)) {
                        logf_(o, "The ESP8266 ROM cannot change the baud rate; keeping %u", l->port->baud);
                        return 0;
                }
                TRY(esp_change_baud(l, o->baud));
                logf_(o, "Changed baud rate to %u", o->baud);
        } else if (!o->baud && o->pick_baud) {
                TRY(o->pick_baud(o->user, l));
        }
        return 0;
}

/* Write one whole part, deflated where the loader can and it pays. */
static int write_whole_part(struct esp_loader *l, const struct esp_flash_part *part, struct prepared *pp,
                            bool deflate, const struct esp_flash_opts *o, uint64_t *done, uint64_t total, double t0,
                            struct esp_flash_result *res, struct esp_flash_part_result *r)
{
        bool z = false;
        if (deflate) {
                int e = o->deflate ? o->deflate(o->user, pp->buf, pp->len, &pp->z, &pp->zlen)
                                   : esp_deflate(pp->buf, pp->len, &pp->z, &pp->zlen);
                if (e < 0)
                        return esp_loader_fail(l, e, "Compressing %s failed", pname(part));
                z = o->compress == ESP_COMPRESS_ON || pp->zlen < pp->len;
        }
        double ts = mono_s();
        TRY(write_part(l, pp, z, o, done, total, t0, &res->wire_bytes));
        double dt = mono_s() - ts;
        res->bytes_written += pp->len;
        r->compressed_len = z ? pp->zlen : 0;
        if (z)
                logf_(o, "Wrote %zu bytes (%zu compressed) at 0x%08x in %.1f s (%.1f kbit/s)", pp->len, pp->zlen,
                      pp->offset, dt, dt > 0 ? pp->len * 8 / 1000.0 / dt : 0.0);
        else
                logf_(o, "Wrote %zu bytes at 0x%08x in %.1f s (%.1f kbit/s)", pp->len, pp->offset, dt,
                      dt > 0 ? pp->len * 8 / 1000.0 / dt : 0.0);
        return 0;
}

/* Write every part not skipped: its changed runs, or all of it. */
static int write_parts(struct esp_loader *l, const struct esp_flash_part *parts, struct prepared *pp, size_t np,
                       bool deflate, const struct esp_flash_opts *o, uint64_t total, struct esp_flash_result *res)
{
        uint64_t done = 0;
        double t0 = mono_s();
        for (size_t i = 0; i < np; i++) {
                if (res->parts[i].skipped)
                        continue;
                if (pp[i].n_runs)
                        TRY(write_runs(l, &pp[i], &res->parts[i], deflate, o, &done, total, t0, res));
                else
                        TRY(write_whole_part(l, &parts[i], &pp[i], deflate, o, &done, total, t0, res,
                                             &res->parts[i]));
        }
        res->seconds = mono_s() - t0;
        res->kbps = res->seconds > 0 ? (double)res->bytes_written * 8 / 1000 / res->seconds : 0;
        return 0;
}

/* Check what was written (MD5 or read-back), where the loader can. */
static int verify_parts(struct esp_loader *l, struct prepared *pp, size_t np, const struct esp_flash_opts *o,
                        struct esp_flash_result *res)
{
        enum esp_verify v = o->verify;
        if (v == ESP_VERIFY_MD5 && !can_md5(l)) {
                logf_(o, "verify: not possible on ESP8266 ROM without stub");
                res->verify = "not_possible";
                return 0;
        }
        if (v == ESP_VERIFY_READBACK && rom_8266(l)) {
                logf_(o, "verify: not possible on ESP8266 ROM without stub (it cannot read flash)");
                res->verify = "not_possible";
                return 0;
        }
        if (v == ESP_VERIFY_NONE)
                return 0;
        uint64_t vt = 0, vd = 0;
        for (size_t i = 0; i < np; i++)
                vt += res->parts[i].skipped ? 0 : pp[i].len;
        double tv = mono_s();
        for (size_t i = 0; i < np; i++) {
                if (res->parts[i].skipped)
                        continue;
                int e = pp[i].n_runs ? verify_runs(l, &pp[i], v) : verify_part(l, &pp[i], v);
                if (e == -ENODEV)
                        return fail_write(l, e, "verifying", pp[i].offset, pp[i].offset, pp[i].len);
                if (e < 0)
                        return e;
                res->parts[i].verified = true;
                vd += pp[i].len;
                progress(o, "verifying", vd, vt, tv);
        }
        res->verify = v == ESP_VERIFY_MD5 ? "md5" : "readback";
        res->verify_s = mono_s() - tv;
        logf_(o, "Verified %llu bytes (%s)", (unsigned long long)vd, res->verify);
        return 0;
}

/* Boot the new firmware; a port without reset lines is logged, not an error. */
static int reset_after(struct esp_loader *l, const struct esp_flash_opts *o)
{
        progress(o, "resetting", 0, 1, mono_s());
        int e = esp_hard_reset(l);
        if (e == -ENOTSUP || e == -EINVAL)
                logf_(o, "%s", l->msg);
        else if (e < 0)
                return e;
        progress(o, "resetting", 1, 1, mono_s());
        return 0;
}

/* The phases in order; each records its time in res. */
static int flash_phases(struct esp_loader *l, const struct esp_flash_part *parts, struct prepared *pp, size_t np,
                        const struct esp_flash_opts *o, struct esp_flash_result *res)
{
        bool deflate = o->compress != ESP_COMPRESS_OFF && can_deflate(l);
        double t0 = mono_s();
        if (o->erase_all)
                TRY(erase_all_phase(l, o, t0));
        double tc = mono_s();
        res->erase_s = tc - t0;
        uint64_t total = 0;
        TRY(plan_parts(l, parts, pp, np, o, res, &total));
        /* The baud only matters for what is left to write: after the compare, not before. */
        double tb = mono_s();
        res->compare_s = tb - tc;
        if (total > 0)
                TRY(set_write_baud(l, o));
        res->baud_s = mono_s() - tb;
        TRY(write_parts(l, parts, pp, np, deflate, o, total, res));
        res->n_parts = np;
        TRY(verify_parts(l, pp, np, o, res));
        if (!o->no_reset) {
                double tr = mono_s();
                TRY(reset_after(l, o));
                res->reset_s = mono_s() - tr;
        }
        return 0;
}

int esp_flash_write(struct esp_loader *l, const struct esp_flash_part *parts, size_t n,
                    const struct esp_flash_opts *o, struct esp_flash_result *res)
{
        struct esp_flash_opts def = { 0 };
        struct prepared pp[ESP_FLASH_MAX_PARTS];
        char m[sizeof(l->msg)];
        if (!o)
                o = &def;
        memset(res, 0, sizeof(*res));
        memset(pp, 0, sizeof(pp));
        res->verify = "none";
        res->skip = "off";
        int e = esp_flash_validate(l, parts, n, o, m, sizeof(m));
        if (e < 0)
                return esp_loader_fail(l, e, "%s", m);
        size_t np = 0;
        for (; np < n; np++)
                if ((e = prepare_part(l, &parts[np], o, &pp[np], &res->patched)) < 0)
                        break;
        if (e == 0)
                e = flash_phases(l, parts, pp, np, o, res);
        res->n_parts = np;
        free_prepared(pp, np);
        return e;
}
