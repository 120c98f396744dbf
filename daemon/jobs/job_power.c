/* The power_cycle job kind and the power rung of the recovery ladder. */
#include "jobs/job_power.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "health/health_policy.h"
#include "jobs/kinds.h"
#include "power/power.h"

int job_power_cycle(struct job_run *jr, char *msg, size_t msg_size)
{
        const json_t *hints = jr_board_hints(jr);
        const char *spec = json_string_value(json_object_get(hints, "power"));
        struct health_policy pol;
        health_policy_current(&pol);
        struct power_report rep;
        if (!spec || !*spec) {
                snprintf(msg, msg_size, "board %s has no power backend: set power = uhubctl, uhubctl:LOCATION:PORT, "
                         "cmd:/PROGRAM or vboard:tcp://HOST:PORT in its [port] section", jr_board_id(jr));
                return -ENOTSUP;
        }
        jr_log(jr, "power: switching %s off (%s), on again after %u ms", jr_board_id(jr), spec, pol.power_off_ms);
        int r = power_cycle(spec, hints, jr_board_id(jr), &pol, &rep, msg, msg_size);
        if (rep.output[0])
                jr_log(jr, "power: %s (%s) said: %s", rep.backend, rep.target, rep.output);
        jr_result_set(jr, "power", json_pack("{s:s, s:s, s:s, s:i}", "backend", rep.backend, "target", rep.target,
                                             "output", rep.output, "off_ms", (int)pol.power_off_ms));
        if (r < 0) {
                jr_health(jr, "power_failures", 1);
                jr_log(jr, "power: %s", msg);
                return r;
        }
        jr_health(jr, "power_cycles", 1);
        int left = jr_time_left_ms(jr);
        int wait = (int)pol.power_on_wait_ms < left ? (int)pol.power_on_wait_ms : left;
        r = jr_port_reopen(jr, wait);
        if (r < 0) {
                snprintf(msg, msg_size, "power is back but the port did not reopen within %d ms: %s", wait,
                         strerror(-r));
                jr_log(jr, "power: %s", msg);
                return r == -ECANCELED ? r : -ENODEV;
        }
        snprintf(msg, msg_size, "power cycled through %s (%s), port reopened", rep.backend, rep.target);
        jr_log(jr, "power: %s", msg);
        return 0;
}

int job_power_mp(struct mp_repl *r, void *user, char *msg, size_t msg_size)
{
        struct job_run *jr = user;
        int rc = job_power_cycle(jr, msg, msg_size);
        r->port = jr_port(jr); /* the old one is closed either way */
        if (rc == 0 && !r->port)
                rc = -ENODEV;
        return rc;
}

static int power_check(const json_t *params, char *msg, size_t msg_size)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)params, k, v) {
                if (strcmp(k, "kind") && strcmp(k, "timeout_s")) {
                        snprintf(msg, msg_size, "power_cycle takes no parameter '%s'", k);
                        return -EINVAL;
                }
        }
        return 0;
}

static int power_run(struct job_run *jr)
{
        char msg[512];
        jr_progress(jr, 10, "power");
        int r = job_power_cycle(jr, msg, sizeof(msg));
        if (r == -ENOTSUP)
                return jr_fail(jr, "no_power_backend", "%s", msg);
        if (r == -ECANCELED)
                return jr_fail(jr, "cancelled", "cancelled");
        if (r < 0)
                return jr_fail(jr, "power_failed", "%s", msg);
        jr_progress(jr, 100, "done");
        jr_result_set(jr, "verdict", json_string(msg));
        return 0;
}

const struct job_kind job_kind_power_cycle = {
        .name = "power_cycle",
        .summary = "cut and restore the board's power through its power backend (uhubctl, a command, the lab)",
        .default_timeout_s = 60,
        .check = power_check,
        .run = power_run,
};
