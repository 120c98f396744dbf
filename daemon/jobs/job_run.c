/* The job run handed to a kind (job_run.h), implemented over the worker: parameters, the port,
 * progress, log lines, facts, output events, failure, the time left, the port memo. Runs on the
 * worker thread. */
#include "jobs/job_run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "jobs/console.h"
#include "jobs/kinds.h"
#include "jobs/worker_internal.h"
#include "store/store.h"
#include "utf8.h"
#include "util.h"

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
        /* Board output is bytes; events are JSON text: repaired by the one rule of utf8.h. */
        json_t *text = utf8_json_string(data, len);
        if (!text)
                return;
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

void jr_health(struct job_run *jr, const char *key, long long n)
{
        if (!n || !key)
                return;
        if (!jr->health)
                jr->health = json_object();
        json_t *v = json_object_get(jr->health, key);
        json_object_set_new(jr->health, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

int jr_port_reopen(struct job_run *jr, int timeout_ms)
{
        struct worker *w = jr->w;
        worker_drop_port(w, NULL);
        uint64_t end = util_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
        for (;;) {
                int r = worker_ensure_port(w);
                if (r == 0) {
                        port_cancel(w->port, false);
                        return 0;
                }
                if (jr_cancelled(jr))
                        return -ECANCELED;
                if (util_mono_ms() >= end)
                        return r;
                usleep(200 * 1000);
        }
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
