/* The front door: corrald's one listening socket for people. A thread accepts, peeks at each
 * connection's request line (recv MSG_PEEK, bounded in size and time) and hands GET /ws/...
 * to the WebSocket server and everything else to the HTTP server. A keep-alive connection stays
 * with whichever server got its first request. */
#ifndef CORRAL_WS_FRONTDOOR_H
#define CORRAL_WS_FRONTDOOR_H

#include <stddef.h>
#include <sys/socket.h>

#define FRONTDOOR_PEEK_MAX 2048        /* a request line longer than this goes to HTTP (414 there) */
#define FRONTDOOR_PEEK_TIMEOUT_MS 10000 /* silent connections go to HTTP after this (its timeout) */
#define FRONTDOOR_PENDING_MAX 64       /* undecided connections; beyond this accepting waits */

struct frontdoor;

/* Receives an accepted socket it now owns (it must close it, also on failure). */
typedef void (*frontdoor_fn)(void *user, int fd, const struct sockaddr *addr, socklen_t addrlen);

struct frontdoor_opts {
        int listen_fd;          /* bound and listening; the front door owns it once started */
        frontdoor_fn to_http, to_ws;
        void *user;
};

enum frontdoor_route { FRONTDOOR_MORE, FRONTDOOR_HTTP, FRONTDOOR_WS };
/* Pure: where a connection whose first bytes are buf goes (MORE: not enough bytes yet). */
enum frontdoor_route frontdoor_classify(const char *buf, size_t len);

int frontdoor_start(const struct frontdoor_opts *o, struct frontdoor **ret);
/* Stop accepting, close undecided connections and the listening socket. NULL-safe; NULL. */
struct frontdoor *frontdoor_stop(struct frontdoor *f);

#endif
