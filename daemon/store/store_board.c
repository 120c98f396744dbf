/* Boards and their facts in the store: upsert by identity, editable name/labels/notes,
 * facts with the time they were learned (and a history row whenever a value changes). */
#include "store/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BOARD_COLS "id, identity, name, labels, notes, hints, first_seen, last_seen, host"

static json_t *board_from_row(struct db_stmt *st)
{
        json_t *b = json_object();
        if (!b)
                return NULL;
        json_object_set_new(b, "id", store_col_string(st, 0));
        json_object_set_new(b, "identity", store_col_string(st, 1));
        json_object_set_new(b, "name", store_col_string(st, 2));
        json_object_set_new(b, "labels", store_col_json(st, 3));
        json_object_set_new(b, "notes", store_col_string(st, 4));
        json_object_set_new(b, "hints", store_col_json(st, 5));
        json_object_set_new(b, "first_seen", store_col_string(st, 6));
        json_object_set_new(b, "last_seen", store_col_string(st, 7));
        json_object_set_new(b, "host", store_col_string(st, 8));
        json_object_set_new(b, "facts", json_object());
        return b;
}

/* Columns: board_id, key, value, learned_at, job_id. */
static int fact_add(json_t *facts, struct db_stmt *st)
{
        const char *key = db_col_text(st, 1);
        json_t *f = json_object();
        if (!f || !key) {
                json_decref(f);
                return f ? 0 : -ENOMEM;
        }
        json_object_set_new(f, "value", store_col_json(st, 2));
        json_object_set_new(f, "learned_at", store_col_string(st, 3));
        json_object_set_new(f, "job", store_col_int(st, 4));
        /* Keys are written by us from valid strings; a broken one is skipped, not fatal. */
        if (json_object_set_new(facts, key, f) < 0)
                return 0;
        return 0;
}

int store_board_upsert(struct store *s, const char *id, const char *identity, const char *default_name,
                       const json_t *hints)
{
        if (!s || !id || !*id || !identity || !*identity || (hints && !json_is_object(hints)))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);

        store_lock(s);
        char host[sizeof(s->host)];
        memcpy(host, s->host, sizeof(host));
        store_unlock(s);
        int r = store_write(s,
                            "INSERT INTO boards (id, identity, name, hints, first_seen, last_seen, host)"
                            " VALUES (?1, ?2, ?3, coalesce(?4, '{}'), ?5, ?5, ?6)"
                            " ON CONFLICT (identity) DO UPDATE SET"
                            "  hints = coalesce(?4, boards.hints), last_seen = ?5, host = ?6",
                            "sssJss", id, identity, default_name && *default_name ? default_name : id, hints, now,
                            host);
        return r < 0 ? r : 0;
}

static int board_get_locked(struct store *s, const char *id, json_t **ret)
{
        json_t *b;
        int r = store_query_one(s, board_from_row, &b, "SELECT " BOARD_COLS " FROM boards WHERE id = ?1", "s", id);
        if (r < 0)
                return r;

        struct db_stmt *st;
        r = store_prepare(s, &st,
                          "SELECT board_id, key, value, learned_at, job_id FROM facts"
                          " WHERE board_id = ?1 ORDER BY key",
                          "s", id);
        if (r >= 0) {
                json_t *facts = json_object_get(b, "facts");
                while ((r = store_step(st)) == 1 && (r = fact_add(facts, st)) >= 0)
                        ;
                db_finalize(st);
        }
        if (r < 0) {
                json_decref(b);
                return r;
        }
        *ret = b;
        return 0;
}

int store_board_get(struct store *s, const char *id, json_t **ret)
{
        if (!s || !id || !ret)
                return -EINVAL;
        int r = store_read_lock(s);
        if (r >= 0)
                r = board_get_locked(s, id, ret);
        store_read_unlock(s);
        return r;
}

static int board_list_locked(struct store *s, json_t *list, json_t *by_id)
{
        struct db_stmt *st;
        int r = store_prepare(s, &st, "SELECT " BOARD_COLS " FROM boards ORDER BY first_seen, id", NULL);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1) {
                json_t *b = board_from_row(st);
                const char *id = db_col_text(st, 0);
                if (!b || !id || json_array_append_new(list, b) < 0) {
                        r = -ENOMEM;
                        break;
                }
                json_object_set(by_id, id, b);
        }
        db_finalize(st);
        if (r < 0)
                return r;

        r = store_prepare(s, &st, "SELECT board_id, key, value, learned_at, job_id FROM facts ORDER BY board_id, key",
                          NULL);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1) {
                const char *id = db_col_text(st, 0);
                json_t *b = id ? json_object_get(by_id, id) : NULL;
                if (b && (r = fact_add(json_object_get(b, "facts"), st)) < 0)
                        break;
        }
        db_finalize(st);
        return r;
}

int store_board_count(struct store *s, size_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        int64_t n = 0;
        int r = store_read_lock(s);
        if (r >= 0)
                r = store_run_int(s, &n, "SELECT COUNT(*) FROM boards", "");
        store_read_unlock(s);
        if (r < 0)
                return r;
        *ret = (size_t)n;
        return 0;
}

int store_board_list(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        json_t *list = json_array(), *by_id = json_object();
        int r = list && by_id ? 0 : -ENOMEM;

        if (r >= 0) {
                r = store_read_lock(s);
                if (r >= 0)
                        r = board_list_locked(s, list, by_id);
                store_read_unlock(s);
        }

        json_decref(by_id);
        if (r < 0) {
                json_decref(list);
                return r;
        }
        *ret = list;
        return 0;
}

int store_board_find_identity(struct store *s, const char *identity, char *buf, size_t size)
{
        if (!s || !identity || !buf || size == 0)
                return -EINVAL;
        store_lock(s);
        struct db_stmt *st;
        int r = store_prepare(s, &st, "SELECT id FROM boards WHERE identity = ?1", "s", identity);
        if (r >= 0) {
                r = store_step(st);
                if (r == 1) {
                        const char *id = db_col_text(st, 0);
                        size_t len = id ? strlen(id) : 0;
                        if (len >= size) {
                                r = -ENOBUFS;
                        } else {
                                memcpy(buf, id ? id : "", len + 1);
                                r = 0;
                        }
                } else if (r == 0) {
                        r = -ENOENT;
                }
                db_finalize(st);
        }
        store_unlock(s);
        return r;
}

static bool labels_valid(const json_t *labels)
{
        size_t i;
        json_t *v;

        if (!json_is_array(labels))
                return false;
        json_array_foreach(labels, i, v)
                if (!json_is_string(v))
                        return false;
        return true;
}

int store_board_update(struct store *s, const char *id, const char *name, const json_t *labels,
                       const char *notes)
{
        if (!s || !id || (name && !*name) || (labels && !labels_valid(labels)))
                return -EINVAL;
        return store_write_row(s,
                               "UPDATE boards SET name = coalesce(?2, name), labels = coalesce(?3, labels),"
                               " notes = coalesce(?4, notes) WHERE id = ?1",
                               "ssJs", id, name, labels, notes);
}

int store_board_touch(struct store *s, const char *id)
{
        if (!s || !id)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);

        return store_write_row(s, "UPDATE boards SET last_seen = ?2 WHERE id = ?1", "ss", id, now);
}

int store_fact_set(struct store *s, const char *board_id, const char *key, const json_t *value,
                   int64_t job_id)
{
        if (!s || !board_id || !key || !*key || !value)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        char *text = store_json_dump(value);
        if (!text)
                return -ENOMEM;
        int64_t job = job_id > 0 ? job_id : 0;

        int r = store_write_lock(s);
        /* History first: a row when the value is new or differs from the current one. */
        if (r >= 0)
                r = store_run(s,
                              "INSERT INTO fact_history (board_id, key, value, learned_at, job_id)"
                              " SELECT ?1, ?2, ?3, ?4, nullif(?5, 0) WHERE NOT EXISTS"
                              " (SELECT 1 FROM facts WHERE board_id = ?1 AND key = ?2 AND value = ?3)",
                              "ssssI", board_id, key, text, now, job);
        if (r >= 0)
                r = store_run(s,
                              "INSERT INTO facts (board_id, key, value, learned_at, job_id)"
                              " VALUES (?1, ?2, ?3, ?4, nullif(?5, 0))"
                              " ON CONFLICT (board_id, key) DO UPDATE SET"
                              "  value = excluded.value, learned_at = excluded.learned_at, job_id = excluded.job_id",
                              "ssssI", board_id, key, text, now, job);
        r = store_write_unlock(s, r);
        free(text);
        return r < 0 ? r : 0;
}
