/* Cross-host jobs (post, claim, cancel) and the farm-wide event log in the store; the SQL runs on
 * PostgreSQL, where several hosts share the rows (row locks make every claim exactly once). */
#include "store/store_farm_jobs.h"

#include <errno.h>
#include <string.h>

#include "store/store_hosts.h"
#include "store/store_internal.h"

/* Key of the transaction-scoped advisory lock that orders farm_events writers. */
#define FARM_EVENTS_LOCK "1668248173"

static json_t *text_from_row(struct db_stmt *st)
{
        return store_col_string(st, 0);
}

int store_farm_job_post(struct store *s, const char *board_id, const char *kind, const json_t *params, int timeout_s,
                        int64_t now_ms, int64_t *ret_id)
{
        if (!s || !board_id || !kind || !ret_id || (params && !json_is_object(params)) || timeout_s < 0)
                return -EINVAL;
        if (!store_is_pg(s) || !s->host[0])
                return -ENODEV;
        char now[STORE_TIME_SIZE];
        store_now(now);
        json_t *host = NULL;
        int64_t id = 0;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_query_one(s, text_from_row, &host,
                                    "SELECT b.host FROM boards b JOIN hosts h ON h.name = b.host"
                                    " WHERE b.id = ?1 AND b.host <> ?2 AND b.host <> '' AND h.heartbeat_ms >= ?3"
                                    " AND b.live_state IN ('online', 'busy')",
                                    "ssI", board_id, s->host, now_ms - store_host_stale_ms(s));
        if (r == -ENOENT)
                r = -ENODEV;
        if (r >= 0) {
                r = store_run_int(s, &id,
                                  "INSERT INTO jobs (board_id, kind, params, state, created_at, timeout_s, dispatch)"
                                  " VALUES (?1, ?2, coalesce(?3, '{}'), 'queued', ?4, ?5, 'pending') RETURNING id",
                                  "ssJsi", board_id, kind, params, now, timeout_s);
                if (r == 0)
                        r = -EIO;
        }
        /* Its "queued" event enters the farm's event log before the board's host can see the job,
         * so every host relays it before that host's "running". */
        json_t *ev = r >= 0 ? json_pack("{s:I, s:s, s:s, s:s}", "job", (json_int_t)id, "board", board_id, "kind", kind,
                                        "state", "queued")
                            : NULL;
        if (r >= 0)
                r = ev ? store_run(s, "SELECT pg_advisory_xact_lock(" FARM_EVENTS_LOCK ")", "") : -ENOMEM;
        if (r >= 0)
                r = store_run(s, "INSERT INTO farm_events (host, type, data, at_ms) VALUES (?1, 'job.state', ?2, ?3)",
                              "sJI", s->host, ev, now_ms);
        json_decref(ev);
        if (r >= 0)
                r = store_run(s, "SELECT pg_notify('" STORE_FARM_JOBS_CHANNEL "', ?1)", "s", json_string_value(host));
        if (r >= 0)
                r = store_run(s, "SELECT pg_notify('" STORE_FARM_EVENTS_CHANNEL "', ?1)", "s", s->host);
        json_decref(host);
        r = store_write_unlock(s, r);
        if (r < 0)
                return r;
        *ret_id = id;
        return 0;
}

/* Columns: id, board_id, kind, params, timeout_s. */
static json_t *claim_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", store_col_int(st, 0), "board", store_col_string(st, 1),
                         "kind", store_col_string(st, 2), "params", store_col_json(st, 3), "timeout_s",
                         store_col_int(st, 4));
}

/* One UPDATE ... RETURNING in its own transaction (?1 this host, ?2 arg), rows into a new array
 * in *ret. */
static int update_rows(struct store *s, store_row_fn *fn, json_t **ret, const char *sql, const char *arg)
{
        if (!s || !ret)
                return -EINVAL;
        json_t *rows = json_array();
        if (!rows)
                return -ENOMEM;
        int r = 0;
        if (store_is_pg(s) && s->host[0]) {
                r = store_write_lock(s);
                if (r >= 0)
                        r = store_query_all(s, fn, rows, sql, "ss", s->host, arg ? arg : "");
                r = store_write_unlock(s, r);
        }
        if (r < 0) {
                json_decref(rows);
                return r;
        }
        *ret = rows;
        return 0;
}

int store_farm_job_claim(struct store *s, const char *token, json_t **ret)
{
        if (!token || strncmp(token, "claimed", 7))
                return -EINVAL;
        return update_rows(s, claim_from_row, ret,
                           "UPDATE jobs SET dispatch = ?2 WHERE dispatch = 'pending' AND state = 'queued'"
                           " AND board_id IN (SELECT id FROM boards WHERE host = ?1)"
                           " RETURNING id, board_id, kind, params, timeout_s",
                           token);
}

int store_farm_job_claimed(struct store *s, const char *token, json_t **ret)
{
        if (!token || strncmp(token, "claimed", 7))
                return -EINVAL;
        return update_rows(s, claim_from_row, ret,
                           "SELECT id, board_id, kind, params, timeout_s FROM jobs WHERE dispatch = ?2"
                           " AND state = 'queued' AND started_at IS NULL"
                           " AND board_id IN (SELECT id FROM boards WHERE host = ?1) ORDER BY id",
                           token);
}

/* Columns: id, board_id. */
static json_t *cancel_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o}", "id", store_col_int(st, 0), "board", store_col_string(st, 1));
}

int store_farm_job_cancels(struct store *s, json_t **ret)
{
        return update_rows(s, cancel_from_row, ret,
                           "UPDATE jobs SET cancel_requested = 2 WHERE cancel_requested = 1"
                           " AND board_id IN (SELECT id FROM boards WHERE host = ?1) RETURNING id, board_id",
                           NULL);
}

int store_farm_job_cancel(struct store *s, int64_t id)
{
        if (!s)
                return -EINVAL;
        if (!store_is_pg(s))
                return -ENOENT;
        char now[STORE_TIME_SIZE];
        store_now(now);
        json_t *host = NULL;
        int r = store_write_lock(s);
        int ended = 0;
        if (r >= 0)
                r = ended = store_run(s,
                                      "UPDATE jobs SET state = 'cancelled', finished_at = ?2, error_code = 'cancelled',"
                                      " error_message = 'Cancelled before it started.'"
                                      " WHERE id = ?1 AND state = 'queued' AND dispatch = 'pending'",
                                      "Is", id, now);
        if (r == 0) {
                r = store_query_one(s, text_from_row, &host,
                                    "UPDATE jobs SET cancel_requested = CASE WHEN cancel_requested = 0 THEN 1"
                                    " ELSE cancel_requested END WHERE id = ?1 AND state IN ('queued', 'running')"
                                    " RETURNING (SELECT b.host FROM boards b WHERE b.id = jobs.board_id)",
                                    "I", id);
                if (r >= 0)
                        r = store_run(s, "SELECT pg_notify('" STORE_FARM_JOBS_CHANNEL "', coalesce(?1, ''))", "s",
                                      json_string_value(host));
        }
        json_decref(host);
        r = store_write_unlock(s, r);
        return r < 0 ? r : ended > 0 ? 1 : 0;
}

int store_farm_events_put(struct store *s, const json_t *events, int64_t now_ms)
{
        if (!s || !json_is_array(events))
                return -EINVAL;
        if (!store_is_pg(s) || !s->host[0] || json_array_size(events) == 0)
                return 0;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run(s, "SELECT pg_advisory_xact_lock(" FARM_EVENTS_LOCK ")", "");
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) {
                if (r < 0)
                        break;
                r = store_run(s, "INSERT INTO farm_events (host, type, data, at_ms) VALUES (?1, ?2, ?3, ?4)", "ssJI",
                              s->host, json_string_value(json_object_get(e, "type")), json_object_get(e, "data"),
                              now_ms);
        }
        if (r >= 0)
                r = store_run(s, "SELECT pg_notify('" STORE_FARM_EVENTS_CHANNEL "', ?1)", "s", s->host);
        return store_write_unlock(s, r < 0 ? r : 0);
}

/* Columns: id, type, data. */
static json_t *event_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o, s:o}", "id", store_col_int(st, 0), "type", store_col_string(st, 1), "data",
                         store_col_json(st, 2));
}

int store_farm_events_since(struct store *s, int64_t after, int limit, json_t **ret)
{
        if (!s || !ret || limit <= 0)
                return -EINVAL;
        if (!store_is_pg(s))
                return (*ret = json_array()) ? 0 : -ENOMEM;
        return store_list(s, event_from_row, ret,
                          "SELECT id, type, data FROM farm_events WHERE id > ?1 AND host <> ?2 ORDER BY id LIMIT ?3",
                          "Isi", after, s->host, limit);
}

int store_farm_events_last(struct store *s, int64_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        *ret = 0;
        if (!store_is_pg(s))
                return 0;
        store_lock(s);
        int r = store_run_int(s, ret, "SELECT coalesce(max(id), 0) FROM farm_events", "");
        store_unlock(s);
        return r < 0 ? r : 0;
}

int store_farm_events_prune(struct store *s, int64_t now_ms)
{
        if (!s)
                return -EINVAL;
        if (!store_is_pg(s))
                return 0;
        return store_write(s, "DELETE FROM farm_events WHERE at_ms < ?1", "I", now_ms - STORE_FARM_EVENTS_KEEP_MS);
}
