/* Boards explain themselves: an idle board that appears (plugged in, replugged, a static port
 * that comes up) gets an identify job on its own, so chip, MAC and firmware fill in without a
 * click. Never while the board is busy or leased; config key auto_identify (default on). */
#ifndef CORRAL_AUTO_IDENTIFY_H
#define CORRAL_AUTO_IDENTIFY_H

#include <stdbool.h>

struct auto_identify;
struct events;
struct registry;
struct config_live;

/* Watch ev for board events and queue identify jobs through reg (both borrowed, outlive it);
 * config is read per board (auto_identify off: nothing is queued). 0 or -errno. */
int auto_identify_start(struct events *ev, struct registry *reg, struct config_live *config,
                        struct auto_identify **ret);
/* Stop the thread and unsubscribe; NULL-safe; returns NULL. */
struct auto_identify *auto_identify_stop(struct auto_identify *a);

/* The decision, pure: given the board's row (GET /boards/{id} JSON) and whether the board is
 * "armed" (seen absent or never seen), returns 1 = identify now, 0 = nothing, and sets *armed
 * to what it should be next. Exposed for the unit test. */
int auto_identify_decide(const void *board_row, bool *armed);

#endif
