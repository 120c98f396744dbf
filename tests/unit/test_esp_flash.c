/* Flash pipeline specification against the ESP device model: ROM and stub writes, compression,
 * verification, skip-unchanged, retries, unplug, erase, bootloader patching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engines/esp/esp_flash.h"
#include "engines/esp/esp_stub.h"
#include "engines/esp/esp_info.h"
#include "esp_device_model.h"
#include "fake_port.h"

struct fx {
        struct port *p;
        struct esp_model *m;
        struct esp_loader *l;
        char log[4096];
        int progress_calls;
        int last_percent;
};

static void on_log(void *user, const char *line)
{
        struct fx *f = user;
        size_t n = strlen(f->log);
        snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
}

static void on_progress(void *user, const char *phase, int pct, uint64_t done, uint64_t total,
                        double kbps)
{
        struct fx *f = user;
        (void)phase, (void)done, (void)total, (void)kbps;
        f->progress_calls++;
        f->last_percent = pct;
}

static struct fx *setup(const char *chip, const char *stub_dir)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->p = fake_port_new();
        f->m = esp_model_new(f->p, chip, 1 << 20, 0x1440EF);
        assert_int_equal(esp_loader_new(f->p, &f->l), 0);
        struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC, .stub_dir = stub_dir };
        assert_int_equal(esp_loader_prepare(f->l, &o), 0);
        return f;
}

static void teardown_fx(struct fx *f)
{
        esp_loader_free(f->l);
        esp_model_free(f->m);
        port_close(f->p);
        free(f);
}

static struct esp_flash_opts opts(struct fx *f)
{
        struct esp_flash_opts o = { .log = on_log, .progress = on_progress, .user = f };
        return o;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
        uint8_t *b = malloc(n);
        uint32_t x = seed * 2654435761u + 1;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                b[i] = (i % 7 == 0) ? (uint8_t)(x >> 16) : (uint8_t)(i / 97);
        }
        return b;
}

/* A stub JSON the model accepts (it only needs MEM_* and a non-zero entry). */
static char *make_stub_dir(void)
{
        static char dir[64];
        snprintf(dir, sizeof(dir), "/tmp/corral-stub-XXXXXX");
        assert_non_null(mkdtemp(dir));
        const char *names[] = { "esp8266", "esp32", "esp32c3" };
        for (int i = 0; i < 3; i++) {
                char path[128];
                snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
                FILE *fp = fopen(path, "w");
                fputs("{\"entry\": 1074843652, \"text\": \"AAECAwQFBgc=\", \"text_start\": 1074843648,"
                      " \"data\": \"CAk=\", \"data_start\": 1073643520, \"bss_start\": 1073643520}", fp);
                fclose(fp);
        }
        return dir;
}

static void rm_stub_dir(const char *dir)
{
        const char *names[] = { "esp8266", "esp32", "esp32c3" };
        for (int i = 0; i < 3; i++) {
                char path[128];
                snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
                unlink(path);
        }
        rmdir(dir);
}

static void esp32_rom_writes_compressed_and_verifies_md5(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t *img = pattern(70000, 1);
        struct esp_flash_part part = { .offset = 0x10000, .data = img, .len = 70000, .name = "app.bin" };
        struct esp_flash_opts o = opts(f);
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_memory_equal(f->m->flash + 0x10000, img, 70000);
        assert_int_equal(r.bytes_written, 70000);
        assert_string_equal(r.verify, "md5");
        assert_true(r.parts[0].verified);
        assert_true(r.parts[0].compressed_len > 0 && r.parts[0].compressed_len < 70000);
        assert_true(f->m->op_count[0x11] > 0);
        assert_int_equal(f->m->op_count[0x03], 0);
        assert_int_equal(f->m->op_count[0x12], 0); /* no DEFL_END to a ROM */
        assert_int_equal(f->last_percent, 100);
        assert_non_null(strstr(f->log, "compressed) at 0x00010000"));
        free(img);
        teardown_fx(f);
}

static void esp8266_rom_writes_plain_blocks_and_cannot_verify(void **state)
{
        (void)state;
        struct fx *f = setup("esp8266", NULL);
        uint8_t *img = pattern(0x39C00, 2);
        /* Something already in flash after the image must survive the ROM's erase. */
        memset(f->m->flash + 0x3B000, 0x5A, 0x1000);
        struct esp_flash_part part = { .offset = 0x1000, .data = img, .len = 0x39C00 };
        struct esp_flash_opts o = opts(f);
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_memory_equal(f->m->flash + 0x1000, img, 0x39C00);
        assert_int_equal(f->m->flash[0x3B000], 0x5A);
        assert_string_equal(r.verify, "not_possible");
        assert_non_null(strstr(f->log, "verify: not possible on ESP8266 ROM without stub"));
        assert_int_equal(f->m->op_count[0x10], 0);
        assert_int_equal(f->m->op_count[0x13], 0);
        assert_int_equal(f->m->op_count[0x03], 0x39C00 / 0x400);
        free(img);
        teardown_fx(f);
}

static void rom_write_is_aligned_down_to_4k_with_ff(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        memset(f->m->flash + 0x8000, 0x00, 0x1000);
        uint8_t data[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
        struct esp_flash_part part = { .offset = 0x8100, .data = data, .len = 10 };
        struct esp_flash_opts o = opts(f);
        o.compress = ESP_COMPRESS_OFF;
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_int_equal(r.parts[0].offset, 0x8000);
        assert_int_equal(f->m->flash[0x80FF], 0xFF);
        assert_memory_equal(f->m->flash + 0x8100, data, 10);
        assert_int_equal(f->m->flash[0x810A], 0xFF); /* padding to 4 bytes */
        teardown_fx(f);
}

static void failing_block_is_retried_up_to_three_times(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t *img = pattern(0x800, 3);
        struct esp_flash_part part = { .offset = 0x20000, .data = img, .len = 0x800 };
        struct esp_flash_opts o = opts(f);
        o.compress = ESP_COMPRESS_OFF;
        struct esp_flash_result r;
        o.no_reset = true; /* stay in the loader for the second write */
        f->m->fail_data_blocks = 2;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_int_equal(f->m->op_count[0x03], 4);
        f->m->fail_data_blocks = 3;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), -EPROTO);
        assert_non_null(strstr(esp_loader_msg(f->l), "Writing failed at 0x20000"));
        assert_non_null(strstr(esp_loader_msg(f->l), "flash write error"));
        free(img);
        teardown_fx(f);
}

static void unplug_during_write_names_the_address(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t *img = pattern(0x2000, 4);
        struct esp_flash_part part = { .offset = 0x10000, .data = img, .len = 0x2000 };
        struct esp_flash_opts o = opts(f);
        o.compress = ESP_COMPRESS_OFF;
        struct esp_flash_result r;
        f->m->unplug_at_block = 3;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), -ENODEV);
        assert_string_equal(esp_loader_msg(f->l), "The board disappeared during writing (unplugged?) "
                            "at 0x10c00 of 0x10000..0x12000");
        free(img);
        teardown_fx(f);
}

static void second_flash_of_the_same_image_is_skipped(void **state)
{
        (void)state;
        struct fx *f = setup("esp32c3", NULL);
        uint8_t *img = pattern(20000, 5);
        struct esp_flash_part part = { .offset = 0x10000, .data = img, .len = 20000 };
        struct esp_flash_opts o = opts(f);
        o.skip_unchanged = true;
        o.no_reset = true; /* same session for the second write */
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_false(r.parts[0].skipped);
        unsigned data_before = f->m->op_count[0x11];
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_true(r.parts[0].skipped);
        assert_int_equal(r.bytes_written, 0);
        assert_int_equal(r.bytes_skipped, 20000);
        assert_int_equal(f->m->op_count[0x11], data_before);
        free(img);
        teardown_fx(f);
}

static void esp8266_rom_cannot_skip_unchanged_and_says_so(void **state)
{
        (void)state;
        struct fx *f = setup("esp8266", NULL);
        uint8_t *img = pattern(8192, 6);
        struct esp_flash_part part = { .offset = 0x20000, .data = img, .len = 8192 };
        struct esp_flash_opts o = opts(f);
        o.skip_unchanged = true;
        o.no_reset = true;
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        unsigned data_before = f->m->op_count[0x03];
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_string_equal(r.skip, "not_possible");
        assert_false(r.parts[0].skipped);
        assert_int_equal(r.bytes_written, 8192);
        assert_int_equal(f->m->op_count[0x03], data_before + 8);
        assert_non_null(strstr(f->log, "cannot be skipped: the ESP8266 ROM loader has no MD5"));
        free(img);
        teardown_fx(f);
}

static void readback_verify_on_esp32_rom_uses_read_flash_slow(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t *img = pattern(300, 6);
        struct esp_flash_part part = { .offset = 0x3000, .data = img, .len = 300 };
        struct esp_flash_opts o = opts(f);
        o.verify = ESP_VERIFY_READBACK;
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_string_equal(r.verify, "readback");
        assert_int_equal(f->m->op_count[0x0E], 5); /* 300 bytes / 64 per command */
        free(img);
        teardown_fx(f);
}

static void overlapping_parts_are_rejected_before_writing(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t a[0x2000] = { 0 }, b[16] = { 0 };
        struct esp_flash_part parts[2] = { { .offset = 0x1000, .data = a, .len = sizeof(a), .name = "a" },
                                           { .offset = 0x2800, .data = b, .len = sizeof(b), .name = "b" } };
        struct esp_flash_opts o = opts(f);
        struct esp_flash_result r;
        unsigned begins = f->m->op_count[0x02] + f->m->op_count[0x10];
        assert_int_equal(esp_flash_write(f->l, parts, 2, &o, &r), -EINVAL);
        assert_non_null(strstr(esp_loader_msg(f->l), "overlaps"));
        assert_int_equal(f->m->op_count[0x02] + f->m->op_count[0x10], begins);
        teardown_fx(f);
}

static void image_for_another_chip_is_rejected(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        /* A tiny ESP8266 image: 1 segment of 4 bytes at 0x40100000, checksum. */
        uint8_t img[32] = { 0xE9, 0x01, 0x02, 0x20, 0x00, 0x00, 0x10, 0x40,
                            0x00, 0x00, 0x10, 0x40, 0x04, 0x00, 0x00, 0x00, 1, 2, 3, 4 };
        memset(img + 20, 0, 12);
        img[31] = 0xEF ^ 1 ^ 2 ^ 3 ^ 4;
        struct esp_flash_part part = { .offset = 0x1000, .data = img, .len = sizeof(img), .name = "fw.bin" };
        struct esp_flash_opts o = opts(f);
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), -EINVAL);
        assert_string_equal(esp_loader_msg(f->l), "fw.bin: This is an ESP8266 image, but the board is an ESP32");
        teardown_fx(f);
}

static void compress_on_is_refused_by_esp8266_rom(void **state)
{
        (void)state;
        struct fx *f = setup("esp8266", NULL);
        uint8_t d[16] = { 0 };
        struct esp_flash_part part = { .offset = 0x10000, .data = d, .len = 16 };
        struct esp_flash_opts o = opts(f);
        o.compress = ESP_COMPRESS_ON;
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), -EINVAL);
        assert_non_null(strstr(esp_loader_msg(f->l), "cannot take compressed data"));
        teardown_fx(f);
}

static void stub_upload_then_stub_semantics_on_esp8266(void **state)
{
        (void)state;
        char *dir = make_stub_dir();
        struct fx *f = setup("esp8266", dir);
        assert_true(f->l->stub);
        assert_int_equal(f->l->status_len, 2);
        assert_int_equal(f->l->block_size, 0x4000);
        assert_int_equal(f->m->mode, ESP_MODEL_STUB);
        assert_int_equal(f->m->op_count[0x05], 2); /* text and data */
        uint8_t *img = pattern(50000, 7);
        struct esp_flash_part part = { .offset = 0x0, .data = img, .len = 50000 };
        struct esp_flash_opts o = opts(f);
        o.erase_all = true;
        struct esp_flash_result r;
        memset(f->m->flash + 0x80000, 0x11, 16);
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_int_equal(f->m->op_count[0xD0], 1);          /* ERASE_FLASH */
        assert_int_equal(f->m->flash[0x80000], 0xFF);
        assert_true(f->m->op_count[0x11] > 0);              /* deflate works with the stub */
        assert_int_equal(f->m->op_count[0x12], 1);          /* FLASH_DEFL_END flushes */
        assert_string_equal(r.verify, "md5");
        assert_memory_equal(f->m->flash, img, 50000);
        free(img);
        teardown_fx(f);
        rm_stub_dir(dir);
}

static void stub_readback_uses_the_read_flash_stream(void **state)
{
        (void)state;
        char *dir = make_stub_dir();
        struct fx *f = setup("esp32", dir);
        uint8_t *img = pattern(9000, 8);
        struct esp_flash_part part = { .offset = 0x10000, .data = img, .len = 9000 };
        struct esp_flash_opts o = opts(f);
        o.verify = ESP_VERIFY_READBACK;
        struct esp_flash_result r;
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        assert_string_equal(r.verify, "readback");
        assert_int_equal(f->m->op_count[0xD2], 1);
        free(img);
        teardown_fx(f);
        rm_stub_dir(dir);
}

/* pick_stub_baud: asked once the chip is known and before any MEM_BEGIN; the ROM changes the baud
 * (CHANGE_BAUDRATE, checked with READ_REG) and the stub goes up at it. Never asked on the ESP8266
 * ROM, which cannot change baud. */
struct pick_seen {
        struct fx *f;
        unsigned calls, mem_begins_before;
        const char *chip;
};

static unsigned pick_921600(void *user, const struct esp_loader *l)
{
        struct pick_seen *s = user;
        s->calls++;
        s->mem_begins_before = s->f->m->op_count[0x05];
        s->chip = l->chip ? l->chip->name : NULL;
        assert_false(l->stub);
        return 921600;
}

static void pick_stub_baud_raises_the_rom_before_the_stub_upload(void **state)
{
        (void)state;
        char *dir = make_stub_dir();
        const char *chips[] = { "esp32", "esp8266" };
        for (int i = 0; i < 2; i++) {
                struct fx *f = calloc(1, sizeof(*f));
                f->p = fake_port_new();
                f->m = esp_model_new(f->p, chips[i], 1 << 20, 0x1440EF);
                assert_int_equal(esp_loader_new(f->p, &f->l), 0);
                struct pick_seen seen = { .f = f };
                struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC, .stub_dir = dir,
                                              .pick_stub_baud = pick_921600, .pick_user = &seen };
                assert_int_equal(esp_loader_prepare(f->l, &o), 0);
                assert_true(f->l->stub);
                if (i == 0) {
                        assert_int_equal(seen.calls, 1);
                        assert_string_equal(seen.chip, "ESP32");
                        assert_int_equal(seen.mem_begins_before, 0);
                        assert_int_equal(f->m->baud_requests, 1);
                        assert_int_equal(f->l->stub_baud_tried, 921600);
                        assert_int_equal(f->p->baud, 921600);
                        assert_int_equal(f->m->op_count[0x05], 2); /* text and data, after the change */
                } else {
                        assert_int_equal(seen.calls, 0);
                        assert_int_equal(f->m->baud_requests, 0);
                        assert_int_equal(f->l->stub_baud_tried, 0);
                        assert_int_equal(f->p->baud, 115200);
                }
                teardown_fx(f);
        }
        rm_stub_dir(dir);
}

static void missing_stub_falls_back_to_the_rom(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", "/nonexistent-stub-dir");
        assert_false(f->l->stub);
        assert_non_null(strstr(f->l->note, "using the ROM loader"));
        teardown_fx(f);
}

static void flash_ends_with_a_hard_reset_into_the_app(void **state)
{
        (void)state;
        struct fx *f = setup("esp32", NULL);
        uint8_t d[64] = { 0 };
        struct esp_flash_part part = { .offset = 0x10000, .data = d, .len = sizeof(d) };
        struct esp_flash_opts o = opts(f);
        struct esp_flash_result r;
        fake_port_clear_written(f->p);
        assert_int_equal(esp_flash_write(f->l, &part, 1, &o, &r), 0);
        port_sleep_ms(f->p, 5);
        esp_model_poll(f->m);
        assert_int_equal(f->m->mode, ESP_MODEL_APP);
        assert_int_equal(f->m->resets_to_app, 1);
        teardown_fx(f);
}

static void deflate_is_zlib_level_9(void **state)
{
        (void)state;
        uint8_t in[4096];
        memset(in, 0xFF, sizeof(in));
        uint8_t *z;
        size_t zl;
        assert_int_equal(esp_deflate(in, sizeof(in), &z, &zl), 0);
        assert_int_equal(z[0], 0x78);
        assert_int_equal(z[1], 0xDA);
        assert_true(zl < 64);
        free(z);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(esp32_rom_writes_compressed_and_verifies_md5),
                cmocka_unit_test(esp8266_rom_writes_plain_blocks_and_cannot_verify),
                cmocka_unit_test(rom_write_is_aligned_down_to_4k_with_ff),
                cmocka_unit_test(failing_block_is_retried_up_to_three_times),
                cmocka_unit_test(unplug_during_write_names_the_address),
                cmocka_unit_test(second_flash_of_the_same_image_is_skipped),
                cmocka_unit_test(esp8266_rom_cannot_skip_unchanged_and_says_so),
                cmocka_unit_test(readback_verify_on_esp32_rom_uses_read_flash_slow),
                cmocka_unit_test(overlapping_parts_are_rejected_before_writing),
                cmocka_unit_test(image_for_another_chip_is_rejected),
                cmocka_unit_test(compress_on_is_refused_by_esp8266_rom),
                cmocka_unit_test(stub_upload_then_stub_semantics_on_esp8266),
                cmocka_unit_test(stub_readback_uses_the_read_flash_stream),
                cmocka_unit_test(pick_stub_baud_raises_the_rom_before_the_stub_upload),
                cmocka_unit_test(missing_stub_falls_back_to_the_rom),
                cmocka_unit_test(flash_ends_with_a_hard_reset_into_the_app),
                cmocka_unit_test(deflate_is_zlib_level_9),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
