/* Reservations on a farm: memory made the shared store's active leases (granted, renewed,
 * released or expired by any host), under the lock discipline of reservations_internal.h. */
#include "reservations.h"
#include "reservations_internal.h"

#include <pthread.h>

#include "store/store_reservations.h"

static bool rows_have_id(const json_t *rows, int64_t id)
{
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
                if (json_integer_value(json_object_get(row, "id")) == id)
                        return true;
        return false;
}

/* A farm: make memory the store's active leases (granted, renewed, released or expired by any
 * host); a lease that ended elsewhere wakes the waiters, one granted elsewhere takes the board's
 * console from its writers here (as a grant on this host does). A store that cannot be read leaves
 * memory as it was (a grant then fails on the store itself). rs->write_mu held, not rs->mu: the
 * store is read with write_mu only, memory changed under mu. */
void resv_sync_w(struct reservations *rs, struct after *a)
{
        json_t *rows = NULL;
        if (!rs->farm || store_resv_list_active(rs->store, &rows) < 0)
                return;
        bool ended = false;
        pthread_mutex_lock(&rs->mu);
        for (size_t i = 0; i < rs->nactive;) {
                if (rows_have_id(rows, rs->active[i]->id)) {
                        i++;
                        continue;
                }
                resv_remove_at(rs, i);
                ended = true;
        }
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                ssize_t at = resv_find_id_locked(rs, json_integer_value(json_object_get(row, "id")));
                if (at >= 0) { /* renewed on another host */
                        rs->active[at]->ttl_s = (int)json_integer_value(json_object_get(row, "ttl_s"));
                        rs->active[at]->expires_ms = json_integer_value(json_object_get(row, "expires_ms"));
                        continue;
                }
                struct resv *r = rs->nactive < RESV_MAX_ACTIVE ? resv_from_store(row) : NULL;
                if (!r)
                        continue;
                rs->active[rs->nactive++] = r; /* granted on another host */
                if (a->ngranted < RESV_MAX_ACTIVE)
                        a->granted[a->ngranted++] = json_pack("{s:s, s:I, s:s}", "board", r->board, "id",
                                                              (json_int_t)r->id, "owner", r->owner);
        }
        if (ended)
                resv_wake_all_locked(rs, a);
        pthread_mutex_unlock(&rs->mu);
        json_decref(rows);
}
