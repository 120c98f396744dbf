/* The lab's power backend: a virtual board's control channel ("unplug" cuts its power and drops
 * its endpoint, "replug" powers it up and answers once the endpoint accepts connections again). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "power/power_backends.h"

#define VBOARD_TIMEOUT_MS 10000

static int connect_to(const char *url, char *msg, size_t msg_size)
{
        char host[128], port[16];
        const char *hp = !strncmp(url, "tcp://", 6) ? url + 6 : url;
        const char *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof(host) || strlen(colon + 1) >= sizeof(port)) {
                snprintf(msg, msg_size, "bad vboard control address '%s'", url);
                return -EINVAL;
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        snprintf(port, sizeof(port), "%s", colon + 1);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        int g = getaddrinfo(host, port, &hints, &ai);
        if (g != 0) {
                snprintf(msg, msg_size, "cannot resolve %s: %s", url, gai_strerror(g));
                return -EIO;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                snprintf(msg, msg_size, "cannot reach the vboard control channel %s: %s", url, strerror(errno));
                close(fd);
                fd = -EIO;
        }
        freeaddrinfo(ai);
        return fd;
}

int power_vboard_set(const char *url, bool on, struct power_report *rep, char *msg, size_t msg_size)
{
        snprintf(rep->backend, sizeof(rep->backend), "vboard");
        snprintf(rep->target, sizeof(rep->target), "%s", url);
        int fd = connect_to(url, msg, msg_size);
        if (fd < 0)
                return fd == -EINVAL ? -ENOTSUP : -EIO;
        const char *cmd = on ? "replug\n" : "unplug\n";
        int r = 0;
        if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
                snprintf(msg, msg_size, "cannot write to %s: %s", url, strerror(errno));
                r = -EIO;
        }
        char line[1024];
        size_t len = 0;
        while (r == 0 && (!len || line[len - 1] != '\n')) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, VBOARD_TIMEOUT_MS) <= 0) {
                        snprintf(msg, msg_size, "%s did not answer '%.*s' within %d s", url, (int)strlen(cmd) - 1, cmd,
                                 VBOARD_TIMEOUT_MS / 1000);
                        r = -ETIMEDOUT;
                        break;
                }
                ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);
                if (n <= 0) {
                        snprintf(msg, msg_size, "%s closed the control channel", url);
                        r = -EIO;
                        break;
                }
                len += (size_t)n;
                if (len == sizeof(line) - 1)
                        break;
        }
        close(fd);
        line[len] = '\0';
        if (r < 0)
                return r;
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(rep->output, sizeof(rep->output), "%s", line);
        json_t *j = json_loads(line, 0, NULL);
        bool ok = json_is_true(json_object_get(j, "ok"));
        json_decref(j);
        if (!ok) {
                snprintf(msg, msg_size, "%s refused %s: %s", url, on ? "replug" : "unplug", line);
                return -EIO;
        }
        return 0;
}
