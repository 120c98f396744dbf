/* Health counters, history and status rows (see store_health.h). Read-modify-write through
 * UPDATE-then-INSERT inside one write transaction, no upsert syntax. */
#include "store/store_health.h"

#include <errno.h>
#include <string.h>

#include "store/store_internal.h"

const char store_health_migration[] =
        "CREATE TABLE board_health_counters ("
        "  board_id  TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  key       TEXT NOT NULL,"
        "  value     INTEGER NOT NULL DEFAULT 0,"
        "  updated_at TEXT NOT NULL,"
        "  PRIMARY KEY (board_id, key)"
        ");"
        "CREATE TABLE board_health_history ("
        "  id        INTEGER PRIMARY KEY,"
        "  board_id  TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  at        TEXT NOT NULL,"
        "  kind      TEXT NOT NULL,"
        "  ok        INTEGER NOT NULL,"
        "  summary   TEXT NOT NULL,"
        "  detail    TEXT NOT NULL"
        ");"
        "CREATE INDEX board_health_history_by_board ON board_health_history(board_id, id);"
        "CREATE TABLE board_health_status ("
        "  board_id  TEXT PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  state     TEXT NOT NULL CHECK (state IN ('good','degraded','quarantined')),"
        "  reason    TEXT NOT NULL,"
        "  evidence  TEXT,"
        "  since     TEXT NOT NULL"
        ");";

static int board_exists(struct store *s, const char *board_id)
{
        int64_t n = 0;
        int r = store_run_int(s, &n, "SELECT count(*) FROM boards WHERE id = ?1", "s", board_id);
        return r < 0 ? r : n > 0 ? 0 : -ENOENT;
}

static int counter_write(struct store *s, const char *board_id, const char *key, json_int_t v, bool add,
                         const char *now)
{
        int r = store_run(s,
                          add ? "UPDATE board_health_counters SET value = value + ?3, updated_at = ?4"
                                " WHERE board_id = ?1 AND key = ?2"
                              : "UPDATE board_health_counters SET value = ?3, updated_at = ?4"
                                " WHERE board_id = ?1 AND key = ?2",
                          "ssIs", board_id, key, (int64_t)v, now);
        if (r == 0)
                r = store_run(s, "INSERT INTO board_health_counters (board_id, key, value, updated_at)"
                                 " VALUES (?1, ?2, ?3, ?4)", "ssIs", board_id, key, (int64_t)v, now);
        return r < 0 ? r : 0;
}

int store_health_bump(struct store *s, const char *board_id, const json_t *add, const json_t *set)
{
        if (!s || !board_id)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        int r = store_write_lock(s);
        if (r >= 0)
                r = board_exists(s, board_id);
        const char *k;
        json_t *v;
        if (r >= 0 && json_is_object(add))
                json_object_foreach((json_t *)add, k, v) {
                        if (json_is_integer(v) && json_integer_value(v) != 0 &&
                            (r = counter_write(s, board_id, k, json_integer_value(v), true, now)) < 0)
                                break;
                }
        if (r >= 0 && json_is_object(set))
                json_object_foreach((json_t *)set, k, v) {
                        if (json_is_integer(v) && (r = counter_write(s, board_id, k, json_integer_value(v), false, now)) < 0)
                                break;
                }
        return store_write_unlock(s, r);
}

/* Columns: board_id, key, value. */
static json_t *counter_from_row(sqlite3_stmt *st)
{
        return json_pack("{s:o, s:o, s:o}", "board", store_col_string(st, 0), "key", store_col_string(st, 1), "value",
                         store_col_int(st, 2));
}

static int counters_query(struct store *s, const char *board_id, json_t **ret)
{
        json_t *rows = NULL;
        int r = board_id ? store_list(s, counter_from_row, &rows,
                                      "SELECT board_id, key, value FROM board_health_counters WHERE board_id = ?1"
                                      " ORDER BY key", "s", board_id)
                         : store_list(s, counter_from_row, &rows,
                                      "SELECT board_id, key, value FROM board_health_counters ORDER BY board_id, key", "");
        if (r < 0)
                return r;
        json_t *out = json_object();
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                const char *b = json_string_value(json_object_get(row, "board"));
                const char *key = json_string_value(json_object_get(row, "key"));
                if (!b || !key)
                        continue;
                json_t *dst = out;
                if (!board_id) {
                        dst = json_object_get(out, b);
                        if (!dst) {
                                dst = json_object();
                                json_object_set_new(out, b, dst);
                        }
                }
                json_object_set(dst, key, json_object_get(row, "value"));
        }
        json_decref(rows);
        *ret = out;
        return 0;
}

int store_health_counters(struct store *s, const char *board_id, json_t **ret)
{
        if (!s || !board_id || !ret)
                return -EINVAL;
        return counters_query(s, board_id, ret);
}

int store_health_counters_all(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return counters_query(s, NULL, ret);
}

int store_health_history_add(struct store *s, const char *board_id, const char *kind, bool ok, const char *summary,
                             const json_t *detail)
{
        if (!s || !board_id || !kind)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        char *clean = store_utf8_clean(summary ? summary : "", 1024);
        if (!clean)
                return -ENOMEM;
        json_t *empty = json_object();
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run(s, "INSERT INTO board_health_history (board_id, at, kind, ok, summary, detail)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                              "sssisJ", board_id, now, kind, ok ? 1 : 0, clean, detail ? detail : empty);
        int64_t cut = 0;
        if (r >= 0)
                r = store_run_int(s, &cut,
                                  "SELECT id FROM board_health_history WHERE board_id = ?1 ORDER BY id DESC"
                                  " LIMIT 1 OFFSET ?2", "si", board_id, STORE_HEALTH_HISTORY_KEEP);
        if (r > 0)
                r = store_run(s, "DELETE FROM board_health_history WHERE board_id = ?1 AND id <= ?2", "sI", board_id,
                              cut);
        r = store_write_unlock(s, r);
        json_decref(empty);
        free(clean);
        return r < 0 ? r : 0;
}

/* Columns: id, at, kind, ok, summary, detail. */
static json_t *history_from_row(sqlite3_stmt *st)
{
        return json_pack("{s:o, s:o, s:o, s:b, s:o, s:o}", "id", store_col_int(st, 0), "at", store_col_string(st, 1),
                         "kind", store_col_string(st, 2), "ok", sqlite3_column_int(st, 3) != 0, "summary",
                         store_col_string(st, 4), "detail", store_col_json(st, 5));
}

int store_health_history(struct store *s, const char *board_id, int limit, json_t **ret)
{
        if (!s || !board_id || !ret)
                return -EINVAL;
        if (limit <= 0)
                limit = 50;
        if (limit > STORE_HEALTH_HISTORY_MAX)
                limit = STORE_HEALTH_HISTORY_MAX;
        return store_list(s, history_from_row, ret,
                          "SELECT id, at, kind, ok, summary, detail FROM board_health_history WHERE board_id = ?1"
                          " ORDER BY id DESC LIMIT ?2", "si", board_id, limit);
}

int store_health_status_set(struct store *s, const char *board_id, const char *state, const char *reason,
                            const json_t *evidence)
{
        if (!s || !board_id || !state)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        json_t *null = json_null();
        int r = store_write_lock(s);
        if (r >= 0)
                r = board_exists(s, board_id);
        /* since moves only when the state changes */
        if (r >= 0)
                r = store_run(s, "UPDATE board_health_status SET since = ?3 WHERE board_id = ?1 AND state <> ?2", "sss",
                              board_id, state, now);
        if (r >= 0)
                r = store_run(s, "UPDATE board_health_status SET state = ?2, reason = ?3, evidence = ?4"
                                 " WHERE board_id = ?1", "sssJ", board_id, state, reason ? reason : "",
                              evidence ? evidence : null);
        if (r == 0)
                r = store_run(s, "INSERT INTO board_health_status (board_id, state, reason, evidence, since)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5)", "sssJs", board_id, state, reason ? reason : "",
                              evidence ? evidence : null, now);
        return store_write_unlock(s, r < 0 ? r : 0);
}

/* Columns: state, reason, evidence, since. */
static json_t *status_from_row(sqlite3_stmt *st)
{
        return json_pack("{s:o, s:o, s:o, s:o}", "state", store_col_string(st, 0), "reason", store_col_string(st, 1),
                         "evidence", store_col_json(st, 2), "since", store_col_string(st, 3));
}

int store_health_status_get(struct store *s, const char *board_id, json_t **ret)
{
        if (!s || !board_id || !ret)
                return -EINVAL;
        return store_get(s, status_from_row, ret,
                         "SELECT state, reason, evidence, since FROM board_health_status WHERE board_id = ?1", "s",
                         board_id);
}
