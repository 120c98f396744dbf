/* ESP reset line sequences over port_set_lines() (logical levels: true = asserted). */
#include "engines/esp/esp_reset.h"

#include "engines/try.h"

static int set(struct port *p, bool dtr, bool rts)
{
        return port_set_lines(p, dtr, rts);
}

int esp_reset_classic(struct port *p, unsigned delay_ms)
{
        TRY(set(p, false, p->rts));    /* DTR=F (IO0 high) */
        TRY(set(p, false, true));      /* RTS=T: EN low, chip in reset */
        port_sleep_ms(p, 100);
        TRY(set(p, true, true));       /* DTR=T */
        TRY(set(p, true, false));      /* RTS=F: EN released while IO0 is low */
        port_sleep_ms(p, delay_ms);
        TRY(set(p, false, false));     /* DTR=F: IO0 released */
        return 0;
}

int esp_reset_unix_tight(struct port *p, unsigned delay_ms)
{
        TRY(set(p, false, false));
        TRY(set(p, true, true));
        TRY(set(p, false, true));      /* reset */
        port_sleep_ms(p, 100);
        TRY(esp_reset_release_to_loader(p, delay_ms));
        TRY(set(p, false, false));     /* DTR=F, as esptool does */
        return 0;
}

int esp_reset_release_to_loader(struct port *p, unsigned delay_ms)
{
        TRY(set(p, true, false));      /* release reset, IO0 low */
        port_sleep_ms(p, delay_ms);
        TRY(set(p, false, false));
        return 0;
}

int esp_reset_usb_jtag(struct port *p)
{
        TRY(set(p, false, false));     /* RTS=F, DTR=F: idle */
        port_sleep_ms(p, 100);
        TRY(set(p, true, false));      /* DTR=T: boot pin low */
        port_sleep_ms(p, 100);
        TRY(set(p, true, true));       /* RTS=T */
        TRY(set(p, false, true));      /* DTR=F, through (1,1) rather than (0,0) */
        TRY(set(p, false, true));      /* RTS=T again */
        port_sleep_ms(p, 100);
        TRY(set(p, false, true));      /* DTR=F */
        TRY(set(p, false, false));     /* RTS=F: run */
        return 0;
}

int esp_reset_hard(struct port *p, bool usb)
{
        TRY(port_reset_pulse(p, usb ? 200 : 100, false, NULL)); /* EN low, IO0 high; released */
        if (usb)
                port_sleep_ms(p, 200);
        return 0;
}
