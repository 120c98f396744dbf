/* SLIP encoder and incremental decoder for the ESP serial protocol. */
#include "engines/esp/slip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int slip_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t out_size)
{
        size_t o = 0;
        if (out_size < 2 || (len && !payload))
                return -ENOSPC;
        out[o++] = SLIP_END;
        for (size_t i = 0; i < len; i++) {
                uint8_t b = payload[i];
                if (b == SLIP_END || b == SLIP_ESC) {
                        if (o + 2 > out_size - 1)
                                return -ENOSPC;
                        out[o++] = SLIP_ESC;
                        out[o++] = b == SLIP_END ? SLIP_ESC_END : SLIP_ESC_ESC;
                } else {
                        if (o + 1 > out_size - 1)
                                return -ENOSPC;
                        out[o++] = b;
                }
        }
        out[o++] = SLIP_END;
        if (o > (size_t)INT32_MAX)
                return -ENOSPC;
        return (int)o;
}

int slip_decoder_init(struct slip_decoder *d, size_t max_frame)
{
        if (!d || max_frame == 0)
                return -EINVAL;
        memset(d, 0, sizeof(*d));
        d->frame = malloc(max_frame);
        if (!d->frame)
                return -ENOMEM;
        d->max_frame = max_frame;
        d->state = SLIP_OUTSIDE;
        return 0;
}

void slip_decoder_fini(struct slip_decoder *d)
{
        if (!d)
                return;
        free(d->frame);
        d->frame = NULL;
        d->len = d->max_frame = 0;
}

void slip_decoder_reset(struct slip_decoder *d)
{
        d->state = SLIP_OUTSIDE;
        d->len = 0;
}

static void garbage_put(struct slip_decoder *d, uint8_t b)
{
        d->garbage_total++;
        d->garbage[d->garbage_head] = b;
        d->garbage_head = (d->garbage_head + 1) % SLIP_GARBAGE_KEEP;
        if (d->garbage_len < SLIP_GARBAGE_KEEP)
                d->garbage_len++;
}

int slip_decoder_feed(struct slip_decoder *d, const uint8_t *data, size_t len, size_t *consumed)
{
        size_t i = 0;
        int ret = 0;
        /* A frame reported by the previous call is gone now. */
        if (d->state == SLIP_OUTSIDE)
                d->len = 0;
        while (i < len && ret == 0) {
                uint8_t b = data[i++];
                switch (d->state) {
                case SLIP_OUTSIDE:
                        if (b == SLIP_END) {
                                d->state = SLIP_IN_FRAME;
                                d->len = 0;
                        } else {
                                garbage_put(d, b);
                        }
                        break;
                case SLIP_DISCARD:
                        /* Resync: treat the next C0 as a possible frame start; if it was the
                         * end of the broken frame, the real start yields an empty frame. */
                        if (b == SLIP_END) {
                                d->state = SLIP_IN_FRAME;
                                d->len = 0;
                        }
                        break;
                case SLIP_IN_FRAME:
                        if (b == SLIP_END) {
                                if (d->len == 0) {
                                        d->empty_frames++;
                                } else {
                                        d->state = SLIP_OUTSIDE;
                                        ret = 1;
                                }
                        } else if (b == SLIP_ESC) {
                                d->state = SLIP_IN_ESCAPE;
                        } else if (d->len >= d->max_frame) {
                                d->state = SLIP_DISCARD;
                                d->len = 0;
                                d->errors++;
                                ret = -EMSGSIZE;
                        } else {
                                d->frame[d->len++] = b;
                        }
                        break;
                case SLIP_IN_ESCAPE:
                        if (b != SLIP_ESC_END && b != SLIP_ESC_ESC) {
                                d->state = b == SLIP_END ? SLIP_IN_FRAME : SLIP_DISCARD;
                                d->len = 0;
                                d->errors++;
                                ret = -EBADMSG;
                        } else if (d->len >= d->max_frame) {
                                d->state = SLIP_DISCARD;
                                d->len = 0;
                                d->errors++;
                                ret = -EMSGSIZE;
                        } else {
                                d->frame[d->len++] = b == SLIP_ESC_END ? SLIP_END : SLIP_ESC;
                                d->state = SLIP_IN_FRAME;
                        }
                        break;
                }
        }
        *consumed = i;
        return ret;
}

size_t slip_decoder_garbage(const struct slip_decoder *d, char *out, size_t size)
{
        if (!out || size == 0)
                return 0;
        size_t have = d->garbage_len;
        size_t n = have < size - 1 ? have : size - 1;
        /* The newest n bytes end just before garbage_head. */
        size_t start = (d->garbage_head + SLIP_GARBAGE_KEEP - n) % SLIP_GARBAGE_KEEP;
        for (size_t k = 0; k < n; k++)
                out[k] = (char)d->garbage[(start + k) % SLIP_GARBAGE_KEEP];
        out[n] = '\0';
        return n;
}

void slip_decoder_clear_garbage(struct slip_decoder *d)
{
        memset(d->garbage, 0, sizeof(d->garbage));
        d->garbage_head = 0;
        d->garbage_len = 0;
}
