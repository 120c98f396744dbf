/* Wrong-baud recognition and annotation lines for the board console (see console_annotate.h). */
#include "jobs/console_annotate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/console.h"
#include "log.h"
#include "ports/port.h"
#include "util.h"

/* 1 when no terminal text explains this byte: not printable ASCII, not a usual control (CR, LF,
 * tab, backspace, bell, ESC), not part of a well-formed UTF-8 sequence. */
static uint8_t judge(struct console_annot *a, uint8_t b)
{
        if (a->utf8_left) {
                if ((b & 0xC0) == 0x80) {
                        a->utf8_left--;
                        return 0;
                }
                a->utf8_left = 0; /* a broken sequence: judge this byte afresh */
        }
        if (b >= 0x20 && b < 0x7F)
                return 0;
        if (b == '\r' || b == '\n' || b == '\t' || b == 0x08 || b == 0x07 || b == 0x1B)
                return 0;
        if (b >= 0xC2 && b <= 0xDF) {
                a->utf8_left = 1;
                return 0;
        }
        if (b >= 0xE0 && b <= 0xEF) {
                a->utf8_left = 2;
                return 0;
        }
        if (b >= 0xF0 && b <= 0xF4) {
                a->utf8_left = 3;
                return 0;
        }
        return 1;
}

static void forget(struct console_annot *a)
{
        a->filled = a->nbad = a->at = 0;
        a->utf8_left = 0;
        a->in_bad = false;
}

bool console_annot_feed(struct console_annot *a, const uint8_t *data, size_t len, uint64_t now_ms)
{
        if (now_ms < a->hold_until_ms) {
                forget(a); /* the ROM log after the worker's own reset or job: expected */
                return false;
        }
        size_t recent = 0, recent_bad = 0;
        for (size_t i = 0; i < len; i++) {
                uint8_t v = judge(a, data[i]);
                if (a->filled == ANNOT_WINDOW)
                        a->nbad -= a->bad[a->at];
                else
                        a->filled++;
                a->bad[a->at] = v;
                a->nbad += v;
                a->at = (a->at + 1) % ANNOT_WINDOW;
                if (i + ANNOT_RECENT >= len) {
                        recent++;
                        recent_bad += v;
                }
        }
        bool bad = a->filled >= ANNOT_MIN_BYTES && a->nbad * 100 >= a->filled * ANNOT_BAD_PERCENT;
        bool still = recent && recent_bad * 100 >= recent * ANNOT_BAD_PERCENT;
        if (!bad || !still) {
                a->in_bad = false; /* readable text arrives again: a burst, not a wrong baud */
                return false;
        }
        if (!a->in_bad) {
                a->in_bad = true;
                a->bad_since_ms = now_ms;
        }
        return now_ms - a->bad_since_ms >= ANNOT_PERSIST_MS && now_ms >= a->quiet_until_ms;
}

void console_annot_noted(struct console_annot *a, uint64_t now_ms)
{
        a->quiet_until_ms = now_ms + ANNOT_REPEAT_MS;
        a->decode_failures = 0;
        forget(a); /* judge what comes next on its own */
}

void console_annot_retry(struct console_annot *a, uint64_t now_ms)
{
        a->quiet_until_ms = now_ms + ANNOT_RETRY_MS;
        a->decode_failures++;
        forget(a);
}

void console_annot_hold(struct console_annot *a, uint64_t now_ms)
{
        a->hold_until_ms = now_ms + ANNOT_HOLD_MS;
        /* the job may have changed what the board does (an erase, a flash): garbage after the
         * hold is news at once, not a minute after the last annotation */
        a->quiet_until_ms = 0;
        a->decode_failures = 0;
        forget(a);
}

bool console_annot_rom_74880(const char *family)
{
        return family && (!strcasecmp(family, "esp8266") || !strcasecmp(family, "esp"));
}

void console_annot_line(const char *family, unsigned port_baud, const struct bootlog_result *d, char *out,
                        size_t size)
{
        char rst[96] = "";
        if (d && d->reset_cause >= 0)
                snprintf(rst, sizeof(rst), " (rst cause %d)", d->reset_cause);
        const char *loop = d && d->resets >= 2 ? "boot loop" : "boot";
        if (d) {
                switch (d->cls) {
                case BOOTLOG_BLANK_FLASH:
                        snprintf(out, size, "ESP8266 %s: the flash is blank%s. Flash MicroPython to this board.", loop,
                                 rst);
                        return;
                case BOOTLOG_BAD_IMAGE:
                case BOOTLOG_BOOT_LOOP:
                        snprintf(out, size,
                                 "ESP8266 %s: the firmware in flash does not start%s%s. Flash it again (NodeMCU and "
                                 "ESP-01 modules need flash mode DIO) or flash MicroPython.",
                                 loop, rst, d->flash_mode_suspect ? ", its flash mode does not suit this module" : "");
                        return;
                case BOOTLOG_DOWNLOAD_MODE:
                        snprintf(out, size,
                                 "ESP8266 is waiting in download mode%s: GPIO0 is held low. Release it (or the BOOT/FLASH "
                                 "button) and reset to run the firmware.",
                                 rst);
                        return;
                case BOOTLOG_BOOTED:
                        snprintf(out, size,
                                 "The ESP8266 ROM prints its boot log at 74880 baud, shown here at %u: the firmware "
                                 "started after it (%s).",
                                 port_baud, d->mp_version[0] ? "MicroPython" : "its own output follows");
                        return;
                default:
                        if (d->resets > 0) {
                                snprintf(out, size,
                                         "ESP8266 ROM boot log at 74880 baud shown at %u%s: decoded below; %s", port_baud,
                                         rst, d->summary);
                                return;
                        }
                        break;
                }
        }
        if (console_annot_rom_74880(family))
                snprintf(out, size,
                         "Unreadable bytes: output at another baud than the console's %u. The ESP8266 ROM prints its "
                         "boot log at 74880 baud; the firmware usually uses 115200.",
                         port_baud);
        else
                snprintf(out, size,
                         "Unreadable bytes: this looks like output at another baud than the console's %u (or a "
                         "loose wire / noise on the line).",
                         port_baud);
}

static void feed_str(struct console *c, const char *s)
{
        console_feed(c, s, strlen(s));
}

/* The decoded ROM lines that read as text (the baud switch may cut the first one), up to 4,
 * joined with " | ". */
static void decoded_lines(const uint8_t *buf, size_t n, char *out, size_t size)
{
        size_t o = 0, lines = 0, i = 0;
        out[0] = '\0';
        while (i < n && lines < 4) {
                size_t s = i;
                while (i < n && buf[i] != '\r' && buf[i] != '\n')
                        i++;
                size_t len = i - s, odd = 0;
                while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
                        i++;
                for (size_t k = s; k < s + len; k++)
                        odd += !(buf[k] >= 0x20 && buf[k] < 0x7F);
                while (len && buf[s] == ' ') {
                        s++;
                        len--;
                }
                while (len && buf[s + len - 1] == ' ')
                        len--;
                if (!len || odd * 10 > len || o + len + 4 >= size)
                        continue;
                if (o) {
                        memcpy(out + o, " | ", 3);
                        o += 3;
                }
                memcpy(out + o, buf + s, len);
                o += len;
                out[o] = '\0';
                lines++;
        }
}

int console_fresh_prompt(struct port *p, struct console *c)
{
        char got[256];
        size_t have = 0;
        int r = port_write(p, "\r", 1, 200);
        if (r < 0)
                return r == -ETIMEDOUT ? 0 : r;
        uint64_t end = util_mono_ms() + ANNOT_PROMPT_MS;
        for (;;) {
                uint64_t now = util_mono_ms();
                if (now >= end)
                        return 0;
                uint8_t buf[256];
                int n = port_read(p, buf, sizeof(buf), (int)(end - now));
                if (n < 0)
                        return n == -ECANCELED ? 0 : n;
                if (n == 0)
                        continue;
                console_feed(c, buf, (size_t)n);
                /* keep the last bytes to spot the prompt */
                if ((size_t)n >= sizeof(got) - 1) {
                        memcpy(got, buf + n - (sizeof(got) - 1), sizeof(got) - 1);
                        have = sizeof(got) - 1;
                } else {
                        if (have + (size_t)n >= sizeof(got)) {
                                size_t drop = have + (size_t)n - (sizeof(got) - 1);
                                memmove(got, got + drop, have - drop);
                                have -= drop;
                        }
                        memcpy(got + have, buf, (size_t)n);
                        have += (size_t)n;
                }
                got[have] = '\0';
                if (have >= 4 && !memcmp(got + have - 4, ">>> ", 4))
                        return 0;
        }
}

/* Read the board at 74880 baud for ANNOT_DECODE_MS into cb (*ret_n bytes), then put the port's
 * baud back. The switch happens under the worker's claim: never when a job is queued, and a job
 * queued during it ends the window at once (as one queued later does, through port_cancel).
 * Returns 0, -ECANCELED (cut short by a job) or the port error that ended the read. */
static int read_at_rom_baud(struct port *p, unsigned baud, const struct console_annot_claim *cl, uint8_t *cb,
                            size_t cap, size_t *ret_n)
{
        size_t n = 0;
        int rc = 0;
        *ret_n = 0;
        if (cl && !cl->claim(cl->user))
                return -ECANCELED;
        int sb = port_set_baud(p, BOOTLOG_ROM_BAUD_ESP8266);
        if (cl && cl->release(cl->user))
                rc = -ECANCELED;
        if (sb < 0)
                return rc;
        uint64_t end = util_mono_ms() + ANNOT_DECODE_MS;
        while (!rc && n < cap) {
                uint64_t t = util_mono_ms();
                if (t >= end)
                        break;
                int r = port_read(p, cb + n, cap - n, (int)(end - t));
                if (r < 0)
                        rc = r;
                else
                        n += (size_t)r;
        }
        int rb = port_set_baud(p, baud);
        if (rb < 0 && !rc)
                rc = rb;
        *ret_n = n;
        return rc;
}

int console_annotate_pump(struct console_annot *a, struct port *p, struct console *c, const json_t *hints,
                          const struct console_annot_claim *cl, const uint8_t *buf, size_t len)
{
        uint64_t now = util_mono_ms();
        if (!console_annot_feed(a, buf, len, now))
                return 0;
        const char *family = json_string_value(json_object_get(hints, "family"));
        unsigned baud = p->baud ? p->baud : 115200;
        struct bootlog_result *d = NULL;
        char line[600], rom[400] = "";
        int rc = 0;
        bool tried = false;
        if (console_annot_rom_74880(family) && baud != BOOTLOG_ROM_BAUD_ESP8266 && !console_interactive(c) &&
            (d = calloc(1, sizeof(*d))) != NULL) {
                size_t cap = 4096, n = 0;
                tried = true;
                uint8_t *cb = malloc(cap);
                if (cb)
                        rc = read_at_rom_baud(p, baud, cl, cb, cap, &n);
                if (n) {
                        struct bootlog_capture capt = { cb, n, BOOTLOG_ROM_BAUD_ESP8266 };
                        bootlog_classify(BOOTLOG_ESP8266, &capt, NULL, d);
                        decoded_lines(cb, n, rom, sizeof(rom));
                }
                log_debug("console: %zu bytes at 74880 baud to explain a wrong-baud stream: %s%s", n,
                          n ? bootlog_class_name(d->cls) : "nothing", rc == -ECANCELED ? " (cut short by a job)" : "");
                /* A window that shows nothing a ROM prints (silence, or bytes still garbled because the
                 * line was switched mid-byte or the far end applied the baud late) explains nothing:
                 * it is a failed try, tried again, never the final word. */
                if (!n || d->cls == BOOTLOG_SILENT || (d->cls == BOOTLOG_UNKNOWN && d->resets == 0)) {
                        free(d);
                        d = NULL;
                }
                free(cb);
        }
        if (tried && !d && rc == -ECANCELED) {
                /* A job or a borrower was queued (port_cancel) and cut the window short: that says
                 * nothing about the board, so it is not a try; judge afresh once the port is idle. */
                forget(a);
                return 0;
        }
        if (tried && !d && a->decode_failures + 1 < ANNOT_DECODE_TRIES) {
                /* caught between boot cycles, or the board just went quiet: try again shortly */
                console_annot_retry(a, util_mono_ms());
                return rc == -ECANCELED ? 0 : rc;
        }
        console_annot_line(family, baud, d, line, sizeof(line));
        if (d) {
                a->boot = *d;
                a->boot_fresh = true;
        }
        char *msg = NULL;
        if (asprintf(&msg, "\r\n\x1b[33m[corral] %s\x1b[0m\r\n%s%s%s", line, rom[0] ? "\x1b[2m[corral] the ROM log at 74880 baud: " : "",
                     rom, rom[0] ? "\x1b[0m\r\n" : "") >= 0) {
                feed_str(c, msg);
                free(msg);
        }
        free(d);
        console_annot_noted(a, util_mono_ms());
        return rc == -ECANCELED ? 0 : rc;
}
