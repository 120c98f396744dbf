/* Fuzz firmware metadata parsing (ESP header, UF2 blocks, Intel HEX, MicroPython marker, release
 * file names) and the declared-vs-content check: no crash, well-formed strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/firmware.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* The first line (up to 80 bytes) doubles as a file name. */
        char name[81] = "";
        size_t n = 0;
        while (n < size && n < 80 && data[n] != '\n' && data[n] != 0)
                n++;
        memcpy(name, data, n);
        name[n] = '\0';
        struct firmware_info fi;
        firmware_inspect(data, size, name, &fi);
        if (strcmp(fi.kind, "esp-image") && strcmp(fi.kind, "uf2") && strcmp(fi.kind, "ihex") && strcmp(fi.kind, "raw"))
                abort();
        if (strlen(fi.mp_version) >= sizeof(fi.mp_version) || strlen(fi.mp_board) >= sizeof(fi.mp_board))
                abort();
        char msg[256];
        static const char *const chips[] = { NULL, "esp8266", "esp32", "rp2040" };
        for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++)
                if (firmware_check_declared(&fi, name, chips[i], msg, sizeof(msg)) < 0 && !msg[0])
                        abort();
        char board[64], date[16], version[40], chip[16];
        (void)firmware_parse_filename(name, board, date, version, chip);
        return 0;
}
