/* A LISTEN-only PostgreSQL connection: PQconsumeInput/PQnotifies on demand, LISTEN issued again
 * after every reconnect. */
#include "store/db_listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LISTEN_BACKOFF_MIN_MS 200
#define LISTEN_BACKOFF_MAX_MS 5000

struct db_listener {
        PGconn *conn;
        const char *const *channels;
        size_t nchannels;
        unsigned backoff_ms;
        uint64_t next_try_ms;
        char errmsg[256];
};

static void quiet(void *arg, const char *message)
{
        (void)arg;
        (void)message;
}

/* LISTEN on every channel. 0 or -ENOTCONN (message kept). */
static int listen_all(struct db_listener *l)
{
        for (size_t i = 0; i < l->nchannels; i++) {
                char sql[96];
                snprintf(sql, sizeof(sql), "LISTEN %s", l->channels[i]);
                PGresult *res = PQexec(l->conn, sql);
                bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
                PQclear(res);
                if (!ok) {
                        snprintf(l->errmsg, sizeof(l->errmsg), "%s", PQerrorMessage(l->conn));
                        return -ENOTCONN;
                }
        }
        return 0;
}

int db_listener_open(const char *url, const char *const *channels, struct db_listener **ret, char *msg,
                     size_t msg_size)
{
        size_t n = 0;
        while (channels && channels[n])
                n++;
        if (!url || n == 0 || n > DB_LISTEN_MAX_CHANNELS || !ret) {
                snprintf(msg, msg_size, "bad listener arguments");
                return -EINVAL;
        }
        struct db_listener *l = calloc(1, sizeof(*l));
        if (!l) {
                snprintf(msg, msg_size, "out of memory");
                return -ENOMEM;
        }
        l->channels = channels;
        l->nchannels = n;
        l->backoff_ms = LISTEN_BACKOFF_MIN_MS;
        const char *const keys[] = { "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                     "tcp_user_timeout", "application_name", "dbname", NULL };
        const char *const vals[] = { "5", "10", "5", "3", "15000", "corrald-listen", url, NULL };
        l->conn = PQconnectdbParams(keys, vals, 1);
        if (!l->conn || PQstatus(l->conn) != CONNECTION_OK || listen_all(l) < 0) {
                snprintf(msg, msg_size, "cannot listen on PostgreSQL: %s",
                         l->conn ? PQerrorMessage(l->conn) : "out of memory");
                db_listener_close(l);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(l->conn, quiet, NULL);
        PQsetnonblocking(l->conn, 1);
        *ret = l;
        return 0;
}

struct db_listener *db_listener_close(struct db_listener *l)
{
        if (l) {
                PQfinish(l->conn);
                free(l);
        }
        return NULL;
}

int db_listener_fd(struct db_listener *l)
{
        return l && PQstatus(l->conn) == CONNECTION_OK ? PQsocket(l->conn) : -1;
}

/* The connection is down: re-make it when the backoff allows. 0 when up again. */
static int reconnect(struct db_listener *l)
{
        uint64_t now = util_mono_ms();
        if (now < l->next_try_ms)
                return -ENOTCONN;
        PQsetnonblocking(l->conn, 0);
        PQreset(l->conn);
        if (PQstatus(l->conn) == CONNECTION_OK && listen_all(l) == 0) {
                PQsetnonblocking(l->conn, 1);
                l->backoff_ms = LISTEN_BACKOFF_MIN_MS;
                l->next_try_ms = 0;
                return 0;
        }
        l->next_try_ms = now + l->backoff_ms;
        l->backoff_ms = l->backoff_ms * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS : l->backoff_ms * 2;
        return -ENOTCONN;
}

int db_listener_drain(struct db_listener *l, unsigned *mask)
{
        if (!l || !mask)
                return -EINVAL;
        *mask = 0;
        if (PQstatus(l->conn) != CONNECTION_OK || !PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK) {
                if (reconnect(l) < 0)
                        return -ENOTCONN;
                *mask = (1u << l->nchannels) - 1; /* what was sent while down is lost: look at everything */
        }
        int n = 0;
        PGnotify *nt;
        while ((nt = PQnotifies(l->conn))) {
                for (size_t i = 0; i < l->nchannels; i++)
                        if (!strcmp(nt->relname, l->channels[i]))
                                *mask |= 1u << i;
                n++;
                PQfreemem(nt);
        }
        return n;
}
