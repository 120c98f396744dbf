/* Loader commands that change the chip: SPI attach, baud, flash begin/data/end (plain and
 * deflated), MD5, read, erase, RAM download, hard reset. Pure logic over esp_rom.h. */
#ifndef CORRAL_ESP_FLASHCMD_H
#define CORRAL_ESP_FLASHCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_rom.h"

/* SPI_ATTACH (8 bytes to ESP32-family ROMs, 4 to stubs) or FLASH_BEGIN(0,0) on ESP8266 ROM. */
int esp_spi_attach(struct esp_loader *l);
int esp_spi_set_params(struct esp_loader *l, uint32_t flash_size);

/* Not on ESP8266 ROM (-EOPNOTSUPP). Switches the port after the reply. */
int esp_change_baud(struct esp_loader *l, unsigned baud);
/* After a baud change: does the link hold? A few short READ_REG round trips (a garbled link
 * fails in about a second). 0, or -EIO with l->msg naming the baud; port errors as they are. */
int esp_link_check(struct esp_loader *l);

/* Flash writing. size = bytes that will be written (ROM: erased up front). */
int esp_flash_begin(struct esp_loader *l, uint32_t offset, uint32_t size);
/* One block; short blocks are padded with 0xFF to l->block_size. Retries 3 times. */
int esp_flash_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq);
int esp_flash_defl_begin(struct esp_loader *l, uint32_t offset, uint32_t unc_size,
                         uint32_t comp_size);
/* One compressed block (not padded); unc_estimate sizes the timeout. */
int esp_flash_defl_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq,
                         uint32_t unc_estimate);
/* Stub only: FLASH_END / FLASH_DEFL_END(1) to flush the last block; no-op for ROMs. */
int esp_flash_finish(struct esp_loader *l, bool deflated);
/* MD5 of a flash region (ROM hex or stub raw), md5 out set on success. */
int esp_flash_md5(struct esp_loader *l, uint32_t offset, uint32_t size, uint8_t md5[16]);
/* Read flash (ROM READ_FLASH_SLOW or stub READ_FLASH); -EOPNOTSUPP on ESP8266 ROM. */
int esp_read_flash(struct esp_loader *l, uint32_t offset, uint32_t len, uint8_t *out);
/* Whole chip: stub ERASE_FLASH, ROM FLASH_BEGIN over flash_size. */
int esp_erase_all(struct esp_loader *l);
/* 4 KiB aligned region: stub ERASE_REGION, ROM FLASH_BEGIN(size). */
int esp_erase_region(struct esp_loader *l, uint32_t offset, uint32_t size);

int esp_mem_begin(struct esp_loader *l, uint32_t size, uint32_t blocks, uint32_t block_size,
                  uint32_t addr);
int esp_mem_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq);
/* MEM_END(entry==0, entry); errors from a ROM are ignored (it may jump before replying). */
int esp_mem_end(struct esp_loader *l, uint32_t entry);

/* Hard reset (RTS pulse, DTR false). */
int esp_hard_reset(struct esp_loader *l);

#endif
