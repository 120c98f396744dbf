/* TCP plumbing shared by the rfc2217 and socket backends: connect with a timeout, send-all and
 * receive with deadlines, peer loss mapped to -ENODEV. */
#include "ports/port.h"
#include "ports/port_backends.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int eai_to_errno(int eai)
{
        switch (eai) {
        case EAI_NONAME:
#ifdef EAI_NODATA
        case EAI_NODATA:
#endif
                return -EHOSTUNREACH;
        case EAI_AGAIN:
                return -EAGAIN;
        case EAI_MEMORY:
                return -ENOMEM;
        case EAI_SYSTEM:
                return errno ? -errno : -EIO;
        default:
                return -EINVAL;
        }
}

static int connect_one(const struct addrinfo *ai, uint64_t deadline, int *ret_fd)
{
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
                return -errno;
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                *ret_fd = fd;
                return 0;
        }
        int r = -errno;
        while (r == -EINPROGRESS || r == -EINTR) {
                uint64_t now = util_mono_ms();
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                int n = poll(&pfd, 1, (int)(deadline - now));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                int err = 0;
                socklen_t elen = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                        r = -errno;
                else
                        r = err ? -err : 0;
        }
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int port_tcp_connect(const char *host, const char *service, int timeout_ms, int *ret_fd)
{
        struct addrinfo hints, *res = NULL;
        if (!host || !service || !*host || !*service || !ret_fd)
                return -EINVAL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int e = getaddrinfo(host, service, &hints, &res);
        if (e != 0)
                return eai_to_errno(e);
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        int r = -EHOSTUNREACH;
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                r = connect_one(ai, deadline, ret_fd);
                if (r == 0 || r == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(res);
        return r;
}

static int peer_errno(int err)
{
        if (err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN || err == ETIMEDOUT)
                return -ENODEV;
        return -err;
}

int port_tcp_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ms)
{
        const uint8_t *b = buf;
        size_t done = 0;
        while (done < len) {
                ssize_t n = send(fd, b + done, len - done, MSG_NOSIGNAL);
                if (n > 0) {
                        done += (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                        return peer_errno(errno);
                uint64_t now = util_mono_ms();
                if (now >= deadline_ms)
                        return -ETIMEDOUT;
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                int r = poll(&pfd, 1, (int)(deadline_ms - now));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) && !(pfd.revents & POLLOUT))
                        return -ENODEV;
        }
        return 0;
}

int port_tcp_recv(int fd, int wake_fd, void *buf, size_t len, int timeout_ms)
{
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        if (len == 0)
                return 0;
        for (;;) {
                ssize_t n = recv(fd, buf, len, 0);
                if (n > 0)
                        return (int)n;
                if (n == 0)
                        return -ENODEV; /* orderly shutdown by the peer */
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return peer_errno(errno);
                uint64_t now = util_mono_ms();
                if (now >= deadline)
                        return 0;
                int r = port_poll_in(fd, wake_fd, (int)(deadline - now));
                if (r < 0)
                        return r;
                if (r == 0)
                        return 0; /* timeout, or cancelled: port_read says which */
        }
}
