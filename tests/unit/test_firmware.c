/* Firmware library specification: metadata from images built here (ESP8266 / ESP32-family
 * headers, UF2, Intel HEX, the MicroPython marker), release file names, declared-vs-content
 * checks, content addressing, ENOSPC and limits, delete guards and known-good pins. */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "store_fixture.h"

#include "firmware/firmware.h"
#include "jobs/kinds.h"
#include "store/store_firmware.h"

#define MARKER "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266"

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* One-segment ESP image carrying payload; extended = ESP32-family header with chip_id. Returns
 * the length (checksum byte at 16n-1). buf needs 64 + plen + 16 bytes. */
static size_t build_image(uint8_t *buf, bool extended, uint16_t chip_id, const char *payload, bool bad_sum)
{
        size_t plen = strlen(payload), hdr = extended ? 24 : 8;
        memset(buf, 0, hdr + 8 + plen + 32);
        buf[0] = 0xE9;
        buf[1] = 1;
        buf[2] = 0x03;                /* dout */
        buf[3] = extended ? 0x2F : 0x40; /* ESP32: 4MB 80m; ESP8266: 4MB 40m */
        put32(buf + 4, 0x40100004);
        if (extended) {
                buf[8] = 0xEE;
                buf[12] = (uint8_t)chip_id;
                buf[13] = (uint8_t)(chip_id >> 8);
        }
        put32(buf + hdr, 0x3FFE8000);
        put32(buf + hdr + 4, (uint32_t)plen);
        memcpy(buf + hdr + 8, payload, plen);
        uint8_t c = 0xEF;
        for (size_t i = 0; i < plen; i++)
                c ^= (uint8_t)payload[i];
        size_t pos = (hdr + 8 + plen) | 15;
        buf[pos] = bad_sum ? (uint8_t)~c : c;
        return pos + 1;
}

/* UF2 file of n blocks (256 payload bytes each) with an optional family id; payload of block i
 * comes from text at i*256. */
static size_t build_uf2(uint8_t *buf, unsigned n, bool family, uint32_t family_id, const char *text)
{
        size_t tl = strlen(text);
        memset(buf, 0, n * 512);
        for (unsigned i = 0; i < n; i++) {
                uint8_t *b = buf + i * 512;
                put32(b, 0x0A324655);
                put32(b + 4, 0x9E5D5157);
                put32(b + 8, family ? 0x2000 : 0);
                put32(b + 12, 0x10000000 + i * 256);
                put32(b + 16, 256);
                put32(b + 20, i);
                put32(b + 24, n);
                put32(b + 28, family_id);
                for (size_t k = 0; k < 256 && i * 256 + k < tl; k++)
                        b[32 + k] = (uint8_t)text[i * 256 + k];
                put32(b + 508, 0x0AB16F30);
        }
        return n * 512;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
        unsigned char h[32];
        unsigned hl = 0;
        assert_int_equal(EVP_Digest(d, n, h, &hl, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static unsigned count_files(const char *dir)
{
        DIR *d = opendir(dir);
        unsigned n = 0;
        if (!d)
                return 0;
        for (struct dirent *e; (e = readdir(d));)
                n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        closedir(d);
        return n;
}

static json_t *add(struct fx *f, const void *data, size_t len, const char *filename)
{
        struct firmware_user u = { .filename = filename };
        json_t *row = NULL;
        char msg[256];
        assert_int_equal(firmware_add_buffer(f->s, data, len, &u, &row, msg, sizeof(msg)), 0);
        return row;
}

/* ---- metadata from content ---- */

static void test_esp8266_header_gives_chip_and_flash_params(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, "hello", false);
        struct firmware_info fi;
        firmware_inspect(img, n, NULL, &fi);
        assert_string_equal(fi.kind, "esp-image");
        assert_string_equal(fi.chip, "esp8266");
        assert_string_equal(fi.flash_mode, "dout");
        assert_string_equal(fi.flash_size, "4MB");
        assert_string_equal(fi.flash_freq, "40m");
}

static void test_extended_header_chip_id_0_is_esp32(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, true, 0, "hello", false);
        struct firmware_info fi;
        firmware_inspect(img, n, NULL, &fi);
        assert_string_equal(fi.chip, "esp32");
        assert_string_equal(fi.flash_freq, "80m");
}

static void test_extended_header_chip_id_5_is_esp32c3(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, true, 5, "hello", false);
        struct firmware_info fi;
        firmware_inspect(img, n, NULL, &fi);
        assert_string_equal(fi.chip, "esp32c3");
}

static void test_esp_image_with_bad_checksum_is_flagged(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, "hello", true);
        struct firmware_info fi;
        firmware_inspect(img, n, NULL, &fi);
        assert_string_equal(fi.kind, "esp-image");
        assert_false(fi.esp_checksum_ok);
        assert_string_equal(fi.chip, "");
}

static void test_micropython_marker_gives_version_date_and_board(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, MARKER, false);
        struct firmware_info fi;
        firmware_inspect(img, n, NULL, &fi);
        assert_string_equal(fi.mp_version, "1.25.0");
        assert_string_equal(fi.mp_date, "2025-04-15");
        assert_string_equal(fi.mp_board, "ESP module");
}

static void test_uf2_family_id_gives_rp2040(void **state)
{
        uint8_t buf[3 * 512];
        size_t n = build_uf2(buf, 3, true, 0xe48bff56, "x");
        struct firmware_info fi;
        firmware_inspect(buf, n, NULL, &fi);
        assert_string_equal(fi.kind, "uf2");
        assert_string_equal(fi.chip, "rp2040");
        assert_true(fi.uf2_has_family);
        assert_int_equal(fi.uf2_blocks, 3);
}

static void test_uf2_marker_split_across_blocks_is_found(void **state)
{
        char text[600];
        memset(text, 'a', 240);
        snprintf(text + 240, sizeof(text) - 240, "%s", "MicroPython v1.25.0 on 2025-04-15; Raspberry Pi Pico with RP2040");
        uint8_t buf[2 * 512];
        size_t n = build_uf2(buf, 2, true, 0xe48bff56, text);
        struct firmware_info fi;
        firmware_inspect(buf, n, NULL, &fi);
        assert_string_equal(fi.mp_version, "1.25.0");
        assert_string_equal(fi.mp_board, "Raspberry Pi Pico");
}

static void test_uf2_block_without_end_magic_is_raw(void **state)
{
        uint8_t buf[2 * 512];
        size_t n = build_uf2(buf, 2, false, 0, "x");
        put32(buf + 512 + 508, 0);
        struct firmware_info fi;
        firmware_inspect(buf, n, NULL, &fi);
        assert_string_equal(fi.kind, "raw");
}

static const char IHEX_OK[] = ":10010000214601360121470136007EFE09D2190140\r\n"
                              ":100110002146017E17C20001FF5F16002148011928\r\n"
                              ":00000001FF\r\n";

static void test_valid_intel_hex_is_ihex_without_error(void **state)
{
        struct firmware_info fi;
        firmware_inspect((const uint8_t *)IHEX_OK, strlen(IHEX_OK), NULL, &fi);
        assert_string_equal(fi.kind, "ihex");
        assert_string_equal(fi.ihex_error, "");
        assert_int_equal(fi.ihex_records, 3);
}

static void test_intel_hex_with_bad_checksum_names_the_line(void **state)
{
        static const char bad[] = ":10010000214601360121470136007EFE09D2190140\r\n"
                                  ":100110002146017E17C20001FF5F16002148011929\r\n"
                                  ":00000001FF\r\n";
        struct firmware_info fi;
        firmware_inspect((const uint8_t *)bad, strlen(bad), NULL, &fi);
        assert_string_equal(fi.kind, "ihex");
        assert_non_null(strstr(fi.ihex_error, "line 2: checksum error"));
}

static void test_intel_hex_without_eof_record_is_invalid(void **state)
{
        static const char noeof[] = ":10010000214601360121470136007EFE09D2190140\n";
        struct firmware_info fi;
        firmware_inspect((const uint8_t *)noeof, strlen(noeof), NULL, &fi);
        assert_string_equal(fi.ihex_error, "no end-of-file record");
}

static void test_other_bytes_are_raw(void **state)
{
        struct firmware_info fi;
        firmware_inspect((const uint8_t *)"hello world", 11, NULL, &fi);
        assert_string_equal(fi.kind, "raw");
        assert_string_equal(fi.chip, "");
}

/* ---- release file names ---- */

static void test_release_file_names_parse(void **state)
{
        static const struct {
                const char *name, *board, *date, *version, *chip;
        } t[] = {
                { "ESP8266_GENERIC-20250415-v1.25.0.bin", "ESP8266_GENERIC", "2025-04-15", "1.25.0", "esp8266" },
                { "ESP32_GENERIC-20250415-v1.25.0.bin", "ESP32_GENERIC", "2025-04-15", "1.25.0", "esp32" },
                { "RPI_PICO-20250415-v1.25.0.uf2", "RPI_PICO", "2025-04-15", "1.25.0", "rp2040" },
                { "ESP32_GENERIC_C3-20250415-v1.25.0.bin", "ESP32_GENERIC_C3", "2025-04-15", "1.25.0", "esp32c3" },
                { "ESP8266_GENERIC-FLASH_1M-20250415-v1.25.0.bin", "ESP8266_GENERIC-FLASH_1M", "2025-04-15",
                  "1.25.0", "esp8266" },
                { "/tmp/esp8266-20230426-v1.20.0.bin", "esp8266", "2023-04-26", "1.20.0", "esp8266" },
                { "ESP32_GENERIC-20250809-v1.26.0-preview.12.gabcdef.bin", "ESP32_GENERIC", "2025-08-09",
                  "1.26.0-preview.12.gabcdef", "esp32" },
                { "MY_BOARD-20250415-v1.25.0.hex", "MY_BOARD", "2025-04-15", "1.25.0", "" },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                char board[64], date[16], version[40], chip[16];
                assert_int_equal(firmware_parse_filename(t[i].name, board, date, version, chip), 0);
                assert_string_equal(board, t[i].board);
                assert_string_equal(date, t[i].date);
                assert_string_equal(version, t[i].version);
                assert_string_equal(chip, t[i].chip);
        }
}

static void test_names_without_release_pattern_do_not_parse(void **state)
{
        static const char *const names[] = { "firmware.bin", "ESP8266-2025-v1.bin", "x-20250415-1.25.0.bin",
                                             "-20250415-v1.25.0.bin", "" };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char board[64], date[16], version[40], chip[16];
                assert_int_equal(firmware_parse_filename(names[i], board, date, version, chip), -ENOENT);
        }
}

static void test_file_name_fills_micropython_facts_missing_from_content(void **state)
{
        struct firmware_info fi;
        firmware_inspect((const uint8_t *)"\x01\x02", 2, "RPI_PICO-20250415-v1.25.0.uf2", &fi);
        assert_string_equal(fi.mp_version, "1.25.0");
        assert_string_equal(fi.mp_board, "RPI_PICO");
}

/* ---- declared vs content ---- */

static void test_declared_chip_that_the_header_contradicts_is_refused(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, "x", false);
        struct firmware_info fi;
        char msg[256];
        firmware_inspect(img, n, NULL, &fi);
        assert_int_equal(firmware_check_declared(&fi, NULL, "esp32", msg, sizeof(msg)), -EMEDIUMTYPE);
        assert_non_null(strstr(msg, "esp8266"));
}

static void test_declared_chip_that_matches_is_accepted(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, true, 9, "x", false);
        struct firmware_info fi;
        char msg[256];
        firmware_inspect(img, n, NULL, &fi);
        assert_int_equal(firmware_check_declared(&fi, NULL, "ESP32-S3", msg, sizeof(msg)), 0);
}

static void test_hex_name_on_non_hex_content_is_refused(void **state)
{
        struct firmware_info fi;
        char msg[256];
        firmware_inspect((const uint8_t *)"hello", 5, "fw.hex", &fi);
        assert_int_equal(firmware_check_declared(&fi, "fw.hex", NULL, msg, sizeof(msg)), -EMEDIUMTYPE);
}

static void test_uf2_name_without_uf2_magic_is_refused(void **state)
{
        struct firmware_info fi;
        char msg[256];
        firmware_inspect((const uint8_t *)"hello", 5, "fw.uf2", &fi);
        assert_int_equal(firmware_check_declared(&fi, "fw.uf2", NULL, msg, sizeof(msg)), -EMEDIUMTYPE);
}

static void test_release_name_of_another_chip_is_refused(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, "x", false);
        struct firmware_info fi;
        char msg[256];
        firmware_inspect(img, n, "ESP32_GENERIC-20250415-v1.25.0.bin", &fi);
        assert_int_equal(firmware_check_declared(&fi, "ESP32_GENERIC-20250415-v1.25.0.bin", NULL, msg, sizeof(msg)),
                         -EMEDIUMTYPE);
}

static void test_esp_image_with_broken_checksum_is_refused(void **state)
{
        uint8_t img[256];
        size_t n = build_image(img, false, 0, "x", true);
        struct firmware_info fi;
        char msg[256];
        firmware_inspect(img, n, NULL, &fi);
        assert_int_equal(firmware_check_declared(&fi, "a.bin", NULL, msg, sizeof(msg)), -EMEDIUMTYPE);
}

/* ---- content addressing ---- */

static void test_file_is_stored_under_its_sha256(void **state)
{
        struct fx *f = *state;
        uint8_t img[256];
        size_t n = build_image(img, false, 0, MARKER, false);
        char sha[65], path[256];
        sha256_hex(img, n, sha);
        json_t *row = add(f, img, n, "ESP8266_GENERIC-20250415-v1.25.0.bin");
        assert_string_equal(str(row, "id"), sha);
        snprintf(path, sizeof(path), "%s/firmware/%s", f->dir, sha);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        uint8_t back[256];
        assert_int_equal(fread(back, 1, sizeof(back), fp), n);
        fclose(fp);
        assert_memory_equal(back, img, n);
        json_decref(row);
}

static void test_same_bytes_twice_make_one_row(void **state)
{
        struct fx *f = *state;
        json_t *a = add(f, "same bytes", 10, NULL), *b = NULL, *list = NULL;
        struct firmware_user u = { .name = "again" };
        char msg[128];
        assert_int_equal(firmware_add_buffer(f->s, "same bytes", 10, &u, &b, msg, sizeof(msg)), 0);
        assert_int_equal(store_firmware_list(f->s, NULL, NULL, NULL, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(str(b, "name"), str(a, "name"));
        json_decref(a), json_decref(b), json_decref(list);
}

static void test_no_temp_file_is_left_after_adding(void **state)
{
        struct fx *f = *state;
        char dir[256];
        json_decref(add(f, "abc", 3, NULL));
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        assert_int_equal(count_files(dir), 1);
}

static void test_row_records_size_kind_and_micropython(void **state)
{
        struct fx *f = *state;
        uint8_t img[256];
        size_t n = build_image(img, false, 0, MARKER, false);
        json_t *row = add(f, img, n, NULL);
        assert_int_equal(json_integer_value(json_object_get(row, "size")), n);
        assert_string_equal(str(row, "kind"), "esp-image");
        assert_string_equal(str(json_object_get(row, "micropython"), "version"), "1.25.0");
        json_decref(row);
}

static void test_list_filters_by_chip_and_version(void **state)
{
        struct fx *f = *state;
        uint8_t a[256], b[256];
        size_t na = build_image(a, false, 0, MARKER, false);
        size_t nb = build_image(b, true, 0, "MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32", false);
        json_decref(add(f, a, na, NULL));
        json_decref(add(f, b, nb, NULL));
        json_t *l = NULL;
        assert_int_equal(store_firmware_list(f->s, "esp32", NULL, NULL, &l), 0);
        assert_int_equal(json_array_size(l), 1);
        json_decref(l);
        assert_int_equal(store_firmware_list(f->s, NULL, NULL, "v1.25.0", &l), 0);
        assert_int_equal(json_array_size(l), 1);
        assert_string_equal(str(json_array_get(l, 0), "chip"), "esp8266");
        json_decref(l);
}

static void test_resolve_gives_the_chip_boot_offset(void **state)
{
        struct fx *f = *state;
        uint8_t img[256];
        size_t n = build_image(img, true, 0, "x", false);
        json_t *row = add(f, img, n, NULL);
        char path[512];
        uint32_t off = 0;
        assert_int_equal(firmware_resolve(f->s, str(row, "id"), path, sizeof(path), &off), 0);
        assert_int_equal(off, 0x1000);
        json_decref(row);
}

/* With SQLite the library is this host's files only: nothing goes into the store, a file gone
 * from the library is -ENOENT (nothing to fetch), and the farm's errors have their own words. */
static void test_sqlite_library_keeps_bytes_only_as_files(void **state)
{
        struct fx *f = *state;
        uint8_t img[256];
        size_t n = build_image(img, true, 0, "local", false);
        json_t *row = add(f, img, n, NULL);
        char path[512];
        assert_int_equal(firmware_path(f->s, str(row, "id"), path, sizeof(path)), 0);
        assert_int_equal(firmware_blob_publish(f->s, str(row, "id"), path, n), 0);
        assert_int_equal(firmware_blob_backfill(f->s), 0);
        assert_int_equal(firmware_blob_fetch(f->s, str(row, "id"), n, path), -ENODATA);
        assert_int_equal(firmware_available(f->s, str(row, "id")), 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(firmware_path(f->s, str(row, "id"), path, sizeof(path)), -ENOENT);
        assert_int_equal(firmware_available(f->s, str(row, "id")), -ENOENT);
        assert_int_equal(firmware_available(f->s, "nope"), -EINVAL);
        assert_string_equal(firmware_strerror(-ENOENT), "is not (or no longer) in the firmware library");
        assert_non_null(strstr(firmware_strerror(-EBADMSG), "corrupt copy in the store"));
        assert_non_null(strstr(firmware_strerror(-ENODATA), "none in the store: upload it again"));
        json_decref(row);
}

/* ---- failures ---- */

static void test_disk_full_during_upload_is_enospc_and_leaves_no_file(void **state)
{
        struct fx *f = *state;
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        struct firmware_upload *u = NULL;
        assert_int_equal(firmware_upload_begin(dir, 1 << 20, &u), 0);
        assert_int_equal(firmware_upload_write(u, "first", 5), 0);
        firmware_upload_test_fail(u, ENOSPC);
        assert_int_equal(firmware_upload_write(u, "second", 6), -ENOSPC);
        const char *msg = NULL;
        assert_int_equal(firmware_upload_error(u, &msg), -ENOSPC);
        assert_non_null(strstr(msg, "full"));
        assert_int_equal(count_files(dir), 0);
        firmware_upload_free(u);
}

static void test_writes_after_an_error_keep_failing(void **state)
{
        struct fx *f = *state;
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        struct firmware_upload *u = NULL;
        assert_int_equal(firmware_upload_begin(dir, 1 << 20, &u), 0);
        firmware_upload_test_fail(u, ENOSPC);
        assert_int_equal(firmware_upload_write(u, "a", 1), -ENOSPC);
        assert_int_equal(firmware_upload_write(u, "b", 1), -ENOSPC);
        firmware_upload_free(u);
}

static void test_upload_over_the_limit_is_efbig_and_leaves_no_file(void **state)
{
        struct fx *f = *state;
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        struct firmware_upload *u = NULL;
        assert_int_equal(firmware_upload_begin(dir, 8, &u), 0);
        assert_int_equal(firmware_upload_write(u, "12345", 5), 0);
        assert_int_equal(firmware_upload_write(u, "6789", 4), -EFBIG);
        assert_int_equal(count_files(dir), 0);
        firmware_upload_free(u);
}

static void test_abandoned_upload_leaves_no_file(void **state)
{
        struct fx *f = *state;
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        struct firmware_upload *u = NULL;
        assert_int_equal(firmware_upload_begin(dir, 100, &u), 0);
        assert_int_equal(firmware_upload_write(u, "partial", 7), 0);
        firmware_upload_free(u);
        assert_int_equal(count_files(dir), 0);
}

static void test_disk_full_while_recording_keeps_neither_row_nor_file(void **state)
{
        struct fx *f = *state;
        char dir[256], msg[256];
        json_t *row = NULL, *list = NULL;
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        store_test_inject_error(f->s, ENOSPC);
        assert_int_equal(firmware_add_buffer(f->s, "bytes", 5, NULL, &row, msg, sizeof(msg)), -ENOSPC);
        assert_int_equal(store_firmware_list(f->s, NULL, NULL, NULL, &list), 0);
        assert_int_equal(json_array_size(list), 0);
        assert_int_equal(count_files(dir), 0);
        json_decref(list);
}

static void test_empty_upload_is_enodata(void **state)
{
        struct fx *f = *state;
        char dir[256], sha[65], msg[128];
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        struct firmware_upload *u = NULL;
        struct firmware_info fi;
        assert_int_equal(firmware_upload_begin(dir, 100, &u), 0);
        assert_int_equal(firmware_upload_finish(u, NULL, &fi, sha, msg, sizeof(msg)), -ENODATA);
        firmware_upload_free(u);
}

/* ---- delete and pins ---- */

static void test_delete_removes_row_and_file(void **state)
{
        struct fx *f = *state;
        char dir[256], msg[128];
        json_t *row = add(f, "to delete", 9, NULL), *back = NULL;
        assert_int_equal(firmware_delete(f->s, str(row, "id"), NULL, msg, sizeof(msg)), 0);
        assert_int_equal(store_firmware_get(f->s, str(row, "id"), &back), -ENOENT);
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir);
        assert_int_equal(count_files(dir), 0);
        json_decref(row);
}

static void test_delete_is_refused_while_a_queued_job_references_it(void **state)
{
        struct fx *f = *state;
        char msg[128];
        int64_t job = 0, using = 0;
        json_t *row = add(f, "in use", 6, NULL);
        add_board(f, "b1");
        json_t *params = json_pack("{s:s}", "firmware", str(row, "id"));
        assert_int_equal(store_job_create(f->s, "b1", "flash", params, 60, &job), 0);
        assert_int_equal(firmware_delete(f->s, str(row, "id"), &using, msg, sizeof(msg)), -EBUSY);
        assert_int_equal(using, job);
        json_decref(params), json_decref(row);
}

static void test_delete_is_allowed_once_the_job_finished(void **state)
{
        struct fx *f = *state;
        char msg[128];
        int64_t job = 0;
        json_t *row = add(f, "was in use", 10, NULL);
        add_board(f, "b1");
        json_t *params = json_pack("{s:s}", "firmware", str(row, "id"));
        assert_int_equal(store_job_create(f->s, "b1", "flash", params, 60, &job), 0);
        assert_int_equal(store_job_finish(f->s, job, "succeeded", NULL, NULL, NULL), 0);
        assert_int_equal(firmware_delete(f->s, str(row, "id"), NULL, msg, sizeof(msg)), 0);
        json_decref(params), json_decref(row);
}

static void test_delete_is_refused_while_pinned(void **state)
{
        struct fx *f = *state;
        char msg[128];
        json_t *row = add(f, "pinned", 6, NULL);
        assert_int_equal(firmware_pin_known_good(f->s, "esp8266", str(row, "id")), 0);
        assert_int_equal(firmware_delete(f->s, str(row, "id"), NULL, msg, sizeof(msg)), -EADDRINUSE);
        assert_non_null(strstr(msg, "esp8266"));
        json_decref(row);
}

static void test_pinned_firmware_is_the_known_good_of_its_family(void **state)
{
        struct fx *f = *state;
        json_t *row = add(f, "good one", 8, NULL);
        char id[65], path[512], want[512];
        assert_int_equal(firmware_pin_known_good(f->s, "esp32", str(row, "id")), 0);
        assert_int_equal(firmware_known_good(f->s, "esp32", id, path, sizeof(path)), 0);
        assert_string_equal(id, str(row, "id"));
        snprintf(want, sizeof(want), "%s/firmware/%s", f->dir, id);
        assert_string_equal(path, want);
        json_decref(row);
}

static void test_a_new_pin_replaces_the_old_one(void **state)
{
        struct fx *f = *state;
        json_t *a = add(f, "old", 3, NULL), *b = add(f, "new", 3, NULL);
        char id[65];
        assert_int_equal(firmware_pin_known_good(f->s, "esp32", str(a, "id")), 0);
        assert_int_equal(firmware_pin_known_good(f->s, "esp32", str(b, "id")), 0);
        assert_int_equal(firmware_known_good(f->s, "esp32", id, NULL, 0), 0);
        assert_string_equal(id, str(b, "id"));
        json_decref(a), json_decref(b);
}

static void test_family_without_pin_has_no_known_good(void **state)
{
        struct fx *f = *state;
        char id[65];
        assert_int_equal(firmware_known_good(f->s, "esp8266", id, NULL, 0), -ENOENT);
}

static void test_pinning_an_unknown_id_is_enoent(void **state)
{
        struct fx *f = *state;
        char id[65];
        memset(id, 'a', 64);
        id[64] = '\0';
        assert_int_equal(firmware_pin_known_good(f->s, "esp8266", id), -ENOENT);
}

static void test_pin_rejects_bad_family_names(void **state)
{
        struct fx *f = *state;
        json_t *row = add(f, "x", 1, NULL);
        assert_int_equal(firmware_pin_known_good(f->s, "ESP 8266", str(row, "id")), -EINVAL);
        json_decref(row);
}

static void test_row_lists_the_families_it_is_pinned_for(void **state)
{
        struct fx *f = *state;
        json_t *row = add(f, "y", 1, NULL), *back = NULL;
        assert_int_equal(firmware_pin_known_good(f->s, "esp32", str(row, "id")), 0);
        assert_int_equal(store_firmware_get(f->s, str(row, "id"), &back), 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(back, "known_good_for"), 0)), "esp32");
        json_decref(row), json_decref(back);
}

static void test_firmware_ids_are_64_lowercase_hex(void **state)
{
        char id[66];
        memset(id, 'a', 64);
        id[64] = '\0';
        assert_true(firmware_id_valid(id));
        id[3] = 'A';
        assert_false(firmware_id_valid(id));
        id[3] = 'a';
        id[64] = 'a', id[65] = '\0';
        assert_false(firmware_id_valid(id));
        assert_false(firmware_id_valid("../etc/passwd"));
}

/* ---- the flash job's "firmware" parameter ---- */

static int flash_check(const char *json, struct store *st, char *msg, size_t size)
{
        json_t *p = json_loads(json, 0, NULL);
        assert_non_null(p);
        int r = job_kind_flash.check(p, msg, size);
        if (r == 0 && st)
                r = job_kind_flash.check_store(p, st, msg, size);
        json_decref(p);
        return r;
}

static void test_flash_job_refuses_a_malformed_firmware_id(void **state)
{
        char msg[256];
        assert_int_equal(flash_check("{\"firmware\": \"abc\"}", NULL, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "firmware id"));
}

static void test_flash_job_refuses_firmware_together_with_parts(void **state)
{
        char msg[256], json[256];
        snprintf(json, sizeof(json), "{\"firmware\": \"%064d\", \"parts\": []}", 0);
        assert_int_equal(flash_check(json, NULL, msg, sizeof(msg)), -EINVAL);
}

static void test_flash_job_with_unknown_firmware_id_is_unprocessable(void **state)
{
        struct fx *f = *state;
        char msg[256], json[256];
        snprintf(json, sizeof(json), "{\"firmware\": \"%064d\"}", 0);
        assert_int_equal(flash_check(json, f->s, msg, sizeof(msg)), -EBADMSG);
        assert_non_null(strstr(msg, "unknown firmware id"));
}

static void test_flash_job_with_a_stored_firmware_id_passes_the_checks(void **state)
{
        struct fx *f = *state;
        char msg[256], json[256];
        json_t *row = add(f, "flash me", 8, NULL);
        snprintf(json, sizeof(json), "{\"firmware\": \"%s\"}", str(row, "id"));
        assert_int_equal(flash_check(json, f->s, msg, sizeof(msg)), 0);
        json_decref(row);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_esp8266_header_gives_chip_and_flash_params),
                cmocka_unit_test(test_extended_header_chip_id_0_is_esp32),
                cmocka_unit_test(test_extended_header_chip_id_5_is_esp32c3),
                cmocka_unit_test(test_esp_image_with_bad_checksum_is_flagged),
                cmocka_unit_test(test_micropython_marker_gives_version_date_and_board),
                cmocka_unit_test(test_uf2_family_id_gives_rp2040),
                cmocka_unit_test(test_uf2_marker_split_across_blocks_is_found),
                cmocka_unit_test(test_uf2_block_without_end_magic_is_raw),
                cmocka_unit_test(test_valid_intel_hex_is_ihex_without_error),
                cmocka_unit_test(test_intel_hex_with_bad_checksum_names_the_line),
                cmocka_unit_test(test_intel_hex_without_eof_record_is_invalid),
                cmocka_unit_test(test_other_bytes_are_raw),
                cmocka_unit_test(test_release_file_names_parse),
                cmocka_unit_test(test_names_without_release_pattern_do_not_parse),
                cmocka_unit_test(test_file_name_fills_micropython_facts_missing_from_content),
                cmocka_unit_test(test_declared_chip_that_the_header_contradicts_is_refused),
                cmocka_unit_test(test_declared_chip_that_matches_is_accepted),
                cmocka_unit_test(test_hex_name_on_non_hex_content_is_refused),
                cmocka_unit_test(test_uf2_name_without_uf2_magic_is_refused),
                cmocka_unit_test(test_release_name_of_another_chip_is_refused),
                cmocka_unit_test(test_esp_image_with_broken_checksum_is_refused),
                T(test_file_is_stored_under_its_sha256),
                T(test_same_bytes_twice_make_one_row),
                T(test_no_temp_file_is_left_after_adding),
                T(test_row_records_size_kind_and_micropython),
                T(test_list_filters_by_chip_and_version),
                T(test_resolve_gives_the_chip_boot_offset),
                T(test_sqlite_library_keeps_bytes_only_as_files),
                T(test_disk_full_during_upload_is_enospc_and_leaves_no_file),
                T(test_writes_after_an_error_keep_failing),
                T(test_upload_over_the_limit_is_efbig_and_leaves_no_file),
                T(test_abandoned_upload_leaves_no_file),
                T(test_disk_full_while_recording_keeps_neither_row_nor_file),
                T(test_empty_upload_is_enodata),
                T(test_delete_removes_row_and_file),
                T(test_delete_is_refused_while_a_queued_job_references_it),
                T(test_delete_is_allowed_once_the_job_finished),
                T(test_delete_is_refused_while_pinned),
                T(test_pinned_firmware_is_the_known_good_of_its_family),
                T(test_a_new_pin_replaces_the_old_one),
                T(test_family_without_pin_has_no_known_good),
                T(test_pinning_an_unknown_id_is_enoent),
                T(test_pin_rejects_bad_family_names),
                T(test_row_lists_the_families_it_is_pinned_for),
                cmocka_unit_test(test_firmware_ids_are_64_lowercase_hex),
                cmocka_unit_test(test_flash_job_refuses_a_malformed_firmware_id),
                cmocka_unit_test(test_flash_job_refuses_firmware_together_with_parts),
                T(test_flash_job_with_unknown_firmware_id_is_unprocessable),
                T(test_flash_job_with_a_stored_firmware_id_passes_the_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
