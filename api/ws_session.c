/* What a WebSocket session's endpoints (ws_console.c, ws_events.c) and the server (ws.c) share:
 * waking the service thread, writing a frame, and the session's queue of JSON replies. Calls
 * nothing in ws.c or the endpoints, so the three depend on this file and never on each other. */
#include "ws_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_wake(void *server)
{
        struct ws_server *s = server;
        pthread_mutex_lock(&s->mu);
        if (s->live && !s->wake_pending) {
                s->wake_pending = true;
                lws_cancel_service(s->ctx);
        }
        pthread_mutex_unlock(&s->mu);
}

int ws_write_frame(struct ws_session *ss, unsigned char *buf, size_t len, bool text)
{
        int n = lws_write(ss->wsi, buf, len, text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY);
        return n < (int)len ? -1 : 0;
}

void ws_reply(struct ws_session *ss, const char *type, const char *code, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        json_t *j = json_pack("{s:s, s:s*, s:s}", "type", type, "code", code, "message", message);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return;
        if (ss->nreplies == WS_REPLIES) { /* a client flooding bad requests loses old answers */
                free(ss->replies[0]);
                memmove(ss->replies, ss->replies + 1, (WS_REPLIES - 1) * sizeof(ss->replies[0]));
                ss->nreplies--;
        }
        ss->replies[ss->nreplies++] = text;
        lws_callback_on_writable(ss->wsi);
}

int ws_write_reply(struct ws_session *ss)
{
        if (!ss->nreplies)
                return 0;
        char *text = ss->replies[0];
        memmove(ss->replies, ss->replies + 1, (ss->nreplies - 1) * sizeof(ss->replies[0]));
        ss->nreplies--;
        size_t len = strlen(text);
        unsigned char buf[LWS_PRE + 1200];
        int r = 1;
        if (len < sizeof(buf) - LWS_PRE) {
                memcpy(buf + LWS_PRE, text, len);
                r = ws_write_frame(ss, buf + LWS_PRE, len, true) < 0 ? -1 : 1;
        }
        free(text);
        return r;
}

