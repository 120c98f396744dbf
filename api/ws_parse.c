/* Pure parsers of the WebSocket side: upgrade target, same origin, console control messages. */
#include "ws_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool id_valid(const char *s, size_t n)
{
        if (n == 0 || n >= 72)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

int ws_parse_target(const char *uri, const char *since, const char *name, struct ws_target *t, char *msg,
                    size_t msg_size)
{
        memset(t, 0, sizeof(*t));
        t->since = -1;
        static const char bprefix[] = "/ws/v1/boards/", bsuffix[] = "/console";
        size_t ul = strlen(uri);
        if (!strcmp(uri, "/ws/v1/events")) {
                t->kind = WS_EVENTS;
        } else if (!strncmp(uri, bprefix, sizeof(bprefix) - 1) && ul > sizeof(bprefix) - 1 + sizeof(bsuffix) - 1 &&
                   !strcmp(uri + ul - (sizeof(bsuffix) - 1), bsuffix) &&
                   id_valid(uri + sizeof(bprefix) - 1, ul - (sizeof(bprefix) - 1) - (sizeof(bsuffix) - 1))) {
                t->kind = WS_CONSOLE;
                size_t il = ul - (sizeof(bprefix) - 1) - (sizeof(bsuffix) - 1);
                memcpy(t->board, uri + sizeof(bprefix) - 1, il);
                t->board[il] = '\0';
        } else {
                snprintf(msg, msg_size, "No WebSocket endpoint at '%.200s'; there are /ws/v1/events and "
                         "/ws/v1/boards/{id}/console.", uri);
                return -ENOENT;
        }
        if (since) {
                char *end;
                errno = 0;
                unsigned long long s = strtoull(since, &end, 10);
                if (t->kind != WS_EVENTS || !isdigit((unsigned char)since[0]) || *end || errno || s > INT64_MAX) {
                        snprintf(msg, msg_size, "'since' must be an event sequence number (on /ws/v1/events).");
                        return -EINVAL;
                }
                t->since = (int64_t)s;
        }
        if (name) {
                size_t o = 0;
                for (; *name && o < sizeof(t->name) - 1; name++)
                        if (isprint((unsigned char)*name) && *name != '"' && *name != '\\')
                                t->name[o++] = *name;
                t->name[o] = '\0';
        }
        return 0;
}

bool ws_split_authority(const char *a, char *host, size_t host_size, unsigned *port)
{
        const char *colon = a[0] == '[' ? strstr(a, "]:") : strrchr(a, ':');
        if (colon && a[0] == '[')
                colon++;
        size_t hl = colon ? (size_t)(colon - a) : strlen(a);
        if (hl == 0 || hl >= host_size)
                return false;
        memcpy(host, a, hl);
        host[hl] = '\0';
        *port = 80;
        if (colon) {
                char *end;
                long p = strtol(colon + 1, &end, 10);
                if (!isdigit((unsigned char)colon[1]) || *end || p < 1 || p > 65535)
                        return false;
                *port = (unsigned)p;
        }
        return true;
}

bool ws_same_origin(const char *origin, const char *host_hdr, unsigned local_port)
{
        char hh[256], host[256];
        unsigned port;
        if (!origin || !host_hdr || strlen(host_hdr) >= sizeof(hh))
                return false;
        size_t i = 0;
        for (; host_hdr[i]; i++)
                hh[i] = (char)tolower((unsigned char)host_hdr[i]);
        hh[i] = '\0';
        if (strncmp(origin, "http://", 7) || strcmp(origin + 7, hh))
                return false;
        if (!ws_split_authority(hh, host, sizeof(host), &port) || port != local_port)
                return false;
        unsigned char addr[16];
        size_t hl = strlen(host);
        if (!strcmp(host, "localhost") || inet_pton(AF_INET, host, addr) == 1)
                return true;
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
                host[hl - 1] = '\0';
                return inet_pton(AF_INET6, host + 1, addr) == 1;
        }
        return false;
}

int ws_control_parse(const char *text, size_t len, struct ws_control *c, char *msg, size_t msg_size)
{
        static const struct {
                const char *name;
                enum ws_control_type type;
        } types[] = { { "take", WS_CTL_TAKE },     { "release", WS_CTL_RELEASE }, { "interrupt", WS_CTL_INTERRUPT },
                      { "soft_reset", WS_CTL_SOFT_RESET }, { "reset", WS_CTL_RESET }, { "input", WS_CTL_INPUT } };
        memset(c, 0, sizeof(*c));
        json_error_t e;
        c->doc = json_loadb(text, len, 0, &e);
        const char *type = json_string_value(json_object_get(c->doc, "type"));
        if (!type) {
                snprintf(msg, msg_size, "Text messages are JSON objects with a \"type\": take, release, interrupt, "
                         "soft_reset, reset or input.");
                return -EINVAL;
        }
        c->type_name = type;
        c->type = WS_CTL_UNKNOWN;
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (!strcmp(types[i].name, type))
                        c->type = types[i].type;
        c->lease = json_string_value(json_object_get(c->doc, "lease"));
        json_t *d = json_object_get(c->doc, "data");
        if (c->type == WS_CTL_INPUT && json_is_string(d)) {
                c->data = json_string_value(d);
                c->data_len = json_string_length(d);
        }
        return 0;
}

void ws_control_clear(struct ws_control *c)
{
        if (!c)
                return;
        json_decref(c->doc);
        memset(c, 0, sizeof(*c));
}
