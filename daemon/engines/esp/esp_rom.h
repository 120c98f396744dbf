/* ESP serial bootloader protocol core (ROM loader and flasher stub) over struct port: request
 * encoding, response parsing, the loader session (connect, sync, commands, registers). The
 * commands built on it: esp_info.h (identify), esp_flashcmd.h (flash, RAM, baud), esp_spi.h.
 * Spec: shared/reference/esp-rom.md. Pure logic: no logging, errors are -errno + l->msg. */
#ifndef CORRAL_ESP_ROM_H
#define CORRAL_ESP_ROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_chips.h"
#include "engines/esp/slip.h"
#include "ports/port.h"

enum esp_op {
        ESP_FLASH_BEGIN = 0x02, ESP_FLASH_DATA = 0x03, ESP_FLASH_END = 0x04, ESP_MEM_BEGIN = 0x05,
        ESP_MEM_END = 0x06, ESP_MEM_DATA = 0x07, ESP_SYNC = 0x08, ESP_WRITE_REG = 0x09,
        ESP_READ_REG = 0x0A, ESP_SPI_SET_PARAMS = 0x0B, ESP_SPI_ATTACH = 0x0D,
        ESP_READ_FLASH_SLOW = 0x0E, ESP_CHANGE_BAUDRATE = 0x0F, ESP_FLASH_DEFL_BEGIN = 0x10,
        ESP_FLASH_DEFL_DATA = 0x11, ESP_FLASH_DEFL_END = 0x12, ESP_SPI_FLASH_MD5 = 0x13,
        ESP_GET_SECURITY_INFO = 0x14, ESP_ERASE_FLASH = 0xD0, ESP_ERASE_REGION = 0xD1,
        ESP_READ_FLASH = 0xD2, ESP_RUN_USER_CODE = 0xD3,
};

#define ESP_ROM_BLOCK 0x400u
#define ESP_STUB_BLOCK 0x4000u
#define ESP_RAM_BLOCK 0x1800u
#define ESP_SECTOR 0x1000u
#define ESP_CHECKSUM_MAGIC 0xEFu
#define ESP_MAGIC_REG 0x40001000u
#define ESP_ROM_ERR_INVALID_MSG 0x05u
/* "invalid message" frames a ROM sends for one command it does not know (esp-rom.md §1.6). */
#define ESP_ROM_INVALID_BURST 8
#define ESP_WRITE_BLOCK_ATTEMPTS 3
#define ESP_CONNECT_ATTEMPTS 7
#define ESP_SYNC_TRIES 5

/* Timeouts (§2.16), milliseconds. */
#define ESP_DEFAULT_TIMEOUT_MS 3000
#define ESP_SYNC_TIMEOUT_MS 100
#define ESP_MEM_END_ROM_TIMEOUT_MS 200
#define ESP_ERASE_REGION_MS_PER_MB 40000
#define ESP_ERASE_WRITE_MS_PER_MB 40000
#define ESP_MD5_MS_PER_MB 8000
#define ESP_CHIP_ERASE_TIMEOUT_MS 120000
#define ESP_MAX_TIMEOUT_MS 240000
/* max(3 s, ms_per_mb * bytes / 1e6), capped at 240 s. */
int esp_timeout_per_mb(unsigned ms_per_mb, uint64_t bytes);

/* ---- Pure encoding ---- */
/* 0xEF xor every byte of data (the payload after the 16-byte block header). */
uint8_t esp_checksum(const uint8_t *data, size_t len);
/* Request packet (before SLIP): 00 op size(le16) checksum(le32) data. Returns 8+len, or
 * -ENOSPC / -EMSGSIZE (len > 65535). */
int esp_request_build(uint8_t op, const uint8_t *data, size_t len, uint32_t checksum,
                      uint8_t *out, size_t out_size);
/* ESP8266 ROM FLASH_BEGIN erase size workaround (§2.6). */
uint32_t esp8266_rom_erase_size(uint32_t offset, uint32_t size);
/* FLASH_BEGIN / FLASH_DEFL_BEGIN / MEM_BEGIN payload: four LE words, plus a fifth 0 word when
 * five is true. out needs 20 bytes. Returns 16 or 20. */
size_t esp_begin_payload(uint8_t out[20], uint32_t size, uint32_t blocks, uint32_t block_size,
                         uint32_t offset, bool five);
/* {len, seq, 0, 0} + data; out needs 16 + len bytes. Returns 16 + len. */
size_t esp_block_payload(uint8_t *out, const uint8_t *data, uint32_t len, uint32_t seq);

/* ---- Response parsing ---- */
#define ESP_RESP_DATA_AUTO ((size_t)-1) /* data = all but the last status_len bytes */
struct esp_response {
        uint8_t op;
        uint16_t size;         /* size field as sent */
        uint32_t value;
        const uint8_t *data;   /* borrowed from the frame */
        size_t data_len;
        uint8_t status, error; /* status bytes 0 and 1 */
};
/* Parse a decoded frame. want_data = data bytes expected before the status (esptool v5 rule:
 * status = body[want_data .. +2]); if the body is shorter, status is body[0..2] and must be a
 * failure. Returns 0 (check r->status) or -EBADMSG (not a response / truncated). */
int esp_response_parse(const uint8_t *frame, size_t len, size_t want_data, unsigned status_len,
                       struct esp_response *r);
/* The ROM "invalid message" reply to an opcode it does not know (§1.6): status 01 05 with an
 * opcode other than req_op. One such frame proves nothing (it may be stale): see esp_command(). */
bool esp_response_is_unsupported(const struct esp_response *r, uint8_t req_op);

/* ---- Loader session ---- */
enum esp_reset_kind {
        ESP_RESET_AUTO,       /* unix-tight 50/550 ms then classic 50/550 ms */
        ESP_RESET_CLASSIC,    /* classic 50/550 ms (rfc2217 and non-POSIX) */
        ESP_RESET_UNIX_TIGHT, /* unix-tight 50/550 ms */
        ESP_RESET_USB_JTAG,   /* on-chip USB-Serial/JTAG */
        ESP_RESET_NONE,       /* already in download mode */
};

struct esp_loader;

struct esp_connect_opts {
        enum esp_reset_kind reset;
        unsigned attempts;   /* reset+sync cycles; 0 = 7 */
        unsigned rom_baud;   /* 0 = 115200 */
        const char *stub_dir; /* directory of <chip>.json flasher stubs; NULL = ROM only */
        unsigned stub_baud;  /* raise the ROM to this baud before the stub upload (not the ESP8266
                              * ROM; the stub keeps it), checked with esp_link_check; 0 = no */
        /* Optional, when stub_baud is 0: asked once the chip is known, before the stub upload,
         * for a baud to raise the ROM to first (0 = none); same rules as stub_baud. */
        unsigned (*pick_stub_baud)(void *user, const struct esp_loader *l);
        void *pick_user;
        bool no_flash_id;    /* skip attach + JEDEC id */
        bool no_hard_reset;  /* esp_identify(): leave the chip in the loader */
};

/* Fields are read-only for callers. */
struct esp_loader {
        struct port *port;           /* borrowed */
        const struct esp_chip *chip; /* NULL until detected */
        bool stub;                   /* flasher stub running */
        bool sync_stub_detected;     /* SYNC replies carried value 0 */
        bool secure_download;
        bool usb_jtag;
        bool have_sec_info;
        uint32_t sec_flags;
        int sec_chip_id;             /* -1 when unknown */
        unsigned status_len;         /* 2 or 4 */
        uint32_t block_size;         /* FLASH_DATA block size: 0x400 ROM, 0x4000 stub */
        uint32_t magic;
        uint32_t flash_id;           /* JEDEC RDID (mfr | type<<8 | cap<<16) */
        uint32_t flash_size;         /* bytes, 0 unknown */
        uint8_t mac[6];
        bool have_mac;
        unsigned xtal_mhz;           /* 0 unknown */
        int rev_major, rev_minor;    /* -1 unknown */
        uint32_t esp32_word3;        /* ESP32 eFuse word 3 (features), 0 elsewhere */
        char description[64];
        uint8_t last_status, last_error;
        uint32_t last_value;
        unsigned rom_baud;
        unsigned sync_retries;       /* SYNC attempts that went unanswered (health record) */
        struct slip_decoder dec;
        uint8_t rx[1024];
        size_t rx_off, rx_len;
        uint8_t *tx;                 /* owned scratch for encoded requests */
        size_t tx_cap;
        char boot_log[256];          /* text seen right after the last reset */
        double connect_s, stub_s;    /* esp_loader_prepare(): reset+sync+identify, stub upload */
        unsigned stub_baud_tried;    /* esp_loader_prepare(): the ROM was raised to this before the
                                      * stub upload (stub_baud or pick_stub_baud), 0 = not */
        char note[256];              /* non-fatal remark of esp_loader_prepare() (stub fallback) */
        char msg[512];               /* plain-language reason of the last failure */
};

/* Create a session on p (borrowed; must outlive the loader). *ret owned, free with
 * esp_loader_free(). */
int esp_loader_new(struct port *p, struct esp_loader **ret);
struct esp_loader *esp_loader_free(struct esp_loader *l);
/* The message of the last failure ("" if none); borrowed. */
const char *esp_loader_msg(const struct esp_loader *l);

/* Send one command and wait for its reply (§1.7). want_data as for esp_response_parse.
 * resp (optional) points into the loader's frame buffer until the next call. Returns 0,
 * -EOPNOTSUPP (ROM does not know the opcode), -EPROTO (failure status; l->last_status/error),
 * -ETIMEDOUT, or a port error (-ENODEV, -ECANCELED). Fills l->msg on failure. */
int esp_command(struct esp_loader *l, uint8_t op, const uint8_t *data, size_t len,
                uint32_t checksum, size_t want_data, int timeout_ms, struct esp_response *resp);

int esp_sync(struct esp_loader *l);
/* Reset into the loader and sync, up to opts->attempts times. */
int esp_connect(struct esp_loader *l, const struct esp_connect_opts *opts);
int esp_read_reg(struct esp_loader *l, uint32_t addr, uint32_t *ret);
/* One {addr, value, mask, delay_us} entry. */
int esp_write_reg(struct esp_loader *l, uint32_t addr, uint32_t value, uint32_t mask,
                  uint32_t delay_us);

/* Internal to the esp_* engine files. Read one SLIP frame (e.g. "OHAI"): 1 with *frame and *len
 * borrowed until the next read, 0 on timeout, or a port error. */
int esp_loader_read_frame(struct esp_loader *l, int timeout_ms, const uint8_t **frame, size_t *len);
/* Drop buffered input (host side and decoder). */
int esp_loader_flush(struct esp_loader *l);
/* "the board disappeared (unplugged?)" etc. for a port error. */
const char *esp_port_err_text(int err);
/* Fill l->msg and return err. */
int esp_loader_fail(struct esp_loader *l, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
