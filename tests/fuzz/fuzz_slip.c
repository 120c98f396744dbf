/* Fuzz the SLIP decoder with arbitrary bytes split into arbitrary reads, and check properties:
 * encode -> decode returns the input; a stream of encoded frames comes out frame for frame
 * whatever the read sizes; and after any bytes that end in a frame end (C0), including a bad
 * escape right before it (DB C0), the decoder is in sync: the next frames are all delivered. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/slip.h"

#define MAX_FRAMES 8

/* Feed buf in chunks of `chunk`; every frame reported is compared with want[next]. Errors are
 * allowed only when allow_errors. Returns the number of frames seen. */
static size_t feed_all(struct slip_decoder *d, const uint8_t *buf, size_t n, size_t chunk, bool allow_errors,
                       const uint8_t *const *want, const size_t *want_len, size_t nwant)
{
        size_t seen = 0;
        for (size_t off = 0; off < n;) {
                size_t c = n - off < chunk ? n - off : chunk;
                size_t used = 0;
                int r = slip_decoder_feed(d, buf + off, c, &used);
                if (used == 0 || used > c)
                        abort();
                if (r == 1) {
                        if (d->len == 0 || d->len > d->max_frame)
                                abort();
                        if (want) {
                                if (seen >= nwant || d->len != want_len[seen] || memcmp(d->frame, want[seen], d->len))
                                        abort(); /* a frame lost, added, or changed */
                        }
                        seen++;
                } else if (r < 0) {
                        if (!allow_errors || (r != -EBADMSG && r != -EMSGSIZE))
                                abort();
                } else if (r != 0 || used != c) {
                        abort(); /* 0 means every byte was taken */
                }
                off += used;
        }
        return seen;
}

/* prefix (arbitrary, then the given tail) followed by the encoded frames: all frames out. */
static void resync(const uint8_t *prefix, size_t plen, const uint8_t *tail, size_t tlen, size_t chunk, size_t max,
                   const uint8_t *enc, size_t enc_len, const uint8_t *const *want, const size_t *want_len, size_t nwant)
{
        struct slip_decoder d;
        if (slip_decoder_init(&d, max) < 0)
                abort();
        feed_all(&d, prefix, plen, chunk, true, NULL, NULL, 0);
        feed_all(&d, tail, tlen, chunk, true, NULL, NULL, 0);
        /* After a C0 the decoder waits for a frame: outside, or in an empty one. */
        if (!(d.state == SLIP_OUTSIDE || (d.state == SLIP_IN_FRAME && d.len == 0)))
                abort();
        if (feed_all(&d, enc, enc_len, chunk, false, want, want_len, nwant) != nwant)
                abort();
        slip_decoder_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 3)
                return 0;
        size_t chunk = (size_t)(data[0] % 17) + 1, max = (size_t)(data[1] % 64) + 1;
        size_t split = data[2];
        data += 3;
        size -= 3;
        struct slip_decoder d;
        if (slip_decoder_init(&d, max) < 0)
                return 0;
        feed_all(&d, data, size, chunk, true, NULL, NULL, 0);
        char g[300];
        if (slip_decoder_garbage(&d, g, sizeof(g)) > 256 || strlen(g) > 256)
                abort();
        if (d.garbage_len > SLIP_GARBAGE_KEEP || d.garbage_total > size)
                abort();
        slip_decoder_fini(&d);

        /* Round trip of the whole input as one frame. */
        size_t cap = slip_encoded_max(size);
        uint8_t *enc = malloc(cap + 1);
        if (!enc)
                return 0;
        int n = slip_encode(data, size, enc, cap);
        if (n < 2 || (size_t)n > cap || enc[0] != SLIP_END || enc[n - 1] != SLIP_END)
                abort();
        for (int i = 1; i < n - 1; i++)
                if (enc[i] == SLIP_END)
                        abort(); /* no frame end inside a frame */
        if (size && slip_encode(data, size, enc, (size_t)n - 1) != -ENOSPC)
                abort(); /* one byte short of room is refused, not truncated */
        if (slip_decoder_init(&d, size ? size : 1) < 0) {
                free(enc);
                return 0;
        }
        const uint8_t *one[1] = { data };
        size_t one_len[1] = { size };
        if (feed_all(&d, enc, (size_t)n, chunk, false, one, one_len, size ? 1 : 0) != (size ? 1u : 0u))
                abort();
        slip_decoder_fini(&d);
        free(enc);

        /* Frames after arbitrary bytes: the first `split` bytes (up to all) are the prefix, the
         * rest is cut into frames of 1..max bytes (lengths from the data itself). */
        if (split > size)
                split = size;
        const uint8_t *frames[MAX_FRAMES];
        size_t flen[MAX_FRAMES], nf = 0, total = 0;
        for (size_t off = split; off < size && nf < MAX_FRAMES;) {
                size_t l = (size_t)(data[off] % max) + 1;
                if (l > size - off)
                        l = size - off;
                frames[nf] = data + off;
                flen[nf++] = l;
                total += slip_encoded_max(l);
                off += l;
        }
        uint8_t *stream = malloc(total + 1);
        if (!stream)
                return 0;
        size_t sl = 0;
        for (size_t i = 0; i < nf; i++) {
                int e = slip_encode(frames[i], flen[i], stream + sl, total - sl);
                if (e < 0)
                        abort();
                sl += (size_t)e;
        }
        static const uint8_t end[] = { SLIP_END }, bad_escape_end[] = { SLIP_ESC, SLIP_END };
        resync(NULL, 0, NULL, 0, chunk, max, stream, sl, frames, flen, nf);
        resync(data, split, end, sizeof(end), chunk, max, stream, sl, frames, flen, nf);
        resync(data, split, bad_escape_end, sizeof(bad_escape_end), chunk, max, stream, sl, frames, flen, nf);
        free(stream);
        return 0;
}
