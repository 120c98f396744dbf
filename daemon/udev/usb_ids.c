/* Table of USB serial bridges and MicroPython/ESP boards (reference/usb-ids.md) and VID:PID
 * pattern matching for the discovery allow/deny lists. */
#include "udev/usb_ids.h"

#include <errno.h>
#include <string.h>

/* max_baud from the datasheets:
 *   CP2102N "300 baud to 3 Mbaud" (CP2102N data sheet, 1.1); the older CP2102 stops at 1 Mbaud and
 *     the CP2104 at 2 Mbaud on the same VID:PID: corral steps down and remembers what held.
 *   CH340 "50 bps to 2 Mbps" (CH340 datasheet), CH9102 "up to 4 Mbps", CH343 "up to 6 Mbps".
 *   FT232R / FT231X "300 baud to 3 Mbaud" (DS_FT232R, DS_FT231X); FT2232H / FT232H "up to 12 Mbaud"
 *     (DS_FT2232H), the older FT2232D 3 Mbaud on the same PID, hence 3 Mbaud for 0403:6010.
 *   PL2303GT/HXD "up to 12 Mbps" but the old PL2303HX (same PID) 6 Mbaud at best: 3 Mbaud tried first.
 *   Espressif USB-Serial/JTAG (ESP32-S3/C3/C6/H2) and the S2 ROM's USB-CDC: no UART, no real baud. */
static const struct usb_id known[] = {
        { 0x10c4, 0xea60, false, "CP210x", "esp", "classic", 3000000, false },
        { 0x1a86, 0x7523, false, "CH340", "esp", "classic", 2000000, false },
        { 0x1a86, 0x55d4, false, "CH9102", "esp", "classic", 4000000, false },
        { 0x1a86, 0x55d3, false, "CH343", "esp", "classic", 6000000, false },
        { 0x0403, 0x6001, false, "FT232R", "generic", "classic", 3000000, false },
        { 0x0403, 0x6015, false, "FT231X", "esp", "classic", 3000000, false },
        { 0x0403, 0x6010, false, "FT2232", "esp", "classic", 3000000, false },
        { 0x0403, 0x6014, false, "FT232H", "generic", "classic", 12000000, false },
        { 0x067b, 0x2303, false, "PL2303", "generic", "classic", 3000000, false },
        { 0x303a, 0x1001, false, "ESP USB-Serial/JTAG", "esp", "usb_jtag", 0, true },
        { 0x303a, 0x0002, false, "ESP32-S2 ROM USB-CDC", "esp", "classic", 0, true },
        { 0x303a, 0x4001, false, "ESP TinyUSB CDC", "esp", "none", 0, true },
        { 0x2e8a, 0x0005, false, "RP2040 MicroPython CDC", "rp2", "none", 0, true },
        { 0x0d28, 0x0204, false, "DAPLink (micro:bit)", "microbit", "none", 0, false },
        { 0xf055, 0x9800, false, "pyboard VCP", "pyboard", "none", 0, true },
        { 0x239a, 0, true, "Adafruit", "adafruit", "none", 0, true },
};

static const struct usb_id unknown = { 0, 0, true, "unknown serial device", "unknown", "", 0, false };

/* Exactly 4 hex digits. */
static int hex16(const char *s, uint16_t *ret)
{
        unsigned v = 0;
        if (!s || strlen(s) != 4)
                return -EINVAL;
        for (int i = 0; i < 4; i++) {
                char c = s[i];
                unsigned d;
                if (c >= '0' && c <= '9')
                        d = (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        d = (unsigned)(c - 'A' + 10);
                else
                        return -EINVAL;
                v = v << 4 | d;
        }
        *ret = (uint16_t)v;
        return 0;
}

const struct usb_id *usb_ids_lookup(const char *vid, const char *pid)
{
        uint16_t v, p;
        if (hex16(vid, &v) < 0 || hex16(pid, &p) < 0)
                return &unknown;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (known[i].vid == v && (known[i].any_pid || known[i].pid == p))
                        return &known[i];
        return &unknown;
}

int usb_ids_parse_match(const char *spec, struct usb_id_match *ret)
{
        char v[5], p[5];
        struct usb_id_match m = { 0, 0, false };
        if (!spec || !ret || strlen(spec) < 6 || spec[4] != ':')
                return -EINVAL;
        memcpy(v, spec, 4);
        v[4] = '\0';
        if (hex16(v, &m.vid) < 0)
                return -EINVAL;
        if (strcmp(spec + 5, "*") == 0) {
                m.any_pid = true;
        } else {
                if (strlen(spec + 5) != 4)
                        return -EINVAL;
                memcpy(p, spec + 5, 5);
                if (hex16(p, &m.pid) < 0)
                        return -EINVAL;
        }
        *ret = m;
        return 0;
}

bool usb_ids_match(const struct usb_id_match *m, const char *vid, const char *pid)
{
        uint16_t v, p;
        if (!m || hex16(vid, &v) < 0)
                return false;
        if (v != m->vid)
                return false;
        if (m->any_pid)
                return true;
        return hex16(pid, &p) == 0 && p == m->pid;
}
