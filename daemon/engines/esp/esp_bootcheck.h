/* Boot check after a flash: hard-reset the board, capture the ROM's boot log at the ROM baud and
 * the firmware's output at its baud, classify it (bootlog); decide the next remediation step
 * (a pure function) and word the verdict from the attempts (pure). No logging, no store. */
#ifndef CORRAL_ESP_BOOTCHECK_H
#define CORRAL_ESP_BOOTCHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/bootlog.h"
#include "ports/port.h"

#define ESP_BOOTCHECK_CAP 8192u   /* bytes kept per capture (ROM, firmware) */
#define ESP_BOOTCHECK_FW_BAUD 115200u
#define ESP_BOOTCHECK_MAX_ATTEMPTS 6

/* How the board is reset for the check. */
enum esp_bootcheck_reset {
        ESP_BOOTCHECK_RESET_RTS,  /* classic hard reset: RTS pulse (100 ms) with DTR released */
        ESP_BOOTCHECK_RESET_LONG, /* the other sequence: both lines together, EN low for 500 ms */
};

struct esp_bootcheck_opts {
        enum bootlog_chip chip;
        bool usb;                       /* on-chip USB-Serial/JTAG: 200 ms pulse */
        enum esp_bootcheck_reset reset;
        unsigned rom_baud;              /* 0: the chip's ROM baud (74880 / 115200) */
        unsigned fw_baud;               /* 0: 115200 */
        /* Windows, milliseconds (0: defaults). rom_first: wait for the first ROM byte; fw_max: the
         * firmware's output; loop: extra ROM time to count boot cycles after a failure. */
        int rom_first_ms, fw_max_ms, loop_ms;
};

/* What was read after one reset. Plain bytes, owned by the struct (no heap inside). */
struct esp_bootcheck_capture {
        uint8_t rom[ESP_BOOTCHECK_CAP];
        size_t rom_len;
        unsigned rom_baud;
        uint8_t fw[ESP_BOOTCHECK_CAP];
        size_t fw_len;
        unsigned fw_baud;               /* 0: no firmware-baud capture (same baud as the ROM) */
        bool reset_sent;                /* false: the port has no DTR/RTS lines */
        bool poked;                     /* "\r" + Ctrl-B was sent to make a quiet REPL show itself */
};

/* Reset and capture, then classify into *out. Returns 0 (look at out->cls), or a port error
 * (-ENODEV gone, -ECANCELED) with msg. A port without modem lines is not an error: the capture
 * is still made and cap->reset_sent is false. cap and out are written by the call. */
int esp_bootcheck_run(struct port *p, const struct esp_bootcheck_opts *o, struct esp_bootcheck_capture *cap,
                      struct bootlog_result *out, char *msg, size_t msg_size);

/* After a boot: interrupt, raw REPL, print(1) must print 1, back to the friendly REPL. When the
 * boot log had no version, the banner Ctrl-B reprints fills boot's mp_* fields. 0 when the REPL
 * answered; else negative errno with msg. */
int esp_bootcheck_repl(struct port *p, enum bootlog_chip chip, struct bootlog_result *boot, char *msg,
                       size_t msg_size);

/* ---- remediation policy (pure) ---- */

enum esp_bootcheck_action {
        ESP_BOOTCHECK_DONE,          /* booted (or some other firmware runs): nothing to fix */
        ESP_BOOTCHECK_RECHECK_OTHER, /* silent: reset the other way, read at the other baud */
        ESP_BOOTCHECK_REFLASH_DIO,   /* ESP8266 boot loop after a QIO/QOUT image: write it again as DIO */
        ESP_BOOTCHECK_ROLLBACK,      /* flash the last known-good firmware */
        ESP_BOOTCHECK_GIVE_UP,
};

/* Everything the decision needs; nothing else is consulted. */
struct esp_bootcheck_state {
        enum bootlog_class cls;         /* of the latest boot check */
        enum bootlog_chip chip;
        char flashed_mode[8];           /* header mode now at the boot offset: "qio".."dout", "" unknown */
        bool wrote_boot;                /* the flash wrote an image at the boot offset */
        bool reset_sent;                /* the latest check could reset the board */
        bool remediate;                 /* policy: on by default */
        bool have_known_good;           /* a known-good firmware other than the one flashed exists */
        bool tried_other_reset, tried_dio, tried_rollback;
        unsigned attempts;              /* boot checks so far */
        int time_left_ms;               /* of the job */
};

/* A re-flash needs at least this much of the job's time left. */
#define ESP_BOOTCHECK_REFLASH_MIN_MS 30000

/* The next step. *why (may be NULL) gets a static phrase explaining the choice. */
enum esp_bootcheck_action esp_bootcheck_next(const struct esp_bootcheck_state *s, const char **why);
const char *esp_bootcheck_action_name(enum esp_bootcheck_action a);

/* ---- attempts and the verdict (pure) ---- */

enum esp_bootcheck_step {
        ESP_BOOTCHECK_STEP_FLASH,       /* the job's own flash */
        ESP_BOOTCHECK_STEP_RECHECK,     /* the same flash, checked again another way */
        ESP_BOOTCHECK_STEP_REFLASH_DIO,
        ESP_BOOTCHECK_STEP_ROLLBACK,
};

struct esp_bootcheck_attempt {
        enum esp_bootcheck_step step;
        char what[96];                  /* "MicroPython v1.25.0", "4096 bytes at 0x300000" */
        char firmware_id[65];           /* library id, "" when none */
        char flash_mode[8];             /* header mode written at the boot offset, "" none */
        bool wrote_boot;
        int flash_error;                /* < 0: the (re)flash failed; flash_msg says why, boot unset */
        char flash_msg[256];
        bool reset_sent;
        unsigned rom_baud, fw_baud;     /* what the check read at */
        struct bootlog_result boot;
        bool repl_checked, repl_ok;     /* after booted: the REPL answered print(1) */
};

const char *esp_bootcheck_step_name(enum esp_bootcheck_step s);

/* One plain sentence from the attempts (n >= 1). flash_size ("4MB", may be NULL) is named with a
 * booted board. Always NUL-terminates out. */
void esp_bootcheck_verdict(const struct esp_bootcheck_attempt *a, size_t n, const char *flash_size, char *out,
                           size_t size);
/* The job's failure code for these attempts, or NULL when the job succeeds: the board ended up
 * booted through the flashed firmware (possibly re-flashed as DIO), or runs some other firmware
 * (unknown_output). "rolled_back" when only the known-good firmware boots; else the final class
 * ("boot_loop", "silent", ...) or "flash_failed" when a re-flash itself failed last. */
const char *esp_bootcheck_error_code(const struct esp_bootcheck_attempt *a, size_t n);

/* {class, summary, version, board, mcu, evidence[], rst_cause, rst_reason, boot_mode, cycles, prompt,
 * rom_unreadable, flash_mode_suspect} as a new object owned by the caller. */
json_t *esp_bootcheck_boot_json(const struct bootlog_result *r);
/* One attempt as a new object owned by the caller. */
json_t *esp_bootcheck_attempt_json(const struct esp_bootcheck_attempt *a);

/* "qio", "qout", "dio", "dout" for an image header's byte 2; NULL for other values. */
const char *esp_bootcheck_mode_name(uint8_t header_mode);

#endif
