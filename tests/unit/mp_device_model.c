/* Scripted MicroPython REPL responder for engine tests (see mp_device_model.h). */
#include "mp_device_model.h"

#include <stdlib.h>
#include <string.h>

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

void mp_model_reply(struct mp_model *m, const char *out, size_t out_len, const char *err, size_t err_len)
{
        m->replied = true;
        if (out_len)
                emit(m, out, out_len);
        emits(m, "\x04");
        if (err_len)
                emit(m, err, err_len);
        emits(m, "\x04>");
}

void mp_model_hang(struct mp_model *m)
{
        m->replied = true;
        m->hang_now = true;
}

static void exec_line(struct mp_model *m)
{
        m->execs++;
        free(m->last_code);
        m->last_code = malloc(m->line_len + 1);
        if (!m->last_code)
                abort();
        memcpy(m->last_code, m->line ? (char *)m->line : "", m->line_len);
        m->last_code[m->line_len] = 0;
        m->last_len = m->line_len;
        m->line_len = 0;
        m->replied = m->hang_now = false;
        m->mode = MPM_RAW;
        if (m->on_exec)
                m->on_exec(m, m->last_code, m->last_len, m->user);
        for (size_t i = 0; !m->replied && i < m->n_answers; i++) {
                const struct mp_model_answer *a = &m->answers[i];
                if (a->match && !strstr(m->last_code, a->match))
                        continue;
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
        if (m->hang_now)
                m->mode = MPM_RUNNING;
}

static void soft_reset(struct mp_model *m)
{
        m->soft_resets++;
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
        for (size_t i = 0; i < len; i++)
                byte_in(m, data[i]);
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
        free(m->line);
        free(m->last_code);
        m->line = NULL;
        m->last_code = NULL;
}
