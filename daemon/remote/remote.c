/* Remote-port manager: one listening socket per exposed lease, a listener thread that accepts
 * (one connection per lease, from the allowed address) and hands each connection to the board's
 * worker, and closes everything when the lease ends or the board goes. See remote.h. */
#include "remote/remote.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jobs/worker.h"
#include "log.h"
#include "registry.h"
#include "remote/remote_session.h"
#include "reservations.h"
#include "util.h"

#define TICK_MS 100
#define STOP_WAIT_MS 3000

struct conn;

struct exposure {
        bool used;
        bool closing;            /* the lease ended: no listener; freed when the session is done */
        bool fixed;              /* a static port from the config (remote_port; resv 0), no lease */
        char board[72];
        int64_t resv;
        char owner[RESV_OWNER_MAX + 1];
        char allow[64];          /* only this peer address may connect ("" = any) */
        bool esp;
        int lfd;
        unsigned port;
        char url[200];
        struct conn *conn;       /* the connection being served (or waiting for the worker) */
};

struct conn {
        struct remote *rm;
        size_t idx;
        bool dropped;            /* a static port's session ended because a lease took the board */
        struct remote_session s;
};

struct remote {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct registry *reg;
        char bind[64], host[128];
        unsigned pmin, pmax;
        bool same_address;
        struct exposure ex[REMOTE_MAX_EXPOSED];
        int wake_fd;
        pthread_t th;
        bool th_running, stop;
};

static void wake(struct remote *rm)
{
        uint64_t v = 1;
        if (write(rm->wake_fd, &v, sizeof(v)) < 0) {
                /* cannot overflow in practice: the thread is awake anyway */
        }
}

/* Caller holds mu. Close the listener and the connection; free the slot when no session is on it. */
static void close_locked(struct exposure *e, const char *why)
{
        if (!e->closing && e->fixed)
                log_info("static remote port %u of board %s closed: %s", e->port, e->board, why);
        else if (!e->closing)
                log_info("remote port %u of board %s (reservation %lld) closed: %s", e->port, e->board,
                         (long long)e->resv, why);
        e->closing = true;
        if (e->lfd >= 0) {
                close(e->lfd);
                e->lfd = -1;
        }
        if (e->conn)
                shutdown(e->conn->s.fd, SHUT_RDWR); /* the session sees the end and hands the port back */
        else
                e->used = false;
}

static int conn_run(void *arg, struct port *p, struct console *c)
{
        struct conn *k = arg;
        log_notice("board %s: remote RFC 2217 session of %s from %s started", k->s.board, k->s.owner, k->s.peer);
        return remote_session_run(&k->s, p, c);
}

static void conn_done(void *arg, bool ran, const char *why)
{
        struct conn *k = arg;
        struct remote *rm = k->rm;
        if (ran)
                log_notice("board %s: remote RFC 2217 session of %s from %s ended (%llu bytes to the board, %llu from "
                           "it, %u loader resets)", k->s.board, k->s.owner, k->s.peer,
                           (unsigned long long)atomic_load(&k->s.to_board),
                           (unsigned long long)atomic_load(&k->s.from_board), atomic_load(&k->s.loader_resets));
        else
                log_notice("board %s: remote RFC 2217 connection from %s not served: %s", k->s.board, k->s.peer,
                           why ? why : "?");
        pthread_mutex_lock(&rm->mu);
        struct exposure *e = &rm->ex[k->idx];
        close(k->s.fd);
        e->conn = NULL;
        if (e->closing)
                e->used = false;
        pthread_cond_broadcast(&rm->cv);
        pthread_mutex_unlock(&rm->mu);
        free(k);
}

static void peer_text(const struct sockaddr_storage *sa, socklen_t len, char *out, size_t size)
{
        if (getnameinfo((const struct sockaddr *)sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
                snprintf(out, size, "?");
        /* an IPv4 client on a dual-stack socket */
        if (!strncmp(out, "::ffff:", 7))
                memmove(out, out + 7, strlen(out + 7) + 1);
}

static bool board_is_esp(struct registry *reg, const char *board)
{
        json_t *b = NULL;
        if (registry_board_json(reg, board, &b) < 0)
                return false;
        const char *family = json_string_value(json_object_get(b, "family"));
        bool esp = family && !strncmp(family, "esp", 3);
        json_decref(b);
        return esp;
}

/* The lease holding the board of static slot i, 0 when free or not a static slot. Asked without
 * our lock (the reservations lock is taken inside). */
static int64_t static_board_lease(struct remote *rm, size_t i, char *board, size_t board_size)
{
        pthread_mutex_lock(&rm->mu);
        bool fixed = rm->ex[i].used && !rm->ex[i].closing && rm->ex[i].fixed;
        snprintf(board, board_size, "%s", rm->ex[i].board);
        pthread_mutex_unlock(&rm->mu);
        return fixed ? reservations_board_lease(registry_reservations(rm->reg), board, util_wall_ms()) : 0;
}

static void on_accept(struct remote *rm, size_t i, int cfd, const char *peer)
{
        char leased_board[72], why[160];
        int64_t leased = static_board_lease(rm, i, leased_board, sizeof(leased_board));
        pthread_mutex_lock(&rm->mu);
        struct exposure *e = &rm->ex[i];
        const char *refuse = NULL;
        if (!e->used || e->closing)
                refuse = "the lease has ended";
        else if (e->conn)
                refuse = "another connection holds it";
        else if (e->allow[0] && strcmp(peer, e->allow))
                refuse = "only the address that asked for the lease may connect";
        else if (e->fixed && leased && !strcmp(e->board, leased_board)) {
                snprintf(why, sizeof(why), "the board is leased (reservation %lld) until that lease ends",
                         (long long)leased);
                refuse = why;
        }
        if (refuse) {
                log_notice("remote port %u of board %s: connection from %s refused: %s", e->port, e->board, peer,
                           refuse);
                pthread_mutex_unlock(&rm->mu);
                close(cfd);
                return;
        }
        struct conn *k = calloc(1, sizeof(*k));
        if (!k) {
                pthread_mutex_unlock(&rm->mu);
                close(cfd);
                return;
        }
        k->rm = rm;
        k->idx = i;
        k->s.fd = cfd;
        k->s.esp = e->esp;
        snprintf(k->s.board, sizeof(k->s.board), "%s", e->board);
        snprintf(k->s.owner, sizeof(k->s.owner), "%s", e->owner);
        snprintf(k->s.peer, sizeof(k->s.peer), "%s", peer);
        k->s.since_ms = util_wall_ms();
        e->conn = k;
        char board[72];
        snprintf(board, sizeof(board), "%s", e->board);
        bool fixed = e->fixed;
        pthread_mutex_unlock(&rm->mu);
        if (fixed && !k->s.esp) /* the config's family hint may be empty: ask the registry */
                k->s.esp = board_is_esp(rm->reg, board);
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct worker_lend l = { .run = conn_run, .done = conn_done, .arg = k };
        int r = registry_lend(rm->reg, board, &l);
        if (r < 0)
                conn_done(k, false, r == -ENOENT || r == -ENODEV ? "the board is not present" : strerror(-r));
}

/* A lease took the board of a static port: end the session on it (the port itself stays, refusing
 * connections until the lease ends). */
static void drop_static_sessions(struct remote *rm)
{
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++) {
                pthread_mutex_lock(&rm->mu);
                bool busy = rm->ex[i].used && rm->ex[i].fixed && rm->ex[i].conn && !rm->ex[i].conn->dropped;
                pthread_mutex_unlock(&rm->mu);
                if (!busy)
                        continue;
                char board[72];
                int64_t leased = static_board_lease(rm, i, board, sizeof(board));
                if (!leased)
                        continue;
                pthread_mutex_lock(&rm->mu);
                struct exposure *e = &rm->ex[i];
                if (e->used && e->fixed && e->conn && !e->conn->dropped && !strcmp(e->board, board)) {
                        log_notice("static remote port %u of board %s: session of %s dropped: the board is leased "
                                   "(reservation %lld)", e->port, e->board, e->conn->s.peer, (long long)leased);
                        e->conn->dropped = true;
                        shutdown(e->conn->s.fd, SHUT_RDWR); /* the session sees the end and hands the port back */
                }
                pthread_mutex_unlock(&rm->mu);
        }
}

/* Close the ports of leases that ended and of boards that went away. */
static void check_leases(struct remote *rm)
{
        struct { char board[72]; int64_t resv; } live[REMOTE_MAX_EXPOSED];
        size_t n = 0;
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                if (rm->ex[i].used && !rm->ex[i].closing && !rm->ex[i].fixed) {
                        snprintf(live[n].board, sizeof(live[n].board), "%s", rm->ex[i].board);
                        live[n++].resv = rm->ex[i].resv;
                }
        pthread_mutex_unlock(&rm->mu);
        int64_t now = util_wall_ms();
        struct reservations *rs = registry_reservations(rm->reg);
        for (size_t j = 0; j < n; j++) {
                const char *why = NULL;
                if (reservations_board_lease(rs, live[j].board, now) != live[j].resv)
                        why = "the lease ended";
                else if (!registry_board_present(rm->reg, live[j].board))
                        why = "the board is gone";
                if (!why)
                        continue;
                pthread_mutex_lock(&rm->mu);
                for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                        if (rm->ex[i].used && !rm->ex[i].closing && !rm->ex[i].fixed && rm->ex[i].resv == live[j].resv &&
                            !strcmp(rm->ex[i].board, live[j].board))
                                close_locked(&rm->ex[i], why);
                pthread_mutex_unlock(&rm->mu);
        }
}

static void *listener_main(void *arg)
{
        struct remote *rm = arg;
        struct pollfd pfd[REMOTE_MAX_EXPOSED + 1];
        size_t idx[REMOTE_MAX_EXPOSED + 1];
        for (;;) {
                nfds_t n = 0;
                pfd[n++] = (struct pollfd){ .fd = rm->wake_fd, .events = POLLIN };
                pthread_mutex_lock(&rm->mu);
                if (rm->stop) {
                        pthread_mutex_unlock(&rm->mu);
                        break;
                }
                for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                        if (rm->ex[i].used && rm->ex[i].lfd >= 0) {
                                idx[n] = i;
                                pfd[n++] = (struct pollfd){ .fd = rm->ex[i].lfd, .events = POLLIN };
                        }
                pthread_mutex_unlock(&rm->mu);
                int pr = poll(pfd, n, TICK_MS);
                if (pr > 0 && pfd[0].revents) {
                        uint64_t v;
                        if (read(rm->wake_fd, &v, sizeof(v)) < 0) {
                                /* EAGAIN: already drained */
                        }
                }
                for (nfds_t j = 1; pr > 0 && j < n; j++) {
                        if (!(pfd[j].revents & POLLIN))
                                continue;
                        struct sockaddr_storage sa;
                        socklen_t len = sizeof(sa);
                        /* The listener may have been closed meanwhile (lease ended): accept then
                         * fails with EBADF or takes nothing; on_accept re-checks under the lock. */
                        int cfd = accept4(pfd[j].fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (cfd < 0)
                                continue;
                        char peer[64];
                        peer_text(&sa, len, peer, sizeof(peer));
                        on_accept(rm, idx[j], cfd, peer);
                }
                check_leases(rm);
                drop_static_sessions(rm);
        }
        return NULL;
}

int remote_new(struct registry *reg, const struct config *cfg, struct remote **ret)
{
        struct remote *rm = calloc(1, sizeof(*rm));
        if (!rm)
                return -ENOMEM;
        pthread_mutex_init(&rm->mu, NULL);
        util_cond_init_mono(&rm->cv);
        rm->reg = reg;
        snprintf(rm->bind, sizeof(rm->bind), "%s", cfg && cfg->remote_bind[0] ? cfg->remote_bind : "127.0.0.1");
        snprintf(rm->host, sizeof(rm->host), "%s", cfg && cfg->remote_host[0] ? cfg->remote_host : rm->bind);
        rm->pmin = cfg ? cfg->remote_port_min : 0;
        rm->pmax = cfg ? cfg->remote_port_max : 0;
        rm->same_address = cfg ? cfg->remote_same_address : true;
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                rm->ex[i].lfd = -1;
        rm->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (rm->wake_fd < 0) {
                int e = -errno;
                remote_free(rm);
                return e;
        }
        int r = pthread_create(&rm->th, NULL, listener_main, rm);
        if (r) {
                remote_free(rm);
                return -r;
        }
        rm->th_running = true;
        *ret = rm;
        return 0;
}

/* A listening socket on bind:port (0: any). */
static int listen_on(const char *bind_host, unsigned port, int *ret_fd, unsigned *ret_port)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        char svc[8];
        snprintf(svc, sizeof(svc), "%u", port);
        int g = getaddrinfo(bind_host, svc, &hints, &ai);
        if (g != 0)
                return -EADDRNOTAVAIL;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return -errno;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
                int e = -errno;
                close(fd);
                freeaddrinfo(ai);
                return e;
        }
        freeaddrinfo(ai);
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &len);
        *ret_port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&sa)->sin_port);
        *ret_fd = fd;
        return 0;
}

int remote_expose(struct remote *rm, const char *board_id, int64_t resv, const char *owner, const char *peer,
                  const char *family, char *url, size_t url_size, char *msg, size_t msg_size)
{
        pthread_mutex_lock(&rm->mu);
        struct exposure *e = NULL;
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++) {
                if (rm->ex[i].used && !rm->ex[i].closing && !rm->ex[i].fixed && rm->ex[i].resv == resv) {
                        snprintf(url, url_size, "%s", rm->ex[i].url);
                        pthread_mutex_unlock(&rm->mu);
                        return -EEXIST;
                }
                if (!e && !rm->ex[i].used)
                        e = &rm->ex[i];
        }
        if (!e) {
                pthread_mutex_unlock(&rm->mu);
                snprintf(msg, msg_size, "corrald already serves %d remote ports; release a lease first.",
                         REMOTE_MAX_EXPOSED);
                return -ENFILE;
        }
        int fd = -1, r = -EADDRINUSE;
        unsigned port = 0;
        if (rm->pmin == 0) {
                r = listen_on(rm->bind, 0, &fd, &port);
        } else {
                for (unsigned p = rm->pmin; p <= rm->pmax && r < 0; p++)
                        r = listen_on(rm->bind, p, &fd, &port);
        }
        if (r < 0) {
                pthread_mutex_unlock(&rm->mu);
                if (rm->pmin)
                        snprintf(msg, msg_size, "No free port in remote_ports %u-%u on %s (%s).", rm->pmin, rm->pmax,
                                 rm->bind, strerror(-r));
                else
                        snprintf(msg, msg_size, "Cannot listen on %s: %s.", rm->bind, strerror(-r));
                return -EADDRINUSE;
        }
        memset(e, 0, sizeof(*e));
        e->used = true;
        e->lfd = fd;
        e->port = port;
        e->resv = resv;
        e->esp = family && !strncmp(family, "esp", 3);
        snprintf(e->board, sizeof(e->board), "%s", board_id);
        snprintf(e->owner, sizeof(e->owner), "%s", owner ? owner : "?");
        snprintf(e->allow, sizeof(e->allow), "%s", rm->same_address && peer ? peer : "");
        bool v6 = strchr(rm->host, ':') != NULL;
        snprintf(e->url, sizeof(e->url), "rfc2217://%s%s%s:%u", v6 ? "[" : "", rm->host, v6 ? "]" : "", port);
        snprintf(url, url_size, "%s", e->url);
        log_notice("board %s: remote port %s for reservation %lld (%s)%s%s", board_id, e->url, (long long)resv,
                   e->owner, e->allow[0] ? ", only from " : "", e->allow);
        pthread_mutex_unlock(&rm->mu);
        wake(rm);
        return 0;
}

int remote_unexpose(struct remote *rm, int64_t resv)
{
        int r = -ENOENT;
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                if (rm->ex[i].used && !rm->ex[i].closing && !rm->ex[i].fixed && rm->ex[i].resv == resv) {
                        close_locked(&rm->ex[i], "the lease holder closed it");
                        r = 0;
                }
        pthread_mutex_unlock(&rm->mu);
        wake(rm);
        return r;
}

static const struct config_port *static_port(const struct config *cfg, const char *board)
{
        for (size_t i = 0; cfg && !cfg->ntokens && i < cfg->nports; i++)
                if (cfg->ports[i].remote_port && !strcmp(cfg->ports[i].name, board))
                        return &cfg->ports[i];
        return NULL;
}

/* Caller holds mu. Open the static port of p in a free slot (errors are logged). */
static void open_static_locked(struct remote *rm, const struct config_port *p)
{
        struct exposure *e = NULL;
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED && !e; i++)
                if (!rm->ex[i].used)
                        e = &rm->ex[i];
        int fd = -1, r = e ? listen_on(rm->bind, p->remote_port, &fd, &(unsigned){ 0 }) : -ENFILE;
        if (r < 0) {
                log_error("board %s: cannot open its static remote port %s:%u: %s", p->name, rm->bind, p->remote_port,
                          strerror(-r));
                return;
        }
        memset(e, 0, sizeof(*e));
        e->used = e->fixed = true;
        e->lfd = fd;
        e->port = p->remote_port;
        e->esp = !strncmp(p->family, "esp", 3);
        snprintf(e->board, sizeof(e->board), "%s", p->name);
        snprintf(e->owner, sizeof(e->owner), "static");
        bool v6 = strchr(rm->host, ':') != NULL;
        snprintf(e->url, sizeof(e->url), "rfc2217://%s%s%s:%u", v6 ? "[" : "", rm->host, v6 ? "]" : "", e->port);
        log_notice("board %s: static remote port %s (no tokens: anyone who reaches it may use the board)", p->name,
                   e->url);
}

void remote_sync_static(struct remote *rm, const struct config *cfg)
{
        if (!rm)
                return;
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++) {
                struct exposure *e = &rm->ex[i];
                if (!e->used || e->closing || !e->fixed)
                        continue;
                const struct config_port *p = static_port(cfg, e->board);
                if (!p || p->remote_port != e->port)
                        close_locked(e, "no longer configured");
        }
        for (size_t i = 0; cfg && !cfg->ntokens && i < cfg->nports; i++) {
                const struct config_port *p = &cfg->ports[i];
                bool open = false;
                for (size_t j = 0; j < REMOTE_MAX_EXPOSED && !open; j++)
                        open = rm->ex[j].used && !rm->ex[j].closing && rm->ex[j].fixed && !strcmp(rm->ex[j].board, p->name);
                if (p->remote_port && !open)
                        open_static_locked(rm, p);
        }
        pthread_mutex_unlock(&rm->mu);
        wake(rm);
}

json_t *remote_board_json(struct remote *rm, const char *board_id)
{
        json_t *j = NULL;
        char since[40];
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED && !j; i++) {
                struct exposure *e = &rm->ex[i];
                if (!e->used || e->closing || strcmp(e->board, board_id))
                        continue;
                json_t *sess = json_null();
                if (e->conn) {
                        struct remote_session *s = &e->conn->s;
                        util_iso_from_ms(s->since_ms, since, sizeof(since));
                        sess = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "owner", s->owner, "peer", s->peer,
                                         "since", since, "bytes_to_board", (json_int_t)atomic_load(&s->to_board),
                                         "bytes_from_board", (json_int_t)atomic_load(&s->from_board), "baud",
                                         (int)atomic_load(&s->baud), "loader_resets",
                                         (int)atomic_load(&s->loader_resets), "hard_resets",
                                         (int)atomic_load(&s->hard_resets));
                }
                j = json_pack("{s:s, s:o, s:s, s:b, s:o}", "rfc2217", e->url, "reservation",
                              e->fixed ? json_null() : json_integer(e->resv), "owner", e->owner, "static", e->fixed,
                              "session", sess);
        }
        pthread_mutex_unlock(&rm->mu);
        return j;
}

void remote_board_decorate(void *rm, const char *board_id, json_t *board)
{
        json_t *j = remote_board_json(rm, board_id);
        if (j)
                json_object_set_new(board, "remote", j);
}

void remote_stop(struct remote *rm)
{
        if (!rm)
                return;
        pthread_mutex_lock(&rm->mu);
        rm->stop = true;
        pthread_mutex_unlock(&rm->mu);
        wake(rm);
        if (rm->th_running) {
                pthread_join(rm->th, NULL);
                rm->th_running = false;
        }
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                if (rm->ex[i].used)
                        close_locked(&rm->ex[i], "corrald is stopping");
        struct timespec ts = util_deadline_ts(STOP_WAIT_MS);
        for (;;) {
                bool busy = false;
                for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                        busy = busy || rm->ex[i].conn != NULL;
                if (!busy || pthread_cond_timedwait(&rm->cv, &rm->mu, &ts) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&rm->mu);
}

struct remote *remote_free(struct remote *rm)
{
        if (!rm)
                return NULL;
        remote_stop(rm);
        for (size_t i = 0; i < REMOTE_MAX_EXPOSED; i++)
                if (rm->ex[i].lfd >= 0)
                        close(rm->ex[i].lfd);
        if (rm->wake_fd >= 0)
                close(rm->wake_fd);
        pthread_mutex_destroy(&rm->mu);
        pthread_cond_destroy(&rm->cv);
        free(rm);
        return NULL;
}
