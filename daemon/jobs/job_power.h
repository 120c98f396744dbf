/* Power control from a job: cycle the board's power through its backend (hint "power", from the
 * config) and reopen its port; the power_cycle job kind, and the MicroPython recovery ladder's
 * last rung. */
#ifndef CORRAL_JOB_POWER_H
#define CORRAL_JOB_POWER_H

#include <stddef.h>

#include "engines/mp/mp_repl.h"
#include "jobs/job_run.h"

/* Off, pause, on, then reopen the port (waiting up to the policy's power_on_wait_ms). Logs each
 * step; counts "power_cycles". 0; -ENOTSUP no backend (msg says so); -ENODEV the port did not
 * come back; -EIO / -ETIMEDOUT the backend failed (msg). */
int job_power_cycle(struct job_run *jr, char *msg, size_t msg_size);
/* mp_power_fn for the recovery ladder (user: the job_run); sets r->port to the reopened port. */
int job_power_mp(struct mp_repl *r, void *user, char *msg, size_t msg_size);

#endif
