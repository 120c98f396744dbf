/* Consoles across the farm: /ws/v1/boards/{id}/console opened here for a board attached to another
 * host is relayed (browsers do not follow redirects on a WebSocket upgrade). This host checks the
 * viewer's token or session as for any console, then opens a libwebsockets client connection to
 * the owning host's advertised URL carrying the farm credential and the viewer's identity, and
 * pipes frames both ways (fragments and text/binary kept). The owning host enforces the write
 * lock, roles and leases on that identity. Protocol notes: api/websocket.md "Farm relays". */
#include "ws_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "farm/farm_auth.h"
#include "farm/farm_routes.h"
#include "log.h"
#include "store/store_hosts.h"

#define WS_PROTOCOL "corral.v1"
#define RELAY_PROTOCOL "corral-relay" /* the client side's callbacks, on a vhost of its own */
#define HDR_SECRET "x-corral-farm:"
#define HDR_USER "x-corral-farm-user:"
#define HDR_ROLE "x-corral-farm-role:"
#define HDR_HOST "x-corral-farm-host:"
/* Bytes queued one way before reading the other side pauses (flow control), and resumes. */
#define RELAY_HIGH (256 * 1024)
#define RELAY_LOW (64 * 1024)
#define RELAY_PIECES_PER_WRITEABLE 16
#define RELAY_CLOSE_GATEWAY 1014 /* RFC 6455 registry: "Bad Gateway" */

/* One received piece of a message, to be written as one frame fragment on the other side. */
struct relay_piece {
        struct relay_piece *next;
        size_t len;
        int flags;                      /* enum lws_write_protocol (| LWS_WRITE_NO_FIN) */
        unsigned char buf[];            /* LWS_PRE headroom, then len bytes */
};

struct relay_queue {
        struct relay_piece *head, *tail;
        size_t bytes;
        bool in_msg;                    /* the last piece queued did not end its message */
        bool paused;                    /* the producing side's reading is paused */
};

struct ws_relay {
        struct ws_session *ss;          /* the viewer's session on this host; NULL once it closed */
        struct lws *client;             /* the connection to the owning host; NULL when none */
        bool client_gone;               /* it failed or ended (or was never made) */
        bool established;
        struct relay_queue up, down;    /* viewer -> owning host, owning host -> viewer */
        struct farm_route route;
        char user[64];                  /* the viewer's identity as sent to the owning host */
        enum auth_role role;
        char me[64];                    /* this host's name (X-Corral-Farm-Host) */
        struct ws_server *s;
        char addr[256], hostport[300], path[420];
        unsigned close_code;            /* how the viewer's socket ends once the peer is gone */
        char close_why[124];
};

/* ---- queues ---- */

static int queue_push(struct relay_queue *q, struct lws *from, const void *in, size_t len, bool end)
{
        struct relay_piece *p = malloc(sizeof(*p) + LWS_PRE + len);
        if (!p)
                return -ENOMEM;
        p->next = NULL;
        p->len = len;
        if (len)
                memcpy(p->buf + LWS_PRE, in, len);
        p->flags = q->in_msg ? LWS_WRITE_CONTINUATION : lws_frame_is_binary(from) ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
        if (!end)
                p->flags |= LWS_WRITE_NO_FIN;
        q->in_msg = !end;
        if (q->tail)
                q->tail->next = p;
        else
                q->head = p;
        q->tail = p;
        q->bytes += len;
        if (q->bytes > RELAY_HIGH && !q->paused) {
                q->paused = true;
                lws_rx_flow_control(from, 0);
        }
        return 0;
}

static void queue_clear(struct relay_queue *q)
{
        while (q->head) {
                struct relay_piece *p = q->head;
                q->head = p->next;
                free(p);
        }
        q->tail = NULL;
        q->bytes = 0;
}

/* Write queued pieces to wsi while it takes them; resume producer's reading once drained below
 * the low mark. -1 on a write failure, 1 when pieces remain, 0 when empty. */
static int queue_drain(struct relay_queue *q, struct lws *wsi, struct lws *producer)
{
        for (int i = 0; q->head && i < RELAY_PIECES_PER_WRITEABLE; i++) {
                struct relay_piece *p = q->head;
                if (lws_write(wsi, p->buf + LWS_PRE, p->len, (enum lws_write_protocol)p->flags) < (int)p->len)
                        return -1;
                q->head = p->next;
                if (!q->head)
                        q->tail = NULL;
                q->bytes -= p->len;
                free(p);
                if (lws_send_pipe_choked(wsi))
                        break;
        }
        if (q->paused && q->bytes < RELAY_LOW && producer) {
                q->paused = false;
                lws_rx_flow_control(producer, 1);
        }
        return q->head ? 1 : 0;
}

/* A received piece ends its message when it ends the frame and the frame has FIN. */
static bool piece_ends_message(struct lws *wsi)
{
        return lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
}

/* ---- the relay's life ---- */

static void relay_free(struct ws_relay *r)
{
        queue_clear(&r->up);
        queue_clear(&r->down);
        free(r);
}

/* The owning host's side ended (or never started): the viewer's socket closes once what it
 * already sent is written, with the reason set before (or "host unreachable"). */
static void peer_gone(struct ws_relay *r, struct lws *wsi)
{
        if (wsi)
                lws_set_opaque_user_data(wsi, NULL);
        r->client = NULL;
        r->client_gone = true;
        queue_clear(&r->up);
        if (!r->close_why[0]) {
                r->close_code = RELAY_CLOSE_GATEWAY;
                snprintf(r->close_why, sizeof(r->close_why), "host unreachable: %s: connection lost", r->route.host);
        }
        if (r->ss)
                lws_callback_on_writable(r->ss->wsi);
        else
                relay_free(r);
}

static void peer_failed(struct ws_relay *r, struct lws *wsi, const char *why, size_t len)
{
        unsigned status = wsi ? lws_http_client_http_response(wsi) : 0;
        r->close_code = RELAY_CLOSE_GATEWAY;
        if (status && status != 101)
                snprintf(r->close_why, sizeof(r->close_why), "host %s refused the console relay (HTTP %u)",
                         r->route.host, status);
        else
                snprintf(r->close_why, sizeof(r->close_why), "host unreachable: %s (%.*s)", r->route.host,
                         (int)(why ? len : 0), why ? why : "");
        log_notice("console relay of board %s to host %s (%s): %s", r->ss ? r->ss->board : "?", r->route.host,
                   r->route.api_url, r->close_why);
        peer_gone(r, wsi);
}

/* The peer's close frame: kept for the viewer when it gives a reason. */
static void peer_closing(struct ws_relay *r, const unsigned char *in, size_t len)
{
        if (len <= 2)
                return;
        r->close_code = (unsigned)in[0] << 8 | in[1];
        size_t n = len - 2 < sizeof(r->close_why) - 1 ? len - 2 : sizeof(r->close_why) - 1;
        memcpy(r->close_why, in + 2, n);
        r->close_why[n] = '\0';
}

/* Headers of the upgrade to the owning host: the farm credential (never logged) and on whose
 * behalf. */
static int append_headers(struct ws_relay *r, struct lws *wsi, unsigned char **p, size_t room)
{
        unsigned char *end = *p + room;
        const struct config *cfg = config_live_get(r->s->o.config);
        int bad = !farm_secret_configured(cfg) ||
                  lws_add_http_header_by_name(wsi, (const unsigned char *)HDR_SECRET,
                                              (const unsigned char *)cfg->farm_secret, (int)strlen(cfg->farm_secret),
                                              p, end);
        config_put(cfg);
        const char *role = auth_role_name(r->role);
        bad = bad ||
              lws_add_http_header_by_name(wsi, (const unsigned char *)HDR_USER, (const unsigned char *)r->user,
                                          (int)strlen(r->user), p, end) ||
              lws_add_http_header_by_name(wsi, (const unsigned char *)HDR_ROLE, (const unsigned char *)role,
                                          (int)strlen(role), p, end) ||
              lws_add_http_header_by_name(wsi, (const unsigned char *)HDR_HOST, (const unsigned char *)r->me,
                                          (int)strlen(r->me), p, end);
        return bad ? -1 : 0;
}

static int relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
        struct ws_relay *r = lws_get_opaque_user_data(wsi);
        switch (reason) {
        case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
                return r ? append_headers(r, wsi, in, len) : -1;
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
                if (!r)
                        return -1;
                r->established = true;
                if (r->up.head)
                        lws_callback_on_writable(wsi);
                return 0;
        case LWS_CALLBACK_CLIENT_RECEIVE:
                if (!r || !r->ss)
                        return -1;
                if (queue_push(&r->down, wsi, in, len, piece_ends_message(wsi)) < 0)
                        return -1;
                lws_callback_on_writable(r->ss->wsi);
                return 0;
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
                if (!r || !r->ss)
                        return -1;
                int d = queue_drain(&r->up, wsi, r->ss->wsi);
                if (d > 0)
                        lws_callback_on_writable(wsi);
                return d < 0 ? -1 : 0;
        }
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
                if (r)
                        peer_closing(r, in, len);
                return 0;
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
                if (r)
                        peer_failed(r, wsi, in, in ? strnlen(in, len ? len : 120) : 0);
                return 0;
        case LWS_CALLBACK_CLIENT_CLOSED:
        case LWS_CALLBACK_WSI_DESTROY:
                if (r)
                        peer_gone(r, wsi);
                return 0;
        default:
                return 0;
        }
}

static const struct lws_protocols relay_protocols[] = {
        { RELAY_PROTOCOL, relay_callback, 0, 4096, 0, NULL, 0 },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- the server's side ---- */

int ws_relay_init(struct ws_server *s)
{
        struct lws_context_creation_info info;
        memset(&info, 0, sizeof(info));
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.protocols = relay_protocols;
        info.vhost_name = "corral-relay"; /* no listener, no adoption: only our client connections */
        info.gid = -1;
        info.uid = -1;
        s->relay_vhost = lws_create_vhost(s->ctx, &info);
        if (!s->relay_vhost)
                return -ENOMEM;
        unsigned stale_s = 15;
        if (s->o.config) {
                const struct config *cfg = config_live_get(s->o.config);
                stale_s = cfg->host_stale_s ? cfg->host_stale_s : stale_s;
                config_put(cfg);
        }
        /* A host that stops answering without closing (network gone, frozen) is given up after
         * the farm's own bound: PING after a third of it idle, hang up after all of it. */
        s->relay_retry.secs_since_valid_ping = (uint16_t)(stale_s / 3 ? stale_s / 3 : 1);
        s->relay_retry.secs_since_valid_hangup = (uint16_t)(stale_s > 2 ? stale_s : 2);
        return farm_routes_start(s->o.store, stale_s * 1000 / 3, &s->routes);
}

void ws_relay_fini(struct ws_server *s)
{
        s->routes = farm_routes_stop(s->routes);
}

bool ws_relay_route(struct ws_server *s, const char *board, struct farm_route *ret)
{
        return farm_routes_lookup(s->routes, board, ret) == 0;
}

void ws_relay_missed(struct ws_server *s)
{
        farm_routes_kick(s->routes);
}

/* Copy the custom header name (with its ':') into dst; -1 when absent or too long. */
static int header(struct lws *wsi, const char *name, char *dst, size_t size)
{
        int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
        if (n < 0 || (size_t)n >= size)
                return -1;
        return lws_hdr_custom_copy(wsi, dst, (int)size, name, (int)strlen(name)) < 0 ? -1 : 0;
}

int ws_relay_identify(struct ws_server *s, struct lws *wsi, struct auth_identity *who)
{
        if (lws_hdr_custom_length(wsi, HDR_SECRET, (int)strlen(HDR_SECRET)) < 0)
                return 1;
        char secret[sizeof(((struct config *)0)->farm_secret) + 1] = "", role[16] = "", from[64] = "?";
        int r = header(wsi, HDR_SECRET, secret, sizeof(secret));
        const struct config *cfg = config_live_get(s->o.config);
        bool ok = r == 0 && farm_secret_matches(cfg, secret);
        config_put(cfg);
        explicit_bzero(secret, sizeof(secret));
        (void)header(wsi, HDR_HOST, from, sizeof(from));
        memset(who, 0, sizeof(*who));
        if (ok && (header(wsi, HDR_USER, who->name, sizeof(who->name)) < 0 || !who->name[0] ||
                   header(wsi, HDR_ROLE, role, sizeof(role)) < 0 || auth_role_parse(role, &who->role) < 0))
                ok = false;
        if (!ok) {
                log_warning("refused a console relay from host '%.63s': the farm credential or the identity it "
                            "carries is not valid", from);
                return -EPERM;
        }
        return 0;
}

/* Percent-encode s into out (always terminated). */
static void urlencode(const char *s, char *out, size_t size)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (; *s && o + 4 < size; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
                        out[o++] = (char)c;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                }
        }
        out[o] = '\0';
}

/* Where to connect: address, port and TLS from the route's advertised URL. */
static int target(struct ws_relay *r, int *port, bool *tls, char *msg, size_t msg_size)
{
        char url[sizeof(r->route.api_url)];
        snprintf(url, sizeof(url), "%s", r->route.api_url);
        const char *prot = NULL, *ads = NULL, *path = NULL;
        if (!url[0] || lws_parse_uri(url, &prot, &ads, port, &path) || !ads || !*ads) {
                snprintf(msg, msg_size, "host unreachable: %s advertises no usable URL", r->route.host);
                return -EHOSTUNREACH;
        }
        *tls = !strcmp(prot, "https");
        snprintf(r->addr, sizeof(r->addr), "%s", ads);
        snprintf(r->hostport, sizeof(r->hostport), strchr(ads, ':') ? "[%s]:%d" : "%s:%d", ads, *port);
        return 0;
}

int ws_relay_open(struct ws_session *ss, const char *board, const char *name, const struct farm_route *route,
                  char *msg, size_t msg_size)
{
        struct ws_server *s = ss->s;
        snprintf(ss->board, sizeof(ss->board), "%s", board);
        const struct config *cfg = config_live_get(s->o.config);
        bool have_secret = farm_secret_configured(cfg);
        config_put(cfg);
        if (!have_secret) {
                snprintf(msg, msg_size, "board on host %s: set farm_secret on every host to relay it", route->host);
                return -EPERM;
        }
        struct ws_relay *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->s = s;
        r->route = *route;
        snprintf(r->user, sizeof(r->user), "%s", ss->who.name);
        /* With auth off here everyone is an anonymous "admin", whom leases must still exclude; the
         * owning host would read admin as "may override leases": send operator instead. */
        r->role = !auth_enabled(s->o.auth) && ss->who.role > AUTH_ROLE_OPERATOR ? AUTH_ROLE_OPERATOR : ss->who.role;
        snprintf(r->me, sizeof(r->me), "%s", s->o.store ? store_host_name(s->o.store) : "");
        int port = 0;
        bool tls = false;
        int rc = target(r, &port, &tls, msg, msg_size);
        if (rc < 0) {
                relay_free(r);
                return rc;
        }
        char enc_board[220], enc_name[150];
        urlencode(board, enc_board, sizeof(enc_board));
        urlencode(name, enc_name, sizeof(enc_name));
        snprintf(r->path, sizeof(r->path), "/ws/v1/boards/%s/console?name=%s", enc_board, enc_name);
        ss->relay = r;
        r->ss = ss;
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.context = s->ctx;
        ci.vhost = s->relay_vhost;
        ci.address = r->addr;
        ci.port = port;
        ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
        ci.path = r->path;
        ci.host = r->hostport;
        ci.protocol = WS_PROTOCOL;
        ci.local_protocol_name = RELAY_PROTOCOL;
        ci.ietf_version_or_minus_one = -1;
        ci.opaque_user_data = r;
        ci.retry_and_idle_policy = &s->relay_retry;
        struct lws *c = lws_client_connect_via_info(&ci);
        if (!r->client_gone) /* a failure may have been reported (and r->client cleared) inside the call */
                r->client = c;
        if (!c && !r->client_gone)
                peer_failed(r, NULL, "cannot start the connection", 27);
        return 0;
}

void ws_relay_close(struct ws_session *ss)
{
        struct ws_relay *r = ss->relay;
        if (!r)
                return;
        ss->relay = NULL;
        r->ss = NULL;
        queue_clear(&r->down);
        if (r->client_gone)
                relay_free(r);
        else if (r->client) /* freed when its connection ends (peer_gone) */
                lws_set_timeout(r->client, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

int ws_relay_receive(struct ws_session *ss, const void *in, size_t len)
{
        struct ws_relay *r = ss->relay;
        if (!r || r->client_gone)
                return 0; /* the owning host is gone: the socket is closing with the reason */
        if (queue_push(&r->up, ss->wsi, in, len, piece_ends_message(ss->wsi)) < 0)
                return -1;
        if (r->client && r->established)
                lws_callback_on_writable(r->client);
        return 0;
}

int ws_relay_writeable(struct ws_session *ss)
{
        struct ws_relay *r = ss->relay;
        if (!r)
                return -1;
        int d = queue_drain(&r->down, ss->wsi, r->client);
        if (d < 0)
                return -1;
        if (d > 0) {
                lws_callback_on_writable(ss->wsi);
                return 0;
        }
        if (r->client_gone) {
                lws_close_reason(ss->wsi, (enum lws_close_status)r->close_code, (unsigned char *)r->close_why,
                                 strlen(r->close_why));
                return -1;
        }
        return 0;
}
