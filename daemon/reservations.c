/* Reservations: leases on boards with a TTL and an owner token. Active leases live in memory
 * (mirrored in the store, token hashed); every change is stored first, then announced. */
#include "reservations.h"
#include "health/health.h"

#include <ctype.h>
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
};


/* ---- pure helpers ---- */

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

static bool string_in(const json_t *arr, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
                if (json_is_string(v) && !strcmp(json_string_value(v), s))
                        return true;
        return false;
}

bool reservations_board_matches(const json_t *board, const json_t *match)
{
        const char *id = json_string_value(json_object_get(board, "id"));
        if (!id)
                return false;
        const char *want_board = json_string_value(json_object_get(match, "board"));
        const char *want_family = json_string_value(json_object_get(match, "family"));
        if (want_board && strcmp(want_board, id))
                return false;
        if (want_family) {
                const char *fam = json_string_value(json_object_get(board, "family"));
                if (!fam || strcmp(fam, want_family))
                        return false;
        }
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(match, "labels"), i, l)
                if (!string_in(json_object_get(board, "labels"), json_string_value(l)))
                        return false;
        return true;
}

static int bad_field(struct corral_error *err, const char *field, const char *msg)
{
        return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", field), -EINVAL, "%s", msg);
}

static int parse_match(const json_t *match, struct corral_error *err)
{
        if (!json_is_object(match))
                return corral_error_set(err, CORRAL_E_INVALID_MATCH, NULL, -EINVAL,
                                     "'match' must be an object with any of \"labels\" (list of strings), \"family\" "
                                     "and \"board\" (an id).");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)match, key, v) {
                if (!strcmp(key, "labels")) {
                        size_t i;
                        json_t *l;
                        if (!json_is_array(v) || json_array_size(v) > 32)
                                return corral_error_set(err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", "labels"),
                                                     -EINVAL, "'match.labels' must be a list of at most 32 strings.");
                        json_array_foreach(v, i, l)
                                if (!json_is_string(l) || !json_string_length(l) || json_string_length(l) > 64)
                                        return corral_error_set(err, CORRAL_E_INVALID_MATCH,
                                                             json_pack("{s:s}", "field", "labels"), -EINVAL,
                                                             "Each label in 'match.labels' must be a string of 1 to 64 "
                                                             "characters.");
                } else if (!strcmp(key, "family") || !strcmp(key, "board")) {
                        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 64)
                                return corral_error_set(err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", key),
                                                     -EINVAL, "'match.%s' must be a string of 1 to 64 characters.",
                                                     key);
                } else {
                        return corral_error_set(
                                err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", key), -EINVAL,
                                "Unknown key 'match.%s'; a match has \"labels\", \"family\" and \"board\".", key);
                }
        }
        return 0;
}

static int bad_boards(struct corral_error *err, size_t k, const char *field, const char *msg)
{
        char f[48];
        snprintf(f, sizeof(f), "boards[%zu]%s", k, field);
        return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", f), -EINVAL, "%s%s", f, msg);
}

/* "boards": [{"role": NAME, "match": {...}}, ...], 1 to RESV_GROUP_MAX distinct roles. */
static int parse_boards(const json_t *boards, struct corral_error *err)
{
        if (!json_is_array(boards) || !json_array_size(boards) || json_array_size(boards) > RESV_GROUP_MAX)
                return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", "boards"), -EINVAL,
                                     "'boards' must be a list of 1 to %d {\"role\": NAME, \"match\": {...}} objects.",
                                     RESV_GROUP_MAX);
        size_t k;
        json_t *b;
        json_array_foreach(boards, k, b) {
                if (!json_is_object(b))
                        return bad_boards(err, k, "", " must be an object {\"role\": NAME, \"match\": {...}}.");
                const char *key;
                json_t *v;
                json_object_foreach(b, key, v)
                        if (strcmp(key, "role") && strcmp(key, "match"))
                                return bad_boards(err, k, "", ": unknown key; a role has \"role\" and \"match\".");
                const char *role = json_string_value(json_object_get(b, "role"));
                size_t n = role ? strlen(role) : 0;
                bool ok = n >= 1 && n <= 32;
                for (size_t i = 0; ok && i < n; i++)
                        ok = isalnum((unsigned char)role[i]) || role[i] == '_' || role[i] == '-';
                if (!ok)
                        return bad_boards(err, k, ".role", " must be 1 to 32 letters, digits, '_' or '-'.");
                for (size_t j = 0; j < k; j++)
                        if (!strcmp(role, json_string_value(json_object_get(json_array_get(boards, j), "role"))))
                                return bad_boards(err, k, ".role", ": this role is given twice.");
                json_t *match = json_object_get(b, "match");
                if (!match)
                        return bad_boards(err, k, ".match", " is missing ({} takes any board).");
                struct corral_error sub = { 0 };
                if (parse_match(match, &sub) < 0) {
                        corral_error_clear(&sub);
                        return bad_boards(err, k, ".match", " must be an object with any of \"labels\" (a list of at "
                                          "most 32 strings of 1 to 64 characters), \"family\" and \"board\" (strings).");
                }
        }
        return 0;
}

static int int_field(const json_t *body, const char *name, int min, int max, int dflt, int *out,
                     struct corral_error *err)
{
        json_t *v = json_object_get(body, name);
        if (!v) {
                *out = dflt;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
                char msg[160];
                snprintf(msg, sizeof(msg), "'%s' must be a whole number of seconds from %d to %d.", name, min, max);
                return bad_field(err, name, msg);
        }
        *out = (int)json_integer_value(v);
        return 0;
}

int reservations_parse_request(const json_t *body, struct resv_request *req, struct corral_error *err)
{
        if (!json_is_object(body))
                return corral_error_set(err, CORRAL_E_INVALID_BODY, NULL, -EINVAL, "The body must be a JSON object.");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)body, key, v)
                if (strcmp(key, "match") && strcmp(key, "ttl_s") && strcmp(key, "owner") && strcmp(key, "wait_s") &&
                    strcmp(key, "boards"))
                        return corral_error_set(err, CORRAL_E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key), -EINVAL,
                                             "Unknown field '%s'; a reservation takes match (or boards), ttl_s, owner "
                                             "and wait_s.", key);
        struct resv_request r = { 0 };
        r.match = json_object_get(body, "match");
        int rc;
        if (json_object_get(body, "boards")) {
                if (r.match)
                        return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", "boards"), -EINVAL,
                                             "Give either 'match' (one board) or 'boards' (several, by role), not both.");
                if ((rc = parse_boards(json_object_get(body, "boards"), err)) < 0)
                        return rc;
                r.boards = json_object_get(body, "boards");
        } else if (!r.match)
                return corral_error_set(
                        err, CORRAL_E_INVALID_MATCH, NULL, -EINVAL,
                        "A reservation needs a 'match': {\"labels\": [...], \"family\": \"...\", \"board\": "
                        "\"id\"} ({} takes any board).");
        if (r.match && (rc = parse_match(r.match, err)) < 0)
                return rc;
        if ((rc = int_field(body, "ttl_s", 1, RESV_TTL_MAX_S, RESV_TTL_DEFAULT_S, &r.ttl_s, err)) < 0 ||
            (rc = int_field(body, "wait_s", 0, RESV_WAIT_MAX_S, 0, &r.wait_s, err)) < 0)
                return rc;
        json_t *owner = json_object_get(body, "owner");
        if (owner && (!json_is_string(owner) || !json_string_length(owner) ||
                      json_string_length(owner) > RESV_OWNER_MAX))
                return bad_field(err, "owner", "'owner' must be a string of 1 to 128 characters (who holds the lease).");
        snprintf(r.owner, sizeof(r.owner), "%s", owner ? json_string_value(owner) : "anonymous");
        *req = r;
        return 0;
}

/* ---- lifecycle ---- */

static struct resv *resv_free(struct resv *r)
{
        if (r) {
                json_decref(r->match);
                free(r);
        }
        return NULL;
}

/* An active lease as the store returns it, in memory; NULL when out of memory. */
static struct resv *resv_from_store(const json_t *row)
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

static void run_after(struct reservations *rs, struct after *a)
{
        /* A grant first: other writers lose the board's console before anyone hears of the lease. */
        for (size_t i = 0; rs->on_grant && i < a->nevents; i++)
                if (!strcmp(a->types[i], "reservation.created"))
                        rs->on_grant(rs->on_grant_user, json_string_value(json_object_get(a->events[i], "board")),
                                     json_integer_value(json_object_get(a->events[i], "id")),
                                     json_string_value(json_object_get(a->events[i], "owner")));
        for (size_t i = 0; i < a->nevents; i++)
                if (rs->events)
                        events_publish(rs->events, a->types[i], a->events[i]);
                else
                        json_decref(a->events[i]);
        for (size_t i = 0; i < a->nwake; i++)
                a->wake[i].fn(a->wake[i].arg);
        a->nevents = a->nwake = 0;
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

static ssize_t find_id_locked(struct reservations *rs, int64_t id);

static void remove_at(struct reservations *rs, size_t i)
{
        resv_free(rs->active[i]);
        rs->active[i] = rs->active[--rs->nactive];
}

/* A lease ended: bump gen and hand every waiter to a (rs->mu held). */
static void wake_all_locked(struct reservations *rs, struct after *a)
{
        rs->gen++;
        memcpy(a->wake + a->nwake, rs->waiters, rs->nwaiters * sizeof(rs->waiters[0]));
        a->nwake += rs->nwaiters;
        rs->nwaiters = 0;
}

/* Expire what is due (rs->write_mu held, rs->mu not): the due ids are read from memory, their
 * ends written to the store with only write_mu held, then the recorded ones leave memory under
 * mu, and an ended lease wakes every waiter. Meanwhile a due lease is already treated as free
 * (find_board_locked), and one whose end cannot be recorded is retried on the next tick. On a
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
                ssize_t i = recorded[k] ? find_id_locked(rs, due[k]) : -1;
                if (i < 0)
                        continue;
                struct resv *r = rs->active[i];
                if (mine[k]) { /* each expiry is announced once, farm-wide */
                        log_info("reservation %lld on board %s (owner %s) expired; the board is free",
                                 (long long)r->id, r->board, r->owner);
                        announce(a, "reservation.expired", r, "expired", now_ms);
                }
                remove_at(rs, (size_t)i);
                ended = true;
        }
        if (ended)
                wake_all_locked(rs, a);
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
static struct resv *find_board_locked(struct reservations *rs, const char *board, int64_t now_ms)
{
        return find_board_in(rs->active, rs->nactive, board, now_ms);
}

static ssize_t find_id_locked(struct reservations *rs, int64_t id)
{
        for (size_t i = 0; i < rs->nactive; i++)
                if (rs->active[i]->id == id)
                        return (ssize_t)i;
        return -1;
}

static bool rows_have_id(const json_t *rows, int64_t id)
{
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
                if (json_integer_value(json_object_get(row, "id")) == id)
                        return true;
        return false;
}

/* A farm: make memory the store's active leases (granted, renewed, released or expired by any
 * host); a lease that ended elsewhere wakes the waiters. A store that cannot be read leaves
 * memory as it was (a grant then fails on the store itself). rs->write_mu held, not rs->mu: the
 * store is read with write_mu only, memory changed under mu. */
static void sync_w(struct reservations *rs, struct after *a)
{
        json_t *rows = NULL;
        if (!rs->farm || store_resv_list_active(rs->store, &rows) < 0)
                return;
        bool ended = false;
        pthread_mutex_lock(&rs->mu);
        for (size_t i = 0; i < rs->nactive;) {
                if (rows_have_id(rows, rs->active[i]->id)) {
                        i++;
                        continue;
                }
                remove_at(rs, i);
                ended = true;
        }
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                ssize_t at = find_id_locked(rs, json_integer_value(json_object_get(row, "id")));
                if (at >= 0) { /* renewed on another host */
                        rs->active[at]->ttl_s = (int)json_integer_value(json_object_get(row, "ttl_s"));
                        rs->active[at]->expires_ms = json_integer_value(json_object_get(row, "expires_ms"));
                        continue;
                }
                struct resv *r = rs->nactive < RESV_MAX_ACTIVE ? resv_from_store(row) : NULL;
                if (r)
                        rs->active[rs->nactive++] = r;
        }
        if (ended)
                wake_all_locked(rs, a);
        pthread_mutex_unlock(&rs->mu);
        json_decref(rows);
}

static json_t *holder_details(const struct resv *r)
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
        sync_w(rs, a);
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
static int grant_store(struct reservations *rs, const json_t *match, const struct resv_request *req,
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
static void grant_publish(struct reservations *rs, struct resv **rv, size_t n, struct after *a, int64_t now_ms)
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

/* Assign role k onward a distinct free board from cand (cand[k][0..ncand[k]-1] are board indexes;
 * used[] marks taken ones). Backtracking: a few roles over a few boards. */
static bool assign(size_t k, size_t n, size_t *const *cand, const size_t *ncand, bool *used, size_t *pick)
{
        if (k == n)
                return true;
        for (size_t c = 0; c < ncand[k]; c++) {
                size_t b = cand[k][c];
                if (used[b])
                        continue;
                used[b] = true;
                pick[k] = b;
                if (assign(k + 1, n, cand, ncand, used, pick))
                        return true;
                used[b] = false;
        }
        return false;
}

/* The indexes of boards that role ({"role", "match"}) could get: present ones that match, and
 * with free_only those not leased either. *ret (n + 1 entries, freed by the caller) and *ret_n;
 * refused when none matches, or (without free_only) none is present. rs->write_mu held. */
static int role_candidates_w(struct reservations *rs, const json_t *role, const json_t *boards, bool free_only,
                                  int64_t now_ms, size_t **ret, size_t *ret_n, struct corral_error *err)
{
        const json_t *match = json_object_get(role, "match");
        const char *name = json_string_value(json_object_get(role, "role"));
        size_t *cand = calloc(json_array_size(boards) + 1, sizeof(size_t)), n = 0, nmatch = 0, i;
        *ret = cand;
        *ret_n = 0;
        if (!cand)
                return corral_error_set(err, CORRAL_E_NO_MEMORY, NULL, -ENOMEM, "Out of memory.");
        json_t *b;
        json_array_foreach(boards, i, b) {
                if (!reservations_board_matches(b, match))
                        continue;
                nmatch++;
                const char *state = json_string_value(json_object_get(b, "state"));
                if (!state || !strcmp(state, "offline") || health_row_quarantined(b))
                        continue;
                if (free_only && find_board_locked(rs, json_string_value(json_object_get(b, "id")), now_ms))
                        continue;
                cand[n++] = i;
        }
        *ret_n = n;
        if (!nmatch)
                return corral_error_set(err, CORRAL_E_NO_MATCHING_BOARD,
                                        json_pack("{s:s, s:O}", "role", name, "match", match), -ENOENT,
                                        "No board matches role '%s''s 'match'.", name);
        if (!free_only && !n)
                return corral_error_set(err, CORRAL_E_NO_BOARD_ONLINE,
                                        json_pack("{s:s, s:O}", "role", name, "match", match), -ENODEV,
                                        "Role '%s': %zu board(s) match, but none is online.", name, nmatch);
        return 0;
}

/* Several roles' boards in one change under rs->write_mu: every role gets a distinct board or no
 * role gets any (so multi-board requests never hold part of what they need and never deadlock).
 * All are recorded in the store first, then published to memory at once (readers never see part). */
static int create_group_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                               int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err)
{
        size_t n = json_array_size(req->boards), nb = json_array_size(boards);
        size_t *cand[RESV_GROUP_MAX] = { 0 }, ncand[RESV_GROUP_MAX] = { 0 }, pick[RESV_GROUP_MAX];
        bool *used = calloc(nb + 1, sizeof(bool));
        int rc = 0;
        if (!used)
                return corral_error_set(err, CORRAL_E_NO_MEMORY, NULL, -ENOMEM, "Out of memory.");
        /* present: candidates ignoring leases (may the roles be met at all right now?) */
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
                for (size_t k = 0; k < n && rc == 0; k++) {
                        free(cand[k]);
                        rc = role_candidates_w(rs, json_array_get(req->boards, k), boards, pass == 1, now_ms,
                                                    &cand[k], &ncand[k], err);
                }
                if (rc)
                        break;
                memset(used, 0, (nb + 1) * sizeof(bool));
                if (!assign(0, n, cand, ncand, used, pick)) {
                        if (pass == 0)
                                rc = corral_error_set(err, CORRAL_E_NOT_ENOUGH_BOARDS, json_pack("{s:I}", "roles", (json_int_t)n),
                                                   -ENODEV, "The %zu roles need %zu distinct online boards matching "
                                                   "their 'match'; there are not that many.", n, n);
                        else
                                rc = corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:I}", "roles", (json_int_t)n),
                                                   -EBUSY, "Not enough of the matching boards are free for all %zu roles "
                                                   "at once; none was taken.", n);
                }
        }
        json_t *list = json_array();
        struct resv *got[RESV_GROUP_MAX];
        size_t ngot = 0;
        for (size_t k = 0; rc == 0 && k < n; k++) {
                const json_t *role = json_array_get(req->boards, k);
                json_t *one = NULL;
                rc = grant_store(rs, json_object_get(role, "match"), req,
                                 json_string_value(json_object_get(json_array_get(boards, pick[k]), "id")), now_ms,
                                 ngot, &got[ngot], &one, err);
                if (rc == -EEXIST) /* another host took one of the boards meanwhile: none is kept */
                        rc = corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:I}", "roles", (json_int_t)n),
                                              -EBUSY, "Another host leased one of the chosen boards meanwhile; none "
                                              "was taken.");
                if (rc == 0) {
                        ngot++;
                        json_object_set(one, "role", json_object_get(role, "role"));
                        json_array_append_new(list, one);
                }
        }
        if (rc < 0) {
                /* all or none: give back what this request recorded before the failure (never in memory) */
                for (size_t k = 0; k < ngot; k++) {
                        store_resv_end(rs->store, got[k]->id, "released");
                        resv_free(got[k]);
                }
                json_decref(list);
        } else {
                grant_publish(rs, got, ngot, a, now_ms);
                *ret = json_pack("{s:o}", "reservations", list);
        }
        for (size_t k = 0; k < n; k++)
                free(cand[k]);
        free(used);
        return rc;
}

/* Why no board of boards could be leased for match: no match at all, none present, or (holders:
 * the present ones' leases) every one reserved, told by the lease that frees up first. */
static int no_free_board(const json_t *match, size_t nmatch, size_t npresent, size_t nquarantined,
                         const struct resv *first_holder, json_t *holders, struct corral_error *err)
{
        if (!nmatch)
                return corral_error_set(err, CORRAL_E_NO_MATCHING_BOARD, json_pack("{s:O}", "match", match), -ENOENT,
                                        "No board matches this reservation's 'match'.");
        if (!npresent && nquarantined)
                return corral_error_set(err, CORRAL_E_BOARD_QUARANTINED,
                                        json_pack("{s:O, s:I}", "match", match, "quarantined", (json_int_t)nquarantined),
                                        -ENODEV, "%zu board(s) match, but %zu of them %s quarantined (out of rotation "
                                        "until released) and none other is online.", nmatch, nquarantined,
                                        nquarantined == 1 ? "is" : "are");
        if (!npresent)
                return corral_error_set(err, CORRAL_E_NO_BOARD_ONLINE, json_pack("{s:O}", "match", match), -ENODEV,
                                        "%zu board(s) match, but none is online.", nmatch);
        char exp[32];
        util_iso_from_ms(first_holder->expires_ms, exp, sizeof(exp));
        json_t *d = holder_details(first_holder);
        json_object_set(d, "holders", holders);
        return corral_error_set(err, CORRAL_E_BOARD_RESERVED, d, -EBUSY,
                                "Every matching board is reserved: %s holds %s until %s%s.", first_holder->owner,
                                first_holder->board, exp, npresent > 1 ? " (the first to free up)" : "");
}

/* The first present board of boards that matches and is not leased: 0 with *ret_pick, or the
 * refusal (err filled). rs->write_mu held. */
static int pick_free_board_w(struct reservations *rs, const json_t *match, const json_t *boards,
                                  int64_t now_ms, const json_t **ret_pick, struct corral_error *err)
{
        const struct resv *first_holder = NULL;
        size_t nmatch = 0, npresent = 0, nquarantined = 0, i;
        json_t *b;
        json_t *holders = json_array();
        json_array_foreach(boards, i, b) {
                if (!reservations_board_matches(b, match))
                        continue;
                nmatch++;
                const char *state = json_string_value(json_object_get(b, "state"));
                if (!state || !strcmp(state, "offline"))
                        continue;
                if (health_row_quarantined(b)) { /* out of rotation: never leased */
                        nquarantined++;
                        continue;
                }
                npresent++;
                const struct resv *h = find_board_locked(rs, json_string_value(json_object_get(b, "id")), now_ms);
                if (!h) {
                        json_decref(holders);
                        *ret_pick = b;
                        return 0;
                }
                json_array_append_new(holders, holder_details(h));
                if (!first_holder || h->expires_ms < first_holder->expires_ms)
                        first_holder = h;
        }
        int rc = no_free_board(match, nmatch, npresent, nquarantined, first_holder, holders, err);
        json_decref(holders);
        return rc;
}

/* One board for req->match: the first free one; on a farm, a board another host leased since
 * the last sync is learnt (sync) and the next one tried. rs->write_mu held. */
static int create_one_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                             int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err)
{
        for (int tries = 0;; tries++) {
                const json_t *pick = NULL;
                int rc = pick_free_board_w(rs, req->match, boards, now_ms, &pick, err);
                struct resv *r = NULL;
                if (rc == 0) /* grant_store refuses past RESV_MAX_ACTIVE */
                        rc = grant_store(rs, req->match, req, json_string_value(json_object_get(pick, "id")), now_ms,
                                         0, &r, ret, err);
                if (rc == 0)
                        grant_publish(rs, &r, 1, a, now_ms);
                if (rc != -EEXIST)
                        return rc;
                if (tries == RESV_FARM_TRIES)
                        return corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:O}", "match", req->match),
                                                -EBUSY, "Other hosts leased every board tried; try again.");
                sync_w(rs, a);
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
                rc = create_group_w(rs, req, boards, now_ms, a, ret, err);
        } else {
                rc = create_one_w(rs, req, boards, now_ms, a, ret, err);
        }
        change_end(rs, a);
        return rc;
}

int reservations_get(struct reservations *rs, int64_t id, int64_t now_ms, json_t **ret)
{
        if (!rs || !ret)
                return -EINVAL;
        pthread_mutex_lock(&rs->mu);
        ssize_t i = find_id_locked(rs, id);
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
        ssize_t i = find_id_locked(rs, id);
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
        ssize_t i = find_id_locked(rs, id);
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
                        remove_at(rs, (size_t)i);
                        wake_all_locked(rs, a);
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
                        err, CORRAL_E_BOARD_RESERVED, holder_details(held), -EBUSY,
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
        const struct resv *r = find_board_locked(rs, board_id, now_ms);
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
                sync_w(rs, a);
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
