/* Known USB VID:PIDs of serial bridges and boards -> bridge name and family hint, plus the
 * VID:PID allow/deny match used by discovery. Hints only: a CP2102 can sit on any board. */
#ifndef CORRAL_USB_IDS_H
#define CORRAL_USB_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Family hints (what identify jobs should try first):
 *   "esp"       ESP8266/ESP32 behind a USB-UART bridge or Espressif's native USB
 *   "rp2"       Raspberry Pi RP2040 running MicroPython
 *   "microbit"  BBC micro:bit (DAPLink)
 *   "pyboard"   MicroPython pyboard
 *   "adafruit"  Adafruit boards (often CircuitPython)
 *   "generic"   a known USB-UART with no typical board
 *   "unknown"   not in the table
 * Reset hints: "classic" (DTR/RTS auto-reset circuit), "usb_jtag" (ESP USB-Serial/JTAG
 * sequence), "none" (native USB stacks without a reset circuit), "" unknown. */
struct usb_id {
        uint16_t vid, pid;
        bool any_pid;          /* the entry matches every PID of vid (e.g. Adafruit 239a:*) */
        const char *bridge;    /* "CP210x", "CH340", ..., static storage */
        const char *family;
        const char *reset;
        /* Highest baud the bridge's UART makes, from its datasheet; 0 = unknown (corral steps
         * down from its own ceiling). usb_native: no UART at all (USB CDC/JTAG of the chip
         * itself): the baud is ignored, so changing it gains nothing. */
        unsigned max_baud;
        bool usb_native;
};

/* Look up by hex strings as sysfs/udev give them ("1a86", "7523", any case). Never fails:
 * unknown or malformed ids return the "unknown serial device" entry. Returned pointer is to
 * static const data (thread-safe, never freed). */
const struct usb_id *usb_ids_lookup(const char *vid, const char *pid);

/* A VID:PID pattern for allow/deny lists: "1a86:7523", "239a:*". */
struct usb_id_match {
        uint16_t vid, pid;
        bool any_pid;
};

/* Parse one pattern. -EINVAL if malformed; *ret set only on success. */
int usb_ids_parse_match(const char *spec, struct usb_id_match *ret);
/* True when vid/pid (hex strings) match the pattern; false for malformed ids. */
bool usb_ids_match(const struct usb_id_match *m, const char *vid, const char *pid);

#endif
