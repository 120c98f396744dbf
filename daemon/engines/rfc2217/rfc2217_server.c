/* RFC 2217 server engine: Telnet option negotiation (RFC 1143-lite, never loops), COM-PORT-OPTION
 * subnegotiations turned into port actions and answered with code + 100 echoing the value, data
 * bytes with IAC IAC undoubled. Pure: see rfc2217_server.h. */
#include "engines/rfc2217/rfc2217_server.h"

#include <stdio.h>
#include <string.h>

#define REPLY_ROOM (2 * R2S_SB_MAX + 32) /* the most one byte of input can make us say */

void rfc2217_server_init(struct rfc2217_server *s, uint32_t baud, const char *signature)
{
        memset(s, 0, sizeof(*s));
        s->baud = baud ? baud : 115200;
        s->datasize = 8;
        s->parity = 1;
        s->stopsize = 1;
        s->modemstate_mask = 0xff;
        snprintf(s->signature, sizeof(s->signature), "%s", signature ? signature : "corral");
}

void rfc2217_server_out_reset(struct r2s_out *out)
{
        out->nact = out->ndata = out->nreply = 0;
}

static void put(struct r2s_out *out, const uint8_t *b, size_t n)
{
        if (out->nreply + n > sizeof(out->reply))
                return; /* cannot happen: feed keeps REPLY_ROOM free */
        memcpy(out->reply + out->nreply, b, n);
        out->nreply += n;
}

static void neg(struct r2s_out *out, uint8_t cmd, uint8_t opt)
{
        uint8_t b[3] = { R2S_IAC, cmd, opt };
        put(out, b, sizeof(b));
}

/* IAC SB COM-PORT-OPTION (code + 100) <val, IAC doubled> IAC SE */
static void reply(struct r2s_out *out, uint8_t code, const uint8_t *val, size_t vlen)
{
        uint8_t b[2 * R2S_SB_MAX + 8];
        size_t o = 0;
        b[o++] = R2S_IAC;
        b[o++] = R2S_SB;
        b[o++] = R2S_OPT_COMPORT;
        b[o++] = (uint8_t)(code + R2S_SERVER_OFFSET);
        for (size_t i = 0; i < vlen && o + 4 <= sizeof(b); i++) {
                if (val[i] == R2S_IAC)
                        b[o++] = R2S_IAC;
                b[o++] = val[i];
        }
        b[o++] = R2S_IAC;
        b[o++] = R2S_SE;
        put(out, b, o);
}

static void reply1(struct r2s_out *out, uint8_t code, uint8_t v)
{
        reply(out, code, &v, 1);
}

static struct r2s_action *action(struct r2s_out *out, enum r2s_kind kind, uint32_t value)
{
        struct r2s_action *a = &out->act[out->nact++];
        memset(a, 0, sizeof(*a));
        a->kind = kind;
        a->value = value;
        return a;
}

static bool supported(uint8_t opt)
{
        return opt == R2S_OPT_BINARY || opt == R2S_OPT_SGA || opt == R2S_OPT_COMPORT;
}

static void ask(struct rfc2217_server *s, struct r2s_out *out, uint8_t cmd, uint8_t opt)
{
        struct r2s_opt *o = &s->opt[opt];
        if (cmd == R2S_WILL) {
                if (o->us || o->us_asked)
                        return;
                o->us_asked = true;
        } else {
                if (o->them || o->them_asked)
                        return;
                o->them_asked = true;
        }
        neg(out, cmd, opt);
}

void rfc2217_server_start(struct rfc2217_server *s, struct r2s_out *out)
{
        ask(s, out, R2S_WILL, R2S_OPT_BINARY);
        ask(s, out, R2S_DO, R2S_OPT_BINARY);
        ask(s, out, R2S_WILL, R2S_OPT_SGA);
        ask(s, out, R2S_DO, R2S_OPT_SGA);
        ask(s, out, R2S_WILL, R2S_OPT_COMPORT);
        ask(s, out, R2S_DO, R2S_OPT_COMPORT);
}

/* RFC 1143-lite: answer only requests that change the state, so two peers never loop. */
static void negotiate(struct rfc2217_server *s, struct r2s_out *out, uint8_t cmd, uint8_t opt)
{
        struct r2s_opt *o = &s->opt[opt];
        switch (cmd) {
        case R2S_DO:
                if (!supported(opt)) {
                        if (!o->us_asked)
                                neg(out, R2S_WONT, opt);
                        o->us = false;
                } else if (!o->us) {
                        o->us = true;
                        if (!o->us_asked)
                                neg(out, R2S_WILL, opt);
                }
                o->us_asked = false;
                break;
        case R2S_DONT:
                if (o->us && !o->us_asked)
                        neg(out, R2S_WONT, opt);
                o->us = o->us_asked = false;
                break;
        case R2S_WILL:
                if (!supported(opt)) {
                        if (!o->them_asked)
                                neg(out, R2S_DONT, opt);
                        o->them = false;
                } else if (!o->them) {
                        o->them = true;
                        if (!o->them_asked)
                                neg(out, R2S_DO, opt);
                }
                o->them_asked = false;
                break;
        case R2S_WONT:
                if (o->them && !o->them_asked)
                        neg(out, R2S_DONT, opt);
                o->them = o->them_asked = false;
                break;
        }
}

static void set_control(struct rfc2217_server *s, struct r2s_out *out, uint8_t v)
{
        const uint8_t code = R2S_SET_CONTROL;
        struct r2s_action *a;
        switch (v) {
        case R2S_CTL_FLOW_REQUEST:
                reply1(out, code, R2S_CTL_FLOW_NONE);
                return;
        case R2S_CTL_BREAK_REQUEST:
                reply1(out, code, s->brk ? R2S_CTL_BREAK_ON : R2S_CTL_BREAK_OFF);
                return;
        case R2S_CTL_BREAK_ON:
        case R2S_CTL_BREAK_OFF:
                s->brk = v == R2S_CTL_BREAK_ON;
                action(out, R2S_ACT_BREAK, s->brk);
                reply1(out, code, v);
                return;
        case R2S_CTL_DTR_REQUEST:
                reply1(out, code, s->dtr ? R2S_CTL_DTR_ON : R2S_CTL_DTR_OFF);
                return;
        case R2S_CTL_RTS_REQUEST:
                reply1(out, code, s->rts ? R2S_CTL_RTS_ON : R2S_CTL_RTS_OFF);
                return;
        case R2S_CTL_DTR_ON:
        case R2S_CTL_DTR_OFF:
        case R2S_CTL_RTS_ON:
        case R2S_CTL_RTS_OFF:
                if (v == R2S_CTL_DTR_ON || v == R2S_CTL_DTR_OFF)
                        s->dtr = v == R2S_CTL_DTR_ON;
                else
                        s->rts = v == R2S_CTL_RTS_ON;
                a = action(out, R2S_ACT_LINES, 0);
                a->dtr = s->dtr;
                a->rts = s->rts;
                reply1(out, code, v);
                return;
        case R2S_CTL_INFLOW_REQUEST:
                reply1(out, code, R2S_CTL_INFLOW_NONE);
                return;
        case 2: case 3:              /* XON/XOFF or hardware flow control outbound: not carried */
                reply1(out, code, R2S_CTL_FLOW_NONE);
                return;
        case 15: case 16: case 17: case 18: case 19: /* inbound flow control: not carried */
                reply1(out, code, R2S_CTL_INFLOW_NONE);
                return;
        default:                     /* FLOW_NONE, INFLOW_NONE, and anything else: as asked */
                reply1(out, code, v);
                return;
        }
}

/* One byte setting (datasize, parity, stopsize): 0 queries; a value in [lo, hi] is taken. */
static void setting(struct r2s_out *out, uint8_t code, const uint8_t *arg, size_t alen, uint8_t *cur,
                    uint8_t lo, uint8_t hi, enum r2s_kind kind)
{
        if (alen < 1)
                return;
        if (arg[0] >= lo && arg[0] <= hi) {
                *cur = arg[0];
                action(out, kind, arg[0]);
        }
        reply1(out, code, *cur);
}

static void subnegotiation(struct rfc2217_server *s, struct r2s_out *out)
{
        if (s->sb_opt != R2S_OPT_COMPORT || s->sb_len < 1 || s->sb_overflow)
                return;
        uint8_t code = s->sb[0];
        const uint8_t *arg = s->sb + 1;
        size_t alen = s->sb_len - 1;
        switch (code) {
        case R2S_SIGNATURE:
                if (alen == 0) /* a request; with text it is the client's own signature */
                        reply(out, code, (const uint8_t *)s->signature, strlen(s->signature));
                return;
        case R2S_SET_BAUDRATE: {
                if (alen < 4)
                        return;
                uint32_t baud = (uint32_t)arg[0] << 24 | (uint32_t)arg[1] << 16 | (uint32_t)arg[2] << 8 | arg[3];
                if (baud) {
                        s->baud = baud;
                        action(out, R2S_ACT_BAUD, baud);
                }
                uint8_t v[4] = { (uint8_t)(s->baud >> 24), (uint8_t)(s->baud >> 16), (uint8_t)(s->baud >> 8),
                                 (uint8_t)s->baud };
                reply(out, code, v, sizeof(v));
                return;
        }
        case R2S_SET_DATASIZE:
                setting(out, code, arg, alen, &s->datasize, s->only_8n1 ? 8 : 5, 8, R2S_ACT_DATASIZE);
                return;
        case R2S_SET_PARITY:
                setting(out, code, arg, alen, &s->parity, 1, s->only_8n1 ? 1 : 5, R2S_ACT_PARITY);
                return;
        case R2S_SET_STOPSIZE:
                setting(out, code, arg, alen, &s->stopsize, 1, s->only_8n1 ? 1 : 3, R2S_ACT_STOPSIZE);
                return;
        case R2S_SET_CONTROL:
                if (alen >= 1)
                        set_control(s, out, arg[0]);
                return;
        case R2S_NOTIFY_LINESTATE:    /* a poll: no line errors to report */
                reply1(out, code, 0);
                return;
        case R2S_NOTIFY_MODEMSTATE:   /* a poll: the current state */
                reply1(out, code, s->modemstate & s->modemstate_mask);
                return;
        case R2S_FLOWCONTROL_SUSPEND:
        case R2S_FLOWCONTROL_RESUME:
                action(out, R2S_ACT_SUSPEND, code == R2S_FLOWCONTROL_SUSPEND);
                return;
        case R2S_SET_LINESTATE_MASK:
        case R2S_SET_MODEMSTATE_MASK:
                if (alen < 1)
                        return;
                if (code == R2S_SET_LINESTATE_MASK)
                        s->linestate_mask = arg[0];
                else
                        s->modemstate_mask = arg[0];
                reply1(out, code, arg[0]);
                return;
        case R2S_PURGE_DATA:
                if (alen < 1 || arg[0] < R2S_PURGE_RX || arg[0] > R2S_PURGE_BOTH)
                        return;
                action(out, R2S_ACT_PURGE, arg[0]);
                reply1(out, code, arg[0]);
                return;
        default:
                return; /* unknown: ignored (RFC 2217) */
        }
}

static void data_byte(struct r2s_out *out, uint8_t c)
{
        struct r2s_action *last = out->nact ? &out->act[out->nact - 1] : NULL;
        if (!last || last->kind != R2S_ACT_DATA || last->off + last->len != out->ndata) {
                last = action(out, R2S_ACT_DATA, 0);
                last->off = (uint32_t)out->ndata;
        }
        out->data[out->ndata++] = c;
        last->len++;
}

size_t rfc2217_server_feed(struct rfc2217_server *s, const uint8_t *in, size_t n, struct r2s_out *out)
{
        size_t i = 0;
        for (; i < n; i++) {
                if (out->nact >= R2S_MAX_ACTIONS || out->ndata >= R2S_DATA_MAX ||
                    out->nreply + REPLY_ROOM > R2S_REPLY_MAX)
                        break;
                uint8_t c = in[i];
                switch (s->st) {
                case R2S_S_DATA:
                        if (c == R2S_IAC)
                                s->st = R2S_S_IAC;
                        else
                                data_byte(out, c);
                        break;
                case R2S_S_IAC:
                        if (c == R2S_IAC) {
                                data_byte(out, c);
                                s->st = R2S_S_DATA;
                        } else if (c == R2S_WILL || c == R2S_WONT || c == R2S_DO || c == R2S_DONT) {
                                s->cmd = c;
                                s->st = R2S_S_OPT;
                        } else if (c == R2S_SB) {
                                s->st = R2S_S_SB_OPT;
                        } else {
                                s->st = R2S_S_DATA; /* NOP, GA, AYT, a stray SE: ignored */
                        }
                        break;
                case R2S_S_OPT:
                        negotiate(s, out, s->cmd, c);
                        s->st = R2S_S_DATA;
                        break;
                case R2S_S_SB_OPT:
                        s->sb_opt = c;
                        s->sb_len = 0;
                        s->sb_overflow = false;
                        s->st = R2S_S_SB_DATA;
                        break;
                case R2S_S_SB_DATA:
                        if (c == R2S_IAC) {
                                s->st = R2S_S_SB_IAC;
                        } else if (s->sb_len < R2S_SB_MAX) {
                                s->sb[s->sb_len++] = c;
                        } else {
                                s->sb_overflow = true;
                        }
                        break;
                case R2S_S_SB_IAC:
                        if (c == R2S_IAC) {
                                if (s->sb_len < R2S_SB_MAX)
                                        s->sb[s->sb_len++] = R2S_IAC;
                                else
                                        s->sb_overflow = true;
                                s->st = R2S_S_SB_DATA;
                        } else {
                                if (c == R2S_SE)
                                        subnegotiation(s, out);
                                s->st = R2S_S_DATA; /* IAC <other> inside SB: malformed, dropped */
                        }
                        break;
                }
        }
        return i;
}

size_t rfc2217_server_escape(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *consumed)
{
        size_t i = 0, o = 0;
        for (; i < n; i++) {
                size_t need = in[i] == R2S_IAC ? 2 : 1;
                if (o + need > cap)
                        break;
                if (in[i] == R2S_IAC)
                        out[o++] = R2S_IAC;
                out[o++] = in[i];
        }
        if (consumed)
                *consumed = i;
        return o;
}

void rfc2217_server_modem(struct rfc2217_server *s, uint8_t state, struct r2s_out *out)
{
        state &= 0xf0;
        uint8_t delta = (uint8_t)((state ^ s->modemstate) >> 4);
        uint8_t masked_old = s->modemstate & s->modemstate_mask;
        s->modemstate = state;
        if (!rfc2217_server_comport(s) || (state & s->modemstate_mask) == masked_old)
                return;
        if (out->nreply + REPLY_ROOM > R2S_REPLY_MAX)
                return;
        reply1(out, R2S_NOTIFY_MODEMSTATE, (uint8_t)((state | delta) & s->modemstate_mask));
}

bool rfc2217_server_comport(const struct rfc2217_server *s)
{
        return s->opt[R2S_OPT_COMPORT].them || s->opt[R2S_OPT_COMPORT].us;
}
