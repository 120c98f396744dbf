/* The connection budget: connections corrald holds per client address (HTTP and WebSocket, after
 * the front door), the limits on them, and counters of refused connections for /metrics.
 * Thread-safe: the front door, MHD's notifications and the WebSocket thread all use it. */
#ifndef CORRAL_CONN_BUDGET_H
#define CORRAL_CONN_BUDGET_H

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
        CONN_REFUSED_FD_LIMIT,          /* corrald out of file descriptors (EMFILE/ENFILE) */
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

#endif
