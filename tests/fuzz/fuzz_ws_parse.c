/* Fuzz the WebSocket side's parsers (api/ws_parse.c): the upgrade target (path, since, name),
 * the same-origin rule (Origin, Host, port) and the console's JSON control messages. Input:
 * uri \n since \n name \n origin \n host \n control-message. No crash; a console target's board
 * id is a valid id inside the path; same origin only for http://<Host> on the given port; a
 * parsed control message has a known type and input data only for "input". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_parse.h"

static char *field(const uint8_t **p, const uint8_t *end)
{
        const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
        size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
        char *s = malloc(n + 1);
        if (!s)
                abort();
        memcpy(s, *p, n);
        s[n] = '\0';
        *p += n + (nl ? 1 : 0);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *p = data, *end = data + size;
        char *uri = field(&p, end), *since = field(&p, end), *name = field(&p, end), *origin = field(&p, end),
             *host = field(&p, end);
        const char *ctl = (const char *)p;
        size_t ctl_len = (size_t)(end - p);
        char msg[512];

        struct ws_target t;
        int r = ws_parse_target(uri, since[0] ? since : NULL, name[0] ? name : NULL, &t, msg, sizeof(msg));
        if (r == 0) {
                if (t.kind == WS_CONSOLE && (!t.board[0] || !strstr(uri, t.board) || t.since != -1))
                        abort();
                if (t.kind == WS_EVENTS && strcmp(uri, "/ws/v1/events"))
                        abort();
                if (strchr(t.name, '"') || strchr(t.name, '\\'))
                        abort();
        } else if ((r != -ENOENT && r != -EINVAL) || !memchr(msg, '\0', sizeof(msg)) || !msg[0]) {
                abort();
        }

        unsigned port = size ? data[0] * 257u : 80;
        if (ws_same_origin(origin, host, port)) {
                if (strncmp(origin, "http://", 7) || strcasecmp(origin + 7, host))
                        abort();
        }

        struct ws_control c;
        r = ws_control_parse(ctl, ctl_len, &c, msg, sizeof(msg));
        if (r == 0) {
                if (!c.type_name || c.type > WS_CTL_INPUT)
                        abort();
                if (c.data && c.type != WS_CTL_INPUT)
                        abort();
        } else if (r != -EINVAL || !msg[0]) {
                abort();
        }
        ws_control_clear(&c);
        free(uri);
        free(since);
        free(name);
        free(origin);
        free(host);
        return 0;
}
