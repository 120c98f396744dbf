/* The WebSocket side's parsers as pure functions over strings (no lws), so they can be fuzzed:
 * the upgrade's target (path and query), the same-origin rule, and the console's JSON control
 * messages. ws.c and ws_console.c feed them what lws hands over. */
#ifndef CORRAL_WS_PARSE_H
#define CORRAL_WS_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_kind { WS_CONSOLE, WS_EVENTS };

struct ws_target {
        enum ws_kind kind;
        char board[72];
        char name[48];
        int64_t since;                  /* -1: none */
};

/* uri: the path ("/ws/v1/events", "/ws/v1/boards/{id}/console"); since, name: the query
 * arguments' values or NULL. 0, -ENOENT (no such endpoint) or -EINVAL (bad query), with msg. */
int ws_parse_target(const char *uri, const char *since, const char *name, struct ws_target *t, char *msg,
                    size_t msg_size);

/* Host part and port of an authority "host[:port]" / "[v6]:port"; port 80 when absent. */
bool ws_split_authority(const char *a, char *host, size_t host_size, unsigned *port);

/* origin (lowercase) is http://<host_hdr> (host_hdr lowercased here, at most 255 bytes), naming
 * local_port by an address literal or "localhost". */
bool ws_same_origin(const char *origin, const char *host_hdr, unsigned local_port);

enum ws_control_type { WS_CTL_UNKNOWN, WS_CTL_TAKE, WS_CTL_RELEASE, WS_CTL_INTERRUPT, WS_CTL_SOFT_RESET, WS_CTL_RESET, WS_CTL_INPUT };

struct ws_control {
        enum ws_control_type type;
        const char *lease;              /* take: the "lease" string or NULL; borrowed from doc */
        const char *type_name;          /* as sent; borrowed from doc */
        const char *data;               /* input: the bytes (may hold NULs), NULL when "data" is not a
                                         * string; borrowed from doc */
        size_t data_len;
        json_t *doc;                    /* owned: ws_control_clear */
};

/* A console text message: {"type": take|release|interrupt|soft_reset|reset|input, ...}. 0 (an
 * unknown type is WS_CTL_UNKNOWN: the caller answers it after its permission checks), or -EINVAL
 * with msg when there is no "type" string. Clear c afterwards either way. */
int ws_control_parse(const char *text, size_t len, struct ws_control *c, char *msg, size_t msg_size);
void ws_control_clear(struct ws_control *c);

#endif
