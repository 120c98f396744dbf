/* Fuzz the corrald.conf parser (config_load_string, the body of config_load_file) and the flag
 * parsers (--port, --listen): no crash, every string stays terminated, an error always names
 * file:line or the check that failed, and a config that loads passes config_validate(). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define NAME "fuzz.conf"

static void check_terminated(const char *s, size_t size)
{
        if (!memchr(s, '\0', size))
                abort();
}

static void check_config(const struct config *c)
{
        if (c->nports > CONFIG_MAX_PORTS || c->ntokens > CONFIG_MAX_TOKENS || c->nws_origins > CONFIG_MAX_ORIGINS ||
            c->nusb_allow > CONFIG_MAX_USB_IDS || c->nusb_deny > CONFIG_MAX_USB_IDS)
                abort();
        check_terminated(c->listen_host, sizeof(c->listen_host));
        check_terminated(c->state_dir, sizeof(c->state_dir));
        check_terminated(c->web_root, sizeof(c->web_root));
        check_terminated(c->stub_dir, sizeof(c->stub_dir));
        if (c->listen_port > 65535)
                abort();
        for (size_t i = 0; i < c->nports; i++) {
                check_terminated(c->ports[i].name, sizeof(c->ports[i].name));
                check_terminated(c->ports[i].url, sizeof(c->ports[i].url));
                check_terminated(c->ports[i].family, sizeof(c->ports[i].family));
        }
        for (size_t i = 0; i < c->ntokens; i++) {
                check_terminated(c->tokens[i].name, sizeof(c->tokens[i].name));
                check_terminated(c->tokens[i].role, sizeof(c->tokens[i].role));
                check_terminated(c->tokens[i].secret, sizeof(c->tokens[i].secret));
        }
        for (size_t i = 0; i < c->nws_origins; i++)
                check_terminated(c->ws_origins[i], sizeof(c->ws_origins[i]));
        if (c->nfirmware_dirs > CONFIG_MAX_FIRMWARE_DIRS)
                abort();
        for (size_t i = 0; i < c->nfirmware_dirs; i++) {
                check_terminated(c->firmware_dirs[i], sizeof(c->firmware_dirs[i]));
                if (c->firmware_dirs[i][0] != '/')
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct config c; /* ~100 KiB: not on the stack */
        char msg[512];

        config_defaults(&c);
        msg[0] = '\0';
        int r = config_load_string(&c, NAME, (const char *)data, size, msg, sizeof(msg));
        check_terminated(msg, sizeof(msg));
        check_config(&c);
        if (r == 0) {
                char again[512];
                if (config_validate(&c, again, sizeof(again)) != 0)
                        abort();
                for (size_t i = 0; i < c.nports; i++)
                        if (!config_url_valid(c.ports[i].url))
                                abort();
        } else if (r != -EINVAL && r != -E2BIG) {
                abort();
        } else if (!msg[0]) {
                abort();
        }

        /* The first line, as a --port and a --listen argument. */
        char arg[600];
        size_t n = 0;
        while (n < size && n < sizeof(arg) - 1 && data[n] != '\n' && data[n] != '\0')
                n++;
        memcpy(arg, data, n);
        arg[n] = '\0';
        config_defaults(&c);
        msg[0] = '\0';
        r = config_add_port_arg(&c, arg, msg, sizeof(msg));
        if (r < 0 && !msg[0])
                abort();
        if (r == 0 && (c.nports != 1 || !config_url_valid(c.ports[0].url)))
                abort();
        check_config(&c);
        msg[0] = '\0';
        r = config_parse_listen(&c, arg, msg, sizeof(msg));
        if (r < 0 && !msg[0])
                abort();
        check_config(&c);
        return 0;
}
