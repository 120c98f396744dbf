/* The console WebSocket's status messages as JSON text: the daemon's console (jobs/console.c)
 * hands each viewer struct console_msg data; this file alone knows their wire form
 * (api/websocket.md). */
#include "ws_console_wire.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *holder(const struct console_msg *m)
{
        if (!m->holder)
                return json_null();
        return json_pack("{s:i, s:s}", "viewer", (int)m->holder, "name", m->holder_name);
}

/* hello and status share these, in this order. */
static json_t *state(const struct console_msg *m, const char *type)
{
        return json_pack("{s:s, s:b, s:b, s:o, s:s*, s:s}", "type", type, "online", m->online, "busy", m->busy,
                         "job", m->job ? json_integer(m->job) : json_null(), "kind", m->job ? m->kind : NULL,
                         "reason", m->reason);
}

static json_t *hello(const struct console_msg *m)
{
        json_t *j = state(m, "hello");
        json_object_set_new(j, "board", json_string(m->board));
        json_object_set_new(j, "viewer", json_integer(m->viewer));
        json_object_set_new(j, "writer", json_false());
        json_object_set_new(j, "holder", holder(m));
        json_object_set_new(j, "replay_bytes", json_integer((json_int_t)m->replay_bytes));
        return j;
}

static json_t *to_json(const struct console_msg *m)
{
        switch (m->type) {
        case CONSOLE_MSG_HELLO:
                return hello(m);
        case CONSOLE_MSG_STATUS:
                return state(m, "status");
        case CONSOLE_MSG_LOCK:
                return json_pack("{s:s, s:o, s:b, s:s*, s:s*}", "type", "lock", "holder", holder(m), "writer",
                                 m->writer, "code", m->why_given ? m->code : NULL, "reason",
                                 m->why_given ? m->why : NULL);
        case CONSOLE_MSG_DROPPED:
                return json_pack("{s:s, s:I, s:I}", "type", "dropped", "bytes", (json_int_t)m->bytes, "total",
                                 (json_int_t)m->total);
        case CONSOLE_MSG_RESET:
                return json_pack("{s:s, s:b, s:s}", "type", "reset", "ok", m->ok, "message", m->message);
        }
        return NULL;
}

char *ws_console_wire(const struct console_msg *m)
{
        json_t *j = m ? to_json(m) : NULL;
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text && strlen(text) >= CONSOLE_TEXT_MAX) {
                free(text);
                return NULL;
        }
        return text;
}
