/* corral's error codes as data: one enum for every failure a caller can be told about, with a
 * message and optional details. The daemon fills a struct corral_error; only api/ (reply.c)
 * knows how a code is spelled on the wire and which HTTP status carries it. */
#ifndef CORRAL_ERROR_H
#define CORRAL_ERROR_H

#include <jansson.h>

/* Grouped by meaning. Adding a code: add it here, to api/reply.c's table and to api/openapi.yaml
 * (tests/unit/test_reply.c checks the three agree). */
enum corral_err {
        CORRAL_OK = 0, /* no error (a cleared struct corral_error) */
        /* The request is malformed or names something wrongly */
        CORRAL_E_BAD_REQUEST,
        CORRAL_E_BAD_PATH,
        CORRAL_E_BAD_MULTIPART,
        CORRAL_E_DUPLICATE_FILE,
        CORRAL_E_EMPTY_UPLOAD,
        CORRAL_E_INVALID_BODY,
        CORRAL_E_INVALID_BOARDS,
        CORRAL_E_INVALID_EXPOSE,
        CORRAL_E_INVALID_FAMILY,
        CORRAL_E_INVALID_FIELD,
        CORRAL_E_INVALID_FILTER,
        CORRAL_E_INVALID_FIRMWARE_ID,
        CORRAL_E_INVALID_JOB_ID,
        CORRAL_E_INVALID_MATCH,
        CORRAL_E_INVALID_PARAMS,
        CORRAL_E_INVALID_QUERY,
        CORRAL_E_INVALID_RESERVATION_ID,
        CORRAL_E_MALFORMED_JSON,
        CORRAL_E_MISSING_BODY,
        CORRAL_E_MISSING_FAMILY,
        CORRAL_E_MISSING_FILE,
        CORRAL_E_MISSING_KIND,
        CORRAL_E_UNKNOWN_FIELD,
        CORRAL_E_UNKNOWN_KIND,
        CORRAL_E_WEBSOCKET_ON_REUSED_CONNECTION,
        /* The request (body, path, head) is larger than corrald takes */
        CORRAL_E_BODY_TOO_LARGE,
        CORRAL_E_UPLOAD_TOO_LARGE,
        CORRAL_E_URI_TOO_LONG,
        CORRAL_E_HEADER_TOO_LARGE,
        /* A body of a kind corrald does not take */
        CORRAL_E_UNSUPPORTED_MEDIA_TYPE,
        /* Well-formed, but it cannot work (wrong chip, wrong family, content not what it claims) */
        CORRAL_E_UNPROCESSABLE,
        CORRAL_E_CONTENT_MISMATCH,
        CORRAL_E_FAMILY_MISMATCH,
        /* Who is asking is unknown, or a needed credential is missing */
        CORRAL_E_UNAUTHORIZED,
        CORRAL_E_INVALID_TOKEN,
        CORRAL_E_LEASE_REQUIRED,
        /* The caller is known but may not do this */
        CORRAL_E_FORBIDDEN,
        CORRAL_E_PATH_NOT_ALLOWED,
        CORRAL_E_LEASE_MISMATCH,
        CORRAL_E_ORIGIN_NOT_ALLOWED,
        /* No such thing */
        CORRAL_E_NOT_FOUND,
        CORRAL_E_BOARD_NOT_FOUND,
        CORRAL_E_JOB_NOT_FOUND,
        CORRAL_E_FIRMWARE_NOT_FOUND,
        CORRAL_E_KNOWN_GOOD_NOT_FOUND,
        CORRAL_E_NO_MATCHING_BOARD,
        CORRAL_E_RESERVATION_NOT_FOUND,
        /* The resource does not take this method */
        CORRAL_E_METHOD_NOT_ALLOWED,
        /* The state of a board, job, lease or firmware does not allow it now */
        CORRAL_E_AUTH_DISABLED,
        CORRAL_E_BOARD_OFFLINE,
        CORRAL_E_BOARD_RESERVED,
        CORRAL_E_BOARD_QUARANTINED,
        CORRAL_E_NOT_QUARANTINED,
        CORRAL_E_FIRMWARE_IN_USE,
        CORRAL_E_FIRMWARE_PINNED,
        CORRAL_E_JOB_FINISHED,
        CORRAL_E_LEASE_LOST,
        CORRAL_E_LEASE_NOT_FOR_BOARD,
        CORRAL_E_LEASE_UNKNOWN,
        CORRAL_E_NO_BOARD_ONLINE,
        CORRAL_E_NOT_ENOUGH_BOARDS,
        CORRAL_E_RESERVATION_ENDED,
        CORRAL_E_RETRY,
        /* It existed and is gone */
        CORRAL_E_FIRMWARE_FILE_MISSING,
        /* A limit per caller, board or address is reached */
        CORRAL_E_QUEUE_FULL,
        CORRAL_E_TOO_MANY_LOGINS,
        CORRAL_E_TOO_MANY_CONNECTIONS_FROM_ADDRESS,
        CORRAL_E_TOO_MANY_PENDING,
        CORRAL_E_TOO_MANY_VIEWERS,
        /* The request did not arrive in time */
        CORRAL_E_REQUEST_TIMEOUT,
        /* The client speaks the wrong protocol or version */
        CORRAL_E_UPGRADE_REQUIRED,
        CORRAL_E_HTTP_VERSION_NOT_SUPPORTED,
        /* corrald failed (its store, memory, entropy) */
        CORRAL_E_INTERNAL,
        CORRAL_E_STORE_ERROR,
        CORRAL_E_STORE_UNAVAILABLE,
        CORRAL_E_NO_MEMORY,
        CORRAL_E_NO_ENTROPY,
        /* corrald cannot serve this now (stopping, store not loaded, server-wide limits) */
        CORRAL_E_RESERVATIONS_UNAVAILABLE,
        CORRAL_E_REMOTE_PORTS_UNAVAILABLE,
        CORRAL_E_REMOTE_PORT_UNAVAILABLE,
        CORRAL_E_SHUTTING_DOWN,
        CORRAL_E_TOO_MANY_CONNECTIONS,
        CORRAL_E_TOO_MANY_RESERVATIONS,
        CORRAL_E_OUT_OF_FILE_DESCRIPTORS,
        CORRAL_E_PENDING_FULL,
        /* No room left on disk or in the firmware library */
        CORRAL_E_DISK_FULL,
        CORRAL_E_LIBRARY_FULL,
        CORRAL_E_COUNT /* not a code: how many there are */
};

/* What went wrong: code, a plain-language message, details (a JSON object naming the field,
 * board, limit, ...; owned, may be NULL). Zero-initialise; free with corral_error_clear(). */
struct corral_error {
        enum corral_err code;
        char message[512];
        json_t *details;
};

/* Free the details and reset to CORRAL_OK. NULL-safe. */
void corral_error_clear(struct corral_error *e);
/* Fill e, when not NULL: code, details (stolen; freed when e is NULL) and message (printf-style).
 * Returns rc, for `return corral_error_set(err, CORRAL_E_BOARD_NOT_FOUND, d, -ENOENT, ...);`. */
int corral_error_set(struct corral_error *e, enum corral_err code, json_t *details, int rc, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
/* A store call failed with rc (negative errno): CORRAL_E_DISK_FULL for -ENOSPC ("<what>: the disk
 * is full"), CORRAL_E_STORE_UNAVAILABLE for -ENOTCONN (a PostgreSQL store that cannot reach its
 * server), else CORRAL_E_STORE_ERROR ("<what>: <strerror>"). Returns ret. */
int corral_error_store(struct corral_error *e, int rc, int ret, const char *what);

#endif
