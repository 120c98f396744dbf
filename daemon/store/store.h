/* Persistent inventory and job history in SQLite (WAL, the default) or PostgreSQL: boards,
 * facts with the time learned, jobs with their log lines and results. Versioned schema
 * migrations. Thread-safe: a write connection and a read connection, each behind its own mutex
 * (reads never wait for a write; they see the last commit); callers may use a store from any
 * thread. */
#ifndef CORRAL_STORE_H
#define CORRAL_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

/* Open (creating if needed) "<state_dir>/corral.db" and migrate it to the current schema.
 * On failure returns negative errno and writes a plain message into msg: -EBADMSG for a file
 * that is not (corral's) SQLite database or is corrupt, -EPROTONOSUPPORT for a database from a
 * newer corrald. Errors elsewhere: -EINVAL bad arguments, -ENOENT unknown id, -ENOSPC disk
 * full, -EROFS read-only, -EBUSY locked by another process, -EIO other SQLite errors. */
int store_open(const char *state_dir, struct store **ret, char *msg, size_t msg_size);
/* The same with a store URL: NULL or "" opens SQLite as store_open(); "postgresql://..." (or
 * "postgres://...") connects to PostgreSQL and migrates its schema (the firmware files stay in
 * state_dir). -EINVAL for another URL scheme, -ENOTCONN when the server cannot be reached.
 * Once open, a PostgreSQL store that loses its server answers -ENOTCONN ("store unavailable")
 * and reconnects by itself with backoff on later calls. */
int store_open_url(const char *state_dir, const char *url, struct store **ret, char *msg, size_t msg_size);
/* Whether url names a PostgreSQL store ("postgresql://" or "postgres://"). */
bool store_url_is_pg(const char *url);
/* Whether this store is on PostgreSQL. */
bool store_is_pg(struct store *s);
struct store *store_close(struct store *s); /* NULL-safe, returns NULL */
int store_schema_version(struct store *s);

/* Boards. A board row: {"id","identity","name","labels":[...],"notes","hints":{...},
 * "first_seen","last_seen","host"} (host: the corrald that last saw it, store_hosts.h; "" before
 * one registered) (times: ISO-8601 UTC strings "2026-11-25T08:40:57.123Z").
 * upsert: creates the board if the identity is new (keeping id), else updates hints and
 * last_seen; name/labels/notes are never overwritten by upsert. */
/* default_name NULL: the id. hints NULL: {} (or keep). -EEXIST if id belongs to another identity. */
int store_board_upsert(struct store *s, const char *id, const char *identity, const char *default_name,
                       const json_t *hints);
/* Returns a new reference in *ret (caller decrefs) or -ENOENT. Includes "facts" (see below). */
int store_board_get(struct store *s, const char *id, json_t **ret);
/* All boards (array, new reference), each as store_board_get returns it. */
int store_board_list(struct store *s, json_t **ret);
/* How many boards the inventory holds (cheap: no rows are read). */
int store_board_count(struct store *s, size_t *ret);
/* Find a board id by identity; -ENOENT if none. buf gets the id. */
int store_board_find_identity(struct store *s, const char *identity, char *buf, size_t size);
/* Update editable fields; any of name/labels/notes may be NULL to keep. labels: array of strings. */
int store_board_update(struct store *s, const char *id, const char *name, const json_t *labels,
                       const char *notes);
int store_board_touch(struct store *s, const char *id); /* last_seen = now */

/* Facts: "facts": {"chip": {"value": "ESP8266EX", "learned_at": "...", "job": 12}, ...}
 * job_id <= 0: not learned by a job ("job": null). -ENOENT for an unknown board. The store
 * keeps a history row (table fact_history) whenever a key's value is new or changes. */
int store_fact_set(struct store *s, const char *board_id, const char *key, const json_t *value,
                   int64_t job_id);

/* Jobs. A job row as JSON: {"id", "board", "kind", "params", "state", "progress", "phase",
 * "result", "error": {"code","message"} | null, "created_at", "started_at", "finished_at",
 * "timeout_s", "progress_detail": {...} | null}. */
/* board_id may be NULL; an unknown board is -ENOENT. params: object or NULL ({}). */
int store_job_create(struct store *s, const char *board_id, const char *kind, const json_t *params,
                     int timeout_s, int64_t *ret_id);
int store_job_set_state(struct store *s, int64_t id, const char *state); /* stamps started/finished */
int store_job_set_progress(struct store *s, int64_t id, int percent, const char *phase);
/* Same, plus the transfer figures shown as "progress_detail" (object, copied). */
int store_job_set_progress_detail(struct store *s, int64_t id, int percent, const char *phase,
                                  const json_t *detail);
/* Final: state + result (may be NULL) + error (code/message may be NULL). */
int store_job_finish(struct store *s, int64_t id, const char *state, const json_t *result,
                     const char *error_code, const char *error_message);
/* Log lines: at most STORE_JOB_LOG_MAX_LINES are stored per job; after that one marker line
 * "… log truncated (N more lines)" is kept up to date and further lines are only counted.
 * A line longer than STORE_JOB_LOG_LINE_MAX bytes is cut (ending in "…"); bytes that are not
 * valid UTF-8 become U+FFFD. */
#include "bounds.h" /* STORE_JOB_LOG_MAX_LINES */
#define STORE_JOB_LOG_LINE_MAX 4096
int store_job_log_append(struct store *s, int64_t id, const char *line);
/* The cap used from now on instead of STORE_JOB_LOG_MAX_LINES (config max_log_lines); 0 restores
 * the default. Jobs already over a new, lower cap keep what they stored. */
void store_set_job_log_max(struct store *s, unsigned max_lines);
/* with_log: include "log": [{"t": "...", "line": "..."}] */
int store_job_get(struct store *s, int64_t id, bool with_log, json_t **ret);
/* Filters may be NULL. limit <= 0 means 100, at most STORE_JOB_LIST_MAX. Newest first. */
#define STORE_JOB_LIST_MAX 1000
int store_job_list(struct store *s, const char *board_id, const char *state, int limit, json_t **ret);
/* Aggregates for /metrics: array of {"kind","state","count","finished","duration_s_sum"}
 * (finished = jobs with both started_at and finished_at; duration summed over those). */
int store_job_stats(struct store *s, json_t **ret);
/* At start-up: every job left "running" or "queued" by a dead daemon becomes "interrupted".
 * On PostgreSQL, which other hosts may share, only the jobs of boards on this host (the name
 * set with store_host_set_name(); boards with no host yet) and of no board. Returns the number
 * changed (>= 0). */
int store_jobs_mark_interrupted(struct store *s);

/* TEST ONLY (compiled always, never called by corrald): the next write operation fails with
 * -abs(err) after doing its work, and is rolled back, as a full disk would (e.g. ENOSPC).
 * err = 0 clears a pending injection. */
int store_test_inject_error(struct store *s, int err);

#endif
