/* Store lifecycle and plumbing: open (SQLite: mkdir -p, WAL, pragmas; PostgreSQL: connect;
 * then migrations), close, and the shared helpers for locking, transactions, statements,
 * time and UTF-8, all over the db layer (db.h). */
#include "store/store_internal.h"
#include "store/store_reserve.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- time, errors, text ---- */

void store_now(char out[STORE_TIME_SIZE])
{
        util_now_iso(out, STORE_TIME_SIZE);
}

int store_errno_from_sqlite(int rc)
{
        return db_errno_from_sqlite(rc);
}

char *store_utf8_clean(const char *in, size_t max_bytes)
{
        static const char repl[] = UTF8_REPLACEMENT;
        static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
        const size_t elen = sizeof(ellipsis) - 1;
        const unsigned char *p = (const unsigned char *)in;
        size_t n = strlen(in), o = 0, keep = 0;
        bool cut = false;

        if (max_bytes < elen)
                max_bytes = elen;
        char *out = malloc(max_bytes + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_seq_len(p + i, n - i); /* the one rule of utf8.h */
                size_t add = len ? len : sizeof(repl) - 1;
                if (o + add > max_bytes) {
                        cut = true;
                        break;
                }
                memcpy(out + o, len ? (const char *)p + i : repl, add);
                o += add;
                i += len ? len : 1;
                if (o + elen <= max_bytes)
                        keep = o; /* last character boundary with room for the ellipsis */
        }
        if (cut) {
                memcpy(out + keep, ellipsis, elen);
                o = keep + elen;
        }
        out[o] = '\0';
        return out;
}

/* ---- locking and transactions ---- */

/* The connection this thread's store_prepare() uses for s: the read connection between
 * store_read_lock() and store_read_unlock(), else the write connection. Thread-local because
 * a reader and a writer run at once on two threads. */
static _Thread_local struct {
        const struct store *s;
        struct db *db;
} reading;

static struct db *conn(struct store *s)
{
        return reading.s == s ? reading.db : s->db;
}

static void read_begin(struct store *s)
{
        pthread_mutex_lock(&s->rlock);
        reading.s = s;
        reading.db = s->rdb;
}

static void read_end(struct store *s)
{
        reading.s = NULL;
        reading.db = NULL;
        pthread_mutex_unlock(&s->rlock);
}

void store_lock(struct store *s)
{
        pthread_mutex_lock(&s->lock);
}

void store_unlock(struct store *s)
{
        pthread_mutex_unlock(&s->lock);
}

int store_write_lock(struct store *s)
{
        store_lock(s);
        return db_begin(s->db, true);
}

int store_write_unlock(struct store *s, int r)
{
        if (r >= 0 && s->inject_err) {
                r = s->inject_err;
                s->inject_err = 0;
        }
        if (r >= 0) {
                int rc = db_commit(s->db);
                if (rc < 0)
                        r = rc;
        }
        db_rollback(s->db);
        store_unlock(s);
        return r;
}

int store_read_lock(struct store *s)
{
        read_begin(s);
        return db_begin(s->rdb, false);
}

void store_read_unlock(struct store *s)
{
        if (db_in_transaction(s->rdb))
                db_commit(s->rdb);
        db_rollback(s->rdb);
        read_end(s);
}

/* ---- statements ---- */

char *store_json_dump(const json_t *v)
{
        return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static int prepare_v(struct store *s, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
        return db_prepare_v(conn(s), ret, sql, fmt, ap);
}

int store_prepare(struct store *s, struct db_stmt **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = prepare_v(s, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_step(struct db_stmt *st)
{
        return db_step(st);
}

int store_run(struct store *s, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = store_run_v(s, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_run_v(struct store *s, const char *sql, const char *fmt, va_list ap)
{
        struct db_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1)
                ;
        int64_t n = r < 0 ? 0 : db_changes(st);
        db_finalize(st);
        return r < 0 ? r : (int)n;
}

int store_run_int(struct store *s, int64_t *ret, const char *sql, const char *fmt, ...)
{
        struct db_stmt *st;
        va_list ap;
        va_start(ap, fmt);
        int r = prepare_v(s, &st, sql, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = store_step(st);
        if (r == 1) {
                *ret = db_col_int64(st, 0);
                while (store_step(st) == 1) /* finish RETURNING statements */
                        ;
        }
        db_finalize(st);
        return r;
}

static int write_v(struct store *s, int none_err, const char *sql, const char *fmt, va_list ap)
{
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run_v(s, sql, fmt, ap);
        if (r == 0)
                r = none_err;
        return store_write_unlock(s, r);
}

int store_write(struct store *s, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = write_v(s, 0, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_write_row(struct store *s, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = write_v(s, -ENOENT, sql, fmt, ap);
        va_end(ap);
        return r < 0 ? r : 0;
}

static int query_one_v(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt,
                       va_list ap)
{
        struct db_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        r = store_step(st);
        json_t *row = r == 1 ? from_row(st) : NULL;
        db_finalize(st);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        if (!row)
                return -ENOMEM;
        *ret = row;
        return 0;
}

int store_query_one(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = query_one_v(s, from_row, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_get(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        read_begin(s);
        int r = query_one_v(s, from_row, ret, sql, fmt, ap);
        read_end(s);
        va_end(ap);
        return r;
}

/* A row into out (an array: appended; an object: under column 0's text, merged into an object
 * already there). Takes row. 0 or -ENOMEM; a row with a NULL or unusable key is dropped. */
static int collect(json_t *out, struct db_stmt *st, json_t *row)
{
        if (json_is_array(out))
                return json_array_append_new(out, row) < 0 ? -ENOMEM : 0;
        const char *key = db_col_text(st, 0);
        json_t *have = key ? json_object_get(out, key) : NULL;
        int r = 0;
        if (have && json_is_object(have) && json_is_object(row))
                r = json_object_update(have, row) < 0 ? -ENOMEM : 0;
        else if (key)
                json_object_set(out, key, row);
        json_decref(row);
        return r;
}

static int query_all_v(struct store *s, store_row_fn *from_row, json_t *list, const char *sql, const char *fmt,
                       va_list ap)
{
        struct db_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1) {
                json_t *row = from_row(st);
                if (!row || collect(list, st, row) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        db_finalize(st);
        return r;
}

int store_query_all(struct store *s, store_row_fn *from_row, json_t *list, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = query_all_v(s, from_row, list, sql, fmt, ap);
        va_end(ap);
        return r;
}

static int list_v(struct store *s, json_t *list, store_row_fn *from_row, json_t **ret, const char *sql,
                  const char *fmt, va_list ap)
{
        if (!list)
                return -ENOMEM;
        read_begin(s);
        int r = query_all_v(s, from_row, list, sql, fmt, ap);
        read_end(s);
        if (r < 0) {
                json_decref(list);
                return r;
        }
        *ret = list;
        return 0;
}

int store_list(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = list_v(s, json_array(), from_row, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_list_keyed(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = list_v(s, json_object(), from_row, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

json_t *store_col_string(struct db_stmt *st, int col)
{
        const char *text = db_col_text(st, col);
        if (!text)
                return json_null();
        json_t *v = json_string(text);
        if (v)
                return v;
        char *clean = store_utf8_clean(text, strlen(text) + 3);
        v = clean ? json_string(clean) : NULL;
        free(clean);
        return v ? v : json_null();
}

json_t *store_col_json(struct db_stmt *st, int col)
{
        const char *text = db_col_text(st, col);
        if (!text)
                return json_null();
        /* NUL is valid in stored strings (board output keeps it, utf8.h): jansson writes it as
         * \u0000 and refuses it back unless allowed, which turned a whole result into null. */
        json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return v ? v : json_null();
}

json_t *store_col_int(struct db_stmt *st, int col)
{
        if (db_col_null(st, col))
                return json_null();
        return json_integer(db_col_int64(st, col));
}

/* ---- open / close ---- */

static int mkdir_p(const char *dir, mode_t mode)
{
        char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        for (char *q = p + 1; *q; q++) {
                if (*q != '/')
                        continue;
                *q = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST) {
                        int r = -errno;
                        free(p);
                        return r;
                }
                *q = '/';
        }
        int r = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                r = -errno;
        free(p);
        if (r < 0)
                return r;
        struct stat stbuf;
        if (stat(dir, &stbuf) < 0)
                return -errno;
        return S_ISDIR(stbuf.st_mode) ? 0 : -ENOTDIR;
}

static int exec_pragma(sqlite3 *db, const char *sql, const char *path, char *msg, size_t msg_size)
{
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                return 0;
        int r = store_errno_from_sqlite(rc);
        if (r == -EBADMSG)
                snprintf(msg, msg_size, "%s is not a usable corral database (not an SQLite file, or corrupt): %s",
                         path, sqlite3_errmsg(db));
        else
                snprintf(msg, msg_size, "cannot set up %s (%s): %s", path, sql, sqlite3_errmsg(db));
        return r < 0 ? r : -EIO;
}

static int open_sqlite(struct store *s, char *msg, size_t msg_size)
{
        int r = db_open_sqlite(s->path, &s->db, msg, msg_size);
        if (r < 0)
                return r;
        sqlite3 *db = db_sqlite(s->db);

        /* busy_timeout first, so that switching to WAL waits for another process' lock. */
        r = exec_pragma(db, "PRAGMA busy_timeout=5000", s->path, msg, msg_size);
        if (r < 0)
                return r;

        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        const char *mode = (const char *)sqlite3_column_text(st, 0);
                        if (!mode || strcasecmp(mode, "wal") != 0) {
                                snprintf(msg, msg_size, "cannot switch %s to WAL journal mode (it stays in \"%s\" mode)",
                                         s->path, mode ? mode : "?");
                                sqlite3_finalize(st);
                                return -EIO;
                        }
                        rc = SQLITE_OK;
                }
                sqlite3_finalize(st);
        }
        if (rc != SQLITE_OK && rc != SQLITE_DONE) {
                r = store_errno_from_sqlite(rc);
                if (r == -EBADMSG)
                        snprintf(msg, msg_size, "%s is not a usable corral database (not an SQLite file, or corrupt): %s",
                                 s->path, sqlite3_errstr(rc));
                else
                        snprintf(msg, msg_size, "cannot open %s in WAL mode: %s", s->path, sqlite3_errstr(rc));
                return r < 0 ? r : -EIO;
        }

        r = exec_pragma(db, "PRAGMA synchronous=NORMAL", s->path, msg, msg_size);
        if (r >= 0)
                r = exec_pragma(db, "PRAGMA foreign_keys=ON", s->path, msg, msg_size);
        if (r >= 0)
                r = store_schema_migrate(db, s->path, &s->schema_version, msg, msg_size);
        if (r < 0)
                return r;
        /* The read connection, opened once the schema is there: in WAL mode its reads see the
         * last commit and never wait for the write connection's transaction. */
        r = db_open_sqlite(s->path, &s->rdb, msg, msg_size);
        if (r >= 0)
                r = exec_pragma(db_sqlite(s->rdb), "PRAGMA busy_timeout=5000", s->path, msg, msg_size);
        if (r >= 0)
                r = exec_pragma(db_sqlite(s->rdb), "PRAGMA query_only=ON", s->path, msg, msg_size);
        return r;
}

static int open_pg(struct store *s, const char *url, char *msg, size_t msg_size)
{
        int r = db_open_pg(url, &s->db, msg, msg_size);
        if (r >= 0)
                r = store_schema_migrate_pg(s->db, &s->schema_version, msg, msg_size);
        if (r >= 0) /* a second session for reads: READ COMMITTED sees every commit */
                r = db_open_pg(url, &s->rdb, msg, msg_size);
        return r;
}

bool store_url_is_pg(const char *url)
{
        return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

int store_open_url(const char *state_dir, const char *url, struct store **ret, char *msg, size_t msg_size)
{
        char scratch[8];

        if (!msg || msg_size == 0) {
                msg = scratch;
                msg_size = sizeof(scratch);
        }
        msg[0] = '\0';
        if (!state_dir || !*state_dir || !ret) {
                snprintf(msg, msg_size, "no state directory given");
                return -EINVAL;
        }
        if (url && *url && !store_url_is_pg(url)) {
                snprintf(msg, msg_size, "store URL '%s' is not supported: use postgresql://... (or none for SQLite)",
                         url);
                return -EINVAL;
        }

        int r = mkdir_p(state_dir, 0750);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot create state directory %s: %s", state_dir, strerror(-r));
                return r;
        }

        struct store *s = calloc(1, sizeof(*s));
        if (!s || asprintf(&s->path, "%s/corral.db", state_dir) < 0) {
                free(s);
                snprintf(msg, msg_size, "out of memory");
                return -ENOMEM;
        }
        r = pthread_mutex_init(&s->lock, NULL);
        if (r == 0 && (r = pthread_mutex_init(&s->rlock, NULL)) != 0)
                pthread_mutex_destroy(&s->lock);
        if (r != 0) {
                free(s->path);
                free(s);
                snprintf(msg, msg_size, "cannot create the store lock: %s", strerror(r));
                return -r;
        }

        r = url && *url ? open_pg(s, url, msg, msg_size) : open_sqlite(s, msg, msg_size);
        if (r < 0) {
                store_close(s);
                return r;
        }
        (void)store_reserve_make(s); /* best effort: without room, repairs still try */
        *ret = s;
        return 0;
}

int store_open(const char *state_dir, struct store **ret, char *msg, size_t msg_size)
{
        return store_open_url(state_dir, NULL, ret, msg, msg_size);
}

struct store *store_close(struct store *s)
{
        if (!s)
                return NULL;
        sqlite3 *lite = db_sqlite(s->db);
        if (lite && s->schema_version > 0)
                sqlite3_exec(lite, "PRAGMA optimize", NULL, NULL, NULL); /* cheap housekeeping; failure is harmless */
        db_close(s->rdb);
        db_close(s->db);
        pthread_mutex_destroy(&s->rlock);
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        free(s);
        return NULL;
}

int store_schema_version(struct store *s)
{
        return s ? s->schema_version : -EINVAL;
}

bool store_is_pg(struct store *s)
{
        return s && s->db && db_backend(s->db) == DB_PG;
}

int store_test_inject_error(struct store *s, int err)
{
        if (!s)
                return -EINVAL;
        store_lock(s);
        s->inject_err = err > 0 ? -err : err;
        store_unlock(s);
        return 0;
}
