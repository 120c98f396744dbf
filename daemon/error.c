/* struct corral_error: fill and clear (the codes themselves are data in error.h; their wire
 * names and HTTP statuses live in api/reply.c). */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void corral_error_clear(struct corral_error *e)
{
        if (!e)
                return;
        json_decref(e->details);
        memset(e, 0, sizeof(*e));
}

int corral_error_set(struct corral_error *e, enum corral_err code, json_t *details, int rc, const char *fmt, ...)
{
        if (!e) {
                json_decref(details);
                return rc;
        }
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        json_decref(e->details);
        e->details = details;
        return rc;
}

int corral_error_store(struct corral_error *e, int rc, int ret, const char *what)
{
        if (rc == -ENOSPC)
                return corral_error_set(e, CORRAL_E_DISK_FULL, NULL, ret, "%s: the disk is full", what);
        if (rc == -ENOTCONN)
                return corral_error_set(e, CORRAL_E_STORE_UNAVAILABLE, NULL, ret,
                                        "%s: the store (PostgreSQL) cannot be reached right now; corrald reconnects by "
                                        "itself, try again shortly", what);
        return corral_error_set(e, CORRAL_E_STORE_ERROR, NULL, ret, "%s: %s", what, strerror(-rc));
}
