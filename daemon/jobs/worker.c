/* Port worker thread: runs a board's jobs one at a time over the port it owns, records progress,
 * logs, facts and results in the store, and publishes job events. Implements job_run.h. Between
 * jobs it pumps the console: board bytes into the ring, viewers' input out to the port. */
#include "jobs/worker.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jobs/console.h"
#include "jobs/console_annotate.h"
#include "jobs/job_run.h"
#include "jobs/port_memo.h"
#include "log.h"
#include "ports/port.h"
#include "store/store.h"
#include "util.h"

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
};

static struct job *job_free(struct job *j)
{
        if (j) {
                json_decref(j->params);
                free(j);
        }
        return NULL;
}

/* ---- job_run.h implementation ---- */

struct port *jr_port(struct job_run *jr) { return jr->w->port; }
const json_t *jr_params(struct job_run *jr) { return jr->params_override ? jr->params_override : jr->job->params; }
void jr_params_override(struct job_run *jr, const json_t *params) { jr->params_override = params; }
const char *jr_board_id(struct job_run *jr) { return jr->w->board_id; }
const json_t *jr_board_hints(struct job_run *jr) { return jr->w->hints; }
struct store *jr_store(struct job_run *jr) { return jr->w->store; }

const json_t *jr_board_facts(struct job_run *jr)
{
        if (!jr->facts) {
                json_t *b = NULL;
                if (store_board_get(jr->w->store, jr->w->board_id, &b) == 0) {
                        json_t *f = json_object();
                        const char *k;
                        json_t *v;
                        json_object_foreach(json_object_get(b, "facts"), k, v)
                                json_object_set(f, k, json_object_get(v, "value"));
                        jr->facts = f;
                }
                json_decref(b);
                if (!jr->facts)
                        jr->facts = json_object();
        }
        return jr->facts;
}

/* Record progress (and, with detail, the transfer figures) unless throttled. Steals detail. */
static void progress_set(struct job_run *jr, int percent, const char *phase, json_t *detail)
{
        if (percent < 0)
                percent = 0;
        if (percent > 100)
                percent = 100;
        if (!phase)
                phase = jr->last_phase;
        uint64_t now = util_mono_ms();
        bool phase_changed = strcmp(phase, jr->last_phase) != 0;
        /* Throttle to 10 updates/s within a phase, but always record 100 % and phase changes. */
        if ((!phase_changed && percent == jr->last_pct && !detail) ||
            (!phase_changed && percent != 100 && now - jr->last_progress_ms < 100)) {
                json_decref(detail);
                return;
        }
        jr->last_pct = percent;
        snprintf(jr->last_phase, sizeof(jr->last_phase), "%s", phase);
        jr->last_progress_ms = now;
        json_t *ev = json_pack("{s:I, s:s, s:i, s:s}", "job", (json_int_t)jr->job->id, "board", jr->w->board_id,
                               "progress", percent, "phase", jr->last_phase);
        if (detail) {
                store_job_set_progress_detail(jr->w->store, jr->job->id, percent, jr->last_phase, detail);
                json_object_update(ev, detail);
                json_decref(detail);
        } else {
                store_job_set_progress(jr->w->store, jr->job->id, percent, jr->last_phase);
        }
        events_publish(jr->w->events, "job.progress", ev);
}

void jr_progress(struct job_run *jr, int percent, const char *phase)
{
        progress_set(jr, percent, phase, NULL);
}

void jr_progress_bytes(struct job_run *jr, int percent, const char *phase, uint64_t done, uint64_t total,
                       double kbit_per_s)
{
        progress_set(jr, percent, phase,
                     json_pack("{s:I, s:I, s:f}", "bytes_done", (json_int_t)done, "bytes_total", (json_int_t)total,
                               "kbit_per_s", kbit_per_s));
}

void jr_log(struct job_run *jr, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        store_job_log_append(jr->w->store, jr->job->id, line);
        events_publish(jr->w->events, "job.log",
                       json_pack("{s:I, s:s, s:s}", "job", (json_int_t)jr->job->id, "board", jr->w->board_id,
                                 "line", line));
}

void jr_fact(struct job_run *jr, const char *key, json_t *value)
{
        if (!value)
                return;
        store_fact_set(jr->w->store, jr->w->board_id, key, value, jr->job->id);
        if (jr->facts)
                json_object_set(jr->facts, key, value);
        events_publish(jr->w->events, "board.fact",
                       json_pack("{s:s, s:s, s:O, s:I}", "board", jr->w->board_id, "key", key, "value", value,
                                 "job", (json_int_t)jr->job->id));
        json_decref(value);
}

void jr_result_set(struct job_run *jr, const char *key, json_t *value)
{
        if (!jr->result)
                jr->result = json_object();
        json_object_set_new(jr->result, key, value ? value : json_null());
}

void jr_output(struct job_run *jr, const char *stream, const void *data, size_t len)
{
        if (!len)
                return;
        /* Viewers of the board's console see a job's output too (and it stays in the replay). */
        console_feed(jr->w->console, data, len);
        /* Board output is bytes; events are JSON text: invalid UTF-8 becomes U+FFFD. */
        json_t *text = json_stringn((const char *)data, len);
        if (!text) {
                char *clean = malloc(len * 3 + 1);
                size_t o = 0;
                if (!clean)
                        return;
                for (size_t i = 0; i < len; i++) {
                        unsigned char c = ((const unsigned char *)data)[i];
                        if (c < 0x80) {
                                clean[o++] = (char)c;
                        } else {
                                memcpy(clean + o, "\xEF\xBF\xBD", 3);
                                o += 3;
                        }
                }
                text = json_stringn(clean, o);
                free(clean);
                if (!text)
                        return;
        }
        events_publish(jr->w->events, "job.output",
                       json_pack("{s:I, s:s, s:s, s:o}", "job", (json_int_t)jr->job->id, "board",
                                 jr->w->board_id, "stream", stream, "data", text));
}

int jr_fail(struct job_run *jr, const char *code, const char *fmt, ...)
{
        if (!jr->failed) {
                jr->failed = true;
                snprintf(jr->fail_code, sizeof(jr->fail_code), "%s", code ? code : "failed");
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(jr->fail_msg, sizeof(jr->fail_msg), fmt, ap);
                va_end(ap);
        }
        return -EIO;
}

bool jr_cancelled(struct job_run *jr)
{
        pthread_mutex_lock(&jr->w->mu);
        bool c = jr->w->running_cancel || jr->w->running_timed_out || jr->w->stop;
        pthread_mutex_unlock(&jr->w->mu);
        return c;
}

int jr_time_left_ms(struct job_run *jr)
{
        uint64_t now = util_mono_ms();
        return now >= jr->soft_deadline ? 0 : (int)(jr->soft_deadline - now);
}

void *jr_port_memo(struct job_run *jr, size_t size, bool *disturbed)
{
        void *m = port_memo_claim(&jr->w->memo, jr->job->kind, size, disturbed);
        jr->memo_claimed = jr->memo_claimed || m;
        return m;
}

void jr_port_handback(struct job_run *jr, const void *data, size_t len)
{
        if (jr->memo_claimed)
                (void)port_memo_set_handback(&jr->w->memo, data, len);
}

/* ---- worker thread ---- */

/* Give the board back to people as the last job promised (best effort, once). settle: the port
 * is about to close; let the board answer first (what it prints is dropped). */
static void handback_send(struct worker *w, bool settle)
{
        struct port_memo *m = &w->memo;
        if (w->port && m->handback_len && port_write(w->port, m->handback, m->handback_len, HANDBACK_WRITE_MS) >= 0 &&
            settle) {
                uint8_t buf[512];
                uint64_t end = util_mono_ms() + HANDBACK_SETTLE_MS;
                while (util_mono_ms() < end && port_read(w->port, buf, sizeof(buf), HANDBACK_QUIET_MS) > 0)
                        ;
        }
        if (m->handback_len)
                port_memo_disturb(m);
        m->handback_len = 0;
}

static void notify_state(struct worker *w)
{
        if (w->on_state)
                w->on_state(w->user, w->board_id);
}

static void publish_job_state(struct worker *w, int64_t id, const char *kind, const char *state,
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

static struct unsaved *unsaved_free(struct unsaved *u)
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
                unsaved_free(old);
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
static void unsaved_retry_locked(struct worker *w, bool force)
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
                unsaved_free(u);
        }
}

static void unsaved_retry(struct worker *w)
{
        pthread_mutex_lock(&w->unsaved_mu);
        unsaved_retry_locked(w, false);
        pthread_mutex_unlock(&w->unsaved_mu);
}

static void finish_job(struct worker *w, struct job *j, const char *state, json_t *result, const char *code,
                       const char *msg)
{
        pthread_mutex_lock(&w->unsaved_mu);
        unsaved_retry_locked(w, true); /* the store keeps the order in which jobs ended */
        int r = w->unsaved ? -EAGAIN : store_job_finish(w->store, j->id, state, result, code, msg);
        if (r < 0)
                unsaved_add_locked(w, j->id, state, result, code, msg, r);
        pthread_mutex_unlock(&w->unsaved_mu);
        publish_job_state(w, j->id, j->kind->name, state, code, msg, result);
}

/* Open the port if it is not open; returns 0 or negative errno with w->port_error set. */
static int ensure_port(struct worker *w)
{
        if (w->port)
                return 0;
        struct port *p = NULL;
        int r = port_open(w->url, w->baud ? w->baud : 115200, &p);
        pthread_mutex_lock(&w->mu);
        if (r < 0) {
                if (r == -EBUSY)
                        snprintf(w->port_error, sizeof(w->port_error),
                                 "%s is held by another program (close it, or stop ModemManager/brltty)", w->url);
                else if (r == -EACCES)
                        snprintf(w->port_error, sizeof(w->port_error),
                                 "no permission to open %s (is corrald in the dialout group?)", w->url);
                else
                        snprintf(w->port_error, sizeof(w->port_error), "cannot open %s: %s", w->url, strerror(-r));
        } else {
                w->port = p;
                port_use_wake_fd(p, w->wake_fd);
                w->port_error[0] = '\0';
                port_memo_wipe(&w->memo);
                memset(&w->annot, 0, sizeof(w->annot));
        }
        char why[sizeof(w->port_error)];
        snprintf(why, sizeof(why), "%s", w->port_error);
        pthread_mutex_unlock(&w->mu);
        console_set_port(w->console, r == 0, why);
        return r;
}

static void drop_port(struct worker *w, const char *why)
{
        handback_send(w, true);
        port_memo_wipe(&w->memo);
        pthread_mutex_lock(&w->mu);
        struct port *p = w->port;
        w->port = NULL;
        if (why)
                snprintf(w->port_error, sizeof(w->port_error), "%s", why);
        pthread_mutex_unlock(&w->mu);
        port_close(p);
        console_set_port(w->console, false, why);
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
        publish_job_state(w, j->id, j->kind->name, "running", NULL, NULL, NULL);
        notify_state(w);

        int r = ensure_port(w);
        if (r < 0) {
                jr_fail(&jr, r == -EBUSY ? "port_busy" : "port_unavailable", "%s", w->port_error);
        } else {
                port_cancel(w->port, false);
                /* The board is in the state a kind left it for its own next job: a kind that
                 * never claimed the memo gets it the way people expect. */
                if (!port_memo_kind(&w->memo, j->kind))
                        handback_send(w, false);
                r = j->kind->run(&jr);
                if (!jr.memo_claimed)
                        handback_send(w, false); /* still pending: this job did not touch the board */
                port_memo_job_end(&w->memo, jr.memo_claimed);
        }

        pthread_mutex_lock(&w->mu);
        bool cancelled = w->running_cancel, timed_out = w->running_timed_out, gone = w->gone;
        bool stopping = w->stop;
        pthread_mutex_unlock(&w->mu);

        const char *state = "succeeded";
        const char *code = NULL;
        char msg[1200];
        msg[0] = '\0';
        if (r < 0 || jr.failed) {
                state = "failed";
                code = jr.failed ? jr.fail_code : "failed";
                snprintf(msg, sizeof(msg), "%s", jr.failed ? jr.fail_msg : strerror(-r));
                if (r == -ENODEV || gone) {
                        code = "board_gone";
                        if (!jr.failed || strcmp(jr.fail_code, "board_gone"))
                                snprintf(msg, sizeof(msg), "The board was disconnected during the %s job%s%s",
                                         j->kind->name, jr.failed ? ": " : ".", jr.failed ? jr.fail_msg : "");
                }
                if (stopping) {
                        state = "interrupted";
                        code = "interrupted";
                        snprintf(msg, sizeof(msg), "corrald was stopped while this job was running.");
                } else if (cancelled) {
                        state = "cancelled";
                        code = "cancelled";
                        snprintf(msg, sizeof(msg), "Cancelled on request.");
                } else if (timed_out && (r == -ECANCELED || (jr.failed && !strcmp(jr.fail_code, "cancelled")))) {
                        /* The hard deadline cancelled the port; kinds may report that as "cancelled". */
                        code = "timeout";
                        snprintf(msg, sizeof(msg), "The %s job did not finish within its %d s timeout%s%s%s.",
                                 j->kind->name, timeout_s, jr.last_phase[0] ? " (it was " : "", jr.last_phase,
                                 jr.last_phase[0] ? ")" : "");
                }
        }
        if (!jr.result)
                jr.result = json_object();
        json_object_set_new(jr.result, "elapsed_ms", json_integer((json_int_t)(util_mono_ms() - start)));
        /* A port whose device is gone is closed BEFORE the job's end is published, so whoever sees
         * "board_gone" also sees the port closed (it used to close later, from the console pump,
         * and a client reading the board right after the job's end found the port still open).
         * A cancelled port is closed too; the next job reopens it. */
        bool is_gone = r == -ENODEV || (code && !strcmp(code, "board_gone"));
        if (is_gone || (w->port && r == -ECANCELED))
                drop_port(w, is_gone ? "the device disappeared" : NULL);
        finish_job(w, j, state, jr.result, code, code ? msg : NULL);
        if (code)
                log_notice("board %s: job %lld (%s) %s: %s", w->board_id, (long long)j->id, j->kind->name, state,
                           msg);
        json_decref(jr.result);
        json_decref(jr.facts);
        console_set_job(w->console, 0, NULL);
}

/* A hard reset asked for on the console: the same RTS pulse as the reset job. */
static void console_hard_reset(struct worker *w)
{
        int r = port_set_lines(w->port, false, true);
        if (r == 0) {
                port_sleep_ms(w->port, CONSOLE_RESET_HOLD_MS);
                r = port_set_lines(w->port, false, false);
        }
        char msg[512];
        if (r == -ENOTSUP)
                snprintf(msg, sizeof(msg), "This port (%s) carries no DTR/RTS lines, so corral cannot reset the "
                         "board; press its RESET button or use an RFC 2217 or USB serial connection.", w->url);
        else if (r < 0)
                snprintf(msg, sizeof(msg), "Could not pulse the reset line: %s.", strerror(-r));
        else
                snprintf(msg, sizeof(msg), "EN was held low for %d ms (RTS); the board boots from flash.",
                         CONSOLE_RESET_HOLD_MS);
        console_report_reset(w->console, r == 0, msg);
}

/* A board that runs MicroPython: its family says so, or a job learned its version. */
static bool is_micropython(struct worker *w)
{
        const char *fam = json_string_value(json_object_get(w->hints, "family"));
        if (fam && !strcmp(fam, "micropython"))
                return true;
        json_t *b = NULL;
        bool mp = store_board_get(w->store, w->board_id, &b) == 0 &&
                  json_object_get(json_object_get(b, "facts"), "mp_version") != NULL;
        json_decref(b);
        return mp;
}

/* One console pump step between jobs: send what the writer typed, then wait a slice for what the
 * board prints and hand it to the console. Returns the read's result (bytes, 0, negative errno). */
static int pump_console(struct worker *w, uint8_t *buf, size_t size)
{
        uint8_t in[1024];
        bool reset = false;
        bool interactive = console_interactive(w->console);
        if (interactive)
                handback_send(w, false); /* before the writer's first key */
        size_t nin = console_input_take(w->console, in, sizeof(in), &reset);
        if (reset)
                console_hard_reset(w);
        if (reset || nin)
                port_memo_disturb(&w->memo);
        if (nin) {
                int r = port_write(w->port, in, nin, 1000);
                if (r < 0 && r != -ETIMEDOUT) /* a stalled port loses that input, nothing more */
                        return r;
        }
        /* A fresh prompt for a new viewer, once no job is waiting: a queued job goes first (and
         * the board is not sent Ctrl-B, CR and that job's Ctrl-C, Ctrl-A all at once). */
        pthread_mutex_lock(&w->mu);
        bool job_waiting = w->head != NULL;
        pthread_mutex_unlock(&w->mu);
        if (!job_waiting && console_prompt_take(w->console) && is_micropython(w)) {
                handback_send(w, false); /* back from a kept raw REPL first */
                port_memo_disturb(&w->memo);
                int pr = console_fresh_prompt(w->port, w->console);
                if (pr < 0)
                        return pr;
        }
        int n = port_read(w->port, buf, size, PUMP_SLICE_MS);
        if (n > 0) {
                console_feed(w->console, buf, (size_t)n);
                port_memo_disturb(&w->memo);
                int ar = console_annotate_pump(&w->annot, w->port, w->console, w->hints, buf, (size_t)n);
                if (ar < 0)
                        return ar;
        }
        return n;
}

/* Console wake-up (any thread, console lock held): only poke the eventfd. */
static void wake_pump(void *user)
{
        struct worker *w = user;
        uint64_t v = 1;
        if (write(w->wake_fd, &v, sizeof(v)) < 0) {
                /* an eventfd write only fails on counter overflow: the pump is awake anyway */
        }
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        uint8_t buf[4096];
        console_attach(w->console, wake_pump, w);
        pthread_mutex_lock(&w->mu);
        for (;;) {
                if (w->stop || (w->gone && !w->head))
                        break;
                struct job *j = w->head;
                if (j) {
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
                        job_free(j);
                        notify_state(w);
                        pthread_mutex_lock(&w->mu);
                        continue;
                }
                /* Idle: keep the port open and pump the console. */
                pthread_mutex_unlock(&w->mu);
                unsaved_retry(w);
                uint64_t now = util_mono_ms();
                if (!w->port && now >= w->next_open_ms) {
                        bool had_error = w->port_error[0] != '\0';
                        if (ensure_port(w) < 0) {
                                w->next_open_ms = now + REOPEN_BACKOFF_MS;
                                if (!had_error)
                                        notify_state(w);
                        } else {
                                notify_state(w);
                        }
                }
                if (w->port) {
                        int n = pump_console(w, buf, sizeof(buf));
                        if (n < 0 && n != -ECANCELED) {
                                drop_port(w, n == -ENODEV ? "the device disappeared" : strerror(-n));
                                w->next_open_ms = util_mono_ms() + REOPEN_BACKOFF_MS;
                                notify_state(w);
                        }
                        pthread_mutex_lock(&w->mu);
                        /* A wake-up cancel with nothing queued must not leave reads failing. */
                        if (n == -ECANCELED && !w->head && !w->stop && w->port)
                                port_cancel(w->port, false);
                } else {
                        pthread_mutex_lock(&w->mu);
                        if (!w->head && !w->stop && !w->gone) {
                                struct timespec ts;
                                clock_gettime(CLOCK_REALTIME, &ts);
                                ts.tv_nsec += PUMP_SLICE_MS * 1000000L;
                                if (ts.tv_nsec >= 1000000000L) {
                                        ts.tv_sec++;
                                        ts.tv_nsec -= 1000000000L;
                                }
                                pthread_cond_timedwait(&w->cv, &w->mu, &ts);
                        }
                }
        }
        pthread_mutex_unlock(&w->mu);
        /* Stopping cancelled the port; the handback still gets its one short write. */
        if (w->port && w->memo.handback_len)
                port_cancel(w->port, false);
        drop_port(w, NULL);
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
        pthread_cond_init(&w->cv, NULL);
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
                /* Wake an idle pump read so the job starts at once (never a running job's reads). */
                if (w->port && !w->running)
                        port_cancel(w->port, true);
        }
        pthread_mutex_unlock(&w->mu);
        if (r < 0)
                job_free(j);
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
        finish_job(w, j, "cancelled", NULL, "cancelled", "Cancelled before it started.");
        job_free(j);
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
                finish_job(w, q, "failed", NULL, "board_gone",
                           "The board was disconnected before this job started.");
                job_free(q);
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

void worker_status(struct worker *w, struct worker_status *s)
{
        memset(s, 0, sizeof(*s));
        pthread_mutex_lock(&w->mu);
        s->busy = w->running != NULL;
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
                job_free(j);
                j = next;
        }
        unsaved_retry_locked(w, true); /* no other thread is left */
        for (struct unsaved *u = w->unsaved; u;) {
                struct unsaved *next = u->next;
                log_error("board %s: the end of job %lld (%s) was never recorded; the next start marks it "
                          "interrupted", w->board_id, (long long)u->id, u->state);
                unsaved_free(u);
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
