/* Fuzz the boot-log classifier: the input is split into a ROM capture and a firmware capture
 * (first byte picks the split point and the chip); the verdict must be well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/bootlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        enum bootlog_chip chip = data[0] & 1 ? BOOTLOG_ESP32 : BOOTLOG_ESP8266;
        size_t rest = size - 1, split = rest ? (size_t)(data[0] >> 1) * rest / 127 : 0;
        if (split > rest)
                split = rest;
        struct bootlog_capture rom = { data + 1, split, data[0] & 2 ? 115200 : 74880 };
        struct bootlog_capture fw = { data + 1 + split, rest - split, 115200 };
        struct bootlog_result r;
        bootlog_classify(chip, &rom, &fw, &r);
        if (r.n_evidence > BOOTLOG_MAX_EVIDENCE || strlen(r.summary) >= sizeof(r.summary))
                abort();
        for (size_t i = 0; i < r.n_evidence; i++) {
                size_t n = strlen(r.evidence[i]);
                if (n == 0 || n >= BOOTLOG_LINE_MAX)
                        abort();
                for (size_t k = 0; k < n; k++)
                        if ((unsigned char)r.evidence[i][k] < 0x20 || (unsigned char)r.evidence[i][k] >= 0x7f)
                                abort();
        }
        if (strcmp(bootlog_class_name(r.cls), "") == 0 || !r.summary[0])
                abort();
        if (r.cls == BOOTLOG_SILENT && r.n_evidence != 0)
                abort();
        return 0;
}
