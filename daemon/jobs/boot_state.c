/* The board fact "boot" from a classified ROM boot log or a good start (see boot_state.h). */
#include "jobs/boot_state.h"

#include <string.h>

#include "util.h"

static json_t *fact(const char *state, const char *reason, int rst_cause, unsigned resets, const char *source,
                    const char *seen)
{
        char now[40];
        if (!seen) {
                util_now_iso(now, sizeof(now));
                seen = now;
        }
        json_t *v = json_pack("{s:s, s:s?, s:s?, s:s}", "state", state, "reason", reason, "source", source, "seen",
                              seen);
        if (v && rst_cause >= 0)
                json_object_set_new(v, "rst_cause", json_integer(rst_cause));
        if (v && resets)
                json_object_set_new(v, "resets", json_integer(resets));
        return v;
}

json_t *boot_state_from_bootlog(const struct bootlog_result *d, const char *source, const char *seen)
{
        if (!d)
                return NULL;
        /* The same words as the console's annotation: two reset lines or more make a loop. */
        const char *stuck = d->resets >= 2 ? "boot_loop" : "no_boot";
        switch (d->cls) {
        case BOOTLOG_BLANK_FLASH:
                return fact(stuck, "flash blank", d->reset_cause, d->resets, source, seen);
        case BOOTLOG_BAD_IMAGE:
        case BOOTLOG_BOOT_LOOP:
                return fact(d->cls == BOOTLOG_BOOT_LOOP ? "boot_loop" : stuck,
                            d->flash_mode_suspect ? "flash mode does not suit the module" : "firmware does not start",
                            d->reset_cause, d->resets, source, seen);
        case BOOTLOG_DOWNLOAD_MODE:
                return fact("download_mode", "GPIO0 held low", d->reset_cause, d->resets, source, seen);
        case BOOTLOG_BOOTED:
                return fact("booted", d->mp_version[0] ? "MicroPython" : NULL, d->reset_cause, 0, source, seen);
        default:
                return NULL;
        }
}

json_t *boot_state_booted(const char *source, const char *seen)
{
        return fact("booted", NULL, -1, 0, source, seen);
}

json_t *boot_state_flashed(const char *seen)
{
        return fact("flashed", "not checked by a boot", -1, 0, "flash", seen);
}

int boot_state_is_bad(const json_t *value)
{
        const char *s = json_string_value(json_object_get(value, "state"));
        return s && (!strcmp(s, "boot_loop") || !strcmp(s, "no_boot") || !strcmp(s, "download_mode"));
}
