/* port_open(): pick the backend from the URL. rfc2217://host:port, socket://host:port,
 * or an absolute path (a tty or pty, symlinks allowed). "[v6addr]:port" works for both schemes. */
#include "ports/port.h"
#include "ports/port_backends.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 256
#define SERVICE_MAX 16

/* Split "host:port" (or "[v6]:port"), ignoring a trailing "/..." or "?..." (pyserial-style
 * options such as "?ign_set_control" are accepted and ignored). */
static int split_host_port(const char *s, char *host, size_t hsize, char *service, size_t ssize)
{
        const char *end = s + strcspn(s, "/?#");
        const char *colon;
        const char *h0 = s, *h1;

        if (*s == '[') {
                h0 = s + 1;
                h1 = memchr(h0, ']', (size_t)(end - h0));
                if (!h1 || h1[1] != ':')
                        return -EINVAL;
                colon = h1 + 1;
        } else {
                colon = NULL;
                for (const char *c = s; c < end; c++)
                        if (*c == ':')
                                colon = c; /* last colon */
                if (!colon)
                        return -EINVAL;
                h1 = colon;
                if (memchr(s, ':', (size_t)(colon - s)))
                        return -EINVAL; /* bare IPv6 without brackets is ambiguous */
        }
        size_t hl = (size_t)(h1 - h0), sl = (size_t)(end - colon - 1);
        if (hl == 0 || hl >= hsize || sl == 0 || sl >= ssize)
                return -EINVAL;
        for (const char *c = colon + 1; c < end; c++)
                if (*c < '0' || *c > '9')
                        return -EINVAL;
        memcpy(host, h0, hl);
        host[hl] = '\0';
        memcpy(service, colon + 1, sl);
        service[sl] = '\0';
        long port = strtol(service, NULL, 10);
        if (port < 1 || port > 65535)
                return -EINVAL;
        return 0;
}

int port_open(const char *url, unsigned baud, struct port **ret)
{
        static const char rfc[] = "rfc2217://", sock[] = "socket://";
        char host[HOST_MAX], service[SERVICE_MAX];
        int r;

        if (!url || !ret)
                return -EINVAL;
        if (strncasecmp(url, rfc, sizeof(rfc) - 1) == 0) {
                r = split_host_port(url + sizeof(rfc) - 1, host, sizeof(host), service, sizeof(service));
                return r < 0 ? r : port_rfc2217_open(url, host, service, baud, ret);
        }
        if (strncasecmp(url, sock, sizeof(sock) - 1) == 0) {
                r = split_host_port(url + sizeof(sock) - 1, host, sizeof(host), service, sizeof(service));
                return r < 0 ? r : port_socket_open(url, host, service, baud, ret);
        }
        if (url[0] == '/')
                return port_serial_open(url, url, baud, ret);
        return -EINVAL;
}
