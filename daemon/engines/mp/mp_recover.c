/* The MicroPython recovery ladder and connect: get a board back to the raw REPL or say why not. */
#include "engines/mp/mp_repl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void say(struct mp_repl *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct mp_repl *r, const char *fmt, ...)
{
        char line[256];
        va_list ap;
        if (!r->log)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        r->log(line, r->log_user);
}

/* Errors that no further step can fix (board gone, job cancelled). */
static bool fatal(int rc)
{
        return rc < 0 && rc != -ETIMEDOUT && rc != -EPROTO && rc != -ENOTSUP && rc != -EHOSTDOWN;
}

/* Rungs of the ladder: four, and a fifth (power cycle) when the board has a power backend. */
static int rungs(const struct mp_repl *r)
{
        return r->power_cycle ? 5 : 4;
}

/* Step outcome: 0 at the raw prompt, -EAGAIN try the next step, else fatal. */
static int step_end(struct mp_repl *r, int n, const char *what, int rc, char *msg, size_t msg_size)
{
        char m[160];
        int total = rungs(r);
        if (rc == 0)
                rc = mp_repl_enter_raw(r, m, sizeof(m));
        else
                snprintf(m, sizeof(m), "%s", msg);
        if (rc == 0) {
                say(r, "recover %d/%d (%s): raw REPL is back", n, total, what);
                return 0;
        }
        if (fatal(rc)) {
                snprintf(msg, msg_size, "%s", m);
                say(r, "recover %d/%d (%s): %s", n, total, what, m);
                return rc;
        }
        say(r, "recover %d/%d (%s): no raw prompt", n, total, what);
        mp_repl_count(r, "sync_retries", 1);
        return -EAGAIN;
}

static int diag_fail(struct mp_repl *r, char *msg, size_t msg_size)
{
        struct mp_diag d;
        mp_diag_classify(r->recent, r->recent_len, &d);
        if (d.kind == MP_DIAG_PROMPT)
                snprintf(msg, msg_size, "the board shows a MicroPython prompt but does not enter the "
                         "raw REPL");
        else
                snprintf(msg, msg_size, "%s", d.message);
        say(r, "recover: giving up: %s", msg);
        return -EHOSTDOWN;
}

void mp_repl_set_budget(struct mp_repl *r, int ms)
{
        r->deadline_ms = ms > 0 ? mp_repl_now(r) + (uint64_t)ms : 0;
}

/* The job's time is up: stop climbing the ladder and say what was seen so far. */
static bool out_of_time(struct mp_repl *r, int next_step)
{
        if (!r->deadline_ms || mp_repl_now(r) < r->deadline_ms)
                return false;
        say(r, "recover %d/%d: skipped, the job's time is up", next_step, rungs(r));
        return true;
}

/* The last rung: power off and on through the board's power backend (the callback reopens the
 * port), then wait for the boot banner and interrupt into the raw REPL. */
static int power_rung(struct mp_repl *r, char *msg, size_t msg_size)
{
        if (!r->power_cycle || out_of_time(r, 5))
                return diag_fail(r, msg, msg_size);
        char m[256] = "";
        say(r, "recover 5/5 (power cycle): cutting the board's power");
        int rc = r->power_cycle(r, r->power_user, m, sizeof(m));
        if (rc == -ECANCELED || rc == -ENODEV) {
                snprintf(msg, msg_size, "%s", m);
                say(r, "recover 5/5 (power cycle): %s", m);
                return rc;
        }
        if (rc < 0) {
                say(r, "recover 5/5 (power cycle): %s: %s", rc == -ENOTSUP ? "skipped" : "failed", m);
                return diag_fail(r, msg, msg_size);
        }
        r->mode = MP_MODE_UNKNOWN;
        r->recent_len = 0;
        r->pend_off = r->pend_len = 0;
        r->xfer_ready = false;
        say(r, "recover 5/5 (power cycle): power is back (%s)", m);
        rc = mp_repl_read_until(r, ">>> ", 4, r->boot_wait_ms, NULL, 0);
        if (!fatal(rc))
                rc = mp_repl_interrupt(r, msg, msg_size);
        if ((rc = step_end(r, 5, "power cycle", rc, msg, msg_size)) != -EAGAIN)
                return rc;
        return diag_fail(r, msg, msg_size);
}

int mp_repl_recover(struct mp_repl *r, char *msg, size_t msg_size)
{
        int rc;

        rc = mp_repl_interrupt(r, msg, msg_size);
        if ((rc = step_end(r, 1, "Ctrl-C twice", rc, msg, msg_size)) != -EAGAIN)
                return rc;

        if (out_of_time(r, 2))
                return diag_fail(r, msg, msg_size);
        rc = port_write(r->port, "\x02", 1, r->io_timeout_ms);
        if (rc >= 0)
                rc = mp_repl_drain(r, 100, 1000);
        if (rc < 0)
                snprintf(msg, msg_size, "Ctrl-B failed: %s", strerror(-rc));
        if ((rc = step_end(r, 2, "Ctrl-B then Ctrl-A", rc < 0 ? rc : 0, msg, msg_size)) != -EAGAIN)
                return rc;

        if (out_of_time(r, 3))
                return diag_fail(r, msg, msg_size);
        rc = port_write(r->port, "\x04", 1, r->io_timeout_ms);
        if (rc >= 0) {
                rc = mp_repl_read_until(r, "soft reboot", 11, r->io_timeout_ms, NULL, 0);
                say(r, "recover 3/4 (soft reset): %s", rc == 0 ? "the board rebooted" : "no 'soft reboot'");
                if (!fatal(rc))
                        rc = mp_repl_interrupt(r, msg, msg_size);
        } else {
                snprintf(msg, msg_size, "Ctrl-D failed: %s", strerror(-rc));
        }
        if ((rc = step_end(r, 3, "soft reset", rc, msg, msg_size)) != -EAGAIN)
                return rc;

        if (out_of_time(r, 4))
                return diag_fail(r, msg, msg_size);
        rc = mp_repl_hard_reset(r, msg, msg_size);
        if (rc == -ENOTSUP) {
                say(r, "recover 4/%d (hard reset): skipped: %s", rungs(r), msg);
                return power_rung(r, msg, msg_size);
        }
        if (rc == 0) {
                rc = mp_repl_read_until(r, ">>> ", 4, r->boot_wait_ms, NULL, 0);
                if (!fatal(rc))
                        rc = mp_repl_interrupt(r, msg, msg_size);
        }
        if ((rc = step_end(r, 4, "hard reset", rc, msg, msg_size)) != -EAGAIN)
                return rc;
        return power_rung(r, msg, msg_size);
}

int mp_repl_connect(struct mp_repl *r, struct mp_diag *ret_diag, char *msg, size_t msg_size)
{
        struct mp_diag d;
        int rc;

        r->recent_len = 0;
        rc = -ETIMEDOUT; /* not at the raw prompt yet */
        if (r->kept_mode == MP_MODE_RAW || r->kept_mode == MP_MODE_FRIENDLY) {
                /* An earlier session left the board at a prompt with an empty line and nothing
                 * used the port since: a lone Ctrl-A proves it (the raw prompt answers it in both
                 * REPLs), no need to interrupt anything. */
                r->kept_mode = MP_MODE_UNKNOWN;
                rc = mp_repl_raw_prompt(r, "\x01", 1, r->check_timeout_ms, msg, msg_size);
                if (rc < 0 && !fatal(rc))
                        say(r, "connect: the board was left at a prompt but did not answer Ctrl-A "
                            "within %d ms; interrupting it", r->check_timeout_ms);
        }
        if (rc < 0 && !fatal(rc)) {
                rc = mp_repl_interrupt(r, msg, msg_size);
                if (rc == 0)
                        rc = mp_repl_enter_raw(r, msg, msg_size);
        }
        if (rc == 0)
                return 0;
        if (!fatal(rc))
                rc = mp_repl_recover(r, msg, msg_size);
        if (rc == 0)
                return 0;
        if (rc != -EHOSTDOWN) {
                mp_diag_port_error(rc, r->port ? r->port->url : NULL, &d);
                if (rc == -ECANCELED) {
                        d.code = "cancelled";
                        snprintf(d.message, sizeof(d.message), "cancelled");
                }
        } else {
                mp_diag_classify(r->recent, r->recent_len, &d);
                if (d.kind == MP_DIAG_PROMPT)
                        d.code = "no_raw_repl";
        }
        if (rc != -EHOSTDOWN)
                snprintf(msg, msg_size, "%s", d.message);
        if (ret_diag)
                *ret_diag = d;
        return rc;
}
