/* Reservations in the store: one row per lease ever granted, its token kept only as a SHA-256
 * hash, its state moving once from active to released or expired. */
#include "store/store_reservations.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "store/store_internal.h"

#define RESV_COLS "id, board_id, owner, match, ttl_s, created_at, expires_ms, state, ended_at, token_sha256"

static json_t *resv_from_row(struct db_stmt *st)
{
        json_t *j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(j, "id", store_col_int(st, 0));
        json_object_set_new(j, "board", store_col_string(st, 1));
        json_object_set_new(j, "owner", store_col_string(st, 2));
        json_object_set_new(j, "match", store_col_json(st, 3));
        json_object_set_new(j, "ttl_s", store_col_int(st, 4));
        json_object_set_new(j, "created_at", store_col_string(st, 5));
        json_object_set_new(j, "expires_ms", store_col_int(st, 6));
        json_object_set_new(j, "state", store_col_string(st, 7));
        json_object_set_new(j, "ended_at", store_col_string(st, 8));
        json_object_set_new(j, "token_sha256", store_col_string(st, 9));
        return j;
}

static bool resv_args_ok(const struct store *s, int64_t id, const char *board_id, const char *owner,
                         const char *token_sha256, const json_t *match, int ttl_s)
{
        return s && id > 0 && board_id && owner && token_sha256 && strlen(token_sha256) == 64 &&
               (!match || json_is_object(match)) && ttl_s > 0;
}

/* One write transaction: with expire_due, first end board_id's active leases due at
 * *expire_due (Unix ms), then the row of the new active lease (no match: {}). */
static int resv_insert(struct store *s, int64_t id, const char *board_id, const char *owner,
                       const char *token_sha256, const json_t *match, int ttl_s, const int64_t *expire_due,
                       int64_t expires_ms)
{
        if (!resv_args_ok(s, id, board_id, owner, token_sha256, match, ttl_s))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        json_t *empty = match ? NULL : json_object();
        int r = store_write_lock(s);
        if (r >= 0 && expire_due)
                r = store_run(s,
                              "UPDATE reservations SET state = 'expired', ended_at = ?1"
                              " WHERE board_id = ?2 AND state = 'active' AND expires_ms <= ?3",
                              "ssI", now, board_id, *expire_due);
        if (r >= 0)
                r = store_run(s,
                              "INSERT INTO reservations (id, board_id, owner, token_sha256, match, ttl_s, created_at,"
                              " expires_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')",
                              "IsssJisI", id, board_id, owner, token_sha256, match ? match : empty, ttl_s, now,
                              expires_ms);
        json_decref(empty);
        return store_write_unlock(s, r < 0 ? r : 0);
}

int store_resv_insert(struct store *s, int64_t id, const char *board_id, const char *owner,
                      const char *token_sha256, const json_t *match, int ttl_s, int64_t expires_ms)
{
        return resv_insert(s, id, board_id, owner, token_sha256, match, ttl_s, NULL, expires_ms);
}

int store_resv_renew(struct store *s, int64_t id, int ttl_s, int64_t expires_ms)
{
        if (!s || id <= 0 || ttl_s <= 0)
                return -EINVAL;
        return store_write_row(s, "UPDATE reservations SET ttl_s = ?, expires_ms = ? WHERE id = ? AND state = 'active'",
                               "iII", ttl_s, expires_ms, id);
}

int store_resv_end(struct store *s, int64_t id, const char *state)
{
        if (!s || id <= 0 || !state || (strcmp(state, "released") && strcmp(state, "expired")))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        return store_write_row(s, "UPDATE reservations SET state = ?, ended_at = ? WHERE id = ? AND state = 'active'",
                               "ssI", state, now, id);
}

int store_resv_get(struct store *s, int64_t id, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_get(s, resv_from_row, ret, "SELECT " RESV_COLS " FROM reservations WHERE id = ?", "I", id);
}

int store_resv_find_token(struct store *s, const char *token_sha256, json_t **ret)
{
        if (!s || !token_sha256 || !ret)
                return -EINVAL;
        return store_get(s, resv_from_row, ret, "SELECT " RESV_COLS " FROM reservations WHERE token_sha256 = ?", "s",
                         token_sha256);
}

int store_resv_list_active(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_list(s, resv_from_row, ret,
                          "SELECT " RESV_COLS " FROM reservations WHERE state = 'active' ORDER BY id", "");
}

/* One whole number from a query without parameters, under the store's lock. */
static int one_int(struct store *s, const char *sql, int64_t *ret)
{
        int64_t v = 0;
        store_lock(s);
        int r = store_run_int(s, &v, sql, "");
        store_unlock(s);
        if (r < 0)
                return r;
        *ret = v;
        return r;
}

int store_resv_max_id(struct store *s, int64_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        int r = one_int(s, "SELECT COALESCE(MAX(id), 0) FROM reservations", ret);
        return r < 0 ? r : 0;
}

int store_resv_next_id(struct store *s, int64_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        if (!store_is_pg(s))
                return -EOPNOTSUPP;
        int64_t v = 0;
        int r = one_int(s, "SELECT nextval('reservation_ids')", &v);
        if (r < 0)
                return r;
        if (r == 0 || v <= 0)
                return -EIO;
        *ret = v;
        return 0;
}

int store_resv_insert_exclusive(struct store *s, int64_t id, const char *board_id, const char *owner,
                                const char *token_sha256, const json_t *match, int ttl_s, int64_t now_ms,
                                int64_t expires_ms)
{
        return resv_insert(s, id, board_id, owner, token_sha256, match, ttl_s, &now_ms, expires_ms);
}
