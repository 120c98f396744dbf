/* libwebsockets server without a listener: adopts sockets from the front door, checks Origin and
 * path before the handshake (403/404 as JSON errors), routes sessions to the console or events
 * endpoint, and runs the service thread that other threads wake with lws_cancel_service(). */
#include "ws_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn_budget.h"
#include "farm/farm_routes.h"
#include "jobs/console.h"
#include "log.h"
#include "reply.h"
#include "registry.h"
#include "util.h"

#define WS_PROTOCOL "corral.v1"

/* ---- HTTP-level answers (before or instead of the handshake) ---- */

/* A JSON error like the REST API's; returns 0 when written. */
static int http_error(struct lws *wsi, enum corral_err code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int http_error(struct lws *wsi, enum corral_err code, const char *fmt, ...)
{
        unsigned status = reply_code_status(code);
        char message[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        json_t *j = json_pack("{s:{s:s, s:s, s:{}}}", "error", "code", reply_code_name(code), "message", message, "details");
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!body)
                return -1;
        unsigned char buf[LWS_PRE + 2048];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
        size_t len = strlen(body);
        int r = -1;
        static const char bearer[] = "Bearer realm=\"corral\"";
        if (len < 1024 && !lws_add_http_header_status(wsi, status, &p, end) &&
            (status != 401 ||
             !lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE, (const unsigned char *)bearer,
                                           (int)sizeof(bearer) - 1, &p, end)) &&
            !lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (unsigned char *)"application/json", 16,
                                          &p, end) &&
            !lws_add_http_header_content_length(wsi, len, &p, end) && !lws_finalize_http_header(wsi, &p, end)) {
                memcpy(p, body, len);
                p += len;
                r = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) == (int)(p - start) ? 0 : -1;
        }
        free(body);
        return r;
}

/* ---- routing ---- */

/* Parse the request's path and query into t (ws_parse_target). Returns 0, -ENOENT (no such
 * endpoint) or -EINVAL (bad query) with msg. */
static int parse_target(struct lws *wsi, struct ws_target *t, char *msg, size_t msg_size)
{
        char uri[256], since[128], name[128];
        memset(t, 0, sizeof(*t));
        int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
        if (n <= 0) {
                snprintf(msg, msg_size, "The request path is missing or too long.");
                return -ENOENT;
        }
        const char *s = lws_get_urlarg_by_name(wsi, "since=", since, sizeof(since));
        const char *nm = lws_get_urlarg_by_name(wsi, "name=", name, sizeof(name));
        return ws_parse_target(uri, s, nm, t, msg, msg_size);
}

/* Same origin (ws_same_origin) with this request's Host and this very socket's port: an address
 * literal or "localhost" (a DNS name could be rebound to us; list those in ws_origins). */
static bool same_origin(struct lws *wsi, const char *origin)
{
        char host_hdr[256];
        if (lws_hdr_copy(wsi, host_hdr, sizeof(host_hdr), WSI_TOKEN_HOST) <= 0)
                return false;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) < 0)
                return false;
        unsigned local = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        return ws_same_origin(origin, host_hdr, local);
}

static bool origin_allowed(struct ws_server *s, struct lws *wsi, char *origin, size_t origin_size)
{
        int n = lws_hdr_copy(wsi, origin, (int)origin_size, WSI_TOKEN_ORIGIN);
        if (n == 0)
                return true; /* not a browser: CLI, tests, scripts */
        if (n < 0) {
                snprintf(origin, origin_size, "(too long)");
                return false;
        }
        for (char *c = origin; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        const struct config *cfg = config_live_get(s->o.config);
        bool listed = false;
        for (size_t i = 0; i < cfg->nws_origins && !listed; i++)
                listed = !strcmp(origin, cfg->ws_origins[i]);
        config_put(cfg);
        return listed || same_origin(wsi, origin);
}

/* Who opens this socket: another host of the farm on a viewer's behalf (*farm, ws_relay.c), the
 * Authorization header (Bearer) or the session cookie. 0, -EPERM (a bad farm credential) or what
 * auth_check() says. */
static int identify(struct ws_server *s, struct lws *wsi, struct auth_identity *who, bool *farm)
{
        int f = ws_relay_identify(s, wsi, who);
        *farm = f == 0;
        if (f <= 0)
                return f;
        char authz[512] = "", cookie[2048] = "";
        int na = lws_hdr_copy(wsi, authz, sizeof(authz), WSI_TOKEN_HTTP_AUTHORIZATION);
        int nc = lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE);
        int r = auth_check(s->o.auth, na > 0 ? authz : NULL, nc > 0 ? cookie : NULL, util_wall_ms(), who);
        explicit_bzero(authz, sizeof(authz));
        explicit_bzero(cookie, sizeof(cookie));
        return r;
}

/* Console sessions of board on this server (service thread). */
static unsigned viewers_of(struct ws_server *s, const char *board)
{
        unsigned n = 0;
        for (struct ws_session *ss = s->sessions; ss; ss = ss->next)
                n += ss->kind == WS_CONSOLE && !strcmp(ss->board, board);
        return n;
}

/* Before the 101: refuse bad origins, missing credentials, unknown endpoints, unknown boards and
 * full consoles with an HTTP status. Returns what LWS_CALLBACK_HTTP_CONFIRM_UPGRADE wants: 0 go
 * on, 1 answered, -1 hang up. */
static int confirm_upgrade(struct ws_server *s, struct lws *wsi)
{
        char origin[256], msg[512];
        if (!origin_allowed(s, wsi, origin, sizeof(origin)))
                return http_error(wsi, CORRAL_E_ORIGIN_NOT_ALLOWED,
                                  "WebSocket connections from origin '%s' are not allowed; add it to ws_origins "
                                  "in corrald.conf if it should be.", origin) < 0 ? -1 : 1;
        struct auth_identity who;
        bool farm;
        int a = identify(s, wsi, &who, &farm);
        if (a == -EPERM)
                return http_error(wsi, CORRAL_E_INVALID_TOKEN, "The farm credential (X-Corral-Farm) or the identity "
                                  "it vouches for is not valid here: every host of a farm needs the same "
                                  "farm_secret.") < 0 ? -1 : 1;
        if (a < 0)
                return http_error(wsi, a == -ENOKEY ? CORRAL_E_UNAUTHORIZED : CORRAL_E_INVALID_TOKEN, "%s",
                                  a == -ENOKEY ? "This needs a token: send 'Authorization: Bearer TOKEN' or log in "
                                                 "with POST /api/v1/login (the session cookie is sent along)."
                                               : "The token or session is not valid (unknown, revoked or expired).")
                                       < 0 ? -1 : 1;
        struct ws_target t;
        int r = parse_target(wsi, &t, msg, sizeof(msg));
        if (r < 0)
                return http_error(wsi, r == -EINVAL ? CORRAL_E_INVALID_QUERY : CORRAL_E_NOT_FOUND, "%s", msg) < 0 ? -1 : 1;
        if (t.kind == WS_CONSOLE) {
                /* Memory only: an upgrade never waits for the store (a disk write elsewhere). */
                struct farm_route route;
                /* A board on another host is relayed there (unless this is already a relay). */
                if (!registry_board_known(s->o.registry, t.board) && (farm || !ws_relay_route(s, t.board, &route))) {
                        ws_relay_missed(s);
                        return http_error(wsi, CORRAL_E_BOARD_NOT_FOUND, "No board with id '%s'.", t.board) < 0 ? -1 : 1;
                }
                const struct config *cfg = config_live_get(s->o.config);
                unsigned limit = cfg->max_viewers ? cfg->max_viewers : CONSOLE_MAX_VIEWERS;
                config_put(cfg);
                if (viewers_of(s, t.board) >= limit)
                        return http_error(wsi, CORRAL_E_TOO_MANY_VIEWERS,
                                          "The console of '%s' already has %u viewers, its limit (max_viewers); "
                                          "close one or try again later.", t.board, limit) < 0 ? -1 : 1;
        }
        return 0;
}

/* ---- sessions ---- */

static int session_open(struct ws_server *s, struct lws *wsi, struct ws_session **pss)
{
        char msg[512];
        struct ws_target t;
        if (parse_target(wsi, &t, msg, sizeof(msg)) < 0)
                return -1;
        struct auth_identity who;
        bool farm;
        if (identify(s, wsi, &who, &farm) < 0) /* checked at the upgrade; a session may have ended since */
                return -1;
        struct ws_session *ss = calloc(1, sizeof(*ss));
        if (!ss)
                return -1;
        ss->who = who;
        ss->wsi = wsi;
        ss->s = s;
        ss->kind = t.kind;
        ss->farm = farm;
        ss->next = s->sessions;
        if (s->sessions)
                s->sessions->prev = ss;
        s->sessions = ss;
        *pss = ss;
        int r;
        if (t.kind == WS_CONSOLE) {
                if (!t.name[0]) {
                        char peer[sizeof(t.name)] = "";
                        lws_get_peer_simple(wsi, peer, sizeof(peer));
                        snprintf(t.name, sizeof(t.name), "%s", peer);
                }
                struct farm_route route;
                if (!farm && ws_relay_route(s, t.board, &route))
                        r = ws_relay_open(ss, t.board, t.name, &route, msg, sizeof(msg));
                else
                        r = ws_console_open(ss, t.board, t.name, msg, sizeof(msg));
        } else {
                r = ws_events_open(ss, t.since);
                snprintf(msg, sizeof(msg), "cannot follow the event stream");
        }
        if (r < 0) {
                /* Closed at the next WRITEABLE, the way lws sends a close reason: failing ESTABLISHED
                 * itself still brought a WRITEABLE to a session without a console (a crash). */
                ss->failed = true;
                snprintf(ss->fail_reason, sizeof(ss->fail_reason), "%.123s", msg);
        }
        lws_callback_on_writable(wsi);
        return 0;
}

static void session_close(struct ws_server *s, struct ws_session *ss)
{
        if (!ss)
                return;
        if (ss->relay)
                ws_relay_close(ss);
        else if (ss->kind == WS_CONSOLE)
                ws_console_close(ss);
        else
                ws_events_close(ss);
        if (ss->prev)
                ss->prev->next = ss->next;
        else
                s->sessions = ss->next;
        if (ss->next)
                ss->next->prev = ss->prev;
        for (unsigned i = 0; i < ss->nreplies; i++)
                free(ss->replies[i]);
        free(ss);
}

/* Service thread, after lws_cancel_service(): adopt queued sockets, ask for WRITEABLE where a
 * session has something to send. */
static void on_wake(struct ws_server *s)
{
        struct ws_adoptee *q = s->adopting;
        pthread_mutex_lock(&s->mu);
        s->wake_pending = false;
        unsigned n = s->nadopt;
        memcpy(q, s->adopt, n * sizeof(q[0]));
        s->nadopt = 0;
        bool recheck = s->recheck;
        s->recheck = false;
        pthread_mutex_unlock(&s->mu);
        if (recheck) {
                int64_t now = util_wall_ms();
                for (struct ws_session *ss = s->sessions; ss; ss = ss->next)
                        if (!ss->revoked && !ss->farm && !auth_identity_live(s->o.auth, &ss->who, now)) {
                                ss->revoked = true;
                                lws_callback_on_writable(ss->wsi);
                        }
        }
        for (unsigned i = 0; i < n; i++) {
                struct lws *wsi = lws_adopt_socket_vhost(s->vhost, q[i].fd); /* closes the fd on failure */
                struct sockaddr_storage *key = wsi ? malloc(sizeof(*key)) : NULL;
                if (key) { /* given back in LWS_CALLBACK_WSI_DESTROY */
                        memcpy(key, &q[i].addr, sizeof(*key));
                        lws_set_opaque_user_data(wsi, key);
                } else {
                        conn_budget_put(s->o.budget, (struct sockaddr *)&q[i].addr, CONN_WS);
                }
                if (!wsi)
                        log_warning("WebSocket: could not adopt a connection");
        }
        for (struct ws_session *ss = s->sessions; ss; ss = ss->next) {
                bool pending = ss->nreplies ||
                               (ss->kind == WS_CONSOLE ? ws_console_pending(ss) : ws_events_pending(ss));
                if (pending)
                        lws_callback_on_writable(ss->wsi);
        }
}

/* A revoked or failed session ends with its reason (1008), whichever callback sees it first: a
 * frame that arrives after a logout must not cut the socket without a close frame (1006). */
static int close_with_reason(struct lws *wsi, const struct ws_session *ss)
{
        static const char revoked[] = "session_ended: logged out or the token was removed";
        const char *why = ss->revoked ? revoked : ss->fail_reason;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why, strlen(why));
        return -1;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
        struct ws_server *s = lws_context_user(lws_get_context(wsi));
        struct ws_session **pss = user;
        struct ws_session *ss = pss ? *pss : NULL;
        switch (reason) {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                on_wake(s);
                return 0;
        case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
                return confirm_upgrade(s, wsi);
        case LWS_CALLBACK_WSI_DESTROY: {
                struct sockaddr_storage *key = lws_get_opaque_user_data(wsi);
                if (key) {
                        lws_set_opaque_user_data(wsi, NULL);
                        conn_budget_put(s->o.budget, (struct sockaddr *)key, CONN_WS);
                        free(key);
                }
                return 0;
        }
        case LWS_CALLBACK_HTTP:
                /* A plain request on a connection that started with /ws/... */
                if (http_error(wsi, CORRAL_E_UPGRADE_REQUIRED,
                               "This path speaks WebSocket only; the REST API lives under /api/v1/.") < 0)
                        return -1;
                return lws_http_transaction_completed(wsi) ? -1 : 0;
        case LWS_CALLBACK_ESTABLISHED:
                return session_open(s, wsi, pss);
        case LWS_CALLBACK_CLOSED:
                session_close(s, ss);
                if (pss)
                        *pss = NULL;
                return 0;
        case LWS_CALLBACK_RECEIVE:
                if (!ss)
                        return -1;
                if (ss->revoked || ss->failed) /* a revoked session's bytes are refused, never queued */
                        return close_with_reason(wsi, ss);
                if (ss->relay)
                        return ws_relay_receive(ss, in, len);
                if (ss->kind == WS_CONSOLE)
                        return ws_console_receive(ss, in, len);
                ws_reply(ss, "error", "read_only", "The event stream takes no messages.");
                return 0;
        case LWS_CALLBACK_SERVER_WRITEABLE: {
                if (!ss)
                        return 0;
                if (ss->revoked || ss->failed)
                        return close_with_reason(wsi, ss);
                int r = ws_write_reply(ss);
                if (r < 0)
                        return -1;
                if (r > 0) {
                        lws_callback_on_writable(wsi);
                        return 0;
                }
                if (ss->relay)
                        return ws_relay_writeable(ss);
                return ss->kind == WS_CONSOLE ? ws_console_writeable(ss) : ws_events_writeable(ss);
        }
        default:
                return 0;
        }
}

static const struct lws_protocols protocols[] = {
        { WS_PROTOCOL, ws_callback, sizeof(struct ws_session *), 4096, 0, NULL, 0 },
        { NULL, NULL, 0, 0, 0, NULL, 0 }, /* lws 4.1.6 has no LWS_PROTOCOL_LIST_TERM */
};

static void *service_main(void *arg)
{
        struct ws_server *s = arg;
        while (!atomic_load(&s->stop))
                lws_service(s->ctx, 0);
        return NULL;
}

static void lws_log_emit(int level, const char *line)
{
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
        log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARNING, "libwebsockets: %.*s", (int)n, line);
}

/* auth's revoke hook (an HTTP thread): sessions or tokens ended; the service thread closes the
 * WebSockets opened with them. */
static void auth_revoked(void *user)
{
        struct ws_server *s = user;
        pthread_mutex_lock(&s->mu);
        if (s->live) {
                s->recheck = true;
                if (!s->wake_pending) {
                        s->wake_pending = true;
                        lws_cancel_service(s->ctx);
                }
        }
        pthread_mutex_unlock(&s->mu);
}

int ws_start(const struct ws_opts *o, struct ws_server **ret, char *msg, size_t msg_size)
{
        struct ws_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->o = *o;
        pthread_mutex_init(&s->mu, NULL);
        atomic_init(&s->stop, false);
        lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
        struct lws_context_creation_info info;
        memset(&info, 0, sizeof(info));
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.protocols = protocols;
        info.vhost_name = "corral";
        info.user = s;
        info.gid = -1;
        info.uid = -1;
        info.max_http_header_data = 8192; /* browsers send cookies with the upgrade */
        info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
        int r = ws_events_init(s);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot subscribe the WebSocket server to events");
                ws_stop(s);
                return r;
        }
        s->ctx = lws_create_context(&info);
        s->vhost = s->ctx ? lws_get_vhost_by_name(s->ctx, "corral") : NULL;
        if (!s->vhost) {
                snprintf(msg, msg_size, "cannot create the WebSocket (libwebsockets) context");
                ws_stop(s);
                return -ENOMEM;
        }
        r = ws_relay_init(s);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot set up console relays to the farm's other hosts");
                ws_stop(s);
                return r;
        }
        /* Under mu: event subscribers (worker threads) read live and ctx in ws_wake() already. */
        pthread_mutex_lock(&s->mu);
        s->live = true;
        pthread_mutex_unlock(&s->mu);
        r = pthread_create(&s->thread, NULL, service_main, s);
        if (r) {
                snprintf(msg, msg_size, "cannot start the WebSocket thread: %s", strerror(r));
                ws_stop(s);
                return -r;
        }
        s->thread_started = true;
        auth_on_revoke(o->auth, auth_revoked, s);
        *ret = s;
        return 0;
}

int ws_adopt(struct ws_server *s, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
        int r = 0, sndbuf = WS_SNDBUF;
        struct ws_adoptee a = { .fd = fd };
        memcpy(&a.addr, addr, addrlen < sizeof(a.addr) ? addrlen : sizeof(a.addr));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        pthread_mutex_lock(&s->mu);
        if (!s->live)
                r = -ESHUTDOWN;
        else if (s->nadopt == WS_ADOPT_QUEUE)
                r = -EAGAIN;
        else
                s->adopt[s->nadopt++] = a;
        if (r == 0 && !s->wake_pending) {
                s->wake_pending = true;
                lws_cancel_service(s->ctx);
        }
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
                close(fd);
                conn_budget_put(s->o.budget, addr, CONN_WS);
        }
        return r;
}

struct ws_server *ws_stop(struct ws_server *s)
{
        if (!s)
                return NULL;
        auth_on_revoke(s->o.auth, NULL, NULL);
        ws_events_unsubscribe(s); /* no more bus callbacks after this */
        if (s->thread_started) {
                atomic_store(&s->stop, true);
                lws_cancel_service(s->ctx);
                pthread_join(s->thread, NULL);
        }
        pthread_mutex_lock(&s->mu);
        s->live = false; /* console wakes from workers are ignored from now on */
        for (unsigned i = 0; i < s->nadopt; i++) {
                close(s->adopt[i].fd);
                conn_budget_put(s->o.budget, (struct sockaddr *)&s->adopt[i].addr, CONN_WS);
        }
        s->nadopt = 0;
        pthread_mutex_unlock(&s->mu);
        if (s->ctx)
                lws_context_destroy(s->ctx); /* closes every session (CLOSED callbacks) */
        ws_relay_fini(s);
        ws_events_free_ring(s);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
}
