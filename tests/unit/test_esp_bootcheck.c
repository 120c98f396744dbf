/* The boot check's remediation policy (a pure function of the classification, what was flashed
 * and the policy), its verdict sentences and failure codes, and the boot-loop classification of
 * a wrong flash mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engines/esp/bootlog.h"
#include "engines/esp/esp_bootcheck.h"

/* A DIO-only module running a QIO image: the ROM reads the later segments as zeros. */
static const char QIO_CYCLE[] =
        " ets Jan  8 2013,rst cause:%d, boot mode:(3,6)\r\n\r\n"
        "load 0x40100000, len 1328, room 16 \r\ntail 0\r\nchksum 0xef\r\n"
        "load 0x00000000, len 0, room 8 \r\ntail 0\r\nchksum 0xef\r\ncsum 0xef\r\ncsum err\r\nets_main.c \r\n";

static void classify_cycles(int cycles, struct bootlog_result *r)
{
        char buf[2048];
        size_t o = 0;
        for (int i = 0; i < cycles; i++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, QIO_CYCLE, i ? 4 : 2);
        struct bootlog_capture rom = { (const uint8_t *)buf, o, 74880 };
        bootlog_classify(BOOTLOG_ESP8266, &rom, NULL, r);
}

/* The state after a QIO flash on an ESP8266 that boot-looped, remediation on, time to spare. */
static struct esp_bootcheck_state qio_loop(void)
{
        struct esp_bootcheck_state s = {
                .cls = BOOTLOG_BOOT_LOOP, .chip = BOOTLOG_ESP8266, .flashed_mode = "qio", .wrote_boot = true,
                .reset_sent = true, .remediate = true, .have_known_good = true, .attempts = 1,
                .time_left_ms = 600000,
        };
        return s;
}

static void a_repeated_checksum_error_with_empty_segments_is_a_boot_loop(void **state)
{
        (void)state;
        struct bootlog_result r;
        classify_cycles(3, &r);
        assert_int_equal(r.cls, BOOTLOG_BOOT_LOOP);
        assert_true(r.flash_mode_suspect);
        assert_int_equal(r.resets, 3);
        assert_string_equal(r.evidence[0], "ets Jan  8 2013,rst cause:2, boot mode:(3,6)");
        assert_non_null(strstr(r.summary, "flash mode"));
}

static void a_single_checksum_error_stays_a_bad_image(void **state)
{
        (void)state;
        struct bootlog_result r;
        classify_cycles(1, &r);
        assert_int_equal(r.cls, BOOTLOG_BAD_IMAGE);
        assert_true(r.flash_mode_suspect);
}

static void a_boot_loop_after_a_qio_flash_on_esp8266_is_reflashed_as_dio(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_REFLASH_DIO);
        s.cls = BOOTLOG_BAD_IMAGE;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_REFLASH_DIO);
        snprintf(s.flashed_mode, sizeof(s.flashed_mode), "qout");
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_REFLASH_DIO);
}

static void a_dio_image_that_fails_goes_straight_to_the_known_good(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        snprintf(s.flashed_mode, sizeof(s.flashed_mode), "dio");
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_ROLLBACK);
}

static void the_dio_retry_happens_once_then_rollback_then_give_up(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.tried_dio = true;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_ROLLBACK);
        s.tried_rollback = true;
        const char *why;
        assert_int_equal(esp_bootcheck_next(&s, &why), ESP_BOOTCHECK_GIVE_UP);
        assert_non_null(strstr(why, "known-good"));
}

static void esp32_boot_loops_are_not_retried_as_dio(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.chip = BOOTLOG_ESP32; /* its ROM loads the bootloader in DIO whatever the header says */
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_ROLLBACK);
}

static void without_a_known_good_firmware_a_failed_image_gives_up(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.tried_dio = true;
        s.have_known_good = false;
        const char *why;
        assert_int_equal(esp_bootcheck_next(&s, &why), ESP_BOOTCHECK_GIVE_UP);
        assert_non_null(strstr(why, "no known-good"));
}

static void remediation_off_means_no_second_flash(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.remediate = false;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
        s.cls = BOOTLOG_SILENT;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
}

static void booted_or_other_firmware_needs_nothing(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.cls = BOOTLOG_BOOTED;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_DONE);
        s.cls = BOOTLOG_UNKNOWN;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_DONE);
}

static void silent_is_checked_once_more_the_other_way_then_given_up(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.cls = BOOTLOG_SILENT;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_RECHECK_OTHER);
        s.tried_other_reset = true;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
}

static void download_mode_is_not_something_a_flash_can_fix(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.cls = BOOTLOG_DOWNLOAD_MODE;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
}

static void blank_flash_after_a_data_only_write_is_not_rolled_back(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.cls = BOOTLOG_BLANK_FLASH;
        s.wrote_boot = false;
        s.flashed_mode[0] = '\0';
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
        s.wrote_boot = true;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_ROLLBACK);
}

static void a_reflash_needs_time_left_in_the_job(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.time_left_ms = ESP_BOOTCHECK_REFLASH_MIN_MS - 1;
        const char *why;
        assert_int_equal(esp_bootcheck_next(&s, &why), ESP_BOOTCHECK_GIVE_UP);
        assert_non_null(strstr(why, "time"));
}

static void attempts_are_bounded(void **state)
{
        (void)state;
        struct esp_bootcheck_state s = qio_loop();
        s.attempts = ESP_BOOTCHECK_MAX_ATTEMPTS;
        assert_int_equal(esp_bootcheck_next(&s, NULL), ESP_BOOTCHECK_GIVE_UP);
}

/* ---- verdicts ---- */

static struct esp_bootcheck_attempt attempt(enum esp_bootcheck_step step, const char *what, const char *mode,
                                            int cycles)
{
        struct esp_bootcheck_attempt a;
        memset(&a, 0, sizeof(a));
        a.step = step;
        a.wrote_boot = true;
        a.reset_sent = true;
        a.rom_baud = 74880;
        a.fw_baud = 115200;
        snprintf(a.what, sizeof(a.what), "%s", what);
        snprintf(a.flash_mode, sizeof(a.flash_mode), "%s", mode);
        if (cycles > 0) {
                classify_cycles(cycles, &a.boot);
        } else {
                static const char booted[] = " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n"
                                             "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266\r\n>>> ";
                struct bootlog_capture c = { (const uint8_t *)booted, sizeof(booted) - 1, 115200 };
                bootlog_classify(BOOTLOG_ESP8266, &c, NULL, &a.boot);
                a.repl_checked = a.repl_ok = true;
        }
        return a;
}

static void the_seed_story_reads_as_one_sentence(void **state)
{
        (void)state;
        struct esp_bootcheck_attempt a[2] = {
                attempt(ESP_BOOTCHECK_STEP_FLASH, "MicroPython v1.25.0", "qio", 3),
                attempt(ESP_BOOTCHECK_STEP_REFLASH_DIO, "MicroPython v1.25.0", "dio", 0),
        };
        char v[1024];
        esp_bootcheck_verdict(a, 2, "4MB", v, sizeof(v));
        assert_string_equal(v, "Flashed MicroPython v1.25.0, but the board boot-looped with flash mode QIO (csum err; "
                               "rst cause 4, boot mode (3,6), 3 resets); re-flashed with DIO and it booted: "
                               "MicroPython v1.25.0 on ESP8266 with 4MB flash.");
        assert_null(esp_bootcheck_error_code(a, 2));
}

static void a_rollback_names_both_outcomes_and_fails_the_job(void **state)
{
        (void)state;
        struct esp_bootcheck_attempt a[2] = {
                attempt(ESP_BOOTCHECK_STEP_FLASH, "MicroPython v1.26.0", "dio", 1),
                attempt(ESP_BOOTCHECK_STEP_ROLLBACK, "MicroPython v1.25.0", "dio", 0),
        };
        char v[1024];
        esp_bootcheck_verdict(a, 2, NULL, v, sizeof(v));
        assert_string_equal(v, "Flashed MicroPython v1.26.0, but the board's ROM rejected the image written as DIO "
                               "(csum err; rst cause 2, boot mode (3,6)); rolled back to the known-good firmware "
                               "MicroPython v1.25.0, which booted: MicroPython v1.25.0 on ESP8266.");
        assert_string_equal(esp_bootcheck_error_code(a, 2), "rolled_back");
}

static void a_silent_board_names_both_resets(void **state)
{
        (void)state;
        struct esp_bootcheck_attempt a[2] = {
                attempt(ESP_BOOTCHECK_STEP_FLASH, "MicroPython v1.25.0", "dio", 1),
                attempt(ESP_BOOTCHECK_STEP_RECHECK, "MicroPython v1.25.0", "dio", 1),
        };
        struct bootlog_capture none = { NULL, 0, 74880 };
        bootlog_classify(BOOTLOG_ESP8266, &none, NULL, &a[0].boot);
        bootlog_classify(BOOTLOG_ESP8266, &none, NULL, &a[1].boot);
        a[1].rom_baud = 115200;
        a[1].fw_baud = 0;
        char v[1024];
        esp_bootcheck_verdict(a, 2, "4MB", v, sizeof(v));
        assert_non_null(strstr(v, "printed nothing after a hard reset (listening at 74880 and 115200 baud), nor "
                                  "after a second, longer reset (listening at 115200 baud)"));
        assert_string_equal(esp_bootcheck_error_code(a, 2), "silent");
}

static void a_failed_reflash_is_the_failure_code(void **state)
{
        (void)state;
        struct esp_bootcheck_attempt a[2] = {
                attempt(ESP_BOOTCHECK_STEP_FLASH, "MicroPython v1.25.0", "qio", 3),
                attempt(ESP_BOOTCHECK_STEP_REFLASH_DIO, "MicroPython v1.25.0", "", 0),
        };
        a[1].flash_error = -5;
        snprintf(a[1].flash_msg, sizeof(a[1].flash_msg), "no answer");
        char v[1024];
        esp_bootcheck_verdict(a, 2, "4MB", v, sizeof(v));
        assert_non_null(strstr(v, "; re-flashed with DIO, but the flash itself failed: no answer."));
        assert_string_equal(esp_bootcheck_error_code(a, 2), "flash_failed");
}

static void boot_json_carries_class_version_and_evidence(void **state)
{
        (void)state;
        struct esp_bootcheck_attempt a = attempt(ESP_BOOTCHECK_STEP_FLASH, "x", "dio", 0);
        json_t *j = esp_bootcheck_boot_json(&a.boot);
        assert_string_equal(json_string_value(json_object_get(j, "class")), "booted");
        assert_string_equal(json_string_value(json_object_get(j, "version")), "1.25.0");
        assert_string_equal(json_string_value(json_object_get(j, "boot_mode")), "(3,6)");
        assert_int_equal(json_integer_value(json_object_get(j, "rst_cause")), 2);
        assert_true(json_array_size(json_object_get(j, "evidence")) >= 2);
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_repeated_checksum_error_with_empty_segments_is_a_boot_loop),
                cmocka_unit_test(a_single_checksum_error_stays_a_bad_image),
                cmocka_unit_test(a_boot_loop_after_a_qio_flash_on_esp8266_is_reflashed_as_dio),
                cmocka_unit_test(a_dio_image_that_fails_goes_straight_to_the_known_good),
                cmocka_unit_test(the_dio_retry_happens_once_then_rollback_then_give_up),
                cmocka_unit_test(esp32_boot_loops_are_not_retried_as_dio),
                cmocka_unit_test(without_a_known_good_firmware_a_failed_image_gives_up),
                cmocka_unit_test(remediation_off_means_no_second_flash),
                cmocka_unit_test(booted_or_other_firmware_needs_nothing),
                cmocka_unit_test(silent_is_checked_once_more_the_other_way_then_given_up),
                cmocka_unit_test(download_mode_is_not_something_a_flash_can_fix),
                cmocka_unit_test(blank_flash_after_a_data_only_write_is_not_rolled_back),
                cmocka_unit_test(a_reflash_needs_time_left_in_the_job),
                cmocka_unit_test(attempts_are_bounded),
                cmocka_unit_test(the_seed_story_reads_as_one_sentence),
                cmocka_unit_test(a_rollback_names_both_outcomes_and_fails_the_job),
                cmocka_unit_test(a_silent_board_names_both_resets),
                cmocka_unit_test(a_failed_reflash_is_the_failure_code),
                cmocka_unit_test(boot_json_carries_class_version_and_evidence),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
