/* The fastest safe flashing baud: candidates from the bridge's limit (USB VID:PID table), the
 * chip's UART and the loader (the ESP8266 ROM cannot change baud), highest first, starting at
 * what last held on this board; the job steps down on errors. Pure logic, no I/O. */
#ifndef CORRAL_ESP_BAUD_H
#define CORRAL_ESP_BAUD_H

#include <stdbool.h>
#include <stddef.h>

#include "engines/esp/esp_chips.h"

#define ESP_BAUD_ROM 115200u
/* Ceiling when the bridge is unknown (a network port, a VID:PID not in the table). */
#define ESP_BAUD_UNKNOWN_BRIDGE 2000000u
#define ESP_BAUD_MAX_CANDIDATES 8

struct esp_baud_in {
        const struct esp_chip *chip; /* required */
        bool stub;                   /* flasher stub running */
        unsigned bridge_max;         /* 0 = unknown bridge */
        bool usb_native;             /* no UART (USB-Serial/JTAG, CDC): the baud means nothing */
        unsigned remembered;         /* what held on this board last time, 0 = none */
};

struct esp_baud_plan {
        unsigned cand[ESP_BAUD_MAX_CANDIDATES]; /* highest first; empty = stay at the ROM baud */
        size_t n;
        unsigned ceiling;            /* min(bridge, chip) before the memory applied */
        char why[160];               /* the reason in words, for the job log */
};

/* The chip's UART limit for flashing (0 = cannot change baud, e.g. ESP8266 ROM). */
unsigned esp_baud_chip_max(const struct esp_chip *chip, bool stub);
/* Fill p from in. Never fails; p->n == 0 means: keep the ROM baud. */
void esp_baud_plan(const struct esp_baud_in *in, struct esp_baud_plan *p);
/* The next candidate below baud in p, 0 when none is left. */
unsigned esp_baud_next(const struct esp_baud_plan *p, unsigned failed);

#endif
