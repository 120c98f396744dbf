/* ESP chip table (detection magic, ROM personality, registers) and JEDEC flash helpers. */
#include "engines/esp/esp_chips.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const size_8266[16] = { "512KB", "256KB", "1MB", "2MB", "4MB", "2MB-c1",
                                           "4MB-c1", NULL, "8MB", "16MB" };
static const char *const size_esp32[16] = { "1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB",
                                            "128MB" };
static const char *const freq_std[16] = { [0x0] = "40m", [0x1] = "26m", [0x2] = "20m",
                                          [0xF] = "80m" };
static const char *const freq_c2[16] = { [0x0] = "30m", [0x1] = "20m", [0x2] = "15m",
                                         [0xF] = "60m" };
static const char *const freq_h2[16] = { [0x0] = "24m", [0x1] = "16m", [0x2] = "12m",
                                         [0xF] = "48m" };
static const char *const freq_c5[16] = { [0x0] = "40m", [0x2] = "20m", [0xF] = "80m" };
static const char *const freq_c6[16] = { [0x0] = "80m", [0x2] = "20m" };

#define SPI_S3(b) { b, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58 }
#define ROM_S2PLUS                                                                               \
        .rom_status_len = 4, .rom_has_spi_attach = true, .rom_has_set_params = true,             \
        .rom_has_change_baud = true, .rom_has_defl = true, .rom_has_md5 = true,                  \
        .rom_has_read_flash_slow = true, .has_security_info = true,                              \
        .begin_has_encrypted_word = true, .size_names = size_esp32

const struct esp_chip esp_chip_table[] = {
        { .name = "ESP8266", .stub_name = "esp8266", .magic = { 0xFFF0C101 }, .n_magic = 1,
          .image_chip_id = -1, .rom_status_len = 2, .bootloader_offset = 0x0, .is_esp8266 = true,
          .spi = { 0x60000200, 0x1C, 0x20, 0x24, 0, 0, 0x40 }, .mac_scheme = ESP_MAC_ESP8266,
          .uart_clkdiv_reg = 0x60000014, .xtal_div_factor = 2, .uart_date_reg = 0x60000078,
          .features = "WiFi", .size_names = size_8266, .freq_names = freq_std },
        { .name = "ESP32", .stub_name = "esp32", .magic = { 0x00F01D83 }, .n_magic = 1,
          .image_chip_id = 0, .rom_status_len = 4, .bootloader_offset = 0x1000,
          .rom_has_spi_attach = true, .rom_has_set_params = true, .rom_has_change_baud = true,
          .rom_has_defl = true, .rom_has_md5 = true, .rom_has_read_flash_slow = true,
          .spi = { 0x3FF42000, 0x1C, 0x20, 0x24, 0x28, 0x2C, 0x80 }, .mac_scheme = ESP_MAC_ESP32,
          .uart_clkdiv_reg = 0x3FF40014, .xtal_div_factor = 1, .uart_date_reg = 0x60000078,
          .features = "Wi-Fi,BT", .size_names = size_esp32, .freq_names = freq_std },
        { .name = "ESP32-S2", .stub_name = "esp32s2", .magic = { 0x000007C6 }, .n_magic = 1,
          .image_chip_id = 2, .bootloader_offset = 0x1000, ROM_S2PLUS,
          .spi = { 0x3F402000, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x58 },
          .mac_scheme = ESP_MAC_EFUSE_PAIR, .mac_efuse_reg = 0x3F41A044, .fixed_xtal_mhz = 40,
          .uart_date_reg = 0x60000078, .features = "Wi-Fi", .freq_names = freq_std },
        { .name = "ESP32-S3", .stub_name = "esp32s3", .magic = { 0x9 }, .n_magic = 1,
          .image_chip_id = 9, .bootloader_offset = 0x0, ROM_S2PLUS, .spi = SPI_S3(0x60002000),
          .mac_scheme = ESP_MAC_EFUSE_PAIR, .mac_efuse_reg = 0x60007044, .fixed_xtal_mhz = 40,
          .uart_date_reg = 0x60000080, .features = "Wi-Fi,BLE", .freq_names = freq_std },
        { .name = "ESP32-C3", .stub_name = "esp32c3",
          .magic = { 0x6921506F, 0x1B31506F, 0x4881606F, 0x4361606F }, .n_magic = 4,
          .image_chip_id = 5, .bootloader_offset = 0x0, ROM_S2PLUS, .spi = SPI_S3(0x60002000),
          .mac_scheme = ESP_MAC_EFUSE_PAIR, .mac_efuse_reg = 0x60008844, .fixed_xtal_mhz = 40,
          .uart_date_reg = 0x6000007C, .features = "Wi-Fi,BLE", .freq_names = freq_std },
        { .name = "ESP32-C2", .stub_name = "esp32c2", .magic = { 0x6F51306F, 0x7C41A06F, 0x0C21E06F },
          .n_magic = 3, .image_chip_id = 12, .bootloader_offset = 0x0, ROM_S2PLUS,
          .spi = SPI_S3(0x60002000), .mac_scheme = ESP_MAC_EFUSE_PAIR,
          .mac_efuse_reg = 0x60008840, .uart_clkdiv_reg = 0x60000014, .xtal_div_factor = 1,
          .uart_date_reg = 0x6000007C, .features = "Wi-Fi,BLE", .freq_names = freq_c2 },
        { .name = "ESP32-C6", .stub_name = "esp32c6", .magic = { 0x2CE0806F }, .n_magic = 1,
          .image_chip_id = 13, .bootloader_offset = 0x0, ROM_S2PLUS, .spi = SPI_S3(0x60003000),
          .mac_scheme = ESP_MAC_EFUSE_PAIR, .mac_efuse_reg = 0x600B0844, .fixed_xtal_mhz = 40,
          .uart_date_reg = 0x6000007C, .features = "Wi-Fi 6,BT 5,IEEE802.15.4",
          .freq_names = freq_c6 },
        { .name = "ESP32-H2", .stub_name = "esp32h2", .magic = { 0xD7B73E80, 0x97E30068 },
          .n_magic = 2, .image_chip_id = 16, .bootloader_offset = 0x0, ROM_S2PLUS,
          .spi = SPI_S3(0x60003000), .mac_scheme = ESP_MAC_EFUSE_PAIR,
          .mac_efuse_reg = 0x600B0844, .fixed_xtal_mhz = 32, .uart_date_reg = 0x6000007C,
          .features = "BLE,IEEE802.15.4", .freq_names = freq_h2 },
        { .name = "ESP32-P4", .stub_name = "esp32p4", .magic = { 0x0, 0x0ADDBAD0, 0x7039AD9 },
          .n_magic = 3, .image_chip_id = 18, .bootloader_offset = 0x2000, ROM_S2PLUS,
          .spi = SPI_S3(0x5008D000), .mac_scheme = ESP_MAC_EFUSE_PAIR,
          .mac_efuse_reg = 0x5012D044, .fixed_xtal_mhz = 40, .uart_date_reg = 0x6000007C,
          .features = "High-Performance MCU", .freq_names = freq_std },
        { .name = "ESP32-C61", .stub_name = "esp32c61", .magic = { 0x33F0206F, 0x2421606F, 0x4F81606F },
          .n_magic = 3, .image_chip_id = 20, .bootloader_offset = 0x0, ROM_S2PLUS,
          .spi = SPI_S3(0x60003000), .mac_scheme = ESP_MAC_EFUSE_PAIR,
          .mac_efuse_reg = 0x600B4844, .fixed_xtal_mhz = 40, .uart_date_reg = 0x6000007C,
          .features = "Wi-Fi 6,BT 5", .freq_names = freq_c5 },
        { .name = "ESP32-C5", .stub_name = "esp32c5",
          .magic = { 0x1101406F, 0x63E1406F, 0x5FD1406F, 0x30E1706F }, .n_magic = 4,
          .image_chip_id = 23, .bootloader_offset = 0x2000, ROM_S2PLUS, .spi = SPI_S3(0x60003000),
          .mac_scheme = ESP_MAC_EFUSE_PAIR, .mac_efuse_reg = 0x600B4844, .fixed_xtal_mhz = 40,
          .uart_date_reg = 0x6000007C, .features = "Wi-Fi 6 (dual-band),BT 5,IEEE802.15.4",
          .freq_names = freq_c5 },
};
const size_t esp_chip_count = sizeof(esp_chip_table) / sizeof(esp_chip_table[0]);

const struct esp_chip *esp_chip_by_magic(uint32_t magic)
{
        for (size_t i = 0; i < esp_chip_count; i++)
                for (size_t k = 0; k < esp_chip_table[i].n_magic; k++)
                        if (esp_chip_table[i].magic[k] == magic)
                                return &esp_chip_table[i];
        return NULL;
}

const struct esp_chip *esp_chip_by_image_id(int chip_id)
{
        for (size_t i = 0; i < esp_chip_count; i++)
                if (esp_chip_table[i].image_chip_id == chip_id)
                        return &esp_chip_table[i];
        return NULL;
}

const struct esp_chip *esp_chip_by_name(const char *name)
{
        if (!name)
                return NULL;
        char want[32];
        size_t n = 0;
        for (const char *s = name; *s && n < sizeof(want) - 1; s++)
                if (*s != '-' && *s != '_')
                        want[n++] = *s;
        want[n] = '\0';
        for (size_t i = 0; i < esp_chip_count; i++)
                if (strcasecmp(esp_chip_table[i].stub_name, want) == 0)
                        return &esp_chip_table[i];
        return NULL;
}

bool esp_flash_id_is_bad(uint32_t id)
{
        id &= 0xFFFFFF;
        return id == 0xFFFFFF || id == 0 || id == 0xFFFF3F;
}

uint32_t esp_flash_size_from_id(uint32_t id)
{
        id &= 0xFFFFFF;
        if (esp_flash_id_is_bad(id))
                return 0;
        if ((id & 0xFF) == 0x1F) { /* Adesto */
                unsigned a = (id >> 8) & 0x1F;
                return a >= 0x04 && a <= 0x09 ? (512u * 1024u) << (a - 0x04) : 0;
        }
        unsigned s = (id >> 16) & 0xFF;
        switch (s) {
        case 0x20: return 64u << 20;
        case 0x21: return 128u << 20;
        case 0x22: return 256u << 20;
        default: break;
        }
        if (s >= 0x32 && s <= 0x3A)
                s -= 0x20;
        if (s >= 0x12 && s <= 0x1C)
                return (256u * 1024u) << (s - 0x12);
        return 0;
}

const char *esp_flash_vendor(uint8_t mfr)
{
        switch (mfr) {
        case 0xEF: return "Winbond";
        case 0xC8: return "GigaDevice";
        case 0x20: return "XMC/Micron";
        case 0x68: return "Boya";
        case 0x5E: return "Zbit";
        case 0x85: return "Puya";
        case 0x1C: return "EON";
        case 0xC2: return "Macronix";
        case 0x0B: return "XTX";
        case 0xA1: return "Fudan";
        case 0x9D: return "ISSI";
        case 0x1F: return "Adesto";
        case 0x46: return "XMC";
        default: return NULL;
        }
}

static const struct { const char *name; uint32_t bytes; } sizes[] = {
        { "256KB", 256u << 10 }, { "512KB", 512u << 10 }, { "1MB", 1u << 20 },
        { "2MB", 2u << 20 },     { "4MB", 4u << 20 },     { "8MB", 8u << 20 },
        { "16MB", 16u << 20 },   { "32MB", 32u << 20 },   { "64MB", 64u << 20 },
        { "128MB", 128u << 20 }, { "256MB", 256u << 20 },
};

const char *esp_flash_size_name(uint32_t bytes)
{
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                if (sizes[i].bytes == bytes)
                        return sizes[i].name;
        return NULL;
}

uint32_t esp_flash_size_parse(const char *name)
{
        if (!name)
                return 0;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                if (strcasecmp(sizes[i].name, name) == 0)
                        return sizes[i].bytes;
        return 0;
}
