/* mp_session: what one MicroPython REPL session learned that the next session on the same port may
 * reuse (where it left the board, raw-paste support, filesystem capabilities, the banner), as
 * plain data a caller keeps between jobs (the port worker's memo, job_run.h). */
#ifndef CORRAL_MP_SESSION_H
#define CORRAL_MP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "engines/mp/mp_repl.h"

#define MP_SESSION_MAGIC 0x3153504du /* "MPS1" */

/* Plain data, no pointers: copy it, keep it in a zero-filled block, compare it. All zero (or any
 * other magic) means nothing is known. */
struct mp_session {
        uint32_t magic;
        int32_t mode;      /* enum mp_mode the board was left in; a hint, checked before it is trusted */
        int32_t raw_paste; /* as struct mp_repl: -1 not probed, 0 no, 1 yes */
        uint32_t fs_caps;  /* as struct mp_repl (MP_FS_PROBED set when valid) */
        char banner[160];
};

/* Record what r knows (at the end of a session, whatever its outcome). */
void mp_session_save(const struct mp_repl *r, struct mp_session *s);
/* Start r (just after mp_repl_init()) from what an earlier session on the same port learned:
 * raw-paste support, fs capabilities and banner as they are; the mode only when !disturbed
 * (nothing else used the port since), as r->kept_mode for mp_repl_connect() to check. A NULL or
 * unknown s changes nothing. */
void mp_session_load(struct mp_repl *r, const struct mp_session *s, bool disturbed);

#endif
