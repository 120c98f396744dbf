/* Boot check: reset the board, read its ROM boot log and its firmware's output each at its own
 * baud, classify; the remediation decision and the verdict sentence are pure functions below. */
#include "engines/esp/esp_bootcheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engines/esp/esp_reset.h"
#include "engines/mp/mp_repl.h"
#include "util.h"

#define ROM_QUIET_MS 40        /* the ROM's burst is over: switch to the firmware's baud */
#define FW_QUIET_MS 1200       /* no firmware output for this long: done */
#define PROMPT_QUIET_MS 120    /* after ">>> ": the board waits for input */
#define POKE_MS 1200
/* After the poke, a board that printed something (its ROM handed over to a firmware) is listened
 * to until the verdict cannot change any more (banner and prompt, download mode, a proven boot
 * loop) or for this long: MicroPython's first boot formats its filesystem (seconds on a real
 * board), and the lab's wasm MicroPython starts late on a loaded host. Firmware that never shows
 * a REPL costs the whole window; a MicroPython board ends it as soon as its prompt is out. */
#define FW_VERDICT_MS 10000
#define LONG_RESET_MS 500

static bool has_prompt(const uint8_t *b, size_t n)
{
        for (size_t i = 0; i + 4 <= n; i++)
                if (!memcmp(b + i, ">>> ", 4) && (i == 0 || b[i - 1] == '\n'))
                        return true;
        return false;
}

/* One read of at most 50 ms (or wait_ms) appended to buf; bytes past the cap are read and
 * dropped. Returns the bytes read (0: none) or a negative errno. */
static int read_append(struct port *p, uint8_t *buf, size_t *len, int64_t wait_ms)
{
        uint8_t tmp[512];
        int n = port_read(p, tmp, sizeof(tmp), wait_ms > 50 ? 50 : (int)wait_ms);
        if (n <= 0)
                return n;
        size_t room = ESP_BOOTCHECK_CAP - *len, k = (size_t)n < room ? (size_t)n : room;
        memcpy(buf + *len, tmp, k);
        *len += k;
        return n;
}

/* Append what the port gives to buf (bytes past cap are read and dropped) until: nothing for
 * first_ms, quiet_ms after the last byte, PROMPT_QUIET_MS after a prompt (want_prompt), or max_ms. */
static int read_window(struct port *p, uint8_t *buf, size_t *len, int first_ms, int quiet_ms, int max_ms,
                       bool want_prompt)
{
        uint64_t start = util_mono_ms(), last = start;
        bool got = false;
        for (;;) {
                uint64_t t = util_mono_ms();
                int64_t left = (int64_t)max_ms - (int64_t)(t - start);
                int64_t wait = got ? (int64_t)quiet_ms - (int64_t)(t - last) : (int64_t)first_ms - (int64_t)(t - start);
                if (got && want_prompt && has_prompt(buf, *len)) {
                        int64_t w = PROMPT_QUIET_MS - (int64_t)(t - last);
                        wait = w < wait ? w : wait;
                }
                if (wait > left)
                        wait = left;
                if (wait <= 0)
                        return 0;
                int n = read_append(p, buf, len, wait);
                if (n < 0)
                        return n;
                if (n == 0)
                        continue;
                got = true;
                last = util_mono_ms();
        }
}

static int do_reset(struct port *p, const struct esp_bootcheck_opts *o)
{
        if (o->reset == ESP_BOOTCHECK_RESET_LONG)
                return port_reset_pulse(p, LONG_RESET_MS, false, NULL);
        return esp_reset_hard(p, o->usb);
}

static bool is_failure_class(enum bootlog_class c)
{
        return c == BOOTLOG_BLANK_FLASH || c == BOOTLOG_BAD_IMAGE || c == BOOTLOG_BOOT_LOOP;
}

static void classify(const struct esp_bootcheck_opts *o, const struct esp_bootcheck_capture *cap,
                     struct bootlog_result *out)
{
        struct bootlog_capture rom = { cap->rom, cap->rom_len, cap->rom_baud };
        struct bootlog_capture fw = { cap->fw, cap->fw_len, cap->fw_baud };
        bootlog_classify(o->chip, &rom, cap->fw_baud ? &fw : NULL, out);
}

/* A verdict more output cannot change: the REPL waits at its prompt, the chip sits in download
 * mode, or it has reset often enough to call it a loop. */
static bool is_final(const struct bootlog_result *r)
{
        return (r->cls == BOOTLOG_BOOTED && r->prompt) || r->cls == BOOTLOG_DOWNLOAD_MODE ||
               (is_failure_class(r->cls) && r->resets >= 3);
}

/* Append to buf (one of cap's buffers) and classify after every chunk until is_final() (then
 * PROMPT_QUIET_MS more, for the rest of the prompt line) or max_ms. */
static int listen_for_verdict(struct port *p, const struct esp_bootcheck_opts *o, struct esp_bootcheck_capture *cap,
                              uint8_t *buf, size_t *len, int max_ms, struct bootlog_result *out)
{
        uint64_t end = util_mono_ms() + (uint64_t)max_ms;
        for (uint64_t t = util_mono_ms(); t < end; t = util_mono_ms()) {
                int n = read_append(p, buf, len, (int64_t)(end - t));
                if (n < 0)
                        return n;
                if (n == 0)
                        continue;
                classify(o, cap, out);
                if (is_final(out))
                        return read_window(p, buf, len, PROMPT_QUIET_MS, PROMPT_QUIET_MS, PROMPT_QUIET_MS, false);
        }
        return 0;
}

static int port_fail(int e, const char *what, char *msg, size_t size)
{
        snprintf(msg, size, "Boot check: %s failed: %s", what,
                 e == -ENODEV ? "the board disappeared" : e == -ECANCELED ? "cancelled" : strerror(-e));
        return e;
}

int esp_bootcheck_run(struct port *p, const struct esp_bootcheck_opts *o, struct esp_bootcheck_capture *cap,
                      struct bootlog_result *out, char *msg, size_t msg_size)
{
        memset(cap, 0, sizeof(*cap));
        unsigned rb = o->rom_baud ? o->rom_baud : bootlog_rom_baud(o->chip);
        unsigned fb = o->fw_baud ? o->fw_baud : ESP_BOOTCHECK_FW_BAUD;
        int first = o->rom_first_ms > 0 ? o->rom_first_ms : 800;
        int fw_max = o->fw_max_ms > 0 ? o->fw_max_ms : 2500;
        int loop = o->loop_ms > 0 ? o->loop_ms : 1000;
        cap->rom_baud = rb;
        int e = port_set_baud(p, rb);
        if (e < 0)
                return port_fail(e, "setting the ROM baud", msg, msg_size);
        if ((e = port_flush_input(p)) < 0 && e != -ENOTSUP)
                return port_fail(e, "flushing input", msg, msg_size);
        e = do_reset(p, o);
        if (e < 0 && e != -ENOTSUP && e != -EINVAL)
                return port_fail(e, "the hard reset", msg, msg_size);
        cap->reset_sent = e == 0;

        bool same = rb == fb;
        e = read_window(p, cap->rom, &cap->rom_len, first, same ? FW_QUIET_MS : ROM_QUIET_MS,
                        same ? fw_max + first : 1000, same);
        if (e < 0)
                return port_fail(e, "reading the boot log", msg, msg_size);
        classify(o, cap, out);
        if (is_failure_class(out->cls) && out->resets < 3) {
                /* Stay at the ROM baud a little longer to see whether it loops. */
                if ((e = read_window(p, cap->rom, &cap->rom_len, loop, loop, loop, false)) < 0)
                        return port_fail(e, "reading the boot log", msg, msg_size);
        } else if (out->cls != BOOTLOG_DOWNLOAD_MODE && out->cls != BOOTLOG_BOOTED) {
                uint8_t *buf = cap->rom;
                size_t *len = &cap->rom_len;
                if (!same) {
                        if ((e = port_set_baud(p, fb)) < 0)
                                return port_fail(e, "setting the firmware baud", msg, msg_size);
                        cap->fw_baud = fb;
                        buf = cap->fw;
                        len = &cap->fw_len;
                        if ((e = read_window(p, buf, len, fw_max, FW_QUIET_MS, fw_max, true)) < 0)
                                return port_fail(e, "reading the firmware's output", msg, msg_size);
                        classify(o, cap, out);
                }
                if (out->cls != BOOTLOG_BOOTED && !is_failure_class(out->cls) && out->cls != BOOTLOG_DOWNLOAD_MODE) {
                        /* A REPL that printed its banner while we listened at the ROM baud (or
                         * before we listened) shows itself again: Enter, then Ctrl-B reprints the
                         * banner at the friendly prompt. Harmless to a loader or a looping ROM. */
                        cap->poked = true;
                        if ((e = port_write(p, "\r\x02", 2, 1000)) < 0 && e != -ETIMEDOUT)
                                return port_fail(e, "writing to the board", msg, msg_size);
                        /* Nothing heard at all: a short look is enough (see FW_VERDICT_MS). */
                        if ((e = out->cls == BOOTLOG_SILENT
                                         ? read_window(p, buf, len, POKE_MS, 300, POKE_MS, true)
                                         : listen_for_verdict(p, o, cap, buf, len, FW_VERDICT_MS, out)) < 0)
                                return port_fail(e, "reading the firmware's output", msg, msg_size);
                        classify(o, cap, out);
                        if (!same && out->cls == BOOTLOG_UNKNOWN && !out->prompt && !out->mp_version[0]) {
                                /* Maybe a loop we read at the wrong baud: listen at the ROM baud again. */
                                if ((e = port_set_baud(p, rb)) < 0)
                                        return port_fail(e, "setting the ROM baud", msg, msg_size);
                                if ((e = read_window(p, cap->rom, &cap->rom_len, loop, loop, loop, false)) < 0)
                                        return port_fail(e, "reading the boot log", msg, msg_size);
                        }
                }
        }
        classify(o, cap, out);
        /* Leave the port at the firmware's baud: the next job talks to the firmware. */
        if ((e = port_set_baud(p, fb)) < 0)
                return port_fail(e, "setting the firmware baud", msg, msg_size);
        return 0;
}

int esp_bootcheck_repl(struct port *p, enum bootlog_chip chip, struct bootlog_result *boot, char *msg,
                       size_t msg_size)
{
        struct mp_repl r;
        struct mp_exec_result res = { 0 };
        struct mp_exec_opts eo = { .timeout_ms = 3000 };
        mp_repl_init(&r, p);
        r.io_timeout_ms = 1500;
        int e = mp_repl_interrupt(&r, msg, msg_size);
        if (e == 0)
                e = mp_repl_enter_raw(&r, msg, msg_size);
        if (e == 0)
                e = mp_repl_exec(&r, "print(1)", 8, &eo, &res, msg, msg_size);
        if (e == 0 && (!res.out || strncmp(res.out, "1", 1) || (res.err && res.err[0]))) {
                snprintf(msg, msg_size, "print(1) did not print 1");
                e = -EPROTO;
        }
        mp_exec_result_clear(&res);
        char m2[128];
        if (e != -ENODEV && e != -ECANCELED && mp_repl_exit_raw(&r, m2, sizeof(m2)) == 0 && !boot->mp_version[0] &&
            r.banner[0]) {
                /* The banner Ctrl-B reprinted names the version the boot log did not show. */
                char line[200];
                struct bootlog_result b;
                int n = snprintf(line, sizeof(line), "%s\r\n>>> ", r.banner);
                struct bootlog_capture c = { (const uint8_t *)line, n > 0 ? (size_t)n : 0, ESP_BOOTCHECK_FW_BAUD };
                bootlog_classify(chip, &c, NULL, &b);
                memcpy(boot->mp_version, b.mp_version, sizeof(b.mp_version));
                memcpy(boot->mp_board, b.mp_board, sizeof(b.mp_board));
                memcpy(boot->mp_mcu, b.mp_mcu, sizeof(b.mp_mcu));
        }
        return e;
}

/* ---- policy ---- */

const char *esp_bootcheck_action_name(enum esp_bootcheck_action a)
{
        switch (a) {
        case ESP_BOOTCHECK_DONE: return "done";
        case ESP_BOOTCHECK_RECHECK_OTHER: return "recheck";
        case ESP_BOOTCHECK_REFLASH_DIO: return "reflash_dio";
        case ESP_BOOTCHECK_ROLLBACK: return "rollback";
        case ESP_BOOTCHECK_GIVE_UP: break;
        }
        return "give_up";
}

enum esp_bootcheck_action esp_bootcheck_next(const struct esp_bootcheck_state *s, const char **why)
{
        const char *w_ = NULL;
        enum esp_bootcheck_action a = ESP_BOOTCHECK_GIVE_UP;
        bool qio = !strcmp(s->flashed_mode, "qio") || !strcmp(s->flashed_mode, "qout");
        bool time_ok = s->time_left_ms >= ESP_BOOTCHECK_REFLASH_MIN_MS;
        bool image_fault = s->cls == BOOTLOG_BOOT_LOOP || s->cls == BOOTLOG_BAD_IMAGE;
        if (s->cls == BOOTLOG_BOOTED || s->cls == BOOTLOG_UNKNOWN) {
                a = ESP_BOOTCHECK_DONE;
                w_ = s->cls == BOOTLOG_BOOTED ? "it booted" : "it runs firmware that is not MicroPython";
        } else if (!s->remediate) {
                w_ = "remediation is off for this job";
        } else if (s->attempts >= ESP_BOOTCHECK_MAX_ATTEMPTS) {
                w_ = "too many attempts";
        } else if (s->cls == BOOTLOG_SILENT) {
                if (!s->tried_other_reset) {
                        a = ESP_BOOTCHECK_RECHECK_OTHER;
                        w_ = "nothing was heard: reset it the other way and listen at the other baud";
                } else {
                        w_ = "nothing was heard after either reset; re-flashing cannot be checked";
                }
        } else if (s->cls == BOOTLOG_DOWNLOAD_MODE) {
                w_ = "the strapping pins select download mode: no firmware can fix that";
        } else if (!s->wrote_boot) {
                w_ = "this flash wrote nothing at the boot offset; the firmware there is not its doing";
        } else if (image_fault && s->chip == BOOTLOG_ESP8266 && qio && !s->tried_dio && time_ok) {
                a = ESP_BOOTCHECK_REFLASH_DIO;
                w_ = "a QIO/QOUT image that does not boot on an ESP8266: many modules only read DIO";
        } else if (s->have_known_good && !s->tried_rollback && time_ok) {
                a = ESP_BOOTCHECK_ROLLBACK;
                w_ = "the new firmware does not boot: put the last known-good firmware back";
        } else if (!time_ok && (s->have_known_good || (qio && !s->tried_dio))) {
                w_ = "too little of the job's time is left for another flash";
        } else if (s->tried_rollback) {
                w_ = "the known-good firmware did not boot either";
        } else {
                w_ = "no known-good firmware is pinned for this family or recorded for this board";
        }
        if (why)
                *why = w_;
        return a;
}

/* ---- verdict ---- */

const char *esp_bootcheck_step_name(enum esp_bootcheck_step s)
{
        switch (s) {
        case ESP_BOOTCHECK_STEP_FLASH: return "flash";
        case ESP_BOOTCHECK_STEP_RECHECK: return "recheck";
        case ESP_BOOTCHECK_STEP_REFLASH_DIO: return "reflash_dio";
        case ESP_BOOTCHECK_STEP_ROLLBACK: break;
        }
        return "rollback";
}

const char *esp_bootcheck_mode_name(uint8_t m)
{
        static const char *const names[] = { "qio", "qout", "dio", "dout" };
        return m < 4 ? names[m] : NULL;
}

static void upper(const char *s, char *out, size_t size)
{
        size_t i = 0;
        for (; s[i] && i + 1 < size; i++)
                out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
        out[i] = '\0';
}

/* The evidence line that names the error (not the reset line, not a load line). */
static const char *key_line(const struct bootlog_result *r)
{
        for (size_t i = 0; i < r->n_evidence; i++) {
                const char *l = r->evidence[i];
                if (!strstr(l, "rst cause") && !strstr(l, "rst:0x") && strncmp(l, "load ", 5))
                        return l;
        }
        return NULL;
}

/* "MicroPython v1.25.0 on ESP8266 with 4MB flash" */
static void booted_desc(const struct esp_bootcheck_attempt *a, const char *flash_size, char *out, size_t size)
{
        const struct bootlog_result *r = &a->boot;
        size_t o;
        if (r->mp_version[0])
                o = (size_t)snprintf(out, size, "MicroPython v%s", r->mp_version);
        else
                o = (size_t)snprintf(out, size, "the MicroPython prompt");
        if (o < size && r->mp_mcu[0])
                o += (size_t)snprintf(out + o, size - o, " on %s", r->mp_mcu);
        if (o < size && flash_size && flash_size[0] && r->mp_version[0])
                o += (size_t)snprintf(out + o, size - o, " with %s flash", flash_size);
        if (o < size && a->repl_checked && !a->repl_ok)
                snprintf(out + o, size - o, " (but its REPL did not answer)");
}

/* What went wrong, as a clause after "but". */
static void failure_desc(const struct esp_bootcheck_attempt *first, const struct esp_bootcheck_attempt *a, char *out,
                         size_t size)
{
        const struct bootlog_result *r = &a->boot;
        char rst[160], mode[8];
        bootlog_describe_reset(r, rst, sizeof(rst));
        upper(a->flash_mode, mode, sizeof(mode));
        const char *k = key_line(r);
        if (a->flash_error < 0) {
                snprintf(out, size, "the flash itself failed: %s", a->flash_msg);
                return;
        }
        switch (r->cls) {
        case BOOTLOG_BOOT_LOOP: {
                char why[400];
                snprintf(why, sizeof(why), "%s%s%s, %u resets", k ? k : "", k ? "; " : "", rst, r->resets);
                snprintf(out, size, "the board boot-looped%s%s (%s)", mode[0] ? " with flash mode " : "", mode, why);
                break;
        }
        case BOOTLOG_BAD_IMAGE:
                snprintf(out, size, "the board's ROM rejected the image%s%s (%s%s%s)", mode[0] ? " written as " : "",
                         mode, k ? k : "checksum or header error", "; ", rst);
                break;
        case BOOTLOG_BLANK_FLASH:
                snprintf(out, size, "the board has no firmware to boot: the ROM found blank flash (%s%s%s)",
                         k ? k : "", k ? "; " : "", rst);
                break;
        case BOOTLOG_DOWNLOAD_MODE:
                snprintf(out, size, "after the reset the board came up in serial download mode (%s): GPIO0 is held "
                         "low, so release the BOOT/FLASH button (or whatever pulls GPIO0 down) and reset it", rst);
                break;
        case BOOTLOG_SILENT:
                if (!a->reset_sent)
                        snprintf(out, size, "the port has no DTR/RTS lines, so corral could not reset the board, and "
                                 "it printed nothing at %u baud", a->rom_baud);
                else if (first != a)
                        snprintf(out, size, "the board printed nothing after a hard reset (listening at %u and %u baud), "
                                 "nor after a second, longer reset (listening at %u baud): check the USB cable, the "
                                 "board's power and that RTS reaches EN", first->rom_baud,
                                 first->fw_baud ? first->fw_baud : first->rom_baud, a->rom_baud);
                else
                        snprintf(out, size, "the board printed nothing after the reset (listening at %u and %u baud)",
                                 a->rom_baud, a->fw_baud ? a->fw_baud : a->rom_baud);
                break;
        case BOOTLOG_UNKNOWN:
                snprintf(out, size, "the board shows no MicroPython banner or prompt%s%s%s",
                         r->n_evidence ? " (first line: \"" : "", r->n_evidence ? r->evidence[0] : "",
                         r->n_evidence ? "\")" : "");
                break;
        case BOOTLOG_BOOTED:
                snprintf(out, size, "it booted");
                break;
        }
}

/* Index of the last attempt of the group that starts at i (rechecks belong to their flash). */
static size_t group_end(const struct esp_bootcheck_attempt *a, size_t n, size_t i)
{
        while (i + 1 < n && a[i + 1].step == ESP_BOOTCHECK_STEP_RECHECK)
                i++;
        return i;
}

void esp_bootcheck_verdict(const struct esp_bootcheck_attempt *a, size_t n, const char *flash_size, char *out,
                           size_t size)
{
        size_t o = 0;
        char d[512];
        out[0] = '\0';
        if (!a || n == 0 || size == 0)
                return;
        for (size_t i = 0; i < n && o < size; i++) {
                size_t end = group_end(a, n, i);
                const struct esp_bootcheck_attempt *g = &a[end];
                bool ok = g->flash_error == 0 && g->boot.cls == BOOTLOG_BOOTED;
                bool other = g->flash_error == 0 && g->boot.cls == BOOTLOG_UNKNOWN;
                if (ok)
                        booted_desc(g, flash_size, d, sizeof(d));
                else
                        failure_desc(&a[i], g, d, sizeof(d));
                switch (a[i].step) {
                case ESP_BOOTCHECK_STEP_FLASH:
                case ESP_BOOTCHECK_STEP_RECHECK:
                        o += (size_t)snprintf(out + o, size - o, "%s %s%s%s", a[i].wrote_boot ? "Flashed" : "Wrote",
                                              a[i].what, ok ? " and it booted: " : other ? " and it started, but " : ", but ", d);
                        break;
                case ESP_BOOTCHECK_STEP_REFLASH_DIO:
                        o += (size_t)snprintf(out + o, size - o, "; re-flashed with DIO%s%s", ok ? " and it booted: " : ", but ", d);
                        break;
                case ESP_BOOTCHECK_STEP_ROLLBACK:
                        o += (size_t)snprintf(out + o, size - o, "; rolled back to the known-good firmware %s%s%s", a[i].what,
                                              ok ? ", which booted: " : ", but that failed too: ", d);
                        break;
                }
                i = end;
        }
        if (o < size)
                snprintf(out + o, size - o, ".");
}

const char *esp_bootcheck_error_code(const struct esp_bootcheck_attempt *a, size_t n)
{
        if (!a || n == 0)
                return "failed";
        const struct esp_bootcheck_attempt *last = &a[n - 1];
        bool rolled = false;
        for (size_t i = 0; i < n; i++)
                rolled |= a[i].step == ESP_BOOTCHECK_STEP_ROLLBACK;
        if (last->flash_error < 0)
                return "flash_failed";
        if (last->boot.cls == BOOTLOG_BOOTED)
                return rolled ? "rolled_back" : NULL;
        if (last->boot.cls == BOOTLOG_UNKNOWN)
                return rolled ? "rolled_back" : NULL;
        return bootlog_class_name(last->boot.cls);
}

json_t *esp_bootcheck_boot_json(const struct bootlog_result *r)
{
        json_t *ev = json_array();
        for (size_t i = 0; i < r->n_evidence; i++)
                json_array_append_new(ev, json_string(r->evidence[i]));
        json_t *o = json_pack("{s:s, s:s, s:o, s:i, s:i, s:i, s:b, s:b, s:b}", "class", bootlog_class_name(r->cls),
                              "summary", r->summary, "evidence", ev, "cycles", (int)r->resets, "rst_cause",
                              r->reset_cause, "boot_mode_raw", r->boot_mode, "prompt", r->prompt, "rom_unreadable",
                              r->rom_unreadable, "flash_mode_suspect", r->flash_mode_suspect);
        if (!o)
                return NULL;
        json_object_set_new(o, "version", r->mp_version[0] ? json_string(r->mp_version) : json_null());
        if (r->mp_board[0])
                json_object_set_new(o, "board", json_string(r->mp_board));
        if (r->mp_mcu[0])
                json_object_set_new(o, "mcu", json_string(r->mp_mcu));
        if (r->reset_reason[0])
                json_object_set_new(o, "rst_reason", json_string(r->reset_reason));
        char bm[96];
        if (r->boot_mode >= 0 && r->boot_mode_sub >= 0)
                snprintf(bm, sizeof(bm), "(%d,%d)", r->boot_mode, r->boot_mode_sub);
        else if (r->boot_mode >= 0)
                snprintf(bm, sizeof(bm), "0x%x%s%s%s", (unsigned)r->boot_mode, r->boot_reason[0] ? " (" : "",
                         r->boot_reason, r->boot_reason[0] ? ")" : "");
        else
                bm[0] = '\0';
        json_object_set_new(o, "boot_mode", bm[0] ? json_string(bm) : json_null());
        if (r->reset_cause < 0)
                json_object_set_new(o, "rst_cause", json_null());
        return o;
}

json_t *esp_bootcheck_attempt_json(const struct esp_bootcheck_attempt *a)
{
        json_t *o = json_pack("{s:s, s:s, s:b}", "step", esp_bootcheck_step_name(a->step), "what", a->what,
                              "wrote_boot", a->wrote_boot);
        if (!o)
                return NULL;
        json_object_set_new(o, "firmware", a->firmware_id[0] ? json_string(a->firmware_id) : json_null());
        json_object_set_new(o, "flash_mode", a->flash_mode[0] ? json_string(a->flash_mode) : json_null());
        if (a->flash_error < 0) {
                json_object_set_new(o, "flash_error", json_string(a->flash_msg));
                return o;
        }
        json_object_set_new(o, "reset_sent", json_boolean(a->reset_sent));
        json_object_set_new(o, "rom_baud", json_integer(a->rom_baud));
        json_object_set_new(o, "fw_baud", a->fw_baud ? json_integer(a->fw_baud) : json_null());
        json_object_set_new(o, "boot", esp_bootcheck_boot_json(&a->boot));
        if (a->repl_checked)
                json_object_set_new(o, "repl_ok", json_boolean(a->repl_ok));
        return o;
}
