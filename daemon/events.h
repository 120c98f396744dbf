/* The event bus: hotplug, board changes, job state/progress/output as JSON messages with a
 * sequence number. Subscribers (the WebSocket server, tests) get each event's serialised text;
 * a bounded history lets pollers catch up. Thread-safe. */
#ifndef CORRAL_EVENTS_H
#define CORRAL_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#define EVENTS_HISTORY 1024

struct events;

/* Called with the serialised event {"seq","type","time","data"}; text is borrowed for the call.
 * Runs on the publishing thread with the bus lock held: copy and return, never block. */
typedef void (*events_fn)(void *user, uint64_t seq, const char *type, const char *text);

int events_new(struct events **ret);
struct events *events_free(struct events *ev); /* NULL-safe */
/* Publish; steals data (may be NULL). Returns the event's sequence number. */
uint64_t events_publish(struct events *ev, const char *type, json_t *data);
int events_subscribe(struct events *ev, events_fn fn, void *user);
void events_unsubscribe(struct events *ev, events_fn fn, void *user);
/* Events with seq > since, oldest first (new array). Older ones than the history are gone. */
json_t *events_since(struct events *ev, uint64_t since);
uint64_t events_last_seq(struct events *ev);

#endif
