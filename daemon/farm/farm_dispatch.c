/* The farm's dispatch thread: LISTEN/NOTIFY plus a poll, claims of jobs posted on other hosts,
 * cancels asked elsewhere, and every event exchanged through the store's farm_events: each host
 * writes the events it originates (job, board, lease, health) and relays the others' into its bus. */
#include "farm/farm_dispatch.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "registry.h"
#include "reservations.h"
#include "store/db_listen.h"
#include "store/store.h"
#include "store/store_farm_jobs.h"
#include "store/store_hosts.h"
#include "util.h"

#define PRUNE_EVERY_MS 10000
#define RELAY_BATCH 500

static const char *const channels[] = { STORE_FARM_JOBS_CHANNEL, STORE_FARM_EVENTS_CHANNEL, NULL };
enum { CH_JOBS = 1u << 0, CH_EVENTS = 1u << 1 };

struct farm_dispatch {
        struct registry *reg;
        struct store *st;
        struct events *ev;
        struct db_listener *ln;
        pthread_t thread;
        bool started;
        const char *url;        /* the store's URL (borrowed), for the LISTEN connection */
        int wake_fd;            /* eventfd: new outgoing events, or stop */
        atomic_bool stop;
        pthread_mutex_t mu;     /* guards outbox and dropped */
        json_t *outbox;         /* [{"type","data"}] of this host's events, not yet written */
        size_t dropped;
        char token[128];        /* the last claim's dispatch token */
        bool token_unsure;      /* that claim failed: it may have committed all the same */
        uint64_t claims;        /* claim attempts, for the next token */
        int64_t started_ms;     /* wall clock at start: tokens differ across restarts */
        uint64_t first_seq;     /* the bus seq of the first event this subscriber saw (0: none yet) */
        int64_t last_event;     /* the newest farm_events id relayed (or skipped) */
        bool have_last;
};

/* Set on the dispatch thread while it publishes another host's event: not sent back out. */
static _Thread_local bool relaying;

static void wake(struct farm_dispatch *fd)
{
        uint64_t one = 1;
        if (write(fd->wake_fd, &one, sizeof(one)) < 0) {
                /* the counter is already non-zero: the thread wakes anyway */
        }
}

/* Bus subscriber (bus lock held: copy and return): the events this host originates into the
 * outbox. Every event has exactly one origin (no host publishes what it merely read from the
 * shared rows; reservations.c announces an expiry only on the host whose update ended it), so
 * relaying all of them shows each once on every host. */
static void on_event(void *user, uint64_t seq, const char *type, const char *text)
{
        struct farm_dispatch *fd = user;
        if (relaying)
                return;
        json_t *msg = json_loads(text, 0, NULL);
        json_t *e = msg ? json_pack("{s:s, s:O}", "type", type, "data", json_object_get(msg, "data")) : NULL;
        json_decref(msg);
        if (!e)
                return;
        pthread_mutex_lock(&fd->mu);
        if (!fd->first_seq)
                fd->first_seq = seq;
        if (json_array_size(fd->outbox) >= FARM_DISPATCH_OUTBOX_MAX) {
                json_array_remove(fd->outbox, 0);
                fd->dropped++;
        }
        json_array_append_new(fd->outbox, e);
        pthread_mutex_unlock(&fd->mu);
        wake(fd);
}

/* Write the outbox to the store; kept for the next try when the store is away. */
static void flush_outbox(struct farm_dispatch *fd)
{
        pthread_mutex_lock(&fd->mu);
        json_t *batch = fd->outbox;
        size_t dropped = fd->dropped;
        fd->outbox = json_array();
        fd->dropped = 0;
        pthread_mutex_unlock(&fd->mu);
        if (dropped)
                log_warning("farm: %zu event(s) of this host were dropped while the store was away", dropped);
        if (json_array_size(batch) == 0) {
                json_decref(batch);
                return;
        }
        int r = store_farm_events_put(fd->st, batch, util_wall_ms());
        if (r < 0) { /* back in front of what came meanwhile, bounded */
                pthread_mutex_lock(&fd->mu);
                json_array_extend(batch, fd->outbox);
                while (json_array_size(batch) > FARM_DISPATCH_OUTBOX_MAX) {
                        json_array_remove(batch, 0);
                        fd->dropped++;
                }
                json_decref(fd->outbox);
                fd->outbox = batch;
                pthread_mutex_unlock(&fd->mu);
                return;
        }
        json_decref(batch);
}

/* Does a batch of relayed rows change a lease? */
static bool has_lease_event(const json_t *rows)
{
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
                const char *type = json_string_value(json_object_get(row, "type"));
                if (type && !strncmp(type, "reservation.", 12))
                        return true;
        }
        return false;
}

/* The other hosts' events since the last one relayed, into this host's bus. A lease change is
 * applied to this host's leases before its event is published here: whoever sees it on this
 * host's stream can rely on this host enforcing it. */
static void relay_events(struct farm_dispatch *fd)
{
        if (!fd->have_last) {
                if (store_farm_events_last(fd->st, &fd->last_event) < 0)
                        return;
                fd->have_last = true;
        }
        for (;;) {
                json_t *rows = NULL;
                if (store_farm_events_since(fd->st, fd->last_event, RELAY_BATCH, &rows) < 0)
                        return;
                size_t i, n = json_array_size(rows);
                json_t *row;
                if (has_lease_event(rows))
                        reservations_sync_now(registry_reservations(fd->reg));
                relaying = true;
                json_array_foreach(rows, i, row) {
                        fd->last_event = json_integer_value(json_object_get(row, "id"));
                        events_publish(fd->ev, json_string_value(json_object_get(row, "type")),
                                       json_incref(json_object_get(row, "data")));
                }
                relaying = false;
                json_decref(rows);
                if (n < RELAY_BATCH)
                        return;
        }
}

bool farm_dispatch_relaying(void)
{
        return relaying;
}

void farm_dispatch_publish_here(struct events *ev, const char *type, json_t *data)
{
        bool was = relaying;
        relaying = true;
        events_publish(ev, type, data);
        relaying = was;
}

/* A claimed job that cannot be queued here ends failed, with its event. */
static void claim_failed(struct farm_dispatch *fd, const json_t *job, int rc)
{
        int64_t id = json_integer_value(json_object_get(job, "id"));
        const char *code = rc == -ENOSPC ? "queue_full" : rc == -ENODEV ? "board_offline" : "not_queued";
        const char *msg = rc == -ENOSPC   ? "The board's job queue is full."
                          : rc == -ENODEV ? "The board went offline before its host could queue the job."
                                          : "Its host could not queue the job.";
        log_warning("farm: job %lld for board %s cannot be queued here (%s)", (long long)id,
                    json_string_value(json_object_get(job, "board")), strerror(-rc));
        store_job_finish(fd->st, id, "failed", NULL, code, msg);
        events_publish(fd->ev, "job.state",
                       json_pack("{s:I, s:O, s:O, s:s, s:{s:s, s:s}}", "job", (json_int_t)id, "board",
                                 json_object_get(job, "board"), "kind", json_object_get(job, "kind"), "state", "failed",
                                 "error", "code", code, "message", msg));
}

/* Claimed jobs onto their boards' workers. Steals jobs. Their "queued" events (committed with
 * the jobs) are relayed first, so this host's stream has them before the workers' "running". */
static void enqueue_all(struct farm_dispatch *fd, json_t *jobs)
{
        if (json_array_size(jobs))
                relay_events(fd);
        size_t i;
        json_t *job;
        json_array_foreach(jobs, i, job) {
                int rc = registry_job_enqueue_claimed(fd->reg, job);
                if (rc < 0)
                        claim_failed(fd, job, rc);
        }
        json_decref(jobs);
}

/* Claim with a new token. A claim that failed may still have committed (the connection dropped
 * around its COMMIT): its token is kept and the jobs it took, if any, are read back and queued
 * before the next claim, so none is left claimed and never run. */
static void claim(struct farm_dispatch *fd)
{
        json_t *jobs = NULL;
        if (fd->token_unsure) {
                if (store_farm_job_claimed(fd->st, fd->token, &jobs) < 0)
                        return;
                fd->token_unsure = false;
                if (json_array_size(jobs))
                        log_notice("farm: %zu job(s) claimed by a claim whose answer was lost are queued now",
                                   json_array_size(jobs));
                enqueue_all(fd, jobs);
        }
        snprintf(fd->token, sizeof(fd->token), "claimed %s %lld.%llu", store_host_name(fd->st),
                 (long long)fd->started_ms, (unsigned long long)++fd->claims);
        if (store_farm_job_claim(fd->st, fd->token, &jobs) < 0) {
                fd->token_unsure = true;
                return;
        }
        enqueue_all(fd, jobs);
}

/* Jobs other hosts posted for this host's boards, then cancels asked for this host's jobs. */
static void take_jobs(struct farm_dispatch *fd)
{
        claim(fd);
        json_t *cancels = NULL;
        if (store_farm_job_cancels(fd->st, &cancels) == 0) {
                size_t i;
                json_t *c;
                json_array_foreach(cancels, i, c) {
                        int64_t id = json_integer_value(json_object_get(c, "id"));
                        const char *board = json_string_value(json_object_get(c, "board"));
                        if (registry_job_cancel_local(fd->reg, board, id) < 0)
                                log_info("farm: job %lld on board %s had already ended when its cancel arrived",
                                         (long long)id, board ? board : "?");
                }
                json_decref(cancels);
        }
}

/* Block until a notification, a wake-up or the poll is due. Returns the channels notified. */
static unsigned wait_for_work(struct farm_dispatch *fd, uint64_t next_poll)
{
        struct pollfd p[2] = { { .fd = fd->wake_fd, .events = POLLIN }, { .fd = db_listener_fd(fd->ln), .events = POLLIN } };
        uint64_t now = util_mono_ms();
        int timeout = next_poll > now ? (int)(next_poll - now) : 0;
        poll(p, p[1].fd >= 0 ? 2 : 1, timeout);
        if (p[0].revents & POLLIN) {
                uint64_t v;
                if (read(fd->wake_fd, &v, sizeof(v)) < 0) {
                        /* nothing to read: a spurious wake-up */
                }
        }
        unsigned mask = 0;
        if (db_listener_drain(fd->ln, &mask) < 0)
                mask = 0;
        return mask;
}

static void *dispatch_main(void *arg)
{
        struct farm_dispatch *fd = arg;
        uint64_t next_poll = 0, next_prune = util_mono_ms() + PRUNE_EVERY_MS;
        while (!atomic_load(&fd->stop)) {
                unsigned mask = wait_for_work(fd, next_poll);
                flush_outbox(fd);
                uint64_t now = util_mono_ms();
                bool due = now >= next_poll;
                if (due)
                        next_poll = now + FARM_DISPATCH_POLL_MS;
                if (due && !fd->ln) {
                        char msg[512];
                        if (db_listener_open(fd->url, channels, &fd->ln, msg, sizeof(msg)) == 0)
                                log_notice("farm: listening for other hosts' jobs and events again");
                }
                if (due || (mask & CH_JOBS))
                        take_jobs(fd);
                if (due || (mask & CH_EVENTS))
                        relay_events(fd);
                if (now >= next_prune) {
                        store_farm_events_prune(fd->st, util_wall_ms());
                        next_prune = now + PRUNE_EVERY_MS;
                }
        }
        flush_outbox(fd);
        return NULL;
}

/* The events this host published before the subscription (the boards found at start: the
 * registry and udev run first so that no claim meets a board not yet present) into the outbox,
 * ahead of and not overlapping what the subscriber already took. */
static void take_early_events(struct farm_dispatch *fd)
{
        json_t *hist = events_since(fd->ev, 0), *early = json_array(), *e;
        size_t i;
        pthread_mutex_lock(&fd->mu);
        json_array_foreach(hist, i, e) {
                uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
                if (fd->first_seq && seq >= fd->first_seq)
                        break;
                json_array_append_new(early, json_pack("{s:O, s:O?}", "type", json_object_get(e, "type"), "data",
                                                       json_object_get(e, "data")));
        }
        if (early && json_array_size(early) + json_array_size(fd->outbox) <= FARM_DISPATCH_OUTBOX_MAX) {
                json_array_extend(early, fd->outbox);
                json_decref(fd->outbox);
                fd->outbox = early;
                early = NULL;
        }
        pthread_mutex_unlock(&fd->mu);
        json_decref(early);
        json_decref(hist);
}

int farm_dispatch_start(struct registry *reg, struct store *st, struct events *ev, const char *url,
                        struct farm_dispatch **ret)
{
        *ret = NULL;
        if (!st || !store_is_pg(st))
                return 0;
        struct farm_dispatch *fd = calloc(1, sizeof(*fd));
        if (!fd)
                return -ENOMEM;
        *fd = (struct farm_dispatch){ .reg = reg, .st = st, .ev = ev, .url = url, .wake_fd = -1, .started_ms = util_wall_ms(), .outbox = json_array() };
        pthread_mutex_init(&fd->mu, NULL);
        char msg[512] = "";
        int r = db_listener_open(url, channels, &fd->ln, msg, sizeof(msg));
        if (r < 0)
                log_warning("farm: %s; jobs from other hosts are picked up by polling every %d ms", msg,
                            FARM_DISPATCH_POLL_MS);
        fd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd->wake_fd < 0 || !fd->outbox) {
                r = fd->wake_fd < 0 ? -errno : -ENOMEM;
                farm_dispatch_stop(fd);
                return r;
        }
        if (events_subscribe(ev, on_event, fd) < 0) {
                farm_dispatch_stop(fd);
                return -ENOSPC;
        }
        take_early_events(fd);
        if ((r = -pthread_create(&fd->thread, NULL, dispatch_main, fd)) < 0) {
                events_unsubscribe(ev, on_event, fd);
                farm_dispatch_stop(fd);
                return r;
        }
        fd->started = true;
        *ret = fd;
        return 0;
}

struct farm_dispatch *farm_dispatch_stop(struct farm_dispatch *fd)
{
        if (!fd)
                return NULL;
        if (fd->started) {
                events_unsubscribe(fd->ev, on_event, fd);
                atomic_store(&fd->stop, true);
                wake(fd);
                pthread_join(fd->thread, NULL);
        }
        db_listener_close(fd->ln);
        if (fd->wake_fd >= 0)
                close(fd->wake_fd);
        json_decref(fd->outbox);
        pthread_mutex_destroy(&fd->mu);
        free(fd);
        return NULL;
}
