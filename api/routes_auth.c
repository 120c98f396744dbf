/* Who may do what, and the auth resources: POST /api/v1/login (token → session cookie),
 * POST /api/v1/logout, GET /api/v1/session (who am I), GET /api/v1/audit and GET
 * /api/v1/tokens (admin). The gate itself runs in http.c's dispatch. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "store/store_audit.h"
#include "util.h"

static bool is_read(const char *method)
{
        return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

enum auth_role api_role_needed(const char *method, char *const *segs, int nsegs)
{
        const char *res = nsegs > 0 ? segs[0] : "";
        if (!strcmp(res, "login") || !strcmp(res, "logout"))
                return AUTH_ROLE_NONE;
        if (!strcmp(res, "health") && nsegs == 2 && !strcmp(segs[1], "live"))
                return AUTH_ROLE_NONE; /* the liveness probe: says "up", nothing else */
        if (!strcmp(res, "audit") || !strcmp(res, "tokens"))
                return AUTH_ROLE_ADMIN;
        if (!strcmp(res, "firmware") && !strcmp(method, "DELETE"))
                return AUTH_ROLE_ADMIN; /* removing firmware (or a known-good pin) */
        return is_read(method) ? AUTH_ROLE_VIEWER : AUTH_ROLE_OPERATOR;
}

bool routes_auth_owns(const char *resource)
{
        static const char *const mine[] = { "login", "logout", "session", "audit", "tokens" };
        for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
                if (!strcmp(resource, mine[i]))
                        return true;
        return false;
}

static json_t *identity_json(const struct auth_identity *who, bool enabled)
{
        return json_pack("{s:b, s:s, s:s, s:s}", "auth", enabled, "name", who->name, "role", auth_role_name(who->role),
                         "via", !enabled ? "none" : who->session ? "session" : "bearer");
}

/* The client's address as text ("?" when unknown), for the per-address login limit and logs. */
static void client_addr(struct api_req *rq, char *out, size_t size)
{
        snprintf(out, size, "?");
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

static enum MHD_Result login(struct api_req *rq)
{
        enum MHD_Result reply;
        json_t *body = api_body_json(rq, &reply);
        if (!body)
                return reply;
        const char *secret = json_string_value(json_object_get(body, "token"));
        if (!secret || !*secret) {
                json_decref(body);
                return api_reply_error(rq, CORRAL_E_INVALID_BODY, NULL, "Log in with {\"token\": \"...\"}.");
        }
        char sid[AUTH_SID_HEX + 1];
        int64_t now = util_wall_ms();
        char addr[INET6_ADDRSTRLEN + 1];
        client_addr(rq, addr, sizeof(addr));
        unsigned retry = 0;
        int r = auth_login_limited(rq->ctx->auth, secret, addr, now, sid, &rq->who, &retry);
        /* Wipe the secret's copies: the parsed string and the request body. */
        explicit_bzero((char *)secret, strlen(secret));
        json_decref(body);
        if (rq->body)
                explicit_bzero((char *)rq->body, rq->body_len);
        if (r == -EOPNOTSUPP)
                return api_reply_error(rq, CORRAL_E_AUTH_DISABLED, NULL,
                                       "No tokens are configured, so there is nothing to log in to: every request is "
                                       "allowed on this loopback address.");
        if (r == -EAGAIN) {
                char ra[16];
                snprintf(ra, sizeof(ra), "%u", retry);
                api_add_header(rq, "Retry-After", ra);
                return api_reply_error(rq, CORRAL_E_TOO_MANY_LOGINS, json_pack("{s:i}", "retry_after_s", (int)retry),
                                       "Too many login attempts from this address or with this token; try again in "
                                       "%u s.", retry);
        }
        if (r == -EACCES) {
                log_warning("login: wrong token from %s", addr);
                api_add_header(rq, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"corral\", error=\"invalid_token\"");
                return api_reply_error(rq, CORRAL_E_INVALID_TOKEN, NULL, "That token is not valid.");
        }
        if (r < 0)
                return api_reply_error(rq, CORRAL_E_INTERNAL, NULL, "Cannot start a session: %s.", strerror(-r));
        char cookie[256];
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d", sid,
                 AUTH_SESSION_TTL_S);
        api_add_header(rq, MHD_HTTP_HEADER_SET_COOKIE, cookie);
        json_t *j = identity_json(&rq->who, true);
        json_object_set_new(j, "expires_in_s", json_integer(AUTH_SESSION_TTL_S));
        return api_reply_json(rq, 200, j);
}

static enum MHD_Result logout(struct api_req *rq)
{
        const char *cookie = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
        /* Who is leaving, for the audit log (no session: not recorded). */
        if (auth_enabled(rq->ctx->auth) && auth_check(rq->ctx->auth, NULL, cookie, util_wall_ms(), &rq->who) < 0)
                memset(&rq->who, 0, sizeof(rq->who));
        int ended = auth_logout(rq->ctx->auth, cookie);
        api_add_header(rq, MHD_HTTP_HEADER_SET_COOKIE, AUTH_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
        return api_reply_json(rq, 200, json_pack("{s:b}", "ended", ended));
}

static enum MHD_Result audit(struct api_req *rq)
{
        const char *l = api_query(rq, "limit");
        long limit = 100;
        if (l) {
                char *end;
                errno = 0;
                limit = strtol(l, &end, 10);
                if (errno || !*l || *end || limit < 1 || limit > STORE_AUDIT_LIST_MAX)
                        return api_reply_error(rq, CORRAL_E_INVALID_QUERY, json_pack("{s:s}", "limit", l),
                                               "'limit' must be a whole number from 1 to %d.", STORE_AUDIT_LIST_MAX);
        }
        json_t *entries = NULL;
        int r = store_audit_list(rq->ctx->store, (int)limit, &entries);
        if (r == -ENOTCONN)
                return api_reply_store_unavailable(rq);
        if (r < 0)
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Cannot read the audit log: %s.", strerror(-r));
        return api_reply_json(rq, 200, json_pack("{s:o}", "entries", entries));
}

static enum MHD_Result tokens(struct api_req *rq)
{
        struct auth_identity *t = calloc(CONFIG_MAX_TOKENS, sizeof(*t));
        if (!t)
                return MHD_NO;
        size_t n = auth_tokens(rq->ctx->auth, t, CONFIG_MAX_TOKENS);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s}", "name", t[i].name, "role", auth_role_name(t[i].role)));
        free(t);
        return api_reply_json(rq, 200, json_pack("{s:o}", "tokens", arr));
}

enum MHD_Result routes_auth(struct api_req *rq)
{
        const char *res = rq->segs[0];
        bool get = is_read(rq->method), post = !strcmp(rq->method, "POST");
        if (rq->nsegs != 1)
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        if (!strcmp(res, "login") && post)
                return login(rq);
        if (!strcmp(res, "logout") && post)
                return logout(rq);
        if (!strcmp(res, "session") && get)
                return api_reply_json(rq, 200, identity_json(&rq->who, auth_enabled(rq->ctx->auth)));
        if (!strcmp(res, "audit") && get)
                return audit(rq);
        if (!strcmp(res, "tokens") && get)
                return tokens(rq);
        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "%s is not allowed on /api/v1/%s.", rq->method, res);
}
