/* Scripted MicroPython REPL responder for engine tests (see mp_device_model.h). */
#include "mp_device_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engines/mp/mp_xfer.h"

#define RAW_BANNER "raw REPL; CTRL-B to exit\r\n>"
#define KBD_TB "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nKeyboardInterrupt: \r\n"

static void emit(struct mp_model *m, const void *d, size_t n)
{
        fake_port_feed(m->port, d, n);
}

static void emits(struct mp_model *m, const char *s)
{
        emit(m, s, strlen(s));
}

static void banner(struct mp_model *m)
{
        emits(m, m->banner);
        emits(m, "\r\nType \"help()\" for more information.\r\n>>> ");
        m->mode = MPM_FRIENDLY;
}

static void line_add(struct mp_model *m, uint8_t c)
{
        if (m->line_len + 1 >= m->line_cap) {
                m->line_cap = m->line_cap ? m->line_cap * 2 : 256;
                m->line = realloc(m->line, m->line_cap);
                if (!m->line)
                        abort();
        }
        m->line[m->line_len++] = c;
        m->line[m->line_len] = 0;
}


void mp_model_hang(struct mp_model *m)
{
        m->replied = true;
        m->hang_now = true;
}

/* ---- the verified-transfer helper, as the board runs it ---- */

/* Decode the Python bytes literal starting at *s (just after "b'"); *s ends after its quote.
 * Returns a malloc'd buffer (length in *n), NULL when malformed (a SyntaxError on a board). */
static uint8_t *lit(const char **s, size_t *n)
{
        const char *p = *s;
        uint8_t *d = malloc(strlen(p) + 1);
        size_t o = 0;
        if (!d)
                abort();
        for (;; p++) {
                if (!*p || *p == '\n') {
                        free(d);
                        return NULL;
                }
                if (*p == '\'') {
                        *s = p + 1;
                        *n = o;
                        return d;
                }
                if (*p != '\\') {
                        d[o++] = (uint8_t)*p;
                        continue;
                }
                p++;
                if (*p == 'x' && p[1] && p[2]) {
                        char h[3] = { p[1], p[2], 0 };
                        char *end;
                        unsigned long v = strtoul(h, &end, 16);
                        if (*end) {
                                free(d);
                                return NULL;
                        }
                        d[o++] = (uint8_t)v;
                        p += 2;
                } else if (*p == '\\' || *p == '\'') {
                        d[o++] = (uint8_t)*p;
                } else if (*p == 'n') {
                        d[o++] = '\n';
                } else {
                        free(d);
                        return NULL;
                }
        }
}

/* Read ",N" numbers after the literal; returns how many were read up to ")". */
static int nums(const char *s, unsigned long *v, int max)
{
        int k = 0;
        while (*s == ',' && k < max) {
                char *end;
                v[k++] = strtoul(s + 1, &end, 10);
                if (end == s + 1)
                        return -1;
                s = end;
        }
        return *s == ')' && s[1] == '\0' ? k : -1;
}

#define SYNTAX "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\nSyntaxError: invalid syntax\r\n"

static void reply_s(struct mp_model *m, const char *out, const char *err)
{
        mp_model_reply(m, out, out ? strlen(out) : 0, err, err ? strlen(err) : 0);
}

static void keep(struct mp_model *m, bool chunk, unsigned long i, uint8_t *d, size_t n)
{
        if (chunk ? i >= 512 : i >= 128) {
                free(d);
                return;
        }
        free(chunk ? m->chunks[i].d : m->parts[i].d);
        if (chunk)
                m->chunks[i].d = d, m->chunks[i].n = n, m->chunks[i].set = true;
        else
                m->parts[i].d = d, m->parts[i].n = n, m->parts[i].set = true;
}

static void forget(struct mp_model *m, bool chunk)
{
        for (size_t i = 0; i < (chunk ? 512u : 128u); i++) {
                free(chunk ? m->chunks[i].d : m->parts[i].d);
                if (chunk)
                        memset(&m->chunks[i], 0, sizeof(m->chunks[i]));
                else
                        memset(&m->parts[i], 0, sizeof(m->parts[i]));
        }
}

static void run_user(struct mp_model *m, const char *code, size_t len, bool marked);

/* The helper's steps. */
static bool helper_step(struct mp_model *m, const char *code)
{
        unsigned long v[8], k;
        size_t n;
        char tail[64];
        if (strcmp(code, "_crh={}\nprint('\\x06',len(_crh))") == 0) {
                m->steps++;
                forget(m, false);
                reply_s(m, "\x06 0\r\n", NULL);
                return true;
        }
        if (sscanf(code, "_crh[%lu]=b'", &k) == 1) {
                m->steps++;
                const char *p = strchr(code, '\'') + 1;
                uint8_t *d = lit(&p, &n);
                snprintf(tail, sizeof(tail), "\nprint('\\x06',%lu,len(_crh[%lu]),sum(_crh[%lu]))", k, k, k);
                if (!d || strcmp(p, tail) != 0) {
                        free(d);
                        reply_s(m, NULL, SYNTAX);
                        return true;
                }
                unsigned sum = 0;
                for (size_t i = 0; i < n; i++)
                        sum += d[i];
                keep(m, false, k, d, n);
                char out[64];
                snprintf(out, sizeof(out), "\x06 %lu %zu %u\r\n", k, n, sum);
                reply_s(m, out, NULL);
                return true;
        }
        if (strncmp(code, "_crt=b''.join([_crh[i] for i in range(", 38) == 0) {
                m->steps++;
                unsigned long np, len, sum, wsum;
                if (sscanf(code + 38, "%lu)])\nif len(_crt)==%lu and sum(_crt)==%lu and "
                                      "sum(i*x for i,x in enumerate(_crt))==%lu:", &np, &len, &sum, &wsum) != 4) {
                        reply_s(m, NULL, SYNTAX);
                        return true;
                }
                size_t tl = 0;
                uint8_t *t = malloc(8192);
                for (unsigned long i = 0; i < np; i++) {
                        if (!m->parts[i].set || tl + m->parts[i].n > 8192) {
                                free(t);
                                reply_s(m, NULL, "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, "
                                                 "in <module>\r\nKeyError: 0\r\n");
                                return true;
                        }
                        memcpy(t + tl, m->parts[i].d, m->parts[i].n);
                        tl += m->parts[i].n;
                }
                unsigned long s2 = 0, w2 = 0;
                for (size_t i = 0; i < tl; i++) {
                        s2 += t[i];
                        w2 += i * t[i];
                }
                bool ok = tl == len && s2 == sum && w2 == wsum;
                /* The board would now exec it: it must be the helper, byte for byte. */
                if (ok && (tl != strlen(mp_xfer_helper_py) || memcmp(t, mp_xfer_helper_py, tl) != 0))
                        abort();
                free(t);
                if (ok) {
                        m->helper = true;
                        m->installs++;
                        forget(m, false);
                        forget(m, true);
                }
                reply_s(m, ok ? "\x06\r\n" : NULL, NULL);
                return true;
        }
        if (strncmp(code, "print('\\x06',' '.join(", 23) == 0) {
                m->steps++;
                const char *r = strstr(code, "range(");
                unsigned long np = r ? strtoul(r + 6, NULL, 10) : 0;
                char out[4096];
                size_t o = (size_t)snprintf(out, sizeof(out), "\x06 ");
                for (unsigned long i = 0; i < np && i < 128 && o + 24 < sizeof(out); i++) {
                        unsigned sum = 0;
                        for (size_t j = 0; m->parts[i].set && j < m->parts[i].n; j++)
                                sum += m->parts[i].d[j];
                        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%zu:%u", i ? " " : "",
                                              m->parts[i].set ? m->parts[i].n : 0, sum);
                }
                snprintf(out + o, sizeof(out) - o, "\r\n");
                reply_s(m, out, NULL);
                return true;
        }
        bool w = strncmp(code, "_crw(", 5) == 0, x = strncmp(code, "_crx(", 5) == 0;
        if (!w && !x) {
                /* The engine sends nothing but helper steps: this one lost bytes. On a board it
                 * fails to compile or raises (the integration tests run the real thing). */
                m->steps++;
                reply_s(m, NULL, SYNTAX);
                return true;
        }
        m->steps += w;
        if (!m->helper) {
                reply_s(m, NULL, w ? "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                                     "NameError: name '_crw' isn't defined\r\n"
                                   : "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                                     "NameError: name '_crx' isn't defined\r\n");
                return true;
        }
        char *end;
        k = strtoul(code + 5, &end, 10);
        if (end == code + 5 || strncmp(end, ",b'", 3) != 0) {
                reply_s(m, NULL, SYNTAX);
                return true;
        }
        const char *p = end + 3;
        uint8_t *d = lit(&p, &n);
        int got = d ? nums(p, v, 8) : -1;
        if (got != (w ? 3 : 6)) {
                free(d);
                reply_s(m, NULL, got < 0 ? SYNTAX : "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, "
                                                    "in <module>\r\nTypeError: wrong number of arguments\r\n");
                return true;
        }
        uint32_t a = (uint32_t)adler32(adler32(0L, Z_NULL, 0), d, (uInt)n);
        if (n != v[0] || (a & 0xffffu) != v[1] || a >> 16 != v[2]) {
                char err[200];
                snprintf(err, sizeof(err), "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                                           "  File \"<string>\", line 10, in _crp\r\nValueError: corral-xfer: got %zu\r\n", n);
                free(d);
                reply_s(m, NULL, err);
                return true;
        }
        keep(m, true, k, d, n);
        if (w) {
                char out[32];
                snprintf(out, sizeof(out), "\x06%lu\r\n", k);
                reply_s(m, out, NULL);
                return true;
        }
        size_t tl = 0;
        for (unsigned long i = 0; i <= k; i++)
                tl += i < 512 && m->chunks[i].set ? m->chunks[i].n : 0;
        char *t = malloc(tl + 1);
        tl = 0;
        for (unsigned long i = 0; i <= k; i++) {
                if (i >= 512 || !m->chunks[i].set) {
                        free(t);
                        forget(m, true);
                        reply_s(m, NULL, "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                                         "KeyError: 1\r\n");
                        return true;
                }
                memcpy(t + tl, m->chunks[i].d, m->chunks[i].n);
                tl += m->chunks[i].n;
        }
        t[tl] = 0;
        forget(m, true);
        a = (uint32_t)adler32(adler32(0L, Z_NULL, 0), (const uint8_t *)t, (uInt)tl);
        if (tl != v[3] || (a & 0xffffu) != v[4] || a >> 16 != v[5]) {
                char err[200];
                snprintf(err, sizeof(err), "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
                                           "  File \"<string>\", line 19, in _crx\r\nValueError: corral-xfer: total %zu\r\n", tl);
                free(t);
                reply_s(m, NULL, err);
                return true;
        }
        run_user(m, t, tl, true);
        free(t);
        return true;
}

/* Output of code the helper runs: the mark first, the helper's two frames in tracebacks. */
static bool marked_reply;

void mp_model_reply(struct mp_model *m, const char *out, size_t out_len, const char *err, size_t err_len)
{
        static const char tb[] = "Traceback (most recent call last):\r\n";
        static const char frames[] = "  File \"<stdin>\", line 1, in <module>\r\n  File \"<string>\", line 24, in _crx\r\n";
        m->replied = true;
        if (marked_reply)
                emit(m, "\x06", 1);
        if (out_len)
                emit(m, out, out_len);
        emits(m, "\x04");
        if (marked_reply && err_len >= sizeof(tb) - 1 && memcmp(err, tb, sizeof(tb) - 1) == 0) {
                emit(m, tb, sizeof(tb) - 1);
                emits(m, frames);
                err += sizeof(tb) - 1;
                err_len -= sizeof(tb) - 1;
        }
        if (err_len)
                emit(m, err, err_len);
        emits(m, "\x04>");
        marked_reply = false;
}

static void exec_line(struct mp_model *m)
{
        char *code = malloc(m->line_len + 1);
        if (!code)
                abort();
        memcpy(code, m->line ? (char *)m->line : "", m->line_len);
        code[m->line_len] = 0;
        size_t len = m->line_len;
        m->line_len = 0;
        m->replied = m->hang_now = false;
        m->mode = MPM_RAW;
        if (!helper_step(m, code))
                run_user(m, code, len, false);
        free(code);
        if (m->hang_now)
                m->mode = MPM_RUNNING;
}

/* Code the board really runs (plain, or through the helper). */
static void run_user(struct mp_model *m, const char *code, size_t len, bool marked)
{
        m->execs++;
        free(m->last_code);
        m->last_code = malloc(len + 1);
        if (!m->last_code)
                abort();
        memcpy(m->last_code, code, len);
        m->last_code[len] = 0;
        m->last_len = len;
        if (marked)
                marked_reply = true;
        if (m->on_exec)
                m->on_exec(m, m->last_code, m->last_len, m->user);
        for (size_t i = 0; !m->replied && i < m->n_answers; i++) {
                const struct mp_model_answer *a = &m->answers[i];
                if (a->match && !strstr(m->last_code, a->match))
                        continue;
                if (a->hang && marked_reply) { /* the mark comes before anything it prints */
                        emit(m, "\x06", 1);
                        marked_reply = false;
                }
                if (a->hang && a->out) /* a chatty endless loop: output, then no end */
                        emits(m, a->out);
                if (a->hang)
                        mp_model_hang(m);
                else
                        mp_model_reply(m, a->out, a->out ? strlen(a->out) : 0, a->err,
                                       a->err ? strlen(a->err) : 0);
        }
        if (!m->replied)
                mp_model_reply(m, NULL, 0, NULL, 0);
        if (m->hang_now && marked_reply) { /* a hung program printed its mark before hanging */
                emit(m, "\x06", 1);
                marked_reply = false;
        }
}

static void soft_reset(struct mp_model *m)
{
        m->soft_resets++;
        m->helper = false;
        m->line_len = 0;
        emits(m, "MPY: soft reboot\r\n");
        if (m->soft_reset_to_raw && m->mode == MPM_RAW)
                emits(m, RAW_BANNER);
        else
                banner(m);
}

static void raw_ctrl_a(struct mp_model *m)
{
        bool req = m->line_len == 2 && m->line[0] == 0x05 && m->line[1] == 'A';
        m->line_len = 0;
        if (req && m->paste_supported) {
                uint8_t r[5] = { 'R', 1, (uint8_t)(m->window & 0xff), (uint8_t)(m->window >> 8), 1 };
                emit(m, r, sizeof(r));
                m->mode = MPM_PASTE;
                m->credit = 2L * m->window;
                m->paste_count = 0;
                return;
        }
        if (req && m->paste_refused) {
                emit(m, "R\x00>", 3);
                return;
        }
        if (req && m->paste_junk) {
                m->paste_junk = false;
                emits(m, "\xfe\x05?");
                return;
        }
        emits(m, RAW_BANNER);
}

static void byte_in(struct mp_model *m, uint8_t c)
{
        switch (m->mode) {
        case MPM_FRIENDLY:
                if (c == 0x01) {
                        emits(m, "\r\n" RAW_BANNER);
                        m->mode = MPM_RAW;
                        m->line_len = 0;
                } else if (c == 0x02) {
                        emits(m, "\r\n");
                        banner(m);
                } else if (c == 0x03) {
                        m->ctrl_c++;
                        emits(m, "\r\n>>> ");
                } else if (c == 0x04) {
                        soft_reset(m);
                } else if (c == '\r') {
                        emits(m, "\r\n>>> ");
                } else {
                        emit(m, &c, 1);
                }
                break;
        case MPM_RAW:
                if (c == 0x01) {
                        raw_ctrl_a(m);
                } else if (c == 0x02) {
                        emits(m, "\r\n");
                        banner(m);
                } else if (c == 0x03) {
                        m->ctrl_c++;
                        m->line_len = 0;
                } else if (c == 0x04) {
                        if (m->line_len == 0) {
                                emits(m, "OK\r\n");
                                soft_reset(m);
                        } else {
                                emits(m, "OK");
                                exec_line(m);
                        }
                } else {
                        line_add(m, c);
                }
                break;
        case MPM_PASTE:
                if (c == 0x04) {
                        emits(m, "\x04");
                        exec_line(m);
                        break;
                }
                line_add(m, c);
                if (--m->credit < 0)
                        m->overrun = true;
                m->paste_count++;
                if (m->paste_end_early_at && m->paste_count == m->paste_end_early_at) {
                        emits(m, "\x04");
                        m->mode = MPM_PASTE_ENDED;
                        break;
                }
                if (m->paste_count % m->window == 0) {
                        emits(m, "\x01");
                        m->credit += m->window;
                }
                break;
        case MPM_PASTE_ENDED:
                if (c == 0x04 || c == 0x03) {
                        m->execs++;
                        m->line_len = 0;
                        m->mode = MPM_RAW;
                        emits(m, "\x04Traceback (most recent call last):\r\n  File \"<stdin>\", line 3\r\n"
                                 "SyntaxError: invalid syntax\r\n\x04>");
                }
                break;
        case MPM_RUNNING:
                if (c == 0x03) {
                        m->ctrl_c++;
                        if (m->ignore_ctrl_c)
                                break;
                        m->mode = MPM_RAW;
                        emits(m, "\x04" KBD_TB "\x04>");
                }
                break;
        }
}

static void on_write(struct port *p, const uint8_t *data, size_t len, void *user)
{
        struct mp_model *m = user;
        (void)p;
        if (m->dead || m->deaf)
                return;
        for (size_t i = 0; i < len; i++) {
                if (m->drop_ppm) {
                        uint32_t x = m->seed ? m->seed : 2463534242u;
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        m->seed = x;
                        if (x % 1000000u < m->drop_ppm) {
                                m->dropped++;
                                continue;
                        }
                }
                byte_in(m, data[i]);
        }
}

static void on_lines(struct port *p, bool dtr, bool rts, void *user)
{
        struct mp_model *m = user;
        (void)p;
        if (rts && !dtr) {
                m->rts_down = true; /* EN held low */
                return;
        }
        if (!rts && m->rts_down) {
                m->rts_down = false;
                if (m->dead)
                        return;
                m->hard_resets++;
                m->helper = false;
                m->deaf = false;
                m->line_len = 0;
                emits(m, "\r\n");
                banner(m);
        }
}

void mp_model_init(struct mp_model *m, struct port *p)
{
        memset(m, 0, sizeof(*m));
        m->port = p;
        m->mode = MPM_FRIENDLY;
        m->paste_supported = true;
        m->window = 128;
        m->soft_reset_to_raw = true;
        m->banner = "MicroPython v1.27.0 on 2025-12-10; Generic ESP32 module with ESP32";
        fake_port_set_device(p, on_write, on_lines, m);
}

void mp_model_release(struct mp_model *m)
{
        forget(m, false);
        forget(m, true);
        free(m->line);
        free(m->last_code);
        m->line = NULL;
        m->last_code = NULL;
}
