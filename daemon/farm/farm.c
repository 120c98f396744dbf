/* The farm view and the farm's heartbeat work: other hosts' boards overlaid with their
 * published state and their host's liveness; this host's board states published; dead hosts'
 * jobs claimed. */
#include "farm/farm.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "registry.h"
#include "store/store.h"
#include "store/store_hosts.h"
#include "util.h"

/* One board row: the remote entry's state (or offline, host unreachable) replaces the local
 * view (which knows only that the board is not attached here). */
static void overlay_one(json_t *row, json_t *remote)
{
        json_t *info = json_object_get(remote, json_string_value(json_object_get(row, "id")));
        if (!info)
                return;
        if (json_is_true(json_object_get(info, "host_alive"))) {
                json_object_set(row, "state", json_object_get(info, "state"));
                json_object_set(row, "running_job", json_object_get(info, "running_job"));
        } else {
                json_object_set_new(row, "state", json_string("offline"));
                json_object_set_new(row, "running_job", json_null());
                json_object_set_new(row, "offline_reason", json_string(FARM_HOST_UNREACHABLE));
        }
}

int farm_overlay(struct store *st, json_t *boards, int64_t now_ms)
{
        if (!st || !store_is_pg(st))
                return 0;
        json_t *remote = NULL;
        int rc = store_host_remote_boards(st, now_ms, &remote);
        if (rc < 0)
                return rc;
        if (json_is_array(boards)) {
                size_t i;
                json_t *row;
                json_array_foreach(boards, i, row)
                        overlay_one(row, remote);
        } else if (json_is_object(boards)) {
                overlay_one(boards, remote);
        }
        json_decref(remote);
        return 0;
}

int farm_boards_json(struct registry *reg, struct store *st, const char *label, const char *family, const char *state,
                     json_t **ret)
{
        if (!st || !store_is_pg(st))
                return registry_boards_json(reg, label, family, state, ret);
        json_t *all = NULL;
        int rc = registry_boards_json(reg, label, family, NULL, &all);
        if (rc == 0)
                rc = farm_overlay(st, all, util_wall_ms());
        if (rc < 0) {
                json_decref(all);
                return rc;
        }
        if (state) {
                for (size_t i = json_array_size(all); i-- > 0;)
                        if (strcmp(json_string_value(json_object_get(json_array_get(all, i), "state")), state))
                                json_array_remove(all, i);
        }
        *ret = all;
        return 0;
}

int farm_board_json(struct registry *reg, struct store *st, const char *id, json_t **ret)
{
        json_t *b = NULL;
        int rc = registry_board_json(reg, id, &b);
        if (rc == 0)
                rc = farm_overlay(st, b, util_wall_ms());
        if (rc < 0) {
                json_decref(b);
                return rc;
        }
        *ret = b;
        return 0;
}

/* This host's boards as {"id", "state", "running_job"} for store_host_publish(). */
static int publish(struct registry *reg, struct store *st)
{
        json_t *all = NULL;
        int rc = registry_boards_json(reg, NULL, NULL, NULL, &all);
        if (rc < 0)
                return rc;
        const char *me = store_host_name(st);
        json_t *mine = json_array();
        size_t i;
        json_t *b;
        json_array_foreach(all, i, b) {
                const char *host = json_string_value(json_object_get(b, "host"));
                if (host && !strcmp(host, me))
                        json_array_append_new(mine, json_pack("{s:O, s:O, s:O}", "id", json_object_get(b, "id"), "state",
                                                              json_object_get(b, "state"), "running_job",
                                                              json_object_get(b, "running_job")));
        }
        json_decref(all);
        rc = store_host_publish(st, mine);
        json_decref(mine);
        return rc;
}

void farm_tick(struct registry *reg, struct store *st, int64_t now_ms)
{
        if (!st || !store_is_pg(st))
                return;
        int rc = reg ? publish(reg, st) : 0;
        if (rc < 0)
                log_warning("farm: cannot publish this host's board states (%s); retrying on the next heartbeat",
                            strerror(-rc));
        json_t *dead = NULL;
        rc = store_host_sweep_dead(st, now_ms, &dead);
        if (rc < 0) {
                log_warning("farm: cannot check the other hosts' heartbeats (%s); retrying", strerror(-rc));
                return;
        }
        size_t i;
        json_t *d;
        json_array_foreach(dead, i, d)
                log_notice("farm: host %s has not beaten for %lld s (bound %lld s): its boards read offline (%s), "
                           "%lld of its job(s) marked interrupted by this host",
                           json_string_value(json_object_get(d, "host")),
                           (long long)json_integer_value(json_object_get(d, "silent_ms")) / 1000,
                           (long long)store_host_stale_ms(st) / 1000, FARM_HOST_UNREACHABLE,
                           (long long)json_integer_value(json_object_get(d, "jobs")));
        json_decref(dead);
}
