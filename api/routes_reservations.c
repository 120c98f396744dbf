/* /api/v1/reservations: lease a board (optionally waiting, bounded, with the connection suspended
 * rather than a server thread blocked), list and read leases, renew and release them with the
 * lease token (header X-Corral-Lease). The lease logic itself is daemon/reservations.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "registry.h"
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
        if (reservations_parse_request(body, &req, &err) < 0) {
                json_decref(body);
                return api_reply_corral_error(rq, &err);
        }
        json_t *boards = NULL;
        if (registry_boards_json(rq->ctx->registry, NULL, NULL, NULL, &boards) < 0) {
                json_decref(body);
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the board list.");
        }
        int64_t now = util_wall_ms();
        json_t *resv = NULL;
        uint64_t gen = 0;
        int rc = reservations_create(rs, &req, boards, now, &resv, &gen, &err);
        json_decref(boards);
        json_decref(body); /* req.match pointed into it */
        if (rc == 0)
                return reply_created(rq, resv);
        int64_t *until = rq->wait_until_ms;
        bool may_wait = (rc == -EBUSY || rc == -ENODEV) && req.wait_s > 0 && until;
        if (may_wait && *until == 0)
                *until = now + (int64_t)req.wait_s * 1000;
        if (may_wait && now < *until) {
                corral_error_clear(&err);
                /* Suspend first, then register: a wake that comes at once finds it suspended. */
                MHD_suspend_connection(rq->conn);
                int64_t retry = now + RESV_RETRY_MS < *until ? now + RESV_RETRY_MS : *until;
                int w = reservations_wait(rs, gen, retry, resume_connection, rq->conn);
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
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                       "Use GET to read or DELETE to release /reservations/{id}.");
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
