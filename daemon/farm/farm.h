/* The farm: several corrald sharing one PostgreSQL store. Any host answers for every host's
 * boards (their state as the owning host publishes it, offline "host unreachable" once its
 * heartbeat is older than the bound), each host publishes its own boards on its heartbeat, and
 * the survivors claim a dead host's jobs (exactly one of them, store_hosts.c). On SQLite every
 * call here is what the registry alone gives. */
#ifndef CORRAL_FARM_H
#define CORRAL_FARM_H

#include <jansson.h>
#include <stdint.h>

struct registry;
struct store;

#define FARM_HOST_UNREACHABLE "host unreachable"

/* registry_boards_json() for the whole farm: boards of other hosts carry their host's
 * published state (and "offline_reason": "host unreachable" when that host is dead); the state
 * filter applies to that state. Errors as registry_boards_json (-ENOTCONN: store unavailable). */
int farm_boards_json(struct registry *reg, struct store *st, const char *label, const char *family, const char *state,
                     json_t **ret);
/* registry_board_json() for the whole farm, the same way. */
int farm_board_json(struct registry *reg, struct store *st, const char *id, json_t **ret);
/* Overlay the other hosts' state on board rows (an array, or one board object) in place.
 * Nothing on SQLite. 0 or negative errno. */
int farm_overlay(struct store *st, json_t *boards, int64_t now_ms);
/* On every heartbeat (PostgreSQL only; nothing on SQLite): publish this host's boards' state,
 * then claim hosts that died (logged). Failures are logged and retried on the next beat. */
void farm_tick(struct registry *reg, struct store *st, int64_t now_ms);

#endif
