/* A tiny ESP ROM/stub simulator on fake_port for unit tests: reset circuit with an RC delay,
 * SLIP, SYNC x8, registers (magic, eFuse MAC, UART_CLKDIV, SPI RDID), NOR flash with erase,
 * FLASH/DEFL/MD5/MEM/stub commands, chip personalities esp8266, esp32, esp32c3. */
#ifndef CORRAL_ESP_DEVICE_MODEL_H
#define CORRAL_ESP_DEVICE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "engines/esp/slip.h"
#include "fake_port.h"

enum esp_model_mode { ESP_MODEL_APP, ESP_MODEL_ROM, ESP_MODEL_STUB };

struct esp_model {
        struct port *port;           /* borrowed */
        const char *chip;            /* "esp8266", "esp32", "esp32c3" */
        enum esp_model_mode mode;
        unsigned status_len;         /* current: ROM personality or 2 in stub */
        uint8_t *flash;              /* owned, flash_size bytes */
        size_t flash_size;
        uint32_t jedec;              /* RDID answer */
        uint32_t sticky;             /* ROM "value" field */
        uint8_t unsupported_op;      /* opcode echoed in "invalid message" replies */
        bool attached;
        /* knobs for failure tests */
        int ignore_syncs;            /* drop this many SYNCs */
        int fail_data_blocks;        /* answer this many FLASH_DATA blocks with 0x0108 */
        int unplug_at_block;         /* unplug when this FLASH_DATA seq arrives (-1 off) */
        bool boot_to_app_always;     /* auto-reset circuit broken: never enters the ROM */
        const char *app_log;         /* printed when booting the app (NULL = default) */
        int late_invalid;            /* frames of the next "invalid message" burst held back until
                                      * the host's next write (they cross its input flush) */
        int stale_invalid;           /* "invalid message" frames (opcode 0x00) sent before the
                                      * answer to the next request (an earlier garbled frame's) */
        uint8_t held[8 * 32];        /* SLIP bytes held back by late_invalid */
        size_t held_len;
        /* state */
        struct slip_decoder dec;
        bool en_low, pending_boot;
        uint64_t en_low_since, release_t;
        bool dtr, rts;
        uint32_t wr_off, wr_bs, wr_seq, wr_total;
        bool wr_active, wr_defl;
        z_stream zs;
        bool zs_init;
        uint32_t zs_written;
        uint32_t spi_regs[64];       /* SPI block registers by (offset / 4) */
        unsigned baud_requests;
        uint32_t last_baud;
        /* statistics for assertions */
        unsigned op_count[256];
        uint8_t ops[4096];           /* opcodes in arrival order */
        size_t n_ops;
        size_t last_payload_len[256];
        unsigned resets_to_rom, resets_to_app;
        /* stub READ_FLASH stream */
        bool rf_active;
        uint32_t rf_off, rf_len, rf_pkt, rf_sent;
};

/* Attach a model to a fake port. chip: "esp8266" | "esp32" | "esp32c3". */
struct esp_model *esp_model_new(struct port *p, const char *chip, size_t flash_size, uint32_t jedec);
void esp_model_free(struct esp_model *m);
/* Evaluate a pending boot (after the host's last line change) at the current virtual time. */
void esp_model_poll(struct esp_model *m);
/* Opcodes seen, in order, as a string like "08 14 0a" (static buffer, test use only). */
const char *esp_model_trace(struct esp_model *m);

#endif
