/* Board registry: merges the stored inventory with what is present now, owns one worker per
 * present board, validates and routes job submissions, and publishes board events.
 *
 * Locks, in the only order they are ever taken:
 *   registry.mu -> worker.mu (board_json_locked, registry_stats: worker_status; the reaper:
 *                  worker_check_deadline; registry_sync_static: worker_set_max_queued;
 *                  registry_port_added: worker_start; registry_lend: worker_lend)
 *   registry.mu -> console_dir.mu (worker_start gets the board's console)
 *   registry.mu -> remote.mu (board_json_locked: the on_board_json hook, remote_board_decorate)
 *   reservations.mu, worker.unsaved_mu, store.lock: never while registry.mu is held.
 * registry.mu guards only memory (the present boards and their reference counts, the known ids,
 * the reaper's flags): no store call, no event publication, no worker call that writes to the
 * store (worker_enqueue is memory only; worker_cancel and worker_gone finish jobs in the store)
 * happens under it (a board's stored parts, its health, are read before: board_json_stored).
 * A caller that needs a present board past the lock takes a reference
 * (present_get_locked) and drops it with present_put; the last reference frees the worker. So a
 * WebSocket upgrade (registry_board_known: memory only) or an API read never waits for a disk
 * write behind registry.mu. */
#include "registry.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "events.h"
#include "jobs/console.h"
#include "jobs/job_run.h"
#include "jobs/worker.h"
#include "log.h"
#include "reservations.h"
#include "health/health.h"
#include "store/store.h"
#include "store/store_health.h"
#include "store/store_farm_jobs.h"
#include "util.h"

#define MAX_BOARDS 512

struct present {
        char id[72];
        char identity[256];
        char url[256];
        unsigned baud;
        bool is_static;
        json_t *hints;
        struct worker *worker;
        unsigned refs;            /* under registry.mu: the boards[] slot plus every borrower */
};

struct registry {
        pthread_mutex_t mu;
        struct store *store;
        struct events *events;
        struct console_dir *consoles;
        struct config_live *config; /* borrowed; NULL: defaults */
        struct present *boards[MAX_BOARDS];
        size_t nboards;
        pthread_t reaper;
        bool reaper_running;
        bool stopping;
        pthread_cond_t reaper_cv;
        struct reservations *resv; /* leases; NULL if they could not be loaded (no checks then) */
        char (*known)[72];         /* every board id in the store (ids are never removed), memory only */
        size_t nknown, known_cap;
        registry_board_fn on_board_json;  /* remote ports add their session */
        registry_publish_fn *publish_here; /* the farm dispatcher's; NULL: events_publish */
        void *on_board_json_user;
};

static struct present *present_free(struct present *p);

/* A reference on a present board, for use after registry.mu is dropped. Caller holds r->mu. */
static struct present *present_get_locked(struct present *p)
{
        if (p)
                p->refs++;
        return p;
}

/* Drop a reference (takes registry.mu briefly); the last one stops the worker and frees. */
static void present_put(struct registry *r, struct present *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&r->mu);
        bool last = --p->refs == 0;
        pthread_mutex_unlock(&r->mu);
        if (last)
                present_free(p);
}

/* Take p out of r->boards (its slot's reference goes to the caller). Caller holds r->mu. */
static void unlist_locked(struct registry *r, struct present *p)
{
        for (size_t i = 0; i < r->nboards; i++)
                if (r->boards[i] == p) {
                        r->boards[i] = r->boards[--r->nboards];
                        return;
                }
}

static bool known_locked(struct registry *r, const char *id)
{
        for (size_t i = 0; i < r->nknown; i++)
                if (!strcmp(r->known[i], id))
                        return true;
        return false;
}

/* Remember a stored board id (memory only). Caller holds r->mu. */
static void know_locked(struct registry *r, const char *id)
{
        if (known_locked(r, id))
                return;
        if (r->nknown == r->known_cap) {
                size_t cap = r->known_cap ? r->known_cap * 2 : 64;
                char(*k)[72] = realloc(r->known, cap * sizeof(*k));
                if (!k)
                        return;
                r->known = k;
                r->known_cap = cap;
        }
        snprintf(r->known[r->nknown++], sizeof(r->known[0]), "%s", id);
}

static struct present *find_by_id(struct registry *r, const char *id)
{
        for (size_t i = 0; i < r->nboards; i++)
                if (!strcmp(r->boards[i]->id, id))
                        return r->boards[i];
        return NULL;
}

static struct present *find_by_identity(struct registry *r, const char *identity)
{
        for (size_t i = 0; i < r->nboards; i++)
                if (!strcmp(r->boards[i]->identity, identity))
                        return r->boards[i];
        return NULL;
}

/* Stable short id for a discovered board: "b" + 10 hex digits of SHA-256(identity). */
static void derive_id(const char *identity, char *buf, size_t size)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        EVP_Digest(identity, strlen(identity), md, &mdlen, EVP_sha256(), NULL);
        snprintf(buf, size, "b%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4]);
}

/* May c act on board_id now (its lease, or lease_override)? 0 or -EPERM with err filled. */
static int lease_ok(struct registry *r, const char *board_id, const struct reg_caller *c, struct corral_error *err)
{
        if (c && c->lease_override)
                return 0;
        if (reservations_check_board(r->resv, board_id, c ? c->lease : NULL, util_wall_ms(), err) < 0)
                return -EPERM;
        return 0;
}

/* The config's firmware_dirs as a JSON array (new reference). Caller holds nothing. */
static json_t *firmware_dirs_json(const struct config *cfg)
{
        json_t *a = json_array();
        for (size_t i = 0; cfg && i < cfg->nfirmware_dirs; i++)
                json_array_append_new(a, json_string(cfg->firmware_dirs[i]));
        return a;
}

static const char *state_of(struct present *p, struct worker_status *ws)
{
        if (!p)
                return "offline";
        worker_status(p->worker, ws);
        if (ws->busy)
                return "busy";
        /* A static port whose endpoint cannot be reached (remote serial server down, virtual
         * board unplugged) is offline, with port.error saying why. A USB board udev reports is
         * plugged in, so it stays online even when its tty cannot be opened (port.error says why). */
        if (p->is_static && !ws->port_open && ws->port_error[0])
                return "offline";
        return "online";
}

/* Board JSON = stored row + live state. Caller holds r->mu. */
static json_t *board_json_locked(struct registry *r, json_t *row)
{
        const char *id = json_string_value(json_object_get(row, "id"));
        struct present *p = id ? find_by_id(r, id) : NULL;
        struct worker_status ws;
        memset(&ws, 0, sizeof(ws));
        json_object_set_new(row, "state", json_string(state_of(p, &ws)));
        if (p) {
                json_object_set_new(row, "port", json_pack("{s:s, s:b, s:i, s:s*}", "url", p->url, "open",
                                                           ws.port_open, "queued", (int)ws.queued, "error",
                                                           ws.port_error[0] ? ws.port_error : NULL));
                json_object_set_new(row, "running_job", ws.running_job ? json_integer(ws.running_job) : json_null());
                json_object_set_new(row, "static", json_boolean(p->is_static));
        } else {
                json_object_set_new(row, "port", json_null());
                json_object_set_new(row, "running_job", json_null());
        }
        /* Convenience for filters and the console: family from facts, else hints. */
        json_t *facts = json_object_get(row, "facts");
        json_t *chip = json_object_get(json_object_get(facts, "chip"), "value");
        json_t *fam = json_object_get(json_object_get(row, "hints"), "family");
        json_object_set_new(row, "family", json_string(json_is_string(fam) ? json_string_value(fam) : "unknown"));
        if (json_is_string(chip))
                json_object_set(row, "chip", chip);
        if (r->on_board_json && id)
                r->on_board_json(r->on_board_json_user, id, row);
        return row;
}

/* The stored parts of a board's JSON: "health" (good / degraded / quarantined), read from the
 * store before registry.mu is taken, so no store access happens under it. health: every board's
 * status (store_health_status_all(), for lists), or NULL to read this board's. */
static json_t *board_json_stored(struct registry *r, json_t *row, const json_t *health)
{
        if (health)
                health_decorate_from(health, row);
        else
                health_decorate(r->store, row);
        return row;
}

static void publish_board(struct registry *r, const char *type, const char *id)
{
        json_t *row = NULL;
        if (store_board_get(r->store, id, &row) < 0)
                return;
        board_json_stored(r, row, NULL);
        pthread_mutex_lock(&r->mu);
        board_json_locked(r, row);
        pthread_mutex_unlock(&r->mu);
        events_publish(r->events, type, row);
}

static void on_worker_state(void *user, const char *board_id)
{
        publish_board(user, "board.state", board_id);
}

static void *reaper_main(void *arg)
{
        struct registry *r = arg;
        pthread_mutex_lock(&r->mu);
        while (!r->stopping) {
                uint64_t now = util_mono_ms();
                for (size_t i = 0; i < r->nboards; i++)
                        worker_check_deadline(r->boards[i]->worker, now);
                pthread_mutex_unlock(&r->mu);
                reservations_reap(r->resv, util_wall_ms(), util_mono_ms()); /* expire leases, wake waiters */
                pthread_mutex_lock(&r->mu);
                struct timespec ts = util_deadline_ts(200);
                pthread_cond_timedwait(&r->reaper_cv, &r->mu, &ts);
        }
        pthread_mutex_unlock(&r->mu);
        return NULL;
}

/* A lease was granted: whoever writes to that board's console without it stops now. */
static void on_lease_granted(void *user, const char *board_id, int64_t id, const char *owner)
{
        struct registry *r = user;
        struct console *c = NULL;
        if (!board_id || console_dir_get(r->consoles, board_id, &c) < 0)
                return;
        char why[300];
        snprintf(why, sizeof(why), "Board '%s' was just reserved by %s (reservation %lld): only its lease holder may "
                 "write to it now; your write lock was revoked and input not yet sent was dropped.", board_id,
                 owner ? owner : "?", (long long)id);
        console_revoke_writer(c, id, "lease_granted", why);
        console_unref(c);
}

int registry_new(struct store *st, struct events *ev, struct console_dir *consoles, struct config_live *config,
                 struct registry **ret)
{
        struct registry *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->mu, NULL);
        util_cond_init_mono(&r->reaper_cv);
        r->store = st;
        r->events = ev;
        r->consoles = consoles;
        r->config = config;
        json_t *rows = NULL;
        if (store_board_list(st, &rows) == 0) {
                size_t i;
                json_t *row;
                json_array_foreach(rows, i, row)
                        know_locked(r, json_string_value(json_object_get(row, "id"))); /* not shared yet */
        }
        json_decref(rows);
        int rc = reservations_new(st, ev, &r->resv);
        if (rc < 0)
                log_error("cannot load the reservations (boards are not leased): %s", strerror(-rc));
        else
                reservations_on_grant(r->resv, on_lease_granted, r);
        if (pthread_create(&r->reaper, NULL, reaper_main, r) == 0)
                r->reaper_running = true;
        *ret = r;
        return 0;
}

static struct present *present_free(struct present *p)
{
        if (!p)
                return NULL;
        worker_free(p->worker);
        json_decref(p->hints);
        free(p);
        return NULL;
}

void registry_shutdown(struct registry *r, int timeout_ms)
{
        (void)timeout_ms; /* workers cancel their port I/O; each job ends within one read slice */
        pthread_mutex_lock(&r->mu);
        size_t n = r->nboards;
        struct present *list[MAX_BOARDS];
        memcpy(list, r->boards, n * sizeof(list[0]));
        r->nboards = 0;
        r->stopping = true;
        pthread_cond_signal(&r->reaper_cv);
        pthread_mutex_unlock(&r->mu);
        for (size_t i = 0; i < n; i++)
                present_put(r, list[i]); /* a borrower's reference frees it later */
}

struct registry *registry_free(struct registry *r)
{
        if (!r)
                return NULL;
        registry_shutdown(r, 5000);
        if (r->reaper_running)
                pthread_join(r->reaper, NULL);
        r->resv = reservations_free(r->resv);
        free(r->known);
        pthread_cond_destroy(&r->reaper_cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
}

int registry_port_added(struct registry *r, const struct board_source *src)
{
        char id[72];
        if (store_board_find_identity(r->store, src->identity, id, sizeof(id)) < 0) {
                if (src->id)
                        snprintf(id, sizeof(id), "%s", src->id);
                else
                        derive_id(src->identity, id, sizeof(id));
        }
        json_t *hints = src->hints ? json_deep_copy(src->hints) : json_object();
        json_object_set_new(hints, "url", json_string(src->url));
        int rc = store_board_upsert(r->store, id, src->identity, src->name ? src->name : id, hints);
        if (rc < 0) {
                log_error("cannot record board %s (%s): %s", id, src->identity, strerror(-rc));
                json_decref(hints);
                return rc;
        }
        pthread_mutex_lock(&r->mu);
        know_locked(r, id);
        struct present *old = find_by_identity(r, src->identity);
        if (old) /* same board seen again (udev change, renumbered tty): restart on the new url */
                unlist_locked(r, old);
        pthread_mutex_unlock(&r->mu);
        if (old) {
                worker_gone(old->worker, true);
                present_put(r, old);
        }
        struct present *p = calloc(1, sizeof(*p));
        if (!p) {
                json_decref(hints);
                return -ENOMEM;
        }
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->identity, sizeof(p->identity), "%s", src->identity);
        snprintf(p->url, sizeof(p->url), "%s", src->url);
        p->baud = src->baud;
        p->is_static = src->is_static;
        p->hints = hints;
        p->refs = 1; /* its boards[] slot */
        const struct config *cfg = config_live_get(r->config); /* held until the worker copied it */
        json_t *dirs = firmware_dirs_json(cfg);
        struct worker_opts wo = {
                .board_id = p->id,
                .url = p->url,
                .baud = p->baud,
                .hints = hints,
                .stub_dir = cfg && cfg->stub_dir[0] ? cfg->stub_dir : NULL,
                .firmware_dirs = dirs,
                .max_queued = cfg ? cfg->max_queued_jobs : 64,
                .store = r->store,
                .events = r->events,
                .consoles = r->consoles,
                .on_state = on_worker_state,
                .user = r,
        };
        /* Under registry.mu (memory only: a thread and the board's console), so that the worker's
         * first state callback finds the board listed. */
        pthread_mutex_lock(&r->mu);
        rc = r->nboards >= MAX_BOARDS ? -ENOSPC : worker_start(&wo, &p->worker);
        if (rc == 0)
                r->boards[r->nboards++] = p;
        pthread_mutex_unlock(&r->mu);
        json_decref(dirs);
        config_put(cfg);
        if (rc < 0) {
                log_error("cannot start a worker for board %s: %s", id, strerror(-rc));
                present_free(p);
                return rc;
        }
        log_info("board %s online at %s (%s)", id, src->url, src->identity);
        publish_board(r, "board.online", id);
        return 0;
}

int registry_port_removed(struct registry *r, const char *identity)
{
        pthread_mutex_lock(&r->mu);
        struct present *p = find_by_identity(r, identity);
        if (p)
                unlist_locked(r, p);
        pthread_mutex_unlock(&r->mu);
        if (!p)
                return -ENOENT;
        char id[72];
        snprintf(id, sizeof(id), "%s", p->id);
        worker_gone(p->worker, p->is_static);
        present_put(r, p);
        store_board_touch(r->store, id);
        log_info("board %s offline (%s)", id, identity);
        publish_board(r, "board.offline", id);
        return 0;
}

int registry_sync_static(struct registry *r, const struct config *cfg)
{
        /* Remove static boards no longer configured or whose url/baud changed. */
        char gone[MAX_BOARDS][256];
        size_t ngone = 0;
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->nboards; i++) /* a reloaded max_queued_jobs applies to every board */
                worker_set_max_queued(r->boards[i]->worker, cfg->max_queued_jobs);
        for (size_t i = 0; i < r->nboards; i++) {
                struct present *p = r->boards[i];
                if (!p->is_static)
                        continue;
                bool keep = false;
                for (size_t k = 0; k < cfg->nports; k++)
                        if (!strcmp(cfg->ports[k].name, p->id) && !strcmp(cfg->ports[k].url, p->url) &&
                            (cfg->ports[k].baud ? cfg->ports[k].baud : 115200) == (p->baud ? p->baud : 115200))
                                keep = true;
                if (!keep)
                        snprintf(gone[ngone++], sizeof(gone[0]), "%s", p->identity);
        }
        pthread_mutex_unlock(&r->mu);
        for (size_t i = 0; i < ngone; i++)
                registry_port_removed(r, gone[i]);
        for (size_t k = 0; k < cfg->nports; k++) {
                const struct config_port *cp = &cfg->ports[k];
                char identity[128];
                snprintf(identity, sizeof(identity), "static-%s", cp->name);
                pthread_mutex_lock(&r->mu);
                bool present = find_by_identity(r, identity) != NULL;
                pthread_mutex_unlock(&r->mu);
                if (present)
                        continue;
                json_t *hints = json_pack("{s:s}", "source", "config");
                if (cp->family[0])
                        json_object_set_new(hints, "family", json_string(cp->family));
                if (cp->power[0])
                        json_object_set_new(hints, "power", json_string(cp->power));
                struct board_source src = { .identity = identity, .id = cp->name, .name = cp->name, .url = cp->url,
                                            .baud = cp->baud, .hints = hints, .is_static = true };
                registry_port_added(r, &src);
                json_decref(hints);
        }
        return 0;
}

static bool labels_match(json_t *row, const char *label)
{
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(row, "labels"), i, l)
                if (json_is_string(l) && !strcmp(json_string_value(l), label))
                        return true;
        return false;
}

int registry_boards_json(struct registry *r, const char *label, const char *family, const char *state,
                         json_t **ret)
{
        json_t *rows = NULL;
        int rc = store_board_list(r->store, &rows);
        if (rc < 0)
                return rc;
        json_t *health = NULL; /* one query for every board's health; unreadable: all read good */
        if (store_health_status_all(r->store, &health) < 0)
                health = json_object();
        json_t *out = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
                board_json_stored(r, row, health);
        pthread_mutex_lock(&r->mu);
        json_array_foreach(rows, i, row)
        {
                board_json_locked(r, row);
                if (label && !labels_match(row, label))
                        continue;
                if (family && strcmp(json_string_value(json_object_get(row, "family")), family))
                        continue;
                if (state && strcmp(json_string_value(json_object_get(row, "state")), state))
                        continue;
                json_array_append(out, row);
        }
        pthread_mutex_unlock(&r->mu);
        json_decref(health);
        json_decref(rows);
        *ret = out;
        return 0;
}

int registry_present_json(struct registry *r, json_t **ret)
{
        json_t *health = NULL, *out = json_array();
        if (!out)
                return -ENOMEM;
        if (store_health_status_here(r->store, &health) < 0) /* unreadable: all read good */
                health = json_object();
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->nboards; i++) {
                json_t *row = json_pack("{s:s}", "id", r->boards[i]->id);
                if (!row)
                        continue;
                health_decorate_from(health, row);
                json_array_append_new(out, board_json_locked(r, row));
        }
        pthread_mutex_unlock(&r->mu);
        json_decref(health);
        *ret = out;
        return 0;
}

int registry_board_json(struct registry *r, const char *id, json_t **ret)
{
        json_t *row = NULL;
        int rc = store_board_get(r->store, id, &row);
        if (rc < 0)
                return rc;
        board_json_stored(r, row, NULL);
        pthread_mutex_lock(&r->mu);
        board_json_locked(r, row);
        pthread_mutex_unlock(&r->mu);
        *ret = row;
        return 0;
}

bool registry_board_known(struct registry *r, const char *id)
{
        pthread_mutex_lock(&r->mu);
        bool k = id && known_locked(r, id);
        pthread_mutex_unlock(&r->mu);
        return k;
}

int registry_board_update(struct registry *r, const char *id, const json_t *patch, struct corral_error *err)
{
        return registry_board_update_as(r, id, patch, NULL, err);
}

int registry_board_update_as(struct registry *r, const char *id, const json_t *patch, const struct reg_caller *c,
                             struct corral_error *err)
{
        if (!json_is_object(patch))
                return corral_error_set(err, CORRAL_E_INVALID_BODY, NULL, -EINVAL, "The body must be a JSON object.");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)patch, key, v)
        {
                if (strcmp(key, "name") && strcmp(key, "labels") && strcmp(key, "notes"))
                        return corral_error_set(
                                err, CORRAL_E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key), -EINVAL,
                                "Field '%s' cannot be changed; editable fields are name, labels and notes.", key);
        }
        json_t *name = json_object_get(patch, "name");
        json_t *labels = json_object_get(patch, "labels");
        json_t *notes = json_object_get(patch, "notes");
        if (name && (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 64))
                return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "name"), -EINVAL,
                                     "'name' must be a string of 1 to 64 characters.");
        if (notes && (!json_is_string(notes) || json_string_length(notes) > 4096))
                return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "notes"), -EINVAL,
                                     "'notes' must be a string of at most 4096 characters.");
        if (labels) {
                size_t i;
                json_t *l;
                if (!json_is_array(labels) || json_array_size(labels) > 32)
                        return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "labels"), -EINVAL,
                                             "'labels' must be an array of at most 32 strings.");
                json_array_foreach(labels, i, l)
                {
                        if (!json_is_string(l) || json_string_length(l) == 0 || json_string_length(l) > 64)
                                return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "labels"),
                                                     -EINVAL, "Each label must be a string of 1 to 64 characters.");
                }
        }
        /* Labels drive reservation matching: a leased board is its holder's to edit. */
        if (lease_ok(r, id, c, err) < 0)
                return -EPERM;
        int rc = store_board_update(r->store, id, name ? json_string_value(name) : NULL, labels,
                                    notes ? json_string_value(notes) : NULL);
        if (rc == -ENOENT)
                return corral_error_set(err, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", id), -EINVAL,
                                     "No board with id '%s'.", id);
        if (rc < 0)
                return corral_error_store(err, rc, -EINVAL, "Could not save the board");
        publish_board(r, "board.updated", id);
        return 0;
}

int registry_lend(struct registry *r, const char *board_id, const struct worker_lend *l)
{
        pthread_mutex_lock(&r->mu);
        struct present *p = find_by_id(r, board_id);
        int rc = p ? worker_lend(p->worker, l) : -ENOENT;
        pthread_mutex_unlock(&r->mu);
        return rc;
}

bool registry_board_present(struct registry *r, const char *board_id)
{
        pthread_mutex_lock(&r->mu);
        bool present = find_by_id(r, board_id) != NULL;
        pthread_mutex_unlock(&r->mu);
        return present;
}

void registry_on_publish_here(struct registry *r, registry_publish_fn *fn)
{
        pthread_mutex_lock(&r->mu);
        r->publish_here = fn;
        pthread_mutex_unlock(&r->mu);
}

void registry_on_board_json(struct registry *r, registry_board_fn fn, void *user)
{
        pthread_mutex_lock(&r->mu);
        r->on_board_json = fn;
        r->on_board_json_user = user;
        pthread_mutex_unlock(&r->mu);
}

struct reservations *registry_reservations(struct registry *r)
{
        return r ? r->resv : NULL;
}

int registry_job_submit(struct registry *r, const char *board_id, const json_t *body, json_t **ret_job,
                        struct corral_error *err)
{
        return registry_job_submit_as(r, board_id, body, NULL, ret_job, err);
}

/* The job's kind and its timeout (its own timeout_s, else the shorter of the kind's default and
 * the config's job_timeout). */
static int submit_kind(struct registry *r, const json_t *body, const struct job_kind **ret_kind, int *ret_timeout_s,
                       struct corral_error *err)
{
        if (!json_is_object(body))
                return corral_error_set(err, CORRAL_E_INVALID_BODY, NULL, -EINVAL,
                                        "The body must be a JSON object with a \"kind\".");
        json_t *jk = json_object_get(body, "kind");
        char kinds[512];
        job_kinds_list(kinds, sizeof(kinds));
        if (!json_is_string(jk))
                return corral_error_set(err, CORRAL_E_MISSING_KIND, json_pack("{s:s}", "allowed", kinds), -EINVAL,
                                        "The job needs a \"kind\"; one of: %s.", kinds);
        const struct job_kind *kind = job_kind_find(json_string_value(jk));
        if (!kind)
                return corral_error_set(err, CORRAL_E_UNKNOWN_KIND,
                                        json_pack("{s:s, s:s}", "kind", json_string_value(jk), "allowed", kinds),
                                        -EINVAL, "Unknown job kind '%s'; allowed kinds: %s.", json_string_value(jk),
                                        kinds);
        int timeout_s = (int)kind->default_timeout_s;
        json_t *jt = json_object_get(body, "timeout_s");
        if (jt) {
                if (!json_is_integer(jt) || json_integer_value(jt) < 1 || json_integer_value(jt) > 86400)
                        return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "timeout_s"),
                                                -EINVAL,
                                                "'timeout_s' must be a whole number of seconds from 1 to 86400.");
                timeout_s = (int)json_integer_value(jt);
        }
        /* job_timeout (config) bounds every job that does not give its own timeout_s: the kind's
         * default applies only when it is shorter. (It used to apply only to kinds without a
         * default, and every kind has one, so the setting had no effect.) */
        const struct config *cfg = config_live_get(r->config);
        unsigned cfg_timeout = cfg ? cfg->job_timeout_s : 300;
        config_put(cfg);
        if (!jt && cfg_timeout > 0 && (timeout_s <= 0 || (unsigned)timeout_s > cfg_timeout))
                timeout_s = (int)cfg_timeout;
        *ret_kind = kind;
        *ret_timeout_s = timeout_s;
        return 0;
}

/* A kind check's refusal: -EBADMSG is well-formed but impossible, anything else bad params. */
static int params_refused(struct corral_error *err, int e, json_t *details, const char *msg, const char *dflt)
{
        return corral_error_set(err, e == -EBADMSG ? CORRAL_E_UNPROCESSABLE : CORRAL_E_INVALID_PARAMS, details,
                                -EINVAL, "%s", msg[0] ? msg : dflt);
}

/* The kind's own checks of the parameters: their shape, what caller c may name (host files), and
 * what they reference in the store (firmware ids). */
static int submit_check_params(struct registry *r, const struct job_kind *kind, const json_t *body,
                               const struct reg_caller *c, struct corral_error *err)
{
        if (!kind->check)
                return 0;
        char msg[512] = "";
        int e = kind->check(body, msg, sizeof(msg));
        if (e >= 0 && kind->check_caller) {
                const struct config *now = config_live_get(r->config);
                json_t *dirs = firmware_dirs_json(now);
                config_put(now);
                struct job_caller jc = { .name = c && c->name ? c->name : "?", .host_files = c && c->host_files,
                                         .firmware_dirs = dirs };
                e = kind->check_caller(body, &jc, msg, sizeof(msg));
                json_decref(dirs);
        }
        if (e == -EACCES)
                return corral_error_set(err, CORRAL_E_PATH_NOT_ALLOWED, json_pack("{s:s}", "kind", kind->name), -EACCES,
                                        "%s", msg[0] ? msg : "This path is not allowed.");
        if (e >= 0 && kind->check_store)
                e = kind->check_store(body, r->store, msg, sizeof(msg));
        if (e < 0)
                return params_refused(err, e, json_pack("{s:s}", "kind", kind->name), msg,
                                      "Invalid parameters for this job kind.");
        return 0;
}

/* The board exists, and the parameters fit what earlier jobs learned about it (its chip, ...). */
static int submit_check_board(struct registry *r, const struct job_kind *kind, const char *board_id,
                              const json_t *body, struct corral_error *err)
{
        json_t *row = NULL;
        int got = store_board_get(r->store, board_id, &row);
        if (got == -ENOTCONN)
                return corral_error_store(err, got, -EINVAL, "Cannot read the board");
        if (got < 0)
                return corral_error_set(err, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", board_id), -EINVAL,
                                        "No board with id '%s'.", board_id);
        int rc = 0;
        if (kind->check_board) {
                char msg[512] = "";
                json_t *facts = json_object();
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(row, "facts"), k, v)
                        json_object_set(facts, k, json_object_get(v, "value"));
                int e = kind->check_board(body, r->store, facts, msg, sizeof(msg));
                json_decref(facts);
                if (e < 0)
                        rc = params_refused(err, e, json_pack("{s:s, s:s}", "kind", kind->name, "board", board_id), msg,
                                            "These parameters do not fit this board.");
        }
        json_decref(row);
        return rc;
}

/* Record the job and queue it on the board's worker; *ret_id its id. The store write happens
 * outside registry.mu, on a reference to the present board. */
static int submit_queue(struct registry *r, const char *board_id, const struct job_kind *kind, const json_t *body,
                        int timeout_s, int64_t *ret_id, bool *ret_remote, struct corral_error *err)
{
        pthread_mutex_lock(&r->mu);
        struct present *p = present_get_locked(find_by_id(r, board_id));
        pthread_mutex_unlock(&r->mu);
        int64_t id = 0;
        if (!p) { /* on another host of the farm (farm/farm_dispatch.c runs it there)? */
                int fr = store_farm_job_post(r->store, board_id, kind->name, body, timeout_s, util_wall_ms(), &id);
                if (fr == 0)
                        *ret_id = id, *ret_remote = true;
                if (fr == 0 || fr == -ENOTCONN)
                        return fr ? corral_error_store(err, fr, -EINVAL, "Could not record the job") : 0;
                return corral_error_set(err, CORRAL_E_BOARD_OFFLINE, json_pack("{s:s}", "board", board_id), -EINVAL,
                                        "Board '%s' is offline (not plugged in or its port is not configured).",
                                        board_id);
        }
        int rc = store_job_create(r->store, board_id, kind->name, body, timeout_s, &id);
        if (rc < 0) {
                present_put(r, p);
                return corral_error_store(err, rc, -EINVAL, "Could not record the job");
        }
        rc = worker_enqueue(p->worker, id, kind, body, timeout_s); /* -ENODEV once the board is gone */
        present_put(r, p);
        if (rc < 0) {
                store_job_finish(r->store, id, "failed", NULL, rc == -ENOSPC ? "queue_full" : "not_queued",
                                 rc == -ENOSPC ? "The board's job queue is full." : strerror(-rc));
                if (rc == -ENOSPC)
                        return corral_error_set(
                                err, CORRAL_E_QUEUE_FULL, json_pack("{s:s}", "board", board_id), -EINVAL,
                                "Board '%s' already has the maximum number of queued jobs; try again later.", board_id);
                if (rc == -ENODEV)
                        return corral_error_set(err, CORRAL_E_BOARD_OFFLINE, json_pack("{s:s}", "board", board_id),
                                                -EINVAL, "Board '%s' went offline.", board_id);
                return corral_error_set(err, CORRAL_E_STORE_ERROR, NULL, -EINVAL, "Could not queue the job: %s",
                                        strerror(-rc));
        }
        *ret_id = id;
        return 0;
}

int registry_job_submit_as(struct registry *r, const char *board_id, const json_t *body, const struct reg_caller *c,
                           json_t **ret_job, struct corral_error *err)
{
        const struct job_kind *kind = NULL;
        int timeout_s = 0;
        int rc = submit_kind(r, body, &kind, &timeout_s, err);
        if (rc == 0)
                rc = submit_check_params(r, kind, body, c, err);
        if (rc == 0)
                rc = submit_check_board(r, kind, board_id, body, err);
        if (rc < 0)
                return rc;
        /* A reserved board takes jobs only from its lease holder (or an admin). */
        if (lease_ok(r, board_id, c, err) < 0)
                return -EPERM;
        int64_t id = 0;
        bool remote = false; /* the store holds its "queued" event for the other hosts already */
        if ((rc = submit_queue(r, board_id, kind, body, timeout_s, &id, &remote, err)) < 0)
                return rc;
        json_t *queued = json_pack("{s:I, s:s, s:s, s:s}", "job", (json_int_t)id, "board", board_id, "kind", kind->name,
                                   "state", "queued");
        pthread_mutex_lock(&r->mu);
        registry_publish_fn *here = remote ? r->publish_here : NULL;
        pthread_mutex_unlock(&r->mu);
        if (here)
                here(r->events, "job.state", queued);
        else
                events_publish(r->events, "job.state", queued);
        rc = store_job_get(r->store, id, false, ret_job);
        if (rc == -ENOTCONN)
                return corral_error_store(err, rc, -EINVAL, "The job was queued but cannot be read back");
        return rc < 0 ? corral_error_set(err, CORRAL_E_STORE_ERROR, NULL, -EINVAL,
                                         "Job %lld was queued but cannot be read back.", (long long)id)
                      : 0;
}

int registry_job_cancel(struct registry *r, int64_t job_id, json_t **ret_job, struct corral_error *err)
{
        return registry_job_cancel_as(r, job_id, NULL, ret_job, err);
}

int registry_job_cancel_as(struct registry *r, int64_t job_id, const struct reg_caller *c, json_t **ret_job,
                           struct corral_error *err)
{
        json_t *job = NULL;
        if (store_job_get(r->store, job_id, false, &job) < 0)
                return corral_error_set(err, CORRAL_E_JOB_NOT_FOUND, json_pack("{s:I}", "job", (json_int_t)job_id), -EINVAL,
                                     "No job with id %lld.", (long long)job_id);
        const char *state = json_string_value(json_object_get(job, "state"));
        const char *board = json_string_value(json_object_get(job, "board"));
        if (!state || (strcmp(state, "queued") && strcmp(state, "running"))) {
                int rc = corral_error_set(err, CORRAL_E_JOB_FINISHED,
                                       json_pack("{s:I, s:s}", "job", (json_int_t)job_id, "state", state ? state : "?"),
                                       -EINVAL, "Job %lld has already finished (%s).", (long long)job_id,
                                       state ? state : "?");
                json_decref(job);
                return rc;
        }
        /* A leased board's jobs are its holder's to cancel. */
        if (board && lease_ok(r, board, c, err) < 0) {
                json_decref(job);
                return -EPERM;
        }
        pthread_mutex_lock(&r->mu);
        struct present *p = present_get_locked(board ? find_by_id(r, board) : NULL);
        pthread_mutex_unlock(&r->mu);
        int rc = p ? worker_cancel(p->worker, job_id) : -ENOENT; /* a queued job ends in the store */
        present_put(r, p);
        if (!p && board) /* a board on another host: the store tells it (farm/farm_dispatch.c) */
                rc = registry_job_cancel_remote(r, job);
        json_decref(job);
        if (rc == -ENOTCONN)
                return corral_error_store(err, rc, -EINVAL, "Cannot cancel the job");
        if (rc < 0)
                return corral_error_set(err, CORRAL_E_JOB_FINISHED, json_pack("{s:I}", "job", (json_int_t)job_id), -EINVAL,
                                     "Job %lld is no longer queued or running.", (long long)job_id);
        /* A running job finishes asynchronously; report what the store says now. */
        if (store_job_get(r->store, job_id, false, ret_job) < 0)
                *ret_job = json_pack("{s:I}", "id", (json_int_t)job_id);
        return 0;
}

void registry_stats(struct registry *r, struct registry_stats *s)
{
        memset(s, 0, sizeof(*s));
        size_t total = 0;
        if (store_board_count(r->store, &total) < 0)
                total = 0;
        pthread_mutex_lock(&r->mu);
        unsigned unreachable = 0;
        for (size_t i = 0; i < r->nboards; i++) {
                struct worker_status ws;
                const char *st = state_of(r->boards[i], &ws);
                if (!strcmp(st, "busy"))
                        s->boards_busy++;
                else if (!strcmp(st, "online"))
                        s->boards_online++;
                else
                        unreachable++;
                s->jobs_queued += ws.queued;
                s->jobs_running += ws.busy ? 1 : 0;
        }
        size_t present = r->nboards;
        pthread_mutex_unlock(&r->mu);
        s->boards_offline = unreachable + (total > present ? (unsigned)(total - present) : 0);
}

/* ---- cross-host jobs (farm/farm_dispatch.c) ---- */

int registry_job_cancel_remote(struct registry *r, const json_t *job)
{
        int64_t id = json_integer_value(json_object_get(job, "id"));
        int rc = store_farm_job_cancel(r->store, id);
        if (rc == 1) /* still pending: it ends here, as a worker ends a queued job */
                events_publish(r->events, "job.state",
                               json_pack("{s:I, s:O, s:O, s:s, s:{s:s, s:s}}", "job", (json_int_t)id, "board",
                                         json_object_get(job, "board"), "kind", json_object_get(job, "kind"), "state",
                                         "cancelled", "error", "code", "cancelled", "message",
                                         "Cancelled before it started."));
        return rc < 0 ? rc : 0;
}

int registry_job_enqueue_claimed(struct registry *r, const json_t *job)
{
        const char *board_id = json_string_value(json_object_get(job, "board"));
        const struct job_kind *kind = job_kind_find(json_string_value(json_object_get(job, "kind")));
        if (!board_id || !kind)
                return -EINVAL;
        pthread_mutex_lock(&r->mu);
        struct present *p = present_get_locked(find_by_id(r, board_id));
        pthread_mutex_unlock(&r->mu);
        if (!p)
                return -ENODEV;
        int rc = worker_enqueue(p->worker, json_integer_value(json_object_get(job, "id")), kind,
                                json_object_get(job, "params"), (int)json_integer_value(json_object_get(job, "timeout_s")));
        present_put(r, p);
        return rc;
}

int registry_job_cancel_local(struct registry *r, const char *board_id, int64_t job_id)
{
        pthread_mutex_lock(&r->mu);
        struct present *p = present_get_locked(board_id ? find_by_id(r, board_id) : NULL);
        pthread_mutex_unlock(&r->mu);
        int rc = p ? worker_cancel(p->worker, job_id) : -ENODEV;
        present_put(r, p);
        return rc;
}
