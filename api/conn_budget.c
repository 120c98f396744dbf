/* Per-address connection counts (a small chained hash keyed by the IP, port ignored) and the
 * refusal counters behind /metrics. */
#include "conn_budget.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUCKETS 1024

struct entry {
        unsigned char ip[16];           /* IPv6, or IPv4 as ::ffff:a.b.c.d */
        unsigned n;                     /* connections of every kind */
        struct entry *next;
};

struct conn_watch {
        int fd;
        bool busy, shut;
        uint64_t deadline;
        struct conn_watch *prev, *next;
};

struct conn_budget {
        struct conn_watch *watched;
        pthread_mutex_t mu;
        struct entry *bucket[BUCKETS];
        unsigned open[CONN_KINDS], pending;
        uint64_t refused[CONN_REFUSALS], accept_pauses;
};

static void key_of(const struct sockaddr *addr, unsigned char ip[16])
{
        memset(ip, 0, 16);
        if (addr && addr->sa_family == AF_INET) {
                ip[10] = ip[11] = 0xff;
                memcpy(ip + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        } else if (addr && addr->sa_family == AF_INET6) {
                memcpy(ip, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        }
}

static unsigned hash_of(const unsigned char ip[16])
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (int i = 0; i < 16; i++)
                h = (h ^ ip[i]) * 16777619u;
        return h % BUCKETS;
}

struct conn_budget *conn_budget_new(void)
{
        struct conn_budget *b = calloc(1, sizeof(*b));
        if (b)
                pthread_mutex_init(&b->mu, NULL);
        return b;
}

struct conn_budget *conn_budget_free(struct conn_budget *b)
{
        if (!b)
                return NULL;
        for (unsigned i = 0; i < BUCKETS; i++)
                for (struct entry *e = b->bucket[i], *next; e; e = next) {
                        next = e->next;
                        free(e);
                }
        for (struct conn_watch *w = b->watched, *next; w; w = next) {
                next = w->next;
                free(w);
        }
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
}

int conn_budget_take(struct conn_budget *b, const struct sockaddr *addr, enum conn_kind kind, unsigned max_total,
                     unsigned max_addr)
{
        unsigned char ip[16];
        key_of(addr, ip);
        unsigned h = hash_of(ip);
        int r = 0;
        pthread_mutex_lock(&b->mu);
        struct entry *e = b->bucket[h];
        while (e && memcmp(e->ip, ip, 16))
                e = e->next;
        unsigned total = 0;
        for (int k = 0; k < CONN_KINDS; k++)
                total += b->open[k];
        if (max_total && total >= max_total) {
                r = -EBUSY;
        } else if (max_addr && e && e->n >= max_addr) {
                r = -EUSERS;
        } else if (!e) {
                e = calloc(1, sizeof(*e));
                if (!e) {
                        r = -ENOMEM;
                } else {
                        memcpy(e->ip, ip, 16);
                        e->next = b->bucket[h];
                        b->bucket[h] = e;
                }
        }
        if (r == 0) {
                e->n++;
                b->open[kind]++;
        }
        pthread_mutex_unlock(&b->mu);
        return r;
}

void conn_budget_put(struct conn_budget *b, const struct sockaddr *addr, enum conn_kind kind)
{
        unsigned char ip[16];
        key_of(addr, ip);
        unsigned h = hash_of(ip);
        pthread_mutex_lock(&b->mu);
        struct entry **pe = &b->bucket[h];
        while (*pe && memcmp((*pe)->ip, ip, 16))
                pe = &(*pe)->next;
        if (*pe && (*pe)->n) {
                if (b->open[kind])
                        b->open[kind]--;
                if (--(*pe)->n == 0) {
                        struct entry *e = *pe;
                        *pe = e->next;
                        free(e);
                }
        }
        pthread_mutex_unlock(&b->mu);
}

void conn_budget_refused(struct conn_budget *b, enum conn_refusal why)
{
        pthread_mutex_lock(&b->mu);
        b->refused[why]++;
        pthread_mutex_unlock(&b->mu);
}

void conn_budget_accept_paused(struct conn_budget *b)
{
        pthread_mutex_lock(&b->mu);
        b->accept_pauses++;
        pthread_mutex_unlock(&b->mu);
}

void conn_budget_set_pending(struct conn_budget *b, unsigned n)
{
        pthread_mutex_lock(&b->mu);
        b->pending = n;
        pthread_mutex_unlock(&b->mu);
}

void conn_budget_stats(struct conn_budget *b, struct conn_budget_stats *st)
{
        pthread_mutex_lock(&b->mu);
        memcpy(st->open, b->open, sizeof(st->open));
        st->pending = b->pending;
        memcpy(st->refused, b->refused, sizeof(st->refused));
        st->accept_pauses = b->accept_pauses;
        pthread_mutex_unlock(&b->mu);
}

const char *conn_refusal_name(enum conn_refusal why)
{
        static const char *const names[CONN_REFUSALS] = {
                [CONN_REFUSED_MAX_CONNECTIONS] = "max_connections",
                [CONN_REFUSED_PER_ADDRESS] = "max_connections_per_address",
                [CONN_REFUSED_PENDING_ADDRESS] = "max_pending_per_address",
                [CONN_REFUSED_PENDING_FULL] = "pending_full",
                [CONN_REFUSED_HEAD_TIMEOUT] = "head_timeout",
                [CONN_REFUSED_HEAD_TOO_LARGE] = "head_too_large",
                [CONN_REFUSED_BAD_HEAD] = "bad_head",
                [CONN_REFUSED_FD_LIMIT] = "fd_limit",
                [CONN_REFUSED_IDLE_TIMEOUT] = "idle_timeout",
        };
        return (unsigned)why < CONN_REFUSALS ? names[why] : "unknown";
}

struct conn_watch *conn_budget_watch(struct conn_budget *b, int fd, uint64_t deadline_ms)
{
        struct conn_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;
        w->fd = fd;
        w->deadline = deadline_ms;
        pthread_mutex_lock(&b->mu);
        w->next = b->watched;
        if (w->next)
                w->next->prev = w;
        b->watched = w;
        pthread_mutex_unlock(&b->mu);
        return w;
}

void conn_budget_busy(struct conn_budget *b, struct conn_watch *w, bool busy, uint64_t deadline_ms)
{
        if (!w)
                return;
        pthread_mutex_lock(&b->mu);
        w->busy = busy;
        w->deadline = deadline_ms;
        pthread_mutex_unlock(&b->mu);
}

void conn_budget_unwatch(struct conn_budget *b, struct conn_watch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&b->mu);
        if (w->prev)
                w->prev->next = w->next;
        else
                b->watched = w->next;
        if (w->next)
                w->next->prev = w->prev;
        pthread_mutex_unlock(&b->mu);
        free(w);
}

void conn_budget_reap(struct conn_budget *b, uint64_t now_ms)
{
        pthread_mutex_lock(&b->mu); /* held: MHD unwatches (here) before it closes the fd */
        for (struct conn_watch *w = b->watched; w; w = w->next)
                if (!w->busy && !w->shut && w->deadline <= now_ms) {
                        shutdown(w->fd, SHUT_RDWR);
                        w->shut = true;
                        b->refused[CONN_REFUSED_IDLE_TIMEOUT]++;
                }
        pthread_mutex_unlock(&b->mu);
}
