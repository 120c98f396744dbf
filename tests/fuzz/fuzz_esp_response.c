/* Fuzz ESP response parsing directly and through a loader whose port replies with the fuzz
 * input (SYNC, chip detection, MAC, flash id, MD5, READ_FLASH_SLOW). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_rom.h"
#include "engines/esp/esp_info.h"
#include "engines/esp/esp_flashcmd.h"
#include "engines/esp/esp_spi.h"

struct src {
        const uint8_t *d;
        size_t len, off;
};

static int src_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        struct src *s = p->priv;
        (void)timeout_ms;
        if (s->off >= s->len)
                return 0;
        size_t n = s->len - s->off;
        if (n > len)
                n = len;
        if (n > 37)
                n = 37; /* split frames across reads */
        memcpy(buf, s->d + s->off, n);
        s->off += n;
        return (int)n;
}

static int src_write(struct port *p, const void *buf, size_t len, int timeout_ms)
{
        (void)p, (void)buf, (void)timeout_ms;
        return (int)len;
}

static int src_flush(struct port *p) { (void)p; return 0; }
static int src_baud(struct port *p, unsigned b) { (void)p, (void)b; return 0; }
static void src_sleep(struct port *p, unsigned ms) { (void)p, (void)ms; }

static const struct port_ops ops = {
        .name = "fuzz", .read = src_read, .write = src_write, .set_baud = src_baud,
        .flush_input = src_flush, .sleep_ms = src_sleep,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        struct esp_response r;
        size_t wants[] = { 0, 2, 12, 16, 20, 32, 64, ESP_RESP_DATA_AUTO };
        for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
                for (unsigned sl = 2; sl <= 4; sl += 2) {
                        if (esp_response_parse(data, size, wants[i], sl, &r) == 0) {
                                if (r.data_len && (r.data < data || r.data + r.data_len > data + size))
                                        abort();
                                (void)esp_response_is_unsupported(&r, data[0]);
                        }
                }
        }

        struct src s = { .d = data + 1, .len = size - 1 };
        struct port port = { .ops = &ops, .url = (char *)"fuzz://", .baud = 115200, .priv = &s };
        atomic_init(&port.cancel, false);
        struct esp_loader *l;
        if (esp_loader_new(&port, &l) < 0)
                return 0;
        uint32_t v;
        uint8_t md5[16], buf[200];
        switch (data[0] % 4) {
        case 0:
                esp_sync(l);
                break;
        case 1:
                if (esp_detect_chip(l) == 0) {
                        esp_read_mac(l);
                        esp_read_crystal(l);
                        esp_read_revision(l);
                        esp_read_flash_id(l);
                        json_decref(esp_loader_facts(l));
                }
                break;
        case 2:
                l->chip = esp_chip_by_name(data[0] & 4 ? "esp32" : "esp8266");
                l->status_len = l->chip->rom_status_len;
                l->stub = data[0] & 8;
                esp_flash_md5(l, 0, 0x1000, md5);
                esp_read_reg(l, 0x40001000, &v);
                break;
        default:
                l->chip = esp_chip_by_name("esp32");
                l->stub = data[0] & 8;
                l->status_len = l->stub ? 2 : 4;
                esp_read_flash(l, 0, sizeof(buf), buf);
                break;
        }
        esp_loader_free(l);
        return 0;
}
