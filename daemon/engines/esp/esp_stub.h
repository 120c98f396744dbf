/* Espressif flasher stub: load <dir>/<chip>.json (entry, text, text_start, data, data_start;
 * base64 text/data), upload it with MEM_BEGIN/DATA/END, wait for "OHAI", switch to stub rules. */
#ifndef CORRAL_ESP_STUB_H
#define CORRAL_ESP_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_rom.h"

struct esp_stub {
        uint32_t entry, text_start, data_start;
        uint8_t *text, *data; /* owned */
        size_t text_len, data_len;
};

/* Parse a stub JSON document. *ret owned (esp_stub_free). -EBADMSG with msg on bad input. */
int esp_stub_parse(const char *json, size_t len, struct esp_stub **ret, char *msg, size_t msg_size);
/* Load <dir>/<chip->stub_name>.json; -ENOENT when there is none for this chip. */
int esp_stub_load(const char *dir, const struct esp_chip *chip, struct esp_stub **ret, char *msg,
                  size_t msg_size);
struct esp_stub *esp_stub_free(struct esp_stub *s);
/* Where an installed corrald finds the stubs when its config names no stub_dir: next to the
 * binary (<exe>/../share/corral/stubs, so a DESTDIR-staged install works too), else the
 * compiled-in CORRAL_STUB_DIR ($(PREFIX)/share/corral/stubs, release builds only). The first that
 * is a directory; NULL when none (ROM only). Static storage, computed once, thread-safe. */
const char *esp_stub_default_dir(void);
/* Upload and start; on success l->stub, status_len 2, block_size 0x4000. */
int esp_stub_run(struct esp_loader *l, const struct esp_stub *s);

#endif
