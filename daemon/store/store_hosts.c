/* Host rows in the store: register (upsert by name), heartbeat, list with liveness. */
#include "store/store_hosts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"
#include "util.h"

int store_host_set_name(struct store *s, const char *name)
{
        if (!s || !name || !*name)
                return -EINVAL;
        if (strlen(name) >= sizeof(s->host))
                return -ENAMETOOLONG;
        store_lock(s);
        snprintf(s->host, sizeof(s->host), "%s", name);
        store_unlock(s);
        return 0;
}

const char *store_host_name(const struct store *s)
{
        return s ? s->host : "";
}

int store_host_register(struct store *s, const char *api_url, const char *version, int64_t now_ms)
{
        if (!s || !s->host[0])
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        util_iso_from_ms(now_ms, now, sizeof(now));
        int r = store_write(s,
                            "INSERT INTO hosts (name, api_url, version, started_at, heartbeat_at, heartbeat_ms)"
                            " VALUES (?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT (name) DO UPDATE SET"
                            " api_url = ?2, version = ?3, started_at = ?4, heartbeat_at = ?4, heartbeat_ms = ?5",
                            "ssssI", s->host, api_url ? api_url : "", version ? version : "", now, now_ms);
        return r < 0 ? r : 0;
}

int store_host_heartbeat(struct store *s, int64_t now_ms)
{
        if (!s || !s->host[0])
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        util_iso_from_ms(now_ms, now, sizeof(now));
        return store_write_row(s, "UPDATE hosts SET heartbeat_at = ?2, heartbeat_ms = ?3 WHERE name = ?1", "ssI",
                               s->host, now, now_ms);
}

/* Columns: name, api_url, version, started_at, heartbeat_at, heartbeat_ms, now_ms, bound_ms. */
static json_t *host_from_row(struct db_stmt *st)
{
        int64_t age = db_col_int64(st, 6) - db_col_int64(st, 5);
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "name", store_col_string(st, 0), "api_url",
                         store_col_string(st, 1), "version", store_col_string(st, 2), "started_at",
                         store_col_string(st, 3), "heartbeat_at", store_col_string(st, 4), "alive",
                         age <= db_col_int64(st, 7));
}

int store_host_list(struct store *s, int64_t now_ms, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_list(s, host_from_row, ret,
                          "SELECT name, api_url, version, started_at, heartbeat_at, heartbeat_ms, ?1, ?2 FROM hosts"
                          " ORDER BY name",
                          "II", now_ms, store_host_stale_ms(s));
}

void store_host_set_stale_ms(struct store *s, int64_t stale_ms)
{
        if (s)
                s->host_stale_ms = stale_ms > 0 ? stale_ms : 0;
}

int64_t store_host_stale_ms(const struct store *s)
{
        int64_t v = s ? s->host_stale_ms : 0;
        return v > 0 ? v : STORE_HOST_STALE_MS;
}

/* One statement per beat whatever the number of boards: the states travel as one JSON array
 * [{"id","state","job"}] unpacked by the database, and rows already holding those values are
 * not written. */
static const char publish_pg[] =
        "UPDATE boards b SET live_state = v.state, live_job = v.job"
        " FROM json_to_recordset(?2::json) AS v(id text, state text, job bigint)"
        " WHERE b.id = v.id AND b.host = ?1"
        " AND (b.live_state IS DISTINCT FROM v.state OR b.live_job IS DISTINCT FROM v.job)";
static const char publish_sqlite[] =
        "UPDATE boards SET live_state = v.state, live_job = v.job"
        " FROM (SELECT value ->> 'id' AS id, value ->> 'state' AS state, value ->> 'job' AS job FROM json_each(?2)) AS v"
        " WHERE boards.id = v.id AND boards.host = ?1"
        " AND (boards.live_state IS NOT v.state OR boards.live_job IS NOT v.job)";

int store_host_publish(struct store *s, const json_t *states)
{
        if (!s || !s->host[0] || !json_is_array(states))
                return -EINVAL;
        json_t *rows = json_array();
        size_t i;
        json_t *b;
        json_array_foreach(states, i, b) {
                json_t *id = json_object_get(b, "id"), *state = json_object_get(b, "state");
                json_t *job = json_object_get(b, "running_job");
                if (!json_is_string(id) || !json_is_string(state))
                        continue;
                bool has_job = json_is_integer(job) && json_integer_value(job) > 0;
                json_array_append_new(rows, json_pack("{s:O, s:O, s:O}", "id", id, "state", state, "job",
                                                      has_job ? job : json_null()));
        }
        int r = json_array_size(rows) ? store_write(s, store_is_pg(s) ? publish_pg : publish_sqlite, "sJ", s->host, rows)
                                      : 0;
        json_decref(rows);
        return r < 0 ? r : 0;
}

/* Columns: id, host, live_state, live_job, heartbeat_ms (NULL: no host row), now_ms, bound_ms. */
static json_t *remote_from_row(struct db_stmt *st)
{
        bool alive = !db_col_null(st, 4) && db_col_int64(st, 5) - db_col_int64(st, 4) <= db_col_int64(st, 6);
        const char *state = db_col_text(st, 2);
        return json_pack("{s:o, s:s, s:o, s:b}", "host", store_col_string(st, 1), "state", state ? state : "offline",
                         "running_job", store_col_int(st, 3), "host_alive", alive);
}

int store_host_remote_boards(struct store *s, int64_t now_ms, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_list_keyed(s, remote_from_row, ret,
                                "SELECT b.id, b.host, b.live_state, b.live_job, h.heartbeat_ms, ?2, ?3 FROM boards b"
                                " LEFT JOIN hosts h ON h.name = b.host WHERE b.host <> ?1 AND b.host <> ''",
                                "sII", s->host, now_ms, store_host_stale_ms(s));
}

/* Columns: name, heartbeat_ms. */
static json_t *dead_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:I}", "host", store_col_string(st, 0), "heartbeat_ms", (json_int_t)db_col_int64(st, 1));
}

int store_host_sweep_dead(struct store *s, int64_t now_ms, json_t **ret)
{
        if (!s || !s->host[0] || !ret)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        util_iso_from_ms(now_ms, now, sizeof(now));
        json_t *dead = json_array();
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_query_all(s, dead_from_row, dead,
                                    "UPDATE hosts SET swept_ms = heartbeat_ms WHERE name <> ?1 AND heartbeat_ms < ?2"
                                    " AND (swept_ms IS NULL OR swept_ms <> heartbeat_ms) RETURNING name, heartbeat_ms",
                                    "sI", s->host, now_ms - store_host_stale_ms(s));
        size_t i;
        json_t *d;
        json_array_foreach(dead, i, d) {
                if (r < 0)
                        break;
                const char *host = json_string_value(json_object_get(d, "host"));
                int64_t silent = now_ms - json_integer_value(json_object_get(d, "heartbeat_ms"));
                char running[200], queued[200];
                snprintf(running, sizeof(running), "host %s stopped answering (no heartbeat for %lld s) while this job "
                         "was running; host %s marked it interrupted", host, (long long)(silent / 1000), s->host);
                snprintf(queued, sizeof(queued), "host %s stopped answering (no heartbeat for %lld s) before this job "
                         "started; host %s marked it interrupted", host, (long long)(silent / 1000), s->host);
                r = store_run(s,
                              "UPDATE jobs SET state = 'interrupted', finished_at = ?1, error_code = 'interrupted',"
                              " error_message = CASE WHEN state = 'running' THEN ?3 ELSE ?4 END"
                              " WHERE state IN ('running', 'queued') AND board_id IN"
                              "  (SELECT id FROM boards WHERE host = ?2)",
                              "ssss", now, host, running, queued);
                json_object_del(d, "heartbeat_ms");
                json_object_set_new(d, "silent_ms", json_integer(silent));
                json_object_set_new(d, "jobs", json_integer(r < 0 ? 0 : r));
        }
        r = store_write_unlock(s, r < 0 ? r : 0);
        if (r < 0) {
                json_decref(dead);
                return r;
        }
        *ret = dead;
        return 0;
}
