/* The automatic flashing baud: the bridge table (datasheet limits by VID:PID), the chip and loader
 * limits, the memory of what held, and the step-down order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engines/esp/esp_baud.h"
#include "udev/usb_ids.h"

static void plan(const char *chip, bool stub, const char *vid, const char *pid, unsigned remembered,
                 struct esp_baud_plan *p)
{
        const struct usb_id *b = vid ? usb_ids_lookup(vid, pid) : NULL;
        struct esp_baud_in in = { .chip = esp_chip_by_name(chip), .stub = stub,
                                  .bridge_max = b ? b->max_baud : 0, .usb_native = b && b->usb_native,
                                  .remembered = remembered };
        assert_non_null(in.chip);
        esp_baud_plan(&in, p);
}

static void bridge_table_limits(void **state)
{
        (void)state;
        assert_int_equal(usb_ids_lookup("10c4", "ea60")->max_baud, 3000000); /* CP2102N */
        assert_int_equal(usb_ids_lookup("1a86", "7523")->max_baud, 2000000); /* CH340 */
        assert_int_equal(usb_ids_lookup("1a86", "55d3")->max_baud, 6000000); /* CH343 */
        assert_int_equal(usb_ids_lookup("0403", "6001")->max_baud, 3000000); /* FT232R */
        assert_int_equal(usb_ids_lookup("0403", "6015")->max_baud, 3000000); /* FT231X */
        assert_int_equal(usb_ids_lookup("0403", "6010")->max_baud, 3000000); /* FT2232 */
        assert_true(usb_ids_lookup("303a", "1001")->usb_native);             /* S3/C3 USB-Serial/JTAG */
        assert_false(usb_ids_lookup("10c4", "ea60")->usb_native);
        assert_int_equal(usb_ids_lookup("1234", "5678")->max_baud, 0);       /* unknown */
}

static void highest_first_within_bridge_and_chip(void **state)
{
        (void)state;
        struct esp_baud_plan p;
        plan("ESP32", true, "1a86", "7523", 0, &p); /* CH340: 2 Mbaud */
        assert_int_equal(p.ceiling, 2000000);
        assert_int_equal(p.n, 5);
        assert_int_equal(p.cand[0], 2000000);
        assert_int_equal(p.cand[1], 1500000);
        assert_int_equal(p.cand[4], 230400);
        plan("ESP32", true, "10c4", "ea60", 0, &p); /* CP210x: 3 Mbaud, the chip's top */
        assert_int_equal(p.cand[0], 3000000);
        plan("ESP32", false, "1a86", "55d3", 0, &p); /* CH343 6 Mbaud: the chip caps at 3 */
        assert_int_equal(p.ceiling, 3000000);
        plan("ESP32", true, NULL, NULL, 0, &p); /* network port: unknown bridge */
        assert_int_equal(p.cand[0], ESP_BAUD_UNKNOWN_BRIDGE);
        assert_non_null(strstr(p.why, "unknown bridge"));
}

static void no_change_where_it_cannot_or_need_not(void **state)
{
        (void)state;
        struct esp_baud_plan p;
        plan("ESP8266", false, "10c4", "ea60", 0, &p);
        assert_int_equal(p.n, 0);
        assert_non_null(strstr(p.why, "cannot change"));
        plan("ESP8266", true, "10c4", "ea60", 0, &p); /* its stub can */
        assert_int_equal(p.cand[0], 3000000);
        plan("ESP32-S3", true, "303a", "1001", 0, &p);
        assert_int_equal(p.n, 0);
        assert_non_null(strstr(p.why, "no UART"));
}

static void remembered_starts_there_and_steps_down(void **state)
{
        (void)state;
        struct esp_baud_plan p;
        plan("ESP32", true, NULL, NULL, 460800, &p);
        assert_int_equal(p.cand[0], 460800);
        assert_int_equal(p.n, 2);
        assert_non_null(strstr(p.why, "held on this board"));
        assert_int_equal(esp_baud_next(&p, 460800), 230400);
        assert_int_equal(esp_baud_next(&p, 230400), 0);
        /* A remembered baud outside the ladder is tried first, then the ladder below it. */
        plan("ESP32", true, NULL, NULL, 1000000, &p);
        assert_int_equal(p.cand[0], 1000000);
        assert_int_equal(p.cand[1], 921600);
        /* Above the ceiling (the bridge changed): ignored. */
        plan("ESP32", true, "1a86", "7523", 3000000, &p);
        assert_int_equal(p.cand[0], 2000000);
        /* Step down from the top in order. */
        plan("ESP32", true, NULL, NULL, 0, &p);
        unsigned b = p.cand[0], seen[8], n = 0;
        while (b && n < 8) {
                seen[n++] = b;
                b = esp_baud_next(&p, b);
        }
        assert_int_equal(n, 5);
        assert_int_equal(seen[3], 460800);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(bridge_table_limits),
                cmocka_unit_test(highest_first_within_bridge_and_chip),
                cmocka_unit_test(no_change_where_it_cannot_or_need_not),
                cmocka_unit_test(remembered_starts_there_and_steps_down),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
