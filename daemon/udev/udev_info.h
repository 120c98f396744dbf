/* What discovery knows about one serial port (a plain struct, safe to copy across threads) and
 * the pure functions that turn it into a stable board identity. No libudev in here. */
#ifndef CORRAL_UDEV_INFO_H
#define CORRAL_UDEV_INFO_H

#include <stdbool.h>
#include <stddef.h>

/* All strings are NUL-terminated; "" when unknown. Longer values are truncated to the size
 * below (sysfs/udev values in practice: devnode < 32, USB strings <= 126 chars per the USB
 * spec's 255-byte descriptor in UTF-16, devlinks < 200). */
struct udev_port_info {
        char action[8];          /* "add", "remove", or "ready" (initial enumeration done; other
                                    fields empty) */
        char devnode[64];        /* "/dev/ttyUSB0" */
        char syspath[256];       /* "/sys/devices/.../ttyUSB0/tty/ttyUSB0" */
        char vid[5], pid[5];     /* lowercase hex "1a86", "7523"; "" for non-USB ttys */
        char serial[128];        /* USB iSerial string, "" if the device has none */
        char manufacturer[128];  /* USB strings (unmangled sysfs values when available) */
        char product[128];
        char interface_num[4];   /* USB interface of this tty, "00", "01", ... */
        char id_path[192];       /* udev ID_PATH, or derived from sysfs when udevd did not run */
        char by_id[256];         /* "/dev/serial/by-id/..." or "" (needs udevd) */
        char by_path[256];       /* "/dev/serial/by-path/..." or "" */
        char bridge[48];         /* usb_ids bridge name, "unknown serial device" */
        char family[24];         /* usb_ids family hint: "esp", "rp2", ..., "unknown" */
        char reset[16];          /* usb_ids reset hint: "classic", "usb_jtag", "none", "" */
        bool usb;                /* has a USB parent */
        bool serial_not_unique;  /* serial shared with another present board: key by path */
        char identity[256];      /* board_identity_key() of the above */
};

/* Stable key of the board behind a port:
 *   "usb-VID:PID-SERIAL[-ifNN]"  when the USB serial number is usable (-ifNN for interfaces
 *                                 other than 00, so multi-port bridges get one key per port);
 *   "path-ID_PATH"               when there is no serial, a known placeholder serial ("0001"
 *                                 on CP210x clones, ...) or serial_not_unique is set;
 *   "tty-NAME"                   for non-USB ttys without ID_PATH.
 * Characters outside [A-Za-z0-9._:-] in the serial become '_'.
 * Returns 0, -EINVAL (nothing to key on) or -ENOBUFS (buf too small). buf is written only on
 * success. Pure and thread-safe. */
int board_identity_key(const struct udev_port_info *info, char *buf, size_t size);

/* True for serial strings known to be shared by many devices (factory defaults). */
bool udev_info_serial_is_placeholder(const char *serial);

/* Derive udev's ID_PATH for a USB tty from its sysfs devpath, the way udev's path_id builtin
 * does for the common case: ".../0000:00:14.0/usb1/1-2/1-2.3/1-2.3:1.0/ttyUSB0/tty/ttyUSB0"
 * -> "pci-0000:00:14.0-usb-0:2.3:1.0" (a non-PCI host controller gives "platform-NAME").
 * Returns 0, -ENOENT (no USB interface in the path) or -ENOBUFS; buf is written only on
 * success. */
int udev_info_derive_id_path(const char *devpath, char *buf, size_t size);

/* Copy src into dst[size], truncating; NULL src gives "". */
void udev_info_copy(char *dst, size_t size, const char *src);

#endif
