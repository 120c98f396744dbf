/* Fuzz the RFC 2217 server engine. Properties: no crash; feeding never overruns its output limits
 * and always makes progress; the result does not depend on how the input is split; replies are
 * well-formed Telnet (IAC triples or IAC SB 44 ... IAC SE); input without IAC is exactly the data
 * it carries; and round trip: any data escaped by rfc2217_server_escape, with COM-PORT-OPTION
 * commands and negotiation mixed in between bytes, decodes back to exactly that data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/rfc2217/rfc2217_server.h"

#define MAX_IN 4096

struct result {
        uint8_t data[8 * MAX_IN];
        size_t ndata;
        uint8_t reply[64 * MAX_IN];
        size_t nreply;
        size_t ncontrol; /* actions other than data (data runs split with the input) */
};

static void run(const uint8_t *in, size_t n, size_t chunk, struct result *r)
{
        static struct r2s_out out;
        struct rfc2217_server s;
        rfc2217_server_init(&s, 115200, "fuzz");
        memset(r, 0, sizeof(*r));
        size_t i = 0;
        while (i < n) {
                size_t want = n - i < chunk ? n - i : chunk;
                rfc2217_server_out_reset(&out);
                size_t used = rfc2217_server_feed(&s, in + i, want, &out);
                if (used == 0)
                        abort(); /* no progress from an empty output */
                if (out.nact > R2S_MAX_ACTIONS || out.ndata > R2S_DATA_MAX || out.nreply > R2S_REPLY_MAX)
                        abort();
                size_t sum = 0;
                for (size_t a = 0; a < out.nact; a++)
                        if (out.act[a].kind == R2S_ACT_DATA) {
                                if (out.act[a].off != sum || out.act[a].len == 0)
                                        abort();
                                sum += out.act[a].len;
                        }
                if (sum != out.ndata)
                        abort();
                memcpy(r->data + r->ndata, out.data, out.ndata);
                r->ndata += out.ndata;
                memcpy(r->reply + r->nreply, out.reply, out.nreply);
                r->nreply += out.nreply;
                r->ncontrol += out.nact;
                for (size_t a = 0; a < out.nact; a++)
                        r->ncontrol -= out.act[a].kind == R2S_ACT_DATA;
                i += used;
        }
}

static void check_replies(const uint8_t *b, size_t n)
{
        size_t i = 0;
        while (i < n) {
                if (n - i < 3 || b[i] != R2S_IAC)
                        abort();
                uint8_t c = b[i + 1];
                if (c >= R2S_WILL && c <= R2S_DONT) {
                        i += 3;
                        continue;
                }
                if (c != R2S_SB || b[i + 2] != R2S_OPT_COMPORT)
                        abort();
                i += 3;
                for (;;) {
                        if (i + 1 >= n)
                                abort();
                        if (b[i] == R2S_IAC && b[i + 1] == R2S_SE) {
                                i += 2;
                                break;
                        }
                        if (b[i] == R2S_IAC && b[i + 1] != R2S_IAC)
                                abort();
                        i += b[i] == R2S_IAC ? 2 : 1;
                }
        }
}

static struct result A, B;

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
        if (n > MAX_IN)
                return 0;
        size_t chunk = n ? (size_t)in[0] % 17 + 1 : 1;
        run(in, n, n ? n : 1, &A);
        run(in, n, chunk, &B);
        if (A.ndata != B.ndata || memcmp(A.data, B.data, A.ndata) || A.nreply != B.nreply ||
            memcmp(A.reply, B.reply, A.nreply) || A.ncontrol != B.ncontrol)
                abort();
        check_replies(A.reply, A.nreply);
        if (!memchr(in, R2S_IAC, n) && (A.ndata != n || memcmp(A.data, in, n) || A.nreply))
                abort();

        /* Round trip: the input as data, escaped, with commands spliced in where the input says. */
        static uint8_t wire[16 * MAX_IN];
        size_t w = 0;
        static const uint8_t cmds[][10] = {
                { R2S_IAC, R2S_NOP },
                { R2S_IAC, R2S_DO, R2S_OPT_SGA },
                { R2S_IAC, R2S_WILL, R2S_OPT_COMPORT },
                { R2S_IAC, R2S_SB, R2S_OPT_COMPORT, R2S_SET_CONTROL, R2S_CTL_DTR_ON, R2S_IAC, R2S_SE },
                { R2S_IAC, R2S_SB, R2S_OPT_COMPORT, R2S_SET_BAUDRATE, 0, R2S_IAC, R2S_IAC, 0, 1, R2S_IAC },
        };
        static const size_t cmd_len[] = { 2, 3, 3, 7, 10 };
        for (size_t i = 0; i < n; i++) {
                size_t used;
                w += rfc2217_server_escape(in + i, 1, wire + w, 2, &used);
                if (used != 1)
                        abort();
                if (in[i] % 7 == 0) {
                        size_t k = in[i] / 7 % 5;
                        memcpy(wire + w, cmds[k], cmd_len[k]);
                        w += cmd_len[k];
                        if (k == 4) /* finish the baud subnegotiation */
                                wire[w++] = R2S_SE;
                }
        }
        run(wire, w, chunk, &B);
        if (B.ndata != n || memcmp(B.data, in, n))
                abort();
        check_replies(B.reply, B.nreply);
        return 0;
}
