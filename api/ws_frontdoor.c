/* Front door thread: poll(listen socket, undecided connections, stop eventfd); classify each
 * connection by its peeked request line; hand it over. Connections whose first bytes arrive in
 * pieces are re-peeked every few milliseconds (peeked data keeps poll() readable). */
#include "ws_frontdoor.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define RECHECK_MS 5

struct pending {
        int fd;
        struct sockaddr_storage addr;
        socklen_t addrlen;
        uint64_t deadline, recheck;
};

struct frontdoor {
        struct frontdoor_opts o;
        int stop_fd;
        pthread_t thread;
        struct pending pend[FRONTDOOR_PENDING_MAX];
        size_t npend;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum frontdoor_route frontdoor_classify(const char *buf, size_t len)
{
        static const char ws[] = "GET /ws/";
        size_t k = len < sizeof(ws) - 1 ? len : sizeof(ws) - 1;
        if (memcmp(buf, ws, k))
                return FRONTDOOR_HTTP;
        if (k < sizeof(ws) - 1)
                return len >= FRONTDOOR_PEEK_MAX ? FRONTDOOR_HTTP : FRONTDOOR_MORE;
        /* "GET /ws/..." : wait for the whole line so a cut-off line still goes somewhere sane. */
        if (!memchr(buf, '\n', len))
                return len >= FRONTDOOR_PEEK_MAX ? FRONTDOOR_HTTP : FRONTDOOR_MORE;
        return FRONTDOOR_WS;
}

static void drop_pending(struct frontdoor *f, size_t i)
{
        f->pend[i] = f->pend[--f->npend];
}

static void hand_over(struct frontdoor *f, size_t i, enum frontdoor_route route)
{
        struct pending p = f->pend[i];
        drop_pending(f, i);
        if (route == FRONTDOOR_WS)
                f->o.to_ws(f->o.user, p.fd, (struct sockaddr *)&p.addr, p.addrlen);
        else
                f->o.to_http(f->o.user, p.fd, (struct sockaddr *)&p.addr, p.addrlen);
}

static void accept_all(struct frontdoor *f)
{
        while (f->npend < FRONTDOOR_PENDING_MAX) {
                struct pending *p = &f->pend[f->npend];
                p->addrlen = sizeof(p->addr);
                int fd = accept4(f->o.listen_fd, (struct sockaddr *)&p->addr, &p->addrlen, SOCK_CLOEXEC);
                if (fd < 0)
                        return; /* EAGAIN, or a connection that died before we got it */
                p->fd = fd;
                p->deadline = now_ms() + FRONTDOOR_PEEK_TIMEOUT_MS;
                p->recheck = 0;
                f->npend++;
        }
}

/* Peek at pending connection i; returns true when it was handed over or closed. */
static bool peek_one(struct frontdoor *f, size_t i)
{
        char buf[FRONTDOOR_PEEK_MAX];
        struct pending *p = &f->pend[i];
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                close(p->fd); /* gone before saying anything */
                drop_pending(f, i);
                return true;
        }
        if (n < 0)
                return false;
        enum frontdoor_route r = frontdoor_classify(buf, (size_t)n);
        if (r == FRONTDOOR_MORE) {
                p->recheck = now_ms() + RECHECK_MS; /* the peeked bytes keep poll() readable */
                return false;
        }
        hand_over(f, i, r);
        return true;
}

static void *door_main(void *arg)
{
        struct frontdoor *f = arg;
        struct pollfd pfd[2 + FRONTDOOR_PENDING_MAX];
        size_t map[FRONTDOOR_PENDING_MAX];
        for (;;) {
                uint64_t now = now_ms();
                int timeout = -1;
                nfds_t n = 0;
                pfd[n++] = (struct pollfd){ .fd = f->stop_fd, .events = POLLIN };
                if (f->npend < FRONTDOOR_PENDING_MAX)
                        pfd[n++] = (struct pollfd){ .fd = f->o.listen_fd, .events = POLLIN };
                nfds_t first = n;
                for (size_t i = 0; i < f->npend; i++) {
                        uint64_t next = f->pend[i].deadline;
                        if (f->pend[i].recheck > now) {
                                if (f->pend[i].recheck < next)
                                        next = f->pend[i].recheck;
                        } else {
                                map[n - first] = i;
                                pfd[n++] = (struct pollfd){ .fd = f->pend[i].fd, .events = POLLIN };
                        }
                        int left = next > now ? (int)(next - now) : 0;
                        if (timeout < 0 || left < timeout)
                                timeout = left;
                }
                int r = poll(pfd, n, timeout);
                if (r < 0 && errno != EINTR)
                        break;
                if (pfd[0].revents)
                        break;
                /* Pending connections first, highest index first so removals keep the map valid. */
                for (nfds_t k = n; k > first; k--)
                        if (pfd[k - 1].revents)
                                peek_one(f, map[k - 1 - first]);
                now = now_ms();
                for (size_t i = f->npend; i > 0; i--)
                        if (f->pend[i - 1].deadline <= now)
                                hand_over(f, i - 1, FRONTDOOR_HTTP); /* silent: HTTP times it out */
                if (first == 2 && pfd[1].revents)
                        accept_all(f);
        }
        return NULL;
}

int frontdoor_start(const struct frontdoor_opts *o, struct frontdoor **ret)
{
        struct frontdoor *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->o = *o;
        f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (f->stop_fd < 0) {
                int e = errno;
                free(f);
                return -e;
        }
        int r = pthread_create(&f->thread, NULL, door_main, f);
        if (r) {
                close(f->stop_fd);
                free(f);
                return -r;
        }
        *ret = f;
        return 0;
}

struct frontdoor *frontdoor_stop(struct frontdoor *f)
{
        if (!f)
                return NULL;
        uint64_t one = 1;
        if (write(f->stop_fd, &one, sizeof(one)) < 0) {
                /* an eventfd write only fails on overflow, which a single write cannot cause */
        }
        pthread_join(f->thread, NULL);
        for (size_t i = 0; i < f->npend; i++)
                close(f->pend[i].fd);
        close(f->o.listen_fd);
        close(f->stop_fd);
        free(f);
        return NULL;
}
