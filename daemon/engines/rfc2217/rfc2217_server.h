/* RFC 2217 (Telnet COM-PORT-OPTION) server side as a pure engine: bytes from the client in,
 * actions for the serial port and replies for the client out. No sockets, no clock, no port:
 * the caller executes the actions in order, then sends the replies. Also escapes board bytes
 * for the wire (IAC doubled). RFC 854/856/858 negotiation, RFC 2217 §2-§3. */
#ifndef CORRAL_RFC2217_SERVER_H
#define CORRAL_RFC2217_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Telnet and COM-PORT-OPTION codes (shared with the client backend's knowledge). */
enum {
        R2S_SE = 240, R2S_NOP = 241, R2S_SB = 250, R2S_WILL = 251, R2S_WONT = 252, R2S_DO = 253,
        R2S_DONT = 254, R2S_IAC = 255,
        R2S_OPT_BINARY = 0, R2S_OPT_ECHO = 1, R2S_OPT_SGA = 3, R2S_OPT_COMPORT = 44,
        /* client -> server sub-commands; the server answers with code + R2S_SERVER_OFFSET */
        R2S_SIGNATURE = 0, R2S_SET_BAUDRATE = 1, R2S_SET_DATASIZE = 2, R2S_SET_PARITY = 3,
        R2S_SET_STOPSIZE = 4, R2S_SET_CONTROL = 5, R2S_NOTIFY_LINESTATE = 6, R2S_NOTIFY_MODEMSTATE = 7,
        R2S_FLOWCONTROL_SUSPEND = 8, R2S_FLOWCONTROL_RESUME = 9, R2S_SET_LINESTATE_MASK = 10,
        R2S_SET_MODEMSTATE_MASK = 11, R2S_PURGE_DATA = 12, R2S_SERVER_OFFSET = 100,
        /* SET-CONTROL values */
        R2S_CTL_FLOW_REQUEST = 0, R2S_CTL_FLOW_NONE = 1, R2S_CTL_BREAK_REQUEST = 4, R2S_CTL_BREAK_ON = 5,
        R2S_CTL_BREAK_OFF = 6, R2S_CTL_DTR_REQUEST = 7, R2S_CTL_DTR_ON = 8, R2S_CTL_DTR_OFF = 9,
        R2S_CTL_RTS_REQUEST = 10, R2S_CTL_RTS_ON = 11, R2S_CTL_RTS_OFF = 12, R2S_CTL_INFLOW_REQUEST = 13,
        R2S_CTL_INFLOW_NONE = 14,
        /* PURGE-DATA values (RFC 2217 §3; pyserial: reset_input_buffer sends 1): 1 = the access
         * server's receive buffer, i.e. bytes received FROM the serial device not yet sent to the
         * client (board -> host); 2 = its transmit buffer, bytes from the client not yet sent TO
         * the device (host -> board); 3 = both. */
        R2S_PURGE_RX = 1, R2S_PURGE_TX = 2, R2S_PURGE_BOTH = 3,
        /* NOTIFY-MODEMSTATE bits */
        R2S_MODEM_CTS = 0x10, R2S_MODEM_DSR = 0x20, R2S_MODEM_RI = 0x40, R2S_MODEM_CD = 0x80,
};

#define R2S_SB_MAX 64          /* longest subnegotiation kept (longer ones are truncated) */
#define R2S_MAX_ACTIONS 32     /* actions one feed call may produce */
#define R2S_DATA_MAX 4096      /* decoded client data one feed call may produce */
#define R2S_REPLY_MAX 1024     /* reply bytes one feed call may produce */

enum r2s_kind {
        R2S_ACT_DATA,      /* out->data[off..off+len): bytes for the port */
        R2S_ACT_BAUD,      /* value: baud (> 0) */
        R2S_ACT_DATASIZE,  /* value: 5..8 */
        R2S_ACT_PARITY,    /* value: 1 none, 2 odd, 3 even, 4 mark, 5 space */
        R2S_ACT_STOPSIZE,  /* value: 1 one, 2 two, 3 one and a half */
        R2S_ACT_LINES,     /* dtr, rts: the client's wanted line state (after this change) */
        R2S_ACT_BREAK,     /* value: 1 on, 0 off */
        R2S_ACT_PURGE,     /* value: R2S_PURGE_RX / _TX / _BOTH */
        R2S_ACT_SUSPEND,   /* value: 1 the client asks us to stop sending, 0 resume */
};

struct r2s_action {
        enum r2s_kind kind;
        uint32_t value;
        bool dtr, rts;     /* R2S_ACT_LINES */
        uint32_t off, len; /* R2S_ACT_DATA */
};

/* What one feed call produced. The caller zeroes nact/ndata/nreply before each call (or uses
 * rfc2217_server_out_reset) and consumes everything after it. */
struct r2s_out {
        struct r2s_action act[R2S_MAX_ACTIONS];
        size_t nact;
        uint8_t data[R2S_DATA_MAX];
        size_t ndata;
        uint8_t reply[R2S_REPLY_MAX];
        size_t nreply;
};

enum r2s_state { R2S_S_DATA, R2S_S_IAC, R2S_S_OPT, R2S_S_SB_OPT, R2S_S_SB_DATA, R2S_S_SB_IAC };

/* Per option: agreed on our side (us: we WILL) and theirs (them: they WILL), and asked. */
struct r2s_opt {
        bool us, us_asked, them, them_asked;
};

/* One client connection. Caller-owned; initialise with rfc2217_server_init. */
struct rfc2217_server {
        enum r2s_state st;
        uint8_t cmd;
        uint8_t sb_opt;
        uint8_t sb[R2S_SB_MAX];
        size_t sb_len;
        bool sb_overflow;
        struct r2s_opt opt[256];
        /* the line settings as the client last set them (answers to queries) */
        uint32_t baud;
        uint8_t datasize, parity, stopsize;
        bool dtr, rts, brk;
        uint8_t linestate_mask, modemstate_mask;
        uint8_t modemstate;            /* last notified (bits 4..7) */
        char signature[48];
        bool only_8n1;                 /* the port carries 8N1 only: other settings are refused
                                        * (answered with the current value, no action) */
};

/* Fresh state; baud is what the port runs at now; signature (may be NULL) answers SIGNATURE. */
void rfc2217_server_init(struct rfc2217_server *s, uint32_t baud, const char *signature);
void rfc2217_server_out_reset(struct r2s_out *out);
/* Our opening negotiation (WILL/DO BINARY, SGA, DO COM-PORT-OPTION) into out->reply. */
void rfc2217_server_start(struct rfc2217_server *s, struct r2s_out *out);
/* Decode client bytes: returns how many of in were consumed (less than n when out filled up:
 * consume out, reset it, call again with the rest). Data and control keep their order: a
 * data run before a control ends in its own R2S_ACT_DATA action. */
size_t rfc2217_server_feed(struct rfc2217_server *s, const uint8_t *in, size_t n, struct r2s_out *out);
/* Escape board bytes for the wire: writes at most cap bytes to out (IAC doubled), never
 * splitting a doubled IAC; *consumed gets how many of in were taken. Returns bytes written. */
size_t rfc2217_server_escape(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *consumed);
/* The modem lines changed to state (R2S_MODEM_* bits): a NOTIFY-MODEMSTATE for the client,
 * masked by its SET-MODEMSTATE-MASK, with delta bits (0..3) for what changed, into out->reply
 * (nothing when the masked state did not change or COM-PORT-OPTION is not agreed). */
void rfc2217_server_modem(struct rfc2217_server *s, uint8_t state, struct r2s_out *out);
/* Whether the client agreed to COM-PORT-OPTION (it said WILL). */
bool rfc2217_server_comport(const struct rfc2217_server *s);

#endif
