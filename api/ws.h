/* The WebSocket side of corrald (libwebsockets): /ws/v1/boards/{id}/console and /ws/v1/events,
 * on sockets the front door hands over after peeking at their request line. lws runs in its own
 * service thread; other threads reach it only through ws_adopt() and the console/event wakes. */
#ifndef CORRAL_WS_H
#define CORRAL_WS_H

#include <stddef.h>
#include <sys/socket.h>

struct registry;
struct events;
struct config_live;
struct console_dir;
struct ws_server;
struct auth;
struct conn_budget;
struct store;

struct ws_opts {
        struct registry *registry;     /* borrowed: board lookups */
        struct events *events;         /* borrowed: subscribed for /ws/v1/events */
        struct config_live *config;    /* borrowed: the running config (ws_origins, max_viewers) */
        struct console_dir *consoles;  /* borrowed: where the workers' consoles are */
        struct auth *auth;             /* borrowed: who may open a socket (viewer), write (operator) */
        struct conn_budget *budget;    /* borrowed: each adopted socket was counted (CONN_WS) */
        struct store *store;           /* borrowed, may be NULL: on PostgreSQL, where other hosts' boards are
                                        * (their consoles are relayed, ws_relay.c) */
};

/* Create the lws context (no listener), subscribe to events and start the service thread.
 * msg gets a plain reason on failure. */
int ws_start(const struct ws_opts *o, struct ws_server **ret, char *msg, size_t msg_size);
/* Hand over an accepted socket from addr whose first request is for /ws/...; lws does the
 * handshake. Safe from any thread. Takes the fd in every case (closed on failure: -ESHUTDOWN,
 * -EAGAIN) and the budget's count for it (given back when the connection ends or at once). */
int ws_adopt(struct ws_server *s, int fd, const struct sockaddr *addr, socklen_t addrlen);
/* Stop the thread, close every session, free. NULL-safe; returns NULL. */
struct ws_server *ws_stop(struct ws_server *s);

#endif
