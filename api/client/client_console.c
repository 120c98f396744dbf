/* `corral console BOARD`: an interactive serial console over /ws/v1/boards/{id}/console (lws
 * client). The terminal goes raw; keys go to the board as binary frames once the write lock is
 * ours (taken with the lease when there is one); Ctrl-] leaves. Without the lock it only watches. */
#include "client.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CON_IN_MAX 16384
#define CON_QUIT_KEY 0x1d /* Ctrl-] */
/* Piped input ended: leave once it has all been sent, the board has answered the last keys and
 * has then been quiet this long, or after CON_EOF_MAX_MS whatever comes. */
#define CON_QUIET_MS 1000
#define CON_EOF_MAX_MS 30000

struct con {
        struct lws_context *ctx;
        struct lws *wsi;
        pthread_mutex_t mu;
        unsigned char in[CON_IN_MAX]; /* keys waiting to be sent */
        size_t nin;
        char take[512];               /* the take message, sent once connected */
        char board[256];              /* the board asked for, for messages */
        const char *token;            /* CORRAL_TOKEN (borrowed), sent as Authorization: Bearer */
        bool take_pending;
        atomic_bool quit;
        bool established, tty;
        bool gone;                    /* ctx destroyed (under mu): the reader must not wake it */
        _Atomic uint64_t rx_ms;       /* monotonic: the last console bytes received (or connected) */
        atomic_bool answered;         /* live bytes came after the last keys sent (both on lws's thread) */
        uint64_t replay_left;         /* history bytes still to come (hello's replay_bytes): not an answer */
        int exit_code;
};

/* Status lines go to stderr, on their own line even in raw mode. */
static void say(struct con *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct con *k, const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s[corral] %s%s", k->tty ? "\r\n" : "", line, k->tty ? "\r\n" : "\n");
}

static void on_text(struct con *k, const char *text, size_t len)
{
        json_t *j = json_loadb(text, len, 0, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (!type) {
        } else if (!strcmp(type, "hello")) {
                json_int_t replay = json_integer_value(json_object_get(j, "replay_bytes"));
                k->replay_left = replay > 0 ? (uint64_t)replay : 0;
                say(k, "connected to %s (%s%s); Ctrl-] leaves", json_string_value(json_object_get(j, "board")),
                    json_is_true(json_object_get(j, "online")) ? "online" : "offline",
                    json_is_true(json_object_get(j, "busy")) ? ", busy with a job" : "");
        } else if (!strcmp(type, "lock")) {
                if (json_is_true(json_object_get(j, "writer")))
                        say(k, "you have the write lock: type away");
                else if (json_is_null(json_object_get(j, "holder")))
                        say(k, "the write lock is free");
                else
                        say(k, "%s has the write lock: watching only",
                            json_string_value(json_object_get(json_object_get(j, "holder"), "name")));
        } else if (!strcmp(type, "error")) {
                say(k, "%s (%s)", msg ? msg : "refused", json_string_value(json_object_get(j, "code")));
        } else if (!strcmp(type, "status") || !strcmp(type, "reset")) {
                const char *reason = json_string_value(json_object_get(j, "reason"));
                say(k, "%s", msg ? msg : reason && *reason ? reason : "status changed");
        } else if (!strcmp(type, "dropped")) {
                json_int_t skipped = json_integer_value(json_object_get(j, "bytes"));
                say(k, "fell behind: %lld bytes skipped", (long long)skipped);
                if (skipped > 0) /* skipped history will not come */
                        k->replay_left = (uint64_t)skipped < k->replay_left ? k->replay_left - (uint64_t)skipped : 0;
        }
        json_decref(j);
}

/* Why corrald refused the upgrade, from the HTTP status it answered with (0: none came). */
static void say_refusal(struct con *k, unsigned status, const char *lws_reason)
{
        switch (status) {
        case 404:
                say(k, "no board '%s' (corral boards lists them)", k->board);
                break;
        case 401:
                say(k, "cannot open the console of '%s': corrald wants a valid token (%s)", k->board,
                    k->token && *k->token ? "the one in CORRAL_TOKEN was refused" : "set CORRAL_TOKEN");
                break;
        case 403:
                say(k, "cannot open the console of '%s': corrald refused this client (403 forbidden)", k->board);
                break;
        case 429:
                say(k, "cannot open the console of '%s': it has as many viewers as corrald allows (max_viewers); "
                       "try again later", k->board);
                break;
        case 0:
                say(k, "cannot open the console of '%s': %s", k->board, lws_reason);
                break;
        default:
                say(k, "cannot open the console of '%s': corrald answered HTTP %u", k->board, status);
        }
}

/* The HTTP status of a refused upgrade, 0 when there was no answer (connection failed). */
static unsigned refusal_status(struct lws *wsi)
{
        if (!wsi)
                return 0;
        unsigned st = lws_http_client_http_response(wsi);
        if (st)
                return st;
        char line[16];
        return lws_hdr_copy(wsi, line, sizeof(line), WSI_TOKEN_HTTP) > 0 ? (unsigned)atoi(line) : 0;
}

static int send_frame(struct lws *wsi, const void *data, size_t len, enum lws_write_protocol kind)
{
        unsigned char buf[LWS_PRE + CON_IN_MAX];
        memcpy(buf + LWS_PRE, data, len);
        return lws_write(wsi, buf + LWS_PRE, len, kind) < (int)len ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
        (void)user;
        struct con *k = lws_context_user(lws_get_context(wsi));
        switch (reason) {
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
                say_refusal(k, refusal_status(wsi), in ? (const char *)in : "connection failed");
                k->exit_code = CLI_FARM;
                atomic_store(&k->quit, true);
                k->wsi = NULL;
                return 0;
        case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
                if (!k->token || !*k->token)
                        return 0;
                unsigned char **p = in, *end = *p + len;
                char v[1024];
                int n = snprintf(v, sizeof(v), "Bearer %s", k->token);
                if (n < 0 || (size_t)n >= sizeof(v) ||
                    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)v, n, p, end))
                        return -1;
                return 0;
        }
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
                k->established = true;
                atomic_store(&k->rx_ms, util_mono_ms());
                lws_callback_on_writable(wsi);
                return 0;
        case LWS_CALLBACK_CLIENT_RECEIVE:
                if (lws_frame_is_binary(wsi)) {
                        fwrite(in, 1, len, stdout);
                        fflush(stdout);
                        atomic_store(&k->rx_ms, util_mono_ms());
                        if (len <= k->replay_left) {
                                k->replay_left -= len; /* the history from before we came */
                        } else {
                                k->replay_left = 0;
                                atomic_store(&k->answered, true);
                        }
                } else {
                        on_text(k, in, len);
                }
                return 0;
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
                if (atomic_load(&k->quit))
                        return -1;
                if (k->take_pending) {
                        k->take_pending = false;
                        if (send_frame(wsi, k->take, strlen(k->take), LWS_WRITE_TEXT) < 0)
                                return -1;
                        lws_callback_on_writable(wsi);
                        return 0;
                }
                unsigned char chunk[CON_IN_MAX];
                pthread_mutex_lock(&k->mu);
                size_t n = k->nin;
                memcpy(chunk, k->in, n);
                k->nin = 0;
                pthread_mutex_unlock(&k->mu);
                if (n && send_frame(wsi, chunk, n, LWS_WRITE_BINARY) < 0)
                        return -1;
                if (n)
                        atomic_store(&k->answered, false);
                return 0;
        }
        case LWS_CALLBACK_CLIENT_CLOSED:
                if (!atomic_load(&k->quit)) {
                        say(k, "the console connection closed");
                        k->exit_code = CLI_FARM;
                }
                atomic_store(&k->quit, true);
                k->wsi = NULL;
                return 0;
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                if (k->wsi && k->established)
                        lws_callback_on_writable(k->wsi);
                return 0;
        default:
                return 0;
        }
}

/* Wake the service loop from the reader thread. */
static void wake(struct con *k)
{
        pthread_mutex_lock(&k->mu);
        if (!k->gone)
                lws_cancel_service(k->ctx);
        pthread_mutex_unlock(&k->mu);
}

/* Piped input ended: wait until every key has left, the board has sent something after the last
 * of them (however slow the path: a farm relay on a busy host can take seconds) and has then been
 * quiet for CON_QUIET_MS; at most CON_EOF_MAX_MS, or until the session ends. */
static void wait_quiet(struct con *k)
{
        uint64_t start = util_mono_ms();
        struct timespec tick = { 0, 50 * 1000 * 1000 };
        while (!atomic_load(&k->quit)) {
                nanosleep(&tick, NULL);
                uint64_t now = util_mono_ms();
                if (now - start >= CON_EOF_MAX_MS)
                        return;
                pthread_mutex_lock(&k->mu);
                bool sent = k->nin == 0;
                pthread_mutex_unlock(&k->mu);
                uint64_t rx = atomic_load(&k->rx_ms); /* 0 until connected */
                if (sent && rx && atomic_load(&k->answered) && now - rx >= CON_QUIET_MS)
                        return;
        }
}

static void *stdin_main(void *arg)
{
        struct con *k = arg;
        unsigned char b[1024];
        for (;;) {
                ssize_t n = read(STDIN_FILENO, b, sizeof(b));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        wait_quiet(k);
                        break;
                }
                void *quit = memchr(b, CON_QUIT_KEY, (size_t)n);
                size_t take = quit ? (size_t)((unsigned char *)quit - b) : (size_t)n;
                pthread_mutex_lock(&k->mu);
                if (k->nin + take <= sizeof(k->in)) {
                        memcpy(k->in + k->nin, b, take);
                        k->nin += take;
                }
                pthread_mutex_unlock(&k->mu);
                wake(k);
                if (quit)
                        break;
        }
        atomic_store(&k->quit, true);
        wake(k);
        return NULL;
}

/* "http://host:port" -> host, port. */
static int split_server(const char *url, char *host, size_t size, int *port)
{
        if (strncmp(url, "http://", 7))
                return -EINVAL;
        const char *h = url + 7;
        size_t hl = strcspn(h, ":/");
        if (!hl || hl >= size)
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = '\0';
        *port = h[hl] == ':' ? atoi(h + hl + 1) : 80;
        return *port > 0 && *port < 65536 ? 0 : -EINVAL;
}

static const struct lws_protocols protocols[] = {
        { "corral.v1", callback, 0, CON_IN_MAX, 0, NULL, 0 },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* The console session's state for board: the first message asks for the write lock (with the
 * lease, when there is one). NULL when out of memory. */
static struct con *con_new(struct cli *c, const char *board)
{
        struct con *k = calloc(1, sizeof(*k));
        if (!k)
                return NULL;
        pthread_mutex_init(&k->mu, NULL);
        atomic_init(&k->quit, false);
        atomic_init(&k->answered, true); /* nothing typed yet: nothing to wait for */
        k->tty = isatty(STDIN_FILENO);
        snprintf(k->board, sizeof(k->board), "%s", board);
        k->token = c->token;
        json_t *take = json_pack("{s:s}", "type", "take");
        if (c->lease[0])
                json_object_set_new(take, "lease", json_string(c->lease));
        char *t = json_dumps(take, JSON_COMPACT);
        snprintf(k->take, sizeof(k->take), "%s", t ? t : "{\"type\":\"take\"}");
        free(t);
        json_decref(take);
        k->take_pending = true;
        return k;
}

/* Connect and serve until the session ends, the terminal raw meanwhile. *ret_reader: a stdin
 * reader thread was started (it may still touch k). */
static void con_run(struct con *k, const char *host, int port, const char *path, bool *ret_reader)
{
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.context = k->ctx;
        ci.address = host;
        ci.port = port;
        ci.path = path;
        ci.host = host;
        ci.origin = NULL;
        ci.protocol = NULL;
        ci.pwsi = &k->wsi;
        struct termios saved;
        bool raw = false;
        if (k->tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
                struct termios rawt = saved;
                cfmakeraw(&rawt);
                raw = tcsetattr(STDIN_FILENO, TCSANOW, &rawt) == 0;
        }
        pthread_t th;
        bool reader = false;
        if (lws_client_connect_via_info(&ci)) {
                reader = pthread_create(&th, NULL, stdin_main, k) == 0;
                while (!atomic_load(&k->quit))
                        lws_service(k->ctx, 0);
        } else {
                k->exit_code = CLI_FARM;
                say(k, "cannot connect to %s:%d", host, port);
        }
        if (raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        if (reader)
                pthread_detach(th); /* may sit in read(); the process ends soon */
        *ret_reader = reader;
}

int cmd_console(struct cli *c, int argc, char **argv)
{
        if (argc != 1) {
                fprintf(stderr, "corral: usage: corral console BOARD\n");
                return CLI_USAGE;
        }
        char host[256], path[512], eb[256];
        int port;
        if (split_server(c->server, host, sizeof(host), &port) < 0) {
                fprintf(stderr, "corral: console needs an http://HOST:PORT server, not %s\n", c->server);
                return CLI_USAGE;
        }
        cli_escape(argv[0], eb, sizeof(eb));
        snprintf(path, sizeof(path), "/ws/v1/boards/%s/console?name=corral-cli", eb);
        struct con *k = con_new(c, argv[0]);
        if (!k)
                return CLI_FARM;
        lws_set_log_level(0, NULL);
        struct lws_context_creation_info info;
        memset(&info, 0, sizeof(info));
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.protocols = protocols;
        info.user = k;
        info.gid = -1;
        info.uid = -1;
        k->ctx = lws_create_context(&info);
        if (!k->ctx) {
                fprintf(stderr, "corral: cannot create the WebSocket client\n");
                free(k);
                return CLI_FARM;
        }
        bool reader = false;
        con_run(k, host, port, path, &reader);
        int rc = k->exit_code;
        pthread_mutex_lock(&k->mu);
        k->gone = true;
        pthread_mutex_unlock(&k->mu);
        lws_context_destroy(k->ctx);
        if (!reader) {
                pthread_mutex_destroy(&k->mu);
                free(k);
        } /* else: the reader thread may still touch k; it lives until exit */
        return rc;
}
