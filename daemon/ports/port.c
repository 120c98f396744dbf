/* Backend-independent port wrappers: cancellation, exact reads, URL dispatch. */
#include "ports/port.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Backends wake on cancel through wake_fd; the slice is only a safety net for backends without. */
#define PORT_SLICE_MS 1000

int port_alloc(const struct port_ops *ops, const char *url, unsigned baud, struct port **ret)
{
        struct port *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->url = strdup(url ? url : "");
        if (!p->url) {
                free(p);
                return -ENOMEM;
        }
        p->ops = ops;
        p->baud = baud;
        atomic_init(&p->cancel, false);
        p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (p->wake_fd < 0) {
                int e = -errno;
                free(p->url);
                free(p);
                return e;
        }
        *ret = p;
        return 0;
}

int port_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        if (!p || !p->ops || !p->ops->read)
                return -EINVAL;
        if (timeout_ms < 0)
                timeout_ms = 0;
        /* Fakes with a virtual clock see the whole timeout at once. */
        if (p->ops->sleep_ms)
                return atomic_load(&p->cancel) ? -ECANCELED : p->ops->read(p, buf, len, timeout_ms);
        uint64_t deadline = util_mono_ms() + (uint64_t)timeout_ms;
        for (;;) {
                if (atomic_load(&p->cancel))
                        return -ECANCELED;
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                int slice = left > PORT_SLICE_MS ? PORT_SLICE_MS : left;
                int r = p->ops->read(p, buf, len, slice);
                if (r != 0 || left <= PORT_SLICE_MS)
                        return r;
                /* Returned early with nothing: a cancel (checked above) or a port_wake(). */
                uint64_t v;
                if (!atomic_load(&p->cancel) && read(p->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                        return 0;
        }
}

int port_read_exact(struct port *p, void *buf, size_t len, int timeout_ms)
{
        size_t got = 0;
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        while (got < len) {
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                int r = port_read(p, (char *)buf + got, len - got, left);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ETIMEDOUT;
                got += (size_t)r;
        }
        return (int)got;
}

int port_write(struct port *p, const void *buf, size_t len, int timeout_ms)
{
        if (!p || !p->ops || !p->ops->write)
                return -EINVAL;
        if (atomic_load(&p->cancel))
                return -ECANCELED;
        if (len == 0)
                return 0;
        return p->ops->write(p, buf, len, timeout_ms);
}

int port_write_str(struct port *p, const char *s, int timeout_ms)
{
        return port_write(p, s, strlen(s), timeout_ms);
}

int port_set_baud(struct port *p, unsigned baud)
{
        if (!p || !p->ops)
                return -EINVAL;
        if (!p->ops->set_baud)
                return -ENOTSUP;
        int r = p->ops->set_baud(p, baud);
        if (r == 0)
                p->baud = baud;
        return r;
}

int port_set_lines(struct port *p, bool dtr, bool rts)
{
        if (!p || !p->ops)
                return -EINVAL;
        if (!p->ops->set_lines)
                return -ENOTSUP;
        int r = p->ops->set_lines(p, dtr, rts);
        if (r == 0) {
                p->dtr = dtr;
                p->rts = rts;
        }
        return r;
}

int port_reset_pulse(struct port *p, unsigned hold_ms, bool drop_input, enum port_pulse_step *ret_failed)
{
        int r = port_set_lines(p, false, true);
        if (r < 0) {
                if (ret_failed)
                        *ret_failed = PORT_PULSE_ASSERT;
                return r;
        }
        port_sleep_ms(p, hold_ms);
        if (drop_input)
                port_flush_input(p);
        r = port_set_lines(p, false, false);
        if (r < 0 && ret_failed)
                *ret_failed = PORT_PULSE_RELEASE;
        return r;
}

int port_flush_input(struct port *p)
{
        if (!p || !p->ops)
                return -EINVAL;
        return p->ops->flush_input ? p->ops->flush_input(p) : 0;
}

int port_set_break(struct port *p, bool on)
{
        if (!p || !p->ops)
                return -EINVAL;
        return p->ops->set_break ? p->ops->set_break(p, on) : -ENOTSUP;
}

void port_sleep_ms(struct port *p, unsigned ms)
{
        if (p && p->ops && p->ops->sleep_ms) {
                p->ops->sleep_ms(p, ms);
                return;
        }
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

void port_cancel(struct port *p, bool on)
{
        if (!p)
                return;
        atomic_store(&p->cancel, on);
        uint64_t v = 1;
        if (on) {
                ssize_t n = write(p->wake_fd, &v, sizeof(v)); /* makes wake_fd readable */
                (void)n;
        } else {
                ssize_t n = read(p->wake_fd, &v, sizeof(v)); /* drain: EAGAIN when already clear */
                (void)n;
        }
}

void port_wake(struct port *p)
{
        uint64_t v = 1;
        if (p && write(p->wake_fd, &v, sizeof(v)) < 0) {
                /* the counter cannot overflow in practice; nothing else can fail here */
        }
}

void port_use_wake_fd(struct port *p, int fd)
{
        if (!p || fd < 0)
                return;
        if (!p->wake_borrowed && p->wake_fd >= 0)
                close(p->wake_fd);
        p->wake_fd = fd;
        p->wake_borrowed = true;
}

static _Thread_local int poll_also_fd = -1;

void port_poll_also(int fd)
{
        poll_also_fd = fd;
}

int port_poll_in(int fd, int wake_fd, int timeout_ms)
{
        struct pollfd pfd[3] = { { .fd = fd, .events = POLLIN }, { .fd = wake_fd, .events = POLLIN },
                                 { .fd = poll_also_fd, .events = POLLIN } };
        /* The extra fd only joins waits that a wake fd may end anyway. */
        nfds_t n = wake_fd < 0 ? 1 : poll_also_fd < 0 ? 2 : 3;
        for (;;) {
                int r = poll(pfd, n, timeout_ms < 0 ? 0 : timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return 0;
                if (pfd[0].revents)
                        return pfd[0].revents;
                return 0; /* woken by a cancel */
        }
}

struct port *port_close(struct port *p)
{
        if (!p)
                return NULL;
        if (p->ops && p->ops->close)
                p->ops->close(p);
        if (p->wake_fd >= 0 && !p->wake_borrowed)
                close(p->wake_fd);
        free(p->url);
        free(p);
        return NULL;
}
