/* Host rows in the store: register (upsert by name), heartbeat, list with liveness. */
#include "store/store_hosts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"
#include "util.h"

int store_host_set_name(struct store *s, const char *name)
{
        if (!s || !name || !*name)
                return -EINVAL;
        if (strlen(name) >= sizeof(s->host))
                return -ENAMETOOLONG;
        store_lock(s);
        snprintf(s->host, sizeof(s->host), "%s", name);
        store_unlock(s);
        return 0;
}

const char *store_host_name(const struct store *s)
{
        return s ? s->host : "";
}

int store_host_register(struct store *s, const char *api_url, const char *version, int64_t now_ms)
{
        if (!s || !s->host[0])
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        util_iso_from_ms(now_ms, now, sizeof(now));
        int r = store_write(s,
                            "INSERT INTO hosts (name, api_url, version, started_at, heartbeat_at, heartbeat_ms)"
                            " VALUES (?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT (name) DO UPDATE SET"
                            " api_url = ?2, version = ?3, started_at = ?4, heartbeat_at = ?4, heartbeat_ms = ?5",
                            "ssssI", s->host, api_url ? api_url : "", version ? version : "", now, now_ms);
        return r < 0 ? r : 0;
}

int store_host_heartbeat(struct store *s, int64_t now_ms)
{
        if (!s || !s->host[0])
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        util_iso_from_ms(now_ms, now, sizeof(now));
        return store_write_row(s, "UPDATE hosts SET heartbeat_at = ?2, heartbeat_ms = ?3 WHERE name = ?1", "ssI",
                               s->host, now, now_ms);
}

/* Columns: name, api_url, version, started_at, heartbeat_at, heartbeat_ms, now_ms. */
static json_t *host_from_row(struct db_stmt *st)
{
        int64_t age = db_col_int64(st, 6) - db_col_int64(st, 5);
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "name", store_col_string(st, 0), "api_url",
                         store_col_string(st, 1), "version", store_col_string(st, 2), "started_at",
                         store_col_string(st, 3), "heartbeat_at", store_col_string(st, 4), "alive",
                         age <= STORE_HOST_STALE_MS);
}

int store_host_list(struct store *s, int64_t now_ms, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_list(s, host_from_row, ret,
                          "SELECT name, api_url, version, started_at, heartbeat_at, heartbeat_ms, ?1 FROM hosts"
                          " ORDER BY name",
                          "I", now_ms);
}
