/* Specification of the persistent store, part 2: jobs (create, state, progress, finish,
 * get, list, stats), their capped logs, start-up recovery, threads, and surviving a SIGKILL in the
 * middle of writing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

/* ---- jobs ---- */

static void test_job_create_is_queued_with_params_and_timestamps(void **state)
{
        struct fx *f = *state;
        json_t *j, *params = json_pack("{s:s}", "firmware", "abc123");
        int64_t id;
        add_board(f, "b1");
        assert_int_equal(store_job_create(f->s, "b1", "flash", params, 120, &id), 0);
        assert_int_equal(store_job_get(f->s, id, false, &j), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
        assert_string_equal(str(j, "board"), "b1");
        assert_string_equal(str(j, "kind"), "flash");
        assert_true(json_equal(json_object_get(j, "params"), params));
        assert_string_equal(str(j, "state"), "queued");
        assert_int_equal(json_integer_value(json_object_get(j, "progress")), 0);
        assert_true(json_is_null(json_object_get(j, "result")));
        assert_true(json_is_null(json_object_get(j, "error")));
        assert_int_equal(strlen(str(j, "created_at")), 24);
        assert_true(json_is_null(json_object_get(j, "started_at")));
        assert_true(json_is_null(json_object_get(j, "finished_at")));
        assert_int_equal(json_integer_value(json_object_get(j, "timeout_s")), 120);
        assert_null(json_object_get(j, "log"));
        json_decref(j);
        json_decref(params);
}

static void test_job_create_for_unknown_board_is_enoent(void **state)
{
        struct fx *f = *state;
        int64_t id = -1;
        assert_int_equal(store_job_create(f->s, "ghost", "reset", NULL, 10, &id), -ENOENT);
        assert_int_equal(id, -1);
}

static void test_job_set_state_running_stamps_started_and_final_stamps_finished(void **state)
{
        struct fx *f = *state;
        json_t *j;
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "reset");
        assert_int_equal(store_job_set_state(f->s, id, "running"), 0);
        assert_int_equal(store_job_get(f->s, id, false, &j), 0);
        assert_string_equal(str(j, "state"), "running");
        assert_int_equal(strlen(str(j, "started_at")), 24);
        assert_true(json_is_null(json_object_get(j, "finished_at")));
        json_decref(j);
        assert_int_equal(store_job_set_state(f->s, id, "cancelled"), 0);
        assert_int_equal(store_job_get(f->s, id, false, &j), 0);
        assert_string_equal(str(j, "state"), "cancelled");
        assert_int_equal(strlen(str(j, "finished_at")), 24);
        json_decref(j);
        assert_int_equal(store_job_set_state(f->s, 9999, "running"), -ENOENT);
}

static void test_job_set_progress_clamps_and_null_phase_keeps_phase(void **state)
{
        struct fx *f = *state;
        json_t *j;
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "flash");
        assert_int_equal(store_job_set_progress(f->s, id, 40, "writing"), 0);
        assert_int_equal(store_job_set_progress(f->s, id, 250, NULL), 0);
        assert_int_equal(store_job_get(f->s, id, false, &j), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "progress")), 100);
        assert_string_equal(str(j, "phase"), "writing");
        json_decref(j);
        assert_int_equal(store_job_set_progress(f->s, id, -5, "verifying"), 0);
        assert_int_equal(store_job_get(f->s, id, false, &j), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "progress")), 0);
        assert_string_equal(str(j, "phase"), "verifying");
        json_decref(j);
        assert_int_equal(store_job_set_progress(f->s, 9999, 1, NULL), -ENOENT);
}

static void test_job_finish_records_result_error_and_finished_at(void **state)
{
        struct fx *f = *state;
        json_t *j, *result = json_pack("{s:s}", "verdict", "boot loop");
        add_board(f, "b1");
        int64_t ok = add_job(f, "b1", "identify"), bad = add_job(f, "b1", "flash");
        assert_int_equal(store_job_finish(f->s, ok, "succeeded", result, NULL, NULL), 0);
        assert_int_equal(store_job_finish(f->s, bad, "failed", NULL, "boot_loop", "the board resets every 200 ms"), 0);

        assert_int_equal(store_job_get(f->s, ok, false, &j), 0);
        assert_string_equal(str(j, "state"), "succeeded");
        assert_true(json_equal(json_object_get(j, "result"), result));
        assert_true(json_is_null(json_object_get(j, "error")));
        assert_int_equal(json_integer_value(json_object_get(j, "progress")), 100);
        assert_int_equal(strlen(str(j, "finished_at")), 24);
        json_decref(j);

        assert_int_equal(store_job_get(f->s, bad, false, &j), 0);
        assert_string_equal(str(j, "state"), "failed");
        assert_string_equal(str(json_object_get(j, "error"), "code"), "boot_loop");
        assert_string_equal(str(json_object_get(j, "error"), "message"), "the board resets every 200 ms");
        json_decref(j);
        json_decref(result);
        assert_int_equal(store_job_finish(f->s, 9999, "failed", NULL, NULL, NULL), -ENOENT);
}

static void test_job_get_unknown_id_is_enoent(void **state)
{
        struct fx *f = *state;
        json_t *j = NULL;
        assert_int_equal(store_job_get(f->s, 424242, true, &j), -ENOENT);
        assert_null(j);
}

static void test_job_list_filters_by_board_and_state_newest_first_with_limit(void **state)
{
        struct fx *f = *state;
        json_t *l;
        add_board(f, "b1");
        add_board(f, "b2");
        int64_t a = add_job(f, "b1", "identify"), b = add_job(f, "b2", "reset"), c = add_job(f, "b1", "flash");
        assert_int_equal(store_job_set_state(f->s, c, "running"), 0);

        assert_int_equal(store_job_list(f->s, NULL, NULL, 0, &l), 0);
        assert_int_equal(json_array_size(l), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), c);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 2), "id")), a);
        json_decref(l);

        assert_int_equal(store_job_list(f->s, "b1", NULL, 0, &l), 0);
        assert_int_equal(json_array_size(l), 2);
        json_decref(l);

        assert_int_equal(store_job_list(f->s, NULL, "queued", 0, &l), 0);
        assert_int_equal(json_array_size(l), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), b);
        json_decref(l);

        assert_int_equal(store_job_list(f->s, "b1", "running", 0, &l), 0);
        assert_int_equal(json_array_size(l), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), c);
        json_decref(l);

        assert_int_equal(store_job_list(f->s, NULL, NULL, 1, &l), 0);
        assert_int_equal(json_array_size(l), 1);
        json_decref(l);

        assert_int_equal(store_job_list(f->s, "nobody", NULL, 0, &l), 0);
        assert_int_equal(json_array_size(l), 0);
        json_decref(l);
}

/* ---- job log ---- */

static void test_job_log_lines_come_back_in_order_with_times(void **state)
{
        struct fx *f = *state;
        json_t *j;
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "run");
        assert_int_equal(store_job_log_append(f->s, id, "connecting"), 0);
        assert_int_equal(store_job_log_append(f->s, id, ""), 0);
        assert_int_equal(store_job_log_append(f->s, id, "chip is ESP32-D0WD (revision 1)"), 0);
        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        json_t *log = json_object_get(j, "log");
        assert_int_equal(json_array_size(log), 3);
        assert_string_equal(str(json_array_get(log, 0), "line"), "connecting");
        assert_string_equal(str(json_array_get(log, 1), "line"), "");
        assert_string_equal(str(json_array_get(log, 2), "line"), "chip is ESP32-D0WD (revision 1)");
        assert_int_equal(strlen(str(json_array_get(log, 0), "t")), 24);
        json_decref(j);
        assert_int_equal(store_job_log_append(f->s, 9999, "x"), -ENOENT);
}

static void test_job_log_stops_at_cap_with_one_counting_marker_line(void **state)
{
        struct fx *f = *state;
        json_t *j, *log;
        char line[32];
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "run");
        for (int i = 1; i <= STORE_JOB_LOG_MAX_LINES + 1; i++) {
                snprintf(line, sizeof(line), "line %d", i);
                assert_int_equal(store_job_log_append(f->s, id, line), 0);
        }
        /* The first line over the cap already becomes the marker. */
        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        log = json_object_get(j, "log");
        assert_int_equal(json_array_size(log), STORE_JOB_LOG_MAX_LINES + 1);
        snprintf(line, sizeof(line), "line %d", STORE_JOB_LOG_MAX_LINES);
        assert_string_equal(str(json_array_get(log, STORE_JOB_LOG_MAX_LINES - 1), "line"), line);
        assert_string_equal(str(json_array_get(log, STORE_JOB_LOG_MAX_LINES), "line"),
                            "\xe2\x80\xa6 log truncated (1 more line)");
        json_decref(j);

        /* Further lines are only counted. */
        assert_int_equal(store_job_log_append(f->s, id, "dropped"), 0);
        assert_int_equal(store_job_log_append(f->s, id, "dropped"), 0);
        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        log = json_object_get(j, "log");
        assert_int_equal(json_array_size(log), STORE_JOB_LOG_MAX_LINES + 1);
        assert_string_equal(str(json_array_get(log, STORE_JOB_LOG_MAX_LINES), "line"),
                            "\xe2\x80\xa6 log truncated (3 more lines)");
        json_decref(j);
}

static void test_job_log_repairs_invalid_utf8_and_cuts_long_lines(void **state)
{
        struct fx *f = *state;
        json_t *j;
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "run");
        assert_int_equal(store_job_log_append(f->s, id, "rst:0x1 \xff\xfe boot"), 0);
        char *longline = malloc(STORE_JOB_LOG_LINE_MAX * 2 + 1);
        assert_non_null(longline);
        for (int i = 0; i < STORE_JOB_LOG_LINE_MAX; i++)
                memcpy(longline + 2 * i, "\xc3\xa9", 2); /* é: a cut must not split it */
        longline[STORE_JOB_LOG_LINE_MAX * 2] = '\0';
        assert_int_equal(store_job_log_append(f->s, id, longline), 0);
        free(longline);

        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        json_t *log = json_object_get(j, "log");
        assert_string_equal(str(json_array_get(log, 0), "line"), "rst:0x1 \xef\xbf\xbd\xef\xbf\xbd boot");
        const char *cut = str(json_array_get(log, 1), "line");
        size_t len = strlen(cut);
        assert_true(len <= STORE_JOB_LOG_LINE_MAX);
        assert_true(len > STORE_JOB_LOG_LINE_MAX - 8);
        assert_memory_equal(cut + len - 3, "\xe2\x80\xa6", 3);
        json_decref(j);
}

/* ---- start-up recovery ---- */

static void test_mark_interrupted_turns_running_and_queued_into_interrupted(void **state)
{
        struct fx *f = *state;
        json_t *j;
        add_board(f, "b1");
        int64_t running = add_job(f, "b1", "flash"), queued = add_job(f, "b1", "reset"),
                done = add_job(f, "b1", "identify");
        assert_int_equal(store_job_set_state(f->s, running, "running"), 0);
        assert_int_equal(store_job_finish(f->s, done, "succeeded", NULL, NULL, NULL), 0);

        assert_int_equal(store_jobs_mark_interrupted(f->s), 2);

        assert_int_equal(store_job_get(f->s, running, false, &j), 0);
        assert_string_equal(str(j, "state"), "interrupted");
        assert_string_equal(str(json_object_get(j, "error"), "code"), "interrupted");
        assert_string_equal(str(json_object_get(j, "error"), "message"), "corrald stopped while this job was running");
        assert_int_equal(strlen(str(j, "finished_at")), 24);
        json_decref(j);
        assert_int_equal(store_job_get(f->s, queued, false, &j), 0);
        assert_string_equal(str(j, "state"), "interrupted");
        assert_string_equal(str(json_object_get(j, "error"), "message"), "corrald stopped before this job started");
        json_decref(j);
        assert_int_equal(store_job_get(f->s, done, false, &j), 0);
        assert_string_equal(str(j, "state"), "succeeded");
        assert_true(json_is_null(json_object_get(j, "error")));
        json_decref(j);
        assert_int_equal(store_jobs_mark_interrupted(f->s), 0);
}

/* ---- metrics ---- */

static void test_job_stats_counts_per_kind_and_state_with_durations(void **state)
{
        struct fx *f = *state;
        json_t *l;
        add_board(f, "b1");
        int64_t a = add_job(f, "b1", "flash"), b = add_job(f, "b1", "flash");
        add_job(f, "b1", "reset");
        assert_int_equal(store_job_set_state(f->s, a, "running"), 0);
        assert_int_equal(store_job_set_state(f->s, b, "running"), 0);
        sleep_ms(20);
        assert_int_equal(store_job_finish(f->s, a, "succeeded", NULL, NULL, NULL), 0);
        assert_int_equal(store_job_finish(f->s, b, "succeeded", NULL, NULL, NULL), 0);

        assert_int_equal(store_job_stats(f->s, &l), 0);
        assert_int_equal(json_array_size(l), 2); /* flash/succeeded, reset/queued */
        json_t *flash = json_array_get(l, 0), *reset = json_array_get(l, 1);
        assert_string_equal(str(flash, "kind"), "flash");
        assert_string_equal(str(flash, "state"), "succeeded");
        assert_int_equal(json_integer_value(json_object_get(flash, "count")), 2);
        assert_int_equal(json_integer_value(json_object_get(flash, "finished")), 2);
        double sum = json_real_value(json_object_get(flash, "duration_s_sum"));
        assert_true(sum >= 0.030 && sum < 5.0);
        assert_string_equal(str(reset, "state"), "queued");
        assert_int_equal(json_integer_value(json_object_get(reset, "finished")), 0);
        assert_true(json_real_value(json_object_get(reset, "duration_s_sum")) == 0.0);
        json_decref(l);
}

/* ---- concurrency and crashes ---- */

struct writer {
        struct store *s;
        int64_t job;
        int failures;
};

static void *writer_main(void *arg)
{
        struct writer *w = arg;
        for (int i = 0; i < 200; i++)
                if (store_job_log_append(w->s, w->job, "tick") < 0 || store_job_set_progress(w->s, w->job, i / 2, "x") < 0)
                        w->failures++;
        return NULL;
}

static void test_threads_share_one_store_safely(void **state)
{
        struct fx *f = *state;
        struct writer w[4];
        pthread_t t[4];
        add_board(f, "b1");
        for (int i = 0; i < 4; i++) {
                w[i] = (struct writer){f->s, add_job(f, "b1", "run"), 0};
                assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(w[i].failures, 0);
        }
        assert_int_equal(raw_int(f, "SELECT count(*) FROM job_log"), 800);
}

static void test_sigkill_mid_write_leaves_db_intact_and_job_interruptible(void **state)
{
        struct fx *f = *state;
        char dir[160];
        int ready[2];
        snprintf(dir, sizeof(dir), "%s/crash", f->dir);
        f->s = store_close(f->s); /* no connection may cross fork() */
        assert_int_equal(pipe(ready), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct store *s;
                int64_t id;
                close(ready[0]);
                if (store_open(dir, &s, NULL, 0) < 0 || store_board_upsert(s, "b1", "usb:b1", NULL, NULL) < 0 ||
                    store_job_create(s, "b1", "run", NULL, 0, &id) < 0 || store_job_set_state(s, id, "running") < 0)
                        _exit(1);
                for (long i = 0;; i++) {
                        char line[64];
                        snprintf(line, sizeof(line), "output line %ld", i);
                        if (store_job_log_append(s, id, line) < 0)
                                _exit(2);
                        if (i == 100 && write(ready[1], "r", 1) != 1)
                                _exit(3);
                }
        }
        close(ready[1]);
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        sleep_ms(30);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Integrity as seen by a plain connection (this also recovers the WAL). */
        char path[200];
        sqlite3 *db;
        sqlite3_stmt *st;
        snprintf(path, sizeof(path), "%s/corral.db", dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(db);

        struct store *s;
        json_t *j;
        assert_int_equal(store_open(dir, &s, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(store_job_get(s, 1, true, &j), 0);
        assert_string_equal(str(j, "state"), "running");
        assert_true(json_array_size(json_object_get(j, "log")) > 100);
        json_decref(j);
        assert_int_equal(store_jobs_mark_interrupted(s), 1);
        assert_int_equal(store_job_get(s, 1, false, &j), 0);
        assert_string_equal(str(j, "state"), "interrupted");
        json_decref(j);
        store_close(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_job_create_is_queued_with_params_and_timestamps),
                T(test_job_create_for_unknown_board_is_enoent),
                T(test_job_set_state_running_stamps_started_and_final_stamps_finished),
                T(test_job_set_progress_clamps_and_null_phase_keeps_phase),
                T(test_job_finish_records_result_error_and_finished_at),
                T(test_job_get_unknown_id_is_enoent),
                T(test_job_list_filters_by_board_and_state_newest_first_with_limit),
                T(test_job_log_lines_come_back_in_order_with_times),
                T(test_job_log_stops_at_cap_with_one_counting_marker_line),
                T(test_job_log_repairs_invalid_utf8_and_cuts_long_lines),
                T(test_mark_interrupted_turns_running_and_queued_into_interrupted),
                T(test_job_stats_counts_per_kind_and_state_with_durations),
                T(test_threads_share_one_store_safely),
                T(test_sigkill_mid_write_leaves_db_intact_and_job_interruptible),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
