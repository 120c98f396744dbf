/* A port worker: one thread per present board. It alone touches that board's port: it runs the
 * board's jobs one at a time from a FIFO and, between jobs, pumps console bytes into a ring.
 * Other threads talk to it only through the functions below. */
#ifndef CORRAL_WORKER_H
#define CORRAL_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct console_dir;
struct events;
struct job_kind;
struct worker;

struct worker_opts {
        const char *board_id;
        const char *url;
        unsigned baud;
        const json_t *hints;        /* copied */
        const char *stub_dir;       /* may be NULL */
        const json_t *firmware_dirs;/* config firmware_dirs (array, copied into the hints); may be NULL */
        unsigned max_queued;
        struct store *store;        /* borrowed, outlives the worker */
        struct events *events;      /* borrowed */
        struct console_dir *consoles; /* borrowed: the board's console lives here */
        /* Called on the worker thread when the board becomes busy/idle or its port state changes. */
        void (*on_state)(void *user, const char *board_id);
        void *user;
};

int worker_start(const struct worker_opts *o, struct worker **ret);
/* Queue a job already persisted as "queued". Takes a reference on params.
 * -ENOSPC when the queue is full, -ENODEV when the board is gone. */
int worker_enqueue(struct worker *w, int64_t job_id, const struct job_kind *kind, const json_t *params,
                   int timeout_s);
/* A new queue limit (SIGHUP's max_queued_jobs; 0 = 64): later enqueues see it, queued jobs stay. */
void worker_set_max_queued(struct worker *w, unsigned max_queued);
/* Cancel a queued or running job: 0 if it was ours, -ENOENT otherwise. */
int worker_cancel(struct worker *w, int64_t job_id);
/* The board is gone: fail queued jobs, let the running one fail on its own I/O (or cancel it
 * now when force). The worker thread exits after that. */
void worker_gone(struct worker *w, bool force);
/* Enforce the hard deadline of the running job (called periodically from another thread). */
void worker_check_deadline(struct worker *w, uint64_t now_ms);
/* Stop, join and free. NULL-safe; returns NULL. */
struct worker *worker_free(struct worker *w);

struct worker_status {
        bool busy;
        bool port_open;
        unsigned queued;
        int64_t running_job;      /* 0 = none */
        char port_error[256];     /* last open/IO error in plain words, "" when fine */
};
void worker_status(struct worker *w, struct worker_status *s);

#endif
