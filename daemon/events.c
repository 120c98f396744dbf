/* Event bus: a ring of the last EVENTS_HISTORY serialised events plus synchronous fan-out. */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_SUBS 64

struct sub {
        events_fn fn;
        void *user;
};

struct events {
        pthread_mutex_t mu;
        uint64_t seq;
        char *ring[EVENTS_HISTORY];
        struct sub subs[MAX_SUBS];
        size_t nsubs;
};

int events_new(struct events **ret)
{
        struct events *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        pthread_mutex_init(&ev->mu, NULL);
        *ret = ev;
        return 0;
}

struct events *events_free(struct events *ev)
{
        if (!ev)
                return NULL;
        for (size_t i = 0; i < EVENTS_HISTORY; i++)
                free(ev->ring[i]);
        pthread_mutex_destroy(&ev->mu);
        free(ev);
        return NULL;
}

uint64_t events_publish(struct events *ev, const char *type, json_t *data)
{
        if (!ev) {
                json_decref(data);
                return 0;
        }
        char when[40];
        util_now_iso(when, sizeof(when));
        pthread_mutex_lock(&ev->mu);
        uint64_t seq = ++ev->seq;
        json_t *msg = json_pack("{s:I, s:s, s:s, s:o}", "seq", (json_int_t)seq, "type", type, "time", when,
                                "data", data ? data : json_object());
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        json_decref(msg);
        if (text) {
                size_t slot = seq % EVENTS_HISTORY;
                free(ev->ring[slot]);
                ev->ring[slot] = text;
                for (size_t i = 0; i < ev->nsubs; i++)
                        ev->subs[i].fn(ev->subs[i].user, seq, type, text);
        }
        pthread_mutex_unlock(&ev->mu);
        return seq;
}

int events_subscribe(struct events *ev, events_fn fn, void *user)
{
        pthread_mutex_lock(&ev->mu);
        int r = -ENOSPC;
        if (ev->nsubs < MAX_SUBS) {
                ev->subs[ev->nsubs++] = (struct sub){ fn, user };
                r = 0;
        }
        pthread_mutex_unlock(&ev->mu);
        return r;
}

void events_unsubscribe(struct events *ev, events_fn fn, void *user)
{
        pthread_mutex_lock(&ev->mu);
        for (size_t i = 0; i < ev->nsubs; i++)
                if (ev->subs[i].fn == fn && ev->subs[i].user == user) {
                        ev->subs[i] = ev->subs[--ev->nsubs];
                        break;
                }
        pthread_mutex_unlock(&ev->mu);
}

json_t *events_since(struct events *ev, uint64_t since)
{
        json_t *arr = json_array();
        pthread_mutex_lock(&ev->mu);
        uint64_t first = ev->seq > EVENTS_HISTORY ? ev->seq - EVENTS_HISTORY + 1 : 1;
        if (since + 1 > first)
                first = since + 1;
        for (uint64_t s = first; s <= ev->seq; s++) {
                const char *text = ev->ring[s % EVENTS_HISTORY];
                json_t *j = text ? json_loads(text, 0, NULL) : NULL;
                if (j)
                        json_array_append_new(arr, j);
        }
        pthread_mutex_unlock(&ev->mu);
        return arr;
}

uint64_t events_last_seq(struct events *ev)
{
        pthread_mutex_lock(&ev->mu);
        uint64_t s = ev->seq;
        pthread_mutex_unlock(&ev->mu);
        return s;
}
