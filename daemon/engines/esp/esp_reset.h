/* DTR/RTS reset sequences for ESP boards (§5): into the ROM loader (classic two-transistor,
 * unix-tight, USB-Serial/JTAG) and the hard reset that runs the firmware after flashing. */
#ifndef CORRAL_ESP_RESET_H
#define CORRAL_ESP_RESET_H

#include <stdbool.h>

#include "ports/port.h"

/* All return 0, -ENOTSUP when the port has no modem lines, or a port error (-ENODEV). */
/* DTR=F; RTS=T; 100 ms; DTR=T; RTS=F; delay_ms; DTR=F. Lines are changed one at a time. */
int esp_reset_classic(struct port *p, unsigned delay_ms);
/* (F,F) (T,T) (F,T); 100 ms; (T,F); delay_ms; (F,F); DTR=F. Both lines set together. */
int esp_reset_unix_tight(struct port *p, unsigned delay_ms);
/* The board is held in reset (EN low): (T,F) releases EN with IO0 low, delay_ms, (F,F). Both
 * lines set together, so the chip never sees EN high with IO0 high. */
int esp_reset_release_to_loader(struct port *p, unsigned delay_ms);
/* USB-Serial/JTAG peripheral sequence. */
int esp_reset_usb_jtag(struct port *p);
/* RTS pulse with DTR false: 100 ms (200 ms and a 200 ms settle for USB targets). */
int esp_reset_hard(struct port *p, bool usb);

#endif
