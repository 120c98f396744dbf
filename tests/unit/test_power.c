/* Power backends' pure parts: which power specs the config accepts, uhubctl's hub location and port
 * learned from a USB device's sysfs path, and the reading of uhubctl's output (the port's new
 * state, not just the exit status); the external-command backend against /bin/sh scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "health/health_policy.h"
#include "power/power.h"
#include "power/power_exec.h"

static void specs_the_config_accepts_and_refuses(void **state)
{
        (void)state;
        char msg[512];
        const char *good[] = { "uhubctl", "uhubctl:1-1:2", "uhubctl:1-1.4.3:4", "uhubctl:2:1", "cmd:/usr/local/bin/pdu",
                               "vboard:tcp://127.0.0.1:4000" };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_int_equal(power_spec_check(good[i], msg, sizeof(msg)), 0);
        const char *bad[] = { "", "uhubctl:1-1", "uhubctl:1-1:0", "uhubctl:1-1:256", "uhubctl:a-b:2", "uhubctl:1-1:2x",
                              "cmd:relative/path", "cmd:/bin/x --flag", "vboard:tcp://nohost", "ykush:1", "relay" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                msg[0] = '\0';
                assert_int_equal(power_spec_check(bad[i], msg, sizeof(msg)), -EINVAL);
                assert_non_null(strstr(msg, "uhubctl:LOCATION:PORT"));
        }
}

static void hub_and_port_are_learned_from_the_usb_path(void **state)
{
        (void)state;
        char loc[64];
        unsigned port = 0;
        assert_int_equal(power_uhubctl_location("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4/1-1.4.2/"
                                                "1-1.4.2:1.0/ttyUSB0/tty/ttyUSB0", loc, sizeof(loc), &port), 0);
        assert_string_equal(loc, "1-1.4");
        assert_int_equal(port, 2);
        assert_int_equal(power_uhubctl_location("/sys/devices/pci0000:00/0000:00:14.0/usb3/3-2/3-2:1.0/tty/ttyACM0", loc,
                                                sizeof(loc), &port), 0);
        assert_string_equal(loc, "3"); /* on the root hub */
        assert_int_equal(port, 2);
        assert_int_equal(power_uhubctl_location("/sys/devices/platform/serial8250/tty/ttyS0", loc, sizeof(loc), &port),
                         -ENOENT);
        assert_int_equal(power_uhubctl_location(NULL, loc, sizeof(loc), &port), -ENOENT);
}

static const char off_ok[] =
        "Current status for hub 1-1 [2109:2813 VIA Labs, Inc. USB2.0 Hub, USB 2.10, 4 ports, ppps]\n"
        "  Port 2: 0103 power enable connect [1a86:7523 QinHeng Electronics USB Serial]\n"
        "Sent power off request\n"
        "New status for hub 1-1 [2109:2813 VIA Labs, Inc. USB2.0 Hub, USB 2.10, 4 ports, ppps]\n"
        "  Port 2: 0000 off\n";

static void uhubctl_output_is_read_for_the_ports_new_state(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(power_uhubctl_parse(off_ok, 2, false, msg, sizeof(msg)), 0);
        /* the same output does not prove "on" */
        assert_int_equal(power_uhubctl_parse(off_ok, 2, true, msg, sizeof(msg)), -EIO);
        assert_non_null(strstr(msg, "left port 2 unpowered"));
        /* a hub without per-port power switching reports the port still powered */
        const char *ganged = "Current status for hub 1-1 [05e3:0608, USB 2.00, 4 ports, ganged]\n"
                             "  Port 2: 0103 power enable connect\nSent power off request\n"
                             "New status for hub 1-1 [05e3:0608, USB 2.00, 4 ports, ganged]\n"
                             "  Port 2: 0103 power enable connect\n";
        assert_int_equal(power_uhubctl_parse(ganged, 2, false, msg, sizeof(msg)), -EIO);
        assert_non_null(strstr(msg, "left port 2 powered: 'Port 2: 0103 power enable connect'"));
        /* "Port 12:" is not port 2 */
        assert_int_equal(power_uhubctl_parse("  Port 12: 0000 off\n", 2, false, msg, sizeof(msg)), -EIO);
        assert_non_null(strstr(msg, "did not report port 2"));
        const char *on = "New status for hub 3 [1d6b:0002]\n  Port 4: 0100 power\n";
        assert_int_equal(power_uhubctl_parse(on, 4, true, msg, sizeof(msg)), 0);
        assert_int_equal(power_uhubctl_parse(NULL, 4, true, msg, sizeof(msg)), -EIO);
}

static char script_path[64];

static void write_script(const char *body)
{
        snprintf(script_path, sizeof(script_path), "/tmp/test_power.XXXXXX");
        int fd = mkstemp(script_path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f, "#!/bin/sh\n%s\n", body);
        fclose(f);
        chmod(script_path, 0755);
}

static void the_command_backend_runs_program_board_action(void **state)
{
        (void)state;
        struct health_policy pol;
        health_policy_defaults(&pol);
        pol.power_off_ms = 10;
        struct power_report rep;
        char spec[96], msg[512];
        write_script("echo \"switched $1 $2\"");
        snprintf(spec, sizeof(spec), "cmd:%s", script_path);
        assert_int_equal(power_cycle(spec, NULL, "bench-1", &pol, &rep, msg, sizeof(msg)), 0);
        assert_string_equal(rep.backend, "cmd");
        assert_string_equal(rep.output, "switched bench-1 on");
        unlink(script_path);
        write_script("echo 'relay 3 not answering' >&2; exit 3");
        snprintf(spec, sizeof(spec), "cmd:%s", script_path);
        assert_int_equal(power_set(spec, NULL, "bench-1", false, &pol, &rep, msg, sizeof(msg)), -EIO);
        assert_non_null(strstr(msg, "failed (exit 3): relay 3 not answering"));
        unlink(script_path);
        assert_int_equal(power_set("cmd:/nonexistent/pdu", NULL, "b", true, &pol, &rep, msg, sizeof(msg)), -EIO);
        assert_int_equal(power_set("", NULL, "b", true, &pol, &rep, msg, sizeof(msg)), -ENOTSUP);
        /* uhubctl with nothing to learn the hub from */
        assert_int_equal(power_set("uhubctl", NULL, "b", true, &pol, &rep, msg, sizeof(msg)), -ENOTSUP);
        assert_non_null(strstr(msg, "cannot learn this board's hub and port"));
}

static void a_program_past_its_deadline_is_killed(void **state)
{
        (void)state;
        char out[64];
        char *argv[] = { "sleep", "5", NULL };
        assert_int_equal(power_exec(argv, 100, out, sizeof(out)), -ETIMEDOUT);
        char *missing[] = { "no-such-program-corral", NULL };
        assert_int_equal(power_exec(missing, 1000, out, sizeof(out)), -ENOENT);
}

static void policy_keys_parse_or_name_the_problem(void **state)
{
        (void)state;
        struct health_policy p;
        char err[256];
        health_policy_defaults(&p);
        assert_int_equal(p.quarantine_after_infra_failures, 3);
        assert_true(p.quarantine_on_failed_check);
        assert_int_equal(health_policy_set(&p, "quarantine_after_infra_failures", "5", err, sizeof(err)), 0);
        assert_int_equal(p.quarantine_after_infra_failures, 5);
        assert_int_equal(health_policy_set(&p, "health_check_interval", "86400", err, sizeof(err)), 0);
        assert_int_equal(p.check_interval_s, 86400);
        assert_int_equal(health_policy_set(&p, "quarantine_on_failed_check", "off", err, sizeof(err)), 0);
        assert_false(p.quarantine_on_failed_check);
        assert_int_equal(health_policy_set(&p, "quarantine_after_infra_failures", "-1", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'quarantine_after_infra_failures' must be a number of failures"));
        assert_int_equal(health_policy_set(&p, "power_off_ms", "60001", err, sizeof(err)), -EINVAL);
        assert_int_equal(health_policy_set(&p, "uhubctl", "uhubctl -f", err, sizeof(err)), -EINVAL);
        assert_int_equal(health_policy_set(&p, "health_check_after_infra_failures", "4", err, sizeof(err)), 0);
        assert_int_equal(p.check_after_infra_failures, 4);
        assert_int_equal(health_policy_set(&p, "max_body", "1", err, sizeof(err)), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(specs_the_config_accepts_and_refuses),
                cmocka_unit_test(hub_and_port_are_learned_from_the_usb_path),
                cmocka_unit_test(uhubctl_output_is_read_for_the_ports_new_state),
                cmocka_unit_test(the_command_backend_runs_program_board_action),
                cmocka_unit_test(a_program_past_its_deadline_is_killed),
                cmocka_unit_test(policy_keys_parse_or_name_the_problem),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
