/* /api/v1/reservations: lease a board (optionally waiting, bounded, with the connection suspended
 * rather than a server thread blocked), list and read leases, renew and release them with the
 * lease token (header X-Corral-Lease). The lease logic itself is daemon/reservations.c. */
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "farm/farm.h"
#include "registry.h"
#include "remote/remote.h"
#include "reservations.h"
#include "util.h"

static enum MHD_Result unavailable(struct api_req *rq)
{
        return api_reply_error(rq, CORRAL_E_RESERVATIONS_UNAVAILABLE, NULL,
                               "Reservations are not available (the store could not load them; see the daemon log).");
}

static void resume_connection(void *conn)
{
        MHD_resume_connection(conn);
}

void routes_reservations_shutdown(const struct http_ctx *ctx)
{
        reservations_waiters_close(registry_reservations(ctx->registry));
}

/* "expose": ["rfc2217"]: taken out of the body before the lease is parsed. 0, or replies 400
 * itself (*reply) and returns -1. */
static int take_expose(struct api_req *rq, json_t *body, bool *rfc2217, enum MHD_Result *reply)
{
        json_t *ex = json_object_get(body, "expose");
        *rfc2217 = false;
        if (!ex)
                return 0;
        bool ok = json_is_array(ex) && json_array_size(ex) <= 1;
        for (size_t i = 0; ok && i < json_array_size(ex); i++)
                ok = json_is_string(json_array_get(ex, i)) && !strcmp(json_string_value(json_array_get(ex, i)), "rfc2217");
        if (!ok) {
                *reply = api_reply_error(rq, CORRAL_E_INVALID_EXPOSE, json_pack("{s:s}", "field", "expose"),
                                         "'expose' must be a list of remote ports to open with the lease; the one "
                                         "kind there is: [\"rfc2217\"].");
                return -1;
        }
        if (json_array_size(ex) && json_object_get(body, "boards")) {
                *reply = api_reply_error(rq, CORRAL_E_INVALID_EXPOSE, json_pack("{s:s}", "field", "expose"),
                                         "'expose' goes with a single-board reservation ('match'), not with 'boards'.");
                return -1;
        }
        if (json_array_size(ex) && !rq->ctx->remote) {
                *reply = api_reply_error(rq, CORRAL_E_REMOTE_PORTS_UNAVAILABLE, NULL,
                                         "Remote ports are off on this corrald (see its log).");
                return -1;
        }
        *rfc2217 = json_array_size(ex) == 1;
        json_object_del(body, "expose");
        return 0;
}

static void peer_addr(struct api_req *rq, char *out, size_t size)
{
        out[0] = '\0';
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        if (!sa)
                return;
        socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
                out[0] = '\0';
        if (!strncmp(out, "::ffff:", 7))
                memmove(out, out + 7, strlen(out + 7) + 1);
}

/* Open the lease's remote port (idempotent). On failure the error is replied and, for a lease
 * just created (new_lease), the lease is released again. */
static int expose_rfc2217(struct api_req *rq, struct reservations *rs, json_t *resv, bool new_lease,
                          enum MHD_Result *reply)
{
        const char *board = json_string_value(json_object_get(resv, "board"));
        int64_t id = json_integer_value(json_object_get(resv, "id"));
        char peer[64], url[200], msg[300] = "";
        peer_addr(rq, peer, sizeof(peer));
        json_t *b = NULL;
        const char *family = NULL;
        if (board && registry_board_json(rq->ctx->registry, board, &b) == 0)
                family = json_string_value(json_object_get(b, "family"));
        int rc = remote_expose(rq->ctx->remote, board ? board : "", id,
                               json_string_value(json_object_get(resv, "owner")), peer[0] ? peer : NULL, family, url,
                               sizeof(url), msg, sizeof(msg));
        json_decref(b);
        if (rc < 0 && rc != -EEXIST && !new_lease) {
                *reply = api_reply_error(rq, CORRAL_E_REMOTE_PORT_UNAVAILABLE, json_pack("{s:s}", "board", board ? board : ""),
                                         "%s", msg);
                return -1;
        }
        if (rc < 0 && rc != -EEXIST) {
                struct corral_error err = { 0 };
                json_t *gone = NULL;
                reservations_release(rs, id, json_string_value(json_object_get(resv, "token")), util_wall_ms(), &gone,
                                     &err);
                json_decref(gone);
                corral_error_clear(&err);
                *reply = api_reply_error(rq, CORRAL_E_REMOTE_PORT_UNAVAILABLE, json_pack("{s:s}", "board", board ? board : ""),
                                         "%s The lease was not kept.", msg);
                return -1;
        }
        json_object_set_new(resv, "remote", json_pack("{s:s}", "rfc2217", url));
        return 0;
}

static enum MHD_Result reply_created(struct api_req *rq, json_t *resv)
{
        if (json_object_get(resv, "reservations")) /* several boards by role: one lease each */
                return api_reply_json(rq, 201, resv);
        char loc[64];
        snprintf(loc, sizeof(loc), "/api/v1/reservations/%lld", (long long)json_integer_value(json_object_get(resv, "id")));
        return api_reply_json_at(rq, 201, resv, loc, true);
}

/* POST /reservations. With wait_s, a refusal because every matching board is reserved (or none is
 * online) suspends the connection; it is resumed when a lease ends, every RESV_RETRY_MS, and at
 * the deadline, and this handler runs again from the top. */
static enum MHD_Result create(struct api_req *rq, struct reservations *rs)
{
        if (reservations_waiters_closed(rs))
                return api_reply_error(rq, CORRAL_E_SHUTTING_DOWN, NULL, "corrald is stopping.");
        enum MHD_Result reply;
        json_t *body = api_body_json(rq, &reply);
        if (!body)
                return reply;
        struct corral_error err = { 0 };
        struct resv_request req;
        bool expose = false;
        if (take_expose(rq, body, &expose, &reply) < 0) {
                json_decref(body);
                return reply;
        }
        if (reservations_parse_request(body, &req, &err) < 0) {
                json_decref(body);
                return api_reply_corral_error(rq, &err);
        }
        json_t *boards = NULL;
        int be = farm_boards_json(rq->ctx->registry, rq->ctx->store, NULL, NULL, NULL, &boards); /* every host's */
        if (be < 0) {
                json_decref(body);
                if (be == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the board list.");
        }
        int64_t now = util_wall_ms();
        json_t *resv = NULL;
        uint64_t gen = 0;
        int rc = reservations_create(rs, &req, boards, now, &resv, &gen, &err);
        json_decref(boards);
        json_decref(body); /* req.match pointed into it */
        if (rc == 0 && expose && expose_rfc2217(rq, rs, resv, true, &reply) < 0) {
                json_decref(resv);
                return reply;
        }
        if (rc == 0)
                return reply_created(rq, resv);
        /* The wait's deadline and retries run on the monotonic clock (a wall-clock step back must
         * not stretch a wait_s); the lease times above are wall clock. */
        int64_t *until = rq->wait_until_ms;
        int64_t mono = (int64_t)util_mono_ms();
        bool may_wait = (rc == -EBUSY || rc == -ENODEV) && req.wait_s > 0 && until;
        if (may_wait && *until == 0)
                *until = mono + (int64_t)req.wait_s * 1000;
        if (may_wait && mono < *until) {
                corral_error_clear(&err);
                /* Suspend first, then register: a wake that comes at once finds it suspended. */
                MHD_suspend_connection(rq->conn);
                int64_t retry = mono + RESV_RETRY_MS < *until ? mono + RESV_RETRY_MS : *until;
                int w = reservations_wait(rs, gen, (uint64_t)retry, resume_connection, rq->conn);
                if (w < 0) {
                        *until = 1; /* cannot wait: the next round answers at once */
                        MHD_resume_connection(rq->conn);
                }
                return MHD_YES;
        }
        if (may_wait && err.details)
                json_object_set_new(err.details, "waited_s", json_integer(req.wait_s));
        return api_reply_corral_error(rq, &err);
}

static enum MHD_Result renew(struct api_req *rq, struct reservations *rs, int64_t id)
{
        json_t *body = NULL;
        if (rq->body_len) {
                enum MHD_Result reply;
                body = api_body_json(rq, &reply);
                if (!body)
                        return reply;
        }
        json_t *jt = json_object_get(body, "ttl_s");
        int64_t now = util_wall_ms();
        int ttl = 0;
        if (jt) {
                ttl = json_is_integer(jt) && json_integer_value(jt) >= 1 && json_integer_value(jt) <= RESV_TTL_MAX_S
                              ? (int)json_integer_value(jt)
                              : -1;
        } else {
                /* No ttl_s: the lease's own. */
                json_t *cur = NULL;
                if (reservations_get(rs, id, now, &cur) == 0)
                        ttl = (int)json_integer_value(json_object_get(cur, "ttl_s"));
                json_decref(cur);
                if (ttl <= 0)
                        ttl = RESV_TTL_DEFAULT_S;
        }
        json_decref(body);
        struct corral_error err = { 0 };
        json_t *resv = NULL;
        if (reservations_renew(rs, id, rq->lease, ttl, now, &resv, &err) < 0)
                return api_reply_corral_error(rq, &err);
        return api_reply_json(rq, 200, resv);
}

/* PATCH /reservations/{id} {"expose": ["rfc2217"] | []}: the holder opens or closes the lease's
 * remote port later. Idempotent both ways; replies the lease with "remote" while one is open. */
static enum MHD_Result patch(struct api_req *rq, struct reservations *rs, int64_t id)
{
        enum MHD_Result reply;
        json_t *body = api_body_json(rq, &reply);
        if (!body)
                return reply;
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v) {
                if (strcmp(key, "expose")) {
                        reply = api_reply_error(rq, CORRAL_E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key),
                                                "A lease can change only 'expose' here, not '%s' (renew it with POST "
                                                "/reservations/{id}/renew).", key);
                        json_decref(body);
                        return reply;
                }
        }
        bool want = false;
        if (!json_object_get(body, "expose")) {
                json_decref(body);
                return api_reply_error(rq, CORRAL_E_INVALID_EXPOSE, json_pack("{s:s}", "field", "expose"),
                                       "Give 'expose': [\"rfc2217\"] to open the lease's remote port, or [] to close it.");
        }
        int t = take_expose(rq, body, &want, &reply);
        json_decref(body);
        if (t < 0)
                return reply;
        struct corral_error err = { 0 };
        json_t *resv = NULL;
        if (reservations_authorize(rs, id, rq->lease, util_wall_ms(), &resv, &err) < 0)
                return api_reply_corral_error(rq, &err);
        if (want && expose_rfc2217(rq, rs, resv, false, &reply) < 0) {
                json_decref(resv);
                return reply;
        }
        if (!want && rq->ctx->remote)
                remote_unexpose(rq->ctx->remote, id);
        return api_reply_json(rq, 200, resv);
}

enum MHD_Result routes_reservations(struct api_req *rq)
{
        struct reservations *rs = registry_reservations(rq->ctx->registry);
        if (!rs)
                return unavailable(rq);
        if (rq->nsegs == 1) {
                if (!strcmp(rq->method, "POST"))
                        return create(rq, rs);
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use GET to list or POST to create reservations.");
                json_t *list = NULL;
                reservations_list(rs, util_wall_ms(), &list);
                return api_reply_json(rq, 200, json_pack("{s:o}", "reservations", list));
        }
        int64_t id;
        if (!api_parse_id(rq->segs[1], &id))
                return api_reply_error(rq, CORRAL_E_INVALID_RESERVATION_ID, json_pack("{s:s}", "reservation", rq->segs[1]),
                                       "Reservation ids are positive whole numbers, not '%s'.", rq->segs[1]);
        if (rq->nsegs == 2) {
                if (!strcmp(rq->method, "GET")) {
                        json_t *resv = NULL;
                        if (reservations_get(rs, id, util_wall_ms(), &resv) < 0)
                                return api_reply_error(rq, CORRAL_E_RESERVATION_NOT_FOUND,
                                                       json_pack("{s:I}", "reservation", (json_int_t)id),
                                                       "No reservation with id %lld.", (long long)id);
                        return api_reply_json(rq, 200, resv);
                }
                if (!strcmp(rq->method, "DELETE")) {
                        struct corral_error err = { 0 };
                        json_t *resv = NULL;
                        if (reservations_release(rs, id, rq->lease, util_wall_ms(), &resv, &err) < 0)
                                return api_reply_corral_error(rq, &err);
                        return api_reply_json(rq, 200, resv);
                }
                if (!strcmp(rq->method, "PATCH"))
                        return patch(rq, rs, id);
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                       "Use GET to read, PATCH to change 'expose' or DELETE to release /reservations/{id}.");
        }
        if (rq->nsegs == 3 && !strcmp(rq->segs[2], "renew")) {
                if (strcmp(rq->method, "POST"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use POST on /reservations/{id}/renew.");
                return renew(rq, rs, id);
        }
        return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                               rq->url);
}
