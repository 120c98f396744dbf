/* What a firmware file is, from its bytes and its name: ESP image header (chip, flash params),
 * UF2 blocks and family, Intel HEX validity, the MicroPython marker, release file names. */
#include "firmware/firmware.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engines/esp/esp_chips.h"
#include "engines/esp/esp_image.h"
#include "util.h"

#define UF2_MAGIC0 0x0A324655u
#define UF2_MAGIC1 0x9E5D5157u
#define UF2_MAGIC_END 0x0AB16F30u
#define UF2_FLAG_FAMILY 0x00002000u
#define UF2_FLAG_NOT_MAIN 0x00000001u

static const struct {
        uint32_t id;
        const char *chip;
} uf2_families[] = {
        { 0xe48bff56, "rp2040" },  { 0xe48bff59, "rp2350" },  { 0xe48bff5a, "rp2350" },
        { 0xe48bff5b, "rp2350" },  { 0x1c5f21b0, "esp32" },   { 0xbfdd4eee, "esp32s2" },
        { 0xc47e5767, "esp32s3" }, { 0xd42ba06c, "esp32c3" }, { 0xada52840, "nrf52840" },
        { 0x68ed2b88, "samd21" },  { 0x55114460, "samd51" },
};

/* MicroPython release board names -> chip. Longest prefixes first. */
static const struct {
        const char *prefix;
        const char *chip;
} board_chips[] = {
        { "ESP32_GENERIC_C3", "esp32c3" }, { "ESP32_GENERIC_C6", "esp32c6" }, { "ESP32_GENERIC_S2", "esp32s2" },
        { "ESP32_GENERIC_S3", "esp32s3" }, { "ESP32_GENERIC", "esp32" },      { "ESP8266", "esp8266" },
        { "esp8266", "esp8266" },          { "esp32c3", "esp32c3" },          { "esp32s3", "esp32s3" },
        { "esp32s2", "esp32s2" },          { "esp32", "esp32" },              { "RPI_PICO2", "rp2350" },
        { "RPI_PICO", "rp2040" },          { "rp2-pico-w", "rp2040" },        { "rp2-pico", "rp2040" },
};

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void lower_copy(char *dst, size_t size, const char *src)
{
        size_t i = 0;
        for (; src[i] && i + 1 < size; i++)
                dst[i] = (char)tolower((unsigned char)src[i]);
        dst[i] = '\0';
}

/* "esp32c3" style name of a chip table entry. */
static void chip_id_name(const struct esp_chip *c, char *out, size_t size)
{
        snprintf(out, size, "%s", c->stub_name);
}

static void inspect_esp(const uint8_t *d, size_t len, struct firmware_info *fi)
{
        char m[160];
        struct esp_image_info ii;
        const struct esp_chip *chip = NULL;
        bool ok = false;
        /* ESP32 family: extended header, known chip id, reserved bytes zero, checksum fine. */
        if (esp_image_parse(d, len, true, &ii, m, sizeof(m)) == 0 && ii.checksum_ok && len >= 24 &&
            !d[19] && !d[20] && !d[21] && !d[22]) {
                chip = esp_chip_by_image_id(ii.chip_id);
                ok = chip && !chip->is_esp8266;
        }
        if (!ok && esp_image_parse(d, len, false, &ii, m, sizeof(m)) == 0 && ii.checksum_ok) {
                chip = esp_chip_by_name("esp8266");
                ok = chip != NULL;
        }
        if (!ok) {
                /* Header there but not verifiable: keep what the header says, mark it. */
                if (esp_image_parse(d, len, false, &ii, m, sizeof(m)) < 0)
                        return;
                snprintf(fi->kind, sizeof(fi->kind), "esp-image");
                fi->esp_checksum_ok = false;
                return;
        }
        snprintf(fi->kind, sizeof(fi->kind), "esp-image");
        fi->esp_checksum_ok = true;
        chip_id_name(chip, fi->chip, sizeof(fi->chip));
        static const char *const modes[] = { "qio", "qout", "dio", "dout" };
        if (ii.flash_mode < 4)
                snprintf(fi->flash_mode, sizeof(fi->flash_mode), "%s", modes[ii.flash_mode]);
        unsigned sz = ii.flash_size_freq >> 4, fq = ii.flash_size_freq & 0x0F;
        if (chip->size_names && chip->size_names[sz])
                snprintf(fi->flash_size, sizeof(fi->flash_size), "%s", chip->size_names[sz]);
        if (chip->freq_names && chip->freq_names[fq])
                snprintf(fi->flash_freq, sizeof(fi->flash_freq), "%s", chip->freq_names[fq]);
}

/* Validate UF2 blocks; payloads of the main flash blocks are copied into *ret_payload (for the
 * marker search). Returns true when every 512-byte block has the three magics. */
static bool inspect_uf2(const uint8_t *d, size_t len, struct firmware_info *fi, uint8_t **ret_payload,
                        size_t *ret_plen)
{
        if (len == 0 || len % 512 != 0)
                return false;
        uint8_t *pl = malloc(len / 512 * 476);
        size_t n = 0;
        for (size_t off = 0; off < len; off += 512) {
                const uint8_t *b = d + off;
                if (get32(b) != UF2_MAGIC0 || get32(b + 4) != UF2_MAGIC1 || get32(b + 508) != UF2_MAGIC_END) {
                        free(pl);
                        return false;
                }
                uint32_t flags = get32(b + 8), size = get32(b + 16);
                if (off == 0 && (flags & UF2_FLAG_FAMILY)) {
                        fi->uf2_has_family = true;
                        fi->uf2_family = get32(b + 28);
                }
                if (pl && !(flags & UF2_FLAG_NOT_MAIN) && size <= 476) {
                        memcpy(pl + n, b + 32, size);
                        n += size;
                }
        }
        fi->uf2_blocks = (unsigned)(len / 512);
        snprintf(fi->kind, sizeof(fi->kind), "uf2");
        for (size_t i = 0; fi->uf2_has_family && i < sizeof(uf2_families) / sizeof(uf2_families[0]); i++)
                if (uf2_families[i].id == fi->uf2_family)
                        snprintf(fi->chip, sizeof(fi->chip), "%s", uf2_families[i].chip);
        *ret_payload = pl;
        *ret_plen = n;
        return true;
}

/* Intel HEX: every line ":LLAAAATT<data>CC" with a zero byte sum, record types 00-05 (and the
 * micro:bit universal-hex types 0A-0E), ending with an EOF record. Returns false when the file
 * does not even look like one (first byte not ':'). */
static bool inspect_ihex(const uint8_t *d, size_t len, struct firmware_info *fi)
{
        if (len == 0 || d[0] != ':')
                return false;
        snprintf(fi->kind, sizeof(fi->kind), "ihex");
        unsigned line = 0, records = 0;
        bool eof = false;
        size_t i = 0;
        while (i < len) {
                size_t s = i;
                while (i < len && d[i] != '\n')
                        i++;
                size_t e = i;
                i++;
                if (e > s && d[e - 1] == '\r')
                        e--;
                line++;
                if (e == s)
                        continue;
                if (eof) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: data after the end-of-file record", line);
                        return true;
                }
                size_t n = e - s;
                if (d[s] != ':' || n < 11 || (n - 1) % 2 != 0) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: not an Intel HEX record", line);
                        return true;
                }
                unsigned sum = 0, bytes[300];
                size_t nb = (n - 1) / 2;
                if (nb > 300) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: record too long", line);
                        return true;
                }
                for (size_t k = 0; k < nb; k++) {
                        int h = util_hexval(d[s + 1 + 2 * k]), l = util_hexval(d[s + 2 + 2 * k]);
                        if (h < 0 || l < 0) {
                                snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: bad hex digit", line);
                                return true;
                        }
                        bytes[k] = (unsigned)(h * 16 + l);
                        sum += bytes[k];
                }
                if (bytes[0] + 5 != nb) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: length byte does not match", line);
                        return true;
                }
                if ((sum & 0xFF) != 0) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: checksum error", line);
                        return true;
                }
                unsigned type = bytes[3];
                if (type > 0x0E || (type > 0x05 && type < 0x0A)) {
                        snprintf(fi->ihex_error, sizeof(fi->ihex_error), "line %u: unknown record type %02X", line, type);
                        return true;
                }
                records++;
                eof = type == 0x01;
        }
        fi->ihex_records = records;
        if (!eof)
                snprintf(fi->ihex_error, sizeof(fi->ihex_error), "no end-of-file record");
        return true;
}

/* "MicroPython v1.25.0 on 2025-04-15; ESP module with ESP8266" in the bytes. */
static void find_marker(const uint8_t *d, size_t len, struct firmware_info *fi)
{
        char ver[40];
        if (esp_image_find_micropython_version(d, len, ver, sizeof(ver)) < 0)
                return;
        memcpy(fi->mp_version, ver + 1, strlen(ver)); /* without the 'v', NUL included */
        /* Locate it again for the date and board that may follow in the same string. */
        static const char key[] = "MicroPython ";
        const uint8_t *p = memmem(d, len, key, sizeof(key) - 1);
        while (p) {
                size_t rest = len - (size_t)(p - d);
                if (rest > 13 && p[12] == 'v' && !strncmp((const char *)p + 13, ver + 1, strlen(ver + 1)))
                        break;
                p = rest > 1 ? memmem(p + 1, rest - 1, key, sizeof(key) - 1) : NULL;
        }
        if (!p)
                return;
        size_t rest = len - (size_t)(p - d), o = 12 + strlen(ver);
        if (rest > o + 14 && !memcmp(p + o, " on ", 4) && isdigit(p[o + 4])) {
                snprintf(fi->mp_date, sizeof(fi->mp_date), "%.10s", (const char *)p + o + 4);
                o += 14;
                if (rest > o + 2 && !memcmp(p + o, "; ", 2)) {
                        o += 2;
                        size_t n = 0;
                        while (o + n < rest && n < sizeof(fi->mp_board) - 1 && p[o + n] >= 0x20 && p[o + n] < 0x7f)
                                n++;
                        char board[64];
                        snprintf(board, sizeof(board), "%.*s", (int)n, (const char *)p + o);
                        char *with = strstr(board, " with ");
                        if (with)
                                *with = '\0';
                        snprintf(fi->mp_board, sizeof(fi->mp_board), "%s", board);
                }
        }
}

int firmware_parse_filename(const char *name, char board[64], char date[16], char version[40], char chip[16])
{
        if (!name)
                return -ENOENT;
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        /* Find "-YYYYMMDD-v" */
        for (const char *p = base; *p; p++) {
                if (*p != '-' || p == base)
                        continue;
                bool digits = true;
                for (int k = 1; k <= 8; k++)
                        digits = digits && isdigit((unsigned char)p[k]);
                if (!digits || p[9] != '-' || p[10] != 'v' || !isdigit((unsigned char)p[11]))
                        continue;
                const char *v = p + 11;
                size_t n = strlen(v);
                const char *dot = strrchr(v, '.');
                if (dot && (!strcasecmp(dot, ".bin") || !strcasecmp(dot, ".uf2") || !strcasecmp(dot, ".hex") ||
                            !strcasecmp(dot, ".ihex") || !strcasecmp(dot, ".elf") || !strcasecmp(dot, ".dfu")))
                        n = (size_t)(dot - v);
                snprintf(board, 64, "%.*s", (int)(p - base), base);
                snprintf(date, 16, "%.4s-%.2s-%.2s", p + 1, p + 5, p + 7);
                snprintf(version, 40, "%.*s", (int)(n < 39 ? n : 39), v);
                chip[0] = '\0';
                for (size_t i = 0; i < sizeof(board_chips) / sizeof(board_chips[0]); i++)
                        if (!strncmp(board, board_chips[i].prefix, strlen(board_chips[i].prefix))) {
                                snprintf(chip, 16, "%s", board_chips[i].chip);
                                break;
                        }
                return 0;
        }
        return -ENOENT;
}

void firmware_inspect(const uint8_t *data, size_t len, const char *filename, struct firmware_info *out)
{
        struct firmware_info fi;
        memset(&fi, 0, sizeof(fi));
        snprintf(fi.kind, sizeof(fi.kind), "raw");
        uint8_t *payload = NULL;
        size_t plen = 0;
        if (len >= 1 && data[0] == ESP_IMAGE_MAGIC)
                inspect_esp(data, len, &fi);
        else if (!inspect_uf2(data, len, &fi, &payload, &plen))
                inspect_ihex(data, len, &fi);
        if (payload)
                find_marker(payload, plen, &fi);
        else if (strcmp(fi.kind, "ihex") != 0)
                find_marker(data, len, &fi);
        free(payload);
        char board[64], date[16], version[40], chip[16];
        if (firmware_parse_filename(filename, board, date, version, chip) == 0) {
                if (!fi.mp_version[0])
                        snprintf(fi.mp_version, sizeof(fi.mp_version), "%s", version);
                if (!fi.mp_date[0])
                        snprintf(fi.mp_date, sizeof(fi.mp_date), "%s", date);
                /* The release board name is the more useful one for people. */
                snprintf(fi.mp_board, sizeof(fi.mp_board), "%s", board);
                if (!fi.chip[0] && strcmp(fi.kind, "esp-image") != 0)
                        snprintf(fi.chip, sizeof(fi.chip), "%s", chip);
        }
        *out = fi;
}

const char *firmware_family(const struct firmware_info *fi)
{
        return fi->chip;
}

static const char *extension(const char *filename)
{
        if (!filename)
                return "";
        const char *base = strrchr(filename, '/');
        base = base ? base + 1 : filename;
        const char *dot = strrchr(base, '.');
        return dot ? dot : "";
}

static bool is_esp_chip(const char *chip)
{
        return !strncasecmp(chip, "esp", 3);
}

int firmware_check_declared(const struct firmware_info *fi, const char *filename, const char *declared_chip,
                            char *msg, size_t msg_size)
{
        const char *ext = extension(filename);
        if ((!strcasecmp(ext, ".hex") || !strcasecmp(ext, ".ihex")) &&
            (strcmp(fi->kind, "ihex") != 0 || fi->ihex_error[0])) {
                snprintf(msg, msg_size, "%s is named like an Intel HEX file, but it is not valid Intel HEX%s%s",
                         filename, fi->ihex_error[0] ? ": " : "", fi->ihex_error);
                return -EMEDIUMTYPE;
        }
        if (!strcasecmp(ext, ".uf2") && strcmp(fi->kind, "uf2") != 0) {
                snprintf(msg, msg_size, "%s is named like a UF2 file, but it has no UF2 block magic", filename);
                return -EMEDIUMTYPE;
        }
        if (!strcmp(fi->kind, "esp-image") && !fi->esp_checksum_ok) {
                snprintf(msg, msg_size, "This looks like an ESP image, but its header or checksum is broken");
                return -EMEDIUMTYPE;
        }
        char want[16] = "";
        const char *source = "declared";
        if (declared_chip && *declared_chip) {
                const struct esp_chip *c = esp_chip_by_name(declared_chip);
                if (c)
                        snprintf(want, sizeof(want), "%s", c->stub_name);
                else
                        lower_copy(want, sizeof(want), declared_chip);
        } else {
                char board[64], date[16], version[40];
                if (firmware_parse_filename(filename, board, date, version, want) == 0 && want[0])
                        source = "named";
        }
        if (!want[0])
                return 0;
        bool declared = !strcmp(source, "declared");
        if (fi->chip[0] && strcmp(fi->chip, want) != 0) {
                if (declared)
                        snprintf(msg, msg_size, "chip=%s was declared, but the %s says %s", want,
                                 !strcmp(fi->kind, "esp-image") ? "image header" : "UF2 family id", fi->chip);
                else
                        snprintf(msg, msg_size, "The file name says %s, but the %s says %s", want,
                                 !strcmp(fi->kind, "esp-image") ? "image header" : "UF2 family id", fi->chip);
                return -EMEDIUMTYPE;
        }
        if (is_esp_chip(want) && strcmp(fi->kind, "esp-image") != 0) {
                snprintf(msg, msg_size, "%s firmware was %s, but this is not an ESP image (kind %s)", want,
                         declared ? "declared" : "named", fi->kind);
                return -EMEDIUMTYPE;
        }
        return 0;
}

json_t *firmware_info_json(const struct firmware_info *fi)
{
        json_t *j = json_pack("{s:s, s:s?, s:s?}", "kind", fi->kind, "chip", fi->chip[0] ? fi->chip : NULL,
                              "family", fi->chip[0] ? fi->chip : NULL);
        if (!j)
                return NULL;
        if (!strcmp(fi->kind, "esp-image"))
                json_object_set_new(j, "esp", json_pack("{s:b, s:s?, s:s?, s:s?}", "checksum_ok", fi->esp_checksum_ok,
                                                        "flash_mode", fi->flash_mode[0] ? fi->flash_mode : NULL,
                                                        "flash_size", fi->flash_size[0] ? fi->flash_size : NULL,
                                                        "flash_freq", fi->flash_freq[0] ? fi->flash_freq : NULL));
        if (!strcmp(fi->kind, "uf2")) {
                char fam[16];
                snprintf(fam, sizeof(fam), "0x%08x", fi->uf2_family);
                json_object_set_new(j, "uf2", json_pack("{s:i, s:s?}", "blocks", (int)fi->uf2_blocks, "family_id",
                                                        fi->uf2_has_family ? fam : NULL));
        }
        if (!strcmp(fi->kind, "ihex"))
                json_object_set_new(j, "ihex", json_pack("{s:b, s:i, s:s?}", "valid", !fi->ihex_error[0], "records",
                                                         (int)fi->ihex_records, "error",
                                                         fi->ihex_error[0] ? fi->ihex_error : NULL));
        if (fi->mp_version[0])
                json_object_set_new(j, "micropython", json_pack("{s:s, s:s?, s:s?}", "version", fi->mp_version, "date",
                                                                fi->mp_date[0] ? fi->mp_date : NULL, "board",
                                                                fi->mp_board[0] ? fi->mp_board : NULL));
        else
                json_object_set_new(j, "micropython", json_null());
        return j;
}

bool firmware_id_valid(const char *id)
{
        if (!id || strlen(id) != FIRMWARE_ID_LEN)
                return false;
        for (size_t i = 0; i < FIRMWARE_ID_LEN; i++)
                if (!isdigit((unsigned char)id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
                        return false;
        return true;
}

bool firmware_family_valid(const char *family)
{
        size_t n = family ? strlen(family) : 0;
        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!islower((unsigned char)family[i]) && !isdigit((unsigned char)family[i]) && family[i] != '_' &&
                    family[i] != '-')
                        return false;
        return true;
}
