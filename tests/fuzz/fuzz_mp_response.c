/* Fuzz the MicroPython raw-REPL reply parser (fed in arbitrary splits) and the exception parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engines/mp_diag.h"
#include "engines/mp_resp.h"

static void sink(enum mp_stream s, const uint8_t *d, size_t n, void *user)
{
        size_t *total = user;
        if (s != MP_STREAM_STDOUT && s != MP_STREAM_STDERR)
                __builtin_trap();
        if (n && (!d || memchr(d, 0x04, n)))
                __builtin_trap(); /* the delimiter never leaks into a stream */
        *total += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        /* First byte: chunk size and mode. */
        size_t chunk = (data[0] & 0x3f) + 1;
        bool expect_ok = data[0] & 0x40;
        const uint8_t *d = data + 1;
        size_t n = size - 1, total = 0, consumed = 0;
        struct mp_resp p;
        mp_resp_init(&p, expect_ok, sink, &total, 256);
        while (consumed < n) {
                size_t c = n - consumed < chunk ? n - consumed : chunk;
                int r = mp_resp_feed(&p, d + consumed, c);
                if (r < 0 || p.state == MP_RESP_DONE)
                        break;
                if ((size_t)r != c)
                        __builtin_trap(); /* only DONE stops early */
                consumed += c;
        }
        for (int i = 0; i < 2; i++)
                if (p.cap[i].len > 256 || (p.cap[i].data && p.cap[i].data[p.cap[i].len] != '\0'))
                        __builtin_trap();
        mp_resp_release(&p);

        struct mp_exception e;
        if (mp_exception_parse((const char *)d, n, &e) == 0) {
                if (strnlen(e.type, sizeof(e.type)) >= sizeof(e.type) ||
                    strnlen(e.message, sizeof(e.message)) >= sizeof(e.message))
                        __builtin_trap();
                (void)mp_exception_errno(&e);
        }
        struct mp_diag g;
        mp_diag_classify(d, n, &g);
        if (!g.code)
                __builtin_trap();
        return 0;
}
