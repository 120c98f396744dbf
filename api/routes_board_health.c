/* /api/v1/boards/{id}/health (the health record) and /boards/{id}/unquarantine (re-check, then
 * release). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "health/health.h"
#include "registry.h"

static enum MHD_Result unquarantine(struct api_req *rq, const char *id)
{
        struct registry *reg = rq->ctx->registry;
        json_t *b = NULL;
        if (registry_board_json(reg, id, &b) < 0)
                return api_reply_error(rq, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", id),
                                       "No board with id '%s'.", id);
        bool q = health_row_quarantined(b);
        json_decref(b);
        if (!q)
                return api_reply_error(rq, CORRAL_E_NOT_QUARANTINED, json_pack("{s:s}", "board", id),
                                       "Board '%s' is not quarantined.", id);
        struct reg_caller who;
        api_caller(rq, &who);
        json_t *body = json_pack("{s:s, s:b, s:s}", "kind", "health_check", "release", 1, "requested_by",
                                 who.name ? who.name : "?");
        struct corral_error err = { 0 };
        json_t *job = NULL;
        int rc = registry_job_submit_as(reg, id, body, &who, &job, &err);
        json_decref(body);
        if (rc < 0)
                return api_reply_corral_error(rq, &err);
        char loc[64];
        snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)json_integer_value(json_object_get(job, "id")));
        return api_reply_json_at(rq, 202,
                                 json_pack("{s:s, s:s, s:o}", "board", id, "message",
                                           "A health check runs first; the board is released when it passes "
                                           "(watch the job, or the board.health event).", "check_job", job),
                                 loc, true);
}

enum MHD_Result routes_board_health(struct api_req *rq, const char *id)
{
        const char *what = rq->segs[2];
        if (!strcmp(what, "unquarantine")) {
                if (strcmp(rq->method, "POST"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use POST on /boards/{id}/unquarantine.");
                return unquarantine(rq, id);
        }
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /boards/{id}/health.");
        const char *limit = api_query(rq, "history");
        char *end = NULL;
        long n = limit ? strtol(limit, &end, 10) : 50;
        if (limit && (!*limit || *end || n < 1 || n > 200))
                return api_reply_error(rq, CORRAL_E_INVALID_FILTER, json_pack("{s:s}", "history", limit),
                                       "'history' must be a number of entries from 1 to 200, not '%s'.", limit);
        json_t *b = NULL;
        if (registry_board_json(rq->ctx->registry, id, &b) < 0)
                return api_reply_error(rq, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", id),
                                       "No board with id '%s'.", id);
        json_decref(b);
        json_t *h = NULL;
        if (health_board_json(rq->ctx->store, id, (int)n, &h) < 0)
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the health record.");
        return api_reply_json(rq, 200, h);
}
