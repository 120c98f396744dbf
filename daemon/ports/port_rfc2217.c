/* The "rfc2217" backend: a Telnet COM-PORT-OPTION client (RFC 2217, RFC 854/856/858) for ser2net,
 * esptool's rfc2217 server and virtual boards. Carries baud, 8N1, DTR/RTS and purge; data bytes
 * have IAC doubled on the way out and Telnet commands stripped on the way in. */
#include "ports/port.h"
#include "ports/port_backends.h"
#include "ports/port_rfc2217.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
        T_SE = 240, T_SB = 250, T_WILL = 251, T_WONT = 252, T_DO = 253, T_DONT = 254, T_IAC = 255,
        OPT_BINARY = 0, OPT_ECHO = 1, OPT_SGA = 3, OPT_COMPORT = 44,
        CPO_SET_BAUDRATE = 1, CPO_SET_DATASIZE = 2, CPO_SET_PARITY = 3, CPO_SET_STOPSIZE = 4,
        CPO_SET_CONTROL = 5, CPO_PURGE_DATA = 12, CPO_SERVER_OFFSET = 100,
        CTL_NO_FLOW = 1, CTL_BREAK_ON = 5, CTL_BREAK_OFF = 6, CTL_DTR_ON = 8, CTL_DTR_OFF = 9, CTL_RTS_ON = 11, CTL_RTS_OFF = 12,
        PARITY_NONE = 1, STOPSIZE_1 = 1, PURGE_RX = 1,
};

#define NEG_TIMEOUT_MS 200 /* writes of small negotiation replies */

static int rfc_send(struct rfc *r, const uint8_t *b, size_t len, int timeout_ms)
{
        if (r->gone)
                return -ENODEV;
        int e = port_tcp_send_all(r->fd, b, len, util_mono_ms() + (uint64_t)timeout_ms);
        if (e == -ENODEV)
                r->gone = true;
        return e;
}

static void send_neg(struct rfc *r, uint8_t cmd, uint8_t opt)
{
        uint8_t b[3] = { T_IAC, cmd, opt };
        (void)rfc_send(r, b, sizeof(b), NEG_TIMEOUT_MS); /* loss shows up as -ENODEV on the next call */
}

static bool we_support(uint8_t opt)
{
        return opt == OPT_BINARY || opt == OPT_SGA || opt == OPT_COMPORT;
}

/* RFC 1143-lite: answer only real changes so the two sides never loop. */
static void handle_neg(struct rfc *r, uint8_t cmd, uint8_t opt)
{
        struct optstate *o = &r->opt[opt];
        switch (cmd) {
        case T_DO:
                if (!we_support(opt)) {
                        send_neg(r, T_WONT, opt);
                } else if (!o->us) {
                        o->us = true;
                        if (!o->us_asked)
                                send_neg(r, T_WILL, opt);
                }
                o->us_asked = false;
                break;
        case T_DONT:
                if (opt == OPT_COMPORT)
                        r->comport_refused = true;
                if (o->us && !o->us_asked)
                        send_neg(r, T_WONT, opt);
                o->us = o->us_asked = false;
                break;
        case T_WILL:
                /* The server's ECHO would bounce our own bytes back into the data stream. */
                if (!we_support(opt)) {
                        send_neg(r, T_DONT, opt);
                } else if (!o->them) {
                        o->them = true;
                        if (!o->them_asked)
                                send_neg(r, T_DO, opt);
                }
                o->them_asked = false;
                break;
        case T_WONT:
                if (o->them && !o->them_asked)
                        send_neg(r, T_DONT, opt);
                o->them = o->them_asked = false;
                break;
        }
}

static void handle_sb(struct rfc *r)
{
        if (r->sb_opt != OPT_COMPORT || r->sb_len < 1)
                return;
        /* Server answers are the client codes + 100; all of them are consumed here. */
        if (r->sb[0] == CPO_SERVER_OFFSET + CPO_SET_BAUDRATE && r->sb_len >= 5) {
                r->server_baud = (uint32_t)r->sb[1] << 24 | (uint32_t)r->sb[2] << 16 |
                                 (uint32_t)r->sb[3] << 8 | r->sb[4];
                r->baud_acked = true;
        }
        if (r->sb[0] == CPO_SERVER_OFFSET + CPO_SET_CONTROL && r->sb_len >= 2 &&
            (r->sb[1] == CTL_DTR_ON || r->sb[1] == CTL_DTR_OFF || r->sb[1] == CTL_RTS_ON || r->sb[1] == CTL_RTS_OFF))
                r->lines_acked++;
}

/* Decode raw bytes from the wire into out (never more bytes than in); returns data bytes. */
size_t port_rfc2217_decode(struct rfc *r, const uint8_t *in, size_t n, uint8_t *out)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                uint8_t c = in[i];
                switch (r->st) {
                case S_DATA:
                        if (c == T_IAC)
                                r->st = S_IAC;
                        else
                                out[o++] = c;
                        break;
                case S_IAC:
                        if (c == T_IAC) {
                                out[o++] = T_IAC;
                                r->st = S_DATA;
                        } else if (c == T_WILL || c == T_WONT || c == T_DO || c == T_DONT) {
                                r->cmd = c;
                                r->st = S_OPT;
                        } else if (c == T_SB) {
                                r->st = S_SB_OPT;
                        } else {
                                r->st = S_DATA; /* NOP, GA, stray SE, ...: ignored */
                        }
                        break;
                case S_OPT:
                        handle_neg(r, r->cmd, c);
                        r->st = S_DATA;
                        break;
                case S_SB_OPT:
                        r->sb_opt = c;
                        r->sb_len = 0;
                        r->st = S_SB_DATA;
                        break;
                case S_SB_DATA:
                        if (c == T_IAC)
                                r->st = S_SB_IAC;
                        else if (r->sb_len < SB_MAX)
                                r->sb[r->sb_len++] = c;
                        break;
                case S_SB_IAC:
                        if (c == T_IAC) {
                                if (r->sb_len < SB_MAX)
                                        r->sb[r->sb_len++] = T_IAC;
                                r->st = S_SB_DATA;
                        } else {
                                if (c == T_SE)
                                        handle_sb(r);
                                r->st = S_DATA; /* IAC <other> inside SB: malformed, drop it */
                        }
                        break;
                }
        }
        return o;
}

/* Read from the wire into the local buffer until done(r) or the timeout. */
static int rfc_pump_until(struct rfc *r, bool (*done)(const struct rfc *), int timeout_ms)
{
        uint8_t raw[RX_BUF];
        uint64_t deadline = util_mono_ms() + (uint64_t)timeout_ms;
        while (!done(r)) {
                if (r->gone)
                        return -ENODEV;
                uint64_t now = util_mono_ms();
                size_t room = RX_BUF - r->rx_len;
                if (now >= deadline || room == 0)
                        return -ETIMEDOUT;
                int n = port_tcp_recv(r->fd, -1, raw, room, (int)(deadline - now));
                if (n < 0) {
                        if (n == -ENODEV)
                                r->gone = true;
                        return n;
                }
                r->rx_len += port_rfc2217_decode(r, raw, (size_t)n, r->rx + r->rx_len);
        }
        return 0;
}

static int rfc_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        struct rfc *r = p->priv;
        if (r->rx_len > 0) {
                size_t n = r->rx_len < len ? r->rx_len : len;
                memcpy(buf, r->rx, n);
                memmove(r->rx, r->rx + n, r->rx_len - n);
                r->rx_len -= n;
                return (int)n;
        }
        if (r->gone)
                return -ENODEV;
        if (len == 0)
                return 0;
        uint8_t raw[RX_BUF];
        if (len > sizeof(raw))
                len = sizeof(raw);
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        for (;;) {
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                int n = port_tcp_recv(r->fd, p->wake_fd, raw, len, left);
                if (n < 0) {
                        if (n == -ENODEV)
                                r->gone = true;
                        return n;
                }
                if (n == 0)
                        return 0;
                size_t o = port_rfc2217_decode(r, raw, (size_t)n, buf);
                if (o > 0)
                        return (int)o;
                if (left == 0)
                        return 0;
                /* Only Telnet commands arrived: keep waiting for data. */
        }
}

static int rfc_write(struct port *p, const void *buf, size_t len, int timeout_ms)
{
        struct rfc *r = p->priv;
        const uint8_t *b = buf;
        uint8_t esc[2 * 1024];
        if (r->gone)
                return -ENODEV;
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        size_t i = 0;
        while (i < len) {
                size_t o = 0;
                while (i < len && o + 2 <= sizeof(esc)) {
                        if (b[i] == T_IAC)
                                esc[o++] = T_IAC;
                        esc[o++] = b[i++];
                }
                int e = port_tcp_send_all(r->fd, esc, o, deadline);
                if (e < 0) {
                        if (e == -ENODEV)
                                r->gone = true;
                        return e;
                }
        }
        return (int)len;
}

/* IAC SB COM-PORT-OPTION cmd <value, IAC doubled> IAC SE, appended to out; returns length. */
static size_t cpo_encode(uint8_t *out, uint8_t cmd, const uint8_t *val, size_t vlen)
{
        size_t o = 0;
        out[o++] = T_IAC;
        out[o++] = T_SB;
        out[o++] = OPT_COMPORT;
        out[o++] = cmd;
        for (size_t i = 0; i < vlen; i++) {
                if (val[i] == T_IAC)
                        out[o++] = T_IAC;
                out[o++] = val[i];
        }
        out[o++] = T_IAC;
        out[o++] = T_SE;
        return o;
}

static bool baud_answered(const struct rfc *r)
{
        return r->baud_acked;
}

static size_t cpo_baud(uint8_t *out, unsigned baud)
{
        uint8_t v[4] = { (uint8_t)(baud >> 24), (uint8_t)(baud >> 16), (uint8_t)(baud >> 8), (uint8_t)baud };
        return cpo_encode(out, CPO_SET_BAUDRATE, v, sizeof(v));
}

static int rfc_set_baud(struct port *p, unsigned baud)
{
        struct rfc *r = p->priv;
        uint8_t b[16];
        if (r->gone)
                return -ENODEV;
        if (baud == 0)
                return -EINVAL;
        r->baud_acked = false;
        int e = rfc_send(r, b, cpo_baud(b, baud), PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        /* Wait for the ack so the new rate is in effect before the next bytes; a server that
         * never answers only costs the timeout. */
        e = rfc_pump_until(r, baud_answered, PORT_RFC2217_REPLY_TIMEOUT_MS);
        return (e == -ENODEV) ? e : 0;
}

static bool lines_answered(const struct rfc *r)
{
        return r->lines_acked >= 2;
}

static int rfc_set_lines(struct port *p, bool dtr, bool rts)
{
        struct rfc *r = p->priv;
        uint8_t b[32], v;
        size_t n = 0;
        /* Both SET-CONTROL commands leave in one segment. */
        v = dtr ? CTL_DTR_ON : CTL_DTR_OFF;
        n += cpo_encode(b + n, CPO_SET_CONTROL, &v, 1);
        v = rts ? CTL_RTS_ON : CTL_RTS_OFF;
        n += cpo_encode(b + n, CPO_SET_CONTROL, &v, 1);
        r->lines_acked = 0;
        int e = rfc_send(r, b, n, PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        /* Wait for the server's answers: the lines are set on the far side before the caller
         * times a reset pulse from here (a server slow to act would otherwise see EN low and
         * high back to back). A server that never answers only costs the timeout. */
        e = rfc_pump_until(r, lines_answered, PORT_RFC2217_REPLY_TIMEOUT_MS);
        return e == -ENODEV ? e : 0;
}

static int rfc_set_break(struct port *p, bool on)
{
        struct rfc *r = p->priv;
        uint8_t b[16], v = on ? CTL_BREAK_ON : CTL_BREAK_OFF;
        return rfc_send(r, b, cpo_encode(b, CPO_SET_CONTROL, &v, 1), PORT_RFC2217_REPLY_TIMEOUT_MS);
}

static int rfc_flush_input(struct port *p)
{
        struct rfc *r = p->priv;
        uint8_t b[16], v = PURGE_RX;
        uint8_t raw[RX_BUF];
        if (r->gone)
                return -ENODEV;
        int e = rfc_send(r, b, cpo_encode(b, CPO_PURGE_DATA, &v, 1), PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        /* Drop what we hold and what is already in the socket (still parsing commands). */
        r->rx_len = 0;
        for (;;) {
                int n = port_tcp_recv(r->fd, -1, raw, sizeof(raw), 0);
                if (n < 0) {
                        if (n == -ENODEV)
                                r->gone = true;
                        return n;
                }
                if (n == 0)
                        break;
                (void)port_rfc2217_decode(r, raw, (size_t)n, raw);
        }
        return 0;
}

static void rfc_close(struct port *p)
{
        struct rfc *r = p->priv;
        if (!r)
                return;
        close(r->fd);
        free(r);
        p->priv = NULL;
}

static const struct port_ops rfc2217_ops = {
        .name = "rfc2217",
        .read = rfc_read,
        .write = rfc_write,
        .set_baud = rfc_set_baud,
        .set_lines = rfc_set_lines,
        .flush_input = rfc_flush_input,
        .set_break = rfc_set_break,
        .close = rfc_close,
};

static bool comport_answered(const struct rfc *r)
{
        return r->opt[OPT_COMPORT].us || r->comport_refused;
}

static void ask(struct rfc *r, uint8_t *b, size_t *n, uint8_t cmd, uint8_t opt)
{
        b[(*n)++] = T_IAC;
        b[(*n)++] = cmd;
        b[(*n)++] = opt;
        if (cmd == T_WILL)
                r->opt[opt].us_asked = true;
        else
                r->opt[opt].them_asked = true;
}

/* Negotiate, then set 8N1, no flow control and the baud rate. */
static int rfc_handshake(struct rfc *r, unsigned baud)
{
        uint8_t b[128];
        size_t n = 0;
        ask(r, b, &n, T_WILL, OPT_BINARY);
        ask(r, b, &n, T_DO, OPT_BINARY);
        ask(r, b, &n, T_WILL, OPT_SGA);
        ask(r, b, &n, T_DO, OPT_SGA);
        ask(r, b, &n, T_WILL, OPT_COMPORT);
        int e = rfc_send(r, b, n, PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        e = rfc_pump_until(r, comport_answered, PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        if (r->comport_refused)
                return -EPROTONOSUPPORT;

        uint8_t v;
        n = 0;
        v = 8;
        n += cpo_encode(b + n, CPO_SET_DATASIZE, &v, 1);
        v = PARITY_NONE;
        n += cpo_encode(b + n, CPO_SET_PARITY, &v, 1);
        v = STOPSIZE_1;
        n += cpo_encode(b + n, CPO_SET_STOPSIZE, &v, 1);
        v = CTL_NO_FLOW;
        n += cpo_encode(b + n, CPO_SET_CONTROL, &v, 1);
        e = rfc_send(r, b, n, PORT_RFC2217_REPLY_TIMEOUT_MS);
        if (e < 0)
                return e;
        if (baud) {
                r->baud_acked = false;
                e = rfc_send(r, b, cpo_baud(b, baud), PORT_RFC2217_REPLY_TIMEOUT_MS);
                if (e < 0)
                        return e;
                e = rfc_pump_until(r, baud_answered, PORT_RFC2217_REPLY_TIMEOUT_MS);
                if (e == -ENODEV)
                        return e;
        }
        return 0;
}

int port_rfc2217_open(const char *url, const char *host, const char *service, unsigned baud,
                      struct port **ret)
{
        int fd;
        if (!ret)
                return -EINVAL;
        int e = port_tcp_connect(host, service, PORT_TCP_CONNECT_TIMEOUT_MS, &fd);
        if (e < 0)
                return e;
        struct rfc *r = calloc(1, sizeof(*r));
        if (!r) {
                close(fd);
                return -ENOMEM;
        }
        r->fd = fd;
        e = rfc_handshake(r, baud);
        struct port *p = NULL;
        if (e == 0)
                e = port_alloc(&rfc2217_ops, url, baud, &p);
        if (e < 0) {
                close(fd);
                free(r);
                return e;
        }
        p->priv = r;
        *ret = p;
        return 0;
}
