/* Fuzz the boot-log classifier: the input is split into a ROM capture and a firmware capture
 * (first byte picks the split point and the chip); the verdict must be well-formed, and stable:
 * the same captures in fresh exact-size buffers, into a result full of junk, give the same
 * verdict, summary, evidence and facts; two empty captures are always "silent". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/bootlog.h"

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

        /* Stable: copies of the captures (exactly sized: ASan sees any over-read), a result
         * struct that starts full of junk, the same answer. */
        uint8_t *a = malloc(split ? split : 1), *b = malloc(rest - split ? rest - split : 1);
        if (!a || !b)
                abort();
        memcpy(a, data + 1, split);
        memcpy(b, data + 1 + split, rest - split);
        struct bootlog_capture rom2 = { a, split, rom.baud }, fw2 = { b, rest - split, fw.baud };
        static struct bootlog_result r2;
        memset(&r2, 0xA5, sizeof(r2));
        bootlog_classify(chip, &rom2, &fw2, &r2);
        if (r2.cls != r.cls || r2.n_evidence != r.n_evidence || strcmp(r2.summary, r.summary) ||
            strcmp(r2.mp_version, r.mp_version) || strcmp(r2.mp_board, r.mp_board) || strcmp(r2.mp_mcu, r.mp_mcu) ||
            r2.prompt != r.prompt || r2.reset_cause != r.reset_cause || strcmp(r2.reset_reason, r.reset_reason) ||
            r2.boot_mode != r.boot_mode || r2.fs_corrupt != r.fs_corrupt)
                abort();
        for (size_t i = 0; i < r.n_evidence; i++)
                if (strcmp(r.evidence[i], r2.evidence[i]))
                        abort();
        free(a);
        free(b);

        struct bootlog_capture none = { data, 0, 115200 };
        bootlog_classify(chip, &none, &none, &r2);
        if (r2.cls != BOOTLOG_SILENT)
                abort();
        return 0;
}
