/* /ws/v1/events: every bus event as a JSON text message. One shared ring of the last
 * WS_EVENTS_RING events, a read position per client; a client that falls further behind skips
 * ahead and is told {"type":"dropped","events":N}. ?since=SEQ replays from the bus history. */
#include "ws_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

/* Bus callback: runs on the publishing thread with the bus lock held; copy and wake only. */
static void on_event(void *user, uint64_t seq, const char *type, const char *text)
{
        (void)type;
        struct ws_server *s = user;
        char *copy = strdup(text);
        if (!copy)
                return;
        pthread_mutex_lock(&s->ev.mu);
        size_t slot = (size_t)(s->ev.pos % WS_EVENTS_RING);
        free(s->ev.text[slot]);
        s->ev.text[slot] = copy;
        s->ev.pos++;
        s->ev.last_seq = seq;
        pthread_mutex_unlock(&s->ev.mu);
        ws_wake(s);
}

int ws_events_init(struct ws_server *s)
{
        pthread_mutex_init(&s->ev.mu, NULL);
        int r = events_subscribe(s->o.events, on_event, s);
        if (r < 0)
                return r;
        s->subscribed = true;
        /* Events published before now are only in the bus history (for ?since=). */
        uint64_t last = events_last_seq(s->o.events);
        pthread_mutex_lock(&s->ev.mu);
        if (s->ev.pos == 0 && s->ev.last_seq < last)
                s->ev.last_seq = last;
        pthread_mutex_unlock(&s->ev.mu);
        return 0;
}

void ws_events_unsubscribe(struct ws_server *s)
{
        if (s->subscribed)
                events_unsubscribe(s->o.events, on_event, s);
        s->subscribed = false;
}

void ws_events_free_ring(struct ws_server *s)
{
        for (size_t i = 0; i < WS_EVENTS_RING; i++)
                free(s->ev.text[i]);
        pthread_mutex_destroy(&s->ev.mu);
}

int ws_events_open(struct ws_session *ss, int64_t since)
{
        struct ws_server *s = ss->s;
        pthread_mutex_lock(&s->ev.mu);
        ss->ev_tail = s->ev.pos;
        uint64_t upto = s->ev.last_seq; /* later events come from the ring */
        pthread_mutex_unlock(&s->ev.mu);
        if (since < 0 || (uint64_t)since >= upto)
                return 0;
        json_t *arr = events_since(s->o.events, (uint64_t)since);
        if (!arr)
                return -ENOMEM;
        size_t n = json_array_size(arr);
        ss->backlog = calloc(n ? n : 1, sizeof(char *));
        if (!ss->backlog) {
                json_decref(arr);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n && ss->nbacklog < WS_EVENTS_BACKLOG; i++) {
                json_t *e = json_array_get(arr, i);
                if ((uint64_t)json_integer_value(json_object_get(e, "seq")) > upto)
                        break;
                char *text = json_dumps(e, JSON_COMPACT);
                if (text)
                        ss->backlog[ss->nbacklog++] = text;
        }
        json_decref(arr);
        uint64_t wanted = upto - (uint64_t)since;
        ss->ev_lost_pending = wanted > ss->nbacklog ? wanted - ss->nbacklog : 0;
        return 0;
}

void ws_events_close(struct ws_session *ss)
{
        for (size_t i = ss->backlog_at; i < ss->nbacklog; i++)
                free(ss->backlog[i]);
        free(ss->backlog);
        ss->backlog = NULL;
        ss->nbacklog = ss->backlog_at = 0;
}

bool ws_events_pending(struct ws_session *ss)
{
        if (ss->ev_lost_pending || ss->backlog_at < ss->nbacklog)
                return true;
        pthread_mutex_lock(&ss->s->ev.mu);
        bool r = ss->ev_tail < ss->s->ev.pos;
        pthread_mutex_unlock(&ss->s->ev.mu);
        return r;
}

/* Send text (owned, freed here) as one frame. */
static int send_owned(struct ws_session *ss, char *text)
{
        size_t len = strlen(text);
        unsigned char *buf = malloc(LWS_PRE + len);
        int r = -1;
        if (buf) {
                memcpy(buf + LWS_PRE, text, len);
                r = ws_write_frame(ss, buf + LWS_PRE, len, true);
                free(buf);
        }
        free(text);
        return r;
}

int ws_events_writeable(struct ws_session *ss)
{
        struct ws_server *s = ss->s;
        char *text = NULL;
        if (!ss->ev_lost_pending && ss->backlog_at < ss->nbacklog) {
                text = ss->backlog[ss->backlog_at];
                ss->backlog[ss->backlog_at++] = NULL;
        } else if (!ss->ev_lost_pending) {
                pthread_mutex_lock(&s->ev.mu);
                if (s->ev.pos - ss->ev_tail > WS_EVENTS_RING) {
                        uint64_t lost = s->ev.pos - WS_EVENTS_RING - ss->ev_tail;
                        ss->ev_tail += lost;
                        ss->ev_lost_pending = lost;
                } else if (ss->ev_tail < s->ev.pos) {
                        text = strdup(s->ev.text[ss->ev_tail % WS_EVENTS_RING]);
                        ss->ev_tail++;
                }
                pthread_mutex_unlock(&s->ev.mu);
        }
        if (ss->ev_lost_pending) {
                char notice[96];
                snprintf(notice, sizeof(notice), "{\"type\":\"dropped\",\"events\":%llu}",
                         (unsigned long long)ss->ev_lost_pending);
                ss->ev_lost_pending = 0;
                text = strdup(notice);
        }
        if (!text)
                return 0;
        if (send_owned(ss, text) < 0)
                return -1;
        lws_callback_on_writable(ss->wsi);
        return 0;
}
