/* The farm's board -> host routing table: a thread reads the other hosts' boards and the host
 * rows from the store every period (or when kicked) and swaps the result in under a mutex;
 * lookups copy strings out under that mutex. A failed refresh keeps the last table. */
#include "farm/farm_routes.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/store.h"
#include "store/store_hosts.h"
#include "util.h"

#define FARM_ROUTES_MIN_GAP_MS 250

struct farm_routes {
        struct store *st;
        int64_t period_ms;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop, kicked;
        json_t *table;          /* {board: {"host", "api_url", "alive"}}, under mu */
        bool warned;            /* the last refresh failed (logged once until one succeeds) */
};

/* The table from the store: the other hosts' boards joined with the host rows. */
static int build(struct store *st, json_t **ret)
{
        int64_t now = util_wall_ms();
        json_t *boards = NULL, *hosts = NULL;
        int r = store_host_remote_boards(st, now, &boards);
        if (r == 0)
                r = store_host_list(st, now, &hosts);
        json_t *urls = json_object();
        size_t i;
        json_t *h;
        json_array_foreach(hosts, i, h)
                json_object_set(urls, json_string_value(json_object_get(h, "name")), json_object_get(h, "api_url"));
        json_t *table = json_object();
        const char *id;
        json_t *b;
        json_object_foreach(boards, id, b) {
                const char *host = json_string_value(json_object_get(b, "host"));
                json_t *url = host ? json_object_get(urls, host) : NULL;
                json_object_set_new(table, id,
                                    json_pack("{s:s, s:s, s:b}", "host", host ? host : "", "api_url",
                                              json_is_string(url) ? json_string_value(url) : "", "alive",
                                              json_is_true(json_object_get(b, "host_alive"))));
        }
        json_decref(urls);
        json_decref(boards);
        json_decref(hosts);
        if (r < 0) {
                json_decref(table);
                return r;
        }
        *ret = table;
        return 0;
}

static void refresh(struct farm_routes *fr)
{
        json_t *table = NULL;
        int r = build(fr->st, &table);
        if (r < 0) {
                if (!fr->warned)
                        log_warning("farm: cannot read where the other hosts' boards are (%s); consoles of boards "
                                    "on other hosts use the last known table", strerror(-r));
                fr->warned = true;
                return;
        }
        fr->warned = false;
        pthread_mutex_lock(&fr->mu);
        json_t *old = fr->table;
        fr->table = table;
        pthread_mutex_unlock(&fr->mu);
        json_decref(old);
}

static void *routes_main(void *arg)
{
        struct farm_routes *fr = arg;
        pthread_mutex_lock(&fr->mu);
        while (!fr->stop) {
                fr->kicked = false;
                pthread_mutex_unlock(&fr->mu);
                refresh(fr);
                pthread_mutex_lock(&fr->mu);
                struct timespec until = util_deadline_ts(fr->period_ms);
                /* Kicks (unknown boards asked for) refresh at most this often: a stream of bad
                 * upgrades must not turn into a stream of queries. */
                struct timespec gap = util_deadline_ts(FARM_ROUTES_MIN_GAP_MS);
                while (!fr->stop)
                        if (pthread_cond_timedwait(&fr->cv, &fr->mu, &gap) == ETIMEDOUT)
                                break;
                while (!fr->stop && !fr->kicked)
                        if (pthread_cond_timedwait(&fr->cv, &fr->mu, &until) == ETIMEDOUT)
                                break;
        }
        pthread_mutex_unlock(&fr->mu);
        return NULL;
}

int farm_routes_start(struct store *st, int64_t period_ms, struct farm_routes **ret)
{
        *ret = NULL;
        if (!st || !store_is_pg(st))
                return 0;
        struct farm_routes *fr = calloc(1, sizeof(*fr));
        if (!fr)
                return -ENOMEM;
        fr->st = st;
        fr->period_ms = period_ms > 0 ? period_ms : 1000;
        fr->table = json_object();
        pthread_mutex_init(&fr->mu, NULL);
        util_cond_init_mono(&fr->cv);
        int e = pthread_create(&fr->thread, NULL, routes_main, fr);
        if (e) {
                pthread_cond_destroy(&fr->cv);
                pthread_mutex_destroy(&fr->mu);
                json_decref(fr->table);
                free(fr);
                return -e;
        }
        *ret = fr;
        return 0;
}

struct farm_routes *farm_routes_stop(struct farm_routes *fr)
{
        if (!fr)
                return NULL;
        pthread_mutex_lock(&fr->mu);
        fr->stop = true;
        pthread_cond_signal(&fr->cv);
        pthread_mutex_unlock(&fr->mu);
        pthread_join(fr->thread, NULL);
        pthread_cond_destroy(&fr->cv);
        pthread_mutex_destroy(&fr->mu);
        json_decref(fr->table);
        free(fr);
        return NULL;
}

int farm_routes_lookup(struct farm_routes *fr, const char *board, struct farm_route *ret)
{
        if (!fr || !board)
                return -ENOENT;
        int r = -ENOENT;
        pthread_mutex_lock(&fr->mu);
        json_t *e = json_object_get(fr->table, board);
        const char *host = json_string_value(json_object_get(e, "host"));
        if (host && *host) {
                snprintf(ret->host, sizeof(ret->host), "%s", host);
                snprintf(ret->api_url, sizeof(ret->api_url), "%s", json_string_value(json_object_get(e, "api_url")));
                ret->alive = json_is_true(json_object_get(e, "alive"));
                r = 0;
        }
        pthread_mutex_unlock(&fr->mu);
        return r;
}

void farm_routes_kick(struct farm_routes *fr)
{
        if (!fr)
                return;
        pthread_mutex_lock(&fr->mu);
        fr->kicked = true;
        pthread_cond_signal(&fr->cv);
        pthread_mutex_unlock(&fr->mu);
}
