/* The port worker's port, owned by its thread: open and close (with the handback a job left
 * for the board), and the console pump between jobs (viewers' input out, board bytes into the
 * console ring, the console's hard reset). */
#include "jobs/worker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "jobs/boot_state.h"
#include "jobs/console.h"
#include "ports/port.h"
#include "store/store.h"
#include "util.h"

/* Give the board back to people as the last job promised (best effort, once). settle: the port
 * is about to close; let the board answer first (what it prints is dropped). A write cut short
 * by a cancel (a job queued, corrald stopping) keeps it pending: the board never got it. */
void worker_handback_send(struct worker *w, bool settle)
{
        struct port_memo *m = &w->memo;
        if (!w->port || !m->handback_len)
                return;
        int r = port_write(w->port, m->handback, m->handback_len, HANDBACK_WRITE_MS);
        if (r == -ECANCELED)
                return;
        if (r >= 0 && settle) {
                uint8_t buf[512];
                uint64_t end = util_mono_ms() + HANDBACK_SETTLE_MS;
                while (util_mono_ms() < end && port_read(w->port, buf, sizeof(buf), HANDBACK_QUIET_MS) > 0)
                        ;
        }
        port_memo_disturb(m);
        m->handback_len = 0;
}

void worker_notify_state(struct worker *w)
{
        if (w->on_state)
                w->on_state(w->user, w->board_id);
}

/* Open the port if it is not open; returns 0 or negative errno with w->port_error set. */
int worker_ensure_port(struct worker *w)
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

void worker_drop_port(struct worker *w, const char *why)
{
        worker_handback_send(w, true);
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

/* A hard reset asked for on the console: the same RTS pulse as the reset job. */
static void console_hard_reset(struct worker *w)
{
        int r = port_reset_pulse(w->port, CONSOLE_RESET_HOLD_MS, false, NULL);
        console_annot_hold(&w->annot, util_mono_ms()); /* the ROM log that follows is ours */
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

/* Claim the port for an exchange with the board unless a job or a borrower is waiting. */
static bool pump_claim(struct worker *w)
{
        pthread_mutex_lock(&w->mu);
        bool ok = !w->head && !w->lend_pending && !w->stop && !w->gone;
        w->pump_claim = ok;
        pthread_mutex_unlock(&w->mu);
        return ok;
}

/* End the claim; true when a job or a borrower was queued meanwhile (and is waiting for it). */
static bool pump_release(struct worker *w)
{
        pthread_mutex_lock(&w->mu);
        w->pump_claim = false;
        bool waiting = w->head != NULL || w->lend_pending;
        pthread_mutex_unlock(&w->mu);
        return waiting;
}

static bool annot_claim(void *user)
{
        return pump_claim(user);
}

static bool annot_release(void *user)
{
        return pump_release(user);
}

/* One console pump step between jobs: send what the writer typed, then wait a slice for what the
 * board prints and hand it to the console. Returns the read's result (bytes, 0, negative errno). */
static bool same_boot(const json_t *a, const json_t *b)
{
        static const char *const keys[] = { "state", "reason", "rst_cause" };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])) &&
                    (json_object_get(a, keys[i]) || json_object_get(b, keys[i])))
                        return false;
        return a && b;
}

/* The boot the console's annotator just decoded, as the board fact "boot" (boot_state.h) when it
 * differs from the one stored: the same boot loop seen again a minute later is not news. */
static void record_boot_state(struct worker *w)
{
        if (!w->annot.boot_fresh)
                return;
        w->annot.boot_fresh = false;
        json_t *v = boot_state_from_bootlog(&w->annot.boot, "console", NULL);
        if (!v)
                return;
        json_t *b = NULL;
        const json_t *cur = NULL;
        if (store_board_get(w->store, w->board_id, &b) == 0)
                cur = json_object_get(json_object_get(json_object_get(b, "facts"), "boot"), "value");
        if (!same_boot(cur, v) && store_fact_set(w->store, w->board_id, "boot", v, 0) == 0)
                events_publish(w->events, "board.fact",
                               json_pack("{s:s, s:s, s:O, s:n}", "board", w->board_id, "key", "boot", "value", v, "job"));
        json_decref(b);
        json_decref(v);
}

int worker_pump_console(struct worker *w, uint8_t *buf, size_t size)
{
        uint8_t in[1024];
        bool reset = false;
        bool interactive = console_interactive(w->console);
        if (interactive)
                worker_handback_send(w, false); /* before the writer's first key */
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
         * the board is not sent Ctrl-B, CR and that job's Ctrl-C, Ctrl-A all at once). The check
         * and the claim are one step under mu, and a job queued during the exchange waits for
         * the board's answer (worker_enqueue does not cancel a claimed port). */
        if (pump_claim(w)) {
                int pr = 0;
                if (console_prompt_take(w->console) && is_micropython(w)) {
                        worker_handback_send(w, false); /* back from a kept raw REPL first */
                        port_memo_disturb(&w->memo);
                        pr = console_fresh_prompt(w->port, w->console);
                }
                bool job_waiting = pump_release(w);
                if (pr < 0)
                        return pr;
                if (job_waiting)
                        return 0; /* nobody cancelled the read below: let the job start now */
        }
        int n = port_read(w->port, buf, size, PUMP_SLICE_MS);
        if (n > 0) {
                console_feed(w->console, buf, (size_t)n);
                port_memo_disturb(&w->memo);
                const struct console_annot_claim cl = { annot_claim, annot_release, w };
                int ar = console_annotate_pump(&w->annot, w->port, w->console, w->hints, &cl, buf, (size_t)n);
                record_boot_state(w);
                if (ar < 0)
                        return ar;
        }
        return n;
}

/* Console wake-up (any thread, console lock held): only poke the eventfd. */
void worker_wake_pump(void *user)
{
        struct worker *w = user;
        uint64_t v = 1;
        if (write(w->wake_fd, &v, sizeof(v)) < 0) {
                /* an eventfd write only fails on counter overflow: the pump is awake anyway */
        }
}
