/* LISTEN on PostgreSQL channels over a connection of its own (the store's connection runs
 * statements under the store lock; this one only waits): a file descriptor to poll, and a drain
 * that says which channels were notified. A lost connection is re-made with backoff (200 ms to
 * 5 s) and reported as "every channel notified", since notifications sent meanwhile are lost.
 * One thread uses a listener at a time. */
#ifndef CORRAL_STORE_DB_LISTEN_H
#define CORRAL_STORE_DB_LISTEN_H

#include <stddef.h>

struct db_listener;

#define DB_LISTEN_MAX_CHANNELS 8

/* Connect to url (as db_open_pg) and LISTEN on each of channels (NULL-terminated, at most
 * DB_LISTEN_MAX_CHANNELS, plain identifiers). 0 or negative errno with msg set. The channel
 * strings must outlive the listener. */
int db_listener_open(const char *url, const char *const *channels, struct db_listener **ret, char *msg,
                     size_t msg_size);
struct db_listener *db_listener_close(struct db_listener *l); /* NULL-safe, returns NULL */
/* The socket to poll for input, or -1 while the connection is down. */
int db_listener_fd(struct db_listener *l);
/* Read what arrived without blocking: *mask gets bit i for each channels[i] notified (all bits
 * after a reconnect). Returns the number of notifications, or -ENOTCONN while the connection is
 * down (a reconnect is tried when its backoff step is due). */
int db_listener_drain(struct db_listener *l, unsigned *mask);

#endif
