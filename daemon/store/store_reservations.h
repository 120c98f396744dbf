/* Reservations (board leases) in the store: create, renew, end, and read back as JSON.
 * Only the SHA-256 (hex) of a lease token is stored. Thread-safe like the rest of the store. */
#ifndef CORRAL_STORE_RESERVATIONS_H
#define CORRAL_STORE_RESERVATIONS_H

#include <jansson.h>
#include <stdint.h>

struct store;

/* A reservation row as JSON: {"id", "board", "owner", "match", "ttl_s", "created_at",
 * "expires_ms", "state": "active"|"released"|"expired", "ended_at"|null, "token_sha256"}.
 * Returned objects are new references owned by the caller. */

/* Insert an active reservation with a caller-chosen id (> 0). match: object (copied).
 * -EEXIST when the id or the token hash is taken, -EINVAL on bad arguments. */
int store_resv_insert(struct store *s, int64_t id, const char *board_id, const char *owner,
                      const char *token_sha256, const json_t *match, int ttl_s, int64_t expires_ms);
/* Move the expiry of an active reservation; -ENOENT if it is not active. */
int store_resv_renew(struct store *s, int64_t id, int ttl_s, int64_t expires_ms);
/* End an active reservation (state "released" or "expired"); -ENOENT if it is not active. */
int store_resv_end(struct store *s, int64_t id, const char *state);
/* One reservation by id, any state; -ENOENT if none. */
int store_resv_get(struct store *s, int64_t id, json_t **ret);
/* One reservation by token hash, any state; -ENOENT if none. */
int store_resv_find_token(struct store *s, const char *token_sha256, json_t **ret);
/* Every active reservation (array), oldest first. */
int store_resv_list_active(struct store *s, json_t **ret);
/* Largest id ever used (0 when none). */
int store_resv_max_id(struct store *s, int64_t *ret);

/* ---- a farm (PostgreSQL, shared by several hosts) ---- */
/* A new reservation id, unique across every host sharing the store (the sequence
 * reservation_ids; never reused, gaps allowed). PostgreSQL only: -EOPNOTSUPP on SQLite. */
int store_resv_next_id(struct store *s, int64_t *ret);
/* store_resv_insert() for a shared store, in one transaction: first ends (as "expired") the
 * board's active leases that are due at now_ms, then inserts; the database keeps at most one
 * active lease per board (unique index reservations_one_active), so when another host holds
 * the board this is -EEXIST and nothing is written. */
int store_resv_insert_exclusive(struct store *s, int64_t id, const char *board_id, const char *owner,
                                const char *token_sha256, const json_t *match, int ttl_s, int64_t now_ms,
                                int64_t expires_ms);

#endif
