/* Fuzz the SLIP decoder with arbitrary bytes split into arbitrary reads, and check that
 * encode -> decode returns the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/slip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        size_t chunk = (size_t)(data[0] % 17) + 1, max = (size_t)(data[1] % 64) + 1;
        data += 2;
        size -= 2;
        struct slip_decoder d;
        if (slip_decoder_init(&d, max) < 0)
                return 0;
        for (size_t off = 0; off < size;) {
                size_t n = size - off < chunk ? size - off : chunk;
                size_t used = 0;
                int r = slip_decoder_feed(&d, data + off, n, &used);
                if (used == 0 || used > n)
                        abort();
                if (r == 1 && (d.len == 0 || d.len > max))
                        abort();
                off += used;
        }
        char g[300];
        if (slip_decoder_garbage(&d, g, sizeof(g)) > 256)
                abort();
        slip_decoder_fini(&d);

        /* Round trip. */
        size_t cap = slip_encoded_max(size);
        uint8_t *enc = malloc(cap);
        if (!enc)
                return 0;
        int n = slip_encode(data, size, enc, cap);
        if (n < 2)
                abort();
        if (slip_decoder_init(&d, size ? size : 1) < 0) {
                free(enc);
                return 0;
        }
        size_t used = 0;
        int r = slip_decoder_feed(&d, enc, (size_t)n, &used);
        if (size > 0 && (r != 1 || d.len != size || memcmp(d.frame, data, size) != 0))
                abort();
        if (size == 0 && r != 0)
                abort();
        slip_decoder_fini(&d);
        free(enc);
        return 0;
}
