/* port_reset_pulse specification: the line sequence and hold on a fake port's virtual clock,
 * input dropped during the hold when asked, and which step failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "fake_port.h"
#include "ports/port.h"

#define RTS 2

static void pulse_holds_en_low_through_rts_then_releases_both(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        uint64_t t0 = fake_port_now(p);
        enum port_pulse_step failed = PORT_PULSE_RELEASE;
        assert_int_equal(port_reset_pulse(p, 250, false, &failed), 0);
        const uint8_t *h;
        size_t n = fake_port_line_history(p, &h);
        assert_int_equal(n, 2);
        assert_int_equal(h[0], RTS); /* RTS asserted, DTR released: EN low, IO0 high */
        assert_int_equal(h[1], 0);   /* both released: boots from flash */
        assert_int_equal(fake_port_now(p) - t0, 250);
        assert_false(p->dtr);
        assert_false(p->rts);
        assert_int_equal(failed, PORT_PULSE_RELEASE); /* untouched on success */
        port_close(p);
}

/* The board prints while held in reset ("noise") and after the release ("banner"). */
static void chatty_board(struct port *p, bool dtr, bool rts, void *user)
{
        (void)dtr;
        (void)user;
        fake_port_feed_str(p, rts ? "noise" : "banner");
}

static void drop_input_flushes_what_came_during_the_hold(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        fake_port_set_device(p, NULL, chatty_board, NULL);
        assert_int_equal(port_reset_pulse(p, 100, true, NULL), 0);
        char buf[32] = { 0 };
        assert_int_equal(port_read(p, buf, sizeof(buf) - 1, 0), 6);
        assert_string_equal(buf, "banner");
        port_close(p);
}

static void without_drop_input_everything_stays(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        fake_port_set_device(p, NULL, chatty_board, NULL);
        assert_int_equal(port_reset_pulse(p, 100, false, NULL), 0);
        char buf[32] = { 0 };
        assert_int_equal(port_read(p, buf, sizeof(buf) - 1, 0), 11);
        assert_string_equal(buf, "noisebanner");
        port_close(p);
}

static void a_gone_board_fails_the_assert_step(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        fake_port_unplug(p);
        enum port_pulse_step failed = PORT_PULSE_RELEASE;
        assert_int_equal(port_reset_pulse(p, 100, false, &failed), -ENODEV);
        assert_int_equal(failed, PORT_PULSE_ASSERT);
        port_close(p);
}

static void unplug_on_assert(struct port *p, bool dtr, bool rts, void *user)
{
        (void)dtr;
        (void)user;
        if (rts)
                fake_port_unplug(p);
}

static void a_board_gone_during_the_hold_fails_the_release_step(void **state)
{
        (void)state;
        struct port *p = fake_port_new();
        fake_port_set_device(p, NULL, unplug_on_assert, NULL);
        enum port_pulse_step failed = PORT_PULSE_ASSERT;
        assert_int_equal(port_reset_pulse(p, 100, false, &failed), -ENODEV);
        assert_int_equal(failed, PORT_PULSE_RELEASE);
        port_close(p);
}

static int no_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        return 0;
}

static void no_sleep(struct port *p, unsigned ms)
{
}

static const struct port_ops lineless_ops = { .name = "lineless", .read = no_read, .sleep_ms = no_sleep };

static void a_port_without_lines_says_not_supported(void **state)
{
        (void)state;
        struct port *p = NULL;
        assert_int_equal(port_alloc(&lineless_ops, "lineless://", 115200, &p), 0);
        enum port_pulse_step failed = PORT_PULSE_RELEASE;
        assert_int_equal(port_reset_pulse(p, 100, false, &failed), -ENOTSUP);
        assert_int_equal(failed, PORT_PULSE_ASSERT);
        port_close(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(pulse_holds_en_low_through_rts_then_releases_both),
                cmocka_unit_test(drop_input_flushes_what_came_during_the_hold),
                cmocka_unit_test(without_drop_input_everything_stays),
                cmocka_unit_test(a_gone_board_fails_the_assert_step),
                cmocka_unit_test(a_board_gone_during_the_hold_fails_the_release_step),
                cmocka_unit_test(a_port_without_lines_says_not_supported),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
