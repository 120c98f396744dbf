/* Server-side ESP reset: watches the DTR/RTS changes an RFC 2217 client asks for and says when
 * they spell esptool's loader reset (classic or unix-tight) or its hard reset, so the caller
 * can perform the sequence with board-side timing (pyserial waits ~50 ms per line change, far
 * longer than the few ms between EN rising and the chip sampling its strap pin). Pure: the
 * caller passes the time. Lines are logical (true = asserted); on the two-transistor auto-reset
 * circuit EN is low when RTS && !DTR and IO0 is low when DTR && !RTS. */
#ifndef CORRAL_RFC2217_RESETWATCH_H
#define CORRAL_RFC2217_RESETWATCH_H

#include <stdbool.h>
#include <stdint.h>

/* EN must have been held low this long for a release to count as a reset (esptool: 100 ms). */
#define RESETWATCH_MIN_HOLD_MS 20
/* After a loader reset, the client's remaining steps are not applied until its lines are back
 * at (F,F) or this long has passed. */
#define RESETWATCH_SUPPRESS_MS 2000

enum resetwatch_verdict {
        RESETWATCH_APPLY,        /* set the lines as the client asked */
        RESETWATCH_IGNORE,       /* nothing to do (the caller's reset already got there) */
        RESETWATCH_LOADER_RESET, /* the board is in reset: release it with IO0 low now, then IO0 high */
        RESETWATCH_HARD_RESET,   /* EN released with IO0 high after a reset hold: apply (counts as one) */
};

struct resetwatch {
        bool dtr, rts;           /* what the client asked last */
        bool in_reset;           /* client lines are (F,T) */
        uint64_t reset_since_ms;
        bool suppress;
        uint64_t suppress_until_ms;
};

void resetwatch_init(struct resetwatch *w);
/* The client asked for (dtr, rts) at now_ms. */
enum resetwatch_verdict resetwatch_lines(struct resetwatch *w, bool dtr, bool rts, uint64_t now_ms);

#endif
