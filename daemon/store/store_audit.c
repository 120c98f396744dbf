/* Audit rows: insert with pruning to the newest STORE_AUDIT_KEEP, list newest first. */
#include "store/store_audit.h"

#include <errno.h>
#include <stdlib.h>

#include "store/store_internal.h"

int store_audit_add(struct store *s, const char *token, const char *method, const char *path, unsigned status)
{
        if (!s || !token || !method || !path)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        char *clean = store_utf8_clean(path, 1024);
        if (!clean)
                return -ENOMEM;
        int64_t id = 0;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run_int(s, &id,
                                  "INSERT INTO audit (at, token, method, path, status) VALUES (?1, ?2, ?3, ?4, ?5)"
                                  " RETURNING id",
                                  "ssssi", now, token, method, clean, (int)status);
        if (r >= 0 && id > STORE_AUDIT_KEEP && id % 64 == 0) /* prune now and then, not on every row */
                r = store_run(s, "DELETE FROM audit WHERE id <= ?1", "I", id - STORE_AUDIT_KEEP);
        r = store_write_unlock(s, r);
        free(clean);
        if (r < 0)
                atomic_fetch_add(&s->audit_failures, 1);
        return r < 0 ? r : 0;
}

unsigned long long store_audit_failures(struct store *s)
{
        return s ? atomic_load(&s->audit_failures) : 0;
}

/* Columns: id, at, token, method, path, status. */
static json_t *audit_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", store_col_int(st, 0), "at", store_col_string(st, 1),
                         "token", store_col_string(st, 2), "method", store_col_string(st, 3), "path",
                         store_col_string(st, 4), "status", store_col_int(st, 5));
}

int store_audit_list(struct store *s, int limit, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        if (limit <= 0)
                limit = 100;
        if (limit > STORE_AUDIT_LIST_MAX)
                limit = STORE_AUDIT_LIST_MAX;
        return store_list(s, audit_from_row, ret,
                          "SELECT id, at, token, method, path, status FROM audit ORDER BY id DESC LIMIT ?1", "i", limit);
}
