/* SPI flash commands through the chip's SPI user-command registers (§3.4): RDID etc. via
 * READ_REG/WRITE_REG, for the ESP8266, ESP32 and S2/S3/C3-style register maps. */
#ifndef CORRAL_ESP_SPI_H
#define CORRAL_ESP_SPI_H

#include <stdint.h>

#include "engines/esp/esp_rom.h"

struct esp_spi_cmd {
        uint8_t cmd;          /* 8-bit SPI flash opcode */
        uint32_t data;        /* MOSI data (LSB first), data_bits <= 32 */
        unsigned data_bits;
        uint32_t addr;
        unsigned addr_len;    /* bits, 0 = no address phase */
        unsigned dummy_len;   /* cycles */
        unsigned read_bits;   /* <= 32 */
};

/* Run one command; *ret (optional) = W0 masked to read_bits. Needs l->chip. */
int esp_spi_command(struct esp_loader *l, const struct esp_spi_cmd *c, uint32_t *ret);
/* RDID via the SPI user-command engine; sets flash_id/flash_size. Bad ids -> -EIO with
 * "The flash chip does not respond (JEDEC id ffffff)". */
int esp_read_flash_id(struct esp_loader *l);

#endif
