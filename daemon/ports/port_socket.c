/* The "socket" backend: socket://host:port, a raw TCP byte stream (QEMU chardev, ser2net raw).
 * No modem lines; the baud rate is only recorded (the far end decides its own). */
#include "ports/port.h"
#include "ports/port_backends.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct sock {
        int fd;
        bool gone;
};

static int sock_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        struct sock *s = p->priv;
        if (s->gone)
                return -ENODEV;
        int r = port_tcp_recv(s->fd, p->wake_fd, buf, len, timeout_ms);
        if (r == -ENODEV)
                s->gone = true;
        return r;
}

static int sock_write(struct port *p, const void *buf, size_t len, int timeout_ms)
{
        struct sock *s = p->priv;
        if (s->gone)
                return -ENODEV;
        int r = port_tcp_send_all(s->fd, buf, len, util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms));
        if (r == -ENODEV)
                s->gone = true;
        return r < 0 ? r : (int)len;
}

static int sock_set_baud(struct port *p, unsigned baud)
{
        struct sock *s = p->priv;
        (void)baud;
        return s->gone ? -ENODEV : 0; /* recorded in p->baud by port_set_baud() */
}

static int sock_set_lines(struct port *p, bool dtr, bool rts)
{
        (void)p;
        (void)dtr;
        (void)rts;
        return -ENOTSUP;
}

/* Drop whatever already arrived; the far end has no purge command. */
static int sock_flush_input(struct port *p)
{
        struct sock *s = p->priv;
        char junk[1024];
        if (s->gone)
                return -ENODEV;
        for (;;) {
                ssize_t n = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT);
                if (n > 0)
                        continue;
                if (n == 0) {
                        s->gone = true;
                        return -ENODEV;
                }
                return 0;
        }
}

static void sock_close(struct port *p)
{
        struct sock *s = p->priv;
        if (!s)
                return;
        close(s->fd);
        free(s);
        p->priv = NULL;
}

static const struct port_ops socket_ops = {
        .name = "socket",
        .read = sock_read,
        .write = sock_write,
        .set_baud = sock_set_baud,
        .set_lines = sock_set_lines,
        .flush_input = sock_flush_input,
        .close = sock_close,
};

int port_socket_open(const char *url, const char *host, const char *service, unsigned baud,
                     struct port **ret)
{
        int fd;
        if (!ret)
                return -EINVAL;
        int r = port_tcp_connect(host, service, PORT_TCP_CONNECT_TIMEOUT_MS, &fd);
        if (r < 0)
                return r;
        struct sock *s = calloc(1, sizeof(*s));
        struct port *p = NULL;
        if (!s || (r = port_alloc(&socket_ops, url, baud, &p)) < 0) {
                free(s);
                close(fd);
                return s ? r : -ENOMEM;
        }
        s->fd = fd;
        p->priv = s;
        *ret = p;
        return 0;
}
