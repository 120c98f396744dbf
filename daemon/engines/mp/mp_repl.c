/* MicroPython REPL session over struct port: raw REPL, exec (raw-paste or chunked), resets. */
#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_xfer.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MP_SLICE_MS 200

static uint64_t mono_ms(void *unused)
{
        (void)unused;
        return util_mono_ms();
}

void mp_repl_init(struct mp_repl *r, struct port *p)
{
        memset(r, 0, sizeof(*r));
        r->port = p;
        r->mode = MP_MODE_UNKNOWN;
        r->raw_paste = -1;
        r->io_timeout_ms = 2000;
        r->boot_wait_ms = 4000;
        r->chunk_size = 256;
        r->chunk_delay_ms = 10;
        r->check_timeout_ms = 500;
        r->now_ms = mono_ms;
}

uint64_t mp_repl_now(struct mp_repl *r)
{
        return r->now_ms ? r->now_ms(r->clock_user) : mono_ms(NULL);
}

/* Append d to the cap-byte window t (holding *tlen bytes), keeping the newest bytes. */
static void keep_last(uint8_t *t, size_t cap, size_t *tlen, const uint8_t *d, size_t n)
{
        if (n >= cap) {
                memcpy(t, d + n - cap, cap);
                *tlen = cap;
                return;
        }
        if (*tlen + n > cap) {
                size_t drop = *tlen + n - cap;
                memmove(t, t + drop, *tlen - drop);
                *tlen -= drop;
        }
        memcpy(t + *tlen, d, n);
        *tlen += n;
}

static void remember(struct mp_repl *r, const uint8_t *d, size_t n)
{
        keep_last(r->recent, sizeof(r->recent), &r->recent_len, d, n);
}

/* Make sure pend holds at least one byte, waiting until deadline. */
static int fill(struct mp_repl *r, uint64_t deadline)
{
        if (r->pend_off < r->pend_len)
                return 0;
        uint64_t now = mp_repl_now(r);
        uint64_t left = now >= deadline ? 0 : deadline - now;
        int n = port_read(r->port, r->pend, sizeof(r->pend), left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0)
                return n;
        if (n == 0)
                return -ETIMEDOUT;
        r->pend_off = 0;
        r->pend_len = (size_t)n;
        remember(r, r->pend, (size_t)n);
        return 0;
}

static int get_byte(struct mp_repl *r, uint64_t deadline, uint8_t *c)
{
        int rc = fill(r, deadline);
        if (rc < 0)
                return rc;
        *c = r->pend[r->pend_off++];
        return 0;
}

static void tail_add(char *tail, size_t size, size_t *len, uint8_t c)
{
        if (!tail || size < 2)
                return;
        if (*len + 1 >= size) {
                memmove(tail, tail + 1, *len - 1);
                (*len)--;
        }
        tail[(*len)++] = (char)c;
        tail[*len] = '\0';
}

static bool ends_with(const char *s, size_t len, const char *m, size_t mlen)
{
        return len >= mlen && memcmp(s + len - mlen, m, mlen) == 0;
}

/* Wait for any of n markers; returns its index, -ETIMEDOUT or another negative errno.
 * tail (optional) keeps the last bytes read, marker included. */
static int read_until_any(struct mp_repl *r, const char *const *markers, size_t n, int timeout_ms,
                          char *tail, size_t tail_size)
{
        char win[64];
        size_t wlen = 0, tlen = 0;
        uint64_t deadline = mp_repl_now(r) + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        if (tail && tail_size)
                tail[0] = '\0';
        for (;;) {
                uint8_t c;
                int rc = get_byte(r, deadline, &c);
                if (rc < 0)
                        return rc;
                tail_add(tail, tail_size, &tlen, c);
                if (wlen == sizeof(win)) {
                        memmove(win, win + 1, sizeof(win) - 1);
                        wlen--;
                }
                win[wlen++] = (char)c;
                for (size_t i = 0; i < n; i++)
                        if (ends_with(win, wlen, markers[i], strlen(markers[i])))
                                return (int)i;
        }
}

int mp_repl_read_until(struct mp_repl *r, const char *marker, size_t mlen, int timeout_ms, char *tail,
                       size_t tail_size)
{
        char m[64];
        if (mlen == 0 || mlen >= sizeof(m))
                return -EINVAL;
        memcpy(m, marker, mlen);
        m[mlen] = '\0';
        const char *ms[1] = { m };
        int rc = read_until_any(r, ms, 1, timeout_ms, tail, tail_size);
        return rc < 0 ? rc : 0;
}

static int wr(struct mp_repl *r, const void *d, size_t n, char *msg, size_t msg_size)
{
        int rc = port_write(r->port, d, n, r->io_timeout_ms);
        if (rc < 0)
                snprintf(msg, msg_size, "writing to the board failed: %s", strerror(-rc));
        return rc < 0 ? rc : 0;
}

static int timeout_msg(int rc, char *msg, size_t msg_size, const char *what, int ms)
{
        if (rc == -ETIMEDOUT)
                snprintf(msg, msg_size, "%s within %d ms", what, ms);
        else
                snprintf(msg, msg_size, "%s: %s", what, strerror(-rc));
        return rc;
}

/* What a board prints once it waits at a prompt: friendly, after a raw exec, the raw prompt. */
static bool at_prompt(const uint8_t *t, size_t n)
{
        static const char *const ends[] = { ">>> ", "\x04>", "CTRL-B to exit\r\n>" };
        for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
                if (ends_with((const char *)t, n, ends[i], strlen(ends[i])))
                        return true;
        return false;
}

/* Read until quiet_ms of silence (at most max_ms). to_prompt: once the output ends in a prompt,
 * MP_SETTLE_MS of silence is enough (the echo of a second Ctrl-C comes right behind the first). */
static int drain(struct mp_repl *r, int quiet_ms, int max_ms, bool to_prompt)
{
        uint8_t tail[32];
        size_t tlen = 0;
        int total = (int)(r->pend_len - r->pend_off);
        r->pend_off = r->pend_len = 0;
        uint64_t end = mp_repl_now(r) + (uint64_t)max_ms;
        for (;;) {
                uint64_t now = mp_repl_now(r);
                if (now >= end)
                        return total;
                int quiet = to_prompt && at_prompt(tail, tlen) ? MP_SETTLE_MS : quiet_ms;
                int wait = (int)(end - now) < quiet ? (int)(end - now) : quiet;
                int n = port_read(r->port, r->pend, sizeof(r->pend), wait);
                if (n < 0)
                        return n;
                if (n == 0)
                        return total;
                remember(r, r->pend, (size_t)n);
                total += n;
                keep_last(tail, sizeof(tail), &tlen, r->pend, (size_t)n);
        }
}

int mp_repl_drain(struct mp_repl *r, int quiet_ms, int max_ms)
{
        return drain(r, quiet_ms, max_ms, false);
}

int mp_repl_interrupt(struct mp_repl *r, char *msg, size_t msg_size)
{
        int rc = wr(r, "\r\x03\x03", 3, msg, msg_size);
        if (rc < 0)
                return rc;
        r->mode = MP_MODE_UNKNOWN;
        rc = drain(r, 100, 1000, true);
        if (rc < 0)
                return timeout_msg(rc, msg, msg_size, "reading after Ctrl-C failed", 0);
        return 0;
}

int mp_repl_raw_prompt(struct mp_repl *r, const char *what, size_t len, int timeout_ms, char *msg,
                       size_t msg_size)
{
        int rc = wr(r, what, len, msg, msg_size);
        if (rc < 0)
                return rc;
        rc = mp_repl_read_until(r, MP_RAW_PROMPT, strlen(MP_RAW_PROMPT), timeout_ms, NULL, 0);
        if (rc < 0) {
                r->mode = MP_MODE_UNKNOWN;
                return timeout_msg(rc, msg, msg_size, "no raw REPL prompt after Ctrl-A", timeout_ms);
        }
        r->mode = MP_MODE_RAW;
        return 0;
}

int mp_repl_enter_raw(struct mp_repl *r, char *msg, size_t msg_size)
{
        return mp_repl_raw_prompt(r, "\r\x01", 2, r->io_timeout_ms, msg, msg_size);
}

static void note_banner(struct mp_repl *r, const char *tail)
{
        const char *b = NULL;
        for (const char *s = tail; (s = strstr(s, "MicroPython ")) != NULL; s++)
                b = s;
        if (!b)
                return;
        size_t n = strcspn(b, "\r\n");
        if (n >= sizeof(r->banner))
                n = sizeof(r->banner) - 1;
        memcpy(r->banner, b, n);
        r->banner[n] = '\0';
}

int mp_repl_exit_raw(struct mp_repl *r, char *msg, size_t msg_size)
{
        char tail[512];
        int rc = wr(r, "\x02", 1, msg, msg_size);
        if (rc < 0)
                return rc;
        rc = mp_repl_read_until(r, ">>> ", 4, r->io_timeout_ms, tail, sizeof(tail));
        if (rc < 0) {
                r->mode = MP_MODE_UNKNOWN;
                return timeout_msg(rc, msg, msg_size, "no friendly prompt '>>> ' after Ctrl-B",
                                   r->io_timeout_ms);
        }
        note_banner(r, tail);
        r->mode = MP_MODE_FRIENDLY;
        return 0;
}

void mp_exec_result_clear(struct mp_exec_result *res)
{
        if (!res)
                return;
        free(res->out);
        free(res->err);
        memset(res, 0, sizeof(*res));
}

int mp_exit_status(int exec_rc, const struct mp_exec_result *res)
{
        if (exec_rc == -ETIMEDOUT && res && res->timed_out)
                return 124;
        if (exec_rc < 0)
                return -1;
        return res && res->err_len > 0 ? 1 : 0;
}

/* Interrupt, re-enter raw: the way back after a confused exchange. */
static int resync(struct mp_repl *r)
{
        char m[128];
        if (mp_repl_interrupt(r, m, sizeof(m)) < 0)
                return -EIO;
        return mp_repl_enter_raw(r, m, sizeof(m));
}

/* Ask for raw-paste; *ok tells whether the board took it. On old firmware the request is
 * answered by a raw REPL reset (or junk); then the raw prompt is re-established. */
static int probe_paste(struct mp_repl *r, bool *ok, char *msg, size_t msg_size)
{
        uint8_t b[2];
        int got = 0, rc;
        *ok = false;
        rc = wr(r, "\x05" "A\x01", 3, msg, msg_size);
        if (rc < 0)
                return rc;
        uint64_t deadline = mp_repl_now(r) + (uint64_t)r->io_timeout_ms;
        while (got < 2 && (rc = get_byte(r, deadline, &b[got])) == 0)
                got++;
        if (rc < 0 && rc != -ETIMEDOUT)
                return timeout_msg(rc, msg, msg_size, "raw-paste request failed", 0);
        if (got == 2 && b[0] == 'R' && b[1] == 0x01) {
                r->raw_paste = 1;
                *ok = true;
                return 0;
        }
        r->raw_paste = 0;
        if (got == 2 && b[0] == 'R' && b[1] == 0x00)
                rc = mp_repl_read_until(r, ">", 1, r->io_timeout_ms, NULL, 0);
        else
                rc = mp_repl_read_until(r, "CTRL-B to exit\r\n>", 17, r->io_timeout_ms, NULL, 0);
        if (rc < 0 && (rc = resync(r)) < 0)
                return timeout_msg(rc, msg, msg_size,
                                   "the board answered the raw-paste request with junk and did not "
                                   "return to the raw prompt", r->io_timeout_ms);
        return 0;
}

/* The plain raw REPL has no flow control: send no faster than the line rate, even where nothing
 * paces the bytes (socket://, QEMU), or a small firmware's receive buffer overflows while it
 * compiles or collects and the code arrives with holes (a micro:bit under QEMU on a loaded host:
 * "SyntaxError: invalid syntax"). */
static unsigned pace_ms(const struct mp_repl *r, size_t n)
{
        unsigned baud = r->port && r->port->baud ? r->port->baud : 115200;
        unsigned wire = (unsigned)((n * 10u * 1000u + baud - 1) / baud);
        return wire > r->chunk_delay_ms ? wire : r->chunk_delay_ms;
}

static int send_plain(struct mp_repl *r, const char *code, size_t len, char *msg, size_t msg_size)
{
        size_t chunk = r->chunk_size ? r->chunk_size : 256;
        for (size_t i = 0; i < len; i += chunk) {
                size_t n = len - i < chunk ? len - i : chunk;
                int rc = wr(r, code + i, n, msg, msg_size);
                if (rc < 0)
                        return rc;
                if (r->chunk_delay_ms)
                        port_sleep_ms(r->port, pace_ms(r, n));
        }
        return wr(r, "\x04", 1, msg, msg_size);
}

/* Raw-paste: the board grants windows of ws bytes with 0x01; 0x04 from it ends early. */
static int send_paste(struct mp_repl *r, const char *code, size_t len, char *msg, size_t msg_size)
{
        uint8_t w[2], c;
        int rc;
        uint64_t dl = mp_repl_now(r) + (uint64_t)r->io_timeout_ms;
        if ((rc = get_byte(r, dl, &w[0])) < 0 || (rc = get_byte(r, dl, &w[1])) < 0)
                return timeout_msg(rc, msg, msg_size, "no raw-paste window size", r->io_timeout_ms);
        size_t ws = (size_t)w[0] | (size_t)w[1] << 8, remain = ws, i = 0;
        if (ws == 0) {
                snprintf(msg, msg_size, "the board announced a raw-paste window of 0 bytes");
                return -EPROTO;
        }
        while (i < len) {
                for (;;) {
                        uint64_t now = mp_repl_now(r);
                        rc = get_byte(r, remain ? now : now + (uint64_t)r->io_timeout_ms, &c);
                        if (rc == -ETIMEDOUT && remain)
                                break;
                        if (rc < 0)
                                return timeout_msg(rc, msg, msg_size,
                                                   "the board granted no raw-paste window", r->io_timeout_ms);
                        if (c == 0x01) {
                                remain += ws;
                        } else if (c == 0x04) {
                                return wr(r, "\x04", 1, msg, msg_size); /* ended early (syntax error) */
                        } else {
                                snprintf(msg, msg_size, "unexpected byte 0x%02x during raw-paste", c);
                                return -EPROTO;
                        }
                }
                size_t n = len - i < remain ? len - i : remain;
                if ((rc = wr(r, code + i, n, msg, msg_size)) < 0)
                        return rc;
                remain -= n;
                i += n;
        }
        if ((rc = wr(r, "\x04", 1, msg, msg_size)) < 0)
                return rc;
        dl = mp_repl_now(r) + (uint64_t)r->io_timeout_ms;
        do {
                if ((rc = get_byte(r, dl, &c)) < 0)
                        return timeout_msg(rc, msg, msg_size, "the board did not confirm the end of raw-paste",
                                           r->io_timeout_ms);
        } while (c == 0x01);
        if (c != 0x04) {
                snprintf(msg, msg_size, "unexpected byte 0x%02x ending raw-paste", c);
                return -EPROTO;
        }
        return 0;
}

/* Feed pending bytes to the parser until it is done or the deadline passes. */
static int pump(struct mp_repl *r, struct mp_resp *p, uint64_t deadline)
{
        while (p->state != MP_RESP_DONE) {
                uint64_t now = mp_repl_now(r);
                if (now >= deadline)
                        return -ETIMEDOUT; /* also when output never stops */
                uint64_t slice = now + MP_SLICE_MS < deadline ? now + MP_SLICE_MS : deadline;
                int rc = fill(r, slice);
                if (rc == -ETIMEDOUT) {
                        if (mp_repl_now(r) >= deadline)
                                return -ETIMEDOUT;
                        continue;
                }
                if (rc < 0)
                        return rc;
                rc = mp_resp_feed(p, r->pend + r->pend_off, r->pend_len - r->pend_off);
                if (rc < 0)
                        return rc;
                r->pend_off += (size_t)rc;
        }
        return 0;
}

static void take(struct mp_resp *p, struct mp_exec_result *res)
{
        res->out = p->cap[0].data;
        res->out_len = p->cap[0].len;
        res->err = p->cap[1].data;
        res->err_len = p->cap[1].len;
        res->truncated = p->cap[0].truncated || p->cap[1].truncated;
        p->cap[0].data = p->cap[1].data = NULL;
}

int mp_repl_exec(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                 struct mp_exec_result *res, char *msg, size_t msg_size)
{
        if (!r || !code || !res)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if (code[i] >= 0x01 && code[i] <= 0x05) {
                        snprintf(msg, msg_size, "the code contains control byte 0x%02x at offset %zu",
                                 code[i], i);
                        return -EINVAL;
                }
        mp_exec_result_clear(res);
        return mp_xfer_exec(r, code, len, opts, res, msg, msg_size);
}

int mp_repl_exec_raw(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                     struct mp_exec_result *res, char *msg, size_t msg_size)
{
        struct mp_exec_opts o = opts ? *opts : (struct mp_exec_opts){ 0 };
        struct mp_resp p;
        bool paste = false;
        int rc;

        if (!r || !code || !res)
                return -EINVAL;
        if (o.timeout_ms <= 0)
                o.timeout_ms = 10000;
        if (o.capture_max == 0)
                o.capture_max = 1u << 20;
        mp_exec_result_clear(res);
        if (r->mode != MP_MODE_RAW) {
                if ((rc = mp_repl_interrupt(r, msg, msg_size)) < 0 ||
                    (rc = mp_repl_enter_raw(r, msg, msg_size)) < 0)
                        return rc;
        }
        uint64_t t0 = mp_repl_now(r);
        if (r->raw_paste != 0 && (rc = probe_paste(r, &paste, msg, msg_size)) < 0)
                goto confused;
        rc = paste ? send_paste(r, code, len, msg, msg_size) : send_plain(r, code, len, msg, msg_size);
        if (rc < 0)
                goto confused;

        mp_resp_init(&p, !paste, o.on_output, o.user, o.capture_max);
        rc = 0;
        if (!paste) {
                /* The acknowledgement comes at once; do not wait the whole run time for it. */
                rc = pump(r, &p, mp_repl_now(r) + (uint64_t)r->io_timeout_ms);
                if (rc == -ETIMEDOUT && p.state == MP_RESP_WAIT_OK)
                        rc = -EPROTO;
                if (rc == -EPROTO) {
                        snprintf(msg, msg_size, "the board did not acknowledge the code with OK "
                                 "(not in the raw REPL?)");
                        mp_resp_release(&p);
                        goto confused;
                }
                if (rc == -ETIMEDOUT)
                        rc = 0;
        }
        if (rc == 0)
                rc = pump(r, &p, t0 + (uint64_t)o.timeout_ms);
        if (rc == -ETIMEDOUT) {
                res->timed_out = true;
                char m[128];
                if (wr(r, "\x03", 1, m, sizeof(m)) == 0 &&
                    pump(r, &p, mp_repl_now(r) + (uint64_t)r->io_timeout_ms) == 0)
                        res->board_usable = true;
                else
                        res->board_usable = resync(r) == 0;
                r->mode = res->board_usable ? MP_MODE_RAW : MP_MODE_UNKNOWN;
                snprintf(msg, msg_size, "the code was still running after %d ms; %s", o.timeout_ms,
                         res->board_usable ? "interrupted it, the board is usable again"
                                           : "the board did not come back to the prompt");
        } else if (rc < 0) {
                timeout_msg(rc, msg, msg_size, "reading the output failed", 0);
                r->mode = MP_MODE_UNKNOWN;
        }
        take(&p, res);
        mp_resp_release(&p);
        res->duration_ms = (int)(mp_repl_now(r) - t0);
        return rc == -ETIMEDOUT ? -ETIMEDOUT : rc;
confused:
        r->mode = MP_MODE_UNKNOWN;
        return rc;
}

int mp_repl_eval(struct mp_repl *r, const char *code, int timeout_ms, struct mp_exec_result *res,
                 char *msg, size_t msg_size)
{
        struct mp_exec_opts o = { .timeout_ms = timeout_ms };
        int rc = mp_repl_exec(r, code, strlen(code), &o, res, msg, msg_size);
        if (rc < 0)
                return rc;
        if (res->err_len == 0)
                return 0;
        struct mp_exception e;
        if (mp_exception_parse(res->err, res->err_len, &e) < 0) {
                snprintf(msg, msg_size, "the board reported an error: %.200s", res->err);
                return -EREMOTEIO;
        }
        snprintf(msg, msg_size, "%s%s%s", e.type, e.message[0] ? ": " : "", e.message);
        int en = mp_exception_errno(&e);
        return en && strcmp(e.type, "OSError") == 0 ? -en : -EREMOTEIO;
}

int mp_repl_soft_reset(struct mp_repl *r, bool stay_raw, char *msg, size_t msg_size)
{
        static const char *const reboot[] = { "soft reboot", "MicroPython " };
        static const char *const prompts[] = { MP_RAW_PROMPT, ">>> " };
        char tail[512];
        int rc;
        if (stay_raw && r->mode != MP_MODE_RAW) {
                if ((rc = mp_repl_interrupt(r, msg, msg_size)) < 0 ||
                    (rc = mp_repl_enter_raw(r, msg, msg_size)) < 0)
                        return rc;
        } else if (!stay_raw && r->mode != MP_MODE_FRIENDLY) {
                if ((rc = mp_repl_exit_raw(r, msg, msg_size)) < 0)
                        return rc;
        }
        if ((rc = wr(r, "\x04", 1, msg, msg_size)) < 0)
                return rc;
        r->mode = MP_MODE_UNKNOWN;
        rc = read_until_any(r, reboot, 2, r->io_timeout_ms, NULL, 0);
        if (rc < 0)
                return timeout_msg(rc, msg, msg_size, "the board did not soft-reboot after Ctrl-D",
                                   r->io_timeout_ms);
        if (!stay_raw)
                return 0;
        rc = read_until_any(r, prompts, 2, r->boot_wait_ms, tail, sizeof(tail));
        note_banner(r, tail);
        if (rc == 0) {
                r->mode = MP_MODE_RAW;
                return 0;
        }
        if (rc == 1) { /* older firmware leaves the raw REPL on soft reset */
                r->mode = MP_MODE_FRIENDLY;
                return mp_repl_enter_raw(r, msg, msg_size);
        }
        if (rc != -ETIMEDOUT)
                return timeout_msg(rc, msg, msg_size, "reading after the soft reset failed", 0);
        /* No prompt: main.py is probably running. */
        if (resync(r) < 0)
                return timeout_msg(-ETIMEDOUT, msg, msg_size, "no prompt after the soft reset",
                                   r->boot_wait_ms);
        return 0;
}

int mp_repl_hard_reset(struct mp_repl *r, char *msg, size_t msg_size)
{
        enum port_pulse_step failed = PORT_PULSE_ASSERT;
        int rc = port_reset_pulse(r->port, 100, false, &failed);
        if (rc == -ENOTSUP) {
                snprintf(msg, msg_size, "this port cannot drive the reset lines (DTR/RTS)");
                return rc;
        }
        if (rc < 0)
                return timeout_msg(rc, msg, msg_size,
                                   failed == PORT_PULSE_ASSERT ? "asserting RTS failed" : "releasing RTS failed", 0);
        r->mode = MP_MODE_UNKNOWN;
        r->pend_off = r->pend_len = 0;
        return 0;
}

int mp_repl_capture(struct mp_repl *r, int ms, char *buf, size_t size)
{
        size_t n = 0;
        uint64_t deadline = mp_repl_now(r) + (uint64_t)(ms < 0 ? 0 : ms);
        if (!buf || size == 0)
                return -EINVAL;
        while (n + 1 < size) {
                uint8_t c;
                int rc = get_byte(r, deadline, &c);
                if (rc == -ETIMEDOUT)
                        break;
                if (rc < 0)
                        return rc;
                buf[n++] = (char)c;
        }
        buf[n] = '\0';
        return (int)n;
}
