/* Power spec parsing and dispatch to the backends; a power cycle is off, a pause, on. */
#include "power/power.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health/health_policy.h"
#include "power/power_backends.h"

/* "LOCATION:PORT" as uhubctl takes them: location digits, '-' and '.'; port 1..255. */
static int parse_hub(const char *s, char *loc, size_t loc_size, unsigned *port)
{
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s || (size_t)(colon - s) >= loc_size)
                return -EINVAL;
        for (const char *c = s; c < colon; c++)
                if (!((*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
                        return -EINVAL;
        char *end = NULL;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || p < 1 || p > 255)
                return -EINVAL;
        memcpy(loc, s, (size_t)(colon - s));
        loc[colon - s] = '\0';
        *port = (unsigned)p;
        return 0;
}

int power_spec_check(const char *spec, char *msg, size_t msg_size)
{
        char loc[64];
        unsigned port;
        if (!spec)
                spec = "";
        if (!strncmp(spec, "vboard:tcp://", 13) && strchr(spec + 13, ':'))
                return 0;
        if (!strcmp(spec, "uhubctl"))
                return 0;
        if (!strncmp(spec, "uhubctl:", 8) && parse_hub(spec + 8, loc, sizeof(loc), &port) == 0)
                return 0;
        if (!strncmp(spec, "cmd:/", 5) && !strchr(spec, ' '))
                return 0;
        snprintf(msg, msg_size,
                 "'power' must be uhubctl (hub and port learned from the USB path), uhubctl:LOCATION:PORT "
                 "(e.g. uhubctl:1-1.4:2), cmd:/ABSOLUTE/PROGRAM or vboard:tcp://HOST:PORT, not '%s'", spec);
        return -EINVAL;
}

int power_set(const char *spec, const json_t *hints, const char *board_id, bool on, const struct health_policy *pol,
              struct power_report *rep, char *msg, size_t msg_size)
{
        memset(rep, 0, sizeof(*rep));
        if (!spec || !*spec) {
                snprintf(msg, msg_size, "this board has no power backend (set 'power' in its [port] section)");
                return -ENOTSUP;
        }
        if (power_spec_check(spec, msg, msg_size) < 0)
                return -ENOTSUP;
        if (!strncmp(spec, "vboard:", 7))
                return power_vboard_set(spec + 7, on, rep, msg, msg_size);
        if (!strncmp(spec, "cmd:", 4))
                return power_cmd_set(spec + 4, board_id ? board_id : "", on, rep, msg, msg_size);
        char loc[64];
        unsigned port = 0;
        if (!strcmp(spec, "uhubctl")) {
                const char *sys = json_string_value(json_object_get(hints, "syspath"));
                if (!sys || power_uhubctl_location(sys, loc, sizeof(loc), &port) < 0) {
                        snprintf(msg, msg_size, "cannot learn this board's hub and port from its USB path (%s); "
                                 "give them as power = uhubctl:LOCATION:PORT", sys ? sys : "no USB path known");
                        return -ENOTSUP;
                }
        } else {
                parse_hub(spec + 8, loc, sizeof(loc), &port);
        }
        return power_uhubctl_set(pol->uhubctl, loc, port, on, rep, msg, msg_size);
}

int power_cycle(const char *spec, const json_t *hints, const char *board_id, const struct health_policy *pol,
                struct power_report *rep, char *msg, size_t msg_size)
{
        int r = power_set(spec, hints, board_id, false, pol, rep, msg, msg_size);
        if (r < 0)
                return r;
        struct timespec ts = { .tv_sec = pol->power_off_ms / 1000, .tv_nsec = (long)(pol->power_off_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0)
                ;
        return power_set(spec, hints, board_id, true, pol, rep, msg, msg_size);
}

int power_uhubctl_location(const char *syspath, char *loc, size_t loc_size, unsigned *port)
{
        if (!syspath || !loc || !port)
                return -ENOENT;
        const char *best = NULL;
        size_t best_len = 0;
        for (const char *c = syspath; *c;) {
                while (*c == '/')
                        c++;
                const char *e = c;
                while (*e && *e != '/')
                        e++;
                /* "1-1.4.2": digits '-' digits ('.' digits)*, no ':' (that is an interface) */
                size_t n = (size_t)(e - c), i = 0;
                bool ok = n >= 3;
                while (ok && i < n && c[i] >= '0' && c[i] <= '9')
                        i++;
                ok = ok && i > 0 && i < n && c[i] == '-';
                for (size_t k = i + 1; ok && k < n; k++)
                        ok = (c[k] >= '0' && c[k] <= '9') || (c[k] == '.' && k + 1 < n && c[k - 1] != '.' && c[k - 1] != '-');
                if (ok && c[n - 1] != '-') {
                        best = c;
                        best_len = n;
                }
                c = e;
        }
        if (!best)
                return -ENOENT;
        char dev[64];
        if (best_len >= sizeof(dev))
                return -ENOENT;
        memcpy(dev, best, best_len);
        dev[best_len] = '\0';
        char *dot = strrchr(dev, '.');
        char *dash = strchr(dev, '-');
        char *sep = dot ? dot : dash;
        unsigned long p = strtoul(sep + 1, NULL, 10);
        if (p < 1 || p > 255)
                return -ENOENT;
        *sep = '\0';
        if (snprintf(loc, loc_size, "%s", dev) >= (int)loc_size)
                return -ENOENT;
        *port = (unsigned)p;
        return 0;
}

int power_uhubctl_parse(const char *output, unsigned port, bool want_on, char *msg, size_t msg_size)
{
        char tag[24];
        snprintf(tag, sizeof(tag), "Port %u:", port);
        const char *last = NULL;
        for (const char *p = output ? strstr(output, tag) : NULL; p; p = strstr(p + 1, tag))
                if (p == output || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t')
                        last = p;
        if (!last) {
                snprintf(msg, msg_size, "uhubctl did not report port %u", port);
                return -EIO;
        }
        char line[256];
        size_t n = strcspn(last, "\r\n");
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), last);
        /* "Port 2: 0000 off" / "Port 2: 0103 power enable connect [...]" */
        bool is_off = strstr(line, " off") != NULL, is_on = strstr(line, " power") != NULL;
        if ((want_on && is_on && !is_off) || (!want_on && is_off && !is_on))
                return 0;
        snprintf(msg, msg_size, "uhubctl left port %u %s: '%s'", port, want_on ? "unpowered" : "powered", line);
        return -EIO;
}
