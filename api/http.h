/* The HTTP side of corrald: libmicrohttpd server, request bodies with limits, routing to the
 * REST handlers, JSON replies and errors ({"error": {"code","message","details"}}). */
#ifndef CORRAL_HTTP_H
#define CORRAL_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "http_ctx.h"

struct config;
struct http_server;

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
