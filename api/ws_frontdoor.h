/* The front door: corrald's one listening socket for people. A thread accepts and holds each
 * connection until its whole request head has arrived (recv MSG_PEEK, bounded in size and in
 * time from accept), then hands GET /ws/... to the WebSocket server and everything else to the
 * HTTP server, which thus never wait on a slow head. A keep-alive connection stays with whichever
 * server got its first request. Idle or trickling connections cannot hold the door: each has a
 * deadline, one address keeps at most max_pending_per_address undecided ones (a new one evicts
 * its oldest), and a full table evicts the oldest of all. Out of file descriptors, it refuses
 * one connection through a reserve descriptor and pauses accepting instead of spinning. */
#ifndef CORRAL_WS_FRONTDOOR_H
#define CORRAL_WS_FRONTDOOR_H

#include <jansson.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conn_budget.h"
#include "error.h"

#define FRONTDOOR_HEAD_MAX 16384       /* a request head longer than this: header_too_large */
#define FRONTDOOR_PENDING_MAX 256      /* undecided connections; when full the oldest is evicted */
#define FRONTDOOR_PAUSE_MS 100         /* accepting pauses this long when out of descriptors */

struct frontdoor;

/* Receives an accepted socket it now owns (it must close it, also on failure). */
typedef void (*frontdoor_fn)(void *user, int fd, const struct sockaddr *addr, socklen_t addrlen);

struct frontdoor_limits {
        unsigned head_timeout_ms;       /* accept to the end of the request head */
        unsigned pending_per_addr;      /* undecided connections per client address */
};

struct frontdoor_opts {
        int listen_fd;          /* bound and listening; the front door owns it once started */
        frontdoor_fn to_http, to_ws;
        /* The limits now (read at every accept, so a reload applies to new connections). */
        void (*limits)(void *user, struct frontdoor_limits *l);
        struct conn_budget *budget; /* borrowed: refusal counters, pending gauge; reaped each second */
        void *user;
};

enum frontdoor_route { FRONTDOOR_MORE, FRONTDOOR_HTTP, FRONTDOOR_WS, FRONTDOOR_TOO_LARGE };
/* Pure: where a connection whose first bytes are buf goes (MORE: the head is not complete yet;
 * TOO_LARGE: FRONTDOOR_HEAD_MAX bytes and still no end of the head). */
enum frontdoor_route frontdoor_classify(const char *buf, size_t len);

/* Pure: is the complete head in buf well-formed enough for the servers behind the door? A request
 * line `METHOD SP TARGET SP HTTP/1.x` (METHOD a token, TARGET without spaces or control bytes) and
 * header lines `name: value` (name a token). Returns CORRAL_OK, or the code to refuse with
 * (CORRAL_E_BAD_REQUEST, or CORRAL_E_HTTP_VERSION_NOT_SUPPORTED for another HTTP version) and a
 * sentence naming the problem in msg. Checked here so that a
 * malformed head gets corral's JSON error, not libmicrohttpd's own HTML page. */
enum corral_err frontdoor_check_head(const char *buf, size_t len, char *msg, size_t msg_size);

/* Answer fd with code's HTTP error (JSON body {"error":{code,message,details}}, Connection: close,
 * Retry-After: 1 for a limit reached) without blocking, and close it. Takes details (may be NULL). */
void frontdoor_refuse(int fd, enum corral_err code, json_t *details, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

int frontdoor_start(const struct frontdoor_opts *o, struct frontdoor **ret);
/* Stop accepting, close undecided connections and the listening socket. NULL-safe; NULL. */
struct frontdoor *frontdoor_stop(struct frontdoor *f);

#endif
