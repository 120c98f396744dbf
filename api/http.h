/* The HTTP side of corrald: libmicrohttpd server, request bodies with limits, routing to the
 * REST handlers, JSON replies and errors ({"error": {"code","message","details"}}). */
#ifndef CORRAL_HTTP_H
#define CORRAL_HTTP_H

#include <jansson.h>
#include <stddef.h>

struct registry;
struct store;
struct events;
struct config;
struct config_live;
struct console_dir;
struct http_server;
struct auth;
struct remote;

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

/* Start listening on the running config's listen_host:listen_port. msg gets a plain reason on failure; -EPERM
 * (before binding) for a non-loopback address without tokens. */
int http_start(const struct http_ctx *ctx, struct http_server **ret, char *msg, size_t msg_size);
struct http_server *http_stop(struct http_server *s); /* NULL-safe */
/* The port actually bound (useful with port 0). */
unsigned http_port(struct http_server *s);
/* SIGHUP: take cfg's tokens (sessions of removed or changed tokens end), before the daemon
 * publishes cfg. On failure (e.g. no token left on a non-loopback listener) the old tokens stay
 * and msg says why. Limits need nothing here: they are read from ctx->config per request. */
int http_reload(struct http_server *s, const struct config *cfg, char *msg, size_t msg_size);

#endif
