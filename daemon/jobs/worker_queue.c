/* The port worker's queue, used from other threads (API, registry, reaper): enqueue, cancel,
 * board gone, the hard deadline; and the record of job ends in the store, retried when the store
 * refuses (disk full), in the order the jobs ended. */
#include "jobs/worker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jobs/kinds.h"
#include "log.h"
#include "ports/port.h"
#include "store/store.h"
#include "util.h"

struct job *worker_job_free(struct job *j)
{
        if (j) {
                json_decref(j->params);
                free(j);
        }
        return NULL;
}

void worker_publish_job_state(struct worker *w, int64_t id, const char *kind, const char *state,
                              const char *code, const char *message, const json_t *result)
{
        json_t *d = json_pack("{s:I, s:s, s:s, s:s}", "job", (json_int_t)id, "board", w->board_id, "kind", kind,
                              "state", state);
        /* A job's one-sentence verdict (flash: boot check) travels with its final state. */
        const char *verdict = json_string_value(json_object_get(result, "verdict"));
        if (verdict)
                json_object_set_new(d, "verdict", json_string(verdict));
        if (code)
                json_object_set_new(d, "error", json_pack("{s:s, s:s}", "code", code, "message", message ? message : ""));
        events_publish(w->events, "job.state", d);
}

struct unsaved *worker_unsaved_free(struct unsaved *u)
{
        if (u) {
                json_decref(u->result);
                free(u->code);
                free(u->msg);
                free(u);
        }
        return NULL;
}

/* Keep a job's end the store refused, to record it once it can (else the job would read
 * "running" until the next start, and then "interrupted"). Called with unsaved_mu held. */
static void unsaved_add_locked(struct worker *w, int64_t id, const char *state, json_t *result, const char *code,
                               const char *msg, int err)
{
        log_error("board %s: cannot record that job %lld %s: %s; retrying every %d ms", w->board_id, (long long)id,
                  state, strerror(-err), UNSAVED_RETRY_MS);
        struct unsaved *u = calloc(1, sizeof(*u));
        if (!u)
                return;
        u->id = id;
        snprintf(u->state, sizeof(u->state), "%s", state);
        u->result = json_incref(result);
        u->code = code ? strdup(code) : NULL;
        u->msg = msg ? strdup(msg) : NULL;
        if (w->nunsaved == UNSAVED_MAX) {
                struct unsaved *old = w->unsaved;
                log_error("board %s: giving up recording the end of job %lld (too many unrecorded jobs)",
                          w->board_id, (long long)old->id);
                w->unsaved = old->next;
                if (!w->unsaved)
                        w->unsaved_tail = NULL;
                w->nunsaved--;
                worker_unsaved_free(old);
        }
        if (w->unsaved_tail)
                w->unsaved_tail->next = u;
        else
                w->unsaved = u;
        w->unsaved_tail = u;
        w->nunsaved++;
        w->unsaved_retry_ms = util_mono_ms() + UNSAVED_RETRY_MS;
}

/* Record kept job ends, oldest first, up to the first the store still refuses. Called with
 * unsaved_mu held. force: ignore the retry interval. */
void worker_unsaved_retry_locked(struct worker *w, bool force)
{
        if (!w->unsaved || (!force && util_mono_ms() < w->unsaved_retry_ms))
                return;
        while (w->unsaved) {
                struct unsaved *u = w->unsaved;
                if (store_job_finish(w->store, u->id, u->state, u->result, u->code, u->msg) < 0) {
                        w->unsaved_retry_ms = util_mono_ms() + UNSAVED_RETRY_MS;
                        return;
                }
                log_notice("board %s: job %lld recorded as %s after all", w->board_id, (long long)u->id, u->state);
                w->unsaved = u->next;
                if (!w->unsaved)
                        w->unsaved_tail = NULL;
                w->nunsaved--;
                worker_unsaved_free(u);
        }
}

void worker_unsaved_retry(struct worker *w)
{
        pthread_mutex_lock(&w->unsaved_mu);
        worker_unsaved_retry_locked(w, false);
        pthread_mutex_unlock(&w->unsaved_mu);
}

void worker_finish_job(struct worker *w, struct job *j, const char *state, json_t *result, const char *code,
                       const char *msg)
{
        pthread_mutex_lock(&w->unsaved_mu);
        worker_unsaved_retry_locked(w, true); /* the store keeps the order in which jobs ended */
        int r = w->unsaved ? -EAGAIN : store_job_finish(w->store, j->id, state, result, code, msg);
        if (r < 0)
                unsaved_add_locked(w, j->id, state, result, code, msg, r);
        pthread_mutex_unlock(&w->unsaved_mu);
        worker_publish_job_state(w, j->id, j->kind->name, state, code, msg, result);
}

void worker_set_max_queued(struct worker *w, unsigned max_queued)
{
        pthread_mutex_lock(&w->mu);
        w->max_queued = max_queued ? max_queued : 64;
        pthread_mutex_unlock(&w->mu);
}

int worker_enqueue(struct worker *w, int64_t job_id, const struct job_kind *kind, const json_t *params,
                   int timeout_s)
{
        struct job *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->id = job_id;
        j->kind = kind;
        j->params = json_deep_copy(params ? params : json_object());
        j->timeout_s = timeout_s;
        pthread_mutex_lock(&w->mu);
        int r = 0;
        if (w->gone || w->stop)
                r = -ENODEV;
        else if (w->nqueued >= w->max_queued)
                r = -ENOSPC;
        if (r == 0) {
                if (w->tail)
                        w->tail->next = j;
                else
                        w->head = j;
                w->tail = j;
                w->nqueued++;
                pthread_cond_signal(&w->cv);
                /* Wake an idle pump read so the job starts at once (never a running job's or a
                 * borrower's reads, nor the pump's exchange with the board: the job waits
                 * behind them). */
                if (w->port && !w->running && !w->lend_active && !w->pump_claim)
                        port_cancel(w->port, true);
        }
        pthread_mutex_unlock(&w->mu);
        if (r < 0)
                worker_job_free(j);
        return r;
}

int worker_cancel(struct worker *w, int64_t job_id)
{
        pthread_mutex_lock(&w->mu);
        if (w->running && w->running->id == job_id) {
                w->running_cancel = true;
                if (w->port)
                        port_cancel(w->port, true);
                pthread_mutex_unlock(&w->mu);
                return 0;
        }
        struct job *prev = NULL, *j = w->head;
        while (j && j->id != job_id) {
                prev = j;
                j = j->next;
        }
        if (j) {
                if (prev)
                        prev->next = j->next;
                else
                        w->head = j->next;
                if (w->tail == j)
                        w->tail = prev;
                w->nqueued--;
        }
        pthread_mutex_unlock(&w->mu);
        if (!j)
                return -ENOENT;
        worker_finish_job(w, j, "cancelled", NULL, "cancelled", "Cancelled before it started.");
        worker_job_free(j);
        return 0;
}

void worker_gone(struct worker *w, bool force)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->mu);
        w->gone = true;
        struct job *q = w->head;
        w->head = w->tail = NULL;
        w->nqueued = 0;
        if (force && w->port)
                port_cancel(w->port, true);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        while (q) {
                struct job *next = q->next;
                worker_finish_job(w, q, "failed", NULL, "board_gone",
                           "The board was disconnected before this job started.");
                worker_job_free(q);
                q = next;
        }
}

void worker_check_deadline(struct worker *w, uint64_t now_ms)
{
        pthread_mutex_lock(&w->mu);
        if (w->running && w->running_hard_deadline && now_ms >= w->running_hard_deadline &&
            !w->running_timed_out) {
                w->running_timed_out = true;
                if (w->port)
                        port_cancel(w->port, true);
        }
        pthread_mutex_unlock(&w->mu);
}
