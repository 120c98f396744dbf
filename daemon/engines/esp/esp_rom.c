/* ESP loader protocol core: request encoding, response parsing, command exchange, SYNC and
 * connect, registers, and the flash/RAM commands (ROM and stub semantics). */
#include "engines/esp/esp_rom.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_reset.h"
#include "util.h"

/* ---------------------------------------------------------------- pure helpers */

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int esp_timeout_per_mb(unsigned ms_per_mb, uint64_t bytes)
{
        uint64_t t = (uint64_t)ms_per_mb * bytes / 1000000u;
        if (t < ESP_DEFAULT_TIMEOUT_MS)
                t = ESP_DEFAULT_TIMEOUT_MS;
        if (t > ESP_MAX_TIMEOUT_MS)
                t = ESP_MAX_TIMEOUT_MS;
        return (int)t;
}

uint8_t esp_checksum(const uint8_t *data, size_t len)
{
        uint8_t c = ESP_CHECKSUM_MAGIC;
        for (size_t i = 0; i < len; i++)
                c ^= data[i];
        return c;
}

int esp_request_build(uint8_t op, const uint8_t *data, size_t len, uint32_t checksum,
                      uint8_t *out, size_t out_size)
{
        if (len > 0xFFFF)
                return -EMSGSIZE;
        if (out_size < 8 + len)
                return -ENOSPC;
        out[0] = 0x00;
        out[1] = op;
        out[2] = (uint8_t)len;
        out[3] = (uint8_t)(len >> 8);
        put32(out + 4, checksum);
        if (len)
                memcpy(out + 8, data, len);
        return (int)(8 + len);
}

uint32_t esp8266_rom_erase_size(uint32_t offset, uint32_t size)
{
        const uint32_t sectors_per_block = 16, sector = ESP_SECTOR;
        uint32_t num_sectors = (uint32_t)(((uint64_t)size + sector - 1) / sector);
        uint32_t start_sector = offset / sector;
        uint32_t head = sectors_per_block - (start_sector % sectors_per_block);
        if (num_sectors < head)
                head = num_sectors;
        if (num_sectors < 2 * head)
                return (num_sectors + 1) / 2 * sector;
        return (num_sectors - head) * sector;
}

size_t esp_begin_payload(uint8_t out[20], uint32_t size, uint32_t blocks, uint32_t block_size,
                         uint32_t offset, bool five)
{
        put32(out, size);
        put32(out + 4, blocks);
        put32(out + 8, block_size);
        put32(out + 12, offset);
        if (!five)
                return 16;
        put32(out + 16, 0);
        return 20;
}

size_t esp_block_payload(uint8_t *out, const uint8_t *data, uint32_t len, uint32_t seq)
{
        put32(out, len);
        put32(out + 4, seq);
        put32(out + 8, 0);
        put32(out + 12, 0);
        if (len)
                memcpy(out + 16, data, len);
        return 16u + len;
}

int esp_response_parse(const uint8_t *frame, size_t len, size_t want_data, unsigned status_len,
                       struct esp_response *r)
{
        if (!frame || len < 8 || frame[0] != 0x01)
                return -EBADMSG;
        memset(r, 0, sizeof(*r));
        r->op = frame[1];
        r->size = (uint16_t)(frame[2] | frame[3] << 8);
        r->value = get32(frame + 4);
        const uint8_t *body = frame + 8;
        size_t blen = len - 8;
        if (want_data == ESP_RESP_DATA_AUTO) {
                if (status_len < 2 || blen < status_len)
                        return -EBADMSG;
                want_data = blen - status_len;
        }
        if (blen >= want_data + 2 && want_data + 2 > want_data) {
                r->data = body;
                r->data_len = want_data;
                r->status = body[want_data];
                r->error = body[want_data + 1];
                return 0;
        }
        /* Too short for the expected data: only a failure status makes sense here. */
        if (blen < 2 || body[0] == 0)
                return -EBADMSG;
        r->data = body;
        r->data_len = 0;
        r->status = body[0];
        r->error = body[1];
        return 0;
}

bool esp_response_is_unsupported(const struct esp_response *r, uint8_t req_op)
{
        return r->op != req_op && r->status != 0 && r->error == ESP_ROM_ERR_INVALID_MSG;
}

/* ---------------------------------------------------------------- session I/O */

#define fail esp_loader_fail
#define port_err_text esp_port_err_text

int esp_loader_fail(struct esp_loader *l, int err, const char *fmt, ...)
{
        /* Format into a copy first: callers often wrap the previous message (l->msg itself). */
        char m[sizeof(l->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof(m), fmt, ap);
        va_end(ap);
        memcpy(l->msg, m, sizeof(m));
        return err;
}

int esp_loader_new(struct port *p, struct esp_loader **ret)
{
        if (!p || !ret)
                return -EINVAL;
        struct esp_loader *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        /* Largest frame: stub READ_FLASH packets / MD5 replies; 0x4000 + headers suffices. */
        int r = slip_decoder_init(&l->dec, ESP_STUB_BLOCK + 64);
        if (r < 0) {
                free(l);
                return r;
        }
        l->port = p;
        l->status_len = 4;
        l->block_size = ESP_ROM_BLOCK;
        l->sec_chip_id = -1;
        l->rev_major = l->rev_minor = -1;
        l->rom_baud = 115200;
        *ret = l;
        return 0;
}

struct esp_loader *esp_loader_free(struct esp_loader *l)
{
        if (!l)
                return NULL;
        slip_decoder_fini(&l->dec);
        free(l->tx);
        free(l);
        return NULL;
}

const char *esp_loader_msg(const struct esp_loader *l)
{
        return l ? l->msg : "";
}

const char *esp_port_err_text(int err)
{
        switch (err) {
        case -ENODEV: return "the board disappeared (unplugged?)";
        case -ECANCELED: return "the job was cancelled";
        case -ETIMEDOUT: return "timed out";
        default: return strerror(-err);
        }
}

/* Drop whatever is buffered, on the host and in the decoder. */
int esp_loader_flush(struct esp_loader *l)
{
        l->rx_off = l->rx_len = 0;
        slip_decoder_reset(&l->dec);
        return port_flush_input(l->port);
}

/* Read the next complete SLIP frame into l->dec. Returns 1, 0 on timeout, or a port error. */
static int read_frame(struct esp_loader *l, int timeout_ms)
{
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
        for (;;) {
                while (l->rx_off < l->rx_len) {
                        size_t used = 0;
                        int r = slip_decoder_feed(&l->dec, l->rx + l->rx_off, l->rx_len - l->rx_off,
                                                  &used);
                        l->rx_off += used;
                        if (r == 1)
                                return 1;
                        /* Bad escapes / oversize frames: dropped, keep looking. */
                }
                l->rx_off = l->rx_len = 0;
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                int n = port_read(l->port, l->rx, sizeof(l->rx), left);
                if (n < 0)
                        return n;
                if (n == 0)
                        return 0;
                l->rx_len = (size_t)n;
        }
}

static int send_packet(struct esp_loader *l, uint8_t op, const uint8_t *data, size_t len,
                       uint32_t checksum)
{
        size_t need = slip_encoded_max(8 + len);
        if (need > l->tx_cap) {
                uint8_t *t = realloc(l->tx, need + 8 + len);
                if (!t)
                        return -ENOMEM;
                l->tx = t;
                l->tx_cap = need;
        }
        /* Build the raw packet after the encode area, then SLIP it to the front. */
        uint8_t *raw = l->tx + need;
        int n = esp_request_build(op, data, len, checksum, raw, 8 + len);
        if (n < 0)
                return n;
        int e = slip_encode(raw, (size_t)n, l->tx, need);
        if (e < 0)
                return e;
        return port_write(l->port, l->tx, (size_t)e, 10000);
}

static const char *op_name(uint8_t op)
{
        switch (op) {
        case ESP_FLASH_BEGIN: return "FLASH_BEGIN";
        case ESP_FLASH_DATA: return "FLASH_DATA";
        case ESP_FLASH_END: return "FLASH_END";
        case ESP_MEM_BEGIN: return "MEM_BEGIN";
        case ESP_MEM_END: return "MEM_END";
        case ESP_MEM_DATA: return "MEM_DATA";
        case ESP_SYNC: return "SYNC";
        case ESP_WRITE_REG: return "WRITE_REG";
        case ESP_READ_REG: return "READ_REG";
        case ESP_SPI_SET_PARAMS: return "SPI_SET_PARAMS";
        case ESP_SPI_ATTACH: return "SPI_ATTACH";
        case ESP_READ_FLASH_SLOW: return "READ_FLASH_SLOW";
        case ESP_CHANGE_BAUDRATE: return "CHANGE_BAUDRATE";
        case ESP_FLASH_DEFL_BEGIN: return "FLASH_DEFL_BEGIN";
        case ESP_FLASH_DEFL_DATA: return "FLASH_DEFL_DATA";
        case ESP_FLASH_DEFL_END: return "FLASH_DEFL_END";
        case ESP_SPI_FLASH_MD5: return "SPI_FLASH_MD5";
        case ESP_GET_SECURITY_INFO: return "GET_SECURITY_INFO";
        case ESP_ERASE_FLASH: return "ERASE_FLASH";
        case ESP_ERASE_REGION: return "ERASE_REGION";
        case ESP_READ_FLASH: return "READ_FLASH";
        default: return "command";
        }
}

static const char *err_text(const struct esp_loader *l, uint8_t status, uint8_t error)
{
        if (l->stub) {
                switch (status) {
                case 0xC0: return "bad data length";
                case 0xC1: return "bad data checksum";
                case 0xC2: return "bad block size";
                case 0xC3: return "invalid command";
                case 0xC4: return "SPI flash operation failed";
                case 0xC5: return "could not unlock the flash (write protected)";
                case 0xC6: return "not in flash mode";
                case 0xC7: return "inflate error";
                case 0xC8: return "not enough data";
                case 0xC9: return "too much data";
                case 0xFF: return "command not implemented";
                default: return "error";
                }
        }
        switch (error) {
        case 0x05: return "invalid message";
        case 0x06: return "operation failed";
        case 0x07: return "checksum error";
        case 0x08: return "flash write error (read-back mismatch)";
        case 0x09: return "flash read error";
        case 0x0A: return "flash read length error";
        case 0x0B: return "deflate failed";
        case 0x0C: return "deflate Adler-32 error";
        case 0x0D: return "deflate parameter error";
        case 0x0E: return "invalid RAM binary size";
        case 0x0F: return "invalid RAM binary address";
        case 0x01: return "invalid parameter";
        default: return "error";
        }
}

/* A ROM that does not know a command answers with ESP_ROM_INVALID_BURST identical "invalid
 * message" frames (status 01 05) carrying another opcode. Such frames may also be stale: the rest
 * of an earlier burst that reached the host after its input flush (a loaded host, a slow link).
 * The ROM answers requests in order, so a stale burst is always followed by the reply to our
 * command. Hence: a matching reply wins whatever came before it; the command is unsupported only
 * once a whole burst (8 frames) arrived without it, which consumes our own burst entirely, so no
 * residue is left to the next command. No timing is involved, so load cannot change the verdict.
 * SYNC is known to every loader: invalid-message frames during it (the ROM's answer to a SYNC
 * garbled while it left reset) are skipped, never counted. */
static bool is_invalid_message(const struct esp_loader *l, uint8_t req_op)
{
        /* The "invalid message" reply carries no data: its status is body[0..2] whatever the
         * status length (2 or 4) we assumed. */
        struct esp_response u;
        return esp_response_parse(l->dec.frame, l->dec.len, 0, 2, &u) == 0 &&
               esp_response_is_unsupported(&u, req_op);
}

int esp_command(struct esp_loader *l, uint8_t op, const uint8_t *data, size_t len,
                uint32_t checksum, size_t want_data, int timeout_ms, struct esp_response *resp)
{
        struct esp_response r;
        int e = esp_loader_flush(l);
        if (e < 0 && e != -ENOTSUP)
                return fail(l, e, "%s: %s", op_name(op), esp_port_err_text(e));
        e = send_packet(l, op, data, len, checksum);
        if (e < 0)
                return fail(l, e, "Sending %s failed: %s", op_name(op), esp_port_err_text(e));
        uint64_t deadline = util_mono_ms() + (uint64_t)timeout_ms;
        unsigned invalid = 0;
        for (int frames = 0; frames < 100; frames++) {
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                e = read_frame(l, left);
                if (e < 0)
                        return fail(l, e, "Waiting for the %s reply: %s", op_name(op),
                                    esp_port_err_text(e));
                if (e == 0)
                        break;
                if (l->dec.len >= 2 && l->dec.frame[1] != op) {
                        if (op != ESP_SYNC && is_invalid_message(l, op) && ++invalid >= ESP_ROM_INVALID_BURST)
                                return fail(l, -EOPNOTSUPP, "The loader does not support %s",
                                            op_name(op));
                        continue;
                }
                if (esp_response_parse(l->dec.frame, l->dec.len, want_data, l->status_len, &r) < 0)
                        continue;
                l->last_value = r.value;
                l->last_status = r.status;
                l->last_error = r.error;
                if (resp)
                        *resp = r;
                if (r.status != 0) {
                        if (!l->stub && r.error == ESP_ROM_ERR_INVALID_MSG)
                                return fail(l, -EOPNOTSUPP, "The ROM loader rejected %s (invalid "
                                            "message 0x0105)", op_name(op));
                        return fail(l, -EPROTO, "%s failed: %s (status %02x%02x)", op_name(op),
                                    err_text(l, r.status, r.error), r.status, r.error);
                }
                return 0;
        }
        if (invalid)
                /* Part of a burst and nothing else (frames lost on the wire): still a refusal. */
                return fail(l, -EOPNOTSUPP, "The loader does not support %s (%u of %d \"invalid "
                            "message\" replies, then nothing within %d ms)", op_name(op), invalid,
                            ESP_ROM_INVALID_BURST, timeout_ms);
        return fail(l, -ETIMEDOUT, "No reply to %s within %d ms", op_name(op), timeout_ms);
}

/* ---------------------------------------------------------------- sync and connect */

int esp_sync(struct esp_loader *l)
{
        uint8_t payload[36] = { 0x07, 0x07, 0x12, 0x20 };
        memset(payload + 4, 0x55, 32);
        struct esp_response r;
        /* SYNC replies carry no data: the status is at body[0] whatever its length. */
        int e = esp_command(l, ESP_SYNC, payload, sizeof(payload), 0, 0, ESP_SYNC_TIMEOUT_MS, &r);
        if (e < 0)
                return e;
        bool zero = r.value == 0;
        for (int i = 0; i < 7; i++) {
                int got = 0;
                while (!got) {
                        e = read_frame(l, ESP_SYNC_TIMEOUT_MS);
                        if (e < 0)
                                return fail(l, e, "Waiting for SYNC replies: %s", esp_port_err_text(e));
                        if (e == 0)
                                return fail(l, -ETIMEDOUT, "Only %d of 8 SYNC replies arrived",
                                            i + 1);
                        if (esp_response_parse(l->dec.frame, l->dec.len, 0, 2, &r) == 0 &&
                            r.op == ESP_SYNC && r.status == 0)
                                got = 1;
                }
                zero = zero && r.value == 0;
        }
        l->sync_stub_detected = zero;
        return 0;
}

static int do_reset(struct esp_loader *l, enum esp_reset_kind kind, unsigned attempt)
{
        static const unsigned delays[2] = { 50, 550 };
        unsigned d = delays[attempt % 2];
        switch (kind) {
        case ESP_RESET_NONE:
                return 0;
        case ESP_RESET_USB_JTAG:
                return esp_reset_usb_jtag(l->port);
        case ESP_RESET_CLASSIC:
                return esp_reset_classic(l->port, d);
        case ESP_RESET_UNIX_TIGHT:
                return esp_reset_unix_tight(l->port, d);
        case ESP_RESET_AUTO:
        default:
                return (attempt % 4) < 2 ? esp_reset_unix_tight(l->port, d)
                                         : esp_reset_classic(l->port, d);
        }
}

/* Collect what the chip printed after reset (boot log) for diagnosis. */
static void capture_boot_log(struct esp_loader *l)
{
        char buf[sizeof(l->boot_log)];
        size_t have = 0;
        for (int i = 0; i < 4 && have < sizeof(buf) - 1; i++) {
                int n = port_read(l->port, buf + have, sizeof(buf) - 1 - have, 10);
                if (n <= 0)
                        break;
                have += (size_t)n;
        }
        buf[have] = '\0';
        for (size_t i = 0; i < have; i++)
                if (buf[i] == '\0')
                        buf[i] = '.';
        memcpy(l->boot_log, buf, have + 1);
}

int esp_connect(struct esp_loader *l, const struct esp_connect_opts *opts)
{
        struct esp_connect_opts def = { 0 };
        if (!opts)
                opts = &def;
        unsigned attempts = opts->attempts ? opts->attempts : ESP_CONNECT_ATTEMPTS;
        l->rom_baud = opts->rom_baud ? opts->rom_baud : 115200;
        l->usb_jtag = opts->reset == ESP_RESET_USB_JTAG;
        if (l->port->baud != l->rom_baud) {
                int e = port_set_baud(l->port, l->rom_baud);
                if (e < 0 && e != -ENOTSUP)
                        return fail(l, e, "Could not set %u baud: %s", l->rom_baud,
                                    esp_port_err_text(e));
        }
        bool lines = opts->reset != ESP_RESET_NONE;
        char boot_seen[sizeof(l->boot_log)] = "";
        for (unsigned a = 0; a < attempts; a++) {
                l->boot_log[0] = '\0';
                if (lines) {
                        esp_loader_flush(l);
                        int e = do_reset(l, opts->reset, a);
                        if (e == -ENOTSUP || e == -EINVAL)
                                lines = false; /* pty/socket: no modem lines, sync anyway */
                        else if (e < 0)
                                return fail(l, e, "Resetting the board failed: %s",
                                            esp_port_err_text(e));
                        else
                                capture_boot_log(l);
                        if (l->boot_log[0])
                                snprintf(boot_seen, sizeof(boot_seen), "%s", l->boot_log);
                }
                for (int t = 0; t < ESP_SYNC_TRIES; t++) {
                        int e = esp_sync(l);
                        if (e == 0)
                                return 0;
                        if (e == -ENODEV || e == -ECANCELED || e == -EIO)
                                return fail(l, e, "Connecting: %s", esp_port_err_text(e));
                        l->sync_retries++;
                        port_sleep_ms(l->port, 50);
                }
        }
        const char *b = strstr(boot_seen, "boot:0x");
        if (b && !strstr(boot_seen, "waiting for download")) {
                unsigned mode = 0;
                sscanf(b + 5, "%x", &mode);
                return fail(l, -ETIMEDOUT, "The board booted normally (boot:0x%x) instead of "
                            "entering the ROM loader after %u reset attempts: hold BOOT/IO0 "
                            "while resetting, or its auto-reset circuit does not work", mode,
                            attempts);
        }
        if (b)
                return fail(l, -ETIMEDOUT, "The board is waiting for download but never answered "
                            "SYNC: the serial TX path (host to board) seems broken");
        if (strstr(boot_seen, "Fatal exception") || strstr(boot_seen, "Guru Meditation"))
                return fail(l, -ETIMEDOUT, "No answer from the ESP ROM loader after %u reset "
                            "attempts; the board is crash-looping (\"%.60s\")", attempts,
                            strstr(boot_seen, "Fatal exception") ? strstr(boot_seen, "Fatal exception")
                                                                 : strstr(boot_seen, "Guru Meditation"));
        return fail(l, -ETIMEDOUT, "No answer from the ESP ROM loader after %u reset attempts: "
                    "the board is not in download mode (hold BOOT/IO0 while resetting) or this "
                    "is the wrong port", attempts);
}

/* ---------------------------------------------------------------- registers */

int esp_read_reg(struct esp_loader *l, uint32_t addr, uint32_t *ret)
{
        uint8_t d[4];
        struct esp_response r;
        put32(d, addr);
        int e = esp_command(l, ESP_READ_REG, d, 4, 0, 0, ESP_DEFAULT_TIMEOUT_MS, &r);
        if (e < 0)
                return e;
        *ret = r.value;
        return 0;
}

int esp_write_reg(struct esp_loader *l, uint32_t addr, uint32_t value, uint32_t mask,
                  uint32_t delay_us)
{
        uint8_t d[16];
        put32(d, addr);
        put32(d + 4, value);
        put32(d + 8, mask);
        put32(d + 12, delay_us);
        return esp_command(l, ESP_WRITE_REG, d, 16, 0, 0, ESP_DEFAULT_TIMEOUT_MS, NULL);
}

int esp_loader_read_frame(struct esp_loader *l, int timeout_ms, const uint8_t **frame, size_t *len)
{
        int e = read_frame(l, timeout_ms);
        if (e == 1) {
                *frame = l->dec.frame;
                *len = l->dec.len;
        }
        return e;
}
