/* Reservations' private header: the lease table, its two locks and the helpers shared by the files
 * that change it (reservations.c, reservations_pick.c, reservations_sync.c); nothing else includes
 * it. Every struct resv in rs->active is owned by rs. */
#ifndef CORRAL_RESERVATIONS_INTERNAL_H
#define CORRAL_RESERVATIONS_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "reservations.h"

struct resv {
        int64_t id;
        char board[72];
        char owner[RESV_OWNER_MAX + 1];
        char token_hash[65];
        json_t *match;          /* owned */
        int ttl_s;
        char created_at[32];
        int64_t expires_ms;
};

struct waiter {
        resv_wake_fn fn;
        void *arg;
        uint64_t retry_at_ms; /* monotonic */
};

/* Two locks: write_mu serializes every change of the leases (grant, renew, release, expiry, a
 * farm's sync) and is held across its store I/O; mu guards what readers see and is never held
 * across I/O. A change decides from memory under write_mu alone (it is the only writer), writes
 * the store, then takes mu briefly to apply the change to memory. Order: write_mu -> mu. */
struct reservations {
        pthread_mutex_t write_mu;
        pthread_mutex_t mu;
        struct store *store;
        struct events *events;
        struct resv *active[RESV_MAX_ACTIVE]; /* written with write_mu and mu held; read under either */
        size_t nactive;
        int64_t next_id;        /* write_mu */
        uint64_t gen;           /* bumped whenever a lease ends (write_mu and mu held) */
        struct waiter waiters[RESV_MAX_WAITERS];
        size_t nwaiters;
        bool closed;
        resv_grant_fn on_grant;
        void *on_grant_user;
        bool farm;              /* a shared (PostgreSQL) store: the store, not memory, decides */
        uint64_t next_reap_sync;/* monotonic ms: the reaper reads the store's leases this seldom (write_mu) */
};

/* A grant that lost the board to another host is retried on the next free one this often. */
#define RESV_FARM_TRIES 16

/* What to announce and whom to wake once the lock is dropped. */
struct after {
        json_t *events[RESV_MAX_ACTIVE];
        const char *types[RESV_MAX_ACTIVE];
        size_t nevents;
        struct waiter wake[RESV_MAX_WAITERS];
        size_t nwake;
        json_t *granted[RESV_MAX_ACTIVE]; /* farm: leases another host granted ({board, id, owner}, owned):
                                           * this host's console writers lose the board, unannounced here */
        size_t ngranted;
};


/* ---- reservations.c: leases in memory ---- */
/* NULL-safe; frees r (owned) and its match. Returns NULL. */
struct resv *resv_free(struct resv *r);
/* An active lease as the store returns it (row borrowed), newly allocated; NULL when out of memory. */
struct resv *resv_from_store(const json_t *row);
/* The active lease on board at now_ms, borrowed from rs (rs->mu or rs->write_mu held); NULL when free. */
struct resv *resv_find_board_locked(struct reservations *rs, const char *board, int64_t now_ms);
/* The index in rs->active of lease id, or -1 (rs->mu or rs->write_mu held). */
ssize_t resv_find_id_locked(struct reservations *rs, int64_t id);
/* Drop (and free) rs->active[i] (rs->write_mu and rs->mu held). */
void resv_remove_at(struct reservations *rs, size_t i);
/* A lease ended: bump gen and hand every waiter to a (rs->mu held). */
void resv_wake_all_locked(struct reservations *rs, struct after *a);
/* {"holder", "expires_at", "board", "reservation"} of r: the details of a refusal (new reference). */
json_t *resv_holder_details(const struct resv *r);
/* Record a lease in the store, not yet in memory (rs->write_mu held); see reservations.c. On a
 * farm, -EEXIST (err not set) when another host leased the board since the last sync. */
int resv_grant_store(struct reservations *rs, const json_t *match, const struct resv_request *req,
                     const char *board, int64_t now_ms, size_t pending, struct resv **ret_r, json_t **ret,
                     struct corral_error *err);
/* Publish the n recorded leases rv[] (owned by rs after) at once (rs->write_mu held). */
void resv_grant_publish(struct reservations *rs, struct resv **rv, size_t n, struct after *a, int64_t now_ms);

/* ---- reservations_sync.c ---- */
/* A farm: make memory the store's active leases (rs->write_mu held, not rs->mu); no-op otherwise. */
void resv_sync_w(struct reservations *rs, struct after *a);

/* ---- reservations_pick.c: choosing boards for a grant (rs->write_mu held) ---- */
/* req->boards: every role a distinct free board, all recorded and published, or none. */
int resv_create_group_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                        int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err);
/* req->match: the first free matching board (on a farm, retried past boards other hosts took). */
int resv_create_one_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                      int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err);

#endif
