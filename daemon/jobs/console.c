/* Per-board console: one shared 64 KB byte ring with a read position per viewer (a viewer more
 * than the ring behind loses the oldest bytes and is told how many), a small queue of status
 * messages (as data: struct console_msg; api/ formats them) per viewer, the write lock and the
 * input queue the port worker drains. */
#include "jobs/console.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct console_viewer {
        struct console *c;
        unsigned id;
        char name[64];
        uint64_t tail;                  /* position in the byte stream of the next byte to send */
        struct console_msg *msgs[CONSOLE_TEXT_QUEUE];
        unsigned thead, tcount;
        uint64_t dropped;               /* bytes lost to the lag limit, total */
        unsigned dropped_texts;
        bool signalled;                 /* woken and not yet drained: no need to wake again */
        int64_t lease;                  /* the reservation it took the write lock with, 0: none */
        console_wake_fn wake;
        void *wake_user;
        struct console_viewer *next;
};

struct console {
        struct console_dir *dir;
        struct console *next;           /* in dir, under dir->mu */
        unsigned refs;                  /* under dir->mu */
        char board_id[72];
        pthread_mutex_t mu;
        uint8_t ring[CONSOLE_HISTORY];
        uint64_t head;                  /* bytes ever fed */
        struct console_viewer *viewers;
        unsigned nviewers, next_id;
        struct console_viewer *writer;
        uint8_t input[CONSOLE_INPUT_MAX];
        size_t ninput;
        bool reset_asked;
        bool prompt_asked;              /* a viewer joined: show a fresh prompt */
        uint64_t prompt_at_ms;          /* not before (the page that joined may queue a job first) */
        bool attached, port_open;
        char port_error[256];
        int64_t job;
        char job_kind[32];
        char holder[200];         /* a non-job borrower of the port (remote session), "" = none */
        console_wake_fn port_wake;
        void *port_user;
};

struct console_dir {
        pthread_mutex_t mu;
        struct console *list;
};

/* ---- directory ---- */

int console_dir_new(struct console_dir **ret)
{
        struct console_dir *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        pthread_mutex_init(&d->mu, NULL);
        *ret = d;
        return 0;
}

struct console_dir *console_dir_free(struct console_dir *d)
{
        if (!d)
                return NULL;
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
}

int console_dir_get(struct console_dir *d, const char *board_id, struct console **ret)
{
        if (!d || !board_id || strlen(board_id) >= sizeof(((struct console *)0)->board_id))
                return -EINVAL;
        pthread_mutex_lock(&d->mu);
        struct console *c = d->list;
        while (c && strcmp(c->board_id, board_id))
                c = c->next;
        if (!c) {
                c = calloc(1, sizeof(*c));
                if (!c) {
                        pthread_mutex_unlock(&d->mu);
                        return -ENOMEM;
                }
                pthread_mutex_init(&c->mu, NULL);
                snprintf(c->board_id, sizeof(c->board_id), "%s", board_id);
                c->dir = d;
                c->next = d->list;
                d->list = c;
        }
        c->refs++;
        pthread_mutex_unlock(&d->mu);
        *ret = c;
        return 0;
}

struct console *console_unref(struct console *c)
{
        if (!c)
                return NULL;
        struct console_dir *d = c->dir;
        pthread_mutex_lock(&d->mu);
        bool last = --c->refs == 0;
        if (last) {
                struct console **pp = &d->list;
                while (*pp != c)
                        pp = &(*pp)->next;
                *pp = c->next;
        }
        pthread_mutex_unlock(&d->mu);
        if (last) {
                pthread_mutex_destroy(&c->mu);
                free(c);
        }
        return NULL;
}

/* ---- messages ---- */

static void wake_locked(struct console_viewer *v)
{
        if (!v->signalled && v->wake) {
                v->signalled = true;
                v->wake(v->wake_user);
        }
}

/* Queue a status message for one viewer (copied); when its queue is full the oldest is dropped. */
static void push_msg_locked(struct console_viewer *v, const struct console_msg *m)
{
        struct console_msg *copy = malloc(sizeof(*copy));
        if (!copy)
                return;
        *copy = *m;
        if (v->tcount == CONSOLE_TEXT_QUEUE) {
                free(v->msgs[v->thead]);
                v->thead = (v->thead + 1) % CONSOLE_TEXT_QUEUE;
                v->tcount--;
                v->dropped_texts++;
        }
        v->msgs[(v->thead + v->tcount) % CONSOLE_TEXT_QUEUE] = copy;
        v->tcount++;
        wake_locked(v);
}

static void holder_locked(struct console *c, struct console_msg *m)
{
        m->holder = c->writer ? c->writer->id : 0;
        snprintf(m->holder_name, sizeof(m->holder_name), "%s", c->writer ? c->writer->name : "");
}

static void reason_locked(struct console *c, char *buf, size_t size)
{
        if (!c->attached)
                snprintf(buf, size, "The board is offline; the console shows what it printed last.");
        else if (c->job)
                snprintf(buf, size, "Job %lld (%s) is using the port; the console is read-only until it ends.",
                         (long long)c->job, c->job_kind);
        else if (c->holder[0])
                snprintf(buf, size, "%s is using the port; the console is read-only until it ends.", c->holder);
        else if (!c->port_open)
                snprintf(buf, size, "The port is not open%s%s.", c->port_error[0] ? ": " : "", c->port_error);
        else
                buf[0] = '\0';
}

/* A message of that type carrying the fields shared by hello and status. */
static void state_locked(struct console *c, enum console_msg_type type, struct console_msg *m)
{
        memset(m, 0, sizeof(*m));
        m->type = type;
        m->online = c->attached && c->port_open;
        m->busy = c->job != 0 || c->holder[0];
        m->job = c->job;
        snprintf(m->kind, sizeof(m->kind), "%s", c->job ? c->job_kind : "");
        reason_locked(c, m->reason, sizeof(m->reason));
}

static void broadcast_status_locked(struct console *c)
{
        struct console_msg m;
        state_locked(c, CONSOLE_MSG_STATUS, &m);
        for (struct console_viewer *v = c->viewers; v; v = v->next)
                push_msg_locked(v, &m);
}

/* code/reason (may be NULL): why the lock changed hands when nobody released it. */
static void broadcast_lock_why_locked(struct console *c, const char *code, const char *reason)
{
        struct console_msg m;
        memset(&m, 0, sizeof(m));
        m.type = CONSOLE_MSG_LOCK;
        holder_locked(c, &m);
        m.why_given = code || reason;
        snprintf(m.code, sizeof(m.code), "%s", code ? code : "");
        snprintf(m.why, sizeof(m.why), "%s", reason ? reason : "");
        for (struct console_viewer *v = c->viewers; v; v = v->next) {
                m.writer = c->writer == v;
                push_msg_locked(v, &m);
        }
}

static void broadcast_lock_locked(struct console *c)
{
        broadcast_lock_why_locked(c, NULL, NULL);
}

/* Drop the current writer and what it queued; tell everyone why. */
static void revoke_locked(struct console *c, const char *code, const char *reason)
{
        c->writer = NULL;
        c->ninput = 0;
        c->reset_asked = false;
        broadcast_lock_why_locked(c, code, reason);
}

/* ---- port side ---- */

void console_attach(struct console *c, console_wake_fn wake, void *user)
{
        pthread_mutex_lock(&c->mu);
        c->attached = true;
        c->port_wake = wake;
        c->port_user = user;
        broadcast_status_locked(c);
        pthread_mutex_unlock(&c->mu);
}

void console_detach(struct console *c)
{
        pthread_mutex_lock(&c->mu);
        c->attached = false;
        c->port_open = false;
        c->job = 0;
        c->ninput = 0;
        c->reset_asked = false;
        c->port_wake = NULL;
        c->port_user = NULL;
        broadcast_status_locked(c);
        pthread_mutex_unlock(&c->mu);
}

void console_set_port(struct console *c, bool open, const char *error)
{
        pthread_mutex_lock(&c->mu);
        const char *e = open || !error ? "" : error;
        if (c->port_open != open || strcmp(c->port_error, e)) {
                c->port_open = open;
                snprintf(c->port_error, sizeof(c->port_error), "%s", e);
                broadcast_status_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
}

void console_set_job(struct console *c, int64_t job_id, const char *kind)
{
        pthread_mutex_lock(&c->mu);
        c->job = job_id > 0 ? job_id : 0;
        snprintf(c->job_kind, sizeof(c->job_kind), "%s", c->job && kind ? kind : "");
        c->ninput = 0;
        c->reset_asked = false;
        broadcast_status_locked(c);
        pthread_mutex_unlock(&c->mu);
}

void console_feed(struct console *c, const void *data, size_t len)
{
        const uint8_t *p = data;
        if (!len)
                return;
        pthread_mutex_lock(&c->mu);
        /* Only the last CONSOLE_HISTORY bytes can matter to anyone. */
        if (len > CONSOLE_HISTORY) {
                c->head += len - CONSOLE_HISTORY;
                p += len - CONSOLE_HISTORY;
                len = CONSOLE_HISTORY;
        }
        size_t at = (size_t)(c->head % CONSOLE_HISTORY);
        size_t first = CONSOLE_HISTORY - at < len ? CONSOLE_HISTORY - at : len;
        memcpy(c->ring + at, p, first);
        memcpy(c->ring, p + first, len - first);
        c->head += len;
        for (struct console_viewer *v = c->viewers; v; v = v->next)
                wake_locked(v);
        pthread_mutex_unlock(&c->mu);
}

size_t console_input_take(struct console *c, void *buf, size_t cap, bool *reset)
{
        pthread_mutex_lock(&c->mu);
        size_t n = c->ninput < cap ? c->ninput : cap;
        memcpy(buf, c->input, n);
        memmove(c->input, c->input + n, c->ninput - n);
        c->ninput -= n;
        *reset = c->reset_asked;
        c->reset_asked = false;
        pthread_mutex_unlock(&c->mu);
        return n;
}

bool console_prompt_take(struct console *c)
{
        pthread_mutex_lock(&c->mu);
        if (c->writer || c->ninput)
                c->prompt_asked = false; /* someone is typing: their keys, not a CR of ours */
        bool r = c->prompt_asked && !c->job && util_mono_ms() >= c->prompt_at_ms;
        if (r)
                c->prompt_asked = false;
        pthread_mutex_unlock(&c->mu);
        return r;
}

bool console_interactive(struct console *c)
{
        pthread_mutex_lock(&c->mu);
        bool r = c->writer != NULL || c->ninput > 0 || c->reset_asked;
        pthread_mutex_unlock(&c->mu);
        return r;
}

void console_revoke_writer(struct console *c, int64_t lease, const char *code, const char *reason)
{
        pthread_mutex_lock(&c->mu);
        if (c->writer && (lease <= 0 || c->writer->lease != lease))
                revoke_locked(c, code, reason);
        pthread_mutex_unlock(&c->mu);
}

void console_report_reset(struct console *c, bool ok, const char *message)
{
        pthread_mutex_lock(&c->mu);
        struct console_msg m;
        memset(&m, 0, sizeof(m));
        m.type = CONSOLE_MSG_RESET;
        m.ok = ok;
        snprintf(m.message, sizeof(m.message), "%s", message ? message : "");
        for (struct console_viewer *v = c->viewers; v; v = v->next)
                push_msg_locked(v, &m);
        pthread_mutex_unlock(&c->mu);
}

/* ---- viewer side ---- */

int console_viewer_join(struct console *c, const char *name, console_wake_fn wake, void *user,
                        struct console_viewer **ret)
{
        struct console_viewer *v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        pthread_mutex_lock(&c->mu);
        if (c->nviewers >= CONSOLE_MAX_VIEWERS) {
                pthread_mutex_unlock(&c->mu);
                free(v);
                return -EMFILE;
        }
        v->c = c;
        v->id = ++c->next_id;
        if (name && *name)
                snprintf(v->name, sizeof(v->name), "%s", name);
        else
                snprintf(v->name, sizeof(v->name), "viewer %u", v->id);
        v->wake = wake;
        v->wake_user = user;
        uint64_t replay = c->head < CONSOLE_HISTORY ? c->head : CONSOLE_HISTORY;
        v->tail = c->head - replay;
        v->next = c->viewers;
        c->viewers = v;
        c->nviewers++;
        struct console_msg hello;
        state_locked(c, CONSOLE_MSG_HELLO, &hello);
        snprintf(hello.board, sizeof(hello.board), "%s", c->board_id);
        hello.viewer = v->id;
        holder_locked(c, &hello);
        hello.replay_bytes = replay;
        push_msg_locked(v, &hello);
        /* During a job too: the worker takes it when the port is idle again. */
        if (c->attached && c->port_open && !c->writer) {
                c->prompt_asked = true;
                c->prompt_at_ms = util_mono_ms() + CONSOLE_PROMPT_DELAY_MS;
                if (c->port_wake)
                        c->port_wake(c->port_user);
        }
        pthread_mutex_unlock(&c->mu);
        /* The viewer's own reference (dir lock, never taken under c->mu). */
        pthread_mutex_lock(&c->dir->mu);
        c->refs++;
        pthread_mutex_unlock(&c->dir->mu);
        *ret = v;
        return 0;
}

struct console_viewer *console_viewer_leave(struct console_viewer *v)
{
        if (!v)
                return NULL;
        struct console *c = v->c;
        pthread_mutex_lock(&c->mu);
        struct console_viewer **pp = &c->viewers;
        while (*pp != v)
                pp = &(*pp)->next;
        *pp = v->next;
        c->nviewers--;
        if (c->writer == v) {
                c->writer = NULL;
                broadcast_lock_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        for (unsigned i = 0; i < v->tcount; i++)
                free(v->msgs[(v->thead + i) % CONSOLE_TEXT_QUEUE]);
        free(v);
        console_unref(c);
        return NULL;
}

static bool pending_locked(struct console_viewer *v)
{
        return v->tcount > 0 || v->tail < v->c->head;
}

size_t console_viewer_next(struct console_viewer *v, void *buf, size_t cap, struct console_msg *msg, bool *is_msg)
{
        struct console *c = v->c;
        size_t n = 0;
        pthread_mutex_lock(&c->mu);
        if (c->head - v->tail > CONSOLE_HISTORY) {
                uint64_t lost = c->head - CONSOLE_HISTORY - v->tail;
                v->tail += lost;
                v->dropped += lost;
                struct console_msg m;
                memset(&m, 0, sizeof(m));
                m.type = CONSOLE_MSG_DROPPED;
                m.bytes = lost;
                m.total = v->dropped;
                push_msg_locked(v, &m);
        }
        if (v->tcount) {
                struct console_msg *m = v->msgs[v->thead];
                *msg = *m;
                free(m);
                v->thead = (v->thead + 1) % CONSOLE_TEXT_QUEUE;
                v->tcount--;
                *is_msg = true;
                n = 1;
        } else if (v->tail < c->head) {
                uint64_t avail = c->head - v->tail;
                n = avail < cap ? (size_t)avail : cap;
                size_t at = (size_t)(v->tail % CONSOLE_HISTORY);
                size_t first = CONSOLE_HISTORY - at < n ? CONSOLE_HISTORY - at : n;
                memcpy(buf, c->ring + at, first);
                memcpy((uint8_t *)buf + first, c->ring, n - first);
                v->tail += n;
                *is_msg = false;
        }
        if (!n && !pending_locked(v))
                v->signalled = false;
        pthread_mutex_unlock(&c->mu);
        return n;
}

bool console_viewer_pending(struct console_viewer *v)
{
        pthread_mutex_lock(&v->c->mu);
        bool r = pending_locked(v);
        pthread_mutex_unlock(&v->c->mu);
        return r;
}

uint64_t console_viewer_dropped(struct console_viewer *v)
{
        pthread_mutex_lock(&v->c->mu);
        uint64_t r = v->dropped;
        pthread_mutex_unlock(&v->c->mu);
        return r;
}

int console_viewer_take(struct console_viewer *v, char *msg, size_t msg_size)
{
        struct console *c = v->c;
        int r = 0;
        pthread_mutex_lock(&c->mu);
        if (c->writer && c->writer != v) {
                snprintf(msg, msg_size,
                         "%s (viewer %u) holds the write lock; you can type once they release it or disconnect.",
                         c->writer->name, c->writer->id);
                r = -EBUSY;
        } else if (!c->writer) {
                c->writer = v;
                v->lease = 0;
                broadcast_lock_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        return r;
}

int console_viewer_take_leased(struct console_viewer *v, int64_t lease, char *msg, size_t msg_size)
{
        if (lease <= 0)
                return console_viewer_take(v, msg, msg_size);
        struct console *c = v->c;
        pthread_mutex_lock(&c->mu);
        if (c->writer && c->writer != v && c->writer->lease != lease) {
                /* One lock message: the lock went to the holder, and why. */
                char why[256];
                snprintf(why, sizeof(why), "%s (viewer %u) took the write lock with the board's lease; %s (viewer %u) "
                         "held it without that lease.", v->name, v->id, c->writer->name, c->writer->id);
                c->ninput = 0;
                c->reset_asked = false;
                c->writer = v;
                v->lease = lease;
                broadcast_lock_why_locked(c, "lease_holder_took", why);
                pthread_mutex_unlock(&c->mu);
                return 0;
        }
        int r = 0;
        if (c->writer && c->writer != v) {
                snprintf(msg, msg_size,
                         "%s (viewer %u) holds the write lock with the same lease; you can type once they release it "
                         "or disconnect.", c->writer->name, c->writer->id);
                r = -EBUSY;
        } else {
                bool changed = c->writer != v || v->lease != lease;
                c->writer = v;
                v->lease = lease;
                if (changed)
                        broadcast_lock_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        return r;
}

int console_viewer_release(struct console_viewer *v, char *msg, size_t msg_size)
{
        struct console *c = v->c;
        int r = 0;
        pthread_mutex_lock(&c->mu);
        if (c->writer != v) {
                snprintf(msg, msg_size, "You do not hold the write lock.");
                r = -EPERM;
        } else {
                c->writer = NULL;
                broadcast_lock_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        return r;
}

void console_set_holder(struct console *c, const char *who)
{
        pthread_mutex_lock(&c->mu);
        snprintf(c->holder, sizeof(c->holder), "%s", who ? who : "");
        c->ninput = 0;
        c->reset_asked = false;
        broadcast_status_locked(c);
        pthread_mutex_unlock(&c->mu);
}

/* Why this viewer may not write now, or 0. Caller holds c->mu. */
static int check_write_locked(struct console_viewer *v, char *msg, size_t msg_size)
{
        struct console *c = v->c;
        if (c->writer != v) {
                snprintf(msg, msg_size, "%s", c->writer ? "Someone else holds the write lock; you are watching."
                                                        : "Take the write lock first: send {\"type\":\"take\"}.");
                return -EPERM;
        }
        if (c->job) {
                snprintf(msg, msg_size, "Job %lld (%s) is using the port; the console is read-only until it ends.",
                         (long long)c->job, c->job_kind);
                return -EBUSY;
        }
        if (c->holder[0]) {
                snprintf(msg, msg_size, "%s is using the port; the console is read-only until it ends.", c->holder);
                return -EBUSY;
        }
        if (!c->attached || !c->port_open) {
                snprintf(msg, msg_size, "The board is offline or its port is not open; nothing can be sent.");
                return -ENODEV;
        }
        return 0;
}

int console_viewer_input(struct console_viewer *v, const void *data, size_t len, char *msg, size_t msg_size)
{
        struct console *c = v->c;
        pthread_mutex_lock(&c->mu);
        int r = check_write_locked(v, msg, msg_size);
        if (r == 0 && len > CONSOLE_INPUT_MAX - c->ninput) {
                snprintf(msg, msg_size, "The board has not taken the last %zu bytes yet; %zu bytes were not sent.",
                         c->ninput, len);
                r = -ENOBUFS;
        }
        if (r == 0 && len) {
                memcpy(c->input + c->ninput, data, len);
                c->ninput += len;
                if (c->port_wake)
                        c->port_wake(c->port_user);
        }
        pthread_mutex_unlock(&c->mu);
        return r;
}

int console_viewer_reset(struct console_viewer *v, char *msg, size_t msg_size)
{
        struct console *c = v->c;
        pthread_mutex_lock(&c->mu);
        int r = check_write_locked(v, msg, msg_size);
        if (r == 0) {
                c->reset_asked = true;
                if (c->port_wake)
                        c->port_wake(c->port_user);
        }
        pthread_mutex_unlock(&c->mu);
        return r;
}
