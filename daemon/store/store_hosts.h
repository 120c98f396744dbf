/* Hosts in the store: each corrald sharing a store (PostgreSQL: a farm; SQLite: the one host)
 * registers its name, advertised API URL and version and keeps a heartbeat; boards it upserts
 * carry its name. Thread-safe like the rest of the store. */
#ifndef CORRAL_STORE_HOSTS_H
#define CORRAL_STORE_HOSTS_H

#include <jansson.h>
#include <stdint.h>

struct store;

/* A host whose heartbeat is older than this reads "alive": false. */
#define STORE_HOST_STALE_MS 30000

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
 * alive = heartbeat within STORE_HOST_STALE_MS of now_ms. New reference in *ret. */
int store_host_list(struct store *s, int64_t now_ms, json_t **ret);

#endif
