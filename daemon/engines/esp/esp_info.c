/* Chip identification over the ROM loader: detection (security info, magic register), MAC,
 * crystal, revision, and the connect-to-ready sequence used by identify and flash jobs. */
#include "engines/esp/esp_info.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engines/esp/esp_flashcmd.h"
#include "engines/esp/esp_spi.h"
#include "engines/esp/esp_stub.h"
#include "engines/try.h"
#include "util.h"

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_chip(struct esp_loader *l, const struct esp_chip *chip)
{
        l->chip = chip;
        snprintf(l->description, sizeof(l->description), "%s", chip->name);
        if (l->sync_stub_detected)
                l->stub = true; /* a stub from an earlier session is still running */
        l->status_len = l->stub ? 2 : chip->rom_status_len;
        l->block_size = l->stub ? ESP_STUB_BLOCK : ESP_ROM_BLOCK;
}

int esp_detect_chip(struct esp_loader *l)
{
        struct esp_response r;
        l->status_len = 2; /* unknown yet; AUTO parsing then keeps any trailing status bytes */
        int e = esp_command(l, ESP_GET_SECURITY_INFO, NULL, 0, 0, ESP_RESP_DATA_AUTO,
                            ESP_DEFAULT_TIMEOUT_MS, &r);
        if (e == -ENODEV || e == -ECANCELED)
                return e;
        if (e == 0 && r.data_len >= 12) {
                l->have_sec_info = true;
                l->sec_flags = get32(r.data);
                l->secure_download = (l->sec_flags & 4) != 0;
                if (r.data_len >= 20) {
                        l->sec_chip_id = (int)get32(r.data + 12);
                        const struct esp_chip *c = esp_chip_by_image_id(l->sec_chip_id);
                        if (c && c->image_chip_id > 2) {
                                set_chip(l, c);
                                return 0;
                        }
                }
        }
        uint32_t magic = 0;
        e = esp_read_reg(l, ESP_MAGIC_REG, &magic);
        if (e == -EOPNOTSUPP && l->have_sec_info) {
                set_chip(l, esp_chip_by_name("esp32s2"));
                l->secure_download = true;
                return 0;
        }
        if (e < 0)
                return esp_loader_fail(l, e, "Could not identify the chip: %s", l->msg);
        l->magic = magic;
        const struct esp_chip *c = esp_chip_by_magic(magic);
        if (!c)
                return esp_loader_fail(l, -ENODEV, "Unknown chip (magic register 0x%08x): not an "
                                       "ESP chip this daemon knows", magic);
        set_chip(l, c);
        return 0;
}

static int read_esp8266_mac(struct esp_loader *l)
{
        uint32_t m0, m1, m2, m3;
        TRY(esp_read_reg(l, 0x3FF00050, &m0));
        TRY(esp_read_reg(l, 0x3FF00054, &m1));
        TRY(esp_read_reg(l, 0x3FF00058, &m2));
        TRY(esp_read_reg(l, 0x3FF0005C, &m3));
        uint8_t oui[3];
        if (m3) {
                oui[0] = (uint8_t)(m3 >> 16), oui[1] = (uint8_t)(m3 >> 8), oui[2] = (uint8_t)m3;
        } else if (((m1 >> 16) & 0xFF) == 0) {
                oui[0] = 0x18, oui[1] = 0xFE, oui[2] = 0x34;
        } else if (((m1 >> 16) & 0xFF) == 1) {
                oui[0] = 0xAC, oui[1] = 0xD0, oui[2] = 0x74;
        } else {
                return esp_loader_fail(l, -EBADMSG, "Unknown OUI in the ESP8266 eFuse");
        }
        memcpy(l->mac, oui, 3);
        l->mac[3] = (uint8_t)(m1 >> 8);
        l->mac[4] = (uint8_t)m1;
        l->mac[5] = (uint8_t)(m0 >> 24);
        l->have_mac = true;
        bool is8285 = (m0 & (1u << 4)) || (m2 & (1u << 16));
        snprintf(l->description, sizeof(l->description), "%s", is8285 ? "ESP8285" : "ESP8266EX");
        return 0;
}

static void mac_from_pair(struct esp_loader *l, uint32_t hi, uint32_t lo)
{
        l->mac[0] = (uint8_t)(hi >> 8);
        l->mac[1] = (uint8_t)hi;
        l->mac[2] = (uint8_t)(lo >> 24);
        l->mac[3] = (uint8_t)(lo >> 16);
        l->mac[4] = (uint8_t)(lo >> 8);
        l->mac[5] = (uint8_t)lo;
        l->have_mac = true;
}

int esp_read_mac(struct esp_loader *l)
{
        if (!l->chip)
                return esp_loader_fail(l, -EINVAL, "MAC read before chip detection");
        uint32_t lo, hi;
        switch (l->chip->mac_scheme) {
        case ESP_MAC_ESP8266:
                return read_esp8266_mac(l);
        case ESP_MAC_ESP32:
                TRY(esp_read_reg(l, 0x3FF5A004, &lo));
                TRY(esp_read_reg(l, 0x3FF5A008, &hi));
                break;
        case ESP_MAC_EFUSE_PAIR:
        default:
                TRY(esp_read_reg(l, l->chip->mac_efuse_reg, &lo));
                TRY(esp_read_reg(l, l->chip->mac_efuse_reg + 4, &hi));
                break;
        }
        mac_from_pair(l, hi, lo);
        return 0;
}

int esp_read_crystal(struct esp_loader *l)
{
        if (!l->chip)
                return esp_loader_fail(l, -EINVAL, "Crystal read before chip detection");
        if (!l->chip->uart_clkdiv_reg) {
                l->xtal_mhz = l->chip->fixed_xtal_mhz;
                return 0;
        }
        uint32_t div;
        TRY(esp_read_reg(l, l->chip->uart_clkdiv_reg, &div));
        div &= 0xFFFFF;
        double mhz = (double)l->port->baud * div / 1e6 / l->chip->xtal_div_factor;
        l->xtal_mhz = mhz > 33 ? 40 : 26;
        return 0;
}

/* ESP32-C3 / S3: eFuse BLOCK1 (the MAC words' block) word 3 bits 20:18 = minor low bits, word 5
 * bit 23 = minor high bit, word 5 bits 25:24 = major. */
static int read_revision_block1(struct esp_loader *l)
{
        uint32_t w3, w5;
        TRY(esp_read_reg(l, l->chip->mac_efuse_reg + 12, &w3));
        TRY(esp_read_reg(l, l->chip->mac_efuse_reg + 20, &w5));
        l->rev_major = (int)((w5 >> 24) & 3);
        l->rev_minor = (int)(((w5 >> 23) & 1) << 3 | ((w3 >> 18) & 7));
        return 0;
}

int esp_read_revision(struct esp_loader *l)
{
        if (l->chip && (l->chip->image_chip_id == 5 || l->chip->image_chip_id == 9))
                return read_revision_block1(l);
        if (!l->chip || l->chip->image_chip_id != 0)
                return 0; /* ESP8266 has none; other layouts are not known here: unknown */
        uint32_t w3, w5, apb;
        TRY(esp_read_reg(l, 0x3FF5A00C, &w3));
        TRY(esp_read_reg(l, 0x3FF5A014, &w5));
        TRY(esp_read_reg(l, 0x3FF6607C, &apb));
        unsigned bits = ((apb >> 31) & 1) << 2 | ((w5 >> 20) & 1) << 1 | ((w3 >> 15) & 1);
        l->rev_major = bits == 1 ? 1 : bits == 3 ? 2 : bits == 7 ? 3 : 0;
        l->rev_minor = (int)((w5 >> 24) & 3);
        unsigned pkg = ((w3 >> 9) & 7) | ((w3 >> 2) & 1) << 3;
        const char *name;
        bool v3 = l->rev_major == 3;
        switch (pkg) {
        case 0: name = v3 ? "ESP32-D0WD-V3" : "ESP32-D0WDQ6"; break;
        case 1: name = v3 ? "ESP32-D0WD-V3" : "ESP32-D0WD"; break;
        case 2: name = "ESP32-D2WD"; break;
        case 4: name = "ESP32-U4WDH"; break;
        case 5: name = v3 ? "ESP32-PICO-V3" : "ESP32-PICO-D4"; break;
        case 6: name = "ESP32-PICO-V3-02"; break;
        case 7: name = "ESP32-D0WDR2-V3"; break;
        default: name = "ESP32 (unknown package)"; break;
        }
        snprintf(l->description, sizeof(l->description), "%s", name);
        /* Features depend on word 3: bit 0 single core, bit 1 no Bluetooth. */
        l->esp32_word3 = w3;
        return 0;
}

static double now_s(void)
{
        return (double)util_mono_ms() / 1e3;
}

int esp_loader_prepare(struct esp_loader *l, const struct esp_connect_opts *opts)
{
        struct esp_connect_opts def = { 0 };
        if (!opts)
                opts = &def;
        double t0 = now_s();
        l->connect_s = l->stub_s = 0;
        l->stub_baud_tried = 0;
        TRY(esp_connect(l, opts));
        TRY(esp_detect_chip(l));
        TRY(esp_read_mac(l));
        if (esp_read_crystal(l) == -ENODEV || esp_read_revision(l) == -ENODEV)
                return esp_loader_fail(l, -ENODEV, "The board disappeared during identification");
        if (opts->stub_dir && !l->stub && !l->secure_download) {
                struct esp_stub *s = NULL;
                char m[256];
                int e = esp_stub_load(opts->stub_dir, l->chip, &s, m, sizeof(m));
                if (e == 0) {
                        double ts = now_s();
                        unsigned sb = opts->stub_baud;
                        if (!sb && opts->pick_stub_baud && !l->chip->is_esp8266)
                                sb = opts->pick_stub_baud(opts->pick_user, l);
                        if (sb > l->port->baud && !l->chip->is_esp8266) {
                                /* Upload the stub at the faster baud (the ROM can change it). */
                                l->stub_baud_tried = sb;
                                e = esp_change_baud(l, sb);
                                if (e == 0)
                                        e = esp_link_check(l);
                                if (e < 0) {
                                        esp_stub_free(s);
                                        return e;
                                }
                        }
                        e = esp_stub_run(l, s);
                        l->stub_s = now_s() - ts;
                        esp_stub_free(s);
                        if (e < 0)
                                return e; /* the ROM state is unknown after a failed upload */
                } else {
                        snprintf(l->note, sizeof(l->note), "%.200s; using the ROM loader", m);
                }
        }
        if (!opts->no_flash_id) {
                if (!l->stub)
                        TRY(esp_spi_attach(l));
                TRY(esp_read_flash_id(l));
                if (l->flash_size)
                        TRY(esp_spi_set_params(l, l->flash_size));
        }
        l->connect_s = now_s() - t0 - l->stub_s;
        return 0;
}

void esp_format_mac(const uint8_t mac[6], char out[18])
{
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

static json_t *features(const struct esp_loader *l)
{
        json_t *a = json_array();
        if (!a || !l->chip)
                return a;
        if (l->chip->image_chip_id == 0) {
                json_array_append_new(a, json_string("Wi-Fi"));
                if (!(l->esp32_word3 & 2))
                        json_array_append_new(a, json_string("BT"));
                json_array_append_new(a, json_string(l->esp32_word3 & 1 ? "Single Core" : "Dual Core"));
                return a;
        }
        char buf[96];
        snprintf(buf, sizeof(buf), "%s", l->chip->features);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(t));
        return a;
}

json_t *esp_loader_facts(const struct esp_loader *l)
{
        char mac[18], id[8], rev[16];
        json_t *o = json_object();
        if (!o || !l->chip)
                return o;
        json_object_set_new(o, "chip", json_string(l->chip->name));
        json_object_set_new(o, "chip_description", json_string(l->description));
        if (l->rev_major >= 0) {
                snprintf(rev, sizeof(rev), "v%d.%d", l->rev_major, l->rev_minor);
                json_object_set_new(o, "chip_revision", json_string(rev));
        } else {
                json_object_set_new(o, "chip_revision", json_null());
        }
        if (l->have_mac) {
                esp_format_mac(l->mac, mac);
                json_object_set_new(o, "mac", json_string(mac));
        }
        if (l->flash_id) {
                snprintf(id, sizeof(id), "%06x", l->flash_id & 0xFFFFFF);
                json_object_set_new(o, "flash_id", json_string(id));
                const char *v = esp_flash_vendor((uint8_t)l->flash_id);
                json_object_set_new(o, "flash_vendor", v ? json_string(v) : json_null());
                const char *sz = esp_flash_size_name(l->flash_size);
                json_object_set_new(o, "flash_size", sz ? json_string(sz) : json_null());
        }
        if (l->xtal_mhz)
                json_object_set_new(o, "crystal_mhz", json_integer(l->xtal_mhz));
        json_object_set_new(o, "features", features(l));
        if (l->secure_download)
                json_object_set_new(o, "secure_download_mode", json_true());
        return o;
}

int esp_identify(struct port *p, const struct esp_connect_opts *opts, json_t **ret_facts,
                 char *msg, size_t msg_size)
{
        struct esp_loader *l = NULL;
        struct esp_connect_opts def = { 0 };
        if (!opts)
                opts = &def;
        int e = esp_loader_new(p, &l);
        if (e < 0) {
                snprintf(msg, msg_size, "Out of memory");
                return e;
        }
        e = esp_loader_prepare(l, opts);
        json_t *facts = NULL;
        if (e == 0) {
                facts = esp_loader_facts(l);
                if (!facts) {
                        e = -ENOMEM;
                        snprintf(l->msg, sizeof(l->msg), "Out of memory");
                }
        }
        if (e == 0 && opts->reset != ESP_RESET_NONE && !opts->no_hard_reset)
                esp_hard_reset(l); /* best effort: the facts are what matters */
        if (e < 0)
                snprintf(msg, msg_size, "%s", l->msg);
        else
                *ret_facts = facts;
        esp_loader_free(l);
        return e;
}
