/* Fuzz esp_stub_parse (flasher-stub JSON from stub_dir): arbitrary documents. No crash, no
 * leak; an accepted stub has lengths that match its buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct esp_stub *s = NULL;
        char msg[256] = "";
        int r = esp_stub_parse((const char *)data, size, &s, msg, sizeof(msg));
        if (r == 0) {
                if (!s || (s->text_len && !s->text) || (s->data_len && !s->data))
                        abort();
                /* Touch every byte: ASan checks the lengths against the allocations. */
                volatile uint8_t x = 0;
                for (size_t i = 0; i < s->text_len; i++)
                        x ^= s->text[i];
                for (size_t i = 0; i < s->data_len; i++)
                        x ^= s->data[i];
                (void)x;
        } else if (!msg[0]) {
                abort();
        }
        esp_stub_free(s);
        return 0;
}
