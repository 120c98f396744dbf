/* Where each board of the farm is: board id -> the host it is attached to and that host's
 * advertised API URL, for boards on other hosts (console relays, api/ws_relay.c). A thread
 * refreshes it from the store (PostgreSQL only) so that lookups are memory only: the WebSocket
 * service thread never waits for the store. */
#ifndef CORRAL_FARM_ROUTES_H
#define CORRAL_FARM_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct farm_routes;

struct farm_route {
        char host[64];          /* the host the board is attached to (never this one) */
        char api_url[256];      /* its advertised API URL, "" when its host row is missing */
        bool alive;             /* its heartbeat is within the bound (as of the last refresh) */
};

/* Refresh every period_ms (and at once) from st, which must outlive the result. On a store that
 * is not PostgreSQL *ret is NULL (no farm, nothing to route) and 0 is returned. -ENOMEM or a
 * thread error otherwise. */
int farm_routes_start(struct store *st, int64_t period_ms, struct farm_routes **ret);
/* Stop the thread, free. NULL-safe; returns NULL. */
struct farm_routes *farm_routes_stop(struct farm_routes *fr);
/* Memory only, any thread. 0 with *ret filled, -ENOENT when, as of the last refresh, the board
 * is not on another host (or fr is NULL). */
int farm_routes_lookup(struct farm_routes *fr, const char *board, struct farm_route *ret);
/* Refresh soon (e.g. after a miss: a board added on another host since). Any thread. */
void farm_routes_kick(struct farm_routes *fr);

#endif
