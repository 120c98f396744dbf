/* Fuzz the MicroPython raw-REPL reply parser (fed in arbitrary splits) and the exception parser,
 * with a round-trip property: a well-formed reply built from fuzz bytes ("OK" when plain raw
 * REPL, stdout, 0x04, stderr, 0x04, '>', then trailing bytes) gives back exactly that stdout and
 * stderr, through the callback and the capture (cut at its limit, flagged truncated), whatever the
 * read sizes, and consumes nothing after the '>'. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_diag.h"
#include "engines/mp/mp_resp.h"

static void sink(enum mp_stream s, const uint8_t *d, size_t n, void *user)
{
        size_t *total = user;
        if (s != MP_STREAM_STDOUT && s != MP_STREAM_STDERR)
                __builtin_trap();
        if (n && (!d || memchr(d, 0x04, n)))
                __builtin_trap(); /* the delimiter never leaks into a stream */
        *total += n;
}

struct collected {
        uint8_t buf[2][4096];
        size_t len[2];
};

static void collect(enum mp_stream s, const uint8_t *d, size_t n, void *user)
{
        struct collected *c = user;
        if ((s != MP_STREAM_STDOUT && s != MP_STREAM_STDERR) || n == 0 || c->len[s] + n > sizeof(c->buf[s]))
                __builtin_trap();
        memcpy(c->buf[s] + c->len[s], d, n);
        c->len[s] += n;
}

/* data: [chunk][split][body...]; stdout = body[:split] and stderr = body[split:] with 0x04
 * removed; '>' may appear in either (it only ends the reply after the second 0x04). */
static void round_trip(const uint8_t *data, size_t size, bool expect_ok)
{
        if (size < 2 || size > 2000)
                return;
        size_t chunk = (data[0] & 0x1f) + 1, cap = (data[0] >> 5) * 16; /* 0..112 */
        static uint8_t streams[2][2048], reply[4200];
        size_t slen[2] = { 0, 0 }, split = data[1];
        for (size_t i = 2; i < size; i++) {
                int s = i - 2 < split ? 0 : 1;
                if (data[i] != 0x04)
                        streams[s][slen[s]++] = data[i];
        }
        size_t n = 0;
        if (expect_ok) {
                reply[n++] = 'O';
                reply[n++] = 'K';
        }
        memcpy(reply + n, streams[0], slen[0]);
        n += slen[0];
        reply[n++] = 0x04;
        memcpy(reply + n, streams[1], slen[1]);
        n += slen[1];
        reply[n++] = 0x04;
        reply[n++] = '>';
        size_t whole = n;
        memcpy(reply + n, "\x04>OK trailing", 13); /* the caller's bytes: never consumed */
        n += 13;

        static struct collected got;
        memset(got.len, 0, sizeof(got.len));
        struct mp_resp p;
        mp_resp_init(&p, expect_ok, collect, &got, cap);
        size_t used = 0;
        while (used < n && p.state != MP_RESP_DONE) {
                size_t c = n - used < chunk ? n - used : chunk;
                int r = mp_resp_feed(&p, reply + used, c);
                if (r < 0 || (size_t)r > c || (p.state != MP_RESP_DONE && (size_t)r != c))
                        __builtin_trap();
                used += (size_t)r;
        }
        if (p.state != MP_RESP_DONE || used != whole)
                __builtin_trap(); /* the reply ends exactly at its '>' */
        for (int s = 0; s < 2; s++) {
                if (got.len[s] != slen[s] || memcmp(got.buf[s], streams[s], slen[s]))
                        __builtin_trap(); /* a byte lost, added or moved between streams */
                size_t keep = slen[s] < cap ? slen[s] : cap;
                /* capture_max 0 keeps nothing and flags nothing (mp_resp.h). */
                if (p.cap[s].len != keep || (cap && p.cap[s].truncated != (slen[s] > cap)) ||
                    (keep && memcmp(p.cap[s].data, streams[s], keep)))
                        __builtin_trap();
        }
        mp_resp_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        round_trip(data, size, true);
        round_trip(data, size, false);
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
