/* Wrong-baud recognition and the annotation lines of the board console (console_annotate.c), and
 * the auto-identify decision (auto_identify.c): pure functions, byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "jobs/auto_identify.h"
#include "jobs/boot_state.h"
#include "jobs/console_annotate.h"

/* What a 74880-baud ROM log looks like at 115200: bytes no terminal text explains (the lab's
 * garble is a hash, so a fixed pseudo-random sequence stands for it). */
static void garbage(uint8_t *b, size_t n)
{
        uint32_t x = 0x9e3779b1u;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b[i] = (uint8_t)x;
        }
}

static void garbage_at_the_wrong_baud_trips_once_a_minute(void **state)
{
        struct console_annot a = { 0 };
        uint8_t g[200];
        garbage(g, sizeof(g));
        assert_false(console_annot_feed(&a, g, 20, 1000)); /* too few bytes for a verdict */
        assert_false(console_annot_feed(&a, g + 20, 180, 1100)); /* garbage from now on... */
        assert_false(console_annot_feed(&a, g, 100, 1100 + ANNOT_PERSIST_MS - 1));
        assert_true(console_annot_feed(&a, g + 100, 100, 1100 + ANNOT_PERSIST_MS)); /* ...for a while */
        console_annot_noted(&a, 1400);
        assert_false(console_annot_feed(&a, g, sizeof(g), 2000));
        assert_false(console_annot_feed(&a, g, sizeof(g), 1400 + ANNOT_REPEAT_MS - 1));
        assert_true(console_annot_feed(&a, g, sizeof(g), 1400 + ANNOT_REPEAT_MS));
}

static void text_utf8_and_ansi_colours_never_trip(void **state)
{
        struct console_annot a = { 0 };
        const char *t = "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266\r\n"
                        "Type \"help()\" for more information.\r\n>>> print('h\xc3\xa9llo \xe2\x9c\x93')\r\n"
                        "h\xc3\xa9llo \xe2\x9c\x93\r\n\x1b[33mwarning\x1b[0m\r\n>>> \x08\x08\t\x07";
        for (int i = 0; i < 20; i++)
                assert_false(console_annot_feed(&a, (const uint8_t *)t, strlen(t), 1000u + 100u * (unsigned)i));
}

static void a_little_noise_in_text_is_not_a_wrong_baud(void **state)
{
        struct console_annot a = { 0 };
        uint8_t buf[256];
        memset(buf, 'x', sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i += 8)
                buf[i] = 0xff; /* 1 in 8: 12 % */
        assert_false(console_annot_feed(&a, buf, sizeof(buf), 5000));
        assert_false(console_annot_feed(&a, buf, sizeof(buf), 5000 + ANNOT_PERSIST_MS));
        for (size_t i = 0; i < sizeof(buf); i += 2)
                buf[i] = 0x80; /* 1 in 2 */
        assert_false(console_annot_feed(&a, buf, sizeof(buf), 6000));
        assert_true(console_annot_feed(&a, buf, sizeof(buf), 6000 + ANNOT_PERSIST_MS));
}

/* A board reset by hand: its ROM log (garbage at the console's baud), then the firmware's own
 * lines. One burst followed by text is not a wrong baud, however long the text takes to come. */
static void one_rom_log_then_text_is_not_a_wrong_baud(void **state)
{
        struct console_annot a = { 0 };
        uint8_t g[200];
        garbage(g, sizeof(g));
        const char *t = "app: hello at 115200\r\n";
        assert_false(console_annot_feed(&a, g, sizeof(g), 1000));
        assert_false(console_annot_feed(&a, (const uint8_t *)t, strlen(t), 1000 + 10 * ANNOT_PERSIST_MS));
        /* the same in one read: the read ends in text */
        struct console_annot b = { 0 };
        uint8_t both[256];
        memcpy(both, g, sizeof(g));
        memcpy(both + sizeof(g), t, strlen(t));
        assert_false(console_annot_feed(&b, both, sizeof(g) + strlen(t), 1000));
        assert_false(console_annot_feed(&b, (const uint8_t *)t, strlen(t), 1000 + 10 * ANNOT_PERSIST_MS));
        /* a boot loop (bursts that keep coming) is one */
        assert_false(console_annot_feed(&a, g, sizeof(g), 20000));
        assert_true(console_annot_feed(&a, g, sizeof(g), 20000 + ANNOT_PERSIST_MS));
}

/* After a job or a reset the worker did, the ROM log that follows is not judged at all (no 74880
 * window may swallow the firmware's output); garbage that goes on past the hold still is. */
static void nothing_is_judged_right_after_the_workers_own_reset(void **state)
{
        struct console_annot a = { 0 };
        uint8_t g[200];
        garbage(g, sizeof(g));
        assert_false(console_annot_feed(&a, g, sizeof(g), 1000));
        console_annot_hold(&a, 1000 + ANNOT_PERSIST_MS - 1); /* a job ran: what was judged is forgotten */
        for (uint64_t t = 1000 + ANNOT_PERSIST_MS; t < 1000 + ANNOT_HOLD_MS; t += 50)
                assert_false(console_annot_feed(&a, g, sizeof(g), t));
        uint64_t end = 1000 + ANNOT_PERSIST_MS - 1 + ANNOT_HOLD_MS;
        assert_false(console_annot_feed(&a, g, sizeof(g), end));
        assert_true(console_annot_feed(&a, g, sizeof(g), end + ANNOT_PERSIST_MS));
}

/* A job may change what the board does (an erase makes it loop): the minute's quiet after the
 * last annotation does not hide what comes after the hold. */
static void a_job_ends_the_quiet_minute(void **state)
{
        struct console_annot a = { 0 };
        uint8_t g[200];
        garbage(g, sizeof(g));
        assert_false(console_annot_feed(&a, g, sizeof(g), 1000));
        assert_true(console_annot_feed(&a, g, sizeof(g), 1000 + ANNOT_PERSIST_MS));
        console_annot_noted(&a, 1000 + ANNOT_PERSIST_MS);
        uint64_t t = 2000 + ANNOT_PERSIST_MS;
        assert_false(console_annot_feed(&a, g, sizeof(g), t));
        assert_false(console_annot_feed(&a, g, sizeof(g), t + ANNOT_PERSIST_MS)); /* quiet: noted a moment ago */
        console_annot_hold(&a, t + ANNOT_PERSIST_MS);
        uint64_t end = t + ANNOT_PERSIST_MS + ANNOT_HOLD_MS;
        assert_false(console_annot_feed(&a, g, sizeof(g), end));
        assert_true(console_annot_feed(&a, g, sizeof(g), end + ANNOT_PERSIST_MS));
}

static void a_blank_esp8266_says_so_with_its_reset_cause(void **state)
{
        const char *rom = "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nets_main.c \r\n"
                          "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nets_main.c \r\n";
        struct bootlog_capture c = { (const uint8_t *)rom, strlen(rom), BOOTLOG_ROM_BAUD_ESP8266 };
        struct bootlog_result r;
        bootlog_classify(BOOTLOG_ESP8266, &c, NULL, &r);
        char line[600];
        console_annot_line("esp8266", 115200, &r, line, sizeof(line));
        assert_string_equal(line, "ESP8266 boot loop: the flash is blank (rst cause 2). Flash MicroPython to this board.");
}

/* The board fact "boot" the worker records from the decoded log (boot_state.c). */
static void the_decoded_blank_loop_is_the_boot_fact(void **state)
{
        const char *rom = "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nets_main.c \r\n"
                          "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nets_main.c \r\n";
        struct bootlog_capture c = { (const uint8_t *)rom, strlen(rom), BOOTLOG_ROM_BAUD_ESP8266 };
        struct bootlog_result r;
        bootlog_classify(BOOTLOG_ESP8266, &c, NULL, &r);
        json_t *v = boot_state_from_bootlog(&r, "console", "2026-01-02T03:04:05Z");
        char *text = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
        assert_string_equal(text, "{\"reason\":\"flash blank\",\"resets\":2,\"rst_cause\":2,\"seen\":"
                                  "\"2026-01-02T03:04:05Z\",\"source\":\"console\",\"state\":\"boot_loop\"}");
        assert_true(boot_state_is_bad(v));
        free(text);
        json_decref(v);
        /* one cycle is a board that does not boot, not (yet) a loop */
        c.len = strlen(rom) / 2;
        bootlog_classify(BOOTLOG_ESP8266, &c, NULL, &r);
        v = boot_state_from_bootlog(&r, "console", NULL);
        assert_string_equal(json_string_value(json_object_get(v, "state")), "no_boot");
        json_decref(v);
        v = boot_state_booted("identify", NULL);
        assert_false(boot_state_is_bad(v));
        assert_non_null(json_string_value(json_object_get(v, "seen")));
        json_decref(v);
        r.cls = BOOTLOG_SILENT; /* says nothing definite: no fact */
        assert_null(boot_state_from_bootlog(&r, "console", NULL));
}

static void undecoded_garbage_names_the_bauds(void **state)
{
        char line[600];
        console_annot_line("esp8266", 115200, NULL, line, sizeof(line));
        assert_non_null(strstr(line, "74880"));
        assert_non_null(strstr(line, "115200"));
        console_annot_line("micropython", 115200, NULL, line, sizeof(line));
        assert_null(strstr(line, "74880"));
        assert_non_null(strstr(line, "another baud than the console's 115200"));
        assert_true(console_annot_rom_74880("esp8266") && console_annot_rom_74880("esp"));
        assert_false(console_annot_rom_74880("esp32") || console_annot_rom_74880(NULL));
}

static int decide(const char *row_json, bool *armed)
{
        json_t *row = json_loads(row_json, 0, NULL);
        assert_non_null(row);
        int r = auto_identify_decide(row, armed);
        json_decref(row);
        return r;
}

static void an_idle_board_that_appears_is_identified_once(void **state)
{
        bool armed = true;
        const char *idle = "{\"state\":\"online\",\"port\":{\"open\":true,\"queued\":0,\"error\":null},\"running_job\":null}";
        assert_int_equal(decide("{\"state\":\"online\",\"port\":{\"open\":false,\"queued\":0,\"error\":null}}", &armed), 0);
        assert_true(armed); /* still opening */
        assert_int_equal(decide(idle, &armed), 1);
        assert_false(armed);
        assert_int_equal(decide(idle, &armed), 0); /* once */
        /* unplugged, plugged again: a new appearance */
        assert_int_equal(decide("{\"state\":\"offline\",\"port\":null}", &armed), 0);
        assert_true(armed);
        assert_int_equal(decide(idle, &armed), 1);
        /* a static port that could not open, then came up */
        armed = false;
        assert_int_equal(decide("{\"state\":\"online\",\"port\":{\"open\":false,\"queued\":0,\"error\":\"cannot open\"}}", &armed), 0);
        assert_true(armed);
        assert_int_equal(decide(idle, &armed), 1);
}

static void a_busy_or_queued_board_is_left_alone(void **state)
{
        bool armed = true;
        assert_int_equal(decide("{\"state\":\"busy\",\"port\":{\"open\":true,\"queued\":0},\"running_job\":4}", &armed), 0);
        assert_false(armed); /* someone's job says what it is */
        armed = true;
        assert_int_equal(decide("{\"state\":\"online\",\"port\":{\"open\":true,\"queued\":2},\"running_job\":null}", &armed), 0);
        assert_false(armed);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(garbage_at_the_wrong_baud_trips_once_a_minute),
                cmocka_unit_test(text_utf8_and_ansi_colours_never_trip),
                cmocka_unit_test(a_little_noise_in_text_is_not_a_wrong_baud),
                cmocka_unit_test(one_rom_log_then_text_is_not_a_wrong_baud),
                cmocka_unit_test(nothing_is_judged_right_after_the_workers_own_reset),
                cmocka_unit_test(a_job_ends_the_quiet_minute),
                cmocka_unit_test(a_blank_esp8266_says_so_with_its_reset_cause),
                cmocka_unit_test(the_decoded_blank_loop_is_the_boot_fact),
                cmocka_unit_test(undecoded_garbage_names_the_bauds),
                cmocka_unit_test(an_idle_board_that_appears_is_identified_once),
                cmocka_unit_test(a_busy_or_queued_board_is_left_alone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
