/* Port worker thread: runs a board's jobs one at a time over the port it owns and, between
 * jobs, pumps the console. The queue is worker_queue.c's, the port worker_port.c's, the job run
 * handed to kinds job_run.c's. */
#include "jobs/worker_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "health/health.h"
#include "jobs/console.h"
#include "jobs/console_annotate.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"
#include "log.h"
#include "ports/port.h"
#include "store/store.h"
#include "util.h"

/* How a job ended, in words: its state, its failure code (NULL when it succeeded) and message,
 * from what the run returned and what happened meanwhile (cancel, timeout, board gone, stop). */
static const char *job_outcome(struct worker *w, const struct job *j, const struct job_run *jr, int r, int timeout_s,
                               const char **ret_code, char *msg, size_t size)
{
        pthread_mutex_lock(&w->mu);
        bool cancelled = w->running_cancel, timed_out = w->running_timed_out, gone = w->gone;
        bool stopping = w->stop;
        pthread_mutex_unlock(&w->mu);
        *ret_code = NULL;
        msg[0] = '\0';
        if (r >= 0 && !jr->failed)
                return "succeeded";
        const char *state = "failed";
        *ret_code = jr->failed ? jr->fail_code : "failed";
        snprintf(msg, size, "%s", jr->failed ? jr->fail_msg : strerror(-r));
        if (r == -ENODEV || gone) {
                *ret_code = "board_gone";
                if (!jr->failed || strcmp(jr->fail_code, "board_gone"))
                        snprintf(msg, size, "The board was disconnected during the %s job%s%s", j->kind->name,
                                 jr->failed ? ": " : ".", jr->failed ? jr->fail_msg : "");
        }
        if (stopping) {
                state = "interrupted";
                *ret_code = "interrupted";
                snprintf(msg, size, "corrald was stopped while this job was running.");
        } else if (cancelled) {
                state = "cancelled";
                *ret_code = "cancelled";
                snprintf(msg, size, "Cancelled on request.");
        } else if (timed_out && (r == -ECANCELED || (jr->failed && !strcmp(jr->fail_code, "cancelled")))) {
                /* The hard deadline cancelled the port; kinds may report that as "cancelled". */
                *ret_code = "timeout";
                snprintf(msg, size, "The %s job did not finish within its %d s timeout%s%s%s.", j->kind->name,
                         timeout_s, jr->last_phase[0] ? " (it was " : "", jr->last_phase,
                         jr->last_phase[0] ? ")" : "");
        }
        return state;
}

/* Open the port and let the kind run; the handback a previous job left goes out first unless
 * this kind takes the board as that job left it. */
static int run_kind(struct worker *w, struct job *j, struct job_run *jr)
{
        int r = worker_ensure_port(w);
        if (r < 0) {
                jr_fail(jr, r == -EBUSY ? "port_busy" : "port_unavailable", "%s", w->port_error);
                return r;
        }
        port_cancel(w->port, false);
        /* The board is in the state a kind left it for its own next job: a kind that never claimed
         * the memo gets it the way people expect. */
        if (!port_memo_kind(&w->memo, j->kind))
                worker_handback_send(w, false);
        r = j->kind->run(jr);
        if (!jr->memo_claimed)
                worker_handback_send(w, false); /* still pending: this job did not touch the board */
        port_memo_job_end(&w->memo, jr->memo_claimed);
        return r;
}

static void run_job(struct worker *w, struct job *j)
{
        struct job_run jr = { .w = w, .job = j, .last_pct = -1 };
        int timeout_s = j->timeout_s > 0 ? j->timeout_s : (int)j->kind->default_timeout_s;
        uint64_t start = util_mono_ms();
        jr.soft_deadline = start + (uint64_t)timeout_s * 1000u;
        pthread_mutex_lock(&w->mu);
        w->running_hard_deadline = jr.soft_deadline + HARD_GRACE_MS;
        pthread_mutex_unlock(&w->mu);

        store_job_set_state(w->store, j->id, "running");
        console_set_job(w->console, j->id, j->kind->name);
        worker_publish_job_state(w, j->id, j->kind->name, "running", NULL, NULL, NULL);
        worker_notify_state(w);

        int r = run_kind(w, j, &jr);
        const char *code;
        char msg[1200];
        const char *state = job_outcome(w, j, &jr, r, timeout_s, &code, msg, sizeof(msg));
        if (!jr.result)
                jr.result = json_object();
        json_object_set_new(jr.result, "elapsed_ms", json_integer((json_int_t)(util_mono_ms() - start)));
        /* A port whose device is gone is closed BEFORE the job's end is published, so whoever sees
         * "board_gone" also sees the port closed (it used to close later, from the console pump,
         * and a client reading the board right after the job's end found the port still open).
         * A cancelled port is closed too; the next job reopens it. */
        bool is_gone = r == -ENODEV || (code && !strcmp(code, "board_gone"));
        if (is_gone || (w->port && r == -ECANCELED))
                worker_drop_port(w, is_gone ? "the device disappeared" : NULL);
        /* The board's health record first, so whoever sees the job's end sees its counters. */
        struct health_job hj = { .id = j->id, .kind = j->kind->name, .state = state, .code = code,
                                 .message = code ? msg : NULL, .result = jr.result, .obs = jr.health,
                                 .params = j->params };
        health_job_end(w->store, w->events, w->board_id, &hj);
        json_decref(jr.health);
        worker_finish_job(w, j, state, jr.result, code, code ? msg : NULL);
        if (code)
                log_notice("board %s: job %lld (%s) %s: %s", w->board_id, (long long)j->id, j->kind->name, state,
                           msg);
        json_decref(jr.result);
        json_decref(jr.facts);
        /* What the board prints next follows this job (a reset, a boot check, a program's end):
         * the console shows it at the port's baud, no wrong-baud decode right now. */
        console_annot_hold(&w->annot, util_mono_ms());
        console_set_job(w->console, 0, NULL);
}

/* Hand the open port to a worker_lend borrower until it is done. */
static void run_lend(struct worker *w, const struct worker_lend *l)
{
        if (worker_ensure_port(w) < 0) {
                char why[sizeof(w->port_error)];
                pthread_mutex_lock(&w->mu);
                snprintf(why, sizeof(why), "%s", w->port_error);
                pthread_mutex_unlock(&w->mu);
                l->done(l->arg, false, why);
                return;
        }
        worker_notify_state(w);
        port_cancel(w->port, false);
        worker_handback_send(w, false); /* the board as people expect it */
        int r = l->run(l->arg, w->port, w->console);
        port_memo_disturb(&w->memo);
        console_annot_hold(&w->annot, util_mono_ms()); /* as after a job */
        if (r == -ENODEV) {
                worker_drop_port(w, "the device disappeared");
                w->next_open_ms = util_mono_ms() + REOPEN_BACKOFF_MS;
        } else if (w->port) {
                port_cancel(w->port, false);
        }
        l->done(l->arg, true, NULL);
}

/* Hand the port to the pending lend (called and returning with mu held). */
static void serve_lend(struct worker *w)
{
        w->lend_pending = false;
        w->lend_active = true;
        struct worker_lend l = w->lend;
        pthread_mutex_unlock(&w->mu);
        run_lend(w, &l);
        pthread_mutex_lock(&w->mu);
        w->lend_active = false;
        pthread_mutex_unlock(&w->mu);
        worker_notify_state(w);
        pthread_mutex_lock(&w->mu);
}

/* Take the first queued job and run it (called and returning with mu held). */
static void serve_job(struct worker *w)
{
        struct job *j = w->head;
        w->head = j->next;
        if (!w->head)
                w->tail = NULL;
        w->nqueued--;
        w->running = j;
        w->running_cancel = false;
        w->running_timed_out = false;
        pthread_mutex_unlock(&w->mu);
        run_job(w, j);
        pthread_mutex_lock(&w->mu);
        w->running = NULL;
        w->running_hard_deadline = 0;
        pthread_mutex_unlock(&w->mu);
        worker_job_free(j);
        worker_notify_state(w);
        pthread_mutex_lock(&w->mu);
}

/* Idle: keep the port open and pump the console, or wait a slice while it cannot be opened
 * (called and returning with mu held). */
static void serve_idle(struct worker *w, uint8_t *buf, size_t size)
{
        pthread_mutex_unlock(&w->mu);
        worker_unsaved_retry(w);
        uint64_t now = util_mono_ms();
        if (!w->port && now >= w->next_open_ms) {
                bool had_error = w->port_error[0] != '\0';
                if (worker_ensure_port(w) < 0) {
                        w->next_open_ms = now + REOPEN_BACKOFF_MS;
                        if (!had_error)
                                worker_notify_state(w);
                } else {
                        worker_notify_state(w);
                }
        }
        if (w->port) {
                int n = worker_pump_console(w, buf, size);
                if (n < 0 && n != -ECANCELED) {
                        worker_drop_port(w, n == -ENODEV ? "the device disappeared" : strerror(-n));
                        w->next_open_ms = util_mono_ms() + REOPEN_BACKOFF_MS;
                        worker_notify_state(w);
                }
                pthread_mutex_lock(&w->mu);
                /* A wake-up cancel with nothing queued must not leave reads failing. */
                if (n == -ECANCELED && !w->head && !w->stop && w->port)
                        port_cancel(w->port, false);
        } else {
                pthread_mutex_lock(&w->mu);
                if (!w->head && !w->lend_pending && !w->stop && !w->gone) {
                        struct timespec ts = util_deadline_ts(PUMP_SLICE_MS);
                        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
                }
        }
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        uint8_t buf[4096];
        console_attach(w->console, worker_wake_pump, w);
        pthread_mutex_lock(&w->mu);
        while (!w->stop && !(w->gone && !w->head)) {
                if (w->lend_pending)
                        serve_lend(w);
                else if (w->head)
                        serve_job(w);
                else
                        serve_idle(w, buf, sizeof(buf));
        }
        bool lend_dropped = w->lend_pending;
        struct worker_lend dropped = w->lend;
        w->lend_pending = false;
        pthread_mutex_unlock(&w->mu);
        if (lend_dropped)
                dropped.done(dropped.arg, false, "the board went away before the port could be handed over");
        /* Stopping cancelled the port; the handback still gets its one short write. */
        if (w->port && w->memo.handback_len)
                port_cancel(w->port, false);
        worker_drop_port(w, NULL);
        console_detach(w->console);
        return NULL;
}

int worker_start(const struct worker_opts *o, struct worker **ret)
{
        struct worker *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->wake_fd = -1;
        pthread_mutex_init(&w->mu, NULL);
        util_cond_init_mono(&w->cv);
        pthread_mutex_init(&w->unsaved_mu, NULL);
        w->board_id = strdup(o->board_id);
        w->url = strdup(o->url);
        w->stub_dir = o->stub_dir ? strdup(o->stub_dir) : NULL;
        w->baud = o->baud;
        w->max_queued = o->max_queued ? o->max_queued : 64;
        w->hints = o->hints ? json_deep_copy(o->hints) : json_object();
        /* stub_dir and firmware_dirs come from corrald's config only, never from elsewhere. */
        json_object_del(w->hints, "stub_dir");
        json_object_del(w->hints, "firmware_dirs");
        if (w->stub_dir)
                json_object_set_new(w->hints, "stub_dir", json_string(w->stub_dir));
        if (w->hints && o->firmware_dirs)
                json_object_set_new(w->hints, "firmware_dirs", json_deep_copy(o->firmware_dirs));
        w->store = o->store;
        w->events = o->events;
        w->on_state = o->on_state;
        w->user = o->user;
        if (!w->board_id || !w->url || !w->hints) {
                worker_free(w);
                return -ENOMEM;
        }
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wake_fd < 0) {
                int e = -errno;
                worker_free(w);
                return e;
        }
        int cr = console_dir_get(o->consoles, w->board_id, &w->console);
        if (cr < 0) {
                worker_free(w);
                return cr;
        }
        int r = pthread_create(&w->thread, NULL, worker_main, w);
        if (r) {
                w->thread = 0;
                worker_free(w);
                return -r;
        }
        *ret = w;
        return 0;
}

int worker_lend(struct worker *w, const struct worker_lend *l)
{
        pthread_mutex_lock(&w->mu);
        int r = 0;
        if (w->gone || w->stop)
                r = -ENODEV;
        else if (w->lend_pending || w->lend_active)
                r = -EBUSY;
        if (r == 0) {
                w->lend = *l;
                w->lend_pending = true;
                pthread_cond_signal(&w->cv);
                if (w->port && !w->running && !w->pump_claim)
                        port_cancel(w->port, true); /* wake the idle pump (a claim ends by itself) */
        }
        pthread_mutex_unlock(&w->mu);
        return r;
}

void worker_status(struct worker *w, struct worker_status *s)
{
        memset(s, 0, sizeof(*s));
        pthread_mutex_lock(&w->mu);
        s->busy = w->running != NULL || w->lend_active;
        s->lent = w->lend_active;
        s->port_open = w->port != NULL;
        s->queued = w->nqueued;
        s->running_job = w->running ? w->running->id : 0;
        snprintf(s->port_error, sizeof(s->port_error), "%s", w->port_error);
        pthread_mutex_unlock(&w->mu);
}

struct worker *worker_free(struct worker *w)
{
        if (!w)
                return NULL;
        if (w->thread) {
                pthread_mutex_lock(&w->mu);
                w->stop = true;
                if (w->running)
                        w->running_cancel = true;
                if (w->port)
                        port_cancel(w->port, true);
                pthread_cond_signal(&w->cv);
                pthread_mutex_unlock(&w->mu);
                pthread_join(w->thread, NULL);
        }
        /* Jobs still queued at shutdown stay "queued" in the store; the next start marks them. */
        for (struct job *j = w->head; j;) {
                struct job *next = j->next;
                worker_job_free(j);
                j = next;
        }
        worker_unsaved_retry_locked(w, true); /* no other thread is left */
        for (struct unsaved *u = w->unsaved; u;) {
                struct unsaved *next = u->next;
                log_error("board %s: the end of job %lld (%s) was never recorded; the next start marks it "
                          "interrupted", w->board_id, (long long)u->id, u->state);
                worker_unsaved_free(u);
                u = next;
        }
        pthread_mutex_destroy(&w->unsaved_mu);
        console_unref(w->console);
        json_decref(w->hints);
        free(w->board_id);
        free(w->url);
        free(w->stub_dir);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        if (w->wake_fd >= 0)
                close(w->wake_fd);
        free(w);
        return NULL;
}
