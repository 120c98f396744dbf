/* Health-check scheduler thread: once a second, look at this host's present boards (on a farm
 * not the others': each host schedules its own) and queue the checks that are due (interval
 * since the last check this corrald saw, or a run of infra failures). The due times live in
 * memory: after a restart the interval counts from the start. */
#include "health/health_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "health/health.h"
#include "health/health_policy.h"
#include "log.h"
#include "registry.h"
#include "reservations.h"
#include "store/store_health.h"
#include "util.h"

#define TICK_MS 1000

struct health_sched {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop;
        struct registry *reg;
        struct store *st;
        json_t *seen; /* {board: {"last_ms": n, "infra_seen": n}} */
};

/* One tick's view of the store, read once for every board (not one query per board). */
struct tick_view {
        json_t *counters; /* {board: {key: n}} */
        json_t *leased;   /* {board: true} of the boards with an active lease */
};

static json_int_t counter(const struct tick_view *v, const char *id, const char *key)
{
        return json_integer_value(json_object_get(json_object_get(v->counters, id), key));
}

/* Is the board idle (online, nothing running or queued), unleased and in rotation? */
static bool idle(const struct tick_view *v, const json_t *b, const char *id)
{
        const char *state = json_string_value(json_object_get(b, "state"));
        if (!state || strcmp(state, "online") || !json_is_null(json_object_get(b, "running_job")))
                return false;
        if (json_integer_value(json_object_get(json_object_get(b, "port"), "queued")) > 0)
                return false;
        if (health_row_quarantined(b))
                return false;
        return !json_object_get(v->leased, id);
}

/* 0, or negative errno when the store could not be read (the tick is skipped). */
static int view_read(struct health_sched *hs, struct tick_view *v)
{
        struct reservations *rs = registry_reservations(hs->reg);
        json_t *list = NULL;
        int r = rs ? reservations_list(rs, util_wall_ms(), &list) : 0; /* no reservations: nothing leased */
        if (r < 0)
                return r;
        v->leased = json_object();
        size_t i;
        json_t *l;
        json_array_foreach(list, i, l) {
                const char *board = json_string_value(json_object_get(l, "board"));
                if (board)
                        json_object_set_new(v->leased, board, json_true());
        }
        json_decref(list);
        r = store_health_counters_here(hs->st, &v->counters);
        if (r < 0) {
                json_decref(v->leased);
                return r;
        }
        return 0;
}

static void submit(struct health_sched *hs, const char *id, const char *why)
{
        json_t *body = json_pack("{s:s, s:s, s:s}", "kind", "health_check", "requested_by", "corrald:scheduler",
                                 "reason", why);
        struct reg_caller who = { .name = "corrald:scheduler" };
        struct corral_error err = { 0 };
        json_t *job = NULL;
        if (registry_job_submit_as(hs->reg, id, body, &who, &job, &err) == 0)
                log_info("board %s: health check queued as job %lld (%s)", id,
                         (long long)json_integer_value(json_object_get(job, "id")), why);
        corral_error_clear(&err);
        json_decref(job);
        json_decref(body);
}

static void tick(struct health_sched *hs, const struct health_policy *pol)
{
        json_t *boards = NULL;
        struct tick_view v = { 0 };
        if (registry_present_json(hs->reg, &boards) < 0) /* this host's boards: not the farm's */
                return;
        if (view_read(hs, &v) < 0) {
                json_decref(boards);
                return;
        }
        uint64_t now = util_mono_ms();
        size_t i;
        json_t *b;
        json_array_foreach(boards, i, b) {
                const char *id = json_string_value(json_object_get(b, "id"));
                if (!id)
                        continue;
                json_t *s = json_object_get(hs->seen, id);
                if (!s) {
                        s = json_pack("{s:I, s:I}", "last_ms", (json_int_t)now, "infra_seen", (json_int_t)-1);
                        json_object_set_new(hs->seen, id, s);
                }
                if (!idle(&v, b, id))
                        continue;
                json_int_t last = json_integer_value(json_object_get(s, "last_ms"));
                json_int_t in_row = counter(&v, id, "infra_failures_in_row");
                json_int_t infra = counter(&v, id, "infra_failures");
                const char *why = NULL;
                if (pol->check_after_infra_failures && in_row >= pol->check_after_infra_failures &&
                    infra != json_integer_value(json_object_get(s, "infra_seen")))
                        why = "infrastructure failures in a row";
                else if (pol->check_interval_s && now - (uint64_t)last >= (uint64_t)pol->check_interval_s * 1000u)
                        why = "its interval is up";
                if (!why)
                        continue;
                json_object_set_new(s, "last_ms", json_integer((json_int_t)now));
                json_object_set_new(s, "infra_seen", json_integer(infra));
                submit(hs, id, why);
        }
        json_decref(v.counters);
        json_decref(v.leased);
        json_decref(boards);
}

static void *sched_main(void *arg)
{
        struct health_sched *hs = arg;
        pthread_mutex_lock(&hs->mu);
        while (!hs->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += TICK_MS / 1000;
                pthread_cond_timedwait(&hs->cv, &hs->mu, &ts);
                if (hs->stop)
                        break;
                pthread_mutex_unlock(&hs->mu);
                struct health_policy pol;
                health_policy_current(&pol);
                if (pol.check_interval_s || pol.check_after_infra_failures)
                        tick(hs, &pol);
                pthread_mutex_lock(&hs->mu);
        }
        pthread_mutex_unlock(&hs->mu);
        return NULL;
}

int health_sched_start(struct registry *reg, struct store *st, struct health_sched **ret)
{
        struct health_sched *hs = calloc(1, sizeof(*hs));
        if (!hs)
                return -ENOMEM;
        hs->reg = reg;
        hs->st = st;
        hs->seen = json_object();
        pthread_mutex_init(&hs->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&hs->cv, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&hs->thread, NULL, sched_main, hs);
        if (r != 0) {
                json_decref(hs->seen);
                pthread_cond_destroy(&hs->cv);
                pthread_mutex_destroy(&hs->mu);
                free(hs);
                return -r;
        }
        *ret = hs;
        return 0;
}

struct health_sched *health_sched_stop(struct health_sched *hs)
{
        if (!hs)
                return NULL;
        pthread_mutex_lock(&hs->mu);
        hs->stop = true;
        pthread_cond_signal(&hs->cv);
        pthread_mutex_unlock(&hs->mu);
        pthread_join(hs->thread, NULL);
        json_decref(hs->seen);
        pthread_cond_destroy(&hs->cv);
        pthread_mutex_destroy(&hs->mu);
        free(hs);
        return NULL;
}
