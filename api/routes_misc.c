/* Small resources: /api/v1/health, /api/v1/hosts, /metrics (Prometheus text), /api/v1/events (poll). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "conn_budget.h"
#include "events.h"
#include "health/health_metrics.h"
#include "auth.h"
#include "registry.h"
#include "store/store.h"
#include "store/store_audit.h"
#include "store/store_hosts.h"
#include "util.h"

enum MHD_Result routes_health(struct api_req *rq)
{
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /health.");
        if (rq->nsegs == 2 && !strcmp(rq->segs[1], "live")) /* public: nothing but "up" */
                return api_reply_json(rq, 200, json_pack("{s:s}", "status", "up"));
        if (rq->nsegs != 1)
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        struct registry_stats st;
        registry_stats(rq->ctx->registry, &st);
        return api_reply_json(rq, 200,
                              json_pack("{s:s, s:s, s:i, s:{s:i, s:i, s:i}, s:{s:i, s:i}, s:{s:I}}", "status", "ok",
                                        "version", rq->ctx->version, "schema_version",
                                        store_schema_version(rq->ctx->store), "boards", "online", st.boards_online,
                                        "busy", st.boards_busy, "offline", st.boards_offline, "jobs", "queued",
                                        st.jobs_queued, "running", st.jobs_running, "audit", "failures",
                                        (json_int_t)store_audit_failures(rq->ctx->store)));
}

/* GET /api/v1/hosts: every corrald sharing this store, with its heartbeat. */
enum MHD_Result routes_hosts(struct api_req *rq)
{
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /hosts.");
        if (rq->nsegs != 1)
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        json_t *hosts = NULL;
        int e = store_host_list(rq->ctx->store, util_wall_ms(), &hosts);
        if (e == -ENOTCONN)
                return api_reply_store_unavailable(rq);
        if (e < 0)
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Could not read the host list.");
        return api_reply_json(rq, 200, json_pack("{s:o}", "hosts", hosts));
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
        va_list ap;
        for (;;) {
                va_start(ap, fmt);
                int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return;
                if ((size_t)n < *cap - *len) {
                        *len += (size_t)n;
                        return;
                }
                size_t ncap = *cap * 2 + (size_t)n;
                char *nb = realloc(*buf, ncap);
                if (!nb)
                        return;
                *buf = nb;
                *cap = ncap;
        }
}

enum MHD_Result routes_metrics(struct api_req *rq)
{
        struct registry_stats st;
        registry_stats(rq->ctx->registry, &st);
        size_t cap = 4096, len = 0;
        char *b = malloc(cap);
        if (!b)
                return MHD_NO;
        b[0] = '\0';
        appendf(&b, &len, &cap, "# HELP corral_boards Boards known to corrald by state.\n# TYPE corral_boards gauge\n");
        appendf(&b, &len, &cap, "corral_boards{state=\"online\"} %u\ncorral_boards{state=\"busy\"} %u\n"
                                "corral_boards{state=\"offline\"} %u\n",
                st.boards_online, st.boards_busy, st.boards_offline);
        json_t *stats = NULL;
        if (store_job_stats(rq->ctx->store, &stats) == 0) {
                size_t i;
                json_t *row;
                appendf(&b, &len, &cap, "# HELP corral_jobs Jobs by kind and state.\n# TYPE corral_jobs gauge\n");
                json_array_foreach(stats, i, row)
                        appendf(&b, &len, &cap, "corral_jobs{kind=\"%s\",state=\"%s\"} %lld\n",
                                json_string_value(json_object_get(row, "kind")),
                                json_string_value(json_object_get(row, "state")),
                                (long long)json_integer_value(json_object_get(row, "count")));
                appendf(&b, &len, &cap, "# HELP corral_job_duration_seconds Time finished jobs took, by kind.\n"
                                        "# TYPE corral_job_duration_seconds summary\n");
                json_array_foreach(stats, i, row)
                {
                        json_int_t n = json_integer_value(json_object_get(row, "finished"));
                        if (!n)
                                continue;
                        const char *kind = json_string_value(json_object_get(row, "kind"));
                        const char *state = json_string_value(json_object_get(row, "state"));
                        appendf(&b, &len, &cap,
                                "corral_job_duration_seconds_sum{kind=\"%s\",state=\"%s\"} %.3f\n"
                                "corral_job_duration_seconds_count{kind=\"%s\",state=\"%s\"} %lld\n",
                                kind, state, json_number_value(json_object_get(row, "duration_s_sum")), kind, state,
                                (long long)n);
                }
        }
        json_decref(stats);
        appendf(&b, &len, &cap, "# HELP corral_jobs_active Jobs queued or running now.\n# TYPE corral_jobs_active gauge\n"
                                "corral_jobs_active{state=\"queued\"} %u\ncorral_jobs_active{state=\"running\"} %u\n",
                st.jobs_queued, st.jobs_running);
        if (rq->ctx->budget) {
                struct conn_budget_stats cs;
                conn_budget_stats(rq->ctx->budget, &cs);
                appendf(&b, &len, &cap,
                        "# HELP corral_connections Connections held now (pending: no complete request head yet).\n"
                        "# TYPE corral_connections gauge\ncorral_connections{kind=\"http\"} %u\n"
                        "corral_connections{kind=\"ws\"} %u\ncorral_connections{kind=\"pending\"} %u\n"
                        "# HELP corral_connections_refused_total Connections refused or closed before being "
                        "served, by reason.\n# TYPE corral_connections_refused_total counter\n",
                        cs.open[CONN_HTTP], cs.open[CONN_WS], cs.pending);
                for (int i = 0; i < CONN_REFUSALS; i++)
                        appendf(&b, &len, &cap, "corral_connections_refused_total{reason=\"%s\"} %llu\n",
                                conn_refusal_name((enum conn_refusal)i), (unsigned long long)cs.refused[i]);
                appendf(&b, &len, &cap,
                        "# HELP corral_accept_pauses_total Times accepting paused because corrald ran out of file "
                        "descriptors.\n# TYPE corral_accept_pauses_total counter\ncorral_accept_pauses_total %llu\n",
                        (unsigned long long)cs.accept_pauses);
        }
        unsigned long long failed, limited;
        auth_login_counters(rq->ctx->auth, &failed, &limited);
        appendf(&b, &len, &cap,
                "# HELP corral_login_failures_total Logins refused for a wrong token.\n"
                "# TYPE corral_login_failures_total counter\ncorral_login_failures_total %llu\n"
                "# HELP corral_login_rate_limited_total Logins refused by a rate limit (429).\n"
                "# TYPE corral_login_rate_limited_total counter\ncorral_login_rate_limited_total %llu\n"
                "# HELP corral_audit_failures_total Audit entries that could not be written (e.g. a full disk).\n"
                "# TYPE corral_audit_failures_total counter\ncorral_audit_failures_total %llu\n",
                failed, limited, store_audit_failures(rq->ctx->store));
        char *health = health_metrics_text(rq->ctx->store); /* per-board counters, label board */
        if (health)
                appendf(&b, &len, &cap, "%s", health);
        free(health);
        return api_reply_text(rq, 200, "text/plain; version=0.0.4", b);
}

enum MHD_Result routes_events(struct api_req *rq)
{
        if (strcmp(rq->method, "GET") || rq->nsegs != 1)
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /events?since=SEQ.");
        const char *since = api_query(rq, "since");
        char *end = NULL;
        unsigned long long s = since ? strtoull(since, &end, 10) : 0;
        if (since && (*end || !*since || !isdigit((unsigned char)since[0])))
                return api_reply_error(rq, CORRAL_E_INVALID_FILTER, json_pack("{s:s}", "since", since),
                                       "'since' must be an event sequence number, not '%s'.", since);
        json_t *list = events_since(rq->ctx->events, s);
        return api_reply_json(rq, 200, json_pack("{s:I, s:o}", "last_seq", (json_int_t)events_last_seq(rq->ctx->events),
                                                 "events", list));
}
