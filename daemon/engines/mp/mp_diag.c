/* Classify what a port shows when no MicroPython prompt is reached (pure, no I/O). */
#include "engines/mp/mp_diag.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static size_t count(const uint8_t *d, size_t len, const char *needle)
{
        size_t n = strlen(needle), hits = 0;
        if (n == 0 || len < n)
                return 0;
        for (size_t i = 0; i + n <= len; i++)
                if (d[i] == (uint8_t)needle[0] && memcmp(d + i, needle, n) == 0)
                        hits++;
        return hits;
}

static void set(struct mp_diag *ret, enum mp_diag_kind kind, const char *code, const char *msg)
{
        ret->kind = kind;
        ret->code = code;
        snprintf(ret->message, sizeof(ret->message), "%s", msg);
}

void mp_diag_classify(const uint8_t *d, size_t len, struct mp_diag *ret)
{
        if (!d || len == 0) {
                set(ret, MP_DIAG_SILENT, "board_silent",
                    "the board sent nothing at all: is it powered, is this the right port, and is "
                    "MicroPython's REPL on this UART?");
                return;
        }
        if (count(d, len, "waiting for download") || count(d, len, "boot mode:(1,") ||
            count(d, len, "DOWNLOAD(") || count(d, len, "DOWNLOAD_BOOT") ||
            count(d, len, "wait uart download")) {
                set(ret, MP_DIAG_ROM_DOWNLOAD, "rom_bootloader",
                    "the board is in the ROM bootloader (download mode), not running MicroPython: "
                    "release BOOT/GPIO0 and reset it, or flash firmware");
                return;
        }
        size_t rom = count(d, len, "ets Jan  8 2013,rst cause") + count(d, len, "rst:0x") +
                     count(d, len, "ESP-ROM:");
        bool blank = count(d, len, "invalid header") || count(d, len, "flash read err") ||
                     count(d, len, "csum err") || count(d, len, "ets_main.c");
        if (rom > 0 && (blank || rom > 1)) {
                set(ret, MP_DIAG_ROM_BOOTLOOP, "boot_loop",
                    "the board keeps resetting in the ESP ROM (blank or corrupt flash, or a "
                    "crashing firmware): flash MicroPython again");
                return;
        }
        if (count(d, len, ">>> ") || count(d, len, "raw REPL; CTRL-B to exit")) {
                set(ret, MP_DIAG_PROMPT, "prompt", "a MicroPython prompt is visible");
                return;
        }
        size_t text = 0;
        for (size_t i = 0; i < len; i++)
                if ((d[i] >= 0x20 && d[i] < 0x7f) || d[i] == '\r' || d[i] == '\n' || d[i] == '\t')
                        text++;
        if (text * 10 < len * 8) {
                set(ret, MP_DIAG_GARBAGE, "garbage",
                    "the board sends bytes but no readable text and no prompt: wrong baud rate, "
                    "or a boot loop?");
                return;
        }
        if (rom > 0) {
                set(ret, MP_DIAG_ROM_BOOTLOOP, "no_firmware",
                    "the ESP ROM booted but MicroPython never answered: the flash may hold other "
                    "firmware or none");
                return;
        }
        set(ret, MP_DIAG_TEXT, "no_prompt",
            "the board prints text but never shows a MicroPython prompt: it may run other "
            "firmware, or a program that ignores Ctrl-C");
}

void mp_diag_port_error(int err, const char *url, struct mp_diag *ret)
{
        const char *u = url ? url : "the port";
        ret->kind = MP_DIAG_OPEN_FAILED;
        switch (err) {
        case -EBUSY:
                ret->kind = MP_DIAG_BUSY;
                ret->code = "port_busy";
                snprintf(ret->message, sizeof(ret->message),
                         "%s is held by another program (a serial terminal, mpremote, Thonny?): "
                         "close it and retry", u);
                return;
        case -ENOENT:
        case -ENODEV:
        case -ENXIO:
        case -EIO:
                ret->kind = MP_DIAG_GONE;
                ret->code = "board_gone";
                snprintf(ret->message, sizeof(ret->message),
                         "%s is gone (unplugged or re-enumerated)", u);
                return;
        case -EACCES:
        case -EPERM:
                ret->code = "permission_denied";
                snprintf(ret->message, sizeof(ret->message),
                         "no permission to open %s (is the daemon in the dialout group?)", u);
                return;
        default:
                ret->code = "port_error";
                snprintf(ret->message, sizeof(ret->message), "%s: %s", u, strerror(-err));
                return;
        }
}
