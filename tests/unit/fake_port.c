/* In-memory struct port with a virtual clock for byte-by-byte engine tests. */
#include "fake_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct buf {
        uint8_t *d;
        size_t len, cap, off;
};

struct fake {
        struct buf rx, tx;
        uint8_t lines[4096];
        size_t nlines;
        uint64_t now;
        bool gone;
        size_t chunk;
        fake_port_write_fn on_write;
        fake_port_lines_fn on_lines;
        void *user;
};

static void buf_put(struct buf *b, const void *data, size_t len)
{
        if (b->len + len > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + len)
                        cap *= 2;
                b->d = realloc(b->d, cap);
                if (!b->d)
                        abort();
                b->cap = cap;
        }
        memcpy(b->d + b->len, data, len);
        b->len += len;
}

static int fake_read(struct port *p, void *out, size_t len, int timeout_ms)
{
        struct fake *f = p->priv;
        if (f->gone)
                return -ENODEV;
        size_t avail = f->rx.len - f->rx.off;
        if (avail == 0) {
                f->now += (uint64_t)timeout_ms;
                return 0;
        }
        size_t n = avail < len ? avail : len;
        if (f->chunk && n > f->chunk)
                n = f->chunk;
        memcpy(out, f->rx.d + f->rx.off, n);
        f->rx.off += n;
        if (f->rx.off == f->rx.len)
                f->rx.off = f->rx.len = 0;
        return (int)n;
}

static int fake_write(struct port *p, const void *data, size_t len, int timeout_ms)
{
        (void)timeout_ms;
        struct fake *f = p->priv;
        if (f->gone)
                return -ENODEV;
        buf_put(&f->tx, data, len);
        if (f->on_write)
                f->on_write(p, data, len, f->user);
        return (int)len;
}

static int fake_set_baud(struct port *p, unsigned baud)
{
        (void)baud;
        struct fake *f = p->priv;
        return f->gone ? -ENODEV : 0;
}

static int fake_set_lines(struct port *p, bool dtr, bool rts)
{
        struct fake *f = p->priv;
        if (f->gone)
                return -ENODEV;
        if (f->nlines < sizeof(f->lines))
                f->lines[f->nlines++] = (uint8_t)((dtr ? 1 : 0) | (rts ? 2 : 0));
        if (f->on_lines)
                f->on_lines(p, dtr, rts, f->user);
        return 0;
}

static int fake_flush_input(struct port *p)
{
        struct fake *f = p->priv;
        f->rx.off = f->rx.len = 0;
        return 0;
}

static void fake_sleep(struct port *p, unsigned ms)
{
        struct fake *f = p->priv;
        f->now += ms;
}

static void fake_close(struct port *p)
{
        struct fake *f = p->priv;
        if (!f)
                return;
        free(f->rx.d);
        free(f->tx.d);
        free(f);
        p->priv = NULL;
}

static const struct port_ops fake_ops = {
        .name = "fake",
        .read = fake_read,
        .write = fake_write,
        .set_baud = fake_set_baud,
        .set_lines = fake_set_lines,
        .flush_input = fake_flush_input,
        .sleep_ms = fake_sleep,
        .close = fake_close,
};

struct port *fake_port_new(void)
{
        struct port *p = NULL;
        if (port_alloc(&fake_ops, "fake://", 115200, &p) < 0)
                abort();
        p->priv = calloc(1, sizeof(struct fake));
        if (!p->priv)
                abort();
        return p;
}

void fake_port_set_device(struct port *p, fake_port_write_fn on_write, fake_port_lines_fn on_lines,
                          void *user)
{
        struct fake *f = p->priv;
        f->on_write = on_write;
        f->on_lines = on_lines;
        f->user = user;
}

void fake_port_feed(struct port *p, const void *data, size_t len)
{
        buf_put(&((struct fake *)p->priv)->rx, data, len);
}

void fake_port_feed_str(struct port *p, const char *s)
{
        fake_port_feed(p, s, strlen(s));
}

void fake_port_unplug(struct port *p)
{
        ((struct fake *)p->priv)->gone = true;
}

const uint8_t *fake_port_written(struct port *p, size_t *len)
{
        struct fake *f = p->priv;
        *len = f->tx.len;
        return f->tx.d;
}

void fake_port_clear_written(struct port *p)
{
        ((struct fake *)p->priv)->tx.len = 0;
}

uint64_t fake_port_now(struct port *p)
{
        return ((struct fake *)p->priv)->now;
}

size_t fake_port_line_history(struct port *p, const uint8_t **hist)
{
        struct fake *f = p->priv;
        *hist = f->lines;
        return f->nlines;
}

void fake_port_set_read_chunk(struct port *p, size_t n)
{
        ((struct fake *)p->priv)->chunk = n;
}
