/* What REST handlers see: the parsed request (request.c reads it) and, through reply.h, the
 * helpers to answer it. Shared by http.c (the server and router) and routes_*.c (one file per
 * resource); routes_*.c never call into http.c. */
#ifndef CORRAL_API_H
#define CORRAL_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "http_ctx.h"
#include "reply.h"

#define API_MAX_SEGS 8
#define API_MAX_HEADERS 2
#define API_MAX_QUERY_COPIES 16 /* decoded query values per request (api_query) */

struct api_req {
        struct MHD_Connection *conn;
        const struct http_ctx *ctx;
        const char *method;
        const char *url;
        char *segs[API_MAX_SEGS];   /* path split on '/', percent-decoded; after "/api/v1" */
        int nsegs;
        const char *body;           /* NUL-terminated, may be NULL */
        size_t body_len;
        struct api_upload *upload;  /* POST /api/v1/firmware only: the streamed upload */
        const char *lease;          /* X-Corral-Lease header (a reservation's token) or NULL */
        int64_t *wait_until_ms;     /* per connection, survives suspend/resume: 0 = not waiting */
        struct auth_identity who;   /* set by the auth check (or by login); who.role NONE: unknown */
        unsigned status;            /* the status queued (0: none yet), for the audit log */
        const char *hdr_name[API_MAX_HEADERS]; /* extra headers for the reply (api_add_header) */
        char hdr_value[API_MAX_HEADERS][256];
        int nhdrs;
        char *qcopy[API_MAX_QUERY_COPIES]; /* api_query's decoded values, freed after the reply */
        int nqcopy;
};

/* A query argument, percent-decoded once (valid until the request is answered); a value with a
 * bad escape or %00 comes back as sent. */
const char *api_query(struct api_req *rq, const char *key);
/* Decode %XX in place, exactly once; -EINVAL for a bad escape or %00, else the new length. */
int api_unescape(char *s);
/* Split a raw path ("/v1/boards/x") on '/' into at most max_segs decoded segments (pointers into
 * path). One trailing '/' is allowed; -ENOENT for an empty segment ("//"), -E2BIG for too many,
 * -EINVAL for a bad escape or %00. */
int api_split_path(char *path, char **segs, int max_segs, int *nsegs);
/* A path segment as a resource id: a positive decimal number with nothing after it. *ret is set
 * only when it is one. */
bool api_parse_id(const char *s, int64_t *ret);

/* The request's caller for the registry: token name, lease (X-Corral-Lease), host files for
 * admins (the anonymous admin too when auth is off: loopback single-user mode), and overriding
 * a lease only for an authenticated admin (with auth off everyone is "admin", so leases would
 * not exclude anyone). Borrows from rq. */
struct reg_caller;
void api_caller(struct api_req *rq, struct reg_caller *ret);

/* Resource handlers (routes_*.c). Return MHD_NO only on fatal errors. */
enum MHD_Result routes_boards(struct api_req *rq);
/* /boards/{id}/health and /boards/{id}/unquarantine (routes_board_health.c). */
enum MHD_Result routes_board_health(struct api_req *rq, const char *id);
enum MHD_Result routes_jobs(struct api_req *rq);
enum MHD_Result routes_health(struct api_req *rq);
enum MHD_Result routes_hosts(struct api_req *rq);
enum MHD_Result routes_metrics(struct api_req *rq);
enum MHD_Result routes_events(struct api_req *rq);
enum MHD_Result routes_static(struct api_req *rq);
enum MHD_Result routes_firmware(struct api_req *rq);
/* PATCH /firmware/{id} (routes_firmware_edit.c); takes row (the entry as read). */
enum MHD_Result routes_firmware_patch(struct api_req *rq, const char *id, json_t *row);
/* Adds download_url to a firmware row; returns row. */
json_t *routes_firmware_urls(json_t *row);
enum MHD_Result routes_reservations(struct api_req *rq);
/* routes_auth.c: POST /login, POST /logout, GET /session, GET /audit, GET /tokens. */
enum MHD_Result routes_auth(struct api_req *rq);
bool routes_auth_owns(const char *resource);
/* The role a request needs, from its method and path segments (after "v1"); NONE = public. */
enum auth_role api_role_needed(const char *method, char *const *segs, int nsegs);
/* Server shutdown: resume every request waiting for a board (they answer 503) and refuse new waits. */
void routes_reservations_shutdown(const struct http_ctx *ctx);

/* Streaming uploads (routes_firmware.c). http.c hands the body of POST /api/v1/firmware to these
 * instead of accumulating it in RAM: it goes to a temp file in the firmware directory, limited by
 * cfg->max_upload (not max_body). api_upload_new returns NULL only on ENOMEM. */
struct api_upload;
bool api_upload_wanted(const char *method, const char *url);
struct api_upload *api_upload_new(struct MHD_Connection *conn, const struct http_ctx *ctx);
void api_upload_data(struct api_upload *u, const char *data, size_t size);
struct api_upload *api_upload_free(struct api_upload *u); /* NULL-safe, returns NULL */

#endif
