/* /api/v1/boards: list with filters, one board, edit name/labels/notes, queue and list its jobs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "farm/farm.h"
#include "registry.h"
#include "store/store.h"

void api_caller(struct api_req *rq, struct reg_caller *ret)
{
        bool admin = rq->who.role >= AUTH_ROLE_ADMIN;
        *ret = (struct reg_caller){
                .name = rq->who.name[0] ? rq->who.name : AUTH_ANONYMOUS,
                .lease = rq->lease,
                .host_files = admin,
                .lease_override = admin && auth_enabled(rq->ctx->auth),
        };
}

static enum MHD_Result board_jobs(struct api_req *rq, const char *id)
{
        if (!strcmp(rq->method, "GET")) {
                json_t *b = NULL;
                int e = registry_board_json(rq->ctx->registry, id, &b);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", id),
                                               "No board with id '%s'.", id);
                json_decref(b);
                json_t *jobs = NULL;
                const char *limit = api_query(rq, "limit");
                e = store_job_list(rq->ctx->store, id, api_query(rq, "state"), limit ? atoi(limit) : 0, &jobs);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the job list.");
                return api_reply_json(rq, 200, json_pack("{s:o}", "jobs", jobs));
        }
        if (strcmp(rq->method, "POST"))
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                       "Use GET to list or POST to queue jobs on /boards/{id}/jobs.");
        enum MHD_Result reply;
        json_t *body = api_body_json(rq, &reply);
        if (!body)
                return reply;
        struct corral_error err = { 0 };
        json_t *job = NULL;
        struct reg_caller who;
        api_caller(rq, &who);
        int rc = registry_job_submit_as(rq->ctx->registry, id, body, &who, &job, &err);
        json_decref(body);
        if (rc < 0)
                return api_reply_corral_error(rq, &err);
        char loc[64];
        snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)json_integer_value(json_object_get(job, "id")));
        return api_reply_json_at(rq, 202, job, loc, true);
}

enum MHD_Result routes_boards(struct api_req *rq)
{
        struct registry *reg = rq->ctx->registry;
        if (rq->nsegs == 1) {
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /boards.");
                const char *state = api_query(rq, "state");
                if (state && strcmp(state, "online") && strcmp(state, "offline") && strcmp(state, "busy"))
                        return api_reply_error(rq, CORRAL_E_INVALID_FILTER, json_pack("{s:s}", "state", state),
                                               "Filter 'state' must be online, offline or busy, not '%s'.", state);
                json_t *boards = NULL;
                int e = farm_boards_json(reg, rq->ctx->store, api_query(rq, "label"), api_query(rq, "family"), state,
                                         &boards);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the board list.");
                return api_reply_json(rq, 200, json_pack("{s:o}", "boards", boards));
        }
        const char *id = rq->segs[1];
        if (rq->nsegs == 3 && !strcmp(rq->segs[2], "jobs"))
                return board_jobs(rq, id);
        if (rq->nsegs == 3 && (!strcmp(rq->segs[2], "health") || !strcmp(rq->segs[2], "unquarantine")))
                return routes_board_health(rq, id);
        if (rq->nsegs != 2)
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        if (!strcmp(rq->method, "GET")) {
                json_t *b = NULL;
                int e = farm_board_json(reg, rq->ctx->store, id, &b);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_BOARD_NOT_FOUND, json_pack("{s:s}", "board", id),
                                               "No board with id '%s'.", id);
                return api_reply_json(rq, 200, b);
        }
        if (!strcmp(rq->method, "PATCH")) {
                enum MHD_Result reply;
                json_t *body = api_body_json(rq, &reply);
                if (!body)
                        return reply;
                struct corral_error err = { 0 };
                struct reg_caller who;
                api_caller(rq, &who);
                int rc = registry_board_update_as(reg, id, body, &who, &err);
                json_decref(body);
                if (rc < 0)
                        return api_reply_corral_error(rq, &err);
                json_t *b = NULL;
                if (farm_board_json(reg, rq->ctx->store, id, &b) < 0)
                        return api_reply_error(rq, CORRAL_E_BOARD_NOT_FOUND, NULL, "No board with id '%s'.", id);
                return api_reply_json(rq, 200, b);
        }
        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET or PATCH on /boards/{id}.");
}
