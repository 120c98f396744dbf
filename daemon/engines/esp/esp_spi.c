/* run_spiflash_command over READ_REG/WRITE_REG and the JEDEC flash id. */
#include "engines/esp/esp_spi.h"

#include <errno.h>
#include <stdio.h>

#include "engines/try.h"

#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_ADDR (1u << 30)
#define SPI_USR_DUMMY (1u << 29)
#define SPI_USR_MISO (1u << 28)
#define SPI_USR_MOSI (1u << 27)
#define SPI_CMD_USR (1u << 18)

static int wr(struct esp_loader *l, uint32_t addr, uint32_t v)
{
        return esp_write_reg(l, addr, v, 0xFFFFFFFF, 0);
}

int esp_spi_command(struct esp_loader *l, const struct esp_spi_cmd *c, uint32_t *ret)
{
        if (!l->chip)
                return esp_loader_fail(l, -EINVAL, "SPI command before chip detection");
        if (c->data_bits > 32 || c->read_bits > 32)
                return esp_loader_fail(l, -EINVAL, "SPI command too long");
        const struct esp_spi_regs *s = &l->chip->spi;
        uint32_t base = s->base, old_usr, old_usr2, v;
        TRY(esp_read_reg(l, base + s->usr, &old_usr));
        TRY(esp_read_reg(l, base + s->usr2, &old_usr2));
        uint32_t flags = SPI_USR_COMMAND;
        if (c->read_bits)
                flags |= SPI_USR_MISO;
        if (c->data_bits)
                flags |= SPI_USR_MOSI;
        if (c->addr_len)
                flags |= SPI_USR_ADDR;
        if (c->dummy_len)
                flags |= SPI_USR_DUMMY;
        uint32_t usr1 = 0;
        if (c->dummy_len)
                usr1 |= c->dummy_len - 1;
        if (c->addr_len)
                usr1 |= (c->addr_len - 1) << 26;
        if (s->mosi_dlen) {
                if (c->data_bits)
                        TRY(wr(l, base + s->mosi_dlen, c->data_bits - 1));
                if (c->read_bits)
                        TRY(wr(l, base + s->miso_dlen, c->read_bits - 1));
                if (usr1)
                        TRY(wr(l, base + s->usr1, usr1));
        } else {
                uint32_t miso = c->read_bits ? c->read_bits - 1 : 0;
                uint32_t mosi = c->data_bits ? c->data_bits - 1 : 0;
                TRY(wr(l, base + s->usr1, usr1 | miso << 8 | mosi << 17));
        }
        TRY(wr(l, base + s->usr, flags));
        TRY(wr(l, base + s->usr2, (7u << 28) | c->cmd));
        if (c->addr_len) {
                /* ESP8266/ESP32 keep the address MSB-aligned in SPI_ADDR_REG. */
                bool msb = base == 0x60000200 || base == 0x3FF42000;
                TRY(wr(l, base + 4, msb ? c->addr << (32 - c->addr_len) : c->addr));
        }
        TRY(wr(l, base + s->w0, c->data_bits ? c->data : 0));
        TRY(wr(l, base, SPI_CMD_USR));
        int i;
        for (i = 0; i < 10; i++) {
                TRY(esp_read_reg(l, base, &v));
                if (!(v & SPI_CMD_USR))
                        break;
        }
        if (i == 10)
                return esp_loader_fail(l, -ETIMEDOUT, "SPI command 0x%02x did not complete in time",
                                       c->cmd);
        TRY(esp_read_reg(l, base + s->w0, &v));
        TRY(wr(l, base + s->usr, old_usr));
        TRY(wr(l, base + s->usr2, old_usr2));
        if (ret)
                *ret = c->read_bits >= 32 ? v : v & ((1u << c->read_bits) - 1);
        return 0;
}

int esp_read_flash_id(struct esp_loader *l)
{
        const struct esp_spi_cmd rdid = { .cmd = 0x9F, .read_bits = 24 };
        uint32_t id = 0;
        TRY(esp_spi_command(l, &rdid, &id));
        if (esp_flash_id_is_bad(id))
                return esp_loader_fail(l, -EIO, "The flash chip does not respond (JEDEC id %06x)",
                                       id);
        l->flash_id = id;
        l->flash_size = esp_flash_size_from_id(id);
        return 0;
}
