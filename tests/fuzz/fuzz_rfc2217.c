/* Fuzz the RFC 2217 client's wire decoder (port_rfc2217_decode) with the negotiation replies it
 * sends going to a loopback TCP connection (as in real use; an AF_UNIX socketpair would run out
 * of buffer after a few hundred 3-byte replies and drop some): no crash; the result does not depend on how the bytes were split
 * into reads or on decoding in place; replies are well-formed IAC triples, never more bytes than
 * came in; input without IAC passes through unchanged and unanswered; and any data escaped the
 * RFC 854 way (IAC doubled) with Telnet commands mixed in between bytes (NOP, option
 * negotiation, COM-PORT-OPTION subnegotiations with IAC doubled inside) decodes back to exactly
 * that data, however it is split. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports/port_rfc2217.h"

#define MAX_IN 8192

struct outcome {
        uint8_t data[MAX_IN];
        size_t len;
        uint8_t replies[4 * MAX_IN];
        size_t replies_len;
        struct rfc state;
};

static int sv[2] = { -1, -1 }; /* [0] the client's socket, [1] the "server" end we drain */

static void connect_pair(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &alen) < 0)
                abort();
        sv[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 || (sv[1] = accept(l, NULL, NULL)) < 0)
                abort();
        close(l);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

/* What has arrived so far (replies are written synchronously but may not have crossed yet). */
static void drain(struct outcome *o)
{
        for (;;) {
                ssize_t n = read(sv[1], o->replies + o->replies_len, sizeof(o->replies) - o->replies_len);
                if (n <= 0)
                        return;
                o->replies_len += (size_t)n;
                if (o->replies_len == sizeof(o->replies))
                        abort();
        }
}

/* Everything the decoder sent: replies are IAC triples, so a 0x00 sentinel written after them
 * is found at a multiple of 3. */
static void drain_all(struct outcome *o)
{
        if (send(sv[0], "", 1, MSG_NOSIGNAL) != 1)
                abort();
        for (;;) {
                drain(o);
                if (o->replies_len % 3 == 1 && o->replies[o->replies_len - 1] == 0) {
                        o->replies_len--;
                        return;
                }
                struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
                if (poll(&pfd, 1, 1000) != 1)
                        abort();
        }
}

/* Decode in chunks whose sizes come from a tiny generator seeded by `seed` (0: one chunk). */
static void decode(const uint8_t *in, size_t n, unsigned seed, bool in_place, struct outcome *o)
{
        memset(o, 0, sizeof(*o));
        o->state.fd = sv[0];
        static uint8_t buf[MAX_IN];
        size_t i = 0;
        while (i < n) {
                size_t chunk = n - i;
                if (seed) {
                        seed = seed * 1103515245u + 12345u;
                        chunk = 1 + (seed >> 16) % 17;
                        if (chunk > n - i)
                                chunk = n - i;
                }
                size_t got;
                if (in_place) {
                        memcpy(buf, in + i, chunk);
                        got = port_rfc2217_decode(&o->state, buf, chunk, buf);
                        memcpy(o->data + o->len, buf, got);
                } else {
                        got = port_rfc2217_decode(&o->state, in + i, chunk, o->data + o->len);
                }
                if (got > chunk)
                        abort();
                o->len += got;
                i += chunk;
                drain(o);
        }
        drain_all(o);
}

static void same(const struct outcome *a, const struct outcome *b)
{
        if (a->len != b->len || memcmp(a->data, b->data, a->len) || a->replies_len != b->replies_len ||
            memcmp(a->replies, b->replies, a->replies_len) || memcmp(&a->state, &b->state, sizeof(a->state)))
                abort();
}

/* Escape in[0..n) as a server would send it, with a command after each byte whose value picks
 * one (data byte % 8: 0 NOP, 1 WILL SGA, 2 DO BINARY, 3 SB COM-PORT SET-BAUDRATE reply with the
 * value 0xFFxxxxxx, 4 SB COM-PORT NOTIFY-LINESTATE; others none). */
static size_t escape_with_commands(const uint8_t *in, size_t n, uint8_t *wire, size_t cap)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                if (o + 16 > cap)
                        abort();
                if (in[i] == 255)
                        wire[o++] = 255;
                wire[o++] = in[i];
                switch (in[i] % 8) {
                case 0:
                        wire[o++] = 255, wire[o++] = 241;
                        break;
                case 1:
                        wire[o++] = 255, wire[o++] = 251, wire[o++] = 3;
                        break;
                case 2:
                        wire[o++] = 255, wire[o++] = 253, wire[o++] = 0;
                        break;
                case 3: /* IAC SB 44 101 <FF FF> 00 01 C2 IAC SE: a baud of 0xFF0001C2, IAC doubled */
                        wire[o++] = 255, wire[o++] = 250, wire[o++] = 44, wire[o++] = 101;
                        wire[o++] = 255, wire[o++] = 255, wire[o++] = 0, wire[o++] = 1, wire[o++] = 0xC2;
                        wire[o++] = 255, wire[o++] = 240;
                        break;
                case 4:
                        wire[o++] = 255, wire[o++] = 250, wire[o++] = 44, wire[o++] = 106, wire[o++] = in[i] & 0x7f;
                        wire[o++] = 255, wire[o++] = 240;
                        break;
                default:
                        break;
                }
        }
        return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct outcome whole, split, inplace;
        if (sv[0] < 0)
                connect_pair();
        if (size < 1 || size > MAX_IN)
                return 0;
        unsigned seed = data[0] | 1u;
        const uint8_t *in = data + 1;
        size_t n = size - 1;

        decode(in, n, 0, false, &whole);
        decode(in, n, seed, false, &split);
        decode(in, n, seed, true, &inplace);
        same(&whole, &split);
        same(&whole, &inplace);

        if (whole.len > n || whole.replies_len > n || whole.replies_len % 3)
                abort();
        for (size_t i = 0; i < whole.replies_len; i += 3)
                if (whole.replies[i] != 255 || whole.replies[i + 1] < 251 || whole.replies[i + 1] > 254)
                        abort();
        if (!memchr(in, 255, n) && (whole.len != n || memcmp(whole.data, in, n) || whole.replies_len))
                abort();
        if (whole.state.sb_len > SB_MAX || whole.state.st > S_SB_IAC)
                abort();

        /* Escape -> decode round trip. */
        static uint8_t wire[MAX_IN];
        size_t m = n < MAX_IN / 12 ? n : MAX_IN / 12;
        size_t wl = escape_with_commands(in, m, wire, sizeof(wire));
        decode(wire, wl, 0, false, &whole);
        decode(wire, wl, seed, true, &split);
        if (whole.len != m || memcmp(whole.data, in, m) || whole.state.st != S_DATA)
                abort(); /* data lost, added or changed by the unescaping */
        same(&whole, &split);
        return 0;
}
