/* port_memo: what job kinds keep with an open port from one of their jobs to the next (job_run.h:
 * jr_port_memo, jr_port_handback) and the rules for forgetting it. Plain data inside the port
 * worker, nothing allocated; not thread-safe: only the worker thread touches it. */
#ifndef CORRAL_PORT_MEMO_H
#define CORRAL_PORT_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs/job_run.h"

#define PORT_MEMO_KINDS 8

struct port_memo {
        uint8_t block[JR_PORT_MEMO_MAX];
        size_t size;              /* 0: wiped */
        bool disturbed;           /* the port was used by others since the last job ended */
        uint8_t handback[JR_HANDBACK_MAX];
        size_t handback_len;      /* 0: none pending */
        const struct job_kind *kinds[PORT_MEMO_KINDS]; /* kinds that claimed the block (borrowed) */
        unsigned nkinds;
};

/* Forget the block and any pending handback; the port counts as disturbed. Also initialises. */
void port_memo_wipe(struct port_memo *m);
/* A job of kind k claims the block (zero-filled when size changes): NULL when size is 0 or above
 * JR_PORT_MEMO_MAX. A pending handback is dropped (the job takes the board over as it was left);
 * *disturbed (may be NULL) is set. */
void *port_memo_claim(struct port_memo *m, const struct job_kind *k, size_t size, bool *disturbed);
/* Set (len 0: clear) the bytes to send when a person or another kind next needs the board.
 * -EMSGSIZE above JR_HANDBACK_MAX. */
int port_memo_set_handback(struct port_memo *m, const void *data, size_t len);
/* Whether jobs of kind k have claimed the block on this port (they want the board as left). */
bool port_memo_kind(const struct port_memo *m, const struct job_kind *k);
/* Something other than a job used the port (console input, a reset, bytes from the board, the
 * handback itself). */
void port_memo_disturb(struct port_memo *m);
/* A job ended: one that claimed the block leaves the port undisturbed as it described it; any
 * other wipes it (send a pending handback first: that job did not take the board over). */
void port_memo_job_end(struct port_memo *m, bool claimed);

#endif
