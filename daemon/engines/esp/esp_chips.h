/* The table of ESP chips the flasher knows: detection magic and chip ids, ROM personality
 * (status length, supported commands), SPI register map, eFuse/MAC layout, image encodings. */
#ifndef CORRAL_ESP_CHIPS_H
#define CORRAL_ESP_CHIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum esp_mac_scheme { ESP_MAC_ESP8266, ESP_MAC_ESP32, ESP_MAC_EFUSE_PAIR };

struct esp_spi_regs {
        uint32_t base;               /* SPI_CMD_REG = base, SPI_ADDR_REG = base + 4 */
        uint32_t usr, usr1, usr2;    /* offsets */
        uint32_t mosi_dlen, miso_dlen; /* offsets; 0 = none (ESP8266: lengths live in USR1) */
        uint32_t w0;
};

/* Static, immutable descriptions; pointers into the table are valid forever. */
struct esp_chip {
        const char *name;            /* "ESP32-C3" */
        const char *stub_name;       /* stub JSON file stem: "esp32c3" */
        uint32_t magic[4];           /* READ_REG 0x40001000 values; unused slots 0xFFFFFFFF-free */
        size_t n_magic;
        int image_chip_id;           /* extended header / security-info chip id; -1 for ESP8266 */
        unsigned rom_status_len;     /* 2 (ESP8266) or 4 */
        uint32_t bootloader_offset;
        bool is_esp8266;
        bool rom_has_spi_attach, rom_has_set_params, rom_has_change_baud, rom_has_defl,
                rom_has_md5, rom_has_read_flash_slow, has_security_info;
        bool begin_has_encrypted_word; /* 5th FLASH_BEGIN word for this chip's ROM */
        struct esp_spi_regs spi;
        enum esp_mac_scheme mac_scheme;
        uint32_t mac_efuse_reg;      /* ESP_MAC_EFUSE_PAIR: low word address; +4 high word */
        uint32_t uart_clkdiv_reg;    /* 0 = crystal fixed */
        unsigned xtal_div_factor;    /* ESP8266: xtal = baud*div/1e6/2 -> 2; others 1 */
        unsigned fixed_xtal_mhz;     /* used when uart_clkdiv_reg == 0 */
        uint32_t uart_date_reg;
        const char *features;        /* comma-separated, static summary */
        /* Image header encodings (§4.2): names for size nibble values 0..15, freq values. */
        const char *const *size_names;  /* index = high nibble, NULL = unsupported */
        const char *const *freq_names;  /* index = low nibble, NULL = unsupported */
};

extern const struct esp_chip esp_chip_table[];
extern const size_t esp_chip_count;

const struct esp_chip *esp_chip_by_magic(uint32_t magic);
/* Only chips identified by chip id (not ESP8266/ESP32/S2). */
const struct esp_chip *esp_chip_by_image_id(int chip_id);
/* "esp32c3", "ESP32-C3", "esp32-c3" all match. */
const struct esp_chip *esp_chip_by_name(const char *name);

/* JEDEC RDID value (W0 & 0xFFFFFF: mfr | type<<8 | capacity<<16) -> flash size in bytes, 0 if
 * unknown. bad ids (ffffff, 000000, ffff3f) return 0 and esp_flash_id_is_bad() says so. */
uint32_t esp_flash_size_from_id(uint32_t id);
bool esp_flash_id_is_bad(uint32_t id);
/* "Winbond", "GigaDevice", ... or NULL. */
const char *esp_flash_vendor(uint8_t mfr);
/* "4MB" style name of a size in bytes; NULL when not a power-of-two size we know. */
const char *esp_flash_size_name(uint32_t bytes);
/* Parse "4MB", "512KB" into bytes; 0 when invalid. */
uint32_t esp_flash_size_parse(const char *name);

#endif
