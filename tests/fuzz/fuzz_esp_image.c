/* Fuzz ESP image parsing, the chip check, header patching and the MicroPython marker search. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char msg[256], ver[64];
        struct esp_image_info ii;
        for (int ext = 0; ext < 2; ext++) {
                if (esp_image_parse(data, size, ext, &ii, msg, sizeof(msg)) == 0) {
                        if (ii.data_length > size || ii.n_segments == 0 || ii.n_segments > 16)
                                abort();
                        for (unsigned i = 0; i < ii.n_segments; i++)
                                if (ii.seg[i].offset + ii.seg[i].len > size)
                                        abort();
                }
        }
        const char *chips[] = { "esp8266", "esp32", "esp32c3", "esp32s3", "esp32p4" };
        uint8_t *copy = malloc(size ? size : 1);
        if (!copy)
                return 0;
        for (size_t c = 0; c < sizeof(chips) / sizeof(chips[0]); c++) {
                const struct esp_chip *chip = esp_chip_by_name(chips[c]);
                (void)esp_image_check(data, size, chip, size ? data[0] : -1, msg, sizeof(msg));
                memcpy(copy, data, size);
                bool patched;
                (void)esp_image_patch(copy, size, chip->bootloader_offset, chip, "dio", "detect", "40m",
                                      4u << 20, false, &patched, msg, sizeof(msg));
                if (!patched && size && memcmp(copy, data, size) != 0)
                        abort();
        }
        free(copy);
        if (esp_image_find_micropython_version(data, size, ver, sizeof(ver)) == 0 &&
            (strlen(ver) < 2 || ver[0] != 'v'))
                abort();
        return 0;
}
