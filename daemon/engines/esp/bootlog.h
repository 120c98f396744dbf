/* Boot-log classifier: a pure function over the bytes captured after a hard reset (the ROM's
 * output at its baud, the firmware's at its baud) that says what happened: booted MicroPython,
 * boot loop, blank flash, bad image, download mode, silent, or something else, with evidence. */
#ifndef CORRAL_BOOTLOG_H
#define CORRAL_BOOTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ESP8266 ROM prints at 74880 baud (26 MHz crystal); the ESP32 family ROMs at 115200
 * (old "ets Jun  8 2016" and new "ESP-ROM:esp32c3-..." banners alike). */
enum bootlog_chip { BOOTLOG_ESP8266, BOOTLOG_ESP32 };

enum bootlog_class {
        BOOTLOG_BOOTED,         /* MicroPython banner or ">>> " prompt, no reset after it */
        BOOTLOG_BOOT_LOOP,      /* repeated reset lines (or a reset after the banner); also
                                 * repeated checksum errors with the flash-mode signature */
        BOOTLOG_BLANK_FLASH,    /* nothing to boot: erased flash */
        BOOTLOG_BAD_IMAGE,      /* header / checksum errors from the ROM or bootloader */
        BOOTLOG_DOWNLOAD_MODE,  /* strapped into the serial loader */
        BOOTLOG_SILENT,         /* no bytes at either baud */
        BOOTLOG_UNKNOWN,        /* output, but none of the above; evidence = first lines */
};

#define BOOTLOG_ROM_BAUD_ESP8266 74880u
#define BOOTLOG_ROM_BAUD_ESP32 115200u
#define BOOTLOG_MAX_EVIDENCE 6
#define BOOTLOG_LINE_MAX 160

/* One capture: bytes as read and the baud they were read at. data may be NULL when len is 0. */
struct bootlog_capture {
        const uint8_t *data;
        size_t len;
        unsigned baud;
};

struct bootlog_result {
        enum bootlog_class cls;
        /* MicroPython banner "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266". */
        char mp_version[40];         /* "1.25.0" (without the 'v'); "" when not seen */
        char mp_date[16];            /* "2025-04-15" */
        char mp_board[96];           /* "ESP module" */
        char mp_mcu[32];             /* "ESP8266" */
        bool prompt;                 /* ">>> " seen */
        /* From the last ROM reset line. ESP8266: "rst cause:2, boot mode:(3,6)"; ESP32:
         * "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)". -1 when unknown. */
        int reset_cause;             /* 2 / 0x10 */
        char reset_reason[40];       /* "" (ESP8266) / "RTCWDT_RTC_RESET" */
        int boot_mode;               /* ESP8266: first number (3); ESP32: strap value (0x13) */
        int boot_mode_sub;           /* ESP8266: second number (6); ESP32: -1 */
        char boot_reason[64];        /* "" / "SPI_FAST_FLASH_BOOT" */
        unsigned resets;             /* ROM reset lines seen (boot cycles) */
        /* ROM output read at the wrong baud (ESP8266 at 115200) came out as garbage. */
        bool rom_unreadable;
        unsigned rom_unreadable_baud;
        /* ESP8266: a segment after the first read as "load 0x00000000, len 0" before a checksum
         * error: the ROM could not read the image in its flash mode (QIO/QOUT on a DIO/DOUT-only
         * module). With two or more boot cycles that is classified BOOTLOG_BOOT_LOOP. */
        bool flash_mode_suspect;
        /* MicroPython said its filesystem is corrupt ("looks corrupt", "appears to be corrupted"). */
        bool fs_corrupt;
        /* The few lines that justify the verdict: printable ASCII, CR/LF trimmed, ANSI colour
         * codes removed, other bytes shown as '?'. */
        char evidence[BOOTLOG_MAX_EVIDENCE][BOOTLOG_LINE_MAX];
        size_t n_evidence;
        char summary[384];           /* one plain sentence */
};

/* Classify. rom and fw may each be NULL (not captured). When the ROM and the firmware use the
 * same baud, pass one capture as rom and NULL as fw. Never fails; always fills *out. */
void bootlog_classify(enum bootlog_chip chip, const struct bootlog_capture *rom,
                      const struct bootlog_capture *fw, struct bootlog_result *out);

/* "booted", "boot_loop", "blank_flash", "bad_image", "download_mode", "silent",
 * "unknown_output" (static strings). */
const char *bootlog_class_name(enum bootlog_class cls);

/* "esp8266" -> BOOTLOG_ESP8266; "esp32", "esp32c3", "ESP32-S3", ... -> BOOTLOG_ESP32.
 * Returns 0, or -EINVAL for anything else. */
int bootlog_chip_from_name(const char *name, enum bootlog_chip *ret);

/* The last reset line in words: "rst cause 2, boot mode (3,6)" (ESP8266), "rst:0x10
 * (RTCWDT_RTC_RESET), boot:0x13 (SPI_FAST_FLASH_BOOT)" (ESP32 family), "unknown". */
void bootlog_describe_reset(const struct bootlog_result *r, char *out, size_t size);

/* The last reset's kind in words: "watchdog", "brownout", "power-on", "software restart",
 * "deep-sleep wake-up", "external reset (EN pin)", "USB/JTAG reset", "other", "unknown" (static);
 * from the ESP32 family's reason name, or the ESP8266 ROM's cause number (4 = watchdog). */
const char *bootlog_reset_kind(const struct bootlog_result *r);

/* The ROM's baud for that family (74880 / 115200). */
unsigned bootlog_rom_baud(enum bootlog_chip chip);

#endif
