/* Reservations: a lease gives one owner (a CI job, a person) exclusive use of one board until it
 * expires or is released. Leases are persisted in the store (token hashed), announced as events
 * (reservation.created/renewed/released/expired), checked before jobs are queued and before the
 * console write lock is given, and waited for (bounded) by requests that want a busy board.
 * Thread-safe (one mutex). Times are Unix milliseconds passed in by the caller (testable). */
#ifndef CORRAL_RESERVATIONS_H
#define CORRAL_RESERVATIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h" /* struct corral_error */

struct store;
struct events;
struct reservations;

#define RESV_TTL_MAX_S 86400
#define RESV_TTL_DEFAULT_S 600
#define RESV_WAIT_MAX_S 300     /* longest a request may wait for a board to free up */
#define RESV_MAX_ACTIVE 512
#define RESV_MAX_WAITERS 128
#define RESV_RETRY_MS 1000      /* waiters retry at least this often (boards coming online) */
#define RESV_OWNER_MAX 128
#define RESV_TOKEN_SIZE 96
#define RESV_GROUP_MAX 8        /* boards one request may take at once (roles of a multi-board test) */      /* "cl-<id>-<64 hex>" plus NUL, with room */

/* A parsed POST /reservations body; match is borrowed from the body. */
struct resv_request {
        const json_t *match;    /* {"labels": [...], "family": "...", "board": "id"}, every key optional */
        const json_t *boards;   /* or several boards at once: [{"role": NAME, "match": {...}}, ...] */
        int ttl_s;
        int wait_s;             /* 0 = answer at once */
        char owner[RESV_OWNER_MAX + 1];
};

/* Called (without any reservations lock held) when a waiter should retry. */
typedef void (*resv_wake_fn)(void *arg);

/* Load the active leases from the store. ev may be NULL (no events). Both borrowed. */
int reservations_new(struct store *st, struct events *ev, struct reservations **ret);
/* NULL-safe; wakes any waiter still registered first. Returns NULL. */
struct reservations *reservations_free(struct reservations *rs);

/* Wall clock in Unix milliseconds. */

/* ---- pure helpers ---- */
/* Validate a POST /reservations body into *req. -EINVAL with err filled (CORRAL_E_INVALID_*, CORRAL_E_UNKNOWN_FIELD). */
int reservations_parse_request(const json_t *body, struct resv_request *req, struct corral_error *err);
/* Does a board (as registry_board_json gives it: "id", "labels", "family") satisfy match? */
bool reservations_board_matches(const json_t *board, const json_t *match);
/* Lowercase hex SHA-256 of a token into out (65 bytes). */
void reservations_token_hash(const char *token, char out[65]);
/* The reservation id a token names ("cl-<id>-..."), or -1 when it is not a lease token. */
int64_t reservations_token_id(const char *token);

/* ---- leases ---- */
/* With req->boards: every role gets a distinct free present board in one transaction, or none
 * does; *ret is {"reservations": [public JSON + "token" + "role", ...]} in the roles' order.
 * Errors as below, plus -ENODEV CORRAL_E_NOT_ENOUGH_BOARDS (fewer present matching boards
 * than roles) and -EBUSY CORRAL_E_BOARD_RESERVED (not enough of them free); details name the role.
 * Without boards: grant a lease on the first present (online or busy) board of boards (an array of board JSON)
 * that matches req and is not reserved. *ret: the public reservation JSON plus "token" (the only
 * time the token is shown). Errors (err filled): -ENOENT CORRAL_E_NO_MATCHING_BOARD, -ENODEV
 * CORRAL_E_NO_BOARD_ONLINE, -EBUSY CORRAL_E_BOARD_RESERVED (details: holder, expires_at, board,
 * reservation), -ENOSPC CORRAL_E_TOO_MANY_RESERVATIONS, other negative errno CORRAL_E_STORE_ERROR /
 * CORRAL_E_DISK_FULL / CORRAL_E_NO_MEMORY / CORRAL_E_NO_ENTROPY. *ret_gen (may be NULL) gets the change counter the decision was
 * made at, for reservations_wait(). */
int reservations_create(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                        int64_t now_ms, json_t **ret, uint64_t *ret_gen, struct corral_error *err);
/* Reads (get, list, authorize, check_board, board_lease) never wait for a lease change's store
 * write: they read memory under a lock no I/O is done under, or the store with no lock held. */
/* Public JSON of one reservation (any state; active ones from memory). -ENOENT if unknown. */
int reservations_get(struct reservations *rs, int64_t id, int64_t now_ms, json_t **ret);
/* Every active reservation (array); on a farm, the shared store's, read with no lock held. */
int reservations_list(struct reservations *rs, int64_t now_ms, json_t **ret);
/* Renew / release with the lease token. Errors: -ENOENT CORRAL_E_RESERVATION_NOT_FOUND, -EACCES
 * CORRAL_E_LEASE_REQUIRED (no token), -EPERM CORRAL_E_LEASE_MISMATCH, -ESTALE
 * CORRAL_E_RESERVATION_ENDED; a store failure as in reservations_create. */
int reservations_renew(struct reservations *rs, int64_t id, const char *token, int ttl_s, int64_t now_ms,
                       json_t **ret, struct corral_error *err);
int reservations_release(struct reservations *rs, int64_t id, const char *token, int64_t now_ms, json_t **ret,
                         struct corral_error *err);
/* Does token hold active reservation id? 0 with *ret its public JSON; errors as renew. Changes nothing. */
int reservations_authorize(struct reservations *rs, int64_t id, const char *token, int64_t now_ms, json_t **ret,
                           struct corral_error *err);
/* May this request use board_id? lease: the token the request presented (NULL or "" = none).
 * 0 yes; -EBUSY CORRAL_E_BOARD_RESERVED (someone else holds it), -ESTALE CORRAL_E_LEASE_LOST
 * (the lease was released or expired), -ENOKEY CORRAL_E_LEASE_UNKNOWN, -EXDEV
 * CORRAL_E_LEASE_NOT_FOR_BOARD. NULL rs: 0. Decided from memory: it never writes the store (a
 * due lease counts as ended; the reaper records it); a lost token is looked up with no lock held
 * (on a farm the shared leases are read from the store, with no lock held, and decide). */
int reservations_check_board(struct reservations *rs, const char *board_id, const char *lease, int64_t now_ms,
                             struct corral_error *err);
/* The active lease on board_id at now_ms: its reservation id, or 0 when the board is free (or rs
 * is NULL). */
int64_t reservations_board_lease(struct reservations *rs, const char *board_id, int64_t now_ms);
/* Called (without any reservations lock held, before the reservation.created event and before
 * reservations_create returns) whenever a lease is granted: board, reservation id, owner. One
 * hook; fn NULL removes it. Set it before the reservations are shared between threads. */
typedef void (*resv_grant_fn)(void *user, const char *board_id, int64_t id, const char *owner);
void reservations_on_grant(struct reservations *rs, resv_grant_fn fn, void *user);
/* A farm: another host changed a lease (its event is being relayed here): make memory the
 * store's active leases now, not at the reaper's next sync, so that this host's console takes and
 * job checks follow at once; waiters of a lease that ended are woken. A no-op without a farm. */
void reservations_sync_now(struct reservations *rs);
/* Expire leases due at now_ms (wall clock, Unix ms: lease expiry is stored as a time of day; stored,
 * logged, announced) and wake waiters whose retry time (monotonic, util_mono_ms) is at or before
 * mono_ms: a wall-clock step back never holds a waiter past its deadline. Called periodically (the
 * registry's reaper). */
void reservations_reap(struct reservations *rs, int64_t now_ms, uint64_t mono_ms);

/* ---- waiting for a board ---- */
/* Register fn(arg) to be called once: when a lease ends, when the counter moved past gen
 * already (at once), at retry_at_ms (monotonic, util_mono_ms), or on close. 0 registered (or called already), -EAGAIN too
 * many waiters, -ESHUTDOWN after reservations_waiters_close() (fn is not called then). */
int reservations_wait(struct reservations *rs, uint64_t gen, uint64_t retry_at_ms, resv_wake_fn fn, void *arg);
/* Call every registered waiter now and refuse new ones (server shutdown). */
void reservations_waiters_close(struct reservations *rs);
bool reservations_waiters_closed(struct reservations *rs);

#endif
