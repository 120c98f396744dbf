/* Board identity from discovery facts: USB serial number when it is usable, else the physical
 * USB port path (ID_PATH, derived from sysfs when udevd is absent). Pure string code. */
#include "udev/udev_info.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void udev_info_copy(char *dst, size_t size, const char *src)
{
        if (!dst || size == 0)
                return;
        size_t n = src ? strnlen(src, size - 1) : 0;
        if (n)
                memcpy(dst, src, n);
        dst[n] = '\0';
}

bool udev_info_serial_is_placeholder(const char *serial)
{
        static const char *const placeholders[] = {
                "0", "0000", "0001", "00000000", "00000001", "000000000001", "0000000000000001",
                "123456", "1234567890", "0123456789", "0123456789ABCDEF", "FFFFFFFF", NULL,
        };
        if (!serial || !*serial)
                return true;
        for (size_t i = 0; placeholders[i]; i++)
                if (strcasecmp(serial, placeholders[i]) == 0)
                        return true;
        return false;
}

static bool key_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-' || c == ':';
}

int board_identity_key(const struct udev_port_info *info, char *buf, size_t size)
{
        char key[sizeof(info->identity)];
        int n;

        if (!info || !buf || size == 0)
                return -EINVAL;
        if (info->usb && info->vid[0] && info->pid[0] && !info->serial_not_unique &&
            !udev_info_serial_is_placeholder(info->serial)) {
                char serial[sizeof(info->serial)];
                size_t i;
                for (i = 0; info->serial[i] && i < sizeof(serial) - 1; i++)
                        serial[i] = key_char_ok(info->serial[i]) ? info->serial[i] : '_';
                serial[i] = '\0';
                bool iface = info->interface_num[0] && strcmp(info->interface_num, "00") != 0;
                n = snprintf(key, sizeof(key), "usb-%s:%s-%s%s%s", info->vid, info->pid, serial,
                             iface ? "-if" : "", iface ? info->interface_num : "");
        } else if (info->id_path[0]) {
                n = snprintf(key, sizeof(key), "path-%s", info->id_path);
        } else if (info->devnode[0]) {
                const char *base = strrchr(info->devnode, '/');
                n = snprintf(key, sizeof(key), "tty-%s", base ? base + 1 : info->devnode);
        } else {
                return -EINVAL;
        }
        if (n < 0 || (size_t)n >= sizeof(key) || (size_t)n >= size)
                return -ENOBUFS;
        memcpy(buf, key, (size_t)n + 1);
        return 0;
}

/* "1-2.3:1.0": bus, '-', port chain, ':', config '.', interface. */
static bool is_usb_interface_name(const char *s, size_t len)
{
        const char *dash = memchr(s, '-', len), *colon = memchr(s, ':', len);
        if (!dash || !colon || dash == s || colon < dash)
                return false;
        for (const char *c = s; c < dash; c++)
                if (*c < '0' || *c > '9')
                        return false;
        return true;
}

/* "usb1", "usb12": a root hub. */
static bool is_root_hub_name(const char *s, size_t len)
{
        if (len < 4 || strncmp(s, "usb", 3) != 0)
                return false;
        for (size_t i = 3; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* "0000:00:14.0" */
static bool is_pci_name(const char *s, size_t len)
{
        return len == 12 && s[4] == ':' && s[7] == ':' && s[10] == '.';
}

int udev_info_derive_id_path(const char *devpath, char *buf, size_t size)
{
        const char *iface = NULL, *host = NULL;
        size_t iface_len = 0, host_len = 0;
        const char *prev = NULL;
        size_t prev_len = 0;

        if (!devpath || !buf || size == 0)
                return -EINVAL;
        for (const char *c = devpath; *c;) {
                while (*c == '/')
                        c++;
                if (!*c)
                        break;
                size_t len = strcspn(c, "/");
                if (is_root_hub_name(c, len) && prev) {
                        host = prev;
                        host_len = prev_len;
                }
                if (is_usb_interface_name(c, len)) {
                        iface = c; /* the last interface wins (hubs have interfaces too) */
                        iface_len = len;
                }
                prev = c;
                prev_len = len;
                c += len;
        }
        if (!iface)
                return -ENOENT;
        const char *port = memchr(iface, '-', iface_len) + 1;
        int port_len = (int)(iface_len - (size_t)(port - iface));
        char tmp[512];
        int n;
        if (host)
                n = snprintf(tmp, sizeof(tmp), "%s-%.*s-usb-0:%.*s", is_pci_name(host, host_len) ? "pci" : "platform",
                             (int)host_len, host, port_len, port);
        else
                n = snprintf(tmp, sizeof(tmp), "usb-0:%.*s", port_len, port);
        if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n >= size)
                return -ENOBUFS;
        memcpy(buf, tmp, (size_t)n + 1);
        return 0;
}
