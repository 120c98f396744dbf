/* mp_diag: name what a serial port shows when no MicroPython prompt is reached (silence,
 * garbage, the ESP ROM bootloader, a boot loop, a port held by someone else), as a stable code
 * and a plain-language message for a job's failure. Pure: classifies bytes already read. */
#ifndef CORRAL_MP_DIAG_H
#define CORRAL_MP_DIAG_H

#include <stddef.h>
#include <stdint.h>

enum mp_diag_kind {
        MP_DIAG_PROMPT,        /* a MicroPython prompt is visible: nothing wrong */
        MP_DIAG_SILENT,        /* no byte at all */
        MP_DIAG_GARBAGE,       /* bytes, but mostly not text */
        MP_DIAG_ROM_DOWNLOAD,  /* ESP ROM bootloader waiting for a flasher */
        MP_DIAG_ROM_BOOTLOOP,  /* ESP ROM boot log repeating / blank or corrupt flash */
        MP_DIAG_TEXT,          /* readable text but no prompt */
        MP_DIAG_BUSY,          /* the port is held by another program */
        MP_DIAG_GONE,          /* the device vanished */
        MP_DIAG_OPEN_FAILED,   /* other open errors */
};

struct mp_diag {
        enum mp_diag_kind kind;
        const char *code;   /* static: "board_silent", "garbage", "rom_bootloader", ... */
        char message[256];
};

/* Classify bytes received while no prompt appeared. Always fills *ret. */
void mp_diag_classify(const uint8_t *data, size_t len, struct mp_diag *ret);
/* Describe a failed port_open()/port I/O error (negative errno) for url. Always fills *ret. */
void mp_diag_port_error(int err, const char *url, struct mp_diag *ret);

#endif
