/* The board registry: every board corrald knows (from the store, udev and static ports), which
 * are present, and the port worker that owns each present board's port. Entry point for the
 * API: board snapshots, edits, and job submission/cancel. Thread-safe (one mutex). */
#ifndef CORRAL_REGISTRY_H
#define CORRAL_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Error detail for API mapping: code is a stable identifier, message plain words. */
struct reg_error {
        int status;               /* HTTP status to use */
        char code[32];
        char message[512];
        json_t *details;          /* owned; may be NULL */
};
void reg_error_clear(struct reg_error *e);
/* Fill e, when not NULL: status, code, message (printf-style) and details (stolen; freed when e
 * is NULL). Returns rc, for `return reg_error_set(err, 404, ..., -ENOENT, ...);`. */
int reg_error_set(struct reg_error *e, int status, const char *code, json_t *details, int rc, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
/* reg_error_set() for a store that cannot reach its server (-ENOTCONN from a PostgreSQL store):
 * 503 "store_unavailable". Returns rc. */
int reg_error_store_unavailable(struct reg_error *e, int rc);

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
/* Who asks (an API request), for lease and privilege checks. */
struct reg_caller {
        const char *name;         /* the token's name ("anonymous" when auth is off); NULL = "?" */
        const char *lease;        /* the X-Corral-Lease token presented, or NULL */
        bool host_files;          /* may name files on corrald's host, inside firmware_dirs (admins) */
        bool lease_override;      /* may act on a reserved board without its lease (an authenticated admin) */
};

/* Edit name/labels/notes. A reserved board is edited only by its lease holder (or with
 * lease_override): otherwise -EPERM with err 409 board_reserved / lease_* (see reservations.h).
 * registry_board_update: as a caller with no lease and no privileges. */
int registry_board_update(struct registry *r, const char *id, const json_t *patch, struct reg_error *err);
int registry_board_update_as(struct registry *r, const char *id, const json_t *patch, const struct reg_caller *c,
                             struct reg_error *err);

/* Jobs. submit validates kind and params, persists, queues; *ret_job is the job as JSON.
 * registry_job_submit: as a caller with no lease and no privileges. */
int registry_job_submit(struct registry *r, const char *board_id, const json_t *body, json_t **ret_job,
                        struct reg_error *err);
/* Same, for caller c. A reserved board takes jobs only with its lease (c->lease) or from a caller
 * with lease_override: otherwise -EPERM with err 409 board_reserved / lease_lost / lease_unknown /
 * lease_not_for_board (see reservations.h). Parameters naming files on corrald's host need
 * c->host_files and a path inside the config's firmware_dirs: otherwise 403 path_not_allowed
 * (the same answer whether the file exists or not). */
int registry_job_submit_as(struct registry *r, const char *board_id, const json_t *body, const struct reg_caller *c,
                           json_t **ret_job, struct reg_error *err);
/* The leases (owned by the registry, which expires them on its reaper tick); NULL if unavailable. */
struct reservations;
struct reservations *registry_reservations(struct registry *r);
/* Cancel a queued or running job. On a reserved board only its lease holder (or lease_override)
 * may: otherwise -EPERM with err 409 board_reserved / lease_*. registry_job_cancel: as a caller
 * with no lease and no privileges. */
int registry_job_cancel(struct registry *r, int64_t job_id, json_t **ret_job, struct reg_error *err);
int registry_job_cancel_as(struct registry *r, int64_t job_id, const struct reg_caller *c, json_t **ret_job,
                           struct reg_error *err);

/* Counters for /metrics and /health. */
struct registry_stats {
        unsigned boards_online, boards_offline, boards_busy;
        unsigned jobs_queued, jobs_running;
};
void registry_stats(struct registry *r, struct registry_stats *s);

/* Ask all workers to stop (SIGTERM path) and wait up to timeout_ms. */
void registry_shutdown(struct registry *r, int timeout_ms);

#endif
