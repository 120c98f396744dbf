/* Boot-log classifier specification, driven by real boot logs (ESP8266 and ESP32 family, in
 * bootlog_logs.h) copied byte for byte from the public traces cited next to each one (esp-rom.md
 * §6 and GitHub issues). Pasted logs keep the reporter's "<\r><\n>" / "<CR><LF>" text as posted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bootlog_logs.h"
#include "engines/esp/bootlog.h"

static void run(enum bootlog_chip chip, const char *rom, unsigned rom_baud, const char *fw, unsigned fw_baud,
                struct bootlog_result *r)
{
        struct bootlog_capture c1 = { (const uint8_t *)rom, rom ? strlen(rom) : 0, rom_baud };
        struct bootlog_capture c2 = { (const uint8_t *)fw, fw ? strlen(fw) : 0, fw_baud };
        bootlog_classify(chip, rom ? &c1 : NULL, fw ? &c2 : NULL, r);
}

/* One capture at the ROM's own baud. */
static void one(enum bootlog_chip chip, const char *log, struct bootlog_result *r)
{
        run(chip, log, bootlog_rom_baud(chip), NULL, 0, r);
}

static bool has_evidence(const struct bootlog_result *r, const char *needle)
{
        for (size_t i = 0; i < r->n_evidence; i++)
                if (strstr(r->evidence[i], needle))
                        return true;
        return false;
}

/* ===================== ESP8266 ===================== */

static void test_esp8266_csum_err_after_load_lines_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_8240, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_true(has_evidence(&r, "csum err"));
}

static void test_esp8266_csum_err_of_a_short_image_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_8890, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
}

static void test_esp8266_pasted_log_with_literal_crlf_markers_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_435, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
}

static void test_esp8266_nonos_sdk_csum_err_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_NONOS_304, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
}

static void test_esp8266_banner_then_ets_main_without_loads_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_2829_ERASED, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_true(has_evidence(&r, "ets_main.c"));
}

static void test_esp8266_boot_mode_1_is_download_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_9016, &r);
        assert_int_equal(r.cls, BOOTLOG_DOWNLOAD_MODE);
        assert_int_equal(r.boot_mode, 1);
        assert_int_equal(r.boot_mode_sub, 7);
}

static void test_esp8266_watchdog_reset_in_download_strapping_is_download_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_2829_DL, &r);
        assert_int_equal(r.cls, BOOTLOG_DOWNLOAD_MODE);
        assert_int_equal(r.reset_cause, 4);
}

static void test_esp8266_repeated_wdt_resets_are_a_boot_loop(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_9122, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOT_LOOP);
        assert_int_equal(r.resets, 2);
}

static void test_esp8266_boot_loop_reports_rst_cause_and_boot_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_9122, &r);
        assert_int_equal(r.reset_cause, 4);
        assert_int_equal(r.boot_mode, 3);
        assert_int_equal(r.boot_mode_sub, 7);
        assert_non_null(strstr(r.summary, "rst cause 4, boot mode (3,7)"));
}

static void test_esp8266_rom_handing_over_to_a_non_micropython_app_is_unknown(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_MORSE_2, &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_true(has_evidence(&r, "rst cause:1, boot mode:(3,7)"));
}

static void test_esp8266_banner_after_garbage_at_115200_is_booted(void **state)
{
        struct bootlog_result r;
        run(BOOTLOG_ESP8266, NULL, 0, E8266_MP_1908, 115200, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOTED);
        assert_string_equal(r.mp_version, "1.6-214-ge5c39a3");
}

static void test_esp8266_garbage_before_banner_says_rom_unreadable(void **state)
{
        struct bootlog_result r;
        run(BOOTLOG_ESP8266, NULL, 0, E8266_MP_1908, 115200, &r);
        assert_true(r.rom_unreadable);
        assert_non_null(strstr(r.summary, "ROM output was unreadable at 115200"));
}

static void test_esp8266_banner_gives_board_and_mcu(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_MP_1914, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOTED);
        assert_string_equal(r.mp_board, "ESP module");
        assert_string_equal(r.mp_mcu, "ESP8266");
        assert_string_equal(r.mp_date, "2016-03-20");
}

static void test_esp8266_banner_then_fatal_exception_and_reset_is_a_boot_loop(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_MP_1957, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOT_LOOP);
        assert_true(has_evidence(&r, "Fatal exception"));
}

static void test_esp8266_one_reset_after_the_banner_is_a_boot_loop(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_MP_2864, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOT_LOOP);
        assert_int_equal(r.resets, 1);
}

static void test_esp8266_documented_normal_rom_boot_alone_is_unknown(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, E8266_ROM_DOC, &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_int_equal(r.reset_cause, 2);
}

static void test_esp8266_rom_at_74880_and_banner_at_115200_is_booted(void **state)
{
        /* The banner line follows the format of esp-rom.md §6.3 (pyexec.c), for v1.25.0. */
        static const char fw[] = "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266\r\n"
                                 "Type \"help()\" for more information.\r\n>>> ";
        struct bootlog_result r;
        run(BOOTLOG_ESP8266, E8266_ROM_DOC, 74880, fw, 115200, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOTED);
        assert_string_equal(r.mp_version, "1.25.0");
        assert_true(r.prompt);
}

static void test_esp8266_rom_garbage_at_115200_alone_is_unreadable_unknown(void **state)
{
        /* The garbage lines of micropython#1908, as a ROM capture taken at the wrong baud. */
        static const char rom[] = "rll\xe2\x96\x92\xe2\x96\x92|\xe2\x96\x92l\xe2\x96\x92|\n"
                                  "b|\xe2\x96\x92\xe2\x96\x92\xe2\x96\x92\xe2\x96\x92r\xe2\x96\x92" "b\xe2\x96\x92\n";
        struct bootlog_result r;
        run(BOOTLOG_ESP8266, rom, 115200, "", 115200, &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_true(r.rom_unreadable);
        assert_int_equal(r.rom_unreadable_baud, 115200);
}

/* ===================== ESP32 family ===================== */

static void test_esp32_documented_download_boot_is_download_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_DOC_DOWNLOAD, &r);
        assert_int_equal(r.cls, BOOTLOG_DOWNLOAD_MODE);
        assert_string_equal(r.boot_reason, "DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)");
}

static void test_esp32_flash_read_err_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_DOC_BLANK, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_true(has_evidence(&r, "flash read err, 1000"));
}

static void test_esp32_rom_reset_line_gives_cause_and_strap_names(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_DOC_BLANK, &r);
        assert_int_equal(r.reset_cause, 0x10);
        assert_string_equal(r.reset_reason, "RTCWDT_RTC_RESET");
        assert_int_equal(r.boot_mode, 0x13);
        assert_string_equal(r.boot_reason, "SPI_FAST_FLASH_BOOT");
}

static void test_esp32_rom_handing_over_without_micropython_is_unknown(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_DOC_NORMAL, &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_true(has_evidence(&r, "ets Jul 29 2019 12:21:46"));
}

static void test_esp32_c6_download_rom_banner_is_download_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_C6_DOWNLOAD, &r);
        assert_int_equal(r.cls, BOOTLOG_DOWNLOAD_MODE);
        assert_string_equal(r.reset_reason, "POWERON");
}

static void test_esp32_c3_invalid_header_ffffffff_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_C3_BLANK, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_int_equal(r.reset_cause, 7);
}

static void test_esp32_blank_flash_loop_counts_boot_cycles(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_ESPHOME_632, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_int_equal(r.resets, 6);
}

static void test_esp32_poweron_flash_read_err_loop_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_IDF_1778, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_int_equal(r.resets, 9);
}

static void test_esp32_eco3_invalid_header_ffffffff_loop_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_A1S_49, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_true(has_evidence(&r, "invalid header: 0xffffffff"));
}

static void test_esp32_mistyped_Oxffffffff_header_is_still_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_IDF_13302, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
        assert_int_equal(r.boot_mode, -1);
}

static void test_esp32_invalid_header_other_than_ffffffff_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_IDF_10948, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_true(has_evidence(&r, "invalid header: 0x88a0f530"));
}

static void test_esp32_bad_header_loop_with_time_stamps_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_TEAMS_16, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_int_equal(r.resets, 2);
}

static void test_esp32_c3_checksum_failure_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_C3_TEMPLATE_27, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_true(has_evidence(&r, "Checksum failure. Calculated 0x18 stored 0x00"));
}

static void test_esp32_s3_checksum_failure_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_S3_IDF_10692, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
}

static void test_esp32_all_ones_segment_header_is_bad_image(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_MP_ESP32_9, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_true(has_evidence(&r, "load:0xffffffff,len:-1"));
}

static void test_esp32_banner_after_the_last_reset_is_booted(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_JAMA_11, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOTED);
        assert_string_equal(r.mp_version, "1.19.1");
        assert_string_equal(r.mp_board, "ESP32 module (spiram)");
}

static void test_esp32_booted_evidence_has_reset_and_banner(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_JAMA_11, &r);
        assert_true(has_evidence(&r, "rst:0xc (SW_CPU_RESET)"));
        assert_true(has_evidence(&r, "MicroPython v1.19.1 on 2022-06-18"));
}

static void test_esp32_eco3_download_boot_with_time_stamps_is_download_mode(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_ARDUINO_577, &r);
        assert_int_equal(r.cls, BOOTLOG_DOWNLOAD_MODE);
        assert_true(has_evidence(&r, "waiting for download"));
}

static void test_esp32_transient_flash_read_err_then_bootloader_is_not_blank(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_IDF_4589, &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_int_equal(r.resets, 2);
}

static void test_esp32_s3_crash_after_rom_hand_over_is_a_boot_loop(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_S3_LVGL_360, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOT_LOOP);
        assert_true(has_evidence(&r, "Rebooting..."));
}

static void test_esp32_flash_read_err_at_another_address_is_blank_flash(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, E32_BLUEJAMMER_19, &r);
        assert_int_equal(r.cls, BOOTLOG_BLANK_FLASH);
}

/* ===================== general behaviour ===================== */

static void test_no_bytes_at_either_baud_is_silent(void **state)
{
        struct bootlog_result r;
        run(BOOTLOG_ESP8266, "", 74880, "", 115200, &r);
        assert_int_equal(r.cls, BOOTLOG_SILENT);
        assert_non_null(strstr(r.summary, "74880 or 115200"));
}

static void test_only_line_noise_bytes_count_as_silent(void **state)
{
        static const uint8_t noise[] = { 0, 0xff, '\r', '\n', 0 };
        struct bootlog_capture c = { noise, sizeof(noise), 115200 };
        struct bootlog_result r;
        bootlog_classify(BOOTLOG_ESP32, &c, NULL, &r);
        assert_int_equal(r.cls, BOOTLOG_SILENT);
}

static void test_missing_captures_are_silent(void **state)
{
        struct bootlog_result r;
        bootlog_classify(BOOTLOG_ESP32, NULL, NULL, &r);
        assert_int_equal(r.cls, BOOTLOG_SILENT);
}

static void test_stack_dump_marker_is_not_a_prompt(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP8266, ">>>stack>>>\n3ffff950:  40233540 00000138\n", &r);
        assert_false(r.prompt);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
}

static void test_unknown_output_keeps_the_first_lines(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, "hello\r\nworld\r\n", &r);
        assert_int_equal(r.cls, BOOTLOG_UNKNOWN);
        assert_int_equal(r.n_evidence, 2);
        assert_string_equal(r.evidence[0], "hello");
        assert_string_equal(r.evidence[1], "world");
}

static void test_evidence_is_printable_without_ansi_colours(void **state)
{
        struct bootlog_result r;
        one(BOOTLOG_ESP32, "\x1b[0;32mI (29) boot: ESP-IDF v4.1\x1b[0m\r\nstatus \x01 ok\r\n", &r);
        assert_string_equal(r.evidence[0], "I (29) boot: ESP-IDF v4.1");
        assert_string_equal(r.evidence[1], "status ? ok");
}

static void test_long_lines_are_cut_in_evidence(void **state)
{
        char line[600];
        memset(line, 'x', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\0';
        struct bootlog_result r;
        one(BOOTLOG_ESP32, line, &r);
        assert_int_equal(strlen(r.evidence[0]), BOOTLOG_LINE_MAX - 1);
}

static void test_class_names_are_the_api_words(void **state)
{
        assert_string_equal(bootlog_class_name(BOOTLOG_BOOTED), "booted");
        assert_string_equal(bootlog_class_name(BOOTLOG_BOOT_LOOP), "boot_loop");
        assert_string_equal(bootlog_class_name(BOOTLOG_BLANK_FLASH), "blank_flash");
        assert_string_equal(bootlog_class_name(BOOTLOG_BAD_IMAGE), "bad_image");
        assert_string_equal(bootlog_class_name(BOOTLOG_DOWNLOAD_MODE), "download_mode");
        assert_string_equal(bootlog_class_name(BOOTLOG_SILENT), "silent");
        assert_string_equal(bootlog_class_name(BOOTLOG_UNKNOWN), "unknown_output");
}

static void test_chip_names_map_to_rom_families(void **state)
{
        enum bootlog_chip c = BOOTLOG_ESP32;
        assert_int_equal(bootlog_chip_from_name("esp8266", &c), 0);
        assert_int_equal(c, BOOTLOG_ESP8266);
        assert_int_equal(bootlog_chip_from_name("ESP32-S3", &c), 0);
        assert_int_equal(c, BOOTLOG_ESP32);
        assert_int_equal(bootlog_chip_from_name("rp2040", &c), -22);
        assert_int_equal(bootlog_rom_baud(BOOTLOG_ESP8266), 74880);
        assert_int_equal(bootlog_rom_baud(BOOTLOG_ESP32), 115200);
}

/* The reset in words, for "the board reset during the test: watchdog (rst cause 4)". */
static void test_reset_kinds_name_the_cause(void **state)
{
        static const struct {
                enum bootlog_chip chip;
                const char *line, *kind;
        } cases[] = {
                { BOOTLOG_ESP8266, " ets Jan  8 2013,rst cause:4, boot mode:(3,6)\n", "watchdog" },
                { BOOTLOG_ESP8266, " ets Jan  8 2013,rst cause:1, boot mode:(3,6)\n", "power-on" },
                { BOOTLOG_ESP8266, " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n", "external reset (EN pin) or restart" },
                { BOOTLOG_ESP8266, " ets Jan  8 2013,rst cause:9, boot mode:(3,6)\n", "unknown" },
                { BOOTLOG_ESP32, "rst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "watchdog" },
                { BOOTLOG_ESP32, "rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "watchdog" },
                { BOOTLOG_ESP32, "rst:0xf (RTCWDT_BROWN_OUT_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "brownout" },
                { BOOTLOG_ESP32, "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "power-on" },
                { BOOTLOG_ESP32, "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "software restart" },
                { BOOTLOG_ESP32, "rst:0x5 (DEEPSLEEP_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n", "deep-sleep wake-up" },
                { BOOTLOG_ESP32, "rst:0x15 (USB_UART_CHIP_RESET),boot:0x8 (SPI_FAST_FLASH_BOOT)\n", "USB/JTAG reset" },
                { BOOTLOG_ESP32, "hello\n", "unknown" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct bootlog_result r;
                one(cases[i].chip, cases[i].line, &r);
                assert_string_equal(bootlog_reset_kind(&r), cases[i].kind);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_esp8266_csum_err_after_load_lines_is_bad_image),
                cmocka_unit_test(test_esp8266_csum_err_of_a_short_image_is_bad_image),
                cmocka_unit_test(test_esp8266_pasted_log_with_literal_crlf_markers_is_bad_image),
                cmocka_unit_test(test_esp8266_nonos_sdk_csum_err_is_bad_image),
                cmocka_unit_test(test_esp8266_banner_then_ets_main_without_loads_is_blank_flash),
                cmocka_unit_test(test_esp8266_boot_mode_1_is_download_mode),
                cmocka_unit_test(test_esp8266_watchdog_reset_in_download_strapping_is_download_mode),
                cmocka_unit_test(test_esp8266_repeated_wdt_resets_are_a_boot_loop),
                cmocka_unit_test(test_esp8266_boot_loop_reports_rst_cause_and_boot_mode),
                cmocka_unit_test(test_esp8266_rom_handing_over_to_a_non_micropython_app_is_unknown),
                cmocka_unit_test(test_esp8266_banner_after_garbage_at_115200_is_booted),
                cmocka_unit_test(test_esp8266_garbage_before_banner_says_rom_unreadable),
                cmocka_unit_test(test_esp8266_banner_gives_board_and_mcu),
                cmocka_unit_test(test_esp8266_banner_then_fatal_exception_and_reset_is_a_boot_loop),
                cmocka_unit_test(test_esp8266_one_reset_after_the_banner_is_a_boot_loop),
                cmocka_unit_test(test_esp8266_documented_normal_rom_boot_alone_is_unknown),
                cmocka_unit_test(test_esp8266_rom_at_74880_and_banner_at_115200_is_booted),
                cmocka_unit_test(test_esp8266_rom_garbage_at_115200_alone_is_unreadable_unknown),
                cmocka_unit_test(test_esp32_documented_download_boot_is_download_mode),
                cmocka_unit_test(test_esp32_flash_read_err_is_blank_flash),
                cmocka_unit_test(test_esp32_rom_reset_line_gives_cause_and_strap_names),
                cmocka_unit_test(test_esp32_rom_handing_over_without_micropython_is_unknown),
                cmocka_unit_test(test_esp32_c6_download_rom_banner_is_download_mode),
                cmocka_unit_test(test_esp32_c3_invalid_header_ffffffff_is_blank_flash),
                cmocka_unit_test(test_esp32_blank_flash_loop_counts_boot_cycles),
                cmocka_unit_test(test_esp32_poweron_flash_read_err_loop_is_blank_flash),
                cmocka_unit_test(test_esp32_eco3_invalid_header_ffffffff_loop_is_blank_flash),
                cmocka_unit_test(test_esp32_mistyped_Oxffffffff_header_is_still_blank_flash),
                cmocka_unit_test(test_esp32_invalid_header_other_than_ffffffff_is_bad_image),
                cmocka_unit_test(test_esp32_bad_header_loop_with_time_stamps_is_bad_image),
                cmocka_unit_test(test_esp32_c3_checksum_failure_is_bad_image),
                cmocka_unit_test(test_esp32_s3_checksum_failure_is_bad_image),
                cmocka_unit_test(test_esp32_all_ones_segment_header_is_bad_image),
                cmocka_unit_test(test_esp32_banner_after_the_last_reset_is_booted),
                cmocka_unit_test(test_esp32_booted_evidence_has_reset_and_banner),
                cmocka_unit_test(test_esp32_eco3_download_boot_with_time_stamps_is_download_mode),
                cmocka_unit_test(test_esp32_transient_flash_read_err_then_bootloader_is_not_blank),
                cmocka_unit_test(test_esp32_s3_crash_after_rom_hand_over_is_a_boot_loop),
                cmocka_unit_test(test_esp32_flash_read_err_at_another_address_is_blank_flash),
                cmocka_unit_test(test_no_bytes_at_either_baud_is_silent),
                cmocka_unit_test(test_only_line_noise_bytes_count_as_silent),
                cmocka_unit_test(test_missing_captures_are_silent),
                cmocka_unit_test(test_stack_dump_marker_is_not_a_prompt),
                cmocka_unit_test(test_unknown_output_keeps_the_first_lines),
                cmocka_unit_test(test_evidence_is_printable_without_ansi_colours),
                cmocka_unit_test(test_long_lines_are_cut_in_evidence),
                cmocka_unit_test(test_class_names_are_the_api_words),
                cmocka_unit_test(test_chip_names_map_to_rom_families),
                cmocka_unit_test(test_reset_kinds_name_the_cause),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
