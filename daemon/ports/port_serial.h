/* USB metadata of a tty by path, for static ports from the config file (udev-discovered ports
 * get theirs from daemon/udev/). Uses libserialport's sysfs lookup; no udev database needed. */
#ifndef CORRAL_PORT_SERIAL_H
#define CORRAL_PORT_SERIAL_H

struct port_serial_meta {
        char devnode[64];       /* resolved path, e.g. "/dev/ttyUSB0" */
        char vid[5], pid[5];    /* lowercase hex, e.g. "1a86" */
        char serial[128];       /* USB serial number or "" */
        char manufacturer[128]; /* USB strings or "" */
        char product[128];
};

/* Fill *ret for the tty at path (symlinks resolved). -ENOENT: not a sysfs tty (e.g. a pty);
 * -ENODEV: not a USB device. *ret is set only on success. Thread-safe (no shared state). */
int port_serial_usb_meta(const char *path, struct port_serial_meta *ret);

#endif
