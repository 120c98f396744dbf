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
/* Lend the open port to a borrower that is not a job (a remote-port session). run() is called on
 * the worker thread, after the running job and before any queued one, with the open port and the
 * board's console; jobs queued meanwhile wait behind it. run() returns when the borrower is done,
 * or soon after its port calls return -ECANCELED (the worker is stopping or the board is gone);
 * its result is 0 or the port's negative errno (-ENODEV: the device vanished). done() is called
 * exactly once, on the worker thread or the caller's: after run() (ran true), or instead of it
 * (ran false, why in plain words) when the port cannot be opened or the board goes away first.
 * -EBUSY when a lend is already pending or running, -ENODEV when the board is gone. */
struct port;
struct console;
struct worker_lend {
        int (*run)(void *arg, struct port *p, struct console *c);
        void (*done)(void *arg, bool ran, const char *why);
        void *arg;
};
int worker_lend(struct worker *w, const struct worker_lend *l);
/* Enforce the hard deadline of the running job (called periodically from another thread). */
void worker_check_deadline(struct worker *w, uint64_t now_ms);
/* Stop, join and free. NULL-safe; returns NULL. */
struct worker *worker_free(struct worker *w);

struct worker_status {
        bool busy;
        bool lent;                /* a worker_lend borrower holds the port (busy is true too) */
        bool port_open;
        unsigned queued;
        int64_t running_job;      /* 0 = none */
        char port_error[256];     /* last open/IO error in plain words, "" when fine */
};
void worker_status(struct worker *w, struct worker_status *s);

#endif
