/* Fuzz the front door's pure head logic (api/ws_frontdoor.c): frontdoor_classify and
 * frontdoor_check_head over arbitrary bytes. Properties: a head is routed only once it has an
 * empty line; a complete head is either accepted or refused with 400/505 and a printable
 * sentence; an accepted head's request line is 'TOKEN SP TARGET SP HTTP/1.x'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frontdoor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        enum frontdoor_route r = frontdoor_classify(buf, size);
        bool blank = false;
        for (size_t i = 0; i + 1 < size && !blank; i++)
                blank = buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < size && buf[i + 2] == '\n'));
        if (blank != (r == FRONTDOOR_HTTP || r == FRONTDOOR_WS))
                abort();
        if (!blank)
                return 0;
        char msg[160];
        memset(msg, 'x', sizeof(msg));
        enum corral_err st = frontdoor_check_head(buf, size, msg, sizeof(msg));
        if (st == CORRAL_OK) {
                const char *sp = memchr(buf, ' ', size);
                const char *nl = memchr(buf, '\n', size);
                if (!sp || !nl || sp == buf || sp > nl)
                        abort();
                return 0;
        }
        if (st != CORRAL_E_BAD_REQUEST && st != CORRAL_E_HTTP_VERSION_NOT_SUPPORTED)
                abort();
        if (!memchr(msg, '\0', sizeof(msg)) || !msg[0])
                abort();
        for (const char *c = msg; *c; c++)
                if ((unsigned char)*c < ' ' || *c == 0x7f)
                        abort();
        return 0;
}
