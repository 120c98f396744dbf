/* The board fact "boot": what the board does when it starts, as last seen in a ROM boot log (the
 * console's wrong-baud annotator, a flash job's boot check) or by a MicroPython REPL answering.
 * {"state": "boot_loop" | "no_boot" | "download_mode" | "booted" | "flashed", "reason": "flash blank" | ...,
 *  "rst_cause": 2, "resets": 3, "source": "console" | "flash" | "identify", "seen": ISO time}.
 * Pure: builds the value, the caller stores it. */
#ifndef CORRAL_BOOT_STATE_H
#define CORRAL_BOOT_STATE_H

#include <jansson.h>

#include "engines/esp/bootlog.h"

/* The fact for a classified boot log (new reference), or NULL when the log says nothing definite
 * (silent, unknown output). source: who read it; seen: ISO time (NULL: now). */
json_t *boot_state_from_bootlog(const struct bootlog_result *d, const char *source, const char *seen);
/* The fact for a board seen to start its firmware (a verified flash, a REPL that answered). */
json_t *boot_state_booted(const char *source, const char *seen);
/* The fact after a flash that was not checked by a boot (boot_check false, reset none): the old
 * state no longer holds, the new one is not known. */
json_t *boot_state_flashed(const char *seen);
/* Is value a state that a good boot must replace (boot_loop, no_boot, download_mode)? */
int boot_state_is_bad(const json_t *value);

#endif
