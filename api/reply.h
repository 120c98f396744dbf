/* Answering HTTP requests: THE table from corral error code to its wire name and HTTP status,
 * and the reply helpers every route uses (JSON, text, errors as {"error": {code, message,
 * details}}). Nothing here dispatches: http.c routes, routes_*.c answer through this. */
#ifndef CORRAL_REPLY_H
#define CORRAL_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "error.h"

/* ---- the table (pure) ---- */
/* The code's wire name ("board_not_found"); "internal" for CORRAL_OK or an unknown value. */
const char *reply_code_name(enum corral_err code);
/* The HTTP status that carries the code; 500 for CORRAL_OK or an unknown value. */
unsigned reply_code_status(enum corral_err code);
/* The code of a wire name; CORRAL_OK when there is none. */
enum corral_err reply_code_find(const char *name);

/* ---- replies: each queues a response and returns the MHD result to hand back ---- */
struct api_req;
enum MHD_Result api_reply_json(struct api_req *rq, unsigned status, json_t *body /* stolen */);
/* {"error": {"code": <wire name>, "message": <fmt...>, "details": details or {}}} with the
 * code's status. */
enum MHD_Result api_reply_error(struct api_req *rq, enum corral_err code, json_t *details /* stolen */,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The error a daemon call filled in (CORRAL_OK: internal); e's details are handed on and e is
 * cleared. */
enum MHD_Result api_reply_corral_error(struct api_req *rq, struct corral_error *e);
/* 503 store_unavailable: the store's server (PostgreSQL) cannot be reached right now. */
enum MHD_Result api_reply_store_unavailable(struct api_req *rq);
enum MHD_Result api_reply_text(struct api_req *rq, unsigned status, const char *content_type, char *text /* freed */);
/* body (stolen) as compact JSON (no trailing newline) with a Location header, and
 * Cache-Control: no-store when no_store: for what a request created. */
enum MHD_Result api_reply_json_at(struct api_req *rq, unsigned status, json_t *body, const char *location,
                                  bool no_store);
/* Queue resp (not destroyed) with the extra headers and remember the status: every reply goes
 * through here. */
enum MHD_Result api_queue_response(struct api_req *rq, unsigned status, struct MHD_Response *resp);
/* A header for the reply about to be queued (name: a static string; value copied, cut at 255). */
void api_add_header(struct api_req *rq, const char *name, const char *value);
/* Parse the body as a JSON object; on failure replies 400 itself and returns NULL. */
json_t *api_body_json(struct api_req *rq, enum MHD_Result *reply);

#endif
