/* Reservations in the store: one row per lease ever granted, its token kept only as a SHA-256
 * hash, its state moving once from active to released or expired. */
#include "store_reservations.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "store_internal.h"

#define RESV_COLS "id, board_id, owner, match, ttl_s, created_at, expires_ms, state, ended_at, token_sha256"

static json_t *resv_from_row(sqlite3_stmt *st)
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

/* One write statement in its own transaction; 0 changed rows is -ENOENT. */
static int resv_write(struct store *s, const char *sql, const char *fmt, ...)
{
        va_list ap;
        store_lock(s);
        int r = store_tx_begin(s);
        if (r >= 0) {
                va_start(ap, fmt);
                r = store_run_v(s, sql, fmt, ap);
                va_end(ap);
        }
        if (r == 0)
                r = -ENOENT;
        r = store_tx_end(s, r);
        store_unlock(s);
        return r < 0 ? r : 0;
}

int store_resv_insert(struct store *s, int64_t id, const char *board_id, const char *owner,
                      const char *token_sha256, const json_t *match, int ttl_s, int64_t expires_ms)
{
        if (!s || id <= 0 || !board_id || !owner || !token_sha256 || strlen(token_sha256) != 64 ||
            (match && !json_is_object(match)) || ttl_s <= 0)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        json_t *empty = match ? NULL : json_object();
        int r = resv_write(s,
                           "INSERT INTO reservations (id, board_id, owner, token_sha256, match, ttl_s, created_at,"
                           " expires_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')",
                           "IsssJisI", id, board_id, owner, token_sha256, match ? match : empty, ttl_s, now,
                           expires_ms);
        json_decref(empty);
        return r;
}

int store_resv_renew(struct store *s, int64_t id, int ttl_s, int64_t expires_ms)
{
        if (!s || id <= 0 || ttl_s <= 0)
                return -EINVAL;
        return resv_write(s, "UPDATE reservations SET ttl_s = ?, expires_ms = ? WHERE id = ? AND state = 'active'",
                          "iII", ttl_s, expires_ms, id);
}

int store_resv_end(struct store *s, int64_t id, const char *state)
{
        if (!s || id <= 0 || !state || (strcmp(state, "released") && strcmp(state, "expired")))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        return resv_write(s, "UPDATE reservations SET state = ?, ended_at = ? WHERE id = ? AND state = 'active'",
                          "ssI", state, now, id);
}

/* Run a SELECT of RESV_COLS; one row into *ret (-ENOENT if none) or all rows (array). */
static int resv_query(struct store *s, bool all, json_t **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        sqlite3_stmt *st = NULL;
        store_lock(s);
        va_start(ap, fmt);
        /* store_prepare has no va_list form: bind our few parameters ('I' int64, 's' text) here. */
        int r = store_prepare(s, &st, sql, "");
        for (int i = 0; r == 0 && fmt[i]; i++) {
                if (fmt[i] == 'I')
                        r = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)) == SQLITE_OK ? 0 : -EIO;
                else
                        r = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT) == SQLITE_OK
                                    ? 0
                                    : -EIO;
        }
        va_end(ap);
        json_t *out = all ? json_array() : NULL;
        while (r == 0) {
                int k = store_step(st);
                if (k <= 0) {
                        r = k;
                        break;
                }
                json_t *row = resv_from_row(st);
                if (!all) {
                        out = row;
                        break;
                }
                json_array_append_new(out, row);
        }
        sqlite3_finalize(st);
        store_unlock(s);
        if (r < 0 || (!all && !out)) {
                json_decref(out);
                return r < 0 ? r : -ENOENT;
        }
        *ret = out;
        return 0;
}

int store_resv_get(struct store *s, int64_t id, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return resv_query(s, false, ret, "SELECT " RESV_COLS " FROM reservations WHERE id = ?", "I", id);
}

int store_resv_find_token(struct store *s, const char *token_sha256, json_t **ret)
{
        if (!s || !token_sha256 || !ret)
                return -EINVAL;
        return resv_query(s, false, ret, "SELECT " RESV_COLS " FROM reservations WHERE token_sha256 = ?", "s",
                          token_sha256);
}

int store_resv_list_active(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return resv_query(s, true, ret, "SELECT " RESV_COLS " FROM reservations WHERE state = 'active' ORDER BY id",
                          "");
}

int store_resv_max_id(struct store *s, int64_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        int64_t v = 0;
        store_lock(s);
        int r = store_run_int(s, &v, "SELECT COALESCE(MAX(id), 0) FROM reservations", "");
        store_unlock(s);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}
