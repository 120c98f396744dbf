/* The connection budget: connections corrald holds per client address (HTTP and WebSocket, after
 * the front door), the limits on them, and counters of refused connections for /metrics.
 * Thread-safe: the front door, MHD's notifications and the WebSocket thread all use it. */
#ifndef CORRAL_CONN_BUDGET_H
#define CORRAL_CONN_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum conn_kind { CONN_HTTP, CONN_WS, CONN_KINDS };

/* Why a connection was refused or closed before it was served (metric label in conn_refusal_name). */
enum conn_refusal {
        CONN_REFUSED_MAX_CONNECTIONS,   /* max_connections reached (503) */
        CONN_REFUSED_PER_ADDRESS,       /* max_connections_per_address reached (429) */
        CONN_REFUSED_PENDING_ADDRESS,   /* evicted: newer undecided connection from the same address */
        CONN_REFUSED_PENDING_FULL,      /* evicted: the front door's table of undecided ones was full */
        CONN_REFUSED_HEAD_TIMEOUT,      /* no complete request head within head_timeout (408) */
        CONN_REFUSED_HEAD_TOO_LARGE,    /* request head over FRONTDOOR_HEAD_MAX (431) */
        CONN_REFUSED_BAD_HEAD,          /* malformed request line or header line (400, 505) */
        CONN_REFUSED_FD_LIMIT,          /* corrald out of file descriptors (EMFILE/ENFILE) */
        CONN_REFUSED_IDLE_TIMEOUT,      /* HTTP keep-alive: no complete next request within head_timeout */
        CONN_REFUSALS
};

struct conn_budget;

struct conn_budget_stats {
        unsigned open[CONN_KINDS];      /* connections held now, by kind */
        unsigned pending;               /* undecided, in the front door */
        uint64_t refused[CONN_REFUSALS];
        uint64_t accept_pauses;         /* times accepting paused because of the fd limit */
};

/* NULL on ENOMEM. */
struct conn_budget *conn_budget_new(void);
/* NULL-safe; returns NULL. */
struct conn_budget *conn_budget_free(struct conn_budget *b);
/* Count one connection of kind from addr, unless all connections (every kind) would exceed
 * max_total or addr's would exceed max_addr (0: no limit). 0, -EBUSY (total), -EUSERS (address),
 * -ENOMEM. */
int conn_budget_take(struct conn_budget *b, const struct sockaddr *addr, enum conn_kind kind, unsigned max_total,
                     unsigned max_addr);
/* Give back what conn_budget_take counted. */
void conn_budget_put(struct conn_budget *b, const struct sockaddr *addr, enum conn_kind kind);
void conn_budget_refused(struct conn_budget *b, enum conn_refusal why);
void conn_budget_accept_paused(struct conn_budget *b);
void conn_budget_set_pending(struct conn_budget *b, unsigned n);
void conn_budget_stats(struct conn_budget *b, struct conn_budget_stats *st);
const char *conn_refusal_name(enum conn_refusal why);

/* HTTP connections between requests (or in an unauthenticated one): after the front door, a
 * keep-alive connection's next request head, and a refused request's body, get the same
 * deadline as the first head. MHD cannot do that itself (its timeout is per inactivity), so a
 * watched connection idle past its deadline is shut down (SHUT_RDWR) and MHD closes it. */
struct conn_watch;
/* Watch fd, idle until deadline_ms (CLOCK_MONOTONIC, util_mono_ms). NULL on ENOMEM. */
struct conn_watch *conn_budget_watch(struct conn_budget *b, int fd, uint64_t deadline_ms);
/* busy: serving a request (never shut); else idle until deadline_ms. NULL-safe. */
void conn_budget_busy(struct conn_budget *b, struct conn_watch *w, bool busy, uint64_t deadline_ms);
/* Stop watching and free w, before its fd is closed. NULL-safe. */
void conn_budget_unwatch(struct conn_budget *b, struct conn_watch *w);
/* Shut down the watched connections idle past their deadline (counted as idle_timeout). */
void conn_budget_reap(struct conn_budget *b, uint64_t now_ms);

#endif
