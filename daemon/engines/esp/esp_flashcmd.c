/* ESP loader flash and RAM commands: attach, parameters, baud change, FLASH_BEGIN/DATA with ROM
 * and stub rules, deflated writes, MD5, read-back, erase, MEM_* upload, hard reset. */
#include "engines/esp/esp_flashcmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_reset.h"
#include "util.h"

#define fail esp_loader_fail
#define port_err_text esp_port_err_text

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static bool five_words(const struct esp_loader *l)
{
        return l->stub || (l->chip && l->chip->begin_has_encrypted_word);
}

static bool is_8266_rom(const struct esp_loader *l)
{
        return !l->stub && l->chip && l->chip->is_esp8266;
}

int esp_spi_attach(struct esp_loader *l)
{
        uint8_t d[20];
        if (is_8266_rom(l)) {
                /* No SPI_ATTACH: FLASH_BEGIN(0, 0) attaches the flash. */
                size_t n = esp_begin_payload(d, 0, 0, ESP_ROM_BLOCK, 0, false);
                return esp_command(l, ESP_FLASH_BEGIN, d, n, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
        }
        memset(d, 0, 8);
        return esp_command(l, ESP_SPI_ATTACH, d, l->stub ? 4 : 8, 0, 0, ESP_DEFAULT_TIMEOUT_MS,
                           NULL);
}

int esp_spi_set_params(struct esp_loader *l, uint32_t flash_size)
{
        if (is_8266_rom(l))
                return 0; /* skipped, like esptool */
        uint8_t d[24];
        put32(d, 0);
        put32(d + 4, flash_size);
        put32(d + 8, 0x10000);
        put32(d + 12, 0x1000);
        put32(d + 16, 0x100);
        put32(d + 20, 0xFFFF);
        return esp_command(l, ESP_SPI_SET_PARAMS, d, 24, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
}

int esp_change_baud(struct esp_loader *l, unsigned baud)
{
        if (is_8266_rom(l))
                return fail(l, -EOPNOTSUPP, "The ESP8266 ROM cannot change the baud rate; "
                            "staying at %u", l->port->baud);
        uint32_t sent = baud;
        if (!l->stub && l->chip && l->chip->image_chip_id == 0) {
                /* ESP32 ROM: it estimates its crystal from CK8M; compensate (§2.10). */
                uint32_t cal = 0, w4 = 0;
                if (esp_read_reg(l, 0x3FF5F06C, &cal) == 0 && esp_read_reg(l, 0x3FF5A010, &w4) == 0) {
                        uint64_t rom_hz = (uint64_t)((cal >> 7) & 0x1FFFFFF) * 15625u * (w4 & 0xFF) / 40u;
                        if (rom_hz > 10000000u && rom_hz < 60000000u) {
                                uint64_t valid = rom_hz > 33000000u ? 40000000u : 26000000u;
                                sent = (uint32_t)((uint64_t)baud * rom_hz / valid);
                        }
                }
        }
        uint8_t d[8];
        put32(d, sent);
        put32(d + 4, l->stub ? l->port->baud : 0);
        int e = esp_command(l, ESP_CHANGE_BAUDRATE, d, 8, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
        if (e < 0)
                return e;
        e = port_set_baud(l->port, baud);
        if (e < 0 && e != -ENOTSUP)
                return fail(l, e, "Switching the port to %u baud failed: %s", baud,
                            port_err_text(e));
        port_sleep_ms(l->port, 50);
        esp_loader_flush(l);
        return 0;
}

int esp_link_check(struct esp_loader *l)
{
        int e = 0;
        for (int i = 0; i < 3; i++) {
                uint32_t v = 0;
                uint8_t d[4];
                put32(d, ESP_MAGIC_REG);
                struct esp_response r;
                e = esp_command(l, ESP_READ_REG, d, 4, 0, 0, 300, &r);
                if (e == -ENODEV || e == -ECANCELED)
                        return e;
                if (e == 0) {
                        v = r.value;
                        if (!l->magic || v == l->magic)
                                continue;
                        e = -EIO;
                }
                esp_loader_flush(l);
                return fail(l, -EIO, "The link does not hold %u baud (%s)", l->port->baud,
                            e == -ETIMEDOUT ? "no reply" : e == -EIO ? "wrong reply" : "bad reply");
        }
        return 0;
}

int esp_flash_begin(struct esp_loader *l, uint32_t offset, uint32_t size)
{
        uint8_t d[20];
        uint32_t blocks = (uint32_t)(((uint64_t)size + l->block_size - 1) / l->block_size);
        uint32_t erase = is_8266_rom(l) ? esp8266_rom_erase_size(offset, size) : size;
        size_t n = esp_begin_payload(d, erase, blocks, l->block_size, offset, five_words(l));
        int t = l->stub ? ESP_DEFAULT_TIMEOUT_MS : esp_timeout_per_mb(ESP_ERASE_REGION_MS_PER_MB, size);
        return esp_command(l, ESP_FLASH_BEGIN, d, n, 0, 0, t, NULL);
}

static int data_block(struct esp_loader *l, uint8_t op, const uint8_t *data, size_t len,
                      uint32_t seq, int timeout_ms)
{
        size_t total = 16 + len;
        uint8_t *buf = malloc(total);
        if (!buf)
                return fail(l, -ENOMEM, "Out of memory");
        esp_block_payload(buf, data, (uint32_t)len, seq);
        uint32_t chk = esp_checksum(buf + 16, len);
        int e = 0;
        for (int attempt = 0; attempt < ESP_WRITE_BLOCK_ATTEMPTS; attempt++) {
                e = esp_command(l, op, buf, total, chk, 0, timeout_ms, NULL);
                if (e == 0 || e == -ENODEV || e == -ECANCELED || e == -ENOMEM)
                        break;
        }
        free(buf);
        return e;
}

int esp_flash_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq)
{
        if (len > l->block_size)
                return fail(l, -EINVAL, "Block of %zu bytes exceeds %u", len, l->block_size);
        uint8_t *blk = malloc(l->block_size);
        if (!blk)
                return fail(l, -ENOMEM, "Out of memory");
        memcpy(blk, data, len);
        memset(blk + len, 0xFF, l->block_size - len);
        int e = data_block(l, ESP_FLASH_DATA, blk, l->block_size, seq, ESP_DEFAULT_TIMEOUT_MS);
        free(blk);
        return e;
}

int esp_flash_defl_begin(struct esp_loader *l, uint32_t offset, uint32_t unc_size,
                         uint32_t comp_size)
{
        if (is_8266_rom(l))
                return fail(l, -EOPNOTSUPP, "The ESP8266 ROM cannot write compressed data");
        uint8_t d[20];
        uint32_t bs = l->block_size;
        uint32_t blocks = (uint32_t)(((uint64_t)comp_size + bs - 1) / bs);
        uint32_t size = l->stub ? unc_size
                                : (uint32_t)(((uint64_t)unc_size + ESP_ROM_BLOCK - 1) / ESP_ROM_BLOCK *
                                             ESP_ROM_BLOCK);
        size_t n = esp_begin_payload(d, size, blocks, bs, offset, five_words(l));
        int t = l->stub ? ESP_DEFAULT_TIMEOUT_MS : esp_timeout_per_mb(ESP_ERASE_REGION_MS_PER_MB, size);
        return esp_command(l, ESP_FLASH_DEFL_BEGIN, d, n, 0, 0, t, NULL);
}

int esp_flash_defl_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq,
                         uint32_t unc_estimate)
{
        int t = esp_timeout_per_mb(ESP_ERASE_WRITE_MS_PER_MB, unc_estimate);
        return data_block(l, ESP_FLASH_DEFL_DATA, data, len, seq, t);
}

int esp_flash_finish(struct esp_loader *l, bool deflated)
{
        if (!l->stub)
                return 0; /* FLASH_END would make the ROM leave the loader */
        uint8_t d[4];
        put32(d, 1); /* stay in the loader */
        return esp_command(l, deflated ? ESP_FLASH_DEFL_END : ESP_FLASH_END, d, 4, 0, 0,
                           ESP_DEFAULT_TIMEOUT_MS, NULL);
}

int esp_flash_md5(struct esp_loader *l, uint32_t offset, uint32_t size, uint8_t md5[16])
{
        if (is_8266_rom(l) || (!l->stub && l->chip && !l->chip->rom_has_md5))
                return fail(l, -EOPNOTSUPP, "verify: not possible on ESP8266 ROM without stub");
        uint8_t d[16];
        struct esp_response r;
        put32(d, offset);
        put32(d + 4, size);
        put32(d + 8, 0);
        put32(d + 12, 0);
        size_t want = l->stub ? 16 : 32;
        int e = esp_command(l, ESP_SPI_FLASH_MD5, d, 16, 0, want,
                            esp_timeout_per_mb(ESP_MD5_MS_PER_MB, size), &r);
        if (e < 0)
                return e;
        if (r.data_len != want)
                return fail(l, -EBADMSG, "SPI_FLASH_MD5 reply too short");
        uint8_t out[16];
        if (l->stub) {
                memcpy(out, r.data, 16);
        } else {
                for (int i = 0; i < 16; i++) {
                        int hi = util_hexval(r.data[2 * i]), lo = util_hexval(r.data[2 * i + 1]);
                        if (hi < 0 || lo < 0)
                                return fail(l, -EBADMSG, "SPI_FLASH_MD5 reply is not hex");
                        out[i] = (uint8_t)(hi << 4 | lo);
                }
        }
        memcpy(md5, out, 16);
        return 0;
}

static int read_flash_stub(struct esp_loader *l, uint32_t offset, uint32_t len, uint8_t *out)
{
        const uint32_t packet = 0x1000;
        uint8_t d[16];
        put32(d, offset);
        put32(d + 4, len);
        put32(d + 8, packet);
        put32(d + 12, 64);
        int e = esp_command(l, ESP_READ_FLASH, d, 16, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
        if (e < 0)
                return e;
        uint32_t got = 0;
        const uint8_t *fr = NULL;
        size_t frn = 0;
        while (got < len) {
                e = esp_loader_read_frame(l, ESP_DEFAULT_TIMEOUT_MS, &fr, &frn);
                if (e <= 0)
                        return fail(l, e < 0 ? e : -ETIMEDOUT, "Reading flash at 0x%x: %s",
                                    offset + got, port_err_text(e < 0 ? e : -ETIMEDOUT));
                size_t n = frn;
                if (n > len - got)
                        return fail(l, -EBADMSG, "Reading flash: stub sent too much data");
                memcpy(out + got, fr, n);
                got += (uint32_t)n;
                uint8_t ack[4], enc[slip_encoded_max(4)];
                put32(ack, got);
                int en = slip_encode(ack, 4, enc, sizeof(enc));
                e = port_write(l->port, enc, (size_t)en, 10000);
                if (e < 0)
                        return fail(l, e, "Reading flash: %s", port_err_text(e));
        }
        e = esp_loader_read_frame(l, ESP_DEFAULT_TIMEOUT_MS, &fr, &frn); /* trailing MD5 */
        if (e <= 0 || frn != 16)
                return fail(l, -EBADMSG, "Reading flash: no digest after the data");
        return 0;
}

int esp_read_flash(struct esp_loader *l, uint32_t offset, uint32_t len, uint8_t *out)
{
        if (l->stub)
                return read_flash_stub(l, offset, len, out);
        if (!l->chip || !l->chip->rom_has_read_flash_slow)
                return fail(l, -EOPNOTSUPP, "verify: the ESP8266 ROM cannot read flash back "
                            "without the stub");
        for (uint32_t done = 0; done < len;) {
                uint32_t n = len - done > 64 ? 64 : len - done;
                uint8_t d[8];
                struct esp_response r;
                put32(d, offset + done);
                put32(d + 4, n);
                int e = esp_command(l, ESP_READ_FLASH_SLOW, d, 8, 0, 64, ESP_DEFAULT_TIMEOUT_MS, &r);
                if (e < 0)
                        return e;
                if (r.data_len < 64)
                        return fail(l, -EBADMSG, "READ_FLASH_SLOW reply too short");
                memcpy(out + done, r.data, n);
                done += n;
        }
        return 0;
}

int esp_erase_all(struct esp_loader *l)
{
        if (l->stub)
                return esp_command(l, ESP_ERASE_FLASH, NULL, 0, 0, 0, ESP_CHIP_ERASE_TIMEOUT_MS, NULL);
        if (!l->flash_size)
                return fail(l, -EINVAL, "Cannot erase: flash size unknown");
        return esp_flash_begin(l, 0, l->flash_size);
}

int esp_erase_region(struct esp_loader *l, uint32_t offset, uint32_t size)
{
        if (offset % ESP_SECTOR || size % ESP_SECTOR)
                return fail(l, -EINVAL, "Erase region 0x%x+0x%x is not 4 KiB aligned", offset, size);
        if (!l->stub)
                return esp_flash_begin(l, offset, size);
        uint8_t d[8];
        put32(d, offset);
        put32(d + 4, size);
        return esp_command(l, ESP_ERASE_REGION, d, 8, 0, 0,
                           esp_timeout_per_mb(ESP_ERASE_REGION_MS_PER_MB, size), NULL);
}

int esp_mem_begin(struct esp_loader *l, uint32_t size, uint32_t blocks, uint32_t block_size,
                  uint32_t addr)
{
        uint8_t d[20];
        size_t n = esp_begin_payload(d, size, blocks, block_size, addr, false);
        return esp_command(l, ESP_MEM_BEGIN, d, n, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
}

int esp_mem_block(struct esp_loader *l, const uint8_t *data, size_t len, uint32_t seq)
{
        return data_block(l, ESP_MEM_DATA, data, len, seq, ESP_DEFAULT_TIMEOUT_MS);
}

int esp_mem_end(struct esp_loader *l, uint32_t entry)
{
        uint8_t d[8];
        put32(d, entry == 0);
        put32(d + 4, entry);
        int e = esp_command(l, ESP_MEM_END, d, 8, 0, 0,
                            l->stub ? ESP_DEFAULT_TIMEOUT_MS : ESP_MEM_END_ROM_TIMEOUT_MS, NULL);
        if (e < 0 && !l->stub && e != -ENODEV && e != -ECANCELED)
                e = 0; /* the ROM may jump before its reply leaves the FIFO */
        return e;
}

int esp_hard_reset(struct esp_loader *l)
{
        int e = esp_reset_hard(l->port, l->usb_jtag);
        if (e < 0 && e != -ENOTSUP && e != -EINVAL)
                return fail(l, e, "Hard reset failed: %s", port_err_text(e));
        return e < 0 ? fail(l, e, "This port has no DTR/RTS lines; the board was not reset") : 0;
}

