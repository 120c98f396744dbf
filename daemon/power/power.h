/* Board power control: switch a board's power off and on through its power backend, named by a
 * spec string from the config ([port] power = ..., --port NAME=URL,power=...):
 *   vboard:tcp://HOST:PORT   the lab: the virtual board's control channel (unplug / replug)
 *   uhubctl:LOCATION:PORT    a USB hub port: `uhubctl -l LOCATION -p PORT -a off|on`
 *   uhubctl                  the same, hub and port learned from the board's USB path (udev)
 *   cmd:/ABS/PATH            an external program, run as `PATH BOARD_ID off|on` (exit 0 = done)
 * Blocking calls (seconds); run them on a job's thread. */
#ifndef CORRAL_POWER_H
#define CORRAL_POWER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct health_policy;

/* Is spec one of the forms above? 0, or -EINVAL with a plain reason in msg. */
int power_spec_check(const char *spec, char *msg, size_t msg_size);

/* What a switch did, for the job log and the evidence. */
struct power_report {
        char backend[16];       /* "vboard", "uhubctl", "cmd" */
        char target[160];       /* "tcp://127.0.0.1:4001", "hub 1-1 port 2", "/usr/local/bin/pdu" */
        char output[1024];      /* what the backend answered (last switch), trimmed */
};

/* Switch the board's power. hints: the board's hints (for "uhubctl" without a location: its
 * "syspath"); pol: uhubctl program, timings. 0, -ENOTSUP (no backend / cannot learn the hub),
 * -EIO (the backend failed; msg says how), -ETIMEDOUT. */
int power_set(const char *spec, const json_t *hints, const char *board_id, bool on, const struct health_policy *pol,
              struct power_report *rep, char *msg, size_t msg_size);
/* Off, pol->power_off_ms, on. */
int power_cycle(const char *spec, const json_t *hints, const char *board_id, const struct health_policy *pol,
                struct power_report *rep, char *msg, size_t msg_size);

/* uhubctl's hub location and port of a USB device from its sysfs path: the last component like
 * "1-1.4.2" gives location "1-1.4", port 2 ("1-3": location "1", port 3). 0 or -ENOENT. */
int power_uhubctl_location(const char *syspath, char *loc, size_t loc_size, unsigned *port);
/* Did uhubctl's output (after `-a off|on`) leave port in the wanted state? Reads the last
 * "Port N:" line for that port (the "New status" block). 0 yes; -EIO no (msg says what it saw). */
int power_uhubctl_parse(const char *output, unsigned port, bool want_on, char *msg, size_t msg_size);

#endif
