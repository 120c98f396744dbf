/* ESP ROM/stub simulator for unit tests (see esp_device_model.h). */
#include "esp_device_model.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint8_t esp_checksum_model(const uint8_t *d, size_t len)
{
        uint8_t c = 0xEF;
        for (size_t i = 0; i < len; i++)
                c ^= d[i];
        return c;
}

static bool is8266(const struct esp_model *m) { return strcmp(m->chip, "esp8266") == 0; }
static bool is32(const struct esp_model *m) { return strcmp(m->chip, "esp32") == 0; }
static bool stub(const struct esp_model *m) { return m->mode == ESP_MODEL_STUB; }

static bool holding; /* send_frame() appends to m->held instead of the port */

static void send_frame(struct esp_model *m, const uint8_t *d, size_t len)
{
        uint8_t *enc = malloc(slip_encoded_max(len));
        int n = slip_encode(d, len, enc, slip_encoded_max(len));
        if (holding && m->held_len + (size_t)n <= sizeof(m->held)) {
                memcpy(m->held + m->held_len, enc, (size_t)n);
                m->held_len += (size_t)n;
        } else {
                fake_port_feed(m->port, enc, (size_t)n);
        }
        free(enc);
}

static void reply(struct esp_model *m, uint8_t op, uint32_t value, const uint8_t *data, size_t dlen,
                  uint8_t status, uint8_t err)
{
        uint8_t f[8 + 0x1000 + 4];
        size_t sl = m->status_len;
        f[0] = 1;
        f[1] = op;
        f[2] = (uint8_t)(dlen + sl);
        f[3] = (uint8_t)((dlen + sl) >> 8);
        put32(f + 4, value);
        if (dlen)
                memcpy(f + 8, data, dlen);
        memset(f + 8 + dlen, 0, sl);
        f[8 + dlen] = status;
        f[9 + dlen] = err;
        send_frame(m, f, 8 + dlen + sl);
}

static void ok(struct esp_model *m, uint8_t op)
{
        reply(m, op, stub(m) ? 0 : m->sticky, NULL, 0, 0, 0);
}

static void fail(struct esp_model *m, uint8_t op, uint8_t rom_err, uint8_t stub_code)
{
        if (stub(m))
                reply(m, op, 0, NULL, 0, stub_code, 0);
        else
                reply(m, op, m->sticky, NULL, 0, 1, rom_err);
}

static void unsupported(struct esp_model *m, uint8_t op)
{
        if (stub(m)) {
                reply(m, op, 0, NULL, 0, 0xFF, 0);
                return;
        }
        for (int i = 0; i < 8; i++) {
                holding = m->late_invalid > 0 && i >= 8 - m->late_invalid;
                reply(m, m->unsupported_op, m->sticky, NULL, 0, 1, 0x05);
        }
        holding = false;
        m->late_invalid = 0;
}

/* ------------------------------------------------------------------ registers */

static uint32_t spi_base(const struct esp_model *m)
{
        return is8266(m) ? 0x60000200 : is32(m) ? 0x3FF42000 : 0x60002000;
}

static uint32_t reg_read(struct esp_model *m, uint32_t a)
{
        uint32_t sb = spi_base(m);
        if (a == 0x40001000)
                return is8266(m) ? 0xFFF0C101 : is32(m) ? 0x00F01D83 : 0x6921506F;
        if (a >= sb && a < sb + 256)
                return m->spi_regs[(a - sb) / 4];
        if (is8266(m)) {
                switch (a) {
                case 0x3FF00050: return 0xEF000000;  /* MAC byte 5 */
                case 0x3FF00054: return 0x0000ABCD;  /* OUI 18:fe:34, bytes 3..4 */
                case 0x3FF00058: return 0;
                case 0x3FF0005C: return 0;
                case 0x60000014: return 452;         /* 26 MHz at 115200 */
                }
        } else if (is32(m)) {
                switch (a) {
                case 0x3FF5A004: return 0xC4123456;
                case 0x3FF5A008: return 0x0000240A;
                case 0x3FF5A00C: return 0x00008000; /* rev bit0 */
                case 0x3FF5A014: return 0x00100000; /* rev bit1 */
                case 0x3FF6607C: return 0x80000000; /* rev bit2 -> v3 */
                case 0x3FF40014: return 347;        /* 40 MHz */
                }
        } else {
                switch (a) {
                case 0x60008844: return 0x56789ABC;
                case 0x60008848: return 0x00003485;
                case 0x60008850: return 4u << 18;  /* BLOCK1 word 3: minor 4 */
                case 0x60008858: return 1u << 24;  /* BLOCK1 word 5: major 1 -> v1.4 */
                }
        }
        return 0;
}

static void spi_exec(struct esp_model *m)
{
        uint32_t usr2 = m->spi_regs[(is8266(m) ? 0x24 : is32(m) ? 0x24 : 0x20) / 4];
        uint32_t w0 = (is8266(m) ? 0x40 : is32(m) ? 0x80 : 0x58) / 4;
        uint8_t cmd = (uint8_t)usr2;
        if (cmd == 0x9F)
                m->spi_regs[w0] = (!is8266(m) && !m->attached && !stub(m)) ? 0xFFFFFF : m->jedec;
        m->spi_regs[0] = 0; /* SPI_CMD: done */
}

static void reg_write(struct esp_model *m, uint32_t a, uint32_t v, uint32_t mask)
{
        uint32_t sb = spi_base(m);
        if (a >= sb && a < sb + 256) {
                uint32_t *r = &m->spi_regs[(a - sb) / 4];
                *r = (v & mask) | (*r & ~mask);
                if (a == sb && (*r & (1u << 18)))
                        spi_exec(m);
        }
}

/* ------------------------------------------------------------------ flash */

static void erase(struct esp_model *m, uint64_t off, uint64_t len)
{
        if (off >= m->flash_size)
                return;
        if (off + len > m->flash_size)
                len = m->flash_size - off;
        memset(m->flash + off, 0xFF, len);
        port_sleep_ms(m->port, (unsigned)(len / 4096 * 30)); /* ~30 ms per sector */
}

static void program(struct esp_model *m, uint64_t off, const uint8_t *d, size_t len)
{
        for (size_t i = 0; i < len && off + i < m->flash_size; i++) {
                if (stub(m) && (off + i) % 4096 == 0)
                        erase(m, off + i, 4096); /* stub: lazy erase */
                m->flash[off + i] &= d[i];
        }
}

static void rom_begin_erase(struct esp_model *m, uint32_t erase_size, uint32_t off)
{
        if (stub(m) || erase_size == 0)
                return;
        if (is8266(m)) {
                /* The buggy ROM erases head + n sectors (§2.6). */
                uint32_t n = (erase_size + 4095) / 4096, start = off / 4096;
                uint32_t head = 16 - start % 16;
                if (head > n)
                        head = n;
                erase(m, (uint64_t)start * 4096, (uint64_t)(head + n) * 4096);
        } else {
                erase(m, off & ~4095u, ((uint64_t)erase_size + 4095) / 4096 * 4096);
        }
}

static void md5(const uint8_t *d, size_t len, uint8_t out[16])
{
        unsigned n = 0;
        EVP_Digest(d, len, out, &n, EVP_md5(), NULL);
}

static void boot(struct esp_model *m, bool rom)
{
        m->wr_active = false;
        m->rf_active = false;
        m->attached = false;
        slip_decoder_reset(&m->dec);
        if (rom && !m->boot_to_app_always) {
                m->mode = ESP_MODEL_ROM;
                m->status_len = is8266(m) ? 2 : 4;
                m->resets_to_rom++;
                if (is8266(m))
                        fake_port_feed_str(m->port, "\r\n ets Jan  8 2013,rst cause:2, boot mode:(1,7)\r\n\r\n");
                else
                        fake_port_feed_str(m->port, "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),"
                                           "boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
                                           "waiting for download\r\n");
        } else {
                m->mode = ESP_MODEL_APP;
                m->resets_to_app++;
                fake_port_feed_str(m->port, m->app_log ? m->app_log
                                   : "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),"
                                     "boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n");
        }
}

/* ------------------------------------------------------------------ commands */

static void defl_feed(struct esp_model *m, const uint8_t *d, size_t len)
{
        uint8_t out[4096];
        m->zs.next_in = (Bytef *)d;
        m->zs.avail_in = (uInt)len;
        do {
                m->zs.next_out = out;
                m->zs.avail_out = sizeof(out);
                int r = inflate(&m->zs, Z_NO_FLUSH);
                size_t got = sizeof(out) - m->zs.avail_out;
                program(m, (uint64_t)m->wr_off + m->zs_written, out, got);
                m->zs_written += (uint32_t)got;
                if (r != Z_OK)
                        break;
        } while (m->zs.avail_in || m->zs.avail_out == 0);
}

static void read_flash_next(struct esp_model *m)
{
        if (m->rf_sent >= m->rf_len) {
                uint8_t h[16];
                md5(m->flash + m->rf_off, m->rf_len, h);
                send_frame(m, h, 16);
                m->rf_active = false;
                return;
        }
        uint32_t n = m->rf_len - m->rf_sent < m->rf_pkt ? m->rf_len - m->rf_sent : m->rf_pkt;
        send_frame(m, m->flash + m->rf_off + m->rf_sent, n);
        m->rf_sent += n;
}

static void handle(struct esp_model *m, const uint8_t *f, size_t len)
{
        if (m->rf_active) { /* READ_FLASH acks are raw 4-byte frames */
                if (len == 4)
                        read_flash_next(m);
                return;
        }
        if (len < 8 || f[0] != 0)
                return;
        for (; m->stale_invalid > 0; m->stale_invalid--)
                reply(m, 0x00, m->sticky, NULL, 0, 1, 0x05);
        uint8_t op = f[1];
        const uint8_t *d = f + 8;
        size_t dl = len - 8;
        if (m->n_ops < sizeof(m->ops))
                m->ops[m->n_ops++] = op;
        m->op_count[op]++;
        m->last_payload_len[op] = dl;
        bool rom8266 = !stub(m) && is8266(m);
        switch (op) {
        case 0x08: /* SYNC */
                if (dl != 36 || m->ignore_syncs-- > 0)
                        return;
                if (!stub(m))
                        m->sticky = 0x20120707;
                for (int i = 0; i < 8; i++)
                        ok(m, op);
                return;
        case 0x0A: /* READ_REG */
                if (dl < 4)
                        return fail(m, op, 0x05, 0xC0);
                {
                        uint32_t v = reg_read(m, get32(d));
                        if (!stub(m))
                                m->sticky = v;
                        reply(m, op, v, NULL, 0, 0, 0);
                }
                return;
        case 0x09: /* WRITE_REG */
                if (dl == 0 || dl % 16)
                        return fail(m, op, 0x05, 0xC8);
                for (size_t i = 0; i < dl; i += 16)
                        reg_write(m, get32(d + i), get32(d + i + 4), get32(d + i + 8));
                return ok(m, op);
        case 0x0D: /* SPI_ATTACH */
                if (rom8266)
                        return unsupported(m, op);
                if (dl != (stub(m) ? 4u : 8u))
                        return fail(m, op, 0x05, 0xC0);
                m->attached = true;
                return ok(m, op);
        case 0x0B: /* SPI_SET_PARAMS */
                if (rom8266)
                        return unsupported(m, op);
                return dl == 24 ? ok(m, op) : fail(m, op, 0x05, 0xC0);
        case 0x0F: /* CHANGE_BAUDRATE */
                if (rom8266)
                        return unsupported(m, op);
                m->baud_requests++;
                m->last_baud = get32(d);
                return ok(m, op);
        case 0x14: /* GET_SECURITY_INFO */
                if (is8266(m) || is32(m))
                        return unsupported(m, op);
                {
                        uint8_t si[20] = { 0 };
                        put32(si + 12, 5); /* ESP32-C3 */
                        reply(m, op, stub(m) ? 0 : m->sticky, si, 20, 0, 0);
                }
                return;
        case 0x02: /* FLASH_BEGIN */
        case 0x10: /* FLASH_DEFL_BEGIN */
                if (op == 0x10 && rom8266)
                        return unsupported(m, op);
                if (dl != 16 && dl != 20)
                        return fail(m, op, 0x05, 0xC0);
                if (!is8266(m) && !stub(m) && !m->attached)
                        return fail(m, op, 0x06, 0xC4);
                {
                        uint32_t size = get32(d), bs = get32(d + 8), off = get32(d + 12);
                        rom_begin_erase(m, size, off);
                        m->wr_off = off;
                        m->wr_bs = bs;
                        m->wr_seq = 0;
                        m->wr_total = size;
                        m->wr_active = true;
                        m->wr_defl = op == 0x10;
                        if (m->wr_defl) {
                                if (m->zs_init)
                                        inflateEnd(&m->zs);
                                memset(&m->zs, 0, sizeof(m->zs));
                                inflateInit(&m->zs);
                                m->zs_init = true;
                                m->zs_written = 0;
                        }
                }
                return ok(m, op);
        case 0x03: /* FLASH_DATA */
        case 0x11: /* FLASH_DEFL_DATA */
        case 0x07: /* MEM_DATA */
                if (op == 0x11 && rom8266)
                        return unsupported(m, op);
                if (dl < 16 || get32(d) != dl - 16)
                        return fail(m, op, 0x05, 0xC9);
                if (f[4] != esp_checksum_model(d + 16, dl - 16))
                        return fail(m, op, 0x07, 0xC1);
                if (op == 0x07)
                        return ok(m, op);
                if (!m->wr_active || (op == 0x11) != m->wr_defl)
                        return fail(m, op, 0x05, 0xC6);
                if (m->unplug_at_block >= 0 && get32(d + 4) == (uint32_t)m->unplug_at_block) {
                        fake_port_unplug(m->port);
                        return;
                }
                if (m->fail_data_blocks > 0) {
                        m->fail_data_blocks--;
                        return fail(m, op, 0x08, 0xC4);
                }
                if (get32(d + 4) != m->wr_seq)
                        return fail(m, op, 0x01, 0xC0);
                if (op == 0x11) {
                        defl_feed(m, d + 16, dl - 16);
                } else {
                        uint32_t n = (uint32_t)(dl - 16);
                        if (stub(m) && n > m->wr_total - m->wr_seq * m->wr_bs)
                                n = m->wr_total - m->wr_seq * m->wr_bs;
                        program(m, (uint64_t)m->wr_off + (uint64_t)m->wr_seq * m->wr_bs, d + 16, n);
                }
                m->wr_seq++;
                return ok(m, op);
        case 0x04: /* FLASH_END */
        case 0x12: /* FLASH_DEFL_END */
                if (op == 0x12 && rom8266)
                        return unsupported(m, op);
                ok(m, op);
                m->wr_active = false;
                if (!stub(m))
                        m->mode = ESP_MODEL_APP; /* the ROM leaves the loader */
                return;
        case 0x13: /* SPI_FLASH_MD5 */
                if (rom8266)
                        return unsupported(m, op);
                {
                        uint32_t a = get32(d), n = get32(d + 4);
                        uint8_t h[16];
                        if ((uint64_t)a + n > m->flash_size)
                                return fail(m, op, 0x01, 0xC0);
                        md5(m->flash + a, n, h);
                        if (stub(m))
                                return reply(m, op, 0, h, 16, 0, 0);
                        char hex[33];
                        for (int i = 0; i < 16; i++)
                                snprintf(hex + 2 * i, 3, "%02x", h[i]);
                        reply(m, op, m->sticky, (const uint8_t *)hex, 32, 0, 0);
                }
                return;
        case 0x0E: /* READ_FLASH_SLOW */
                if (rom8266 || stub(m))
                        return unsupported(m, op);
                {
                        uint8_t buf[64];
                        uint32_t a = get32(d);
                        memset(buf, 0, sizeof(buf));
                        for (uint32_t i = 0; i < 64 && a + i < m->flash_size; i++)
                                buf[i] = m->flash[a + i];
                        reply(m, op, m->sticky, buf, 64, 0, 0);
                }
                return;
        case 0x05: /* MEM_BEGIN */
                return ok(m, op);
        case 0x06: /* MEM_END */
                ok(m, op);
                if (get32(d) == 0 && get32(d + 4) != 0) {
                        m->mode = ESP_MODEL_STUB;
                        m->status_len = 2;
                        send_frame(m, (const uint8_t *)"OHAI", 4);
                }
                return;
        case 0xD0: /* ERASE_FLASH */
                if (!stub(m))
                        return unsupported(m, op);
                erase(m, 0, m->flash_size);
                return ok(m, op);
        case 0xD1: /* ERASE_REGION */
                if (!stub(m))
                        return unsupported(m, op);
                if (get32(d) % 4096 || get32(d + 4) % 4096)
                        return fail(m, op, 0, 0xC0);
                erase(m, get32(d), get32(d + 4));
                return ok(m, op);
        case 0xD2: /* READ_FLASH */
                if (!stub(m))
                        return unsupported(m, op);
                ok(m, op);
                m->rf_off = get32(d);
                m->rf_len = get32(d + 4);
                m->rf_pkt = get32(d + 8);
                m->rf_sent = 0;
                m->rf_active = true;
                read_flash_next(m);
                return;
        default:
                return unsupported(m, op);
        }
}

/* ------------------------------------------------------------------ port hooks */

void esp_model_poll(struct esp_model *m)
{
        uint64_t now = fake_port_now(m->port);
        if (m->pending_boot && now >= m->release_t + 2) {
                m->pending_boot = false;
                bool io0_low = m->dtr && !m->rts;
                boot(m, io0_low);
        }
}

static void on_lines(struct port *p, bool dtr, bool rts, void *user)
{
        struct esp_model *m = user;
        (void)p;
        if (m->held_len) { /* the late part of a burst arrives now, after the host's flush */
                fake_port_feed(m->port, m->held, m->held_len);
                m->held_len = 0;
        }
        esp_model_poll(m); /* sample IO0 with the lines as they were */
        uint64_t now = fake_port_now(m->port);
        bool en_low = rts && !dtr;
        if (en_low && !m->en_low) {
                m->en_low_since = now;
                m->pending_boot = false;
        } else if (!en_low && m->en_low && now - m->en_low_since >= 1) {
                m->pending_boot = true; /* EN rises; IO0 is sampled ~2 ms later */
                m->release_t = now;
        }
        m->en_low = en_low;
        m->dtr = dtr;
        m->rts = rts;
}

static void on_write(struct port *p, const uint8_t *data, size_t len, void *user)
{
        struct esp_model *m = user;
        (void)p;
        if (m->held_len) { /* the late part of a burst arrives now, after the host's flush */
                fake_port_feed(m->port, m->held, m->held_len);
                m->held_len = 0;
        }
        esp_model_poll(m);
        size_t off = 0;
        while (off < len) {
                size_t used = 0;
                int r = slip_decoder_feed(&m->dec, data + off, len - off, &used);
                off += used;
                if (r == 1 && m->mode != ESP_MODEL_APP) {
                        uint8_t *copy = malloc(m->dec.len);
                        size_t n = m->dec.len;
                        memcpy(copy, m->dec.frame, n);
                        handle(m, copy, n);
                        free(copy);
                }
        }
}

struct esp_model *esp_model_new(struct port *p, const char *chip, size_t flash_size, uint32_t jedec)
{
        struct esp_model *m = calloc(1, sizeof(*m));
        if (!m)
                abort();
        m->port = p;
        m->chip = chip;
        m->flash_size = flash_size;
        m->flash = malloc(flash_size);
        if (!m->flash)
                abort();
        memset(m->flash, 0xFF, flash_size);
        m->jedec = jedec;
        m->unplug_at_block = -1;
        m->status_len = is8266(m) ? 2 : 4;
        m->mode = ESP_MODEL_APP;
        if (slip_decoder_init(&m->dec, 0x4000 + 64) < 0)
                abort();
        fake_port_set_device(p, on_write, on_lines, m);
        return m;
}

void esp_model_free(struct esp_model *m)
{
        if (!m)
                return;
        if (m->zs_init)
                inflateEnd(&m->zs);
        slip_decoder_fini(&m->dec);
        free(m->flash);
        free(m);
}

const char *esp_model_trace(struct esp_model *m)
{
        static char buf[8192];
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < m->n_ops && o + 4 < sizeof(buf); i++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, i ? " %02x" : "%02x", m->ops[i]);
        return buf;
}
