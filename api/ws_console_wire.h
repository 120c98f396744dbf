/* The console WebSocket's status messages on the wire: a struct console_msg (jobs/console.h) as
 * the JSON text api/websocket.md documents (hello, status, lock, dropped, reset). Pure. */
#ifndef CORRAL_WS_CONSOLE_WIRE_H
#define CORRAL_WS_CONSOLE_WIRE_H

#include "jobs/console.h"

/* The compact JSON text of m (caller frees), or NULL when out of memory or when the text would be
 * CONSOLE_TEXT_MAX bytes or longer (such a message is not sent). */
char *ws_console_wire(const struct console_msg *m);

#endif
