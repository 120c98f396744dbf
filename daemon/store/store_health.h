/* Fleet health in the store: per-board counters (flash attempts, link errors, infra failures...),
 * a short history of health-relevant outcomes (jobs, checks, quarantine, power cycles) and each
 * board's health status (good / degraded / quarantined, with reason and evidence). Portable SQL
 * (plain SELECT/INSERT/UPDATE) so another backend can run the same statements. Thread-safe. */
#ifndef CORRAL_STORE_HEALTH_H
#define CORRAL_STORE_HEALTH_H

#include <jansson.h>
#include <stdbool.h>

struct store;

/* The schema step that creates the tables (appended to store_schema.c's list). */
extern const char store_health_migration[];    /* schema step 7 (SQLite) */
extern const char store_health_migration_pg[]; /* the same step for PostgreSQL */

#define STORE_HEALTH_HISTORY_KEEP 200 /* history rows kept per board */
#define STORE_HEALTH_HISTORY_MAX 200  /* most rows one read returns */

/* In one transaction: add each integer of add ({key: n}) to the board's counter key, then set
 * each integer of set ({key: n}). Either may be NULL. -ENOENT unknown board, -EINVAL bad args. */
int store_health_bump(struct store *s, const char *board_id, const json_t *add, const json_t *set);
/* The board's counters as {key: n} (new reference; {} when none). */
int store_health_counters(struct store *s, const char *board_id, json_t **ret);
/* Every board's counters: {board_id: {key: n}} (new reference). */
int store_health_counters_all(struct store *s, json_t **ret);
/* The same for the boards whose row names this host (store_host_name(); on a farm, the boards
 * attached here): what this host's health scheduler reads, whatever the farm's size. */
int store_health_counters_here(struct store *s, json_t **ret);

/* A history row: kind ("job", "check", "quarantine", "release", "power_cycle"), ok, a one-line
 * summary and detail (object, copied; NULL = {}). Keeps the newest STORE_HEALTH_HISTORY_KEEP. */
int store_health_history_add(struct store *s, const char *board_id, const char *kind, bool ok, const char *summary,
                             const json_t *detail);
/* Newest first: [{"id","at","kind","ok","summary","detail"}]; limit <= 0: 50. */
int store_health_history(struct store *s, const char *board_id, int limit, json_t **ret);

/* Status: state "good" | "degraded" | "quarantined", reason (may be ""), evidence (any JSON,
 * copied; NULL = null). since is stamped when the state changes. */
int store_health_status_set(struct store *s, const char *board_id, const char *state, const char *reason,
                            const json_t *evidence);
/* {"state","reason","evidence","since"}; -ENOENT when never set (the board is "good"). */
int store_health_status_get(struct store *s, const char *board_id, json_t **ret);
/* Every board's status in one query: {board_id: {"state","reason","evidence","since"}}, boards
 * never set absent (new reference). */
int store_health_status_all(struct store *s, json_t **ret);
/* The same for the boards whose row names this host (as store_health_counters_here()). */
int store_health_status_here(struct store *s, json_t **ret);

#endif
