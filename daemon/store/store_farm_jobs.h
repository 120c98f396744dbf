/* Cross-host jobs and farm-wide events in the store (PostgreSQL; on SQLite, one host, the calls
 * that dispatch say -ENODEV and the rest find nothing): a job posted on one host for a board on
 * another is inserted 'pending' and its host woken by NOTIFY corral_jobs; that host claims it
 * exactly once; cancels travel the same way; each host's job events are written to farm_events
 * (NOTIFY corral_events) for the other hosts to relay. Thread-safe like the rest of the store. */
#ifndef CORRAL_STORE_FARM_JOBS_H
#define CORRAL_STORE_FARM_JOBS_H

#include <jansson.h>
#include <stdint.h>

struct store;

#define STORE_FARM_JOBS_CHANNEL "corral_jobs"
#define STORE_FARM_EVENTS_CHANNEL "corral_events"
/* farm_events rows older than this are deleted (store_farm_events_prune). */
#define STORE_FARM_EVENTS_KEEP_MS 60000

/* Insert a job for board_id when that board is on another host that is alive (heartbeat within
 * the bound of now_ms) and publishes it online or busy: state 'queued', dispatch 'pending', its
 * job.state "queued" event in farm_events, and that host notified, in one transaction. *ret_id its id. -ENODEV when the board is not on such
 * a host (SQLite: always), -ENOTCONN store unavailable, else negative errno. */
int store_farm_job_post(struct store *s, const char *board_id, const char *kind, const json_t *params, int timeout_s,
                        int64_t now_ms, int64_t *ret_id);
/* Claim every pending job of the boards on this host (store_host_set_name): exactly once in the
 * farm, whatever runs concurrently; the rows get dispatch = token (unique per attempt, starting
 * with "claimed"). *ret: [{"id","board","kind","params","timeout_s"}] (new). */
int store_farm_job_claim(struct store *s, const char *token, json_t **ret);
/* The jobs an earlier claim with token took and that are still queued, as above: after a claim
 * whose answer was lost (the connection dropped around its COMMIT), what it did take. */
int store_farm_job_claimed(struct store *s, const char *token, json_t **ret);
/* Cancel job id for a host that does not have its board: a job still pending ends 'cancelled'
 * here (returns 1); a job claimed by its host gets cancel_requested and that host is notified
 * (returns 0). -ENOENT when the job is not queued or running. */
int store_farm_job_cancel(struct store *s, int64_t id);
/* The cancels asked for jobs of the boards on this host, marked delivered.
 * *ret: [{"id","board"}] (new). */
int store_farm_job_cancels(struct store *s, json_t **ret);

/* Append events ([{"type","data"}], from this host) to farm_events and notify the other hosts,
 * in one transaction serialized farm-wide (ids grow in commit order: a reader never skips one). */
int store_farm_events_put(struct store *s, const json_t *events, int64_t now_ms);
/* The other hosts' events with id > after, oldest first, at most limit:
 * [{"id","type","data"}] (new). */
int store_farm_events_since(struct store *s, int64_t after, int limit, json_t **ret);
/* The newest event id (0 when none): where a host starting up begins. */
int store_farm_events_last(struct store *s, int64_t *ret);
/* Delete events older than STORE_FARM_EVENTS_KEEP_MS. Rows deleted or negative errno. */
int store_farm_events_prune(struct store *s, int64_t now_ms);

#endif
