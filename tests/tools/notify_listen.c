/* notify_listen: a stand-in for systemd's notification socket, so black-box tests can read what
 * corrald sends with sd_notify() (READY=1, WATCHDOG=1, RELOADING=1, STOPPING=1, ...).
 *
 *     notify_listen PATH
 * binds a unix datagram socket at PATH (removed first if it exists, and again at exit), prints
 *     {"listening":"PATH"}
 * and then one JSON line per datagram received, in arrival order:
 *     {"mono_us":12345678,"msg":"READY=1\nSTATUS=Serving on 127.0.0.1:7070"}
 * mono_us is CLOCK_MONOTONIC when it arrived. Start corrald with NOTIFY_SOCKET=PATH. Exits 0 on
 * SIGTERM, SIGINT or EOF on stdin (spawn it with a stdin pipe, not /dev/null); 1 with a message on stderr when the socket cannot be made. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: notify_listen PATH\n");
                return 2;
        }
        const char *path = argv[1];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "notify_listen: path too long for a unix socket: %s\n", path);
                return 1;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        unlink(path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "notify_listen: cannot bind %s: %s\n", path, strerror(errno));
                return 1;
        }
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

        json_t *hello = json_pack("{s:s}", "listening", path);
        char *line = json_dumps(hello, JSON_COMPACT);
        printf("%s\n", line);
        fflush(stdout);
        free(line);
        json_decref(hello);

        int rc = 0;
        for (;;) {
                struct pollfd p[3] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                                       { .fd = STDIN_FILENO, .events = POLLIN } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = 1;
                        break;
                }
                if (p[0].revents & POLLIN) {
                        char buf[4096];
                        ssize_t n = recv(fd, buf, sizeof(buf), 0);
                        if (n < 0)
                                continue;
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        json_t *o = json_pack("{s:I, s:s%}", "mono_us",
                                              (json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, "msg", buf,
                                              (size_t)n);
                        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                        if (s)
                                printf("%s\n", s);
                        fflush(stdout);
                        free(s);
                        json_decref(o);
                        continue; /* drain datagrams before looking at signals */
                }
                if (p[1].revents & POLLIN)
                        break;
                if (p[2].revents & (POLLIN | POLLHUP)) {
                        char c;
                        if (read(STDIN_FILENO, &c, 1) <= 0)
                                break;
                }
        }
        unlink(path);
        close(fd);
        return rc;
}
