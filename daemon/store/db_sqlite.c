/* The db layer over SQLite: one sqlite3 connection (extended result codes on), statements
 * bound from db_param lists, SQLite result codes mapped to negative errno. */
#include "store/db_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct db_lite {
        struct db base;
        sqlite3 *db;
};

struct stmt_lite {
        struct db_stmt base;
        sqlite3_stmt *st;
};

static const struct db_ops lite_ops;

int db_errno_from_sqlite(int rc)
{
        switch (rc) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
                return -ENOENT;
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
                return -EEXIST;
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
                return -EINVAL;
        }
        switch (rc & 0xff) {
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_RANGE:
        case SQLITE_MISMATCH:
        case SQLITE_CONSTRAINT:
                return -EINVAL;
        default:
                return -EIO;
        }
}

static sqlite3 *conn(struct db *db)
{
        return ((struct db_lite *)db)->db;
}

struct sqlite3 *db_sqlite(struct db *db)
{
        return db && db->ops == &lite_ops ? conn(db) : NULL;
}

int db_open_sqlite(const char *path, struct db **ret, char *msg, size_t msg_size)
{
        struct db_lite *d = calloc(1, sizeof(*d));
        if (!d) {
                snprintf(msg, msg_size, "out of memory");
                return -ENOMEM;
        }
        d->base.ops = &lite_ops;
        int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                int err = d->db ? sqlite3_system_errno(d->db) : 0;
                snprintf(msg, msg_size, "cannot open %s: %s", path, d->db ? sqlite3_errmsg(d->db) : "out of memory");
                sqlite3_close_v2(d->db);
                free(d);
                return err > 0 ? -err : (rc == SQLITE_NOMEM ? -ENOMEM : -EIO);
        }
        sqlite3_extended_result_codes(d->db, 1);
        *ret = &d->base;
        return 0;
}

static void lite_close(struct db *db)
{
        sqlite3_close_v2(conn(db));
        free(db);
}

static const char *lite_errmsg(struct db *db)
{
        return sqlite3_errmsg(conn(db));
}

static int lite_exec(struct db *db, const char *sql)
{
        return db_errno_from_sqlite(sqlite3_exec(conn(db), sql, NULL, NULL, NULL));
}

static int lite_begin(struct db *db, bool write)
{
        return lite_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int lite_commit(struct db *db)
{
        return lite_exec(db, "COMMIT");
}

static bool lite_in_transaction(struct db *db)
{
        return !sqlite3_get_autocommit(conn(db));
}

static void lite_rollback(struct db *db)
{
        if (lite_in_transaction(db))
                sqlite3_exec(conn(db), "ROLLBACK", NULL, NULL, NULL);
}

static int lite_prepare(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
        struct db_param params[DB_MAX_PARAMS];
        int n = db_params_read(params, fmt, ap);
        if (n < 0)
                return n;
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(conn(db), sql, -1, &st, NULL);
        for (int i = 0; i < n && rc == SQLITE_OK; i++) {
                const struct db_param *p = &params[i];
                if (p->type == 's')
                        rc = p->text ? sqlite3_bind_text(st, i + 1, p->text, -1, SQLITE_TRANSIENT)
                                     : sqlite3_bind_null(st, i + 1);
                else if (p->type == 'i')
                        rc = sqlite3_bind_int(st, i + 1, (int)p->num);
                else
                        rc = sqlite3_bind_int64(st, i + 1, p->num);
        }
        db_params_free(params, n);
        struct stmt_lite *s = rc == SQLITE_OK ? calloc(1, sizeof(*s)) : NULL;
        if (!s) {
                sqlite3_finalize(st);
                return rc == SQLITE_OK ? -ENOMEM : db_errno_from_sqlite(rc);
        }
        s->base.db = db;
        s->st = st;
        *ret = &s->base;
        return 0;
}

static sqlite3_stmt *lst(struct db_stmt *st)
{
        return ((struct stmt_lite *)st)->st;
}

static int lite_step(struct db_stmt *st)
{
        int rc = sqlite3_step(lst(st));
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        int r = db_errno_from_sqlite(rc);
        return r < 0 ? r : -EIO;
}

static int64_t lite_changes(struct db_stmt *st)
{
        return sqlite3_changes(conn(st->db));
}

static void lite_finalize(struct db_stmt *st)
{
        sqlite3_finalize(lst(st));
        free(st);
}

static bool lite_col_null(struct db_stmt *st, int col)
{
        return sqlite3_column_type(lst(st), col) == SQLITE_NULL;
}

static const char *lite_col_text(struct db_stmt *st, int col)
{
        return (const char *)sqlite3_column_text(lst(st), col);
}

static int64_t lite_col_int64(struct db_stmt *st, int col)
{
        return sqlite3_column_int64(lst(st), col);
}

static double lite_col_double(struct db_stmt *st, int col)
{
        return sqlite3_column_double(lst(st), col);
}

static const struct db_ops lite_ops = {
        .backend = DB_SQLITE,
        .close = lite_close,
        .errmsg = lite_errmsg,
        .exec = lite_exec,
        .begin = lite_begin,
        .commit = lite_commit,
        .rollback = lite_rollback,
        .in_transaction = lite_in_transaction,
        .prepare = lite_prepare,
        .step = lite_step,
        .changes = lite_changes,
        .finalize = lite_finalize,
        .col_null = lite_col_null,
        .col_text = lite_col_text,
        .col_int64 = lite_col_int64,
        .col_double = lite_col_double,
};
