/* Hosts in the store: each corrald sharing a store (PostgreSQL: a farm; SQLite: the one host)
 * registers its name, advertised API URL and version and keeps a heartbeat; boards it upserts
 * carry its name. Thread-safe like the rest of the store. */
#ifndef CORRAL_STORE_HOSTS_H
#define CORRAL_STORE_HOSTS_H

#include <jansson.h>
#include <stdint.h>

struct store;

/* A host whose heartbeat is older than this reads "alive": false (the default of the bound set
 * with store_host_set_stale_ms(), config host_stale_s). */
#define STORE_HOST_STALE_MS 15000

/* Name this store's host (at most 63 bytes: longer is -ENAMETOOLONG): boards upserted from now
 * on carry it. Touches no row. */
int store_host_set_name(struct store *s, const char *name);
/* The name set above ("" before): borrowed, valid while the store is open; set it once at start,
 * before other threads use the store. */
const char *store_host_name(const struct store *s);
/* Insert or refresh this host's row (the name set above, required: -EINVAL without one):
 * api_url and version as given, started_at and the heartbeat now (now_ms: Unix ms). */
int store_host_register(struct store *s, const char *api_url, const char *version, int64_t now_ms);
/* The heartbeat: heartbeat_at/_ms = now. A row gone missing (deleted by hand) is -ENOENT;
 * register again then. */
int store_host_heartbeat(struct store *s, int64_t now_ms);
/* Every host, by name: [{"name","api_url","version","started_at","heartbeat_at","alive"}],
 * alive = heartbeat within the bound (store_host_stale_ms()) of now_ms. New reference in *ret. */
int store_host_list(struct store *s, int64_t now_ms, json_t **ret);

/* ---- the farm (PostgreSQL; the SQL is portable, SQLite runs it too) ---- */
/* The liveness bound in ms (<= 0: STORE_HOST_STALE_MS). Any thread, any time. */
void store_host_set_stale_ms(struct store *s, int64_t stale_ms);
int64_t store_host_stale_ms(const struct store *s);
/* Publish this host's boards' live state for the other hosts: states is an array of
 * {"id", "state": "online"|"busy"|"offline", "running_job": id|null} of boards on this host
 * (others are ignored). Rows that did not change are not written. One statement, whatever the
 * number of boards. */
int store_host_publish(struct store *s, const json_t *states);
/* The boards on other hosts (host neither this one nor ""), as an object
 * {board id: {"host", "state" (as published; "offline" before any), "running_job", "host_alive"}},
 * host_alive = that host's heartbeat within the bound of now_ms. New reference in *ret. */
int store_host_remote_boards(struct store *s, int64_t now_ms, json_t **ret);
/* Claim the hosts that died: every other host whose heartbeat is older than the bound and whose
 * death is not dealt with yet gets its running and queued jobs marked "interrupted", in one
 * transaction that also records the heartbeat it dealt with (hosts.swept_ms): of several hosts
 * sweeping at once, exactly one claims a dead host (the others' UPDATE re-checks the row after
 * the winner's commit and skips it). A host that beats again and dies again is claimed again.
 * *ret: [{"host", "silent_ms", "jobs"}] of the hosts this call claimed (new reference). */
int store_host_sweep_dead(struct store *s, int64_t now_ms, json_t **ret);

#endif
