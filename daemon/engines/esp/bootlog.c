/* Boot-log classifier: splits the captured bytes into lines, tracks ROM boot cycles (each reset
 * line starts one) and the markers of each outcome, then picks one verdict with its evidence. */
#include "engines/esp/bootlog.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCAN_LINE_MAX 512 /* longer lines are matched on their first 511 bytes */

/* Lines kept while scanning; assembled into the evidence at the end. */
struct scan {
        enum bootlog_chip chip;
        struct bootlog_result *r;
        unsigned lines, text_lines;
        char first[BOOTLOG_MAX_EVIDENCE][BOOTLOG_LINE_MAX]; /* first readable lines */
        size_t n_first;
        char first_reset[BOOTLOG_LINE_MAX], last_reset[BOOTLOG_LINE_MAX];
        char banner[BOOTLOG_LINE_MAX], prompt[BOOTLOG_LINE_MAX];
        char download[BOOTLOG_LINE_MAX], download_wait[BOOTLOG_LINE_MAX], blank[2][BOOTLOG_LINE_MAX], bad[2][BOOTLOG_LINE_MAX];
        char notable[BOOTLOG_LINE_MAX];
        char empty_load[BOOTLOG_LINE_MAX]; /* "load 0x00000000, len 0, ..." after a real load */
        size_t n_blank, n_bad;
        bool is_download, is_blank, is_bad, handover;
        unsigned loads_since_reset;
        unsigned resets_at_boot;      /* resets counted when the last banner/prompt was seen */
        bool booted_seen;
        bool crashed;                 /* a crash line was seen */
        /* Per capture: garbage and reset lines, for "ROM output was unreadable". */
        unsigned cap_garbage, cap_resets;
};

const char *bootlog_class_name(enum bootlog_class cls)
{
        switch (cls) {
        case BOOTLOG_BOOTED: return "booted";
        case BOOTLOG_BOOT_LOOP: return "boot_loop";
        case BOOTLOG_BLANK_FLASH: return "blank_flash";
        case BOOTLOG_BAD_IMAGE: return "bad_image";
        case BOOTLOG_DOWNLOAD_MODE: return "download_mode";
        case BOOTLOG_SILENT: return "silent";
        case BOOTLOG_UNKNOWN: break;
        }
        return "unknown_output";
}

int bootlog_chip_from_name(const char *name, enum bootlog_chip *ret)
{
        if (!name || !ret)
                return -EINVAL;
        if (!strcasecmp(name, "esp8266") || !strcasecmp(name, "esp8285")) {
                *ret = BOOTLOG_ESP8266;
                return 0;
        }
        if (!strncasecmp(name, "esp32", 5)) {
                *ret = BOOTLOG_ESP32;
                return 0;
        }
        return -EINVAL;
}

unsigned bootlog_rom_baud(enum bootlog_chip chip)
{
        return chip == BOOTLOG_ESP8266 ? BOOTLOG_ROM_BAUD_ESP8266 : BOOTLOG_ROM_BAUD_ESP32;
}

static void copy_line(char dst[BOOTLOG_LINE_MAX], const char *src)
{
        snprintf(dst, BOOTLOG_LINE_MAX, "%s", src);
}

/* Printable copy of raw[0..n): CR dropped, ANSI escapes removed, other bytes as '?'. Counts the
 * bytes that were not printable ASCII. Returns the text length. */
static size_t clean_line(const uint8_t *raw, size_t n, char *out, size_t out_size, size_t *ret_bad,
                         size_t *ret_total)
{
        size_t o = 0, bad = 0, total = 0;
        for (size_t i = 0; i < n; i++) {
                uint8_t c = raw[i];
                if (c == '\r')
                        continue;
                if (c == 0x1b) { /* ESC [ params final-byte */
                        size_t j = i + 1;
                        if (j < n && raw[j] == '[') {
                                j++;
                                while (j < n && ((raw[j] >= '0' && raw[j] <= '9') || raw[j] == ';'))
                                        j++;
                                if (j < n)
                                        i = j;
                                else
                                        i = n - 1;
                                continue;
                        }
                }
                total++;
                bool ok = (c >= 0x20 && c < 0x7f) || c == '\t';
                if (!ok)
                        bad++;
                if (o + 1 < out_size)
                        out[o++] = ok ? (c == '\t' ? ' ' : (char)c) : '?';
        }
        out[o] = '\0';
        *ret_bad = bad;
        *ret_total = total;
        return o;
}

static const char *skip_space(const char *s)
{
        while (*s == ' ')
                s++;
        return s;
}

static bool starts_with(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), k = strlen(suffix);
        while (n > 0 && s[n - 1] == ' ')
                n--;
        return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

/* "(NAME)" with nested parentheses at p (after optional spaces) into out. */
static void paren_name(const char *p, char *out, size_t size)
{
        p = skip_space(p);
        out[0] = '\0';
        if (*p != '(')
                return;
        int depth = 0;
        size_t o = 0;
        for (const char *q = p; *q; q++) {
                if (*q == '(' && depth++ == 0)
                        continue;
                if (*q == ')' && --depth == 0)
                        break;
                if (o + 1 < size)
                        out[o++] = *q;
        }
        out[o] = '\0';
}

/* A ROM reset line? Fills the reset fields of r. ESP8266 and ESP32 styles both accepted. */
static bool parse_reset(const char *line, struct bootlog_result *r)
{
        const char *p = strstr(line, "rst cause:");
        if (!p)
                p = strstr(line, "rst cause ");
        if (p && isdigit((unsigned char)p[10])) {
                r->reset_cause = atoi(p + 10);
                r->reset_reason[0] = '\0';
                r->boot_mode = r->boot_mode_sub = -1;
                r->boot_reason[0] = '\0';
                const char *b = strstr(p, "boot mode:(");
                if (!b)
                        b = strstr(p, "boot mode (");
                if (b) {
                        int a = -1, c = -1;
                        if (sscanf(b + 11, "%d,%d", &a, &c) >= 1) {
                                r->boot_mode = a;
                                r->boot_mode_sub = c;
                        }
                }
                return true;
        }
        p = strstr(line, "rst:0x");
        if (!p || !isxdigit((unsigned char)p[6]))
                return false;
        char *end;
        r->reset_cause = (int)strtol(p + 6, &end, 16);
        paren_name(end, r->reset_reason, sizeof(r->reset_reason));
        r->boot_mode = r->boot_mode_sub = -1;
        r->boot_reason[0] = '\0';
        const char *b = strstr(end, "boot:0x");
        if (b && isxdigit((unsigned char)b[7])) {
                r->boot_mode = (int)strtol(b + 7, &end, 16);
                paren_name(end, r->boot_reason, sizeof(r->boot_reason));
        }
        return true;
}

/* "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266" */
static bool parse_banner(const char *line, struct bootlog_result *r)
{
        const char *p = strstr(line, "MicroPython v");
        if (!p || !isdigit((unsigned char)p[13]))
                return false;
        p += 13;
        size_t n = 0;
        while (p[n] && (isalnum((unsigned char)p[n]) || strchr(".-+_", p[n])))
                n++;
        snprintf(r->mp_version, sizeof(r->mp_version), "%.*s", (int)n, p);
        p += n;
        r->mp_date[0] = r->mp_board[0] = r->mp_mcu[0] = '\0';
        if (starts_with(p, " on ")) {
                p += 4;
                n = strcspn(p, ";");
                snprintf(r->mp_date, sizeof(r->mp_date), "%.*s", (int)(n < 15 ? n : 15), p);
                p += n;
        }
        if (starts_with(p, "; ")) {
                p += 2;
                const char *with = strstr(p, " with ");
                if (with) {
                        snprintf(r->mp_board, sizeof(r->mp_board), "%.*s", (int)(with - p), p);
                        snprintf(r->mp_mcu, sizeof(r->mp_mcu), "%s", with + 6);
                } else {
                        snprintf(r->mp_board, sizeof(r->mp_board), "%s", p);
                }
        }
        return true;
}

static bool is_blank_header(const char *line)
{
        /* "invalid header: 0xffffffff" (one report types a letter O: "Oxffffffff"). */
        const char *p = strstr(line, "invalid header: ");
        if (!p)
                return false;
        p += 16;
        if ((p[0] == '0' || p[0] == 'O') && p[1] == 'x')
                p += 2;
        return strncasecmp(p, "ffffffff", 8) == 0;
}

static bool is_bad_image(const char *line)
{
        return strstr(line, "csum err") || (strstr(line, "invalid header: ") && !is_blank_header(line)) ||
               strcasestr(line, "checksum error") || strcasestr(line, "checksum fail") ||
               strstr(line, "Image hash failed") || strstr(line, "invalid magic byte") ||
               strstr(line, "No bootable app partitions") || strstr(line, "load:0xffffffff,len:-1");
}

/* Lines that say the firmware crashed (and the chip will reset). */
static bool is_crash(const char *line)
{
        return strstr(line, "wdt reset") || strstr(line, "Fatal exception") || strstr(line, "Guru Meditation") ||
               strstr(line, "panic'ed") || strstr(line, "abort() was called") || strstr(line, "Rebooting...") ||
               strstr(line, "Brownout detector was triggered");
}

static void add_marker(char lines[2][BOOTLOG_LINE_MAX], size_t *n, const char *line)
{
        for (size_t i = 0; i < *n; i++)
                if (!strcmp(lines[i], line))
                        return;
        if (*n < 2)
                copy_line(lines[(*n)++], line);
}

static void scan_line(struct scan *sc, const char *line, bool garbage)
{
        struct bootlog_result *r = sc->r;
        const char *t = skip_space(line);
        sc->lines++;
        if (garbage)
                sc->cap_garbage++;
        if (!*t)
                return;
        if (!garbage) {
                sc->text_lines++;
                if (sc->n_first < BOOTLOG_MAX_EVIDENCE)
                        copy_line(sc->first[sc->n_first++], t);
        }
        if (parse_reset(t, r)) {
                r->resets++;
                sc->cap_resets++;
                if (!sc->first_reset[0])
                        copy_line(sc->first_reset, t);
                copy_line(sc->last_reset, t);
                sc->loads_since_reset = 0;
                sc->handover = false;
                bool dl = (r->reset_reason[0] || r->boot_reason[0]) ? strstr(r->boot_reason, "DOWNLOAD") != NULL
                                                                     : r->boot_mode == 1;
                sc->is_download = dl;
                if (dl)
                        copy_line(sc->download, t);
                return;
        }
        if (strstr(t, "waiting for download") || strstr(t, "wait uart download")) {
                sc->is_download = true;
                if (!sc->download_wait[0])
                        copy_line(sc->download_wait, t);
        }
        if (parse_banner(t, r)) {
                sc->booted_seen = true;
                sc->resets_at_boot = r->resets;
                copy_line(sc->banner, t);
        }
        if (!strcmp(t, ">>>") || starts_with(t, ">>> ")) {
                r->prompt = true;
                sc->booted_seen = true;
                sc->resets_at_boot = r->resets;
                if (!sc->prompt[0])
                        copy_line(sc->prompt, t);
        }
        if (starts_with(t, "load 0x00000000, len 0,") && sc->loads_since_reset > 0) {
                r->flash_mode_suspect = true;
                if (!sc->empty_load[0])
                        copy_line(sc->empty_load, t);
        }
        if (starts_with(t, "load 0x") || starts_with(t, "load:0x"))
                sc->loads_since_reset++;
        if (strstr(t, "looks corrupt") || strstr(t, "appears to be corrupted"))
                r->fs_corrupt = true;
        /* The ROM handed over to the image: earlier blank/bad cycles were transient. */
        if (starts_with(t, "entry 0x") || strstr(t, "2nd stage bootloader") ||
            (starts_with(t, "csum 0x") && sc->loads_since_reset > 0)) {
                sc->handover = true;
                sc->is_blank = sc->is_bad = false;
                sc->n_blank = sc->n_bad = 0;
        }
        if (strstr(t, "flash read err") || is_blank_header(t) ||
            (ends_with(t, "ets_main.c") && r->resets > 0 && sc->loads_since_reset == 0 && !sc->is_bad)) {
                sc->is_blank = true;
                add_marker(sc->blank, &sc->n_blank, t);
        } else if (is_bad_image(t)) {
                sc->is_bad = true;
                sc->handover = false;
                add_marker(sc->bad, &sc->n_bad, t);
        }
        if (is_crash(t)) {
                sc->crashed = true;
                if (!sc->notable[0])
                        copy_line(sc->notable, t);
        }
}

/* Feed one capture line by line. Returns the number of non-blank bytes. */
static size_t scan_capture(struct scan *sc, const struct bootlog_capture *cap)
{
        size_t content = 0;
        if (!cap || !cap->data)
                return 0;
        char text[SCAN_LINE_MAX];
        size_t start = 0;
        for (size_t i = 0; i <= cap->len; i++) {
                if (i < cap->len && cap->data[i] != '\n')
                        continue;
                size_t bad, total;
                clean_line(cap->data + start, i - start, text, sizeof(text), &bad, &total);
                for (size_t k = start; k < i; k++) {
                        uint8_t c = cap->data[k];
                        content += !(c == ' ' || c == '\r' || c == '\t' || c == 0 || c == 0xff);
                }
                bool garbage = total >= 2 && bad * 4 > total;
                if (total > 0)
                        scan_line(sc, text, garbage);
                start = i + 1;
        }
        return content;
}

static void add_evidence(struct bootlog_result *r, const char *line)
{
        if (!line || !line[0] || r->n_evidence >= BOOTLOG_MAX_EVIDENCE)
                return;
        for (size_t i = 0; i < r->n_evidence; i++)
                if (!strcmp(r->evidence[i], line))
                        return;
        char *e = r->evidence[r->n_evidence++];
        copy_line(e, line);
        for (size_t n = strlen(e); n > 0 && e[n - 1] == ' '; n--)
                e[n - 1] = '\0';
}

void bootlog_describe_reset(const struct bootlog_result *r, char *out, size_t size)
{
        if (r->reset_cause < 0)
                snprintf(out, size, "unknown");
        else if (!r->reset_reason[0] && !r->boot_reason[0])
                snprintf(out, size, "rst cause %d, boot mode (%d,%d)", r->reset_cause, r->boot_mode,
                         r->boot_mode_sub);
        else
                snprintf(out, size, "rst:0x%x (%s), boot:0x%x (%s)", (unsigned)r->reset_cause,
                         r->reset_reason[0] ? r->reset_reason : "?", r->boot_mode < 0 ? 0u : (unsigned)r->boot_mode,
                         r->boot_reason[0] ? r->boot_reason : "?");
}

/* Scan both captures; ROM bytes read at another baud than the ROM's come out as garbage, which
 * sets rom_unreadable. Returns the number of non-blank bytes. */
static size_t scan_captures(struct scan *sc, const struct bootlog_capture *rom, const struct bootlog_capture *fw,
                            unsigned want)
{
        struct bootlog_result *r = sc->r;
        size_t content = scan_capture(sc, rom);
        if (rom && rom->len && rom->baud && rom->baud != want && sc->cap_garbage > 0 && sc->cap_resets == 0) {
                r->rom_unreadable = true;
                r->rom_unreadable_baud = rom->baud;
        }
        sc->cap_garbage = sc->cap_resets = 0;
        content += scan_capture(sc, fw);
        /* A single capture at the firmware's baud often starts with the ESP8266 ROM's garbage. */
        if (sc->chip == BOOTLOG_ESP8266 && !r->rom_unreadable && r->resets == 0 && sc->cap_garbage > 0 && fw &&
            fw->baud && fw->baud != want) {
                r->rom_unreadable = true;
                r->rom_unreadable_baud = fw->baud;
        }
        if (sc->chip == BOOTLOG_ESP8266 && !fw && rom && rom->baud && rom->baud != want && r->resets == 0 &&
            !r->rom_unreadable && content > 0 && sc->text_lines < sc->lines) {
                r->rom_unreadable = true;
                r->rom_unreadable_baud = rom->baud;
        }
        return content;
}

/* The verdict, first match wins. */
static enum bootlog_class pick_class(const struct scan *sc, size_t content, bool reset_after_boot)
{
        const struct bootlog_result *r = sc->r;
        if (content == 0)
                return BOOTLOG_SILENT;
        if (sc->booted_seen && !reset_after_boot)
                return BOOTLOG_BOOTED;
        if (sc->is_download)
                return BOOTLOG_DOWNLOAD_MODE;
        if (sc->is_blank)
                return BOOTLOG_BLANK_FLASH;
        if (sc->is_bad) /* a bad image every boot, its segments read as empty: the flash mode */
                return r->flash_mode_suspect && r->resets >= 2 ? BOOTLOG_BOOT_LOOP : BOOTLOG_BAD_IMAGE;
        if (reset_after_boot || r->resets >= 3 || (r->resets >= 2 && !sc->handover) ||
            (r->resets >= 1 && sc->crashed))
                return BOOTLOG_BOOT_LOOP;
        return BOOTLOG_UNKNOWN;
}

static void explain_booted(const struct scan *sc, struct bootlog_result *r)
{
        add_evidence(r, sc->last_reset);
        add_evidence(r, sc->banner);
        add_evidence(r, sc->prompt);
        if (r->mp_version[0] && r->mp_board[0] && r->mp_mcu[0])
                snprintf(r->summary, sizeof(r->summary), "Booted MicroPython %s (%s with %s).", r->mp_version,
                         r->mp_board, r->mp_mcu);
        else if (r->mp_version[0] && r->mp_board[0])
                snprintf(r->summary, sizeof(r->summary), "Booted MicroPython %s (%s).", r->mp_version, r->mp_board);
        else if (r->mp_version[0])
                snprintf(r->summary, sizeof(r->summary), "Booted MicroPython %s.", r->mp_version);
        else
                snprintf(r->summary, sizeof(r->summary), "Booted: reached the MicroPython prompt.");
}

static void explain_boot_loop(const struct scan *sc, struct bootlog_result *r, const char *rst, bool reset_after_boot)
{
        if (sc->is_bad) {
                add_evidence(r, sc->first_reset);
                add_evidence(r, sc->last_reset);
                add_evidence(r, sc->empty_load);
                for (size_t i = 0; i < sc->n_bad; i++)
                        add_evidence(r, sc->bad[i]);
                snprintf(r->summary, sizeof(r->summary),
                         "Boot loop: %u resets, each a checksum error after the image's later segments read "
                         "as empty, as when the module cannot run the image's flash mode; last %s.",
                         r->resets, rst);
                return;
        }
        add_evidence(r, sc->banner);
        add_evidence(r, sc->notable);
        add_evidence(r, sc->first_reset);
        add_evidence(r, sc->last_reset);
        snprintf(r->summary, sizeof(r->summary), "Boot loop: %u reset%s%s; last %s.", r->resets,
                 r->resets == 1 ? "" : "s", reset_after_boot ? " after MicroPython started" : "", rst);
}

/* Evidence lines and the one-sentence summary for r->cls. */
static void explain(const struct scan *sc, struct bootlog_result *r, const struct bootlog_capture *rom,
                    const struct bootlog_capture *fw, unsigned want, bool reset_after_boot)
{
        char rst[160];
        bootlog_describe_reset(r, rst, sizeof(rst));
        switch (r->cls) {
        case BOOTLOG_SILENT: {
                unsigned b1 = rom && rom->baud ? rom->baud : want, b2 = fw && fw->baud ? fw->baud : b1;
                if (b1 == b2)
                        snprintf(r->summary, sizeof(r->summary), "Silent: no output at %u baud.", b1);
                else
                        snprintf(r->summary, sizeof(r->summary), "Silent: no output at %u or %u baud.", b1, b2);
                break;
        }
        case BOOTLOG_BOOTED:
                explain_booted(sc, r);
                break;
        case BOOTLOG_DOWNLOAD_MODE:
                add_evidence(r, sc->last_reset);
                add_evidence(r, sc->download);
                add_evidence(r, sc->download_wait);
                snprintf(r->summary, sizeof(r->summary),
                         "Download mode: the boot strapping pins selected the serial loader (%s).", rst);
                break;
        case BOOTLOG_BLANK_FLASH:
                add_evidence(r, sc->last_reset);
                for (size_t i = 0; i < sc->n_blank; i++)
                        add_evidence(r, sc->blank[i]);
                snprintf(r->summary, sizeof(r->summary),
                         "Blank flash: the ROM found nothing to boot (%u boot cycle%s seen).", r->resets,
                         r->resets == 1 ? "" : "s");
                break;
        case BOOTLOG_BAD_IMAGE:
                add_evidence(r, sc->last_reset);
                for (size_t i = 0; i < sc->n_bad; i++)
                        add_evidence(r, sc->bad[i]);
                snprintf(r->summary, sizeof(r->summary),
                         "Bad image: the boot ROM or bootloader rejected it (checksum or header error).");
                break;
        case BOOTLOG_BOOT_LOOP:
                explain_boot_loop(sc, r, rst, reset_after_boot);
                break;
        default:
                for (size_t i = 0; i < sc->n_first; i++)
                        add_evidence(r, sc->first[i]);
                snprintf(r->summary, sizeof(r->summary), "Unrecognised boot output (%u line%s).", sc->lines,
                         sc->lines == 1 ? "" : "s");
                break;
        }
}

void bootlog_classify(enum bootlog_chip chip, const struct bootlog_capture *rom,
                      const struct bootlog_capture *fw, struct bootlog_result *out)
{
        struct scan *sc = calloc(1, sizeof(*sc));
        struct bootlog_result *r = out;
        memset(r, 0, sizeof(*r));
        r->reset_cause = r->boot_mode = r->boot_mode_sub = -1;
        r->cls = BOOTLOG_UNKNOWN;
        if (!sc) {
                snprintf(r->summary, sizeof(r->summary), "Out of memory while classifying the boot log.");
                return;
        }
        sc->chip = chip;
        sc->r = r;
        unsigned want = bootlog_rom_baud(chip);
        size_t content = scan_captures(sc, rom, fw, want);
        bool reset_after_boot = sc->booted_seen && r->resets > sc->resets_at_boot;
        r->cls = pick_class(sc, content, reset_after_boot);
        explain(sc, r, rom, fw, want, reset_after_boot);
        if (r->rom_unreadable) {
                size_t n = strlen(r->summary);
                snprintf(r->summary + n, sizeof(r->summary) - n,
                         " ROM output was unreadable at %u baud (this ROM prints at %u).", r->rom_unreadable_baud,
                         want);
        }
        free(sc);
}

const char *bootlog_reset_kind(const struct bootlog_result *r)
{
        const char *n = r->reset_reason;
        if (r->reset_cause < 0)
                return "unknown";
        if (!n[0]) { /* ESP8266 ROM: the cause number alone */
                static const char *const e8266[] = { "unknown", "power-on", "external reset (EN pin) or restart",
                                                     "software reset", "watchdog", "deep-sleep wake-up",
                                                     "external reset (EN pin)" };
                return r->reset_cause < 7 ? e8266[r->reset_cause] : "unknown";
        }
        if (strstr(n, "BROWN"))
                return "brownout";
        if (strstr(n, "WDT"))
                return "watchdog";
        if (strstr(n, "POWERON"))
                return "power-on";
        if (strstr(n, "DEEPSLEEP"))
                return "deep-sleep wake-up";
        if (!strncmp(n, "SW", 2))
                return "software restart";
        if (strstr(n, "USB") || strstr(n, "JTAG"))
                return "USB/JTAG reset";
        if (strstr(n, "EXT") || strstr(n, "CHIP_RESET"))
                return "external reset (EN pin)";
        return "other";
}
