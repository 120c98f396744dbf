/* Fuzz whole HTTP requests into corrald's real HTTP side (front door, libmicrohttpd, http.c,
 * routes, multipart and raw firmware uploads with max_upload/max_library), in process over
 * loopback TCP. Input: byte 0 picks the request line (firmware upload, login, board list,
 * board PATCH, events), the rest is sent as headers and body. No crash or sanitizer report;
 * every answer is an HTTP status line, and none is a 500 (every failure has a specific status). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "http.h"
#include "registry.h"
#include "store/store.h"

struct fixture {
        char dir[64];
        struct config_live *live;
        struct store *store;
        struct events *events;
        struct registry *reg;
        struct http_server *http;
        unsigned port;
};

static struct fixture *fx;

static void fixture_free(void)
{
        if (!fx)
                return;
        fx->http = http_stop(fx->http);
        fx->reg = registry_free(fx->reg);
        fx->events = events_free(fx->events);
        fx->store = store_close(fx->store);
        fx->live = config_live_free(fx->live);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", fx->dir);
        free(fx);
        fx = NULL;
}

static void fixture_init(void)
{
        char msg[256];
        fx = calloc(1, sizeof(*fx));
        if (!fx)
                abort();
        snprintf(fx->dir, sizeof(fx->dir), "%s/corral-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fx->dir))
                abort();
        struct config *cfg = config_new();
        if (!cfg)
                abort();
        snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
        cfg->listen_port = 0;
        cfg->udev = false;
        cfg->max_upload = 64 * 1024;
        cfg->max_library = 1024 * 1024;
        cfg->max_body = 64 * 1024;
        if (config_live_new(cfg, &fx->live) < 0) /* takes cfg's reference */
                abort();
        if (store_open(fx->dir, &fx->store, msg, sizeof(msg)) < 0 || events_new(&fx->events) < 0 ||
            registry_new(fx->store, fx->events, NULL, fx->live, &fx->reg) < 0 ||
            store_board_upsert(fx->store, "fuzz-board", "static-fuzz-board", "fuzz-board", NULL) < 0) {
                fprintf(stderr, "fixture: %s\n", msg);
                abort();
        }
        struct http_ctx ctx = { .registry = fx->reg, .store = fx->store, .events = fx->events, .config = fx->live,
                                .version = "fuzz" };
        if (http_start(&ctx, &fx->http, msg, sizeof(msg)) < 0) {
                fprintf(stderr, "http_start: %s\n", msg);
                abort();
        }
        fx->port = http_port(fx->http);
        atexit(fixture_free);
}

/* OpenSSL keeps per-thread state (RAND_bytes for session ids runs on libmicrohttpd's threads)
 * in thread-local slots LeakSanitizer does not see while those threads live; libcrypto's own
 * frames are all a fast unwind shows of them. Our own leaks keep their frames and still fail. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
        return "leak:libcrypto.so\n";
}

/* libFuzzer's per-input leak check stops the world whenever mallocs and frees differ, which in a
 * server with its own threads is nearly every input (about a second each). Leaks are still
 * checked once, at exit; the daemon's are also caught by the sanitized integration tests. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        static char *args[256];
        static char off[] = "-detect_leaks=0";
        int n = *argc < 254 ? *argc : 254;
        for (int i = 0; i < n; i++)
                args[i] = (*argv)[i];
        args[n++] = off;
        args[n] = NULL;
        *argc = n;
        *argv = args;
        return 0;
}

static const char *const lines[] = {
        "POST /api/v1/firmware HTTP/1.1\r\n",
        "POST /api/v1/login HTTP/1.1\r\n",
        "GET /api/v1/boards HTTP/1.1\r\n",
        "PATCH /api/v1/boards/fuzz-board HTTP/1.1\r\n",
        "GET /api/v1/events HTTP/1.1\r\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!fx)
                fixture_init();
        if (size < 1)
                return 0;
        const char *line = lines[data[0] % (sizeof(lines) / sizeof(lines[0]))];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                abort();
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* A body shorter than its Content-Length is not answered before MHD's connection timeout
         * even after our half-close (libmicrohttpd 0.9.75): give up on the answer after 2 s. */
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                abort();
        (void)!send(fd, line, strlen(line), MSG_NOSIGNAL);
        static const char close_hdr[] = "Connection: close\r\n"; /* one request per connection */
        (void)!send(fd, close_hdr, sizeof(close_hdr) - 1, MSG_NOSIGNAL);
        (void)!send(fd, data + 1, size - 1, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char resp[16384];
        size_t have = 0;
        for (;;) {
                ssize_t n = recv(fd, resp + have, sizeof(resp) - 1 - have, 0);
                if (n <= 0)
                        break;
                have += (size_t)n;
                if (have == sizeof(resp) - 1)
                        have = 16; /* keep the status line, drop the rest */
        }
        close(fd);
        resp[have] = '\0';
        /* Nothing at all is allowed (the server may close on garbage); an answer is HTTP. */
        if (have == 0)
                return 0;
        if (have < 12 || strncmp(resp, "HTTP/1.", 7))
                abort();
        int status = atoi(resp + 9);
        if (status < 100 || status > 599 || status == 500) {
                fprintf(stderr, "status %d:\n%s\n", status, resp);
                abort();
        }
        return 0;
}
