/* What the API borrows from the daemon (struct http_ctx): the registry, store, events, consoles,
 * running config, remote ports and auth that the HTTP server, the REST handlers and the WebSocket
 * side all read. Its own header so that handlers need not include the server (http.h). */
#ifndef CORRAL_HTTP_CTX_H
#define CORRAL_HTTP_CTX_H

struct registry;
struct store;
struct events;
struct config_live;
struct console_dir;
struct auth;
struct remote;
struct conn_budget;

struct http_ctx {
        struct registry *registry;  /* borrowed */
        struct store *store;        /* borrowed */
        struct events *events;      /* borrowed */
        struct console_dir *consoles; /* borrowed: board consoles for /ws/v1/boards/{id}/console */
        struct config_live *config; /* borrowed: the running config (config_live_get per use) */
        struct remote *remote;      /* borrowed: remote ports ("expose" on reservations); may be NULL */
        const char *version;
        struct auth *auth;          /* set by http_start (from cfg's tokens); callers leave it NULL */
        struct conn_budget *budget; /* set by http_start: connections and refusals (/metrics) */
};

#endif
