/* What REST handlers see: the parsed request and helpers to answer it. Shared by http.c (the
 * server and router) and routes_*.c (one file per resource). */
#ifndef CORRAL_API_H
#define CORRAL_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "http.h"

#define API_MAX_SEGS 8

struct api_req {
        struct MHD_Connection *conn;
        const struct http_ctx *ctx;
        const char *method;
        const char *url;
        char *segs[API_MAX_SEGS];   /* path split on '/', percent-decoded; after "/api/v1" */
        int nsegs;
        const char *body;           /* NUL-terminated, may be NULL */
        size_t body_len;
};

/* Reply helpers: each queues a response and returns the MHD result to hand back. */
enum MHD_Result api_reply_json(struct api_req *rq, unsigned status, json_t *body /* stolen */);
enum MHD_Result api_reply_error(struct api_req *rq, unsigned status, const char *code, json_t *details /* stolen */,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
enum MHD_Result api_reply_text(struct api_req *rq, unsigned status, const char *content_type, char *text /* freed */);
/* Parse the body as a JSON object; on failure replies 400 itself and returns NULL. */
json_t *api_body_json(struct api_req *rq, enum MHD_Result *reply);
const char *api_query(struct api_req *rq, const char *key);

/* Resource handlers (routes_*.c). Return MHD_NO only on fatal errors. */
enum MHD_Result routes_boards(struct api_req *rq);
enum MHD_Result routes_jobs(struct api_req *rq);
enum MHD_Result routes_health(struct api_req *rq);
enum MHD_Result routes_metrics(struct api_req *rq);
enum MHD_Result routes_events(struct api_req *rq);
enum MHD_Result routes_static(struct api_req *rq);

#endif
