/* Shared by ws.c (context, thread, routing, origin check), ws_console.c and ws_events.c (the two
 * endpoints) and ws_session.c (waking, frames, replies: what the others share, so that ws.c calls
 * the endpoints and the endpoints never call ws.c). Everything here runs on the lws service
 * thread unless marked otherwise. */
#ifndef CORRAL_WS_INTERNAL_H
#define CORRAL_WS_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "ws.h"

#define WS_CHUNK 8192            /* largest console frame */
#define WS_FRAMES_PER_WRITEABLE 8 /* at most this many frames per WRITEABLE callback */
/* Kernel send buffer of a WebSocket: without a cap, TCP autotuning would let megabytes (and
 * seconds) pile up for a slow viewer before the console's own per-viewer limit and drop
 * counter ever see it. */
#define WS_SNDBUF 65536
#define WS_REPLIES 8             /* per-session replies (errors) waiting to be written */
/* Sockets handed over by the front door, waiting for the service thread to adopt them. A burst
 * of upgrades (200 viewers connecting at once) arrives faster than the service thread runs;
 * beyond this the connection is closed, so keep it well above any realistic burst. */
#define WS_ADOPT_QUEUE 1024
#define WS_EVENTS_RING 256       /* events kept for slow /ws/v1/events clients */
#define WS_EVENTS_BACKLOG 1024   /* at most this many replayed for ?since= */

#include "ws_parse.h" /* enum ws_kind */

struct ws_session {
        enum ws_kind kind;
        struct lws *wsi;
        struct ws_server *s;
        struct ws_session *prev, *next;
        char *replies[WS_REPLIES];      /* owned strings, oldest first */
        unsigned nreplies;
        struct auth_identity who;       /* authenticated at the upgrade */
        bool revoked;                   /* its session or token ended: closed at the next WRITEABLE */
        bool failed;                    /* its endpoint could not be opened: closed with fail_reason at
                                         * the next WRITEABLE */
        char fail_reason[124];
        bool farm;                      /* opened by another host of the farm on a user's behalf: its
                                         * identity is that host's word (ws_relay_identify) */
        struct ws_relay *relay;         /* a console of a board on another host: relayed (ws_relay.c) */
        /* console */
        struct console_viewer *viewer;
        char board[72];                 /* the console's board id (reservation checks on take) */
        int64_t lease;                  /* the reservation this viewer took the write lock with, 0: none */
        char rx[1024];                  /* a text (control) message being received */
        size_t nrx;
        bool rx_too_long;
        /* events */
        uint64_t ev_tail;               /* ring position of the next event to send */
        char **backlog;                 /* ?since= replay, owned */
        size_t nbacklog, backlog_at;
        uint64_t ev_lost_pending;       /* events to announce as dropped */
};

/* Events fan-out: the bus callback (any thread) appends, sessions read at their own pace. */
struct ws_evring {
        pthread_mutex_t mu;
        char *text[WS_EVENTS_RING];
        uint64_t pos;                   /* events ever appended */
        uint64_t last_seq;              /* bus sequence number of the last one */
};

struct ws_server {
        struct ws_opts o;
        struct lws_context *ctx;
        struct lws_vhost *vhost;
        pthread_t thread;
        bool thread_started;
        atomic_bool stop;
        pthread_mutex_t mu;             /* live, wake_pending, adopt queue */
        bool live, wake_pending;
        struct ws_adoptee {
                int fd;
                struct sockaddr_storage addr; /* its budget key */
        } adopt[WS_ADOPT_QUEUE], adopting[WS_ADOPT_QUEUE]; /* adopting: service thread's copy */
        bool recheck;                   /* auth revoked something: check every session's identity */
        unsigned nadopt;
        struct ws_session *sessions;    /* service thread only */
        struct ws_evring ev;
        bool subscribed;
        struct lws_vhost *relay_vhost;  /* the console relays' client connections (ws_relay.c) */
        struct farm_routes *routes;     /* boards on other hosts; NULL off a farm */
        lws_retry_bo_t relay_retry;     /* relays ping an idle owning host, hang up on silence */
};

/* ws_session.c. Wake the service thread (any thread; coalesced). Matches console_wake_fn. */
void ws_wake(void *server);
/* Queue a JSON text reply for the session (e.g. an error) and ask for WRITEABLE. */
void ws_reply(struct ws_session *ss, const char *type, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Write the oldest queued reply; 1 if one was written, 0 if none, -1 on a write failure. */
int ws_write_reply(struct ws_session *ss);
/* Write one frame from buf (which has LWS_PRE bytes of headroom before it). */
int ws_write_frame(struct ws_session *ss, unsigned char *buf, size_t len, bool text);

/* /ws/v1/boards/{id}/console. open: 0 or negative errno with msg. */
int ws_console_open(struct ws_session *ss, const char *board_id, const char *name, char *msg, size_t msg_size);
void ws_console_close(struct ws_session *ss);
int ws_console_receive(struct ws_session *ss, const void *in, size_t len);
int ws_console_writeable(struct ws_session *ss);
bool ws_console_pending(struct ws_session *ss);

/* ws_relay.c: consoles of boards on other hosts of the farm. init: after the context (the
 * client vhost, the routing table); fini: after the context is destroyed. */
struct farm_route;
int ws_relay_init(struct ws_server *s);
void ws_relay_fini(struct ws_server *s);
/* Is board on another host (memory only)? Fills ret. */
bool ws_relay_route(struct ws_server *s, const char *board, struct farm_route *ret);
/* A board known nowhere was asked for: refresh the table soon (it may be new on another host). */
void ws_relay_missed(struct ws_server *s);
/* An upgrade from another host of the farm (X-Corral-Farm): 1 when it is not one, 0 with who
 * (the viewer that host vouches for), -EPERM when its credential or identity is not valid. */
int ws_relay_identify(struct ws_server *s, struct lws *wsi, struct auth_identity *who);
/* Relay the session to route's host. 0 (a connection failure closes the socket later, with
 * its reason) or negative errno with msg (a close reason, short). */
int ws_relay_open(struct ws_session *ss, const char *board, const char *name, const struct farm_route *route,
                  char *msg, size_t msg_size);
void ws_relay_close(struct ws_session *ss);
int ws_relay_receive(struct ws_session *ss, const void *in, size_t len);
int ws_relay_writeable(struct ws_session *ss);

/* /ws/v1/events. init: ring + bus subscription (before the thread starts); unsubscribe: no bus
 * callbacks once it returns; free_ring: after every session closed. */
int ws_events_init(struct ws_server *s);
void ws_events_unsubscribe(struct ws_server *s);
void ws_events_free_ring(struct ws_server *s);
/* since: replay events after this sequence number (-1: none). */
int ws_events_open(struct ws_session *ss, int64_t since);
void ws_events_close(struct ws_session *ss);
int ws_events_writeable(struct ws_session *ss);
bool ws_events_pending(struct ws_session *ss);

#endif
