/* The db layer's backend interface: each backend (db_sqlite.c, db_pg.c) fills one ops table
 * and embeds struct db / struct db_stmt first in its own structs. Only for daemon/store/db*.c. */
#ifndef CORRAL_STORE_DB_INTERNAL_H
#define CORRAL_STORE_DB_INTERNAL_H

#include "store/db.h"

struct db_ops {
        enum db_backend backend;
        void (*close)(struct db *db);
        const char *(*errmsg)(struct db *db);
        int (*exec)(struct db *db, const char *sql);
        int (*begin)(struct db *db, bool write);
        int (*commit)(struct db *db);
        void (*rollback)(struct db *db);
        bool (*in_transaction)(struct db *db);
        int (*prepare)(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap);
        int (*step)(struct db_stmt *st);
        int64_t (*changes)(struct db_stmt *st);
        void (*finalize)(struct db_stmt *st);
        bool (*col_null)(struct db_stmt *st, int col);
        const char *(*col_text)(struct db_stmt *st, int col);
        int64_t (*col_int64)(struct db_stmt *st, int col);   /* NULL: parsed from the text */
        double (*col_double)(struct db_stmt *st, int col);   /* NULL: parsed from the text */
};

struct db {
        const struct db_ops *ops;
};

struct db_stmt {
        struct db *db;
};

/* One bound parameter as the backends see it: text (NULL for SQL NULL) or an integer. */
struct db_param {
        char type;      /* 's' text, 'i' int, 'I' int64 (JSON is bound as text: 's') */
        const char *text;
        char *owned;    /* JSON text to free, or NULL */
        int64_t num;
};

/* Read fmt/ap into params (at most DB_MAX_PARAMS). Returns the count or negative errno;
 * db_params_free() frees the JSON texts. */
#define DB_MAX_PARAMS 16
int db_params_read(struct db_param params[DB_MAX_PARAMS], const char *fmt, va_list ap);
void db_params_free(struct db_param *params, int n);

/* PostgreSQL's spelling of a statement's parameters: "?N" -> "$N", "?" -> "$<largest so far + 1>"
 * (SQLite's numbering), outside '...' and "..." quotes. Caller frees; NULL on ENOMEM. */
char *db_pg_translate(const char *sql);

#endif
