/* Connect/leave helpers shared by the MicroPython job kinds (job_run_script.c, job_fs.c). */
#include "jobs/job_mp.h"

#include <stdio.h>

static void log_line(const char *line, void *user)
{
        jr_log(user, "%s", line);
}

int job_mp_connect(struct job_run *jr, struct mp_repl *r, struct mp_session **kept)
{
        struct mp_diag d = { 0 };
        char msg[512];
        bool disturbed = true;
        mp_repl_init(r, jr_port(jr));
        *kept = jr_port_memo(jr, sizeof(**kept), &disturbed);
        mp_session_load(r, *kept, disturbed);
        mp_repl_set_budget(r, jr_time_left_ms(jr));
        r->log = log_line;
        r->log_user = jr;
        jr_progress(jr, 5, "connecting");
        int rc = mp_repl_connect(r, &d, msg, sizeof(msg));
        if (rc < 0)
                return jr_fail(jr, d.code ? d.code : "no_answer", "%s", msg);
        return 0;
}

void job_mp_leave(struct job_run *jr, struct mp_repl *r, struct mp_session *kept)
{
        char m[128];
        if (!kept) {
                if (r->mode == MP_MODE_RAW)
                        mp_repl_exit_raw(r, m, sizeof(m)); /* leave a friendly prompt for people */
                return;
        }
        mp_session_save(r, kept);
        jr_port_handback(jr, "\x02", r->mode == MP_MODE_RAW ? 1 : 0);
}
