/* The uhubctl backend: `uhubctl -l LOCATION -p PORT -a off|on`, its output checked for the port's
 * new state (Debian's uhubctl package; needs permission on the hub's USB device). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "power/power_backends.h"
#include "power/power_exec.h"

#define UHUBCTL_TIMEOUT_MS 15000

static void trim_into(char *dst, size_t size, const char *src)
{
        while (*src == '\n' || *src == ' ')
                src++;
        size_t n = strlen(src);
        if (n >= size)
                n = size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
        while (n && (dst[n - 1] == '\n' || dst[n - 1] == ' ' || dst[n - 1] == '\r'))
                dst[--n] = '\0';
}

int power_uhubctl_set(const char *program, const char *loc, unsigned port, bool on, struct power_report *rep,
                      char *msg, size_t msg_size)
{
        char portbuf[8], out[4096];
        snprintf(portbuf, sizeof(portbuf), "%u", port);
        snprintf(rep->backend, sizeof(rep->backend), "uhubctl");
        snprintf(rep->target, sizeof(rep->target), "hub %s port %u", loc, port);
        char *argv[] = { (char *)program, "-l", (char *)loc, "-p", portbuf, "-a", on ? "on" : "off", NULL };
        int r = power_exec(argv, UHUBCTL_TIMEOUT_MS, out, sizeof(out));
        trim_into(rep->output, sizeof(rep->output), out);
        if (r == -ENOENT) {
                snprintf(msg, msg_size, "cannot run %s: not installed (apt-get install uhubctl) or not in PATH", program);
                return -EIO;
        }
        if (r == -ETIMEDOUT) {
                snprintf(msg, msg_size, "%s -l %s -p %u -a %s did not finish within %d s", program, loc, port,
                         on ? "on" : "off", UHUBCTL_TIMEOUT_MS / 1000);
                return -ETIMEDOUT;
        }
        if (r < 0) {
                snprintf(msg, msg_size, "cannot run %s: %s", program, strerror(-r));
                return -EIO;
        }
        if (r != 0) {
                snprintf(msg, msg_size, "%s -l %s -p %u -a %s failed (exit %d): %s", program, loc, port, on ? "on" : "off",
                         r, rep->output[0] ? rep->output : "no output");
                return -EIO;
        }
        return power_uhubctl_parse(out, port, on, msg, msg_size);
}
