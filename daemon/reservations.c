/* Reservations: leases on boards with a TTL and an owner token: lifecycle, the public operations
 * and their lock discipline. Active leases live in memory (mirrored in the store, token hashed);
 * every change is stored first, then announced. */
#include "reservations.h"
#include "reservations_internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "events.h"
#include "log.h"
#include "store/store.h"
#include "store/store_reservations.h"
#include "util.h"

/* ---- lease tokens ---- */

void reservations_token_hash(const char *token, char out[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int64_t reservations_token_id(const char *token)
{
        if (!token || strncmp(token, "cl-", 3))
                return -1;
        char *end;
        long long id = strtoll(token + 3, &end, 10);
        if (end == token + 3 || *end != '-' || id <= 0)
                return -1;
        return id;
}

/* ---- lifecycle ---- */

struct resv *resv_free(struct resv *r)
{
        if (r) {
                json_decref(r->match);
                free(r);
        }
        return NULL;
}

/* An active lease as the store returns it, in memory; NULL when out of memory. */
struct resv *resv_from_store(const json_t *row)
{
        struct resv *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->id = json_integer_value(json_object_get(row, "id"));
        snprintf(r->board, sizeof(r->board), "%s", json_string_value(json_object_get(row, "board")));
        snprintf(r->owner, sizeof(r->owner), "%s", json_string_value(json_object_get(row, "owner")));
        snprintf(r->token_hash, sizeof(r->token_hash), "%s", json_string_value(json_object_get(row, "token_sha256")));
        snprintf(r->created_at, sizeof(r->created_at), "%s", json_string_value(json_object_get(row, "created_at")));
        r->match = json_incref(json_object_get(row, "match"));
        r->ttl_s = (int)json_integer_value(json_object_get(row, "ttl_s"));
        r->expires_ms = json_integer_value(json_object_get(row, "expires_ms"));
        return r;
}

int reservations_new(struct store *st, struct events *ev, struct reservations **ret)
{
        struct reservations *rs = calloc(1, sizeof(*rs));
        if (!rs)
                return -ENOMEM;
        pthread_mutex_init(&rs->write_mu, NULL);
        pthread_mutex_init(&rs->mu, NULL);
        rs->store = st;
        rs->events = ev;
        rs->farm = st && store_is_pg(st);
        int64_t max_id = 0;
        json_t *rows = NULL;
        int rc = store_resv_max_id(st, &max_id);
        if (rc == 0)
                rc = store_resv_list_active(st, &rows);
        if (rc < 0) {
                reservations_free(rs);
                return rc;
        }
        rs->next_id = max_id + 1;
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                struct resv *r = rs->nactive < RESV_MAX_ACTIVE ? resv_from_store(row) : NULL;
                if (!r)
                        break;
                rs->active[rs->nactive++] = r;
        }
        json_decref(rows);
        *ret = rs;
        return 0;
}

/* Tell the registry a lease was granted ({board, id, owner}): the board's console writers lose it. */
static void grant_note(struct reservations *rs, const json_t *lease)
{
        if (rs->on_grant)
                rs->on_grant(rs->on_grant_user, json_string_value(json_object_get(lease, "board")),
                             json_integer_value(json_object_get(lease, "id")),
                             json_string_value(json_object_get(lease, "owner")));
}

static void run_after(struct reservations *rs, struct after *a)
{
        /* A grant first: other writers lose the board's console before anyone hears of the lease. */
        for (size_t i = 0; rs->on_grant && i < a->nevents; i++)
                if (!strcmp(a->types[i], "reservation.created"))
                        grant_note(rs, a->events[i]);
        for (size_t i = 0; i < a->ngranted; i++) {
                grant_note(rs, a->granted[i]);
                json_decref(a->granted[i]);
        }
        for (size_t i = 0; i < a->nevents; i++)
                if (rs->events)
                        events_publish(rs->events, a->types[i], a->events[i]);
                else
                        json_decref(a->events[i]);
        for (size_t i = 0; i < a->nwake; i++)
                a->wake[i].fn(a->wake[i].arg);
        a->nevents = a->nwake = a->ngranted = 0;
}

void reservations_waiters_close(struct reservations *rs)
{
        if (!rs)
                return;
        struct after *a = calloc(1, sizeof(*a));
        pthread_mutex_lock(&rs->mu);
        rs->closed = true;
        if (a) {
                memcpy(a->wake, rs->waiters, rs->nwaiters * sizeof(rs->waiters[0]));
                a->nwake = rs->nwaiters;
                rs->nwaiters = 0;
        }
        pthread_mutex_unlock(&rs->mu);
        if (a)
                run_after(rs, a);
        free(a);
}

bool reservations_waiters_closed(struct reservations *rs)
{
        if (!rs)
                return true;
        pthread_mutex_lock(&rs->mu);
        bool c = rs->closed;
        pthread_mutex_unlock(&rs->mu);
        return c;
}

struct reservations *reservations_free(struct reservations *rs)
{
        if (!rs)
                return NULL;
        reservations_waiters_close(rs);
        for (size_t i = 0; i < rs->nactive; i++)
                resv_free(rs->active[i]);
        pthread_mutex_destroy(&rs->mu);
        pthread_mutex_destroy(&rs->write_mu);
        free(rs);
        return NULL;
}

/* ---- JSON ---- */

static json_t *public_json(const struct resv *r, int64_t now_ms)
{
        char exp[32];
        util_iso_from_ms(r->expires_ms, exp, sizeof(exp));
        int64_t left = r->expires_ms > now_ms ? (r->expires_ms - now_ms + 999) / 1000 : 0;
        return json_pack("{s:I, s:s, s:s, s:O, s:i, s:s, s:s, s:I, s:s, s:n}", "id", (json_int_t)r->id, "board",
                         r->board, "owner", r->owner, "match", r->match, "ttl_s", r->ttl_s, "created_at",
                         r->created_at, "expires_at", exp, "expires_in_s", (json_int_t)left, "state", "active",
                         "ended_at");
}

/* A stored row (any state) as the public JSON. */
static json_t *public_from_row(json_t *row, int64_t now_ms)
{
        int64_t exp_ms = json_integer_value(json_object_get(row, "expires_ms"));
        char exp[32];
        util_iso_from_ms(exp_ms, exp, sizeof(exp));
        json_object_del(row, "token_sha256");
        json_object_del(row, "expires_ms");
        json_object_set_new(row, "expires_at", json_string(exp));
        bool active = !strcmp(json_string_value(json_object_get(row, "state")), "active");
        json_object_set_new(row, "expires_in_s",
                            json_integer(active && exp_ms > now_ms ? (exp_ms - now_ms + 999) / 1000 : 0));
        return row;
}

static void announce(struct after *a, const char *type, const struct resv *r, const char *state, int64_t now_ms)
{
        if (a->nevents == RESV_MAX_ACTIVE)
                return;
        json_t *j = public_json(r, now_ms);
        json_object_set_new(j, "state", json_string(state));
        a->types[a->nevents] = type;
        a->events[a->nevents++] = j;
}

/* ---- internals: a change holds write_mu; memory is changed with mu taken too ---- */

void resv_remove_at(struct reservations *rs, size_t i)
{
        resv_free(rs->active[i]);
        rs->active[i] = rs->active[--rs->nactive];
}

/* A lease ended: bump gen and hand every waiter to a (rs->mu held). */
void resv_wake_all_locked(struct reservations *rs, struct after *a)
{
        rs->gen++;
        memcpy(a->wake + a->nwake, rs->waiters, rs->nwaiters * sizeof(rs->waiters[0]));
        a->nwake += rs->nwaiters;
        rs->nwaiters = 0;
}

/* Expire what is due (rs->write_mu held, rs->mu not): the due ids are read from memory, their
 * ends written to the store with only write_mu held, then the recorded ones leave memory under
 * mu, and an ended lease wakes every waiter. Meanwhile a due lease is already treated as free
 * (resv_find_board_locked), and one whose end cannot be recorded is retried on the next tick. On a
 * farm, one that another host ended first is that host's to announce. */
static void expire_w(struct reservations *rs, int64_t now_ms, struct after *a)
{
        int64_t due[RESV_MAX_ACTIVE];
        bool recorded[RESV_MAX_ACTIVE], mine[RESV_MAX_ACTIVE];
        size_t n = 0;
        for (size_t i = 0; i < rs->nactive; i++)
                if (rs->active[i]->expires_ms <= now_ms)
                        due[n++] = rs->active[i]->id;
        if (!n)
                return;
        for (size_t k = 0; k < n; k++) {
                int rc = store_resv_end(rs->store, due[k], "expired");
                recorded[k] = rc >= 0 || rc == -ENOENT; /* -ENOENT: already ended in the store */
                mine[k] = rc >= 0 || !rs->farm; /* on a farm, the host whose update ended it announces */
                if (!recorded[k]) /* retried on the next tick; already treated as free */
                        log_warning("reservation %lld expired but cannot be recorded: %s", (long long)due[k],
                                    strerror(-rc));
        }
        bool ended = false;
        pthread_mutex_lock(&rs->mu);
        for (size_t k = 0; k < n; k++) {
                ssize_t i = recorded[k] ? resv_find_id_locked(rs, due[k]) : -1;
                if (i < 0)
                        continue;
                struct resv *r = rs->active[i];
                if (mine[k]) { /* each expiry is announced once, farm-wide */
                        log_info("reservation %lld on board %s (owner %s) expired; the board is free",
                                 (long long)r->id, r->board, r->owner);
                        announce(a, "reservation.expired", r, "expired", now_ms);
                }
                resv_remove_at(rs, (size_t)i);
                ended = true;
        }
        if (ended)
                resv_wake_all_locked(rs, a);
        pthread_mutex_unlock(&rs->mu);
}

static struct resv *find_board_in(struct resv *const *active, size_t n, const char *board, int64_t now_ms)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(active[i]->board, board) && active[i]->expires_ms > now_ms)
                        return active[i];
        return NULL;
}

/* rs->mu or rs->write_mu held. */
struct resv *resv_find_board_locked(struct reservations *rs, const char *board, int64_t now_ms)
{
        return find_board_in(rs->active, rs->nactive, board, now_ms);
}

ssize_t resv_find_id_locked(struct reservations *rs, int64_t id)
{
        for (size_t i = 0; i < rs->nactive; i++)
                if (rs->active[i]->id == id)
                        return (ssize_t)i;
        return -1;
}

json_t *resv_holder_details(const struct resv *r)
{
        char exp[32];
        util_iso_from_ms(r->expires_ms, exp, sizeof(exp));
        return json_pack("{s:s, s:s, s:s, s:I}", "holder", r->owner, "expires_at", exp, "board", r->board,
                         "reservation", (json_int_t)r->id);
}

/* ---- leases ---- */

/* Start a change: a fresh struct after, write_mu taken (rs->mu is not held) and expired leases
 * dealt with. NULL when out of memory (err filled in). End it with change_end(). */
static struct after *change_begin(struct reservations *rs, int64_t now_ms, struct corral_error *err)
{
        struct after *a = calloc(1, sizeof(*a));
        if (!a) {
                corral_error_set(err, CORRAL_E_NO_MEMORY, NULL, -ENOMEM, "Out of memory.");
                return NULL;
        }
        pthread_mutex_lock(&rs->write_mu);
        resv_sync_w(rs, a);
        expire_w(rs, now_ms, a);
        return a;
}

/* Drop write_mu, then announce and wake what the change collected. */
static void change_end(struct reservations *rs, struct after *a)
{
        pthread_mutex_unlock(&rs->write_mu);
        run_after(rs, a);
        free(a);
}

/* Record a lease of board to req's owner for req's ttl (with match) in the store, not yet in
 * memory: *ret_r, and the public JSON plus "token" into *ret. rs->write_mu held; the caller
 * checked the board is free; pending: leases of this change recorded but not yet in memory. On a
 * farm, -EEXIST (err not set) when another host leased the board since the last sync. */
int resv_grant_store(struct reservations *rs, const json_t *match, const struct resv_request *req,
                     const char *board, int64_t now_ms, size_t pending, struct resv **ret_r, json_t **ret,
                     struct corral_error *err)
{
        if (rs->nactive + pending >= RESV_MAX_ACTIVE)
                return corral_error_set(err, CORRAL_E_TOO_MANY_RESERVATIONS, NULL, -ENOSPC, "Too many active reservations.");
        int rc = 0;
        int64_t farm_id = 0;
        unsigned char rnd[32];
        char token[RESV_TOKEN_SIZE];
        struct resv *r = calloc(1, sizeof(*r));
        if (!r || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                rc = corral_error_set(err, CORRAL_E_NO_ENTROPY, NULL, -EIO, "Cannot make a lease token.");
        } else if (rs->farm && (rc = store_resv_next_id(rs->store, &farm_id)) < 0) {
                rc = corral_error_store(err, rc, rc, "Could not number the reservation");
        } else {
                int64_t id = rs->farm ? farm_id : rs->next_id;
                int n = snprintf(token, sizeof(token), "cl-%lld-", (long long)id);
                for (size_t k = 0; k < sizeof(rnd); k++)
                        n += snprintf(token + n, sizeof(token) - (size_t)n, "%02x", rnd[k]);
                r->id = id;
                snprintf(r->board, sizeof(r->board), "%s", board);
                snprintf(r->owner, sizeof(r->owner), "%s", req->owner);
                reservations_token_hash(token, r->token_hash);
                r->match = json_deep_copy(match);
                r->ttl_s = req->ttl_s;
                r->expires_ms = now_ms + (int64_t)req->ttl_s * 1000;
                util_iso_from_ms(now_ms, r->created_at, sizeof(r->created_at));
                rc = rs->farm ? store_resv_insert_exclusive(rs->store, r->id, r->board, r->owner, r->token_hash,
                                                            r->match, r->ttl_s, now_ms, r->expires_ms)
                              : store_resv_insert(rs->store, r->id, r->board, r->owner, r->token_hash, r->match,
                                                  r->ttl_s, r->expires_ms);
                if (rc < 0 && !(rc == -EEXIST && rs->farm)) /* -EEXIST: another host leased it first */
                        rc = corral_error_store(err, rc, rc, "Could not record the reservation");
        }
        OPENSSL_cleanse(rnd, sizeof(rnd));
        if (rc == 0) {
                if (!rs->farm)
                        rs->next_id++;
                *ret_r = r;
                *ret = public_json(r, now_ms);
                json_object_set_new(*ret, "token", json_string(token));
        } else {
                resv_free(r);
        }
        OPENSSL_cleanse(token, sizeof(token));
        return rc;
}

/* Publish the n recorded leases rv[] at once (rs->write_mu held): readers see all or none. */
void resv_grant_publish(struct reservations *rs, struct resv **rv, size_t n, struct after *a, int64_t now_ms)
{
        pthread_mutex_lock(&rs->mu);
        for (size_t k = 0; k < n; k++)
                rs->active[rs->nactive++] = rv[k];
        pthread_mutex_unlock(&rs->mu);
        for (size_t k = 0; k < n; k++) {
                announce(a, "reservation.created", rv[k], "active", now_ms);
                log_info("reservation %lld: board %s reserved by %s for %d s", (long long)rv[k]->id, rv[k]->board,
                         rv[k]->owner, rv[k]->ttl_s);
        }
}

int reservations_create(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                        int64_t now_ms, json_t **ret, uint64_t *ret_gen, struct corral_error *err)
{
        if (!rs || !req || !ret)
                return -EINVAL;
        struct after *a = change_begin(rs, now_ms, err);
        if (!a)
                return -ENOMEM;
        if (ret_gen)
                *ret_gen = rs->gen;
        int rc;
        if (req->boards) {
                rc = resv_create_group_w(rs, req, boards, now_ms, a, ret, err);
        } else {
                rc = resv_create_one_w(rs, req, boards, now_ms, a, ret, err);
        }
        change_end(rs, a);
        return rc;
}

int reservations_get(struct reservations *rs, int64_t id, int64_t now_ms, json_t **ret)
{
        if (!rs || !ret)
                return -EINVAL;
        pthread_mutex_lock(&rs->mu);
        ssize_t i = resv_find_id_locked(rs, id);
        json_t *j = i >= 0 && rs->active[i]->expires_ms > now_ms ? public_json(rs->active[i], now_ms) : NULL;
        pthread_mutex_unlock(&rs->mu);
        if (j) {
                *ret = j;
                return 0;
        }
        json_t *row = NULL;
        int rc = store_resv_get(rs->store, id, &row);
        if (rc < 0)
                return rc;
        /* Due but not reaped yet: say so rather than "active". */
        if (i >= 0)
                json_object_set_new(row, "state", json_string("expired"));
        *ret = public_from_row(row, now_ms);
        return 0;
}

/* A farm's list is the store's (leases granted on every host), read with no lock held; here,
 * memory's, under rs->mu. Due leases are left out either way (the reaper records their end). */
int reservations_list(struct reservations *rs, int64_t now_ms, json_t **ret)
{
        if (!rs || !ret)
                return -EINVAL;
        json_t *list = json_array(), *rows = NULL;
        if (rs->farm) {
                int rc = store_resv_list_active(rs->store, &rows);
                if (rc < 0) {
                        json_decref(list);
                        return rc;
                }
                size_t i;
                json_t *row;
                json_array_foreach(rows, i, row)
                        if (json_integer_value(json_object_get(row, "expires_ms")) > now_ms)
                                json_array_append_new(list, public_from_row(json_incref(row), now_ms));
                json_decref(rows);
                *ret = list;
                return 0;
        }
        pthread_mutex_lock(&rs->mu);
        for (size_t i = 0; i < rs->nactive; i++)
                if (rs->active[i]->expires_ms > now_ms)
                        json_array_append_new(list, public_json(rs->active[i], now_ms));
        pthread_mutex_unlock(&rs->mu);
        *ret = list;
        return 0;
}

/* Does token open reservation id, whose token hash is hash? 0 or the refusal (err filled). */
static int token_check(int64_t id, const char *hash, const char *token, struct corral_error *err)
{
        if (!token || !*token)
                return corral_error_set(err, CORRAL_E_LEASE_REQUIRED, json_pack("{s:I}", "reservation", (json_int_t)id),
                                     -EACCES, "Present the lease token in the X-Corral-Lease header.");
        char h[65];
        reservations_token_hash(token, h);
        if (!hash || strlen(hash) != 64 || CRYPTO_memcmp(h, hash, 64))
                return corral_error_set(err, CORRAL_E_LEASE_MISMATCH, json_pack("{s:I}", "reservation", (json_int_t)id),
                                     -EPERM, "The lease token presented is not the one of reservation %lld.",
                                     (long long)id);
        return 0;
}

/* Reservation id is no lease in memory: what the store says (no rs lock needed). On a farm a
 * lease granted on another host is active there: 0 and its row (public) into *ret_row when the
 * token opens it. Otherwise not found, or ended (a due lease counts as expired). */
static int authorize_stored(struct reservations *rs, int64_t id, const char *token, int64_t now_ms,
                            json_t **ret_row, struct corral_error *err)
{
        json_t *row = NULL;
        if (store_resv_get(rs->store, id, &row) < 0)
                return corral_error_set(err, CORRAL_E_RESERVATION_NOT_FOUND,
                                     json_pack("{s:I}", "reservation", (json_int_t)id), -ENOENT,
                                     "No reservation with id %lld.", (long long)id);
        char state[16];
        snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(row, "state")));
        bool active = !strcmp(state, "active");
        if (active && json_integer_value(json_object_get(row, "expires_ms")) > now_ms && ret_row) {
                int rc = token_check(id, json_string_value(json_object_get(row, "token_sha256")), token, err);
                if (rc == 0)
                        *ret_row = public_from_row(row, now_ms);
                else
                        json_decref(row);
                return rc;
        }
        if (active)
                snprintf(state, sizeof(state), "expired");
        json_t *d = json_pack("{s:I, s:s, s:O}", "reservation", (json_int_t)id, "state", state, "ended_at",
                              json_object_get(row, "ended_at"));
        json_decref(row);
        return corral_error_set(err, CORRAL_E_RESERVATION_ENDED, d, -ESTALE,
                             "Reservation %lld has already ended (%s).", (long long)id, state);
}

/* A change's check (rs->write_mu held, after sync and expiry): the index of active lease id when
 * token opens it, or a negative errno (err filled). */
static ssize_t authorize_w(struct reservations *rs, int64_t id, const char *token, int64_t now_ms,
                           struct corral_error *err)
{
        ssize_t i = resv_find_id_locked(rs, id);
        if (i < 0)
                return authorize_stored(rs, id, token, now_ms, NULL, err);
        int rc = token_check(id, rs->active[i]->token_hash, token, err);
        return rc < 0 ? rc : i;
}

int reservations_renew(struct reservations *rs, int64_t id, const char *token, int ttl_s, int64_t now_ms,
                       json_t **ret, struct corral_error *err)
{
        if (!rs || !ret)
                return -EINVAL;
        if (ttl_s < 1 || ttl_s > RESV_TTL_MAX_S)
                return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "ttl_s"), -EINVAL,
                                     "'ttl_s' must be a whole number of seconds from 1 to %d.", RESV_TTL_MAX_S);
        struct after *a = change_begin(rs, now_ms, err);
        if (!a)
                return -ENOMEM;
        ssize_t i = authorize_w(rs, id, token, now_ms, err);
        int rc = i < 0 ? (int)i : 0;
        if (rc == 0) {
                struct resv *r = rs->active[i];
                int64_t exp = now_ms + (int64_t)ttl_s * 1000;
                rc = store_resv_renew(rs->store, id, ttl_s, exp);
                if (rc < 0) {
                        rc = corral_error_store(err, rc, rc, "Could not record the renewal");
                } else {
                        pthread_mutex_lock(&rs->mu);
                        r->ttl_s = ttl_s;
                        r->expires_ms = exp;
                        pthread_mutex_unlock(&rs->mu);
                        *ret = public_json(r, now_ms);
                        announce(a, "reservation.renewed", r, "active", now_ms);
                }
        }
        change_end(rs, a);
        return rc;
}

/* A read: memory under rs->mu, or (a lease memory does not hold, or a due one) the store with no
 * lock held. Nothing is changed here; the reaper records what is due. */
int reservations_authorize(struct reservations *rs, int64_t id, const char *token, int64_t now_ms, json_t **ret,
                           struct corral_error *err)
{
        if (!rs || !ret)
                return -EINVAL;
        pthread_mutex_lock(&rs->mu);
        ssize_t i = resv_find_id_locked(rs, id);
        bool live = i >= 0 && rs->active[i]->expires_ms > now_ms;
        int rc = live ? token_check(id, rs->active[i]->token_hash, token, err) : 0;
        if (live && rc == 0)
                *ret = public_json(rs->active[i], now_ms);
        pthread_mutex_unlock(&rs->mu);
        if (live)
                return rc;
        return authorize_stored(rs, id, token, now_ms, ret, err);
}

int reservations_release(struct reservations *rs, int64_t id, const char *token, int64_t now_ms, json_t **ret,
                         struct corral_error *err)
{
        if (!rs || !ret)
                return -EINVAL;
        struct after *a = change_begin(rs, now_ms, err);
        if (!a)
                return -ENOMEM;
        ssize_t i = authorize_w(rs, id, token, now_ms, err);
        int rc = i < 0 ? (int)i : 0;
        if (rc == 0) {
                struct resv *r = rs->active[i];
                rc = store_resv_end(rs->store, id, "released");
                if (rc < 0) {
                        rc = corral_error_store(err, rc, rc, "Could not record the release");
                } else {
                        log_info("reservation %lld on board %s released by %s", (long long)id, r->board, r->owner);
                        announce(a, "reservation.released", r, "released", now_ms);
                        *ret = json_incref(a->events[a->nevents - 1]);
                        pthread_mutex_lock(&rs->mu);
                        resv_remove_at(rs, (size_t)i);
                        resv_wake_all_locked(rs, a);
                        pthread_mutex_unlock(&rs->mu);
                }
        }
        change_end(rs, a);
        return rc;
}

/* A lease token that is no lease in memory: what the store says of it (read with no lock held).
 * due: memory still had it, but past its expiry (recorded by the reaper soon). */
static int lease_lost(struct reservations *rs, const char *board_id, const char *h, bool due,
                      struct corral_error *err)
{
        json_t *row = NULL;
        if (store_resv_find_token(rs->store, h, &row) < 0)
                return corral_error_set(err, CORRAL_E_LEASE_UNKNOWN, json_pack("{s:s}", "board", board_id), -ENOKEY,
                                        "The lease token presented is not one corrald granted.");
        const char *state = json_string_value(json_object_get(row, "state"));
        if (due && state && !strcmp(state, "active"))
                state = "expired";
        json_t *d = json_pack("{s:s, s:O, s:s, s:O}", "board", board_id, "reservation", json_object_get(row, "id"),
                              "state", state ? state : "?", "ended_at", json_object_get(row, "ended_at"));
        int rc = corral_error_set(err, CORRAL_E_LEASE_LOST, d, -ESTALE,
                                  "Your lease (reservation %lld on '%s') is no longer valid: it was %s.",
                                  (long long)json_integer_value(json_object_get(row, "id")),
                                  json_string_value(json_object_get(row, "board")), state ? state : "ended");
        json_decref(row);
        return rc;
}

/* The decision of reservations_check_board from the n active leases alone (memory under rs->mu,
 * or a farm's store rows): 0, an error (err filled), or 1 when the store must say why the token
 * is no lease (*due: it was one, now past). */
static int check_board_in(struct resv *const *active, size_t n, const char *board_id, const char *h,
                          int64_t now_ms, bool *due, struct corral_error *err)
{
        const struct resv *held = find_board_in(active, n, board_id, now_ms);
        if (h) {
                const struct resv *mine = NULL;
                for (size_t i = 0; i < n && !mine; i++)
                        if (!CRYPTO_memcmp(h, active[i]->token_hash, 64))
                                mine = active[i];
                if (!mine || mine->expires_ms <= now_ms) {
                        *due = mine != NULL;
                        return 1;
                }
                if (strcmp(mine->board, board_id))
                        return corral_error_set(err, CORRAL_E_LEASE_NOT_FOR_BOARD,
                                                json_pack("{s:s, s:s, s:I}", "board", board_id, "lease_board",
                                                          mine->board, "reservation", (json_int_t)mine->id),
                                                -EXDEV, "Your lease (reservation %lld) is for board '%s', not '%s'.",
                                                (long long)mine->id, mine->board, board_id);
        } else if (held) {
                char exp[32];
                util_iso_from_ms(held->expires_ms, exp, sizeof(exp));
                return corral_error_set(
                        err, CORRAL_E_BOARD_RESERVED, resv_holder_details(held), -EBUSY,
                        "Board '%s' is reserved by %s until %s; present its lease (X-Corral-Lease) to use it.",
                        board_id, held->owner, exp);
        }
        return 0;
}

/* A console take and a job submit come here, and never wait for a store write: decided from
 * memory under rs->mu (due leases are left to the reaper, a lost token is looked up with no lock
 * held). On a farm the store's active leases are read with no lock held and decide (so a lease
 * another host granted meanwhile is never missed); memory only when that read fails. */
int reservations_check_board(struct reservations *rs, const char *board_id, const char *lease, int64_t now_ms,
                             struct corral_error *err)
{
        if (!rs)
                return 0;
        char h[65];
        bool with_lease = lease && *lease, due = false;
        if (with_lease)
                reservations_token_hash(lease, h);
        json_t *rows = NULL;
        int rc;
        if (rs->farm && store_resv_list_active(rs->store, &rows) == 0) {
                struct resv *view[RESV_MAX_ACTIVE];
                size_t n = 0, i;
                json_t *row;
                json_array_foreach(rows, i, row)
                        if (n < RESV_MAX_ACTIVE && (view[n] = resv_from_store(row)))
                                n++;
                json_decref(rows);
                rc = check_board_in(view, n, board_id, with_lease ? h : NULL, now_ms, &due, err);
                for (i = 0; i < n; i++)
                        resv_free(view[i]);
        } else {
                pthread_mutex_lock(&rs->mu);
                rc = check_board_in(rs->active, rs->nactive, board_id, with_lease ? h : NULL, now_ms, &due, err);
                pthread_mutex_unlock(&rs->mu);
        }
        return rc == 1 ? lease_lost(rs, board_id, h, due, err) : rc;
}

int64_t reservations_board_lease(struct reservations *rs, const char *board_id, int64_t now_ms)
{
        if (!rs || !board_id)
                return 0;
        pthread_mutex_lock(&rs->mu);
        const struct resv *r = resv_find_board_locked(rs, board_id, now_ms);
        int64_t id = r ? r->id : 0;
        pthread_mutex_unlock(&rs->mu);
        return id;
}

void reservations_on_grant(struct reservations *rs, resv_grant_fn fn, void *user)
{
        if (!rs)
                return;
        pthread_mutex_lock(&rs->mu);
        rs->on_grant = fn;
        rs->on_grant_user = user;
        pthread_mutex_unlock(&rs->mu);
}

void reservations_reap(struct reservations *rs, int64_t now_ms, uint64_t mono_ms)
{
        if (!rs)
                return;
        struct after *a = calloc(1, sizeof(*a));
        if (!a)
                return;
        pthread_mutex_lock(&rs->write_mu);
        if (rs->farm && mono_ms >= rs->next_reap_sync) { /* leases ended on other hosts wake waiters here */
                resv_sync_w(rs, a);
                rs->next_reap_sync = mono_ms + RESV_RETRY_MS;
        }
        expire_w(rs, now_ms, a);
        pthread_mutex_lock(&rs->mu);
        for (size_t i = 0; i < rs->nwaiters;) {
                if (rs->waiters[i].retry_at_ms <= mono_ms) {
                        a->wake[a->nwake++] = rs->waiters[i];
                        rs->waiters[i] = rs->waiters[--rs->nwaiters];
                } else {
                        i++;
                }
        }
        pthread_mutex_unlock(&rs->mu);
        change_end(rs, a);
}

void reservations_sync_now(struct reservations *rs)
{
        if (!rs || !rs->farm)
                return;
        struct after *a = calloc(1, sizeof(*a));
        if (!a)
                return;
        pthread_mutex_lock(&rs->write_mu);
        resv_sync_w(rs, a);
        change_end(rs, a);
}

int reservations_wait(struct reservations *rs, uint64_t gen, uint64_t retry_at_ms, resv_wake_fn fn, void *arg)
{
        if (!rs || !fn)
                return -EINVAL;
        pthread_mutex_lock(&rs->mu);
        int rc = 0;
        bool now = false;
        if (rs->closed)
                rc = -ESHUTDOWN;
        else if (rs->gen != gen)
                now = true;
        else if (rs->nwaiters == RESV_MAX_WAITERS)
                rc = -EAGAIN;
        else
                rs->waiters[rs->nwaiters++] = (struct waiter){ .fn = fn, .arg = arg, .retry_at_ms = retry_at_ms };
        pthread_mutex_unlock(&rs->mu);
        if (now)
                fn(arg);
        return rc;
}
