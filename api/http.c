/* corrald's HTTP side: one listening socket shared by REST and WebSocket (the front door splits
 * connections between libmicrohttpd and libwebsockets); the MHD part accumulates bodies within
 * limits, splits the path, dispatches to the resource handlers and turns every failure into a
 * JSON error with the right status. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "conn_budget.h"
#include "jobs/console.h"
#include "log.h"
#include "registry.h"
#include "store/store_audit.h"
#include "ws.h"
#include "ws_frontdoor.h"
#include "util.h"

struct http_server {
        struct MHD_Daemon *mhd;
        struct ws_server *ws;
        struct frontdoor *door;
        struct http_ctx ctx;
        unsigned port;
        struct conn_budget *budget; /* HTTP + WebSocket connections per address (max_connections...) */
};

struct conn_state {
        char *body;
        size_t len, cap;
        bool too_big;
        struct api_upload *upload; /* POST /api/v1/firmware: streamed to a file, cfg->max_upload */
        int64_t wait_until_ms;     /* POST /api/v1/reservations with wait_s: suspended until then */
        bool refused;              /* no valid credentials at the first call: the body is dropped */
        bool dropped;              /* refused, and body bytes arrived (and were dropped) */
        size_t max_body;           /* the limit when the request began (a reload meanwhile does not move it) */
};

/* MHD_OPTION_UNESCAPE_CALLBACK: keep the URL and query arguments as sent. MHD's own decoding
 * plus ours decoded twice ("%2500" became "%00", then NUL), and a decoded %00 cut the path. */
static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
        (void)cls;
        (void)conn;
        return strlen(s);
}

/* A header's value, or NULL when absent; -EINVAL (and NULL) when it holds a NUL byte, which would
 * otherwise cut it short (a token "abc\0junk" must not pass as "abc"). libmicrohttpd 0.9.75
 * measures header values with strlen() and keeps them in place in its read buffer, where it
 * zeroes the line's CR and LF: after a whole value comes "\0\0" (or "\0" and more zeroes), after
 * a value cut by a NUL the rest of the line. So a non-blank byte right after the terminator means
 * a NUL inside (a bare-LF line end looks the same and is refused too: send CRLF). */
static int header_value(struct MHD_Connection *conn, const char *name, const char **ret)
{
        const char *v = NULL;
        size_t n = 0;
        *ret = NULL;
        if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) != MHD_YES || !v)
                return 0;
        if (strlen(v) != n)
                return -EINVAL;
        /* The head always ends with a zeroed blank line, so this scan stops inside the buffer. */
        for (const char *p = v + n + 1; *p; p++)
                if (*p != ' ' && *p != '\t')
                        return -EINVAL;
        *ret = v;
        return 0;
}

/* Who sends rq (sets rq->who); 0 or what auth_check says. */
static int identify(struct api_req *rq)
{
        const char *authz, *cookie;
        if (header_value(rq->conn, MHD_HTTP_HEADER_AUTHORIZATION, &authz) < 0 ||
            header_value(rq->conn, MHD_HTTP_HEADER_COOKIE, &cookie) < 0)
                return -EACCES;
        return auth_check(rq->ctx->auth, authz, cookie, util_wall_ms(), &rq->who);
}

/* The auth gate: true when rq may go on; else *reply holds the 401/403 already queued. */
static bool authorized(struct api_req *rq, enum auth_role need, enum MHD_Result *reply)
{
        if (need == AUTH_ROLE_NONE)
                return true;
        int r = identify(rq);
        if (r < 0) {
                api_add_header(rq, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                               r == -ENOKEY ? "Bearer realm=\"corral\"" : "Bearer realm=\"corral\", error=\"invalid_token\"");
                *reply = r == -ENOKEY
                                 ? api_reply_error(rq, CORRAL_E_UNAUTHORIZED, NULL,
                                                   "This needs a token: send 'Authorization: Bearer TOKEN' or log in "
                                                   "with POST /api/v1/login.")
                                 : api_reply_error(rq, CORRAL_E_INVALID_TOKEN, NULL,
                                                   "The token or session is not valid (unknown, revoked or expired).");
                return false;
        }
        if (rq->who.role < need) {
                *reply = api_reply_error(rq, CORRAL_E_FORBIDDEN,
                                         json_pack("{s:s, s:s, s:s}", "required_role", auth_role_name(need), "role",
                                                   auth_role_name(rq->who.role), "token", rq->who.name),
                                         "This needs the %s role; token '%s' has the %s role.", auth_role_name(need),
                                         rq->who.name, auth_role_name(rq->who.role));
                return false;
        }
        return true;
}

static enum MHD_Result dispatch(struct api_req *rq)
{
        const char *url = rq->url;
        enum MHD_Result reply;
        if (!strncmp(url, "/ws/", 4))
                return api_reply_error(rq, CORRAL_E_WEBSOCKET_ON_REUSED_CONNECTION, NULL,
                                       "A WebSocket upgrade must be the first request on its connection; this "
                                       "connection already carried HTTP requests.");
        if (!strcmp(url, "/metrics"))
                return authorized(rq, AUTH_ROLE_VIEWER, &reply) ? routes_metrics(rq) : reply;
        if (strncmp(url, "/api/", 5) != 0)
                return routes_static(rq);
        char path[2048];
        if (strlen(url) >= sizeof(path))
                return api_reply_error(rq, CORRAL_E_URI_TOO_LONG, NULL, "The request path is too long.");
        snprintf(path, sizeof(path), "%s", url + 5);
        int sp = api_split_path(path, rq->segs, API_MAX_SEGS, &rq->nsegs);
        if (sp < 0)
                return api_reply_error(rq, CORRAL_E_BAD_PATH, json_pack("{s:s}", "path", url), "%s",
                                       sp == -ENOENT  ? "The request path has an empty segment ('//')."
                                       : sp == -E2BIG ? "The request path has too many parts."
                                                      : "The request path has a bad escape (%XX, and never %00).");
        if (rq->nsegs < 2 || strcmp(rq->segs[0], "v1"))
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", url),
                                       "No such API path '%s'; the API lives under /api/v1/.", url);
        /* Drop "v1". */
        for (int i = 1; i < rq->nsegs; i++)
                rq->segs[i - 1] = rq->segs[i];
        rq->nsegs--;
        const char *res = rq->segs[0];
        if (!authorized(rq, api_role_needed(rq->method, rq->segs, rq->nsegs), &reply))
                return reply;
        if (routes_auth_owns(res))
                return routes_auth(rq);
        if (!strcmp(res, "health"))
                return routes_health(rq);
        if (!strcmp(res, "boards"))
                return routes_boards(rq);
        if (!strcmp(res, "hosts"))
                return routes_hosts(rq);
        if (!strcmp(res, "jobs"))
                return routes_jobs(rq);
        if (!strcmp(res, "events"))
                return routes_events(rq);
        if (!strcmp(res, "firmware"))
                return routes_firmware(rq);
        if (!strcmp(res, "reservations"))
                return routes_reservations(rq);
        return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", url), "No such API path '%s'.", url);
}

/* Between requests (and while an unauthenticated body arrives) a connection has head_timeout. */
static uint64_t idle_deadline(struct http_server *s)
{
        const struct config *cfg = config_live_get(s->ctx.config);
        uint64_t t = (uint64_t)cfg->head_timeout_s * 1000u;
        config_put(cfg);
        return util_mono_ms() + t;
}

/* The budget's watch on conn, NULL if none. */
static struct conn_watch *watch_of(struct http_server *s, struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci && ci->socket_context && ci->socket_context != s ? ci->socket_context : NULL;
}

/* The first call for a request: its state, whether its credentials let its body in, and where
 * the body goes (an upload's file, or memory up to max_body). */
static enum MHD_Result begin_request(struct http_server *s, struct MHD_Connection *conn, const char *url,
                                     const char *method, void **con_cls)
{
        struct conn_state *cs = calloc(1, sizeof(*cs));
        if (!cs)
                return MHD_NO;
        *con_cls = cs;
        const struct config *cfg = config_live_get(s->ctx.config);
        cs->max_body = cfg->max_body;
        config_put(cfg);
        /* No valid credentials (or an upload without the operator role): the body is not
         * kept, and dispatch() answers 401/403 once it has arrived. */
        bool is_api = !strncmp(url, "/api/", 5) || !strcmp(url, "/metrics");
        bool public = !strcmp(url, "/api/v1/login") || !strcmp(url, "/api/v1/logout") ||
                      !strcmp(url, "/api/v1/health/live");
        if (is_api && !public) {
                struct api_req pre = { .conn = conn, .ctx = &s->ctx, .method = method, .url = url };
                cs->refused = identify(&pre) < 0 ||
                              (api_upload_wanted(method, url) && pre.who.role < AUTH_ROLE_OPERATOR);
        }
        /* Served from now on; a refused body still has the head's deadline. */
        conn_budget_busy(s->budget, watch_of(s, conn), !cs->refused, idle_deadline(s));
        if (cs->refused)
                return MHD_YES;
        if (api_upload_wanted(method, url)) {
                cs->upload = api_upload_new(conn, &s->ctx);
                return cs->upload ? MHD_YES : MHD_NO;
        }
        /* Refuse early when the declared length is over the limit. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > cs->max_body)
                cs->too_big = true;
        return MHD_YES;
}

/* Body bytes: streamed to the upload, kept up to max_body (beyond: too_big, the bytes dropped),
 * or dropped unread for a refused request. */
static enum MHD_Result take_body(struct conn_state *cs, const char *upload_data, size_t *upload_data_size)
{
        if (cs->upload) {
                api_upload_data(cs->upload, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        cs->dropped = cs->dropped || cs->refused;
        if (!cs->too_big && !cs->refused) {
                if (cs->len + *upload_data_size > cs->max_body) {
                        cs->too_big = true;
                        free(cs->body);
                        cs->body = NULL;
                        cs->len = cs->cap = 0;
                } else {
                        if (cs->len + *upload_data_size + 1 > cs->cap) {
                                size_t cap = cs->cap ? cs->cap * 2 : 4096;
                                while (cap < cs->len + *upload_data_size + 1)
                                        cap *= 2;
                                char *nb = realloc(cs->body, cap);
                                if (!nb)
                                        return MHD_NO;
                                cs->body = nb;
                                cs->cap = cap;
                        }
                        memcpy(cs->body + cs->len, upload_data, *upload_data_size);
                        cs->len += *upload_data_size;
                        cs->body[cs->len] = '\0';
                }
        }
        *upload_data_size = 0;
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        (void)version;
        struct http_server *s = cls;
        struct conn_state *cs = *con_cls;
        if (!cs)
                return begin_request(s, conn, url, method, con_cls);
        if (*upload_data_size)
                return take_body(cs, upload_data, upload_data_size);
        struct api_req rq = { .conn = conn, .ctx = &s->ctx, .method = method, .url = url, .body = cs->body,
                              .body_len = cs->len, .upload = cs->upload, .wait_until_ms = &cs->wait_until_ms,
                              .lease = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Corral-Lease") };
        if (cs->too_big && !cs->refused)
                return api_reply_error(&rq, CORRAL_E_BODY_TOO_LARGE,
                                       json_pack("{s:I}", "limit_bytes", (json_int_t)cs->max_body),
                                       "The request body is larger than the limit of %zu bytes.", cs->max_body);
        enum MHD_Result r;
        if (cs->dropped || (cs->refused && api_upload_wanted(method, url))) {
                /* Same check as at the first call; should the credentials have become valid in
                 * between, the dropped body is still gone: ask for a retry. (A request without a
                 * body lost nothing: it is simply judged by the credentials valid now, in
                 * dispatch(), like any other; a reload between MHD's two calls must not turn a
                 * GET into a 409. An upload never set up its receiver: it stays on this path.) */
                if (authorized(&rq, api_upload_wanted(method, url) ? AUTH_ROLE_OPERATOR : AUTH_ROLE_VIEWER, &r))
                        r = api_reply_error(&rq, CORRAL_E_RETRY, NULL,
                                            "The credentials changed while the body was sent; send the request again.");
        } else {
                r = dispatch(&rq);
        }
        /* Audit: mutating requests by someone known, once answered (not while parked). */
        if (rq.status && rq.who.role != AUTH_ROLE_NONE && strcmp(method, "GET") && strcmp(method, "HEAD")) {
                int e = store_audit_add(s->ctx.store, rq.who.name, method, url, rq.status);
                if (e < 0)
                        log_warning("audit: cannot record %s %s by %s: %s", method, url, rq.who.name, strerror(-e));
        }
        for (int i = 0; i < rq.nqcopy; i++)
                free(rq.qcopy[i]);
        return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        (void)toe;
        struct http_server *s = cls;
        conn_budget_busy(s->budget, watch_of(s, conn), false, idle_deadline(s)); /* keep-alive: next head */
        struct conn_state *cs = *con_cls;
        if (cs) {
                free(cs->body);
                api_upload_free(cs->upload);
                free(cs);
                *con_cls = NULL;
        }
}

/* Bind and listen on cfg->listen_host:listen_port (non-blocking). Returns the fd or -errno. */
static int listen_on(const struct config *cfg, unsigned *ret_port, char *msg, size_t msg_size)
{
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        socklen_t slen;
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, cfg->listen_host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)cfg->listen_port);
                slen = sizeof(*in4);
        } else if (inet_pton(AF_INET6, cfg->listen_host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)cfg->listen_port);
                slen = sizeof(*in6);
        } else if (!strcmp(cfg->listen_host, "localhost")) {
                in4->sin_family = AF_INET;
                in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                in4->sin_port = htons((uint16_t)cfg->listen_port);
                slen = sizeof(*in4);
        } else {
                snprintf(msg, msg_size, "listen host '%s' is not an IP address", cfg->listen_host);
                return -EINVAL;
        }
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                int e = errno;
                snprintf(msg, msg_size, "cannot create a socket: %s", strerror(e));
                return -e;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 128) < 0) {
                int e = errno;
                snprintf(msg, msg_size, "cannot listen on %s:%u (%s)", cfg->listen_host, cfg->listen_port,
                         strerror(e));
                close(fd);
                return -e;
        }
        slen = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &slen);
        *ret_port = ss.ss_family == AF_INET6 ? ntohs(in6->sin6_port) : ntohs(in4->sin_port);
        return fd;
}

/* MHD's view of the budget: counted by door_to_http, given back when MHD closes the socket.
 * socket_context: the budget's watch (idle deadline between requests), or s without one. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
        struct http_server *s = cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                /* Its head is complete (the front door saw it): the first request starts now. */
                const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                struct conn_watch *w = fi ? conn_budget_watch(s->budget, fi->connect_fd, idle_deadline(s)) : NULL;
                *socket_context = w ? (void *)w : (void *)s;
                return;
        }
        if (!*socket_context)
                return;
        if (*socket_context != s)
                conn_budget_unwatch(s->budget, *socket_context); /* before MHD closes the fd */
        *socket_context = NULL;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        conn_budget_put(s->budget, ci ? ci->client_addr : NULL, CONN_HTTP);
}

/* Count a connection handed over by the front door against max_connections (503) and
 * max_connections_per_address (429); false when refused (fd answered and closed). */
static bool budget_admit(struct http_server *s, int fd, const struct sockaddr *addr, enum conn_kind kind)
{
        const struct config *cfg = config_live_get(s->ctx.config);
        unsigned limit = cfg->max_connections, per_addr = cfg->max_connections_per_address;
        config_put(cfg);
        int r = conn_budget_take(s->budget, addr, kind, limit, per_addr);
        if (r == -EBUSY) {
                conn_budget_refused(s->budget, CONN_REFUSED_MAX_CONNECTIONS);
                frontdoor_refuse(fd, CORRAL_E_TOO_MANY_CONNECTIONS, json_pack("{s:i}", "limit", (int)limit),
                                 "corrald already serves its limit of %u connections (max_connections); try "
                                 "again shortly.", limit);
                return false;
        }
        if (r == -EUSERS) {
                conn_budget_refused(s->budget, CONN_REFUSED_PER_ADDRESS);
                frontdoor_refuse(fd, CORRAL_E_TOO_MANY_CONNECTIONS_FROM_ADDRESS,
                                 json_pack("{s:i}", "limit", (int)per_addr),
                                 "Your address already holds %u connections, its limit "
                                 "(max_connections_per_address); close some or try again shortly.", per_addr);
                return false;
        }
        if (r < 0) {
                close(fd);
                return false;
        }
        return true;
}

static void door_to_http(void *user, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
        struct http_server *s = user;
        if (!budget_admit(s, fd, addr, CONN_HTTP))
                return;
        /* MHD closes the socket itself when it cannot take it. */
        if (MHD_add_connection(s->mhd, fd, addr, addrlen) != MHD_YES) {
                log_warning("HTTP: could not take a connection: %s", strerror(errno));
                conn_budget_put(s->budget, addr, CONN_HTTP);
        }
}

static void door_to_ws(void *user, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
        struct http_server *s = user;
        if (!budget_admit(s, fd, addr, CONN_WS))
                return;
        /* ws gives the budget back when the connection ends (or at once on failure) */
        if (ws_adopt(s->ws, fd, addr, addrlen) < 0)
                log_warning("WebSocket: could not take a connection (server busy or stopping)");
}

static void door_limits(void *user, struct frontdoor_limits *l)
{
        struct http_server *s = user;
        const struct config *cfg = config_live_get(s->ctx.config);
        l->head_timeout_ms = cfg->head_timeout_s * 1000u;
        l->pending_per_addr = cfg->max_pending_per_address;
        config_put(cfg);
}

int http_start(const struct http_ctx *ctx, struct http_server **ret, char *msg, size_t msg_size)
{
        struct http_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->ctx = *ctx;
        s->budget = s->ctx.budget = conn_budget_new();
        if (!s->budget) {
                free(s);
                return -ENOMEM;
        }
        /* Listen address, tokens at start: from the config running now. */
        const struct config *cfg = config_live_get(ctx->config);
        /* Tokens first: a non-loopback address without them is refused before binding. */
        int r = auth_new(cfg, &s->ctx.auth, msg, msg_size);
        if (r < 0) {
                config_put(cfg);
                conn_budget_free(s->budget);
                free(s);
                return r;
        }
        int fd = listen_on(cfg, &s->port, msg, msg_size);
        config_put(cfg);
        if (fd < 0) {
                auth_free(s->ctx.auth);
                conn_budget_free(s->budget);
                free(s);
                return fd;
        }
        /* No listener of its own: the front door hands it connections (which needs the ITC). */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                         MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
                         MHD_ALLOW_SUSPEND_RESUME; /* reservations that wait for a board */
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                  /* max_connections is enforced by budget_admit (live on reload,
                                   * with a 503); MHD's own limit is only a backstop. */
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)(65536 + 64),
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                  MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
                                  MHD_OPTION_END);
        if (!s->mhd) {
                snprintf(msg, msg_size, "cannot start the HTTP server (libmicrohttpd)");
                close(fd);
                auth_free(s->ctx.auth);
                conn_budget_free(s->budget);
                free(s);
                return -ENOMEM;
        }
        struct ws_opts wo = { .registry = ctx->registry, .events = ctx->events, .config = ctx->config,
                              .consoles = ctx->consoles, .auth = s->ctx.auth, .budget = s->budget,
                              .store = ctx->store };
        r = ws_start(&wo, &s->ws, msg, msg_size);
        if (r < 0) {
                close(fd);
                MHD_stop_daemon(s->mhd);
                auth_free(s->ctx.auth);
                conn_budget_free(s->budget);
                free(s);
                return r;
        }
        struct frontdoor_opts fo = { .listen_fd = fd, .to_http = door_to_http, .to_ws = door_to_ws,
                                     .limits = door_limits, .budget = s->budget, .user = s };
        r = frontdoor_start(&fo, &s->door);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot start the accept thread: %s", strerror(-r));
                close(fd);
                ws_stop(s->ws);
                MHD_stop_daemon(s->mhd);
                auth_free(s->ctx.auth);
                conn_budget_free(s->budget);
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

unsigned http_port(struct http_server *s)
{
        return s ? s->port : 0;
}

struct http_server *http_stop(struct http_server *s)
{
        if (!s)
                return NULL;
        s->door = frontdoor_stop(s->door); /* no new connections */
        s->ws = ws_stop(s->ws);
        routes_reservations_shutdown(&s->ctx); /* no suspended request outlives MHD */
        MHD_stop_daemon(s->mhd);
        auth_free(s->ctx.auth);
        conn_budget_free(s->budget); /* after every connection closed */
        free(s);
        return NULL;
}

int http_reload(struct http_server *s, const struct config *cfg, char *msg, size_t msg_size)
{
        return s ? auth_reload(s->ctx.auth, cfg, msg, msg_size) : -EINVAL;
}
