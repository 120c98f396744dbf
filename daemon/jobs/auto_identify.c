/* Automatic identify of boards that appear (see auto_identify.h): board events wake a thread that
 * reads the board's row and, once it is idle with its port open, queues one identify job. */
#include "jobs/auto_identify.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "farm/farm_dispatch.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#define AI_MAX_BOARDS 256
#define AI_SETTLE_MS 300 /* a board that just came up: a job its user queues at once goes first */

struct ai_board {
        char id[64];
        bool armed;      /* appeared (or never seen) and not identified since */
        bool pending;    /* an event asks for a look */
        uint64_t due_ms; /* not before (settle time) */
};

struct auto_identify {
        struct events *ev;
        struct registry *reg;
        struct config_live *config;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop;
        struct ai_board boards[AI_MAX_BOARDS];
        size_t n;
};

int auto_identify_decide(const void *board_row, bool *armed)
{
        const json_t *row = board_row;
        const char *state = json_string_value(json_object_get(row, "state"));
        const json_t *port = json_object_get(row, "port");
        bool open = json_is_true(json_object_get(port, "open"));
        const char *err = json_string_value(json_object_get(port, "error"));
        json_int_t queued = json_integer_value(json_object_get(port, "queued"));
        bool running = json_is_integer(json_object_get(row, "running_job"));
        if (!state || !strcmp(state, "offline") || !json_is_object(port) || (!open && err && err[0])) {
                *armed = true; /* gone: its next appearance is a new board as far as people know */
                return 0;
        }
        if (!strcmp(state, "busy") || running || queued > 0) {
                *armed = false; /* someone is using it: their job says what it is */
                return 0;
        }
        if (*armed && open && !strcmp(state, "online")) {
                *armed = false;
                return 1;
        }
        return 0;
}

static struct ai_board *find_locked(struct auto_identify *a, const char *id, bool add)
{
        for (size_t i = 0; i < a->n; i++)
                if (!strcmp(a->boards[i].id, id))
                        return &a->boards[i];
        if (!add || a->n >= AI_MAX_BOARDS || strlen(id) >= sizeof(a->boards[0].id))
                return NULL;
        struct ai_board *b = &a->boards[a->n++];
        memset(b, 0, sizeof(*b));
        strcpy(b->id, id);
        b->armed = true;
        return b;
}

/* On the publishing thread with the bus lock held: note the id and wake the thread. Another
 * host's board events (relayed on a farm) are its own auto-identify's business. */
static void on_event(void *user, uint64_t seq, const char *type, const char *text)
{
        struct auto_identify *a = user;
        (void)seq;
        if (strncmp(type, "board.", 6) || !strcmp(type, "board.fact") || farm_dispatch_relaying())
                return;
        json_t *e = json_loads(text, 0, NULL);
        const char *id = json_string_value(json_object_get(json_object_get(e, "data"), "id"));
        if (id) {
                pthread_mutex_lock(&a->mu);
                struct ai_board *b = find_locked(a, id, true);
                if (b && !b->pending) {
                        b->pending = true;
                        b->due_ms = util_mono_ms() + AI_SETTLE_MS;
                }
                pthread_cond_signal(&a->cv);
                pthread_mutex_unlock(&a->mu);
        }
        json_decref(e);
}

static bool enabled(struct auto_identify *a)
{
        if (!a->config)
                return true;
        const struct config *c = config_live_get(a->config);
        bool on = c ? c->auto_identify : true;
        config_put(c);
        return on;
}

/* Look at one board (no lock held) and queue its identify when it is due. */
static void look(struct auto_identify *a, const char *id)
{
        json_t *row = NULL;
        if (registry_board_json(a->reg, id, &row) < 0)
                return;
        pthread_mutex_lock(&a->mu);
        struct ai_board *b = find_locked(a, id, false);
        bool armed = b ? b->armed : false;
        int go = b ? auto_identify_decide(row, &armed) : 0;
        if (b)
                b->armed = armed;
        pthread_mutex_unlock(&a->mu);
        json_decref(row);
        if (!go || !enabled(a))
                return;
        json_t *body = json_pack("{s:s}", "kind", "identify");
        json_t *job = NULL;
        struct corral_error err = { 0 };
        int r = body ? registry_job_submit(a->reg, id, body, &job, &err) : -ENOMEM;
        if (r == 0)
                log_info("board %s appeared idle: identify queued (job %lld)", id,
                         (long long)json_integer_value(json_object_get(job, "id")));
        else
                log_info("board %s appeared but was not identified: %s", id, err.message[0] ? err.message : strerror(-r));
        corral_error_clear(&err);
        json_decref(job);
        json_decref(body);
}

static void *ai_main(void *arg)
{
        struct auto_identify *a = arg;
        pthread_mutex_lock(&a->mu);
        while (!a->stop) {
                uint64_t now = util_mono_ms(), next = 0;
                char id[64] = "";
                for (size_t i = 0; i < a->n && !id[0]; i++) {
                        struct ai_board *b = &a->boards[i];
                        if (!b->pending)
                                continue;
                        if (b->due_ms <= now) {
                                b->pending = false;
                                strcpy(id, b->id);
                        } else if (!next || b->due_ms < next) {
                                next = b->due_ms;
                        }
                }
                if (id[0]) {
                        pthread_mutex_unlock(&a->mu);
                        look(a, id);
                        pthread_mutex_lock(&a->mu);
                        continue;
                }
                if (!next) {
                        pthread_cond_wait(&a->cv, &a->mu);
                } else {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        uint64_t ms = next - now;
                        ts.tv_sec += (time_t)(ms / 1000);
                        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
                }
        }
        pthread_mutex_unlock(&a->mu);
        return NULL;
}

int auto_identify_start(struct events *ev, struct registry *reg, struct config_live *config,
                        struct auto_identify **ret)
{
        struct auto_identify *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->ev = ev;
        a->reg = reg;
        a->config = config;
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cv, NULL);
        int r = pthread_create(&a->thread, NULL, ai_main, a);
        if (r) {
                pthread_cond_destroy(&a->cv);
                pthread_mutex_destroy(&a->mu);
                free(a);
                return -r;
        }
        events_subscribe(ev, on_event, a);
        *ret = a;
        return 0;
}

struct auto_identify *auto_identify_stop(struct auto_identify *a)
{
        if (!a)
                return NULL;
        events_unsubscribe(a->ev, on_event, a);
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
}
