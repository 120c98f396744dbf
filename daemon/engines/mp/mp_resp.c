/* Pure parsers for MicroPython raw-REPL exec replies and exception tracebacks (no I/O). */
#include "engines/mp/mp_resp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int capture_add(struct mp_capture *c, const uint8_t *data, size_t len)
{
        if (c->max == 0 || len == 0)
                return 0;
        if (c->len + len > c->max) {
                c->truncated = true;
                len = c->max - c->len;
                if (len == 0)
                        return 0;
        }
        if (c->len + len + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : 256;
                while (cap < c->len + len + 1)
                        cap *= 2;
                char *d = realloc(c->data, cap);
                if (!d)
                        return -ENOMEM;
                c->data = d;
                c->cap = cap;
        }
        memcpy(c->data + c->len, data, len);
        c->len += len;
        c->data[c->len] = '\0';
        return 0;
}

void mp_resp_init(struct mp_resp *p, bool expect_ok, mp_output_fn fn, void *user, size_t capture_max)
{
        memset(p, 0, sizeof(*p));
        p->state = expect_ok ? MP_RESP_WAIT_OK : MP_RESP_STDOUT;
        p->out = fn;
        p->user = user;
        p->cap[0].max = capture_max;
        p->cap[1].max = capture_max;
}

void mp_resp_release(struct mp_resp *p)
{
        if (!p)
                return;
        for (int i = 0; i < 2; i++) {
                free(p->cap[i].data);
                p->cap[i].data = NULL;
                p->cap[i].len = p->cap[i].cap = 0;
        }
}

/* Deliver a run of stream bytes to the callback and the capture. */
static int emit(struct mp_resp *p, enum mp_stream s, const uint8_t *data, size_t len)
{
        if (len == 0)
                return 0;
        if (p->out)
                p->out(s, data, len, p->user);
        return capture_add(&p->cap[s], data, len);
}

int mp_resp_feed(struct mp_resp *p, const uint8_t *data, size_t len)
{
        size_t i = 0;
        while (i < len) {
                switch (p->state) {
                case MP_RESP_WAIT_OK:
                        if (data[i] != (uint8_t)"OK"[p->ok_matched]) {
                                p->state = MP_RESP_ERROR;
                                return -EPROTO;
                        }
                        i++;
                        if (++p->ok_matched == 2)
                                p->state = MP_RESP_STDOUT;
                        break;
                case MP_RESP_STDOUT:
                case MP_RESP_STDERR: {
                        enum mp_stream s = p->state == MP_RESP_STDOUT ? MP_STREAM_STDOUT : MP_STREAM_STDERR;
                        const uint8_t *eot = memchr(data + i, 0x04, len - i);
                        size_t n = eot ? (size_t)(eot - (data + i)) : len - i;
                        int r = emit(p, s, data + i, n);
                        if (r < 0)
                                return r;
                        i += n;
                        if (eot) {
                                i++;
                                p->state = s == MP_STREAM_STDOUT ? MP_RESP_STDERR : MP_RESP_WAIT_PROMPT;
                        }
                        break;
                }
                case MP_RESP_WAIT_PROMPT:
                        /* Anything before '>' (there should be nothing) is dropped. */
                        if (data[i++] == '>')
                                p->state = MP_RESP_DONE;
                        break;
                case MP_RESP_DONE:
                        return (int)i;
                case MP_RESP_ERROR:
                        return -EPROTO;
                }
        }
        return (int)i;
}

/* ---- exception text ---- */

struct line {
        const char *s;
        size_t len;
};

/* Next line of text[*off..len), without its "\r\n"; false at the end. */
static bool next_line(const char *text, size_t len, size_t *off, struct line *l)
{
        if (*off >= len)
                return false;
        const char *start = text + *off;
        const char *nl = memchr(start, '\n', len - *off);
        size_t n = nl ? (size_t)(nl - start) : len - *off;
        *off += n + (nl ? 1 : 0);
        while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' ' || start[n - 1] == '\t'))
                n--;
        l->s = start;
        l->len = n;
        return true;
}

static bool is_name_start(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
        return is_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static void copy_clip(char *dst, size_t size, const char *src, size_t n)
{
        if (n >= size)
                n = size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void append_clip(char *dst, size_t size, const char *src, size_t n)
{
        size_t have = strlen(dst);
        if (have + 1 >= size)
                return;
        copy_clip(dst + have, size - have, src, n);
}

/* "Type: message" / "Type" / "Type:". Returns true when the line looks like an exception line. */
static bool parse_exc_line(const struct line *l, struct mp_exception *e)
{
        size_t n = 0;
        if (l->len == 0 || !is_name_start(l->s[0]))
                return false;
        while (n < l->len && is_name_char(l->s[n]))
                n++;
        if (l->s[n - 1] == '.')
                return false;
        if (n < l->len && l->s[n] != ':')
                return false;
        copy_clip(e->type, sizeof(e->type), l->s, n);
        e->message[0] = '\0';
        if (n < l->len) {
                size_t m = n + 1;
                while (m < l->len && l->s[m] == ' ')
                        m++;
                copy_clip(e->message, sizeof(e->message), l->s + m, l->len - m);
        }
        return true;
}

static int line_number(const struct line *l)
{
        /* '  File "<stdin>", line 12, in <module>' */
        static const char key[] = ", line ";
        for (size_t i = 0; i + sizeof(key) - 1 < l->len; i++) {
                if (memcmp(l->s + i, key, sizeof(key) - 1) != 0)
                        continue;
                long v = 0;
                size_t j = i + sizeof(key) - 1;
                if (j >= l->len || l->s[j] < '0' || l->s[j] > '9')
                        return -1;
                for (; j < l->len && l->s[j] >= '0' && l->s[j] <= '9' && v < 100000000; j++)
                        v = v * 10 + (l->s[j] - '0');
                return (int)v;
        }
        return -1;
}

int mp_exception_parse(const char *text, size_t len, struct mp_exception *ret)
{
        static const char hdr[] = "Traceback (most recent call last):";
        struct mp_exception e = { .line = -1 };
        struct line l;
        size_t off = 0, tb_off = 0;
        bool have_tb = false;
        struct line last = { 0 };
        bool have_last = false;

        if (!text || !ret)
                return -EINVAL;
        /* Find the last traceback header and the last non-empty line. */
        while (next_line(text, len, &off, &l)) {
                if (l.len >= sizeof(hdr) - 1 && memcmp(l.s, hdr, sizeof(hdr) - 1) == 0) {
                        have_tb = true;
                        tb_off = off;
                }
                if (l.len > 0) {
                        last = l;
                        have_last = true;
                }
        }
        if (!have_tb) {
                if (!have_last || !parse_exc_line(&last, &e))
                        return -ENOENT;
                *ret = e;
                return 0;
        }
        off = tb_off;
        bool found = false;
        while (next_line(text, len, &off, &l)) {
                if (!found) {
                        if (l.len == 0)
                                continue;
                        if (l.s[0] == ' ' || l.s[0] == '\t') {
                                int n = line_number(&l);
                                if (n >= 0)
                                        e.line = n;
                                continue;
                        }
                        if (!parse_exc_line(&l, &e)) {
                                e.type[0] = '\0';
                                copy_clip(e.message, sizeof(e.message), l.s, l.len);
                        }
                        found = true;
                        continue;
                }
                /* A message spanning several lines. */
                if (l.len == 0)
                        continue;
                append_clip(e.message, sizeof(e.message), "\n", 1);
                append_clip(e.message, sizeof(e.message), l.s, l.len);
        }
        if (!found)
                return -ENOENT;
        *ret = e;
        return 0;
}

int mp_exception_errno(const struct mp_exception *e)
{
        static const struct {
                const char *name;
                int value;
        } names[] = {
                { "ENOENT", ENOENT }, { "EIO", EIO },         { "EBADF", EBADF },
                { "EACCES", EACCES }, { "EEXIST", EEXIST },   { "ENODEV", ENODEV },
                { "ENOTDIR", ENOTDIR }, { "EISDIR", EISDIR }, { "EINVAL", EINVAL },
                { "ENOSPC", ENOSPC }, { "EROFS", EROFS },     { "ENOTEMPTY", ENOTEMPTY },
                { "ENOMEM", ENOMEM }, { "ETIMEDOUT", ETIMEDOUT }, { "EPERM", EPERM },
        };
        static const struct {
                const char *text;
                int value;
        } phrases[] = {
                { "file not found", ENOENT }, /* micro:bit */
        };
        if (!e)
                return 0;
        for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
                if (strcmp(e->message, phrases[i].text) == 0)
                        return phrases[i].value;
        const char *m = e->message;
        if (strncmp(m, "[Errno ", 7) == 0)
                m += 7;
        if (*m >= '0' && *m <= '9') {
                /* Only numbers MicroPython's own errno table uses (Linux values); ports built on
                 * other C libraries (webassembly: ENOENT is 44) would otherwise be misread. */
                long v = strtol(m, NULL, 10);
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                        if (names[i].value == v)
                                return (int)v;
                return 0;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                size_t n = strlen(names[i].name);
                if (strncmp(m, names[i].name, n) == 0 && !is_name_char(m[n]))
                        return names[i].value;
        }
        return 0;
}

int mp_exception_errno_wasi(const struct mp_exception *e)
{
        /* WASI's numbering (wasi/api.h), which Emscripten uses. */
        static const struct {
                int wasi, value;
        } nums[] = {
                { 2, EACCES },  { 8, EBADF },   { 20, EEXIST },  { 28, EINVAL },    { 29, EIO },
                { 31, EISDIR }, { 43, ENODEV }, { 44, ENOENT },  { 48, ENOMEM },    { 51, ENOSPC },
                { 54, ENOTDIR }, { 55, ENOTEMPTY }, { 63, EPERM }, { 69, EROFS }, { 73, ETIMEDOUT },
        };
        if (!e)
                return 0;
        const char *m = e->message;
        if (strncmp(m, "[Errno ", 7) == 0)
                m += 7;
        if (*m < '0' || *m > '9')
                return mp_exception_errno(e);
        long v = strtol(m, NULL, 10);
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
                if (nums[i].wasi == v)
                        return nums[i].value;
        return 0;
}
