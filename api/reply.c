/* The reply helpers of the REST API and the one table from corral error code to wire name and
 * HTTP status (checked against api/openapi.yaml by tests/unit/test_reply.c). */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const struct {
        const char *name;
        unsigned status;
} table[CORRAL_E_COUNT] = {
        [CORRAL_E_BAD_REQUEST] = { "bad_request", 400 },
        [CORRAL_E_BAD_PATH] = { "bad_path", 400 },
        [CORRAL_E_BAD_MULTIPART] = { "bad_multipart", 400 },
        [CORRAL_E_DUPLICATE_FILE] = { "duplicate_file", 400 },
        [CORRAL_E_EMPTY_UPLOAD] = { "empty_upload", 400 },
        [CORRAL_E_INVALID_BODY] = { "invalid_body", 400 },
        [CORRAL_E_INVALID_BOARDS] = { "invalid_boards", 400 },
        [CORRAL_E_INVALID_EXPOSE] = { "invalid_expose", 400 },
        [CORRAL_E_INVALID_FAMILY] = { "invalid_family", 400 },
        [CORRAL_E_INVALID_FIELD] = { "invalid_field", 400 },
        [CORRAL_E_INVALID_FILTER] = { "invalid_filter", 400 },
        [CORRAL_E_INVALID_FIRMWARE_ID] = { "invalid_firmware_id", 400 },
        [CORRAL_E_INVALID_JOB_ID] = { "invalid_job_id", 400 },
        [CORRAL_E_INVALID_MATCH] = { "invalid_match", 400 },
        [CORRAL_E_INVALID_PARAMS] = { "invalid_params", 400 },
        [CORRAL_E_INVALID_QUERY] = { "invalid_query", 400 },
        [CORRAL_E_INVALID_RESERVATION_ID] = { "invalid_reservation_id", 400 },
        [CORRAL_E_MALFORMED_JSON] = { "malformed_json", 400 },
        [CORRAL_E_MISSING_BODY] = { "missing_body", 400 },
        [CORRAL_E_MISSING_FAMILY] = { "missing_family", 400 },
        [CORRAL_E_MISSING_FILE] = { "missing_file", 400 },
        [CORRAL_E_MISSING_KIND] = { "missing_kind", 400 },
        [CORRAL_E_UNKNOWN_FIELD] = { "unknown_field", 400 },
        [CORRAL_E_UNKNOWN_KIND] = { "unknown_kind", 400 },
        [CORRAL_E_WEBSOCKET_ON_REUSED_CONNECTION] = { "websocket_on_reused_connection", 400 },
        [CORRAL_E_UNAUTHORIZED] = { "unauthorized", 401 },
        [CORRAL_E_INVALID_TOKEN] = { "invalid_token", 401 },
        [CORRAL_E_LEASE_REQUIRED] = { "lease_required", 401 },
        [CORRAL_E_FORBIDDEN] = { "forbidden", 403 },
        [CORRAL_E_PATH_NOT_ALLOWED] = { "path_not_allowed", 403 },
        [CORRAL_E_LEASE_MISMATCH] = { "lease_mismatch", 403 },
        [CORRAL_E_ORIGIN_NOT_ALLOWED] = { "origin_not_allowed", 403 },
        [CORRAL_E_NOT_FOUND] = { "not_found", 404 },
        [CORRAL_E_BOARD_NOT_FOUND] = { "board_not_found", 404 },
        [CORRAL_E_JOB_NOT_FOUND] = { "job_not_found", 404 },
        [CORRAL_E_FIRMWARE_NOT_FOUND] = { "firmware_not_found", 404 },
        [CORRAL_E_KNOWN_GOOD_NOT_FOUND] = { "known_good_not_found", 404 },
        [CORRAL_E_NO_MATCHING_BOARD] = { "no_matching_board", 404 },
        [CORRAL_E_RESERVATION_NOT_FOUND] = { "reservation_not_found", 404 },
        [CORRAL_E_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405 },
        [CORRAL_E_REQUEST_TIMEOUT] = { "request_timeout", 408 },
        [CORRAL_E_AUTH_DISABLED] = { "auth_disabled", 409 },
        [CORRAL_E_BOARD_OFFLINE] = { "board_offline", 409 },
        [CORRAL_E_BOARD_RESERVED] = { "board_reserved", 409 },
        [CORRAL_E_BOARD_QUARANTINED] = { "board_quarantined", 409 },
        [CORRAL_E_NOT_QUARANTINED] = { "not_quarantined", 409 },
        [CORRAL_E_FIRMWARE_IN_USE] = { "firmware_in_use", 409 },
        [CORRAL_E_FIRMWARE_PINNED] = { "firmware_pinned", 409 },
        [CORRAL_E_JOB_FINISHED] = { "job_finished", 409 },
        [CORRAL_E_LEASE_LOST] = { "lease_lost", 409 },
        [CORRAL_E_LEASE_NOT_FOR_BOARD] = { "lease_not_for_board", 409 },
        [CORRAL_E_LEASE_UNKNOWN] = { "lease_unknown", 409 },
        [CORRAL_E_NO_BOARD_ONLINE] = { "no_board_online", 409 },
        [CORRAL_E_NOT_ENOUGH_BOARDS] = { "not_enough_boards", 409 },
        [CORRAL_E_RESERVATION_ENDED] = { "reservation_ended", 409 },
        [CORRAL_E_RETRY] = { "retry", 409 },
        [CORRAL_E_FIRMWARE_FILE_MISSING] = { "firmware_file_missing", 410 },
        [CORRAL_E_BODY_TOO_LARGE] = { "body_too_large", 413 },
        [CORRAL_E_UPLOAD_TOO_LARGE] = { "upload_too_large", 413 },
        [CORRAL_E_URI_TOO_LONG] = { "uri_too_long", 414 },
        [CORRAL_E_UNSUPPORTED_MEDIA_TYPE] = { "unsupported_media_type", 415 },
        [CORRAL_E_UNPROCESSABLE] = { "unprocessable", 422 },
        [CORRAL_E_CONTENT_MISMATCH] = { "content_mismatch", 422 },
        [CORRAL_E_FAMILY_MISMATCH] = { "family_mismatch", 422 },
        [CORRAL_E_UPGRADE_REQUIRED] = { "upgrade_required", 426 },
        [CORRAL_E_QUEUE_FULL] = { "queue_full", 429 },
        [CORRAL_E_TOO_MANY_LOGINS] = { "too_many_logins", 429 },
        [CORRAL_E_TOO_MANY_CONNECTIONS_FROM_ADDRESS] = { "too_many_connections_from_address", 429 },
        [CORRAL_E_TOO_MANY_PENDING] = { "too_many_pending", 429 },
        [CORRAL_E_TOO_MANY_VIEWERS] = { "too_many_viewers", 429 },
        [CORRAL_E_HEADER_TOO_LARGE] = { "header_too_large", 431 },
        [CORRAL_E_INTERNAL] = { "internal", 500 },
        [CORRAL_E_STORE_ERROR] = { "store_error", 500 },
        [CORRAL_E_STORE_UNAVAILABLE] = { "store_unavailable", 503 },
        [CORRAL_E_NO_MEMORY] = { "no_memory", 500 },
        [CORRAL_E_NO_ENTROPY] = { "no_entropy", 500 },
        [CORRAL_E_RESERVATIONS_UNAVAILABLE] = { "reservations_unavailable", 503 },
        [CORRAL_E_REMOTE_PORTS_UNAVAILABLE] = { "remote_ports_unavailable", 503 },
        [CORRAL_E_REMOTE_PORT_UNAVAILABLE] = { "remote_port_unavailable", 503 },
        [CORRAL_E_SHUTTING_DOWN] = { "shutting_down", 503 },
        [CORRAL_E_TOO_MANY_CONNECTIONS] = { "too_many_connections", 503 },
        [CORRAL_E_TOO_MANY_RESERVATIONS] = { "too_many_reservations", 503 },
        [CORRAL_E_OUT_OF_FILE_DESCRIPTORS] = { "out_of_file_descriptors", 503 },
        [CORRAL_E_PENDING_FULL] = { "pending_full", 503 },
        [CORRAL_E_HTTP_VERSION_NOT_SUPPORTED] = { "http_version_not_supported", 505 },
        [CORRAL_E_DISK_FULL] = { "disk_full", 507 },
        [CORRAL_E_LIBRARY_FULL] = { "library_full", 507 },
};

const char *reply_code_name(enum corral_err code)
{
        if ((unsigned)code >= CORRAL_E_COUNT || !table[code].name)
                return "internal";
        return table[code].name;
}

unsigned reply_code_status(enum corral_err code)
{
        if ((unsigned)code >= CORRAL_E_COUNT || !table[code].status)
                return 500;
        return table[code].status;
}

enum corral_err reply_code_find(const char *name)
{
        for (unsigned i = 1; name && i < CORRAL_E_COUNT; i++)
                if (table[i].name && !strcmp(table[i].name, name))
                        return (enum corral_err)i;
        return CORRAL_OK;
}

enum MHD_Result api_reply_text(struct api_req *rq, unsigned status, const char *content_type, char *text)
{
        size_t len = text ? strlen(text) : 0;
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        enum MHD_Result r = api_queue_response(rq, status, resp);
        MHD_destroy_response(resp);
        return r;
}

void api_add_header(struct api_req *rq, const char *name, const char *value)
{
        if (rq->nhdrs >= API_MAX_HEADERS)
                return;
        rq->hdr_name[rq->nhdrs] = name;
        snprintf(rq->hdr_value[rq->nhdrs], sizeof(rq->hdr_value[0]), "%s", value);
        rq->nhdrs++;
}

enum MHD_Result api_queue_response(struct api_req *rq, unsigned status, struct MHD_Response *resp)
{
        for (int i = 0; i < rq->nhdrs; i++)
                MHD_add_response_header(resp, rq->hdr_name[i], rq->hdr_value[i]);
        rq->nhdrs = 0;
        enum MHD_Result r = MHD_queue_response(rq->conn, status, resp);
        if (r == MHD_YES)
                rq->status = status;
        return r;
}

enum MHD_Result api_reply_json(struct api_req *rq, unsigned status, json_t *body)
{
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
                return MHD_NO;
        size_t n = strlen(text);
        char *withnl = realloc(text, n + 2);
        if (withnl) {
                withnl[n] = '\n';
                withnl[n + 1] = '\0';
                text = withnl;
        }
        return api_reply_text(rq, status, "application/json", text);
}

enum MHD_Result api_reply_json_at(struct api_req *rq, unsigned status, json_t *body, const char *location,
                                  bool no_store)
{
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
                return MHD_NO;
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
        if (no_store)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        enum MHD_Result r = api_queue_response(rq, status, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result api_reply_corral_error(struct api_req *rq, struct corral_error *e)
{
        json_t *details = e->details;
        e->details = NULL;
        enum MHD_Result r = api_reply_error(rq, e->code ? e->code : CORRAL_E_INTERNAL, details, "%s", e->message);
        corral_error_clear(e);
        return r;
}

enum MHD_Result api_reply_error(struct api_req *rq, enum corral_err code, json_t *details, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_t *err = json_pack("{s:s, s:s, s:o}", "code", reply_code_name(code), "message", msg, "details",
                                details ? details : json_object());
        return api_reply_json(rq, reply_code_status(code), json_pack("{s:o}", "error", err));
}

json_t *api_body_json(struct api_req *rq, enum MHD_Result *reply)
{
        if (!rq->body || rq->body_len == 0) {
                *reply = api_reply_error(rq, CORRAL_E_MISSING_BODY, NULL, "This request needs a JSON object body.");
                return NULL;
        }
        json_error_t e;
        json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
                *reply = api_reply_error(rq, CORRAL_E_MALFORMED_JSON,
                                         json_pack("{s:i, s:i, s:s}", "line", e.line, "column", e.column, "reason", e.text),
                                         "The body is not valid JSON: %s (line %d, column %d).", e.text, e.line, e.column);
                return NULL;
        }
        if (!json_is_object(j)) {
                json_decref(j);
                *reply = api_reply_error(rq, CORRAL_E_INVALID_BODY, NULL, "The body must be a JSON object.");
                return NULL;
        }
        return j;
}

enum MHD_Result api_reply_store_unavailable(struct api_req *rq)
{
        return api_reply_error(rq, CORRAL_E_STORE_UNAVAILABLE, NULL,
                               "The store (PostgreSQL) cannot be reached right now; corrald reconnects by itself, "
                               "try again shortly.");
}
