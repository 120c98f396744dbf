/* Baud candidates for a flash: bridge limit, chip limit, loader, memory of what held. */
#include "engines/esp/esp_baud.h"

#include <stdio.h>

/* The steps tried, highest first (the ones esptool users know; every ESP UART divider makes them
 * within 1 % from an 80 MHz APB / 40 MHz crystal). */
static const unsigned ladder[] = { 3000000, 2000000, 1500000, 921600, 460800, 230400 };

unsigned esp_baud_chip_max(const struct esp_chip *chip, bool stub)
{
        if (!chip)
                return 0;
        /* The ESP8266 ROM has no CHANGE_BAUDRATE. Its stub, like every ESP32-family loader, clocks
         * the UART from the 80 MHz APB: "up to 5 Mbps" (ESP32 TRM, UART), "up to 4.5 Mbps"
         * (ESP8266EX datasheet); the top of the ladder (3 Mbaud) is within both. */
        if (chip->is_esp8266 && !stub)
                return 0;
        return 3000000;
}

void esp_baud_plan(const struct esp_baud_in *in, struct esp_baud_plan *p)
{
        p->n = 0;
        p->ceiling = 0;
        p->why[0] = '\0';
        unsigned chip = esp_baud_chip_max(in->chip, in->stub);
        if (!chip) {
                snprintf(p->why, sizeof(p->why), "the %s ROM loader cannot change the baud rate",
                         in->chip ? in->chip->name : "chip's");
                return;
        }
        if (in->usb_native) {
                snprintf(p->why, sizeof(p->why), "the board's own USB port has no UART: the baud rate does not matter");
                return;
        }
        unsigned bridge = in->bridge_max ? in->bridge_max : ESP_BAUD_UNKNOWN_BRIDGE;
        unsigned top = bridge < chip ? bridge : chip;
        p->ceiling = top;
        if (in->remembered && in->remembered <= top && in->remembered > ESP_BAUD_ROM)
                top = in->remembered;
        for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]) && p->n < ESP_BAUD_MAX_CANDIDATES; i++)
                if (ladder[i] <= top)
                        p->cand[p->n++] = ladder[i];
        if (in->remembered && in->remembered == top && (p->n == 0 || p->cand[0] != top)) {
                /* A baud outside the ladder that held before (e.g. a job's own choice): keep it first. */
                for (size_t i = p->n < ESP_BAUD_MAX_CANDIDATES ? p->n : ESP_BAUD_MAX_CANDIDATES - 1; i > 0; i--)
                        p->cand[i] = p->cand[i - 1];
                p->cand[0] = top;
                if (p->n < ESP_BAUD_MAX_CANDIDATES)
                        p->n++;
        }
        if (in->remembered && in->remembered == top)
                snprintf(p->why, sizeof(p->why), "%u baud held on this board before (limit %u: %s)", top,
                         p->ceiling, in->bridge_max ? "bridge and chip" : "unknown bridge, chip");
        else
                snprintf(p->why, sizeof(p->why), "%s limit %u baud%s", in->bridge_max ? "bridge/chip" : "unknown bridge:",
                         top, p->n > 1 ? ", stepping down on errors" : "");
}

unsigned esp_baud_next(const struct esp_baud_plan *p, unsigned failed)
{
        for (size_t i = 0; i < p->n; i++)
                if (p->cand[i] < failed)
                        return p->cand[i];
        return 0;
}
