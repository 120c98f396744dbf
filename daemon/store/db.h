/* The store's thin database layer: one connection to SQLite (sqlite3) or PostgreSQL (libpq)
 * behind one interface: transactions, statements with "?N" parameters, rows and columns, and
 * error mapping to negative errno. The store_*.c files write portable SQL once against it. */
#ifndef CORRAL_STORE_DB_H
#define CORRAL_STORE_DB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_backend { DB_SQLITE, DB_PG };

struct db;      /* a connection; not thread-safe (the store holds its lock around every use) */
struct db_stmt; /* an executed or stepping statement; finalize with db_finalize() */

/* Open SQLite at path (created if missing; the caller sets pragmas and migrates). */
int db_open_sqlite(const char *path, struct db **ret, char *msg, size_t msg_size);
/* Connect to PostgreSQL with a "postgresql://..." URL (or any libpq conninfo). */
int db_open_pg(const char *url, struct db **ret, char *msg, size_t msg_size);
/* NULL-safe, returns NULL. */
struct db *db_close(struct db *db);

enum db_backend db_backend(const struct db *db);
/* The last error's text from the engine (borrowed, valid until the next call). */
const char *db_errmsg(struct db *db);

/* Run SQL without parameters (several statements allowed). 0 or negative errno. */
int db_exec(struct db *db, const char *sql);
/* Transactions: write (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN) or read (a consistent
 * snapshot: SQLite BEGIN; PostgreSQL REPEATABLE READ, read only). */
int db_begin(struct db *db, bool write);
int db_commit(struct db *db);
/* Roll back if a transaction is open; harmless otherwise. */
void db_rollback(struct db *db);
bool db_in_transaction(struct db *db);

/* Prepare sql (parameters written "?1".."?N" or "?") and bind 1..n from fmt, one letter each:
 *   's' const char * (NULL binds NULL)   'i' int   'I' int64_t
 *   'J' const json_t * (canonical JSON text; NULL binds NULL)
 * PostgreSQL runs the statement here (its errors come back from this call); SQLite on the
 * first db_step(). *ret is set only on success (caller finalizes). */
int db_prepare_v(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap);
/* Next row: 1 (row), 0 (done), negative errno. */
int db_step(struct db_stmt *st);
/* Rows changed by the statement once it is done (INSERT/UPDATE/DELETE). */
int64_t db_changes(struct db_stmt *st);
void db_finalize(struct db_stmt *st); /* NULL-safe */

/* Columns of the current row (0-based). Text is borrowed until the next step or finalize;
 * NULL for SQL NULL. */
bool db_col_null(struct db_stmt *st, int col);
const char *db_col_text(struct db_stmt *st, int col);
int64_t db_col_int64(struct db_stmt *st, int col);
double db_col_double(struct db_stmt *st, int col);

/* The engine handles, for the backend-specific parts (open pragmas, migrations). NULL when the
 * connection is of the other backend. Borrowed. */
struct sqlite3 *db_sqlite(struct db *db);
struct pg_conn *db_pg(struct db *db);

/* Errors: both map to the same negative errno set: -ENOENT (foreign key), -EEXIST (unique),
 * -EINVAL (check, not null, bad value), -ENOSPC (disk full), -EROFS, -EBUSY (locked,
 * serialization), -ENOMEM, -EACCES, -EBADMSG (corrupt / not corral's), -ENOTCONN (PostgreSQL
 * unreachable: the connection is re-made with backoff on later calls), -EIO (other). */
int db_errno_from_sqlite(int rc);
int db_errno_from_sqlstate(const char *sqlstate);

#endif
