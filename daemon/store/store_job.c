/* Jobs in the store: create, state/progress/finish, capped log lines, get/list as JSON,
 * aggregates for /metrics, and turning jobs a dead daemon left behind into "interrupted". */
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_COLS                                                                                  \
        "id, board_id, kind, params, state, progress, phase, result, error_code, error_message," \
        " created_at, started_at, finished_at, timeout_s, progress_detail"

static bool state_valid(const char *state)
{
        static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled", "interrupted"};
        for (size_t i = 0; state && i < sizeof(states) / sizeof(states[0]); i++)
                if (strcmp(state, states[i]) == 0)
                        return true;
        return false;
}

static bool state_final(const char *state)
{
        return state_valid(state) && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0;
}

static json_t *job_from_row(struct db_stmt *st)
{
        json_t *j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(j, "id", store_col_int(st, 0));
        json_object_set_new(j, "board", store_col_string(st, 1));
        json_object_set_new(j, "kind", store_col_string(st, 2));
        json_object_set_new(j, "params", store_col_json(st, 3));
        json_object_set_new(j, "state", store_col_string(st, 4));
        json_object_set_new(j, "progress", store_col_int(st, 5));
        json_object_set_new(j, "phase", store_col_string(st, 6));
        json_object_set_new(j, "result", store_col_json(st, 7));
        if (db_col_null(st, 8) && db_col_null(st, 9))
                json_object_set_new(j, "error", json_null());
        else
                json_object_set_new(j, "error", json_pack("{s:o, s:o}", "code", store_col_string(st, 8),
                                                          "message", store_col_string(st, 9)));
        json_object_set_new(j, "created_at", store_col_string(st, 10));
        json_object_set_new(j, "started_at", store_col_string(st, 11));
        json_object_set_new(j, "finished_at", store_col_string(st, 12));
        json_object_set_new(j, "timeout_s", store_col_int(st, 13));
        json_object_set_new(j, "progress_detail", store_col_json(st, 14));
        return j;
}

int store_job_create(struct store *s, const char *board_id, const char *kind, const json_t *params,
                     int timeout_s, int64_t *ret_id)
{
        if (!s || !kind || !*kind || (params && !json_is_object(params)) || timeout_s < 0 || !ret_id)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);

        int64_t id = 0;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run_int(s, &id,
                                  "INSERT INTO jobs (board_id, kind, params, state, created_at, timeout_s)"
                                  " VALUES (?1, ?2, coalesce(?3, '{}'), 'queued', ?4, ?5) RETURNING id",
                                  "ssJsi", board_id, kind, params, now, timeout_s);
        if (r == 0)
                r = -EIO; /* an INSERT ... RETURNING without its row */
        r = store_write_unlock(s, r);
        if (r < 0)
                return r;
        *ret_id = id;
        return 0;
}

int store_job_set_state(struct store *s, int64_t id, const char *state)
{
        if (!s || !state_valid(state))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        return store_write_row(s,
                               "UPDATE jobs SET state = ?2,"
                               " started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?3) ELSE started_at END,"
                               " finished_at = CASE WHEN ?2 IN ('queued', 'running') THEN finished_at ELSE ?3 END"
                               " WHERE id = ?1",
                               "Iss", id, state, now);
}

int store_job_set_progress(struct store *s, int64_t id, int percent, const char *phase)
{
        if (!s)
                return -EINVAL;
        int pct = percent < 0 ? 0 : percent > 100 ? 100 : percent;
        return store_write_row(s, "UPDATE jobs SET progress = ?2, phase = coalesce(?3, phase) WHERE id = ?1", "Iis",
                               id, pct, phase);
}

int store_job_set_progress_detail(struct store *s, int64_t id, int percent, const char *phase,
                                  const json_t *detail)
{
        if (!s || !detail)
                return -EINVAL;
        int pct = percent < 0 ? 0 : percent > 100 ? 100 : percent;
        return store_write_row(s,
                               "UPDATE jobs SET progress = ?2, phase = coalesce(?3, phase), progress_detail = ?4"
                               " WHERE id = ?1",
                               "IisJ", id, pct, phase, detail);
}

int store_job_finish(struct store *s, int64_t id, const char *state, const json_t *result,
                     const char *error_code, const char *error_message)
{
        if (!s || !state_final(state))
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);

        return store_write_row(s,
                               "UPDATE jobs SET state = ?2, result = ?3, error_code = ?4, error_message = ?5,"
                               " finished_at = ?6, progress = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE progress END"
                               " WHERE id = ?1",
                               "IsJsss", id, state, result, error_code, error_message, now);
}

int store_job_log_append(struct store *s, int64_t id, const char *line)
{
        if (!s || !line)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        char *clean = store_utf8_clean(line, STORE_JOB_LOG_LINE_MAX);
        if (!clean)
                return -ENOMEM;

        int64_t n = 0;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run_int(s, &n, "UPDATE jobs SET log_lines = log_lines + 1 WHERE id = ?1 RETURNING log_lines",
                                  "I", id);
        if (r == 0)
                r = -ENOENT;
        const int64_t cap = s->job_log_max ? (int64_t)s->job_log_max : STORE_JOB_LOG_MAX_LINES;
        if (r >= 0 && n <= cap) {
                r = store_run(s, "INSERT INTO job_log (job_id, seq, t, line) VALUES (?1, ?2, ?3, ?4)", "IIss", id, n,
                              now, clean);
        } else if (r >= 0) {
                /* Over the cap: one marker line after the last stored one, kept up to date. */
                char marker[96];
                int64_t more = n - cap;
                snprintf(marker, sizeof(marker), "\xe2\x80\xa6 log truncated (%lld more line%s)", (long long)more,
                         more == 1 ? "" : "s");
                r = store_run(s,
                              "INSERT INTO job_log (job_id, seq, t, line) VALUES (?1, ?2, ?3, ?4)"
                              " ON CONFLICT (job_id, seq) DO UPDATE SET t = excluded.t, line = excluded.line",
                              "IIss", id, cap + 1, now, marker);
        }
        r = store_write_unlock(s, r);
        free(clean);
        return r < 0 ? r : 0;
}

void store_set_job_log_max(struct store *s, unsigned max_lines)
{
        if (!s)
                return;
        store_lock(s);
        s->job_log_max = max_lines;
        store_unlock(s);
}

/* Columns: t, line. */
static json_t *log_line_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o}", "t", store_col_string(st, 0), "line", store_col_string(st, 1));
}

static int job_log_read(struct store *s, int64_t id, json_t *job)
{
        json_t *log = json_array();
        if (!log || json_object_set_new(job, "log", log) < 0)
                return -ENOMEM;
        return store_query_all(s, log_line_from_row, log, "SELECT t, line FROM job_log WHERE job_id = ?1 ORDER BY seq",
                               "I", id);
}

int store_job_get(struct store *s, int64_t id, bool with_log, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        json_t *job = NULL;

        int r = store_read_lock(s);
        if (r >= 0)
                r = store_query_one(s, job_from_row, &job, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1", "I", id);
        if (r >= 0 && with_log)
                r = job_log_read(s, id, job);
        store_read_unlock(s);

        if (r < 0) {
                json_decref(job);
                return r;
        }
        *ret = job;
        return 0;
}

int store_job_list(struct store *s, const char *board_id, const char *state, int limit, json_t **ret)
{
        /* Fixed SQL per filter combination, so each can use its index. */
        static const char *const sql[4] = {
                "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?3",
                "SELECT " JOB_COLS " FROM jobs WHERE board_id = ?1 ORDER BY id DESC LIMIT ?3",
                "SELECT " JOB_COLS " FROM jobs WHERE state = ?2 ORDER BY id DESC LIMIT ?3",
                "SELECT " JOB_COLS " FROM jobs WHERE board_id = ?1 AND state = ?2 ORDER BY id DESC LIMIT ?3",
        };
        if (!s || !ret)
                return -EINVAL;
        if (limit <= 0)
                limit = 100;
        if (limit > STORE_JOB_LIST_MAX)
                limit = STORE_JOB_LIST_MAX;
        return store_list(s, job_from_row, ret, sql[(board_id ? 1 : 0) | (state ? 2 : 0)], "ssi", board_id, state,
                          limit);
}

/* Columns: kind, state, count, finished count, duration sum. */
static json_t *stat_from_row(struct db_stmt *st)
{
        return json_pack("{s:o, s:o, s:o, s:o, s:f}", "kind", store_col_string(st, 0), "state", store_col_string(st, 1),
                         "count", store_col_int(st, 2), "finished", store_col_int(st, 3), "duration_s_sum",
                         db_col_double(st, 4));
}

int store_job_stats(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        /* Time arithmetic is the engine's own: julianday() in SQLite, timestamptz in PostgreSQL. */
        if (store_is_pg(s))
                return store_list(s, stat_from_row, ret,
                                  "SELECT kind, state, count(*),"
                                  " count(CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL THEN 1 END),"
                                  " coalesce(sum(CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL"
                                  "  THEN greatest(0, extract(epoch FROM finished_at::timestamptz - started_at::timestamptz))"
                                  "  END), 0)::float8"
                                  " FROM jobs GROUP BY kind, state ORDER BY kind, state",
                                  NULL);
        return store_list(s, stat_from_row, ret,
                          "SELECT kind, state, count(*),"
                          " count(CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL THEN 1 END),"
                          " total(CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL"
                          "  THEN max(0, julianday(finished_at) - julianday(started_at)) * 86400.0 END)"
                          " FROM jobs GROUP BY kind, state ORDER BY kind, state",
                          NULL);
}

/* The start-up sweep of store_jobs_mark_interrupted(). */
#define INTERRUPT_SQL                                                                            \
        "UPDATE jobs SET state = 'interrupted', finished_at = ?1, error_code = 'interrupted',"    \
        " error_message = CASE WHEN state = 'running'"                                            \
        "  THEN 'corrald stopped while this job was running'"                                    \
        "  ELSE 'corrald stopped before this job started' END"                                    \
        " WHERE state IN ('running', 'queued')"

int store_jobs_mark_interrupted(struct store *s)
{
        if (!s)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        if (!store_is_pg(s))
                return store_write(s, INTERRUPT_SQL, "s", now);
        /* A shared database: another host's jobs are its own business (it runs them). */
        store_lock(s);
        char host[sizeof(s->host)];
        memcpy(host, s->host, sizeof(host));
        store_unlock(s);
        return store_write(s,
                           INTERRUPT_SQL " AND (board_id IS NULL OR board_id IN"
                                         "  (SELECT id FROM boards WHERE host = ?2 OR host = ''))",
                           "ss", now, host);
}
