/* Private to daemon/ports/ and its tests/fuzzers: the RFC 2217 client's state and its wire
 * decoder, so the decoder can be driven without a TCP server. Engines never include this. */
#ifndef CORRAL_PORT_RFC2217_H
#define CORRAL_PORT_RFC2217_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RX_BUF 4096  /* decoded bytes that arrived while we waited for an answer */
#define SB_MAX 64    /* longest subnegotiation we keep (longer ones are truncated) */

enum rx_state { S_DATA, S_IAC, S_OPT, S_SB_OPT, S_SB_DATA, S_SB_IAC };

/* Per-option negotiation state for our side ("us") and the server's ("them"). */
struct optstate {
        bool us, us_asked, them, them_asked;
};

/* One connection's state. The caller owns it; fd is the connected socket (negotiation replies
 * are written to it; with gone set they are dropped). Zeroed = fresh connection. */
struct rfc {
        int fd;
        bool gone;
        enum rx_state st;
        uint8_t cmd;            /* pending WILL/WONT/DO/DONT */
        uint8_t sb_opt;
        uint8_t sb[SB_MAX];
        size_t sb_len;
        struct optstate opt[256];
        bool comport_refused;
        bool baud_acked;        /* server answered SET-BAUDRATE since the last request */
        uint32_t server_baud;
        unsigned lines_acked;   /* server answers to DTR/RTS SET-CONTROL since the last set_lines */
        uint8_t rx[RX_BUF];     /* decoded data not yet handed to read() */
        size_t rx_len;
};

/* Decode n raw bytes from the wire into out (room for n bytes; out may equal in): Telnet
 * commands are stripped and acted on (negotiation answers, COM-PORT-OPTION replies), IAC IAC
 * becomes one 0xFF. State carries over between calls. Returns the number of data bytes. */
size_t port_rfc2217_decode(struct rfc *r, const uint8_t *in, size_t n, uint8_t *out);

#endif
