/* Fuzz reservations_parse_request (POST /api/v1/reservations bodies, parsed as the API parses
 * them). No crash; a refusal is a 400 with a code and a plain message; an accepted request has
 * a positive ttl, a non-negative wait and either match or boards. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "reply.h"
#include "reservations.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_error_t e;
        json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(body)) {
                json_decref(body);
                return 0;
        }
        struct resv_request req;
        struct corral_error err = { 0 };
        memset(&req, 0, sizeof(req));
        int r = reservations_parse_request(body, &req, &err);
        if (r < 0) {
                if (reply_code_status(err.code) != 400 || err.code == CORRAL_OK || !err.message[0] || !memchr(err.message, '\0', sizeof(err.message)))
                        abort();
        } else {
                if (req.ttl_s <= 0 || req.wait_s < 0 || !memchr(req.owner, '\0', sizeof(req.owner)))
                        abort();
                if (req.match && req.boards)
                        abort();
        }
        corral_error_clear(&err);
        json_decref(body);
        return 0;
}
