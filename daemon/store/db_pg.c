/* The db layer over PostgreSQL (libpq): one connection made from a URL, statements run with
 * typed text parameters ("?N" rewritten to "$N"), SQLSTATEs mapped to negative errno, and a
 * lost connection re-made with exponential backoff (100 ms to 5 s) on later calls. */
#include "store/db_internal.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000

/* PostgreSQL type oids of the parameters we bind (pg_type.h). */
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25

struct db_pgc {
        struct db base;
        PGconn *conn;
        char errmsg[512];
        unsigned backoff_ms;    /* next wait after a failed reconnect */
        uint64_t next_try_ms;   /* monotonic: no reconnect attempt before this */
};

struct stmt_pg {
        struct db_stmt base;
        PGresult *res;
        int row;                /* current row, -1 before the first step */
};

static const struct db_ops pg_ops;

int db_errno_from_sqlstate(const char *state)
{
        if (!state || strlen(state) != 5)
                return -EIO;
        static const struct { const char *state; int err; } map[] = {
                { "23503", -ENOENT }, { "23505", -EEXIST }, { "23514", -EINVAL }, { "23502", -EINVAL },
                { "53100", -ENOSPC }, { "25006", -EROFS },  { "40001", -EBUSY },  { "40P01", -EBUSY },
                { "55P03", -EBUSY },  { "53200", -ENOMEM }, { "42501", -EACCES }, { "28000", -EACCES },
                { "28P01", -EACCES }, { "57P01", -ENOTCONN }, { "57P02", -ENOTCONN }, { "57P03", -ENOTCONN },
                { "53300", -ENOTCONN }, { "54000", -E2BIG },
        };
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (!strcmp(state, map[i].state))
                        return map[i].err;
        if (!strncmp(state, "08", 2))
                return -ENOTCONN;
        if (!strncmp(state, "22", 2))
                return -EINVAL;
        return -EIO;
}

static struct db_pgc *pgc(struct db *db)
{
        return (struct db_pgc *)db;
}

struct pg_conn *db_pg(struct db *db)
{
        return db && db->ops == &pg_ops ? pgc(db)->conn : NULL;
}

static void set_errmsg(struct db_pgc *d, const char *text)
{
        snprintf(d->errmsg, sizeof(d->errmsg), "%s", text && *text ? text : "unknown PostgreSQL error");
        size_t n = strlen(d->errmsg);
        while (n && (d->errmsg[n - 1] == '\n' || d->errmsg[n - 1] == ' '))
                d->errmsg[--n] = '\0';
}

static void notice_quiet(void *arg, const char *message)
{
        (void)arg;
        (void)message; /* "relation ... already exists, skipping" and the like: not for our log */
}

/* 0 when the connection is usable; else try to re-make it, at most once per backoff step. */
static int ensure_conn(struct db_pgc *d)
{
        if (PQstatus(d->conn) == CONNECTION_OK)
                return 0;
        uint64_t now = util_mono_ms();
        if (now < d->next_try_ms) {
                set_errmsg(d, "the PostgreSQL connection is down; retrying with backoff");
                return -ENOTCONN;
        }
        PQreset(d->conn);
        if (PQstatus(d->conn) == CONNECTION_OK) {
                d->backoff_ms = PG_BACKOFF_MIN_MS;
                d->next_try_ms = 0;
                return 0;
        }
        set_errmsg(d, PQerrorMessage(d->conn));
        d->next_try_ms = now + d->backoff_ms;
        d->backoff_ms = d->backoff_ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : d->backoff_ms * 2;
        return -ENOTCONN;
}

int db_open_pg(const char *url, struct db **ret, char *msg, size_t msg_size)
{
        struct db_pgc *d = calloc(1, sizeof(*d));
        if (!d) {
                snprintf(msg, msg_size, "out of memory");
                return -ENOMEM;
        }
        d->base.ops = &pg_ops;
        d->backoff_ms = PG_BACKOFF_MIN_MS;
        /* Defaults first: what the URL says wins over them. Keepalives and the user timeout
         * bound how long a dead network can hold a call. */
        const char *const keys[] = { "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                     "tcp_user_timeout", "application_name", "client_encoding", "dbname", NULL };
        const char *const vals[] = { "5", "10", "5", "3", "15000", "corrald", "UTF8", url, NULL };
        d->conn = PQconnectdbParams(keys, vals, 1);
        if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
                snprintf(msg, msg_size, "cannot connect to PostgreSQL: %s",
                         d->conn ? PQerrorMessage(d->conn) : "out of memory");
                size_t n = strlen(msg);
                while (n && msg[n - 1] == '\n')
                        msg[--n] = '\0';
                PQfinish(d->conn);
                free(d);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(d->conn, notice_quiet, NULL);
        *ret = &d->base;
        return 0;
}

static void pg_close(struct db *db)
{
        PQfinish(pgc(db)->conn);
        free(db);
}

static const char *pg_errmsg(struct db *db)
{
        return pgc(db)->errmsg;
}

/* Error of a finished result (or of the connection when res is NULL), with the message kept. */
static int result_errno(struct db_pgc *d, PGresult *res)
{
        ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
                return 0;
        set_errmsg(d, res ? PQresultErrorMessage(res) : PQerrorMessage(d->conn));
        if (PQstatus(d->conn) != CONNECTION_OK)
                return -ENOTCONN;
        int r = db_errno_from_sqlstate(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
        return r < 0 ? r : -EIO;
}

/* Run one statement (params NULL: PQexec, several statements allowed). Outside a transaction
 * a connection found dead is re-made and the statement tried once more: nothing ran yet. */
static int run(struct db_pgc *d, const char *sql, int n, const Oid *types, const char *const *values,
               PGresult **ret)
{
        for (int attempt = 0;; attempt++) {
                bool idle = PQtransactionStatus(d->conn) == PQTRANS_IDLE || PQstatus(d->conn) != CONNECTION_OK;
                if (idle) {
                        int r = ensure_conn(d);
                        if (r < 0)
                                return r;
                } else if (PQstatus(d->conn) != CONNECTION_OK) {
                        set_errmsg(d, PQerrorMessage(d->conn));
                        return -ENOTCONN;
                }
                PGresult *res = types ? PQexecParams(d->conn, sql, n, types, values, NULL, NULL, 0)
                                      : PQexec(d->conn, sql);
                int r = result_errno(d, res);
                if (r == -ENOTCONN && idle && attempt == 0) {
                        PQclear(res);
                        d->next_try_ms = 0; /* the server may be back already: try at once */
                        continue;
                }
                if (r < 0) {
                        PQclear(res);
                        return r;
                }
                if (ret)
                        *ret = res;
                else
                        PQclear(res);
                return 0;
        }
}

static int pg_exec(struct db *db, const char *sql)
{
        return run(pgc(db), sql, 0, NULL, NULL, NULL);
}

static int pg_begin(struct db *db, bool write)
{
        return pg_exec(db, write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static int pg_commit(struct db *db)
{
        struct db_pgc *d = pgc(db);
        if (PQtransactionStatus(d->conn) == PQTRANS_INERROR) {
                /* COMMIT would only roll back: say so instead of reporting success. */
                set_errmsg(d, "the transaction failed earlier and was rolled back");
                run(d, "ROLLBACK", 0, NULL, NULL, NULL);
                return -EIO;
        }
        return run(d, "COMMIT", 0, NULL, NULL, NULL);
}

static bool pg_in_transaction(struct db *db)
{
        PGTransactionStatusType t = PQtransactionStatus(pgc(db)->conn);
        return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

static void pg_rollback(struct db *db)
{
        if (pg_in_transaction(db))
                run(pgc(db), "ROLLBACK", 0, NULL, NULL, NULL);
}

char *db_pg_translate(const char *sql)
{
        size_t marks = 0;
        for (const char *p = sql; *p; p++)
                marks += *p == '?';
        char *out = malloc(strlen(sql) + marks * 11 + 1); /* "?" grows to at most "$" and 10 digits */
        if (!out)
                return NULL;
        char *o = out;
        char quote = 0;
        int max = 0;
        for (const char *p = sql; *p; p++) {
                if (quote) {
                        if (*p == quote)
                                quote = 0;
                        *o++ = *p;
                } else if (*p == '\'' || *p == '"') {
                        quote = *p;
                        *o++ = *p;
                } else if (*p == '?') {
                        if (p[1] >= '0' && p[1] <= '9') {
                                int v = (int)strtol(p + 1, NULL, 10);
                                if (v > max)
                                        max = v;
                                *o++ = '$';
                        } else {
                                o += sprintf(o, "$%d", ++max);
                        }
                } else {
                        *o++ = *p;
                }
        }
        *o = '\0';
        return out;
}

static int pg_prepare(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
        struct db_pgc *d = pgc(db);
        struct db_param params[DB_MAX_PARAMS];
        int n = db_params_read(params, fmt, ap);
        if (n < 0)
                return n;
        Oid types[DB_MAX_PARAMS];
        const char *values[DB_MAX_PARAMS];
        char nums[DB_MAX_PARAMS][24];
        for (int i = 0; i < n; i++) {
                if (params[i].type == 's') {
                        types[i] = OID_TEXT;
                        values[i] = params[i].text;
                } else {
                        types[i] = params[i].type == 'i' ? OID_INT4 : OID_INT8;
                        snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)params[i].num);
                        values[i] = nums[i];
                }
        }
        char *pgsql = db_pg_translate(sql);
        struct stmt_pg *s = pgsql ? calloc(1, sizeof(*s)) : NULL;
        int r = s ? run(d, pgsql, n, types, values, &s->res) : -ENOMEM;
        free(pgsql);
        db_params_free(params, n);
        if (r < 0) {
                free(s);
                return r;
        }
        s->base.db = db;
        s->row = -1;
        *ret = &s->base;
        return 0;
}

static PGresult *pres(struct db_stmt *st)
{
        return ((struct stmt_pg *)st)->res;
}

static int pg_step(struct db_stmt *st)
{
        struct stmt_pg *s = (struct stmt_pg *)st;
        if (s->row + 1 >= PQntuples(s->res))
                return 0;
        s->row++;
        return 1;
}

static int64_t pg_changes(struct db_stmt *st)
{
        const char *n = PQcmdTuples(pres(st));
        return n && *n ? strtoll(n, NULL, 10) : 0;
}

static void pg_finalize(struct db_stmt *st)
{
        PQclear(pres(st));
        free(st);
}

static bool pg_col_null(struct db_stmt *st, int col)
{
        struct stmt_pg *s = (struct stmt_pg *)st;
        return s->row < 0 || col >= PQnfields(s->res) || PQgetisnull(s->res, s->row, col);
}

static const char *pg_col_text(struct db_stmt *st, int col)
{
        struct stmt_pg *s = (struct stmt_pg *)st;
        return pg_col_null(st, col) ? NULL : PQgetvalue(s->res, s->row, col);
}

static const struct db_ops pg_ops = {
        .backend = DB_PG,
        .close = pg_close,
        .errmsg = pg_errmsg,
        .exec = pg_exec,
        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .in_transaction = pg_in_transaction,
        .prepare = pg_prepare,
        .step = pg_step,
        .changes = pg_changes,
        .finalize = pg_finalize,
        .col_null = pg_col_null,
        .col_text = pg_col_text,
};
