/* Verified code transfer: code goes to the board in steps the board checks (length + Adler-32)
 * through a small helper, and runs only after the board confirmed the whole of it. */
#include "engines/mp/mp_xfer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Kept small and plain: MicroPython 1.9 (the micro:bit) has no hashlib, little heap, and may lack
 * compile(). A user script that deletes these names gets them installed again. */
const char mp_xfer_helper_py[] =
        "_crq={}\n"
        "def _crf(b):\n"
        " a=1;s=0\n"
        " for x in b:\n"
        "  a=(a+x)%65521;s=(s+a)%65521\n"
        " return a,s\n"
        "def _crx(i,b,l,a,s,n=-1,p=0,q=0):\n"
        " global _crq\n"
        " if len(b)!=l or _crf(b)!=(a,s):raise ValueError('corral-xfer: got %d'%len(b))\n"
        " _crq[i]=b\n"
        " if n<0:print('\\x06%d'%i);return\n"
        " b=None\n"
        " import gc;gc.collect()\n"
        " b=b''.join([_crq[j] for j in range(i+1)]);_crq={}\n"
        " if len(b)!=n or _crf(b)!=(p,q):raise ValueError('corral-xfer: total %d'%len(b))\n"
        " print('\\x06',end='')\n"
        " try:c=compile(b,'<stdin>','exec')\n"
        " except NameError:c=b\n"
        " b=None;gc.collect()\n"
        " exec(c,globals())\n"
        "_crw=_crx\n";

static const char *const helper_names[] = { "'_crw'", "'_crx'", "'_crf'", "'_crq'" };

uint32_t mp_xfer_adler(const uint8_t *data, size_t len)
{
        uLong a = adler32(0L, Z_NULL, 0);
        while (len > 0) {
                uInt n = len > 1u << 30 ? 1u << 30 : (uInt)len;
                a = adler32(a, data, n);
                data += n;
                len -= n;
        }
        return (uint32_t)a;
}

size_t mp_xfer_escape(const uint8_t *data, size_t len, char *out)
{
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                uint8_t c = data[i];
                if (c == '\\' || c == '\'') {
                        out[o++] = '\\';
                        out[o++] = (char)c;
                } else if (c >= 0x20 && c < 0x7f) {
                        out[o++] = (char)c;
                } else {
                        out[o++] = '\\';
                        out[o++] = 'x';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                }
        }
        out[o] = '\0';
        return o;
}

/* Length of the line starting at s (up to and including its '\n'), within end. */
static size_t line_len(const char *s, const char *end)
{
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        return nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
}

size_t mp_xfer_strip_traceback(char *err, size_t len)
{
        static const char tb[] = "Traceback (most recent call last):";
        if (!err || len < sizeof(tb) - 1 || memcmp(err, tb, sizeof(tb) - 1) != 0)
                return len;
        char *end = err + len;
        char *l1 = err + line_len(err, end);
        if (l1 >= end)
                return len;
        size_t n1 = line_len(l1, end);
        char *l2 = l1 + n1;
        if (l2 >= end)
                return len;
        size_t n2 = line_len(l2, end);
        /* '  File "<stdin>", line 1, in <module>' then '  File "<string>", line N, in _crx' */
        if (n1 < 8 || memcmp(l1, "  File \"", 8) != 0 || n2 < 8 || memcmp(l2, "  File \"", 8) != 0)
                return len;
        size_t k = n2;
        while (k > 0 && (l2[k - 1] == '\n' || l2[k - 1] == '\r'))
                k--;
        if (k < 8 || memcmp(l2 + k - 8, " in _crx", 8) != 0)
                return len;
        memmove(l1, l2 + n2, (size_t)(end - (l2 + n2)));
        len -= n1 + n2;
        err[len] = '\0';
        return len;
}

/* ---- steps ---- */

enum step_outcome { STEP_OK, STEP_DAMAGED, STEP_NO_HELPER };

struct xfer {
        struct mp_repl *r;
        unsigned fails;      /* damaged steps in a row */
        unsigned long long sent;
        unsigned long steps, bad; /* steps sent, steps that arrived damaged */
        char last[160];      /* what the last damaged step showed */
        char got[1024];      /* the last step's stdout, without its line end */
};

static void note(struct xfer *x, const char *what)
{
        /* The last line of a traceback says what happened. */
        size_t n = strlen(what);
        while (n > 0 && (what[n - 1] == '\n' || what[n - 1] == '\r'))
                n--;
        size_t b = n;
        while (b > 0 && what[b - 1] != '\n')
                b--;
        snprintf(x->last, sizeof(x->last), "%.*s", (int)(n - b), what + b);
        what = x->last;
        if (x->r->log) {
                char line[240];
                snprintf(line, sizeof(line), "transfer: %s; sending it again", what);
                mp_repl_count(x->r, "resends", 1);
                x->r->log(line, x->r->log_user);
        }
}

static bool names_helper(const struct mp_exec_result *res)
{
        if (!res->err || !strstr(res->err, "NameError"))
                return false;
        for (size_t i = 0; i < sizeof(helper_names) / sizeof(helper_names[0]); i++)
                if (strstr(res->err, helper_names[i]))
                        return true;
        return false;
}

static void shrink(struct mp_repl *r)
{
        r->xfer_clean = 0;
        if (r->raw_paste != 1 && r->xfer_chunk > MP_XFER_CHUNK_MIN)
                r->xfer_chunk /= 2;
}

static void grow(struct mp_repl *r)
{
        if (r->raw_paste == 1) {
                r->xfer_chunk = MP_XFER_CHUNK_PASTE;
                return;
        }
        if (r->xfer_chunk > MP_XFER_CHUNK_MAX)
                r->xfer_chunk = MP_XFER_CHUNK_MAX; /* raw-paste was refused after all */
        if (++r->xfer_clean >= 4 && r->xfer_chunk < MP_XFER_CHUNK_MAX) {
                r->xfer_chunk *= 2;
                r->xfer_clean = 0;
        }
}

static int link_corrupt(struct xfer *x, char *msg, size_t msg_size)
{
        /* A step of L bytes arrives whole with probability (1-p)^L: estimate the byte-loss rate p
         * from the share of damaged steps. */
        double steps = x->steps ? (double)x->steps : 1.0, len = (double)x->sent / steps;
        bool all = x->bad >= x->steps;
        double f = all ? (steps - 0.5) / steps : (double)x->bad / steps;
        double pct = len > 0 ? 100.0 * (1.0 - pow(1.0 - f, 1.0 / len)) : 0.0;
        snprintf(msg, msg_size,
                 "the code did not reach the board intact: a step was damaged %u times in a row "
                 "(last: %s); %lu of %lu steps (%llu bytes) arrived damaged, so %s %.2f%% of the bytes "
                 "sent were lost or changed on the way; nothing was run", x->fails, x->last, x->bad,
                 x->steps, x->sent, all ? "more than" : "about", pct);
        return -EILSEQ;
}

/* After a damaged step: a board that answered in full is back at the raw prompt (drop what a
 * damaged line may still print); after no or a broken answer, interrupt and re-enter the raw REPL. */
static void settle(struct mp_repl *r, int rc)
{
        if (rc == 0 && mp_repl_drain(r, 15, 500) == 0)
                return;
        r->mode = MP_MODE_UNKNOWN;
}

/* One helper step: run code, expect stdout (CR/LF stripped) to be exactly want. Hard errors
 * (port gone, cancelled) come back negative; anything else is an outcome. */
static int step(struct xfer *x, const char *code, size_t len, const char *want,
                enum step_outcome *out, char *msg, size_t msg_size)
{
        struct mp_repl *r = x->r;
        struct mp_exec_result res = { 0 };
        struct mp_exec_opts o = { .timeout_ms = r->io_timeout_ms > 5000 ? r->io_timeout_ms : 5000,
                                  .capture_max = 4096 };
        char m[256];
        x->sent += len + 1;
        x->steps++;
        int rc = mp_repl_exec_raw(r, code, len, &o, &res, m, sizeof(m));
        if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT) {
                snprintf(msg, msg_size, "%s", m);
                mp_exec_result_clear(&res);
                return rc;
        }
        size_t ol = res.out_len;
        while (ol > 0 && (res.out[ol - 1] == '\n' || res.out[ol - 1] == '\r'))
                ol--;
        snprintf(x->got, sizeof(x->got), "%.*s", (int)ol, res.out ? res.out : "");
        if (rc == 0 && !want && ol > 0 && (uint8_t)res.out[0] == MP_XFER_MARK) {
                *out = STEP_OK; /* a question, not a transfer: any marked answer */
        } else if (rc == 0 && want && ol == strlen(want) && memcmp(res.out, want, ol) == 0) {
                *out = STEP_OK;
                x->fails = 0;
                grow(r);
        } else if (rc == 0 && names_helper(&res)) {
                *out = STEP_NO_HELPER;
        } else {
                *out = STEP_DAMAGED;
                x->fails++;
                x->bad++;
                mp_repl_count(x->r, "link_errors", 1);
                if (rc < 0)
                        note(x, m);
                else if (res.err_len)
                        note(x, res.err);
                else {
                        char t[120];
                        size_t k = 0;
                        for (size_t j = 0; j < res.out_len && k + 5 < sizeof(t); j++)
                                k += (size_t)snprintf(t + k, sizeof(t) - k, (uint8_t)res.out[j] >= 0x20 &&
                                                      (uint8_t)res.out[j] < 0x7f ? "%c" : "\\x%02x",
                                                      (uint8_t)res.out[j]);
                        t[k] = '\0';
                        char w[240];
                        snprintf(w, sizeof(w), "the board confirmed '%s', not '%s'", t, want ? want + 1 : "");
                        note(x, w);
                }
                shrink(r);
                settle(r, rc);
        }
        mp_exec_result_clear(&res);
        return 0;
}

static char *escaped(const uint8_t *d, size_t n)
{
        char *e = malloc(4 * n + 1);
        if (e)
                mp_xfer_escape(d, n, e);
        return e;
}

#define HELPER_PARTS_MAX (sizeof(mp_xfer_helper_py) / MP_XFER_CHUNK_MIN + 2)

/* The helper's source cut in parts, each with its place, length and byte sum. */
struct helper_parts {
        const uint8_t *h;
        size_t off[HELPER_PARTS_MAX];
        size_t len[HELPER_PARTS_MAX];
        unsigned sum[HELPER_PARTS_MAX];
        unsigned n;
};

static int install(struct xfer *x, char *msg, size_t msg_size);

/* An empty dict for the parts, confirmed by the board. */
static int install_init(struct xfer *x, char *msg, size_t msg_size)
{
        enum step_outcome so;
        do {
                static const char init[] = "_crh={}\nprint('\\x06',len(_crh))";
                int rc = step(x, init, sizeof(init) - 1, "\x06 0", &so, msg, msg_size);
                if (rc < 0)
                        return rc;
                if (so != STEP_OK && x->fails >= MP_XFER_INSTALL_TRIES)
                        return link_corrupt(x, msg, msg_size);
        } while (so != STEP_OK);
        return 0;
}

/* Send part i until the board confirms its length and sum. 0, a negative errno, or 1 when the
 * board lost the parts (a reset?) and may_restart: the caller starts over. */
static int send_part(struct xfer *x, const struct helper_parts *hp, unsigned i, bool may_restart, char *msg,
                     size_t msg_size)
{
        for (;;) {
                char want[64], *code = NULL, *e = escaped(hp->h + hp->off[i], hp->len[i]);
                enum step_outcome so;
                if (!e || asprintf(&code, "_crh[%u]=b'%s'\nprint('\\x06',%u,len(_crh[%u]),sum(_crh[%u]))", i, e, i,
                                   i, i) < 0) {
                        free(e);
                        return -ENOMEM;
                }
                free(e);
                snprintf(want, sizeof(want), "\x06 %u %zu %u", i, hp->len[i], hp->sum[i]);
                int rc = step(x, code, strlen(code), want, &so, msg, msg_size);
                free(code);
                if (rc < 0)
                        return rc;
                if (so == STEP_OK)
                        return 0;
                if (x->fails >= MP_XFER_INSTALL_TRIES)
                        return link_corrupt(x, msg, msg_size);
                if (may_restart && (so == STEP_NO_HELPER || strstr(x->last, "'_crh'")))
                        return 1;
        }
}

/* The final check failed: ask the board which parts it holds wrongly and send those again.
 * 0 (the final step is tried again) or a negative errno. */
static int resend_bad_parts(struct xfer *x, const struct helper_parts *hp, const char *list, char *msg,
                            size_t msg_size)
{
        enum step_outcome so;
        bool redo[HELPER_PARTS_MAX];
        int rc = step(x, list, strlen(list), NULL, &so, msg, msg_size); /* a damaged list step just fails */
        if (rc < 0 || strncmp(x->got, "\x06 ", 2) != 0)
                return rc;
        const char *p = x->got + 2;
        unsigned i = 0, bad = 0;
        for (; i < hp->n; i++) {
                unsigned ln, sm;
                int used = 0;
                if (sscanf(p, "%u:%u%n", &ln, &sm, &used) != 2)
                        break;
                p += used;
                redo[i] = ln != hp->len[i] || sm != hp->sum[i];
                bad += redo[i];
        }
        if (i < hp->n || bad == 0)
                return 0; /* not a whole list, or all parts right: the final step was damaged */
        for (i = 0; i < hp->n; i++)
                if (redo[i] && (rc = send_part(x, hp, i, false, msg, msg_size)) < 0)
                        return rc;
        return 0;
}

/* Join the parts and exec them once length, sum and position-weighted sum match; parts the board
 * holds wrongly are sent again. */
static int install_finish(struct xfer *x, const struct helper_parts *hp, size_t hl, char *msg, size_t msg_size)
{
        unsigned sum = 0;
        unsigned long wsum = 0;
        for (size_t i = 0; i < hl; i++) {
                sum += hp->h[i];
                wsum += (unsigned long)i * hp->h[i];
        }
        char *fin = NULL, *list = NULL;
        if (asprintf(&fin, "_crt=b''.join([_crh[i] for i in range(%u)])\nif len(_crt)==%zu and sum(_crt)==%u and "
                           "sum(i*x for i,x in enumerate(_crt))==%lu:exec(_crt);del _crh;print('\\x06')\n"
                           "del _crt\n", hp->n, hl, sum, wsum) < 0 ||
            asprintf(&list, "print('\\x06',' '.join(['%%d:%%d'%%(len(_crh.get(i,b'')),sum(_crh.get(i,b''))) "
                            "for i in range(%u)]))", hp->n) < 0) {
                free(fin);
                return -ENOMEM;
        }
        int rc;
        bool restart = false;
        for (;;) {
                enum step_outcome so;
                rc = step(x, fin, strlen(fin), "\x06", &so, msg, msg_size);
                if (rc < 0 || so == STEP_OK)
                        break;
                if (x->fails >= MP_XFER_INSTALL_TRIES) {
                        rc = link_corrupt(x, msg, msg_size);
                        break;
                }
                if (strstr(x->last, "'_crh'")) {
                        restart = true;
                        break;
                }
                if ((rc = resend_bad_parts(x, hp, list, msg, msg_size)) < 0)
                        break;
        }
        free(fin);
        free(list);
        return restart ? install(x, msg, msg_size) : rc;
}

/* Install the helper with builtins only: parts kept by index in a dict (a damaged index adds a
 * stray key, it cannot cut what is there), each confirmed by its length and byte sum, the whole by
 * length, sum and position-weighted sum before it is exec'd. When that last check fails, the board
 * lists what it holds and the parts that differ are sent again. */
static int install(struct xfer *x, char *msg, size_t msg_size)
{
        struct mp_repl *r = x->r;
        struct helper_parts hp = { .h = (const uint8_t *)mp_xfer_helper_py };
        size_t hl = strlen(mp_xfer_helper_py);
        if (r->log)
                r->log("transfer: installing the checking helper on the board", r->log_user);
        int rc = install_init(x, msg, msg_size);
        if (rc < 0)
                return rc;
        /* Cut the parts as the link allows (the step size adapts while they go). */
        for (size_t off = 0; off < hl; hp.n++) {
                size_t n = hl - off < r->xfer_chunk ? hl - off : r->xfer_chunk;
                hp.off[hp.n] = off;
                hp.len[hp.n] = n;
                hp.sum[hp.n] = 0;
                for (size_t i = 0; i < n; i++)
                        hp.sum[hp.n] += hp.h[off + i];
                rc = send_part(x, &hp, hp.n, true, msg, msg_size);
                if (rc > 0)
                        return install(x, msg, msg_size); /* the parts are gone (a reset?) */
                if (rc < 0)
                        return rc;
                off += n;
        }
        rc = install_finish(x, &hp, hl, msg, msg_size);
        if (rc == 0)
                r->xfer_ready = true;
        return rc;
}

/* Live output of the last step: nothing passes before the board's mark, stderr waits for the end
 * (its helper frames are removed first). */
struct gate {
        mp_output_fn fn;
        void *user;
        int marked; /* -1 nothing yet, 1 the mark came first, 0 something else did */
};

static void gate_out(enum mp_stream s, const uint8_t *d, size_t n, void *user)
{
        struct gate *g = user;
        if (s != MP_STREAM_STDOUT || n == 0)
                return;
        if (g->marked < 0) {
                g->marked = d[0] == MP_XFER_MARK;
                d++;
                n--;
        }
        if (g->marked == 1 && n && g->fn)
                g->fn(s, d, n, g->user);
}

static int last_step(struct xfer *x, const char *code, size_t len,
                     const struct mp_exec_opts *opts, struct mp_exec_result *res, enum step_outcome *out,
                     char *msg, size_t msg_size)
{
        struct mp_repl *r = x->r;
        struct gate g = { .fn = opts->on_output, .user = opts->user, .marked = -1 };
        struct mp_exec_opts o = *opts;
        o.on_output = gate_out;
        o.user = &g;
        o.capture_max = opts->capture_max + 1;
        x->sent += len + 1;
        x->steps++;
        mp_exec_result_clear(res);
        int rc = mp_repl_exec_raw(r, code, len, &o, res, msg, msg_size);
        if (res->out_len && (uint8_t)res->out[0] == MP_XFER_MARK) {
                *out = STEP_OK;
                x->fails = 0;
                grow(r);
                memmove(res->out, res->out + 1, res->out_len); /* with its NUL */
                res->out_len--;
                if (res->err_len) {
                        res->err_len = mp_xfer_strip_traceback(res->err, res->err_len);
                        if (opts->on_output)
                                opts->on_output(MP_STREAM_STDERR, (const uint8_t *)res->err, res->err_len,
                                                opts->user);
                }
                return rc;
        }
        if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT)
                return rc;
        if (res->out_len) {
                /* Output without the mark: something ran that is not the code; never run it twice. */
                snprintf(x->last, sizeof(x->last), "the board printed %zu bytes before confirming the code",
                         res->out_len);
                x->fails = MP_XFER_TRIES;
                x->bad++;
                mp_repl_count(x->r, "link_errors", 1);
                mp_exec_result_clear(res);
                r->mode = MP_MODE_UNKNOWN;
                return link_corrupt(x, msg, msg_size);
        }
        if (rc == 0 && names_helper(res)) {
                *out = STEP_NO_HELPER;
        } else {
                *out = STEP_DAMAGED;
                x->fails++;
                x->bad++;
                mp_repl_count(x->r, "link_errors", 1);
                note(x, rc < 0 ? msg : res->err_len ? res->err : "the board did not confirm the code");
                shrink(r);
                settle(r, rc);
        }
        mp_exec_result_clear(res);
        return 0;
}

/* Chunk i (n bytes at off) as one step: _crw stores it, the last one (_crx) checks the whole
 * and runs it, its outcome in res. The step's outcome in *so; step()'s return value. */
static int send_chunk(struct xfer *x, const uint8_t *d, size_t len, uint32_t total, size_t off, size_t n, size_t i,
                      const struct mp_exec_opts *o, struct mp_exec_result *res, enum step_outcome *so, char *msg,
                      size_t msg_size)
{
        bool last = off + n == len;
        uint32_t a = mp_xfer_adler(d + off, n);
        char *e = escaped(d + off, n), *c = NULL;
        if (!e)
                return -ENOMEM;
        int cl = last ? asprintf(&c, "_crx(%zu,b'%s',%zu,%u,%u,%zu,%u,%u)", i, e, n, a & 0xffffu, a >> 16, len,
                                 total & 0xffffu, total >> 16)
                      : asprintf(&c, "_crw(%zu,b'%s',%zu,%u,%u)", i, e, n, a & 0xffffu, a >> 16);
        free(e);
        if (cl < 0)
                return -ENOMEM;
        int rc;
        if (last) {
                rc = last_step(x, c, (size_t)cl, o, res, so, msg, msg_size);
        } else {
                char want[32];
                snprintf(want, sizeof(want), "\x06%zu", i);
                rc = step(x, c, (size_t)cl, want, so, msg, msg_size);
        }
        free(c);
        return rc;
}

int mp_xfer_exec(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                 struct mp_exec_result *res, char *msg, size_t msg_size)
{
        struct xfer x = { .r = r };
        struct mp_exec_opts o = opts ? *opts : (struct mp_exec_opts){ 0 };
        const uint8_t *d = (const uint8_t *)code;
        uint32_t total = mp_xfer_adler(d, len);
        unsigned restarts = 0;
        size_t *offs = malloc((len / MP_XFER_CHUNK_MIN + 2) * sizeof(*offs));
        int rc = 0;
        if (!offs)
                return -ENOMEM;
        if (o.capture_max == 0)
                o.capture_max = 1u << 20;
        if (r->xfer_chunk < MP_XFER_CHUNK_MIN)
                r->xfer_chunk = r->raw_paste == 1 ? MP_XFER_CHUNK_PASTE : MP_XFER_CHUNK;
        for (size_t off = 0, i = 0;;) {
                size_t n = len - off < r->xfer_chunk ? len - off : r->xfer_chunk;
                bool last = off + n == len;
                offs[i] = off;
                enum step_outcome so = STEP_DAMAGED;
                rc = send_chunk(&x, d, len, total, off, n, i, &o, res, &so, msg, msg_size);
                if (rc == -ENOMEM)
                        break;
                if (so == STEP_OK && last)
                        break; /* rc: the code's own outcome (0 or -ETIMEDOUT) */
                if (rc < 0)
                        break;
                if (so == STEP_OK) {
                        off += n;
                        i++;
                        continue;
                }
                /* The helper is missing (a fresh board, a reset, a script that deleted it):
                 * install it, start over. */
                if (so == STEP_NO_HELPER) {
                        if (restarts++ >= 3) {
                                snprintf(x.last, sizeof(x.last), "the checking helper kept disappearing");
                                rc = link_corrupt(&x, msg, msg_size);
                                break;
                        }
                        r->xfer_ready = false;
                        if ((rc = install(&x, msg, msg_size)) < 0)
                                break;
                        off = 0;
                        i = 0;
                        continue;
                }
                if (x.fails >= MP_XFER_TRIES) {
                        rc = link_corrupt(&x, msg, msg_size);
                        break;
                }
                unsigned j;
                if (!last && sscanf(x.got, "\x06%u", &j) == 1 && j < i) {
                        /* A damaged index stored this chunk over chunk j: from j again. */
                        off = offs[j];
                        i = j;
                } else if (last && (strstr(x.last, "corral-xfer: total") || strstr(x.last, "KeyError"))) {
                        off = 0; /* the kept chunks are not what was sent: all again */
                        i = 0;
                }
                /* Else this chunk again; a smaller step size applies from here. */
        }
        free(offs);
        if (rc == -EILSEQ && r->log) {
                char line[400];
                snprintf(line, sizeof(line), "transfer failed: %s", msg);
                r->log(line, r->log_user);
        }
        return rc;
}
