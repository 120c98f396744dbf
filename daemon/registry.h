/* The board registry: every board corrald knows (from the store, udev and static ports), which
 * are present, and the port worker that owns each present board's port. Entry point for the
 * API: board snapshots, edits, and job submission/cancel. Thread-safe: one mutex, registry.mu,
 * that guards memory only and is never held across a store call or an event publication. Lock
 * order: registry.mu -> worker.mu, registry.mu -> console_dir.mu; reservations.mu,
 * worker.unsaved_mu and store.lock are taken only without registry.mu (details in registry.c). */
#ifndef CORRAL_REGISTRY_H
#define CORRAL_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct store;
struct events;
struct config;
struct config_live;

struct registry;

/* A port that appeared: from udev or a static config entry. All strings borrowed for the call. */
struct board_source {
        const char *identity;     /* stable key: "usb-10c4:ea60-0001", "path-pci-...", "static-NAME" */
        const char *id;           /* wanted id for a new board (static: its name); NULL = derive */
        const char *name;         /* default display name for a new board */
        const char *url;          /* what to open */
        unsigned baud;            /* 0 = 115200 */
        const json_t *hints;      /* {"family","bridge","vid","pid","serial","devnode",...}; may be NULL */
        bool is_static;
};

struct console_dir;
/* consoles: where the workers publish their board consoles (borrowed, outlives the registry).
 * config: the running config (borrowed, outlives the registry; read per use); NULL = defaults. */
int registry_new(struct store *st, struct events *ev, struct console_dir *consoles, struct config_live *config,
                 struct registry **ret);
/* Stops every worker (running jobs are cancelled and end as interrupted within a few seconds). */
struct registry *registry_free(struct registry *r);

int registry_port_added(struct registry *r, const struct board_source *src);
/* The port of that identity is gone (unplug, static port removed). */
int registry_port_removed(struct registry *r, const char *identity);
/* Static ports: bring the set in line with cfg (add new, remove missing, re-open changed), and
 * give every present board cfg's max_queued_jobs. cfg is only read during the call. */
int registry_sync_static(struct registry *r, const struct config *cfg);

/* JSON snapshots (new references). Filters may be NULL. */
int registry_boards_json(struct registry *r, const char *label, const char *family, const char *state,
                         json_t **ret);
int registry_board_json(struct registry *r, const char *id, json_t **ret);
/* The boards present on this host only, with their live state, port and health but none of the
 * other stored columns: one store read (this host's health statuses) whatever the farm's size. */
int registry_present_json(struct registry *r, json_t **ret);
/* Is id a board corrald knows (stored, present or not)? Memory only: no store call, no wait for
 * a disk write (the WebSocket upgrade asks this). */
bool registry_board_known(struct registry *r, const char *id);
/* Who asks (an API request), for lease and privilege checks. */
struct reg_caller {
        const char *name;         /* the token's name ("anonymous" when auth is off); NULL = "?" */
        const char *lease;        /* the X-Corral-Lease token presented, or NULL */
        bool host_files;          /* may name files on corrald's host, inside firmware_dirs (admins) */
        bool lease_override;      /* may act on a reserved board without its lease (an authenticated admin) */
};

/* Edit name/labels/notes. A reserved board is edited only by its lease holder (or with
 * lease_override): otherwise -EPERM with err CORRAL_E_BOARD_RESERVED / CORRAL_E_LEASE_* (see reservations.h).
 * registry_board_update: as a caller with no lease and no privileges. */
int registry_board_update(struct registry *r, const char *id, const json_t *patch, struct corral_error *err);
int registry_board_update_as(struct registry *r, const char *id, const json_t *patch, const struct reg_caller *c,
                             struct corral_error *err);

/* Jobs. submit validates kind and params, persists, queues; *ret_job is the job as JSON.
 * registry_job_submit: as a caller with no lease and no privileges. */
int registry_job_submit(struct registry *r, const char *board_id, const json_t *body, json_t **ret_job,
                        struct corral_error *err);
/* Same, for caller c. A reserved board takes jobs only with its lease (c->lease) or from a caller
 * with lease_override: otherwise -EPERM with err CORRAL_E_BOARD_RESERVED / _LEASE_LOST / _LEASE_UNKNOWN /
 * _LEASE_NOT_FOR_BOARD (see reservations.h). Parameters naming files on corrald's host need
 * c->host_files and a path inside the config's firmware_dirs: otherwise CORRAL_E_PATH_NOT_ALLOWED
 * (the same answer whether the file exists or not). */
int registry_job_submit_as(struct registry *r, const char *board_id, const json_t *body, const struct reg_caller *c,
                           json_t **ret_job, struct corral_error *err);
/* The leases (owned by the registry, which expires them on its reaper tick); NULL if unavailable. */
struct reservations;
struct reservations *registry_reservations(struct registry *r);
/* Cancel a queued or running job. On a reserved board only its lease holder (or lease_override)
 * may: otherwise -EPERM with err CORRAL_E_BOARD_RESERVED / CORRAL_E_LEASE_*. registry_job_cancel: as a caller
 * with no lease and no privileges. */
int registry_job_cancel(struct registry *r, int64_t job_id, json_t **ret_job, struct corral_error *err);
int registry_job_cancel_as(struct registry *r, int64_t job_id, const struct reg_caller *c, json_t **ret_job,
                           struct corral_error *err);

/* Cross-host jobs (farm/farm_dispatch.c, PostgreSQL). registry_job_cancel_remote: cancel job
 * (its JSON: "id", "board", "kind") whose board is on another host, through the store (a job still
 * pending ends cancelled here, with its event); 0, -ENOENT when it is no longer queued or running,
 * or negative errno. registry_job_enqueue_claimed: queue a job this host claimed
 * ({"id","board","kind","params","timeout_s"}, validated by the host that took it) on its board's
 * worker: worker_enqueue's result, -ENODEV when the board is not present, -EINVAL for an unknown
 * kind. registry_job_cancel_local: worker_cancel on a present board (-ENODEV when it is not). */
int registry_job_cancel_remote(struct registry *r, const json_t *job);
int registry_job_enqueue_claimed(struct registry *r, const json_t *job);
int registry_job_cancel_local(struct registry *r, const char *board_id, int64_t job_id);

/* Remote ports (daemon/remote/): lend a present board's port to a borrower (worker_lend in
 * jobs/worker.h): -ENOENT when the board is not present, else worker_lend's result. */
struct worker_lend;
int registry_lend(struct registry *r, const char *board_id, const struct worker_lend *l);
/* Whether board_id is present (its port known: plugged in, or a static port). */
bool registry_board_present(struct registry *r, const char *board_id);
/* fn adds fields to every board's JSON (after "state"); it runs with the registry's lock held and
 * must not call back into the registry. One hook; fn NULL removes it. Set before sharing. */
typedef void (*registry_board_fn)(void *user, const char *board_id, json_t *board);
void registry_on_board_json(struct registry *r, registry_board_fn fn, void *user);
/* How an event the shared store already carries to the other hosts (a cross-host job's
 * "queued") is published on this host only, so it is not relayed twice; the farm dispatcher's
 * farm_dispatch_publish_here. NULL (the default): events_publish. */
typedef void registry_publish_fn(struct events *ev, const char *type, json_t *data /* stolen */);
void registry_on_publish_here(struct registry *r, registry_publish_fn *fn);

/* Counters for /metrics and /health. */
struct registry_stats {
        unsigned boards_online, boards_offline, boards_busy;
        unsigned jobs_queued, jobs_running;
};
void registry_stats(struct registry *r, struct registry_stats *s);

/* Ask all workers to stop (SIGTERM path) and wait up to timeout_ms. */
void registry_shutdown(struct registry *r, int timeout_ms);

#endif
