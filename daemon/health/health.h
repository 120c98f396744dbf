/* A board's health record: what corral observed while running its jobs (flash attempts and
 * outcomes, sync retries, link errors and resends, boot checks, disconnects, infrastructure vs
 * script failures, time to sync, flash rate) turned into counters and history in the store, and
 * the policy that marks a board degraded or quarantined (with reason and evidence) or releases
 * it. Stateless functions over the store and the event bus; thread-safe. */
#ifndef CORRAL_HEALTH_H
#define CORRAL_HEALTH_H

#include <jansson.h>
#include <stdbool.h>

struct store;
struct events;

/* A job ended (worker thread). state/code/message as recorded; result: the job's result object
 * (borrowed, may be NULL); obs: counters the job reported through jr_health() ({key: n}, may be
 * NULL). Updates counters and history, then applies the policy. */
struct health_job {
        int64_t id;
        const char *kind, *state, *code, *message;
        const json_t *result, *obs;
        const json_t *params;
};
void health_job_end(struct store *st, struct events *ev, const char *board_id, const struct health_job *j);

/* Does this failure code say the farm failed (link, port, power, a board that does not answer)
 * rather than the code under test? */
bool health_code_is_infra(const char *code);

/* The board's health: {"board","state","reason","evidence","since","counters":{...},
 * "rates":{...},"history":[...newest first]}. -ENOENT unknown board. */
int health_board_json(struct store *st, const char *board_id, int history_limit, json_t **ret);
/* Add "health": {"state","reason","since"} to a board row (as the registry lists it). */
void health_decorate(struct store *st, json_t *row);
/* The same from every board's status read at once (store_health_status_all(); NULL or a board
 * missing there: good), with no query of its own: for lists. */
void health_decorate_from(const json_t *statuses, json_t *row);
/* Is the board row (decorated) quarantined? */
bool health_row_quarantined(const json_t *row);
bool health_is_quarantined(struct store *st, const char *board_id);

/* Take a board out of rotation (reason: one line; evidence: copied) or put it back; by: who
 * ("policy", a token name). Each writes history, an audit row and a "board.health" event. */
int health_quarantine(struct store *st, struct events *ev, const char *board_id, const char *reason,
                      const json_t *evidence, const char *by);
int health_release(struct store *st, struct events *ev, const char *board_id, const json_t *evidence, const char *by);

#endif
