/* Store lifecycle and plumbing: open (mkdir -p, WAL, pragmas, migrations), close, and the
 * shared helpers for locking, transactions, binding, error mapping, time and UTF-8. */
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
        return store_errno_from_sqlite(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

int store_write_unlock(struct store *s, int r)
{
        if (r >= 0 && s->inject_err) {
                r = s->inject_err;
                s->inject_err = 0;
        }
        if (r >= 0) {
                int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        r = store_errno_from_sqlite(rc);
        }
        if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        store_unlock(s);
        return r;
}

int store_read_lock(struct store *s)
{
        store_lock(s);
        return store_errno_from_sqlite(sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL));
}

void store_read_unlock(struct store *s)
{
        if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        store_unlock(s);
}

/* ---- statements ---- */

char *store_json_dump(const json_t *v)
{
        return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static int bind_v(sqlite3_stmt *st, const char *fmt, va_list ap)
{
        int rc = SQLITE_OK;

        for (int i = 0; fmt && fmt[i] && rc == SQLITE_OK; i++) {
                int idx = i + 1;
                switch (fmt[i]) {
                case 's': {
                        const char *v = va_arg(ap, const char *);
                        rc = v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
                        break;
                }
                case 'I':
                        rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
                        break;
                case 'i':
                        rc = sqlite3_bind_int(st, idx, va_arg(ap, int));
                        break;
                case 'J': {
                        const json_t *v = va_arg(ap, const json_t *);
                        if (!v) {
                                rc = sqlite3_bind_null(st, idx);
                                break;
                        }
                        char *text = store_json_dump(v);
                        if (!text)
                                return -ENOMEM;
                        rc = sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
                        free(text);
                        break;
                }
                default:
                        return -EINVAL;
                }
        }
        return store_errno_from_sqlite(rc);
}

static int prepare_v(struct store *s, sqlite3_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
        sqlite3_stmt *st = NULL;
        int r = store_errno_from_sqlite(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL));
        if (r < 0)
                return r;
        r = bind_v(st, fmt, ap);
        if (r < 0) {
                sqlite3_finalize(st);
                return r;
        }
        *ret = st;
        return 0;
}

int store_prepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = prepare_v(s, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

int store_step(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        /* sqlite3_step() returns the extended code since we enable extended result codes. */
        int r = store_errno_from_sqlite(rc);
        return r < 0 ? r : -EIO;
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
        sqlite3_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1)
                ;
        sqlite3_finalize(st);
        return r < 0 ? r : sqlite3_changes(s->db);
}

int store_run_int(struct store *s, int64_t *ret, const char *sql, const char *fmt, ...)
{
        sqlite3_stmt *st;
        va_list ap;
        va_start(ap, fmt);
        int r = prepare_v(s, &st, sql, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = store_step(st);
        if (r == 1) {
                *ret = sqlite3_column_int64(st, 0);
                while (store_step(st) == 1) /* finish RETURNING statements */
                        ;
        }
        sqlite3_finalize(st);
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
        sqlite3_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        r = store_step(st);
        json_t *row = r == 1 ? from_row(st) : NULL;
        sqlite3_finalize(st);
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
        store_lock(s);
        int r = query_one_v(s, from_row, ret, sql, fmt, ap);
        store_unlock(s);
        va_end(ap);
        return r;
}

static int query_all_v(struct store *s, store_row_fn *from_row, json_t *list, const char *sql, const char *fmt,
                       va_list ap)
{
        sqlite3_stmt *st;
        int r = prepare_v(s, &st, sql, fmt, ap);
        if (r < 0)
                return r;
        while ((r = store_step(st)) == 1) {
                json_t *row = from_row(st);
                if (!row || json_array_append_new(list, row) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        sqlite3_finalize(st);
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

int store_list(struct store *s, store_row_fn *from_row, json_t **ret, const char *sql, const char *fmt, ...)
{
        json_t *list = json_array();
        if (!list)
                return -ENOMEM;
        va_list ap;
        va_start(ap, fmt);
        store_lock(s);
        int r = query_all_v(s, from_row, list, sql, fmt, ap);
        store_unlock(s);
        va_end(ap);
        if (r < 0) {
                json_decref(list);
                return r;
        }
        *ret = list;
        return 0;
}

json_t *store_col_string(sqlite3_stmt *st, int col)
{
        const char *text = (const char *)sqlite3_column_text(st, col);
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

json_t *store_col_json(sqlite3_stmt *st, int col)
{
        const char *text = (const char *)sqlite3_column_text(st, col);
        if (!text)
                return json_null();
        json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
        return v ? v : json_null();
}

json_t *store_col_int(sqlite3_stmt *st, int col)
{
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
                return json_null();
        return json_integer(sqlite3_column_int64(st, col));
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

static int open_db(struct store *s, char *msg, size_t msg_size)
{
        int rc = sqlite3_open_v2(s->path, &s->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int err = s->db ? sqlite3_system_errno(s->db) : 0;
                snprintf(msg, msg_size, "cannot open %s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
                return err > 0 ? -err : (rc == SQLITE_NOMEM ? -ENOMEM : -EIO);
        }
        sqlite3_extended_result_codes(s->db, 1);

        /* busy_timeout first, so that switching to WAL waits for another process' lock. */
        int r = exec_pragma(s->db, "PRAGMA busy_timeout=5000", s->path, msg, msg_size);
        if (r < 0)
                return r;

        sqlite3_stmt *st;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
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

        r = exec_pragma(s->db, "PRAGMA synchronous=NORMAL", s->path, msg, msg_size);
        if (r >= 0)
                r = exec_pragma(s->db, "PRAGMA foreign_keys=ON", s->path, msg, msg_size);
        if (r >= 0)
                r = store_schema_migrate(s->db, s->path, &s->schema_version, msg, msg_size);
        return r;
}

int store_open(const char *state_dir, struct store **ret, char *msg, size_t msg_size)
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
        if (r != 0) {
                free(s->path);
                free(s);
                snprintf(msg, msg_size, "cannot create the store lock: %s", strerror(r));
                return -r;
        }

        r = open_db(s, msg, msg_size);
        if (r < 0) {
                store_close(s);
                return r;
        }
        (void)store_reserve_make(s); /* best effort: without room, repairs still try */
        *ret = s;
        return 0;
}

struct store *store_close(struct store *s)
{
        if (!s)
                return NULL;
        if (s->db) {
                /* Cheap housekeeping; failure is harmless. */
                if (s->schema_version > 0)
                        sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL, NULL);
                sqlite3_close_v2(s->db);
        }
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        free(s);
        return NULL;
}

int store_schema_version(struct store *s)
{
        return s ? s->schema_version : -EINVAL;
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
