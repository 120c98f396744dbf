/* Connect/leave helpers shared by the MicroPython job kinds (job_run_script.c, job_fs.c). */
#include "jobs/job_mp.h"

#include <stdio.h>

#include "jobs/job_power.h"
#include "util.h"

static void log_line(const char *line, void *user)
{
        jr_log(user, "%s", line);
}

static void count(const char *key, long long n, void *user)
{
        jr_health(user, key, n);
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
        r->count = count;
        r->count_user = jr;
        /* A board with a power backend gets a last rung: power off and on. */
        if (json_string_value(json_object_get(jr_board_hints(jr), "power"))) {
                r->power_cycle = job_power_mp;
                r->power_user = jr;
        }
        jr_progress(jr, 5, "connecting");
        uint64_t t0 = util_mono_ms();
        int rc = mp_repl_connect(r, &d, msg, sizeof(msg));
        if (rc < 0)
                return jr_fail(jr, d.code ? d.code : "no_answer", "%s", msg);
        jr_health(jr, "sync_ms_total", (long long)(util_mono_ms() - t0));
        jr_health(jr, "sync_count", 1);
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
