/* Shared internals of the store (store.c and the store_*.c files): the struct, locking,
 * transactions, parameter binding, row-to-JSON queries over the db layer (db.h: SQLite or
 * PostgreSQL), SQLite error mapping, time stamps.
 * Not for use outside daemon/store*.c (tests may include it to check the error mapping). */
#ifndef CORRAL_STORE_INTERNAL_H
#define CORRAL_STORE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/store.h"

/* "2026-11-25T08:40:57.123Z" plus NUL, with room to spare. */
#define STORE_TIME_SIZE 32

struct store {
        struct db *db;          /* the write connection: SQLite (FULLMUTEX) or PostgreSQL */
        pthread_mutex_t lock;   /* held around every operation on db (multi-statement atomicity) */
        struct db *rdb;         /* the read connection (store_get, store_list, store_read_lock):
                                 * SQLite WAL readers see the last commit and never wait for a
                                 * writer; PostgreSQL a second session */
        pthread_mutex_t rlock;  /* held around every operation on rdb; never with lock */
        int schema_version;
        int inject_err;         /* test seam: negative errno for the next write, 0 = none */
        char *path;             /* "<state_dir>/corral.db" (the firmware files and the reserve sit
                                 * next to it with either backend) */
        unsigned job_log_max;   /* stored log lines per job; 0 = STORE_JOB_LOG_MAX_LINES */
        atomic_ullong audit_failures; /* audit rows that could not be written (store_audit.c) */
        char host[64];          /* this corrald's host name (store_hosts.c); "" until set */
        _Atomic int64_t host_stale_ms; /* the farm's liveness bound (store_hosts.c); 0 = default */
};

/* Current UTC time as ISO-8601 with milliseconds. */
void store_now(char out[STORE_TIME_SIZE]);

/* Map an (extended) SQLite result code to a negative errno: SQLITE_FULL -> -ENOSPC,
 * SQLITE_READONLY -> -EROFS, SQLITE_BUSY/LOCKED -> -EBUSY, SQLITE_NOMEM -> -ENOMEM,
 * foreign key -> -ENOENT, unique/primary key -> -EEXIST, check/not null -> -EINVAL,
 * corrupt/not a database -> -EBADMSG, anything else -> -EIO. SQLITE_OK/ROW/DONE -> 0. */
int store_errno_from_sqlite(int rc);

void store_lock(struct store *s);
void store_unlock(struct store *s);

/* Take the lock and begin a write transaction (BEGIN IMMEDIATE); pair with
 * store_write_unlock() even when it fails. That commits when r >= 0 and rolls back otherwise,
 * drops the lock and returns r, or the commit's error, or the injected test error. */
int store_write_lock(struct store *s);
int store_write_unlock(struct store *s, int r);
/* Take the read connection's lock and begin a read transaction on it, for consistent
 * multi-statement reads that never wait for a writer (they see the last committed data); pair
 * with store_read_unlock() even when it fails. Between the two, store_prepare(), store_run*(),
 * store_query_*() on this thread use the read connection. Never nest with store_lock(). */
int store_read_lock(struct store *s);
void store_read_unlock(struct store *s);

/* Prepare sql and bind parameters 1..n described by fmt, one letter each:
 *   's' const char * (NULL binds NULL)      'I' int64_t
 *   'i' int                                 'J' const json_t * (serialised; NULL binds NULL)
 * Returns 0 or negative errno; *ret is set only on success (caller finalizes). */
int store_prepare(struct store *s, struct db_stmt **ret, const char *sql, const char *fmt, ...);
/* Prepare, bind, step to completion, finalize. Returns the number of rows changed or
 * negative errno. */
int store_run(struct store *s, const char *sql, const char *fmt, ...);
int store_run_v(struct store *s, const char *sql, const char *fmt, va_list ap);
/* Prepare, bind, step once and read column 0 as an integer into *ret (when a row came back).
 * Returns 1 (row), 0 (no row) or negative errno. */
int store_run_int(struct store *s, int64_t *ret, const char *sql, const char *fmt, ...);
/* Step a prepared statement: a row -> 1, done -> 0, else negative errno. */
int store_step(struct db_stmt *st);

/* One statement in its own write transaction, taking the lock. store_write() returns the
 * number of rows changed or negative errno; store_write_row() returns 0, or -ENOENT (rolled
 * back) when the statement changed no row, or negative errno. */
int store_write(struct store *s, const char *sql, const char *fmt, ...);
int store_write_row(struct store *s, const char *sql, const char *fmt, ...);

/* A result row as a new JSON value; NULL on ENOMEM. */
typedef json_t *store_row_fn(struct db_stmt *st);
/* With the lock held, prepare and bind as store_prepare() and turn rows into JSON:
 * store_query_one() the first row into *ret (caller frees; set only on success): 0, -ENOENT
 * (no row), -ENOMEM or negative errno. store_query_all() appends every row to list
 * (borrowed; an object: keyed as store_list_keyed() does): 0, -ENOMEM or negative errno; rows
 * added before a failure stay. */
int store_query_one(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...);
int store_query_all(struct store *s, store_row_fn *from_row, json_t *list, const char *sql, const char *fmt, ...);
/* The same on the read connection, taking its lock (so they never wait for a writer):
 * store_get() as store_query_one(); store_list() every row as a new array in *ret (caller
 * frees; set only on success), returning 0, -ENOMEM or negative errno. */
int store_get(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...);
int store_list(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...);
/* store_list() into an object keyed by each row's column 0 (text; rows with NULL there are
 * skipped): {col0: from_row(row)}; rows with the same key whose JSON are objects merge into one
 * (later keys win). New object in *ret (caller frees; set only on success). */
int store_list_keyed(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...);

/* JSON text of a value, canonical (compact, sorted keys). Caller frees. NULL on ENOMEM. */
char *store_json_dump(const json_t *v);
/* Column helpers returning new references; never NULL (json_null() for SQL NULL, text that
 * is not valid UTF-8 is repaired, JSON text that does not parse becomes null). */
json_t *store_col_string(struct db_stmt *st, int col);
json_t *store_col_json(struct db_stmt *st, int col);
json_t *store_col_int(struct db_stmt *st, int col);

/* Copy of in as valid UTF-8 of at most max_bytes bytes (plus NUL): invalid bytes become
 * U+FFFD, and a cut line ends with "…". Caller frees; NULL on ENOMEM. */
char *store_utf8_clean(const char *in, size_t max_bytes);

/* Schema (store_schema.c): bring db to the newest schema version or explain why not. The same
 * numbered steps for both backends: SQLite keeps the version in PRAGMA user_version,
 * PostgreSQL in the table schema_version. */
int store_schema_latest(void);
int store_schema_migrate(sqlite3 *db, const char *path, int *ret_version, char *msg, size_t msg_size);
int store_schema_migrate_pg(struct db *db, int *ret_version, char *msg, size_t msg_size);

#endif
