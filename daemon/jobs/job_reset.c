/* Job kind "reset": pulse the board's reset line (EN) through RTS, with DTR released so the chip
 * boots normally; the classic USB-serial auto-reset circuit. Fails plainly where there are no lines. */
#include <errno.h>
#include <string.h>

#include "jobs/job_run.h"
#include "jobs/kinds.h"

static int reset_check(const json_t *params, char *msg, size_t size)
{
        json_t *hold = json_object_get(params, "hold_ms");
        if (hold && (!json_is_integer(hold) || json_integer_value(hold) < 1 || json_integer_value(hold) > 5000)) {
                snprintf(msg, size, "'hold_ms' must be a whole number of milliseconds from 1 to 5000.");
                return -EINVAL;
        }
        return 0;
}

static int reset_run(struct job_run *jr)
{
        struct port *p = jr_port(jr);
        json_t *hold = json_object_get(jr_params(jr), "hold_ms");
        unsigned ms = hold ? (unsigned)json_integer_value(hold) : 100;
        jr_progress(jr, 10, "resetting");
        enum port_pulse_step failed = PORT_PULSE_ASSERT;
        int r = port_reset_pulse(p, ms, false, &failed);
        if (r == -ENOTSUP)
                return jr_fail(jr, "no_reset_lines",
                               "This port (%s) carries no DTR/RTS lines, so corral cannot reset the board; "
                               "press its RESET button or use an RFC 2217 or USB serial connection.", p->url);
        if (r < 0)
                return jr_fail(jr, r == -ENODEV ? "board_gone" : "io_error", "Could not %s the reset line: %s",
                               failed == PORT_PULSE_ASSERT ? "set" : "release", strerror(-r));
        jr_log(jr, "EN low (RTS asserted) for %u ms", ms);
        jr_log(jr, "EN released; the board boots from flash");
        jr_progress(jr, 100, "done");
        jr_result_set(jr, "hold_ms", json_integer(ms));
        return 0;
}

const struct job_kind job_kind_reset = {
        .name = "reset",
        .summary = "hard-reset the board through DTR/RTS",
        .default_timeout_s = 10,
        .check = reset_check,
        .run = reset_run,
};
