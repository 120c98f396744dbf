/* Internal to the port worker (worker*.c, job_run.c): the worker's state, its job queue and the
 * job run handed to kinds. Who touches what: mu guards the queue, running/cancel/deadline flags,
 * port (the pointer; only the worker thread uses the port itself, others only port_cancel())
 * and port_error; unsaved_mu guards the unrecorded job ends (never held with mu). */
#ifndef CORRAL_WORKER_INTERNAL_H
#define CORRAL_WORKER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobs/console_annotate.h"
#include "jobs/port_memo.h"
#include "jobs/worker.h"

#define HARD_GRACE_MS 10000 /* after the soft deadline, the port is cancelled */
#define PUMP_SLICE_MS 100
/* The pump's read is woken at once by console input and by a queued job (the worker's wake_fd,
 * polled by the port beside its own fd), so its slice only bounds how often it looks around. */
#define HANDBACK_WRITE_MS 200
/* Before closing, the board gets this long to take the handback (until quiet for the first): a
 * peer that drops what is still in flight on close (RFC 2217 bridges) would lose it otherwise. */
#define HANDBACK_QUIET_MS 30
#define HANDBACK_SETTLE_MS 150
#define CONSOLE_RESET_HOLD_MS 100
#define REOPEN_BACKOFF_MS 2000
/* A job's end that the store could not record (disk full) is retried this often, oldest first;
 * at most UNSAVED_MAX are kept. */
#define UNSAVED_RETRY_MS 1000
#define UNSAVED_MAX 64

struct job {
        int64_t id;
        const struct job_kind *kind;
        json_t *params;
        int timeout_s;
        struct job *next;
};

/* The end of a job the store refused, kept to be recorded later. */
struct unsaved {
        int64_t id;
        char state[16];
        json_t *result;          /* own reference, may be NULL */
        char *code, *msg;        /* may be NULL */
        struct unsaved *next;
};

struct worker {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *head, *tail;
        unsigned nqueued;
        struct job *running;
        bool running_cancel;      /* cancel requested for the running job */
        bool running_timed_out;
        uint64_t running_hard_deadline;
        bool stop, gone;
        /* The pump holds the port for an exchange with the board (the fresh prompt: a CR and the
         * board's answer): a job queued meanwhile does not cancel it but waits its turn, so the
         * job's bytes never follow a question the board has not answered yet. */
        bool pump_claim;
        struct port *port;        /* touched only by the worker thread, except port_cancel() */
        char port_error[256];
        uint64_t next_open_ms;
        /* Unrecorded job ends, oldest first: jobs end on the worker thread and, when cancelled
         * or dropped while queued, on API/registry threads, hence their own lock (never held
         * with mu; the store is called under it and never calls back). */
        pthread_mutex_t unsaved_mu;
        struct unsaved *unsaved, *unsaved_tail;
        unsigned nunsaved;
        uint64_t unsaved_retry_ms;
        char *board_id, *url, *stub_dir;
        unsigned baud, max_queued;
        json_t *hints;
        struct store *store;
        struct events *events;
        struct console *console;  /* this board's console (own reference) */
        struct port_memo memo;    /* jr_port_memo/handback; worker thread only */
        struct console_annot annot; /* wrong-baud recognition of the idle stream; worker thread only */
        struct worker_lend lend;  /* worker_lend(): pending (lend_pending) or running (lend_active) */
        bool lend_pending, lend_active;
        int wake_fd;              /* eventfd: console input or a queued job wakes the pump's read */
        void (*on_state)(void *user, const char *board_id);
        void *user;
};

struct job_run {
        struct worker *w;
        struct job *job;
        uint64_t soft_deadline;
        bool failed;
        char fail_code[48];
        char fail_msg[1024];
        json_t *result;
        json_t *facts;
        int last_pct;
        char last_phase[48];
        uint64_t last_progress_ms;
        bool memo_claimed;
        const json_t *params_override; /* jr_params_override(): a kind running another's steps */
        json_t *health;                /* jr_health() counters, NULL until the first */
};

/* worker_queue.c: the queue and the record of job ends. */
struct job *worker_job_free(struct job *j);
/* Record a job's end in the store (kept and retried when the store refuses) and publish it. */
void worker_finish_job(struct worker *w, struct job *j, const char *state, json_t *result, const char *code,
                       const char *msg);
void worker_publish_job_state(struct worker *w, int64_t id, const char *kind, const char *state,
                              const char *code, const char *message, const json_t *result);
struct unsaved *worker_unsaved_free(struct unsaved *u);
/* Record kept job ends, oldest first; _locked with unsaved_mu held (force: now, not at the interval). */
void worker_unsaved_retry_locked(struct worker *w, bool force);
void worker_unsaved_retry(struct worker *w);

/* worker_port.c: the port, owned by the worker thread (all of these run on it). */
void worker_notify_state(struct worker *w);
void worker_handback_send(struct worker *w, bool settle);
/* Open the port if it is not open; 0 or a negative errno with w->port_error set. */
int worker_ensure_port(struct worker *w);
void worker_drop_port(struct worker *w, const char *why);
/* One console pump step between jobs; the read's result (bytes, 0, negative errno). */
int worker_pump_console(struct worker *w, uint8_t *buf, size_t size);
/* console_attach()'s wake-up: any thread, console lock held. */
void worker_wake_pump(void *user);

#endif
