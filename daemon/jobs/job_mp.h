/* What the MicroPython job kinds (run, fs_*, deploy, soft_reset) share: connecting to the board
 * from the state the previous job on this port kept, and leaving it for the next one. */
#ifndef CORRAL_JOB_MP_H
#define CORRAL_JOB_MP_H

#include "engines/mp/mp_repl.h"
#include "engines/mp/mp_session.h"
#include "jobs/job_run.h"

/* Connect r to the job's port (bounded by the job's time, recovery steps in the job log).
 * *kept is the worker's memo for this port (or NULL); pass it to job_mp_leave(). 0, or the
 * jr_fail() result with the diagnosis. */
int job_mp_connect(struct job_run *jr, struct mp_repl *r, struct mp_session **kept);
/* Keep what the session learned for the next job and stay in the raw REPL: the worker sends the
 * Ctrl-B when a person needs the friendly prompt (jr_port_handback()). Without a memo, go back
 * to the friendly prompt now. */
void job_mp_leave(struct job_run *jr, struct mp_repl *r, struct mp_session *kept);

#endif
