/* The db layer's front: dispatch to the backend of a connection, parameter reading shared by
 * both backends, and the column conversions built on column text. */
#include "store/db_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

int db_params_read(struct db_param params[DB_MAX_PARAMS], const char *fmt, va_list ap)
{
        int n = 0;
        for (; fmt && fmt[n]; n++) {
                if (n >= DB_MAX_PARAMS) {
                        db_params_free(params, n);
                        return -E2BIG;
                }
                struct db_param *p = &params[n];
                *p = (struct db_param){ .type = fmt[n] };
                switch (fmt[n]) {
                case 's':
                        p->text = va_arg(ap, const char *);
                        break;
                case 'i':
                        p->num = va_arg(ap, int);
                        break;
                case 'I':
                        p->num = va_arg(ap, int64_t);
                        break;
                case 'J': {
                        const json_t *v = va_arg(ap, const json_t *);
                        p->type = 's';
                        if (!v)
                                break;
                        p->owned = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
                        if (!p->owned) {
                                db_params_free(params, n);
                                return -ENOMEM;
                        }
                        p->text = p->owned;
                        break;
                }
                default:
                        db_params_free(params, n);
                        return -EINVAL;
                }
        }
        return n;
}

void db_params_free(struct db_param *params, int n)
{
        for (int i = 0; i < n; i++) {
                free(params[i].owned);
                params[i].owned = NULL;
        }
}

struct db *db_close(struct db *db)
{
        if (db)
                db->ops->close(db);
        return NULL;
}

enum db_backend db_backend(const struct db *db)
{
        return db->ops->backend;
}

const char *db_errmsg(struct db *db)
{
        return db->ops->errmsg(db);
}

int db_exec(struct db *db, const char *sql)
{
        return db->ops->exec(db, sql);
}

int db_begin(struct db *db, bool write)
{
        return db->ops->begin(db, write);
}

int db_commit(struct db *db)
{
        return db->ops->commit(db);
}

void db_rollback(struct db *db)
{
        db->ops->rollback(db);
}

bool db_in_transaction(struct db *db)
{
        return db->ops->in_transaction(db);
}

int db_prepare_v(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
        return db->ops->prepare(db, ret, sql, fmt, ap);
}

int db_step(struct db_stmt *st)
{
        return st->db->ops->step(st);
}

int64_t db_changes(struct db_stmt *st)
{
        return st->db->ops->changes(st);
}

void db_finalize(struct db_stmt *st)
{
        if (st)
                st->db->ops->finalize(st);
}

bool db_col_null(struct db_stmt *st, int col)
{
        return st->db->ops->col_null(st, col);
}

const char *db_col_text(struct db_stmt *st, int col)
{
        return st->db->ops->col_text(st, col);
}

int64_t db_col_int64(struct db_stmt *st, int col)
{
        if (st->db->ops->col_int64)
                return st->db->ops->col_int64(st, col);
        const char *t = db_col_text(st, col);
        return t ? strtoll(t, NULL, 10) : 0;
}

double db_col_double(struct db_stmt *st, int col)
{
        if (st->db->ops->col_double)
                return st->db->ops->col_double(st, col);
        const char *t = db_col_text(st, col);
        return t ? strtod(t, NULL) : 0.0;
}
