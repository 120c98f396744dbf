/* /api/v1/jobs: list with filters, one job with its log, cancel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "registry.h"
#include "store/store.h"

static const char *const job_states[] = { "queued", "running", "succeeded", "failed", "cancelled", "interrupted", NULL };

enum MHD_Result routes_jobs(struct api_req *rq)
{
        if (rq->nsegs == 1) {
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use GET on /jobs; queue jobs with POST /boards/{id}/jobs.");
                const char *state = api_query(rq, "state");
                if (state) {
                        bool ok = false;
                        for (int i = 0; job_states[i]; i++)
                                ok |= !strcmp(state, job_states[i]);
                        if (!ok)
                                return api_reply_error(rq, CORRAL_E_INVALID_FILTER, json_pack("{s:s}", "state", state),
                                                       "Filter 'state' must be one of queued, running, succeeded, failed, cancelled, interrupted; not '%s'.",
                                                       state);
                }
                const char *limit = api_query(rq, "limit");
                json_t *jobs = NULL;
                int e = store_job_list(rq->ctx->store, api_query(rq, "board"), state, limit ? atoi(limit) : 0, &jobs);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the job list.");
                return api_reply_json(rq, 200, json_pack("{s:o}", "jobs", jobs));
        }
        int64_t id;
        if (!api_parse_id(rq->segs[1], &id))
                return api_reply_error(rq, CORRAL_E_INVALID_JOB_ID, json_pack("{s:s}", "job", rq->segs[1]),
                                       "Job ids are positive whole numbers, not '%s'.", rq->segs[1]);
        if (rq->nsegs == 2) {
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /jobs/{id}.");
                json_t *job = NULL;
                int e = store_job_get(rq->ctx->store, id, true, &job);
                if (e == -ENOTCONN)
                        return api_reply_store_unavailable(rq);
                if (e < 0)
                        return api_reply_error(rq, CORRAL_E_JOB_NOT_FOUND, json_pack("{s:I}", "job", (json_int_t)id),
                                               "No job with id %lld.", (long long)id);
                return api_reply_json(rq, 200, job);
        }
        if (rq->nsegs == 3 && !strcmp(rq->segs[2], "cancel")) {
                if (strcmp(rq->method, "POST"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use POST on /jobs/{id}/cancel.");
                struct corral_error err = { 0 };
                json_t *job = NULL;
                struct reg_caller who;
                api_caller(rq, &who);
                if (registry_job_cancel_as(rq->ctx->registry, id, &who, &job, &err) < 0)
                        return api_reply_corral_error(rq, &err);
                return api_reply_json(rq, 202, job);
        }
        return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.", rq->url);
}
