/* Recognising esptool's reset patterns in a stream of DTR/RTS requests (see the header). */
#include "engines/rfc2217/rfc2217_resetwatch.h"

#include <string.h>

void resetwatch_init(struct resetwatch *w)
{
        memset(w, 0, sizeof(*w));
}

enum resetwatch_verdict resetwatch_lines(struct resetwatch *w, bool dtr, bool rts, uint64_t now_ms)
{
        bool was_reset = w->in_reset;
        uint64_t held = was_reset ? now_ms - w->reset_since_ms : 0;
        w->dtr = dtr;
        w->rts = rts;
        w->in_reset = rts && !dtr;
        if (w->in_reset && !was_reset)
                w->reset_since_ms = now_ms;

        if (w->suppress) {
                /* The client is walking through the rest of the sequence we already performed:
                 * (T,T) -> (T,F) -> (F,F). Back to mirroring at (F,F), or on anything else that
                 * is not part of it (a new reset), or after the deadline. */
                if (!dtr && !rts) {
                        w->suppress = false;
                        return RESETWATCH_IGNORE;
                }
                if (now_ms < w->suppress_until_ms && dtr)
                        return RESETWATCH_IGNORE;
                w->suppress = false;
        }
        /* EN held low, then DTR asserted while RTS still is: (F,T) -> (T,T). Classic and
         * unix-tight both pass here on their way to (T,F) = EN high with IO0 low. */
        if (was_reset && dtr && rts && held >= RESETWATCH_MIN_HOLD_MS) {
                w->suppress = true;
                w->suppress_until_ms = now_ms + RESETWATCH_SUPPRESS_MS;
                return RESETWATCH_LOADER_RESET;
        }
        /* Straight to (T,F) (a client that sets both lines at once): the same intent. */
        if (was_reset && dtr && !rts && held >= RESETWATCH_MIN_HOLD_MS) {
                w->suppress = true;
                w->suppress_until_ms = now_ms + RESETWATCH_SUPPRESS_MS;
                return RESETWATCH_LOADER_RESET;
        }
        /* EN released with IO0 high after a real hold: esptool's hard reset (run the firmware). */
        if (was_reset && !dtr && !rts && held >= RESETWATCH_MIN_HOLD_MS)
                return RESETWATCH_HARD_RESET;
        return RESETWATCH_APPLY;
}
