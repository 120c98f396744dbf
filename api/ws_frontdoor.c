/* Front door thread: epoll over the listen socket, undecided connections (edge-triggered, so
 * every new segment wakes it although peeked bytes stay queued) and the stop eventfd; classify
 * each connection by its peeked request head once complete; enforce the head deadline, the
 * per-address and table caps, and survive running out of file descriptors. */
#include "ws_frontdoor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "reply.h"
#include "util.h"

#define ACCEPT_BATCH 64 /* accepts per wake, so deadlines and heads are served in between */
#define SWEEP_MS 250    /* while connections are pending: per-address caps enforced this often */
#define GRACE_MS 1000   /* younger connections are never evicted by the per-address cap (bursts) */
#define REAP_MS 1000    /* conn_budget_reap (idle HTTP keep-alive connections) this often */
#define TAG_STOP UINT64_MAX
#define TAG_LISTEN (UINT64_MAX - 1)

struct pending {
        int fd;                         /* -1: free slot */
        struct sockaddr_storage addr;
        socklen_t addrlen;
        uint64_t accepted, deadline;
};

struct frontdoor {
        struct frontdoor_opts o;
        int stop_fd, ep, reserve_fd;
        pthread_t thread;
        struct pending pend[FRONTDOOR_PENDING_MAX];
        unsigned npend;
        uint64_t paused_until;          /* accepting paused (out of descriptors) until then */
        bool out_of_fds;                /* logged once per episode */
        uint64_t fd_refused;            /* refused in this episode */
        uint64_t next_sweep, next_reap;
};

static uint64_t now_ms(void)
{
        return util_mono_ms();
}

enum frontdoor_route frontdoor_classify(const char *buf, size_t len)
{
        static const char ws[] = "GET /ws/";
        bool done = false;
        for (size_t i = 0; i + 1 < len && !done; i++) /* "\r\n\r\n" or a bare "\n\n" */
                done = buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'));
        if (!done)
                return len >= FRONTDOOR_HEAD_MAX ? FRONTDOOR_TOO_LARGE : FRONTDOOR_MORE;
        return len >= sizeof(ws) - 1 && !memcmp(buf, ws, sizeof(ws) - 1) ? FRONTDOOR_WS : FRONTDOOR_HTTP;
}

static bool is_tchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Length of the line at buf[0..len) without its LF / CRLF; *next: where the next line starts. */
static size_t line_at(const char *buf, size_t len, size_t *next)
{
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        *next = nl ? n + 1 : len;
        return n && buf[n - 1] == '\r' ? n - 1 : n;
}

enum corral_err frontdoor_check_head(const char *buf, size_t len, char *msg, size_t msg_size)
{
        size_t next, n = line_at(buf, len, &next), i = 0;
        while (i < n && is_tchar((unsigned char)buf[i]))
                i++;
        if (i == 0 || i >= n || buf[i] != ' ') {
                snprintf(msg, msg_size, "The request line must be 'METHOD TARGET HTTP/1.1'.");
                return CORRAL_E_BAD_REQUEST;
        }
        size_t t = ++i;
        while (i < n && (unsigned char)buf[i] > ' ' && buf[i] != 0x7f)
                i++;
        if (i == t || i >= n || buf[i] != ' ') {
                snprintf(msg, msg_size, "The request target is missing or holds a space or control byte.");
                return CORRAL_E_BAD_REQUEST;
        }
        i++;
        if (n - i != 8 || memcmp(buf + i, "HTTP/", 5) || buf[i + 6] != '.' ||
            !(buf[i + 5] >= '0' && buf[i + 5] <= '9') || !(buf[i + 7] >= '0' && buf[i + 7] <= '9')) {
                snprintf(msg, msg_size, "The request line must end in an HTTP version (HTTP/1.1).");
                return CORRAL_E_BAD_REQUEST;
        }
        if (buf[i + 5] != '1' || (buf[i + 7] != '0' && buf[i + 7] != '1')) {
                snprintf(msg, msg_size, "corrald speaks HTTP/1.0 and HTTP/1.1, not %.8s.", buf + i);
                return CORRAL_E_HTTP_VERSION_NOT_SUPPORTED;
        }
        for (size_t at = next; at < len;) {
                n = line_at(buf + at, len - at, &next);
                if (n == 0)
                        return CORRAL_OK; /* the blank line: end of the head */
                const char *l = buf + at;
                size_t k = 0;
                while (k < n && is_tchar((unsigned char)l[k]))
                        k++;
                if (k == 0 || k >= n || l[k] != ':') {
                        snprintf(msg, msg_size, "Header line '%.*s' is not 'Name: value'.", (int)(n < 40 ? n : 40), l);
                        for (char *c = msg; *c; c++)
                                if ((unsigned char)*c < ' ' || *c == 0x7f)
                                        *c = '?';
                        return CORRAL_E_BAD_REQUEST;
                }
                at += next;
        }
        return CORRAL_OK;
}

void frontdoor_refuse(int fd, enum corral_err code, json_t *details, const char *fmt, ...)
{
        unsigned status = reply_code_status(code);
        char msg[512], head[256], junk[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_t *j = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", reply_code_name(code), "message", msg, "details",
                              details ? details : json_object());
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        const char *reason = status == 400 ? "Bad Request" : status == 408 ? "Request Timeout"
                           : status == 429 ? "Too Many Requests" : status == 431 ? "Request Header Fields Too Large"
                           : status == 505 ? "HTTP Version Not Supported" : "Service Unavailable";
        size_t bl = body ? strlen(body) : 0;
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
                          "Connection: close\r\n\r\n",
                          status, reason, bl + 1, status == 429 || status == 503 ? "Retry-After: 1\r\n" : "");
        /* Read what was sent (peeked, still queued) so close() does not turn into a reset. */
        while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
                ;
        struct iovec iov[3] = { { head, (size_t)hl }, { body ? body : (char *)"", bl }, { (char *)"\n", 1 } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
        (void)!sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        free(body);
        shutdown(fd, SHUT_WR);
        close(fd);
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return !memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr, 4);
        if (a->ss_family == AF_INET6)
                return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                               16);
        return true;
}

static void free_slot(struct frontdoor *f, unsigned i)
{
        epoll_ctl(f->ep, EPOLL_CTL_DEL, f->pend[i].fd, NULL);
        f->pend[i].fd = -1;
        f->npend--;
        conn_budget_set_pending(f->o.budget, f->npend);
}

static void close_pending(struct frontdoor *f, unsigned i)
{
        int fd = f->pend[i].fd;
        free_slot(f, i);
        close(fd);
}

static void evict(struct frontdoor *f, unsigned i, enum conn_refusal why, unsigned limit)
{
        int fd = f->pend[i].fd;
        free_slot(f, i);
        conn_budget_refused(f->o.budget, why);
        if (why == CONN_REFUSED_PENDING_ADDRESS)
                frontdoor_refuse(fd, CORRAL_E_TOO_MANY_PENDING, json_pack("{s:i}", "limit", (int)limit),
                                 "Closed: this address opened more than %u connections that have not sent a "
                                 "complete request (max_pending_per_address); the oldest goes.", limit);
        else
                frontdoor_refuse(fd, CORRAL_E_PENDING_FULL, json_pack("{s:i}", "limit", FRONTDOOR_PENDING_MAX),
                                 "Closed: corrald holds %d connections that have not sent a complete request; "
                                 "the oldest goes.", FRONTDOOR_PENDING_MAX);
}

static void hand_over(struct frontdoor *f, unsigned i, enum frontdoor_route route)
{
        struct pending p = f->pend[i];
        free_slot(f, i);
        if (route == FRONTDOOR_WS)
                f->o.to_ws(f->o.user, p.fd, (struct sockaddr *)&p.addr, p.addrlen);
        else
                f->o.to_http(f->o.user, p.fd, (struct sockaddr *)&p.addr, p.addrlen);
}

/* Peek at pending connection i (hup: the peer shut its side). */
static void peek_one(struct frontdoor *f, unsigned i, bool hup)
{
        char buf[FRONTDOOR_HEAD_MAX];
        struct pending *p = &f->pend[i];
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                close_pending(f, i); /* gone before saying anything */
                return;
        }
        if (n < 0)
                return;
        enum frontdoor_route r = frontdoor_classify(buf, (size_t)n);
        if (r == FRONTDOOR_MORE) {
                if (hup)
                        close_pending(f, i); /* it will never complete its head */
                return;
        }
        if (r == FRONTDOOR_TOO_LARGE) {
                int fd = p->fd;
                free_slot(f, i);
                conn_budget_refused(f->o.budget, CONN_REFUSED_HEAD_TOO_LARGE);
                frontdoor_refuse(fd, CORRAL_E_HEADER_TOO_LARGE, json_pack("{s:i}", "limit_bytes", FRONTDOOR_HEAD_MAX),
                                 "The request head is larger than %d bytes.", FRONTDOOR_HEAD_MAX);
                return;
        }
        char why[160];
        enum corral_err bad = frontdoor_check_head(buf, (size_t)n, why, sizeof(why));
        if (bad) {
                int fd = p->fd;
                free_slot(f, i);
                conn_budget_refused(f->o.budget, CONN_REFUSED_BAD_HEAD);
                frontdoor_refuse(fd, bad, NULL, "%s", why);
                return;
        }
        hand_over(f, i, r);
}

/* Out of descriptors: refuse one waiting connection through the reserve descriptor (so the
 * client hears why instead of hanging) and pause accepting; never spin on accept4. */
static void out_of_fds(struct frontdoor *f, int err)
{
        if (!f->out_of_fds)
                log_warning("front door: out of file descriptors (%s); refusing new connections and pausing "
                            "accepts for %d ms at a time until some close", strerror(err), FRONTDOOR_PAUSE_MS);
        f->out_of_fds = true;
        if (f->reserve_fd >= 0) {
                close(f->reserve_fd);
                f->reserve_fd = -1;
                int fd = accept4(f->o.listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0) {
                        f->fd_refused++;
                        conn_budget_refused(f->o.budget, CONN_REFUSED_FD_LIMIT);
                        frontdoor_refuse(fd, CORRAL_E_OUT_OF_FILE_DESCRIPTORS, NULL,
                                         "corrald has run out of file descriptors; try again shortly.");
                }
                f->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        conn_budget_accept_paused(f->o.budget);
        f->paused_until = now_ms() + FRONTDOOR_PAUSE_MS;
        struct epoll_event ev = { .events = 0, .data.u64 = TAG_LISTEN };
        epoll_ctl(f->ep, EPOLL_CTL_MOD, f->o.listen_fd, &ev);
}

static void admit(struct frontdoor *f, int fd, const struct sockaddr_storage *addr, socklen_t addrlen)
{
        struct frontdoor_limits lim;
        f->o.limits(f->o.user, &lim);
        uint64_t now = now_ms();
        if (f->npend == FRONTDOOR_PENDING_MAX) { /* full: the oldest of all goes */
                unsigned oldest = 0;
                for (unsigned i = 1; i < FRONTDOOR_PENDING_MAX; i++)
                        if (f->pend[i].accepted < f->pend[oldest].accepted)
                                oldest = i;
                evict(f, oldest, CONN_REFUSED_PENDING_FULL, 0);
        }
        unsigned i = 0;
        while (f->pend[i].fd >= 0)
                i++;
        struct pending *p = &f->pend[i];
        p->fd = fd;
        memcpy(&p->addr, addr, sizeof(*addr));
        p->addrlen = addrlen;
        p->accepted = now;
        p->deadline = now + lim.head_timeout_ms;
        /* Edge-triggered: every arriving segment wakes us although the peeked bytes stay queued;
         * bytes already there when added produce the first event. */
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = i };
        if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close(fd);
                p->fd = -1;
                return;
        }
        f->npend++;
        conn_budget_set_pending(f->o.budget, f->npend);
}

static void accept_some(struct frontdoor *f)
{
        for (int k = 0; k < ACCEPT_BATCH; k++) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof(ss);
                int fd = accept4(f->o.listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
                if (fd < 0) {
                        int e = errno;
                        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                                out_of_fds(f, e); /* paused now */
                                return;
                        }
                        if (e == EINTR || e == ECONNABORTED)
                                continue;
                        return; /* EAGAIN */
                }
                if (f->out_of_fds) {
                        log_notice("front door: accepting again (%llu connection(s) refused while out of file "
                                   "descriptors)", (unsigned long long)f->fd_refused);
                        f->out_of_fds = false;
                        f->fd_refused = 0;
                }
                admit(f, fd, &ss, sl);
        }
}

static int by_age_desc(const void *a, const void *b, void *arg)
{
        const struct pending *p = arg;
        uint64_t x = p[*(const unsigned *)a].accepted, y = p[*(const unsigned *)b].accepted;
        return x < y ? 1 : x > y ? -1 : 0;
}

/* Per-address cap: an address keeps its newest pending_per_addr undecided connections; older
 * ones past the grace period are evicted (bursts of real clients complete their heads first). */
static void sweep(struct frontdoor *f, uint64_t now)
{
        struct frontdoor_limits lim;
        f->o.limits(f->o.user, &lim);
        unsigned idx[FRONTDOOR_PENDING_MAX], n = 0;
        for (unsigned i = 0; i < FRONTDOOR_PENDING_MAX; i++)
                if (f->pend[i].fd >= 0)
                        idx[n++] = i;
        if (n <= lim.pending_per_addr)
                return;
        qsort_r(idx, n, sizeof(idx[0]), by_age_desc, f->pend); /* newest first */
        bool gone[FRONTDOOR_PENDING_MAX] = { false };
        for (unsigned k = 0; k < n; k++) {
                unsigned same = 0;
                for (unsigned j = 0; j < k; j++)
                        same += same_ip(&f->pend[idx[j]].addr, &f->pend[idx[k]].addr);
                gone[k] = same >= lim.pending_per_addr && f->pend[idx[k]].accepted + GRACE_MS <= now;
        }
        for (unsigned k = 0; k < n; k++)
                if (gone[k])
                        evict(f, idx[k], CONN_REFUSED_PENDING_ADDRESS, lim.pending_per_addr);
}

static void expire(struct frontdoor *f, uint64_t now)
{
        for (unsigned i = 0; i < FRONTDOOR_PENDING_MAX; i++) {
                if (f->pend[i].fd < 0 || f->pend[i].deadline > now)
                        continue;
                int fd = f->pend[i].fd;
                unsigned ms = (unsigned)(f->pend[i].deadline - f->pend[i].accepted);
                free_slot(f, i);
                conn_budget_refused(f->o.budget, CONN_REFUSED_HEAD_TIMEOUT);
                frontdoor_refuse(fd, CORRAL_E_REQUEST_TIMEOUT, json_pack("{s:i}", "head_timeout_ms", (int)ms),
                                 "The request head did not arrive within %u ms of connecting (head_timeout).", ms);
        }
}

static void *door_main(void *arg)
{
        struct frontdoor *f = arg;
        struct epoll_event evs[64];
        for (;;) {
                uint64_t now = now_ms(), next = UINT64_MAX;
                for (unsigned i = 0; i < FRONTDOOR_PENDING_MAX; i++)
                        if (f->pend[i].fd >= 0 && f->pend[i].deadline < next)
                                next = f->pend[i].deadline;
                if (f->paused_until && f->paused_until < next)
                        next = f->paused_until;
                if (f->npend && now + SWEEP_MS < next)
                        next = now + SWEEP_MS;
                if (f->next_reap < next)
                        next = f->next_reap;
                int timeout = next == UINT64_MAX ? -1 : next > now ? (int)(next - now) : 0;
                int n = epoll_wait(f->ep, evs, 64, timeout);
                if (n < 0 && errno != EINTR)
                        break;
                bool stop = false, listen_ready = false;
                for (int k = 0; k < n; k++) {
                        uint64_t tag = evs[k].data.u64;
                        if (tag == TAG_STOP)
                                stop = true;
                        else if (tag == TAG_LISTEN)
                                listen_ready = true;
                        else if (tag < FRONTDOOR_PENDING_MAX && f->pend[tag].fd >= 0)
                                peek_one(f, (unsigned)tag, evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
                }
                if (stop)
                        break;
                now = now_ms();
                expire(f, now);
                if (now >= f->next_sweep) {
                        sweep(f, now);
                        f->next_sweep = now + SWEEP_MS;
                }
                if (now >= f->next_reap) {
                        conn_budget_reap(f->o.budget, now);
                        f->next_reap = now + REAP_MS;
                }
                if (f->paused_until && f->paused_until <= now) {
                        f->paused_until = 0;
                        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
                        epoll_ctl(f->ep, EPOLL_CTL_MOD, f->o.listen_fd, &ev);
                        listen_ready = true;
                }
                if (listen_ready && !f->paused_until)
                        accept_some(f);
        }
        return NULL;
}

int frontdoor_start(const struct frontdoor_opts *o, struct frontdoor **ret)
{
        struct frontdoor *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->o = *o;
        for (unsigned i = 0; i < FRONTDOOR_PENDING_MAX; i++)
                f->pend[i].fd = -1;
        f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->ep = epoll_create1(EPOLL_CLOEXEC);
        f->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct epoll_event es = { .events = EPOLLIN, .data.u64 = TAG_STOP };
        struct epoll_event el = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
        int r = 0;
        if (f->stop_fd < 0 || f->ep < 0 || f->reserve_fd < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, f->stop_fd, &es) < 0 ||
            epoll_ctl(f->ep, EPOLL_CTL_ADD, o->listen_fd, &el) < 0)
                r = -errno;
        else
                r = -pthread_create(&f->thread, NULL, door_main, f);
        if (r < 0) {
                if (f->stop_fd >= 0)
                        close(f->stop_fd);
                if (f->ep >= 0)
                        close(f->ep);
                if (f->reserve_fd >= 0)
                        close(f->reserve_fd);
                free(f);
                return r;
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
        for (unsigned i = 0; i < FRONTDOOR_PENDING_MAX; i++)
                if (f->pend[i].fd >= 0)
                        close(f->pend[i].fd);
        close(f->o.listen_fd);
        close(f->stop_fd);
        close(f->ep);
        if (f->reserve_fd >= 0)
                close(f->reserve_fd);
        free(f);
        return NULL;
}
