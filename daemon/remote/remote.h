/* Remote ports: a lease may expose its board as an RFC 2217 server on a TCP port of its own
 * (config remote_bind / remote_ports / remote_host / remote_same_address), open only while the
 * lease lives and the board is present. One connection at a time, optionally only from the
 * address that asked for the lease; others are closed at once. The connection's session runs on
 * the board's port worker (remote_session.h), so jobs queue behind it.
 *
 * Threads: one listener thread (poll over the listening sockets and an eventfd, a 100 ms tick
 * checking the leases); sessions run on the workers. Lock order: registry, then remote (the
 * registry's board-JSON hook takes our lock; we never call the registry holding it). */
#ifndef CORRAL_REMOTE_H
#define CORRAL_REMOTE_H

#include <stddef.h>
#include <stdint.h>

struct registry;
struct config;
struct remote;

#define REMOTE_MAX_EXPOSED 128

/* Start the listener thread. cfg is read during the call (remote_* keys); reg is borrowed and
 * must outlive remote_stop(). */
int remote_new(struct registry *reg, const struct config *cfg, struct remote **ret);
/* Expose board_id for lease resv (owner; peer: the requester's address, may be NULL) as "rfc2217".
 * family: the board's family ("esp32", ...; NULL unknown) to recognise ESP resets. url gets
 * "rfc2217://host:port". Errors with msg: -EADDRINUSE no free port in the range, -ENFILE too
 * many exposed ports, -EEXIST that lease has one already (url gets it). */
int remote_expose(struct remote *rm, const char *board_id, int64_t resv, const char *owner, const char *peer,
                  const char *family, char *url, size_t url_size, char *msg, size_t msg_size);
/* Close the remote port of lease resv (its holder asked; a session on it ends). 0, or -ENOENT
 * when it had none. */
int remote_unexpose(struct remote *rm, int64_t resv);
/* Open the static ports of cfg ([port] remote_port, only when cfg has no tokens) and close the
 * static ones it no longer names; at start and on SIGHUP. Failures are logged. NULL rm: nothing. */
void remote_sync_static(struct remote *rm, const struct config *cfg);
/* The remote-port JSON for a board (NULL when none), e.g. {"rfc2217": url, "reservation": id
 * (null for a static port), "owner", "static": bool, "session": {...} | null}. New reference. */
struct json_t;
struct json_t *remote_board_json(struct remote *rm, const char *board_id);
/* A registry_board_fn (registry.h): adds "remote" to a board's JSON when it has a remote port. */
void remote_board_decorate(void *rm, const char *board_id, struct json_t *board);
/* Close every listener and connection and wait (bounded) for the sessions to hand the ports
 * back; call before the registry is freed. */
void remote_stop(struct remote *rm);
/* NULL-safe; after remote_stop and after the registry (whose workers may still report a session
 * done) is gone. Returns NULL. */
struct remote *remote_free(struct remote *rm);

#endif
