/* ESP ROM protocol specification, byte by byte: request encoding, response parsing, reset
 * line sequences, connect and chip detection against the device model on fake_port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "engines/esp/esp_reset.h"
#include "engines/esp/esp_rom.h"
#include "engines/esp/esp_info.h"
#include "engines/esp/esp_flashcmd.h"
#include "engines/esp/esp_spi.h"
#include "esp_device_model.h"
#include "fake_port.h"

struct fx {
        struct port *p;
        struct esp_model *m;
        struct esp_loader *l;
};

/* A loader talking to a model that is already in its ROM loader, chip detected. */
static struct fx rom(const char *chip)
{
        struct fx f;
        f.p = fake_port_new();
        f.m = esp_model_new(f.p, chip, 1 << 20, 0x1440EF);
        f.m->mode = ESP_MODEL_ROM;
        f.m->status_len = strcmp(chip, "esp8266") == 0 ? 2 : 4;
        assert_int_equal(esp_loader_new(f.p, &f.l), 0);
        f.l->chip = esp_chip_by_name(chip);
        f.l->status_len = f.l->chip->rom_status_len;
        return f;
}

static void done(struct fx *f)
{
        esp_loader_free(f->l);
        esp_model_free(f->m);
        port_close(f->p);
}

/* Bytes written since the last clear, then clear. */
static const uint8_t *wire(struct fx *f, size_t *len)
{
        return fake_port_written(f->p, len);
}

/* ------------------------------------------------------------ encoding */

static void sync_is_46_bytes_on_the_wire(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_sync(f.l), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        uint8_t want[46] = { 0xC0, 0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20 };
        memset(want + 13, 0x55, 32);
        want[45] = 0xC0;
        assert_int_equal(n, 46);
        assert_memory_equal(w, want, 46);
        assert_false(f.l->sync_stub_detected);
        done(&f);
}

static void read_reg_encoding_and_value(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        uint32_t v = 0;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x0A, 0x04, 0x00, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        done(&f);
}

static void write_reg_encoding(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_write_reg(f.l, 0x3FF42000, 0x40000, 0xFFFFFFFF, 5), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x09, 0x10, 0x00, 0, 0, 0, 0,
                                 0x00, 0x20, 0xF4, 0x3F, 0x00, 0x00, 0x04, 0x00,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x00, 0x00, 0x00, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        done(&f);
}

static void spi_attach_is_8_bytes_to_rom_and_4_to_stub(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_spi_attach(f.l), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want8[] = { 0xC0, 0x00, 0x0D, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want8));
        assert_memory_equal(w, want8, sizeof(want8));
        fake_port_clear_written(f.p);
        f.m->mode = ESP_MODEL_STUB;
        f.m->status_len = 2;
        f.l->stub = true;
        f.l->status_len = 2;
        assert_int_equal(esp_spi_attach(f.l), 0);
        w = wire(&f, &n);
        const uint8_t want4[] = { 0xC0, 0x00, 0x0D, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want4));
        assert_memory_equal(w, want4, sizeof(want4));
        done(&f);
}

static void esp8266_rom_attach_is_flash_begin_0_0(void **state)
{
        (void)state;
        struct fx f = rom("esp8266");
        assert_int_equal(esp_spi_attach(f.l), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x02, 0x10, 0x00, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        assert_int_equal(f.m->op_count[0x0D], 0);
        done(&f);
}

static void esp8266_erase_size_examples(void **state)
{
        (void)state;
        assert_int_equal(esp8266_rom_erase_size(0x0, 0x1000), 0x1000);
        assert_int_equal(esp8266_rom_erase_size(0x0, 0x40000), 0x30000);
        assert_int_equal(esp8266_rom_erase_size(0x1000, 0x39C00), 0x2B000);
        assert_int_equal(esp8266_rom_erase_size(0x0, 0x0), 0x0);
}

static void flash_begin_is_16_bytes_for_esp32_rom(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->attached = true;
        assert_int_equal(esp_flash_begin(f.l, 0x10000, 0x1801), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x02, 0x10, 0x00, 0, 0, 0, 0,
                                 0x01, 0x18, 0, 0, 0x07, 0, 0, 0, 0x00, 0x04, 0, 0,
                                 0x00, 0x00, 0x01, 0x00, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        done(&f);
}

static void flash_begin_is_20_bytes_for_esp32c3_rom(void **state)
{
        (void)state;
        struct fx f = rom("esp32c3");
        f.m->attached = true;
        assert_int_equal(esp_flash_begin(f.l, 0x0, 0x400), 0);
        assert_int_equal(f.m->last_payload_len[0x02], 20);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        assert_int_equal(n, 2 + 8 + 20);
        const uint8_t tail[] = { 0, 0, 0, 0, 0xC0 };
        assert_memory_equal(w + n - 5, tail, 5);
        done(&f);
}

static void flash_begin_on_esp8266_rom_sends_the_bugged_erase_size(void **state)
{
        (void)state;
        struct fx f = rom("esp8266");
        assert_int_equal(esp_flash_begin(f.l, 0x1000, 0x39C00), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        /* erase 0x2B000, blocks 0xE7, block 0x400, offset 0x1000 */
        const uint8_t want[] = { 0xC0, 0x00, 0x02, 0x10, 0x00, 0, 0, 0, 0,
                                 0x00, 0xB0, 0x02, 0x00, 0xE7, 0, 0, 0, 0x00, 0x04, 0, 0,
                                 0x00, 0x10, 0x00, 0x00, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        done(&f);
}

static void flash_data_checksum_covers_the_data_only_and_pads_with_ff(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->attached = true;
        assert_int_equal(esp_flash_begin(f.l, 0, 0x400), 0);
        fake_port_clear_written(f.p);
        const uint8_t data[3] = { 0x01, 0x02, 0x04 };
        assert_int_equal(esp_flash_block(f.l, data, 3, 0), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        /* 0xEF ^ 1 ^ 2 ^ 4 ^ (0xFF x 1021: odd count -> ^0xFF) */
        uint8_t chk = (uint8_t)(0xEF ^ 0x01 ^ 0x02 ^ 0x04 ^ 0xFF);
        const uint8_t head[] = { 0xC0, 0x00, 0x03, 0x10, 0x04, 0, 0, 0, 0 };
        uint8_t want_head[sizeof(head)];
        memcpy(want_head, head, sizeof(head));
        want_head[5] = chk;
        assert_int_equal(n, 2 + 8 + 16 + 0x400);
        assert_memory_equal(w, want_head, sizeof(want_head));
        const uint8_t blk[] = { 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x04, 0xFF };
        assert_memory_equal(w + 9, blk, sizeof(blk));
        assert_int_equal(w[n - 2], 0xFF);
        assert_int_equal(esp_checksum(data, 3), 0xEF ^ 0x01 ^ 0x02 ^ 0x04);
        done(&f);
}

static void flash_defl_begin_rounds_the_size_for_rom_not_for_stub(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->attached = true;
        assert_int_equal(esp_flash_defl_begin(f.l, 0x1000, 1000, 0x401), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x10, 0x10, 0x00, 0, 0, 0, 0,
                                 0x00, 0x04, 0, 0, 0x02, 0, 0, 0, 0x00, 0x04, 0, 0,
                                 0x00, 0x10, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        fake_port_clear_written(f.p);
        f.m->mode = ESP_MODEL_STUB;
        f.m->status_len = 2;
        f.l->stub = true;
        f.l->status_len = 2;
        f.l->block_size = ESP_STUB_BLOCK;
        assert_int_equal(esp_flash_defl_begin(f.l, 0x1000, 1000, 0x401), 0);
        w = wire(&f, &n);
        const uint8_t want_stub[] = { 0xC0, 0x00, 0x10, 0x14, 0x00, 0, 0, 0, 0,
                                      0xE8, 0x03, 0, 0, 0x01, 0, 0, 0, 0x00, 0x40, 0, 0,
                                      0x00, 0x10, 0, 0, 0, 0, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want_stub));
        assert_memory_equal(w, want_stub, sizeof(want_stub));
        done(&f);
}

static void flash_defl_data_checksum_covers_compressed_bytes(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->attached = true;
        assert_int_equal(esp_flash_defl_begin(f.l, 0, 10, 3), 0);
        fake_port_clear_written(f.p);
        const uint8_t z[3] = { 0x78, 0xDA, 0x01 };
        esp_flash_defl_block(f.l, z, 3, 0, 10); /* the model rejects the bad stream, fine */
        size_t n;
        const uint8_t *w = wire(&f, &n);
        assert_int_equal(w[2], 0x11);
        assert_int_equal(w[3], 19);
        assert_int_equal(w[5], (uint8_t)(0xEF ^ 0x78 ^ 0xDA ^ 0x01));
        assert_int_equal(w[9], 3); /* len word: not padded */
        done(&f);
}

static void md5_reads_32_hex_chars_from_rom(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        uint8_t md5[16];
        assert_int_equal(esp_flash_md5(f.l, 0, 0x1000, md5), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x13, 0x10, 0x00, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0 };
        assert_memory_equal(w, want, sizeof(want));
        /* MD5 of 4096 x 0xFF */
        const uint8_t ff4k[16] = { 0x6a, 0xe5, 0x9e, 0x64, 0x85, 0x03, 0x77, 0xee, 0x54, 0x70, 0xc8, 0x54, 0x76, 0x15, 0x51, 0xea };
        assert_memory_equal(md5, ff4k, 16);
        done(&f);
}

static void md5_reads_16_raw_bytes_from_stub(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->mode = ESP_MODEL_STUB;
        f.m->status_len = 2;
        f.l->stub = true;
        f.l->status_len = 2;
        uint8_t md5[16];
        assert_int_equal(esp_flash_md5(f.l, 0, 0x1000, md5), 0);
        const uint8_t ff4k[16] = { 0x6a, 0xe5, 0x9e, 0x64, 0x85, 0x03, 0x77, 0xee, 0x54, 0x70, 0xc8, 0x54, 0x76, 0x15, 0x51, 0xea };
        assert_memory_equal(md5, ff4k, 16);
        done(&f);
}

static void md5_on_esp8266_rom_is_not_possible(void **state)
{
        (void)state;
        struct fx f = rom("esp8266");
        uint8_t md5[16];
        assert_int_equal(esp_flash_md5(f.l, 0, 0x1000, md5), -EOPNOTSUPP);
        assert_non_null(strstr(f.l->msg, "not possible on ESP8266 ROM without stub"));
        size_t n;
        wire(&f, &n);
        assert_int_equal(n, 0);
        done(&f);
}

static void change_baudrate_rom_sends_zero_old_baud(void **state)
{
        (void)state;
        struct fx f = rom("esp32c3");
        assert_int_equal(esp_change_baud(f.l, 460800), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x0F, 0x08, 0x00, 0, 0, 0, 0,
                                 0x00, 0x08, 0x07, 0x00, 0, 0, 0, 0, 0xC0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(w, want, sizeof(want));
        assert_int_equal(f.p->baud, 460800);
        done(&f);
}

static void change_baudrate_stub_sends_current_baud(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->mode = ESP_MODEL_STUB;
        f.m->status_len = 2;
        f.l->stub = true;
        f.l->status_len = 2;
        assert_int_equal(esp_change_baud(f.l, 921600), 0);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t want[] = { 0xC0, 0x00, 0x0F, 0x08, 0x00, 0, 0, 0, 0,
                                 0x00, 0x10, 0x0E, 0x00, 0x00, 0xC2, 0x01, 0x00, 0xC0 };
        assert_memory_equal(w, want, sizeof(want));
        done(&f);
}

static void change_baudrate_is_refused_on_esp8266_rom(void **state)
{
        (void)state;
        struct fx f = rom("esp8266");
        assert_int_equal(esp_change_baud(f.l, 460800), -EOPNOTSUPP);
        assert_int_equal(f.m->op_count[0x0F], 0);
        done(&f);
}

/* ------------------------------------------------------------ response parsing */

static void response_with_2_status_bytes(void **state)
{
        (void)state;
        const uint8_t fr[] = { 0x01, 0x0A, 0x02, 0x00, 0x01, 0xC1, 0xF0, 0xFF, 0x00, 0x00 };
        struct esp_response r;
        assert_int_equal(esp_response_parse(fr, sizeof(fr), 0, 2, &r), 0);
        assert_int_equal(r.op, 0x0A);
        assert_int_equal(r.value, 0xFFF0C101);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.data_len, 0);
}

static void response_with_4_status_bytes_and_data(void **state)
{
        (void)state;
        uint8_t fr[8 + 32 + 4] = { 0x01, 0x13, 36, 0x00, 0x07, 0x07, 0x12, 0x20 };
        memset(fr + 8, 'a', 32);
        struct esp_response r;
        assert_int_equal(esp_response_parse(fr, sizeof(fr), 32, 4, &r), 0);
        assert_int_equal(r.data_len, 32);
        assert_int_equal(r.data[0], 'a');
        assert_int_equal(r.status, 0);
        assert_int_equal(esp_response_parse(fr, sizeof(fr), ESP_RESP_DATA_AUTO, 4, &r), 0);
        assert_int_equal(r.data_len, 32);
}

static void response_failure_status_and_error(void **state)
{
        (void)state;
        const uint8_t fr[] = { 0x01, 0x03, 0x04, 0x00, 0, 0, 0, 0, 0x01, 0x08, 0x00, 0x00 };
        struct esp_response r;
        assert_int_equal(esp_response_parse(fr, sizeof(fr), 0, 4, &r), 0);
        assert_int_equal(r.status, 1);
        assert_int_equal(r.error, 8);
}

static void response_too_short_for_its_data_falls_back_to_a_failure_status(void **state)
{
        (void)state;
        const uint8_t bad[] = { 0x01, 0x14, 0x04, 0x00, 0, 0, 0, 0, 0x01, 0x05, 0x00, 0x00 };
        struct esp_response r;
        assert_int_equal(esp_response_parse(bad, sizeof(bad), 20, 4, &r), 0);
        assert_int_equal(r.status, 1);
        assert_int_equal(r.error, 5);
        const uint8_t okshort[] = { 0x01, 0x14, 0x04, 0x00, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x00 };
        assert_int_equal(esp_response_parse(okshort, sizeof(okshort), 20, 4, &r), -EBADMSG);
}

static void request_direction_is_not_a_response(void **state)
{
        (void)state;
        const uint8_t fr[] = { 0x00, 0x08, 0x02, 0x00, 0, 0, 0, 0, 0, 0 };
        struct esp_response r;
        assert_int_equal(esp_response_parse(fr, sizeof(fr), 0, 2, &r), -EBADMSG);
        assert_int_equal(esp_response_parse(fr, 7, 0, 2, &r), -EBADMSG);
}

static void sticky_value_in_replies_is_ignored(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(esp_write_reg(f.l, 0x3FF42000, 0, 0xFFFFFFFF, 0), 0);
        assert_int_equal(f.l->last_value, 0x00F01D83); /* the ROM kept the READ_REG value */
        assert_int_equal(esp_read_reg(f.l, 0x3FF40014, &v), 0);
        assert_int_equal(v, 347);
        done(&f);
}

static void unsupported_reply_x8_then_the_next_command_works(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_command(f.l, ESP_GET_SECURITY_INFO, NULL, 0, 0, 20, 3000, NULL),
                         -EOPNOTSUPP);
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        done(&f);
}

static void unsupported_reply_with_the_same_opcode_is_also_unsupported(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->unsupported_op = ESP_GET_SECURITY_INFO;
        f.l->chip = NULL;
        assert_int_equal(esp_detect_chip(f.l), 0);
        assert_string_equal(f.l->chip->name, "ESP32");
        assert_int_equal(f.l->status_len, 4);
        done(&f);
}

/* ------------------------------------------------------------ reset sequences */

static void classic_reset_line_sequence(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        uint64_t t0 = fake_port_now(p);
        assert_int_equal(esp_reset_classic(p, 50), 0);
        const uint8_t *h;
        size_t n = fake_port_line_history(p, &h);
        /* bit0 dtr, bit1 rts: (F,F) (F,T) (T,T) (T,F) (F,F) */
        const uint8_t want[] = { 0, 2, 3, 1, 0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(h, want, n);
        assert_int_equal(fake_port_now(p) - t0, 150);
        port_close(p);
}

static void classic_reset_550_waits_longer(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        assert_int_equal(esp_reset_classic(p, 550), 0);
        assert_int_equal(fake_port_now(p), 650);
        port_close(p);
}

static void unix_tight_reset_line_sequence(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        assert_int_equal(esp_reset_unix_tight(p, 50), 0);
        const uint8_t *h;
        size_t n = fake_port_line_history(p, &h);
        const uint8_t want[] = { 0, 3, 2, 1, 0, 0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(h, want, n);
        port_close(p);
}

static void usb_jtag_reset_line_sequence(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        assert_int_equal(esp_reset_usb_jtag(p), 0);
        const uint8_t *h;
        size_t n = fake_port_line_history(p, &h);
        const uint8_t want[] = { 0, 1, 3, 2, 2, 2, 0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(h, want, n);
        assert_int_equal(fake_port_now(p), 300);
        port_close(p);
}

static void hard_reset_pulses_rts_with_dtr_false(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        assert_int_equal(esp_reset_hard(p, false), 0);
        const uint8_t *h;
        size_t n = fake_port_line_history(p, &h);
        const uint8_t want[] = { 2, 0 };
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(h, want, n);
        assert_int_equal(fake_port_now(p), 100);
        port_close(p);
}

/* ------------------------------------------------------------ connect and detect */

static void connect_resets_into_the_rom_and_syncs(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_model *m = esp_model_new(p, "esp32", 1 << 20, 0x1640EF);
        struct esp_loader *l;
        esp_loader_new(p, &l);
        struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC };
        assert_int_equal(esp_connect(l, &o), 0);
        assert_int_equal(m->resets_to_rom, 1);
        assert_int_equal(m->op_count[0x08], 1);
        assert_non_null(strstr(l->boot_log, "waiting for download"));
        esp_loader_free(l);
        esp_model_free(m);
        port_close(p);
}

static void connect_retries_when_syncs_are_lost(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_model *m = esp_model_new(p, "esp8266", 1 << 20, 0x1440EF);
        m->ignore_syncs = 7; /* first attempt (5 tries) and 2 of the second are lost */
        struct esp_loader *l;
        esp_loader_new(p, &l);
        struct esp_connect_opts o = { .reset = ESP_RESET_AUTO };
        assert_int_equal(esp_connect(l, &o), 0);
        assert_int_equal(m->resets_to_rom, 2);
        assert_int_equal(m->op_count[0x08], 8);
        esp_loader_free(l);
        esp_model_free(m);
        port_close(p);
}

static void silent_port_gives_the_no_answer_message(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_loader *l;
        esp_loader_new(p, &l);
        struct esp_connect_opts o = { .reset = ESP_RESET_AUTO };
        assert_int_equal(esp_connect(l, &o), -ETIMEDOUT);
        assert_string_equal(l->msg, "No answer from the ESP ROM loader after 7 reset attempts: the "
                            "board is not in download mode (hold BOOT/IO0 while resetting) or this "
                            "is the wrong port");
        const uint8_t *h;
        /* Attempts alternate unix-tight (6 line changes) x2 and classic (5) x2: 6+6+5+5+6+6+5. */
        assert_int_equal(fake_port_line_history(p, &h), 39);
        esp_loader_free(l);
        port_close(p);
}

static void board_that_boots_normally_is_reported_as_wrong_boot_mode(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_model *m = esp_model_new(p, "esp32", 1 << 20, 0x1640EF);
        m->boot_to_app_always = true;
        struct esp_loader *l;
        esp_loader_new(p, &l);
        struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC, .attempts = 2 };
        assert_int_equal(esp_connect(l, &o), -ETIMEDOUT);
        assert_non_null(strstr(l->msg, "booted normally (boot:0x13)"));
        esp_loader_free(l);
        esp_model_free(m);
        port_close(p);
}

static void detect_identifies_each_chip_and_reads_mac_and_crystal(void **state)
{
        (void)state;
        static const struct {
                const char *chip, *name, *mac;
                unsigned xtal, status_len;
        } cases[] = {
                { "esp8266", "ESP8266", "18:fe:34:ab:cd:ef", 26, 2 },
                { "esp32", "ESP32", "24:0a:c4:12:34:56", 40, 4 },
                { "esp32c3", "ESP32-C3", "34:85:56:78:9a:bc", 40, 4 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct fx f = rom(cases[i].chip);
                f.l->chip = NULL;
                assert_int_equal(esp_detect_chip(f.l), 0);
                assert_string_equal(f.l->chip->name, cases[i].name);
                assert_int_equal(f.l->status_len, cases[i].status_len);
                assert_int_equal(esp_read_mac(f.l), 0);
                char mac[18];
                esp_format_mac(f.l->mac, mac);
                assert_string_equal(mac, cases[i].mac);
                assert_int_equal(esp_read_crystal(f.l), 0);
                assert_int_equal(f.l->xtal_mhz, cases[i].xtal);
                done(&f);
        }
}

/* The ESP32 ROM answers GET_SECURITY_INFO with 8 "invalid message" frames (4 status bytes, other
 * opcode): detection must take them as "unsupported" at once, not wait out the 3 s timeout. */
static void detect_esp32_does_not_wait_for_the_security_info_timeout(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.l->chip = NULL;
        uint64_t t0 = fake_port_now(f.p);
        assert_int_equal(esp_detect_chip(f.l), 0);
        assert_string_equal(f.l->chip->name, "ESP32");
        assert_true(fake_port_now(f.p) - t0 < 1000);
        done(&f);
}

/* The failure seen on a loaded host: only the first of the 8 "invalid message" frames answering
 * GET_SECURITY_INFO arrived in time, the other 7 crossed the flush before READ_REG. A stale frame
 * is not READ_REG's answer: the matching reply that follows it is. */
static void stale_invalid_frames_after_the_flush_are_not_the_next_commands_answer(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.l->chip = NULL;
        f.m->late_invalid = 7;
        assert_int_equal(esp_detect_chip(f.l), 0);
        assert_string_equal(f.l->chip->name, "ESP32");
        assert_int_equal(f.m->held_len, 0); /* the 7 late frames did reach the host */
        assert_string_equal(esp_model_trace(f.m), "14 0a");
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        done(&f);
}

/* Byte by byte: 7 stale invalid frames, then the READ_REG reply, in one read. */
static void read_reg_answer_after_seven_stale_invalid_frames(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->stale_invalid = 7;
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        size_t n;
        const uint8_t *w = wire(&f, &n);
        const uint8_t req[] = { 0xC0, 0x00, 0x0A, 0x04, 0x00, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40, 0xC0 };
        assert_int_equal(n, sizeof(req));
        assert_memory_equal(w, req, sizeof(req));
        done(&f);
}

/* Stale frames ahead of a command that really is unsupported: still refused, at the 8th frame of
 * its own burst, without waiting for a timeout; the next command is then answered normally. */
static void unsupported_after_stale_invalid_frames_is_still_detected_at_once(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->stale_invalid = 5;
        uint64_t t0 = fake_port_now(f.p);
        assert_int_equal(esp_command(f.l, ESP_GET_SECURITY_INFO, NULL, 0, 0, 20, 3000, NULL),
                         -EOPNOTSUPP);
        assert_string_equal(esp_loader_msg(f.l), "The loader does not support GET_SECURITY_INFO");
        assert_int_equal(fake_port_now(f.p) - t0, 0); /* no read timed out */
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        done(&f);
}

struct script {
        const uint8_t *bytes;
        size_t len;
};

/* Device hook: answer the next write with the scripted bytes (after the host's flush). */
static void answer_with_script(struct port *p, const uint8_t *data, size_t len, void *user)
{
        (void)data;
        (void)len;
        struct script *s = user;
        if (s->len)
                fake_port_feed(p, s->bytes, s->len);
}

/* Byte by byte, no model: 1 invalid-message frame then the matching reply is the reply; 8 invalid
 * frames are a refusal at once; fewer than 8 and then silence is a refusal after the timeout,
 * naming the count; an invalid-message frame with the request's opcode is a ROM rejection. */
static void invalid_frames_counted_up_to_a_whole_burst(void **state)
{
        (void)state;
        const uint8_t inv[] = { 0xC0, 0x01, 0x00, 0x04, 0x00, 0x07, 0x07, 0x12, 0x20,
                                0x01, 0x05, 0x00, 0x00, 0xC0 };
        const uint8_t ok[] = { 0xC0, 0x01, 0x0A, 0x04, 0x00, 0x83, 0x1D, 0xF0, 0x00,
                               0x00, 0x00, 0x00, 0x00, 0xC0 };
        const uint8_t same[] = { 0xC0, 0x01, 0x0A, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x01, 0x05, 0x00, 0x00, 0xC0 };
        uint8_t buf[16 * sizeof(inv)];
        struct {
                int n_inv;
                const uint8_t *tail;
                size_t tail_len;
                int want;
                uint64_t waited;
        } cases[] = {
                { 1, ok, sizeof(ok), 0, 0 },
                { 7, ok, sizeof(ok), 0, 0 },
                { 8, ok, sizeof(ok), -EOPNOTSUPP, 0 },
                { 8, NULL, 0, -EOPNOTSUPP, 0 },
                { 3, NULL, 0, -EOPNOTSUPP, 3000 },
                { 0, same, sizeof(same), -EOPNOTSUPP, 0 },
                { 0, NULL, 0, -ETIMEDOUT, 3000 },
        };
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                size_t n = 0;
                for (int i = 0; i < cases[c].n_inv; i++, n += sizeof(inv))
                        memcpy(buf + n, inv, sizeof(inv));
                if (cases[c].tail)
                        memcpy(buf + n, cases[c].tail, cases[c].tail_len);
                n += cases[c].tail_len;
                struct script sc = { buf, n };
                struct port *p = fake_port_new();
                struct esp_loader *l = NULL;
                assert_int_equal(esp_loader_new(p, &l), 0);
                fake_port_set_read_chunk(p, 5); /* frames split across reads */
                fake_port_set_device(p, answer_with_script, NULL, &sc);
                uint64_t t0 = fake_port_now(p);
                uint32_t v = 0;
                int e = esp_read_reg(l, 0x40001000, &v);
                assert_int_equal(e, cases[c].want);
                if (e == 0)
                        assert_int_equal(v, 0x00F01D83);
                if (cases[c].n_inv == 3)
                        assert_string_equal(esp_loader_msg(l), "The loader does not support READ_REG (3 of 8 "
                                            "\"invalid message\" replies, then nothing within 3000 ms)");
                assert_true(fake_port_now(p) - t0 >= cases[c].waited);
                assert_true(fake_port_now(p) - t0 <= cases[c].waited + 100);
                esp_loader_free(l);
                port_close(p);
        }
}

/* A SYNC garbled while the chip left reset gets 8 "invalid message" frames before the replies to
 * the clean SYNC: they are skipped, SYNC is never "unsupported". */
static void sync_skips_a_whole_invalid_burst(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        f.m->stale_invalid = 8;
        assert_int_equal(esp_sync(f.l), 0);
        uint32_t v;
        assert_int_equal(esp_read_reg(f.l, 0x40001000, &v), 0);
        assert_int_equal(v, 0x00F01D83);
        done(&f);
}

/* Callers wrap the previous reason: "Could not identify the chip: <l->msg>". */
static void a_failure_message_can_wrap_the_previous_one(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        esp_loader_fail(f.l, -EIO, "No reply to READ_REG within 3000 ms");
        assert_int_equal(esp_loader_fail(f.l, -EIO, "Could not identify the chip: %s", f.l->msg), -EIO);
        assert_string_equal(esp_loader_msg(f.l),
                            "Could not identify the chip: No reply to READ_REG within 3000 ms");
        done(&f);
}

static void esp32c3_revision_from_efuse_block1(void **state)
{
        (void)state;
        struct fx f = rom("esp32c3");
        assert_int_equal(esp_read_revision(f.l), 0);
        assert_int_equal(f.l->rev_major, 1);
        assert_int_equal(f.l->rev_minor, 4);
        done(&f);
}

static void esp32_revision_from_efuse_and_apb_date(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_read_revision(f.l), 0);
        assert_int_equal(f.l->rev_major, 3);
        assert_string_equal(f.l->description, "ESP32-D0WD-V3");
        done(&f);
}

static void flash_id_goes_through_the_spi_user_command_registers(void **state)
{
        (void)state;
        const char *chips[] = { "esp8266", "esp32", "esp32c3" };
        for (size_t i = 0; i < 3; i++) {
                struct fx f = rom(chips[i]);
                f.m->jedec = 0x1640EF;
                assert_int_equal(esp_spi_attach(f.l), 0);
                assert_int_equal(esp_read_flash_id(f.l), 0);
                assert_int_equal(f.l->flash_id, 0x1640EF);
                assert_int_equal(f.l->flash_size, 4u << 20);
                done(&f);
        }
}

static void flash_id_without_attach_on_esp32_rom_is_a_dead_flash(void **state)
{
        (void)state;
        struct fx f = rom("esp32");
        assert_int_equal(esp_read_flash_id(f.l), -EIO);
        assert_string_equal(f.l->msg, "The flash chip does not respond (JEDEC id ffffff)");
        done(&f);
}

static void flash_size_from_jedec(void **state)
{
        (void)state;
        assert_int_equal(esp_flash_size_from_id(0x1640EF), 4u << 20);
        assert_int_equal(esp_flash_size_from_id(0x1440C8), 1u << 20);
        assert_int_equal(esp_flash_size_from_id(0x3840EF), 16u << 20);
        assert_int_equal(esp_flash_size_from_id(0x20BA20), 64u << 20);
        assert_int_equal(esp_flash_size_from_id(0x00071F), 4u << 20); /* Adesto */
        assert_int_equal(esp_flash_size_from_id(0xFFFFFF), 0);
        assert_true(esp_flash_id_is_bad(0xFFFF3F));
        assert_true(esp_flash_id_is_bad(0));
}

static void identify_returns_facts(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_model *m = esp_model_new(p, "esp32", 4 << 20, 0x1640EF);
        struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC };
        json_t *facts = NULL;
        char msg[256];
        assert_int_equal(esp_identify(p, &o, &facts, msg, sizeof(msg)), 0);
        assert_string_equal(json_string_value(json_object_get(facts, "chip")), "ESP32");
        assert_string_equal(json_string_value(json_object_get(facts, "chip_revision")), "v3.0");
        assert_string_equal(json_string_value(json_object_get(facts, "mac")), "24:0a:c4:12:34:56");
        assert_string_equal(json_string_value(json_object_get(facts, "flash_size")), "4MB");
        assert_string_equal(json_string_value(json_object_get(facts, "flash_id")), "1640ef");
        assert_string_equal(json_string_value(json_object_get(facts, "flash_vendor")), "Winbond");
        assert_int_equal(json_integer_value(json_object_get(facts, "crystal_mhz")), 40);
        assert_true(json_array_size(json_object_get(facts, "features")) >= 2);
        /* SPI_ATTACH came before the first SPI register access; ended with a hard reset. */
        const char *t = esp_model_trace(m);
        assert_non_null(strstr(t, "08 14 0a"));
        assert_true(strstr(t, "0d") < strstr(t, "0b"));
        esp_model_poll(m);
        port_sleep_ms(p, 10);
        esp_model_poll(m);
        assert_int_equal(m->mode, ESP_MODEL_APP);
        json_decref(facts);
        esp_model_free(m);
        port_close(p);
}

static void identify_reports_a_dead_flash_chip(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        struct esp_model *m = esp_model_new(p, "esp8266", 1 << 20, 0xFFFFFF);
        json_t *facts = NULL;
        char msg[256];
        assert_int_equal(esp_identify(p, NULL, &facts, msg, sizeof(msg)), -EIO);
        assert_string_equal(msg, "The flash chip does not respond (JEDEC id ffffff)");
        assert_null(facts);
        esp_model_free(m);
        port_close(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(sync_is_46_bytes_on_the_wire),
                cmocka_unit_test(read_reg_encoding_and_value),
                cmocka_unit_test(write_reg_encoding),
                cmocka_unit_test(spi_attach_is_8_bytes_to_rom_and_4_to_stub),
                cmocka_unit_test(esp8266_rom_attach_is_flash_begin_0_0),
                cmocka_unit_test(esp8266_erase_size_examples),
                cmocka_unit_test(flash_begin_is_16_bytes_for_esp32_rom),
                cmocka_unit_test(flash_begin_is_20_bytes_for_esp32c3_rom),
                cmocka_unit_test(flash_begin_on_esp8266_rom_sends_the_bugged_erase_size),
                cmocka_unit_test(flash_data_checksum_covers_the_data_only_and_pads_with_ff),
                cmocka_unit_test(flash_defl_begin_rounds_the_size_for_rom_not_for_stub),
                cmocka_unit_test(flash_defl_data_checksum_covers_compressed_bytes),
                cmocka_unit_test(md5_reads_32_hex_chars_from_rom),
                cmocka_unit_test(md5_reads_16_raw_bytes_from_stub),
                cmocka_unit_test(md5_on_esp8266_rom_is_not_possible),
                cmocka_unit_test(change_baudrate_rom_sends_zero_old_baud),
                cmocka_unit_test(change_baudrate_stub_sends_current_baud),
                cmocka_unit_test(change_baudrate_is_refused_on_esp8266_rom),
                cmocka_unit_test(response_with_2_status_bytes),
                cmocka_unit_test(response_with_4_status_bytes_and_data),
                cmocka_unit_test(response_failure_status_and_error),
                cmocka_unit_test(response_too_short_for_its_data_falls_back_to_a_failure_status),
                cmocka_unit_test(request_direction_is_not_a_response),
                cmocka_unit_test(sticky_value_in_replies_is_ignored),
                cmocka_unit_test(unsupported_reply_x8_then_the_next_command_works),
                cmocka_unit_test(unsupported_reply_with_the_same_opcode_is_also_unsupported),
                cmocka_unit_test(classic_reset_line_sequence),
                cmocka_unit_test(classic_reset_550_waits_longer),
                cmocka_unit_test(unix_tight_reset_line_sequence),
                cmocka_unit_test(usb_jtag_reset_line_sequence),
                cmocka_unit_test(hard_reset_pulses_rts_with_dtr_false),
                cmocka_unit_test(connect_resets_into_the_rom_and_syncs),
                cmocka_unit_test(connect_retries_when_syncs_are_lost),
                cmocka_unit_test(silent_port_gives_the_no_answer_message),
                cmocka_unit_test(board_that_boots_normally_is_reported_as_wrong_boot_mode),
                cmocka_unit_test(detect_identifies_each_chip_and_reads_mac_and_crystal),
                cmocka_unit_test(detect_esp32_does_not_wait_for_the_security_info_timeout),
                cmocka_unit_test(stale_invalid_frames_after_the_flush_are_not_the_next_commands_answer),
                cmocka_unit_test(read_reg_answer_after_seven_stale_invalid_frames),
                cmocka_unit_test(unsupported_after_stale_invalid_frames_is_still_detected_at_once),
                cmocka_unit_test(invalid_frames_counted_up_to_a_whole_burst),
                cmocka_unit_test(sync_skips_a_whole_invalid_burst),
                cmocka_unit_test(esp32c3_revision_from_efuse_block1),
                cmocka_unit_test(a_failure_message_can_wrap_the_previous_one),
                cmocka_unit_test(esp32_revision_from_efuse_and_apb_date),
                cmocka_unit_test(flash_id_goes_through_the_spi_user_command_registers),
                cmocka_unit_test(flash_id_without_attach_on_esp32_rom_is_a_dead_flash),
                cmocka_unit_test(flash_size_from_jedec),
                cmocka_unit_test(identify_returns_facts),
                cmocka_unit_test(identify_reports_a_dead_flash_chip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
