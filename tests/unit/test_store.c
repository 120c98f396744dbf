/* Specification of the persistent store, part 1: opening (schema, migrations, refusal of
 * foreign, newer and garbage files), boards, facts with history, and disk-full behaviour.
 * Jobs and crash safety are in test_store_jobs.c. */
#include <errno.h>

#include "store_fixture.h"
#include "store/store_internal.h"

/* ---- open, schema, refusal ---- */

static void test_open_creates_db_at_current_schema_version(void **state)
{
        struct fx *f = *state;
        char path[128];
        struct stat st;
        assert_int_equal(stat(db_path(f, path, sizeof(path)), &st), 0);
        assert_true(store_schema_version(f->s) >= 1);
        assert_int_equal(store_schema_version(f->s), store_schema_latest());
        assert_int_equal(raw_int(f, "PRAGMA user_version"), store_schema_version(f->s));
        assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                                    " ('boards', 'facts', 'fact_history', 'jobs', 'job_log')"),
                         5);
}

static void test_open_uses_wal_journal(void **state)
{
        struct fx *f = *state;
        char path[160];
        struct stat st;
        snprintf(path, sizeof(path), "%s/corral.db-wal", f->dir);
        add_board(f, "b1"); /* a write makes the WAL file appear */
        assert_int_equal(stat(path, &st), 0);
}

static void test_open_creates_missing_state_dirs_0750(void **state)
{
        struct fx *f = *state;
        char dir[160], msg[256];
        struct stat st;
        struct store *s = NULL;
        snprintf(dir, sizeof(dir), "%s/a/b/state", f->dir);
        mode_t old = umask(022);
        assert_int_equal(store_open(dir, &s, msg, sizeof(msg)), 0);
        umask(old);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0750);
        store_close(s);
}

static void test_reopen_keeps_boards_facts_and_jobs(void **state)
{
        struct fx *f = *state;
        json_t *b, *j;
        add_board(f, "b1");
        json_t *chip = json_string("ESP32");
        assert_int_equal(store_fact_set(f->s, "b1", "chip", chip, 0), 0);
        json_decref(chip);
        int64_t id = add_job(f, "b1", "identify");
        assert_int_equal(store_job_log_append(f->s, id, "hello"), 0);

        reopen(f);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(b, "facts"), "chip"), "value")),
                            "ESP32");
        json_decref(b);
        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        assert_string_equal(str(json_array_get(json_object_get(j, "log"), 0), "line"), "hello");
        json_decref(j);
}

static void test_newer_schema_version_is_refused(void **state)
{
        struct fx *f = *state;
        char sql[64];
        struct store *s = NULL;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_version(f->s) + 1);
        f->s = store_close(f->s);
        raw_exec(f, sql);
        assert_int_equal(store_open(f->dir, &s, f->msg, sizeof(f->msg)), -EPROTONOSUPPORT);
        assert_null(s);
        assert_non_null(strstr(f->msg, "newer"));
        assert_non_null(strstr(f->msg, f->dir));
}

static void test_garbage_file_is_refused_naming_the_path(void **state)
{
        struct fx *f = *state;
        char dir[160], path[200], msg[512];
        struct store *s = NULL;
        snprintf(dir, sizeof(dir), "%s/garbage", f->dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/corral.db", dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        for (int i = 0; i < 200; i++)
                fputs("this is not a database, it is a shopping list\n", fp);
        fclose(fp);

        assert_int_equal(store_open(dir, &s, msg, sizeof(msg)), -EBADMSG);
        assert_null(s);
        assert_non_null(strstr(msg, path));
}

static void test_sqlite_file_of_another_application_is_refused(void **state)
{
        struct fx *f = *state;
        char dir[160], path[200], msg[512];
        struct store *s = NULL;
        sqlite3 *db;
        snprintf(dir, sizeof(dir), "%s/other", f->dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/corral.db", dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE recipes (name TEXT)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        assert_int_equal(store_open(dir, &s, msg, sizeof(msg)), -EBADMSG);
        assert_non_null(strstr(msg, path));
}

static void test_state_dir_that_is_a_file_is_refused(void **state)
{
        struct fx *f = *state;
        char path[160], msg[512];
        struct store *s = NULL;
        snprintf(path, sizeof(path), "%s/plainfile", f->dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(store_open(path, &s, msg, sizeof(msg)), -ENOTDIR);
        assert_non_null(strstr(msg, path));
}

static void test_null_arguments_are_rejected_not_crashing(void **state)
{
        struct fx *f = *state;
        json_t *j = NULL;
        char buf[16];
        int64_t id;
        assert_null(store_close(NULL));
        assert_int_equal(store_open(NULL, NULL, NULL, 0), -EINVAL);
        assert_int_equal(store_schema_version(NULL), -EINVAL);
        assert_int_equal(store_board_upsert(NULL, "a", "b", NULL, NULL), -EINVAL);
        assert_int_equal(store_board_upsert(f->s, NULL, "b", NULL, NULL), -EINVAL);
        assert_int_equal(store_board_upsert(f->s, "a", "", NULL, NULL), -EINVAL);
        assert_int_equal(store_board_get(f->s, NULL, &j), -EINVAL);
        assert_int_equal(store_board_find_identity(f->s, NULL, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(store_fact_set(f->s, "a", "k", NULL, 0), -EINVAL);
        assert_int_equal(store_job_create(f->s, NULL, NULL, NULL, 0, &id), -EINVAL);
        assert_int_equal(store_job_set_state(f->s, 1, "bogus"), -EINVAL);
        assert_int_equal(store_job_finish(f->s, 1, "running", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(store_job_log_append(f->s, 1, NULL), -EINVAL);
        assert_int_equal(store_job_list(NULL, NULL, NULL, 0, &j), -EINVAL);
        assert_int_equal(store_jobs_mark_interrupted(NULL), -EINVAL);
        assert_null(j);
}

/* ---- boards ---- */

static void test_board_upsert_creates_board_with_times_and_defaults(void **state)
{
        struct fx *f = *state;
        json_t *b, *hints = json_pack("{s:s}", "family", "esp");
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:1a86:7523:1-1.2", "ESP board", hints), 0);
        json_decref(hints);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(str(b, "id"), "b1");
        assert_string_equal(str(b, "identity"), "usb:1a86:7523:1-1.2");
        assert_string_equal(str(b, "name"), "ESP board");
        assert_string_equal(str(json_object_get(b, "hints"), "family"), "esp");
        assert_true(json_is_array(json_object_get(b, "labels")));
        assert_int_equal(json_array_size(json_object_get(b, "labels")), 0);
        assert_string_equal(str(b, "notes"), "");
        assert_true(json_is_object(json_object_get(b, "facts")));
        assert_string_equal(str(b, "first_seen"), str(b, "last_seen"));
        json_decref(b);
}

static void test_board_upsert_again_keeps_name_labels_updates_hints_and_last_seen(void **state)
{
        struct fx *f = *state;
        json_t *b, *labels = json_pack("[s]", "lab-shelf-2");
        json_t *hints1 = json_pack("{s:s}", "family", "esp"), *hints2 = json_pack("{s:s}", "family", "micropython");
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:X1", "first name", hints1), 0);
        assert_int_equal(store_board_update(f->s, "b1", "renamed", labels, "on the left"), 0);
        sleep_ms(5);
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:X1", "other default", hints2), 0);

        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(str(b, "name"), "renamed");
        assert_true(json_equal(json_object_get(b, "labels"), labels));
        assert_string_equal(str(b, "notes"), "on the left");
        assert_string_equal(str(json_object_get(b, "hints"), "family"), "micropython");
        assert_true(strcmp(str(b, "last_seen"), str(b, "first_seen")) > 0);
        json_decref(b);
        json_decref(labels);
        json_decref(hints1);
        json_decref(hints2);
}

static void test_board_upsert_known_identity_keeps_original_id(void **state)
{
        struct fx *f = *state;
        char id[32];
        json_t *list;
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:SER1", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(f->s, "b2", "usb:SER1", NULL, NULL), 0);
        assert_int_equal(store_board_find_identity(f->s, "usb:SER1", id, sizeof(id)), 0);
        assert_string_equal(id, "b1");
        assert_int_equal(store_board_list(f->s, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        json_decref(list);
}

static void test_board_count_counts_boards_not_upserts(void **state)
{
        struct fx *f = *state;
        size_t n = 99;
        assert_int_equal(store_board_count(f->s, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:SER1", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:SER1", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(f->s, "b2", "usb:SER2", NULL, NULL), 0);
        assert_int_equal(store_board_count(f->s, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(store_board_count(NULL, &n), -EINVAL);
}

static void test_board_upsert_id_taken_by_other_identity_is_eexist(void **state)
{
        struct fx *f = *state;
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:SER1", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(f->s, "b1", "usb:SER2", NULL, NULL), -EEXIST);
}

static void test_board_find_identity_returns_id_or_enoent(void **state)
{
        struct fx *f = *state;
        char id[32], tiny[2];
        add_board(f, "board-7");
        assert_int_equal(store_board_find_identity(f->s, "usb:board-7", id, sizeof(id)), 0);
        assert_string_equal(id, "board-7");
        assert_int_equal(store_board_find_identity(f->s, "usb:nobody", id, sizeof(id)), -ENOENT);
        assert_int_equal(store_board_find_identity(f->s, "usb:board-7", tiny, sizeof(tiny)), -ENOBUFS);
}

static void test_board_update_changes_given_fields_and_keeps_null_ones(void **state)
{
        struct fx *f = *state;
        json_t *b, *labels = json_pack("[ss]", "ci", "esp32");
        add_board(f, "b1");
        assert_int_equal(store_board_update(f->s, "b1", "Bench 3", labels, "flaky USB cable"), 0);
        assert_int_equal(store_board_update(f->s, "b1", NULL, NULL, "new cable"), 0);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(str(b, "name"), "Bench 3");
        assert_true(json_equal(json_object_get(b, "labels"), labels));
        assert_string_equal(str(b, "notes"), "new cable");
        json_decref(b);
        json_decref(labels);
}

static void test_board_update_rejects_bad_labels_and_unknown_ids(void **state)
{
        struct fx *f = *state;
        json_t *bad = json_pack("[si]", "ok", 3), *obj = json_object();
        add_board(f, "b1");
        assert_int_equal(store_board_update(f->s, "b1", NULL, bad, NULL), -EINVAL);
        assert_int_equal(store_board_update(f->s, "b1", NULL, obj, NULL), -EINVAL);
        assert_int_equal(store_board_update(f->s, "nope", "x", NULL, NULL), -ENOENT);
        assert_int_equal(store_board_touch(f->s, "nope"), -ENOENT);
        json_decref(bad);
        json_decref(obj);
}

static void test_board_touch_moves_last_seen_only(void **state)
{
        struct fx *f = *state;
        json_t *a, *b;
        add_board(f, "b1");
        assert_int_equal(store_board_get(f->s, "b1", &a), 0);
        sleep_ms(5);
        assert_int_equal(store_board_touch(f->s, "b1"), 0);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(str(a, "first_seen"), str(b, "first_seen"));
        assert_true(strcmp(str(b, "last_seen"), str(a, "last_seen")) > 0);
        json_decref(a);
        json_decref(b);
}

static void test_board_list_returns_all_boards_with_their_facts(void **state)
{
        struct fx *f = *state;
        json_t *list, *v = json_string("RP2040");
        add_board(f, "b1");
        add_board(f, "b2");
        assert_int_equal(store_fact_set(f->s, "b2", "chip", v, 0), 0);
        assert_int_equal(store_board_list(f->s, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        assert_string_equal(str(json_array_get(list, 0), "id"), "b1");
        assert_int_equal(json_object_size(json_object_get(json_array_get(list, 0), "facts")), 0);
        assert_non_null(json_object_get(json_object_get(json_array_get(list, 1), "facts"), "chip"));
        json_decref(list);
        json_decref(v);
}

static void test_timestamps_are_iso8601_utc_with_milliseconds(void **state)
{
        struct fx *f = *state;
        json_t *b;
        int y, mo, d, h, mi, s, ms;
        char z;
        add_board(f, "b1");
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        const char *t = str(b, "first_seen");
        assert_int_equal(strlen(t), 24);
        assert_int_equal(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
        assert_int_equal(z, 'Z');
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        assert_int_equal(y, tm.tm_year + 1900);
        json_decref(b);
}

/* ---- facts ---- */

static void test_fact_set_records_value_learned_at_and_job(void **state)
{
        struct fx *f = *state;
        json_t *b, *v = json_pack("{s:i}", "bytes", 4194304);
        add_board(f, "b1");
        int64_t job = add_job(f, "b1", "identify");
        assert_int_equal(store_fact_set(f->s, "b1", "flash_size", v, job), 0);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        json_t *fact = json_object_get(json_object_get(b, "facts"), "flash_size");
        assert_true(json_equal(json_object_get(fact, "value"), v));
        assert_int_equal(json_integer_value(json_object_get(fact, "job")), job);
        assert_int_equal(strlen(str(fact, "learned_at")), 24);
        json_decref(b);
        json_decref(v);
}

static void test_fact_set_without_job_stores_null_job(void **state)
{
        struct fx *f = *state;
        json_t *b, *v = json_string("aa:bb:cc:dd:ee:ff");
        add_board(f, "b1");
        assert_int_equal(store_fact_set(f->s, "b1", "mac", v, 0), 0);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_true(json_is_null(json_object_get(json_object_get(json_object_get(b, "facts"), "mac"), "job")));
        json_decref(b);
        json_decref(v);
}

static void test_fact_history_gets_a_row_per_new_or_changed_value(void **state)
{
        struct fx *f = *state;
        json_t *v1 = json_string("v1.20.0"), *v2 = json_string("v1.22.1"), *b;
        add_board(f, "b1");
        assert_int_equal(store_fact_set(f->s, "b1", "micropython", v1, 0), 0);
        assert_int_equal(store_fact_set(f->s, "b1", "micropython", v1, 0), 0); /* same value again */
        assert_int_equal(store_fact_set(f->s, "b1", "micropython", v2, 0), 0);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM fact_history WHERE board_id = 'b1' AND key = 'micropython'"),
                         2);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM fact_history WHERE value = '\"v1.20.0\"'"), 1);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_true(json_equal(json_object_get(json_object_get(json_object_get(b, "facts"), "micropython"), "value"), v2));
        json_decref(b);
        json_decref(v1);
        json_decref(v2);
}

static void test_fact_set_on_unknown_board_is_enoent(void **state)
{
        struct fx *f = *state;
        json_t *v = json_true();
        assert_int_equal(store_fact_set(f->s, "ghost", "chip", v, 0), -ENOENT);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM fact_history"), 0);
        json_decref(v);
}

/* ---- disk full ---- */

static void test_injected_enospc_fails_the_write_and_keeps_data(void **state)
{
        struct fx *f = *state;
        json_t *b, *v1 = json_string("ESP8266EX"), *v2 = json_string("ESP32");
        add_board(f, "b1");
        assert_int_equal(store_fact_set(f->s, "b1", "chip", v1, 0), 0);

        assert_int_equal(store_test_inject_error(f->s, ENOSPC), 0);
        assert_int_equal(store_fact_set(f->s, "b1", "chip", v2, 0), -ENOSPC);

        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_true(json_equal(json_object_get(json_object_get(json_object_get(b, "facts"), "chip"), "value"), v1));
        json_decref(b);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM fact_history"), 1);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
        /* The injection is one-shot: the next write works. */
        assert_int_equal(store_fact_set(f->s, "b1", "chip", v2, 0), 0);
        json_decref(v1);
        json_decref(v2);
}

static void test_sqlite_errors_map_to_errno(void **state)
{
        (void)state;
        assert_int_equal(store_errno_from_sqlite(SQLITE_FULL), -ENOSPC);
        assert_int_equal(store_errno_from_sqlite(SQLITE_IOERR_WRITE), -EIO);
        assert_int_equal(store_errno_from_sqlite(SQLITE_READONLY), -EROFS);
        assert_int_equal(store_errno_from_sqlite(SQLITE_READONLY_DBMOVED), -EROFS);
        assert_int_equal(store_errno_from_sqlite(SQLITE_BUSY), -EBUSY);
        assert_int_equal(store_errno_from_sqlite(SQLITE_CONSTRAINT_FOREIGNKEY), -ENOENT);
        assert_int_equal(store_errno_from_sqlite(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
        assert_int_equal(store_errno_from_sqlite(SQLITE_NOTADB), -EBADMSG);
        assert_int_equal(store_errno_from_sqlite(SQLITE_ERROR), -EIO);
        assert_int_equal(store_errno_from_sqlite(SQLITE_DONE), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_open_creates_db_at_current_schema_version),
                T(test_open_uses_wal_journal),
                T(test_open_creates_missing_state_dirs_0750),
                T(test_reopen_keeps_boards_facts_and_jobs),
                T(test_newer_schema_version_is_refused),
                T(test_garbage_file_is_refused_naming_the_path),
                T(test_sqlite_file_of_another_application_is_refused),
                T(test_state_dir_that_is_a_file_is_refused),
                T(test_null_arguments_are_rejected_not_crashing),
                T(test_board_upsert_creates_board_with_times_and_defaults),
                T(test_board_upsert_again_keeps_name_labels_updates_hints_and_last_seen),
                T(test_board_upsert_known_identity_keeps_original_id),
                T(test_board_count_counts_boards_not_upserts),
                T(test_board_upsert_id_taken_by_other_identity_is_eexist),
                T(test_board_find_identity_returns_id_or_enoent),
                T(test_board_update_changes_given_fields_and_keeps_null_ones),
                T(test_board_update_rejects_bad_labels_and_unknown_ids),
                T(test_board_touch_moves_last_seen_only),
                T(test_board_list_returns_all_boards_with_their_facts),
                T(test_timestamps_are_iso8601_utc_with_milliseconds),
                T(test_fact_set_records_value_learned_at_and_job),
                T(test_fact_set_without_job_stores_null_job),
                T(test_fact_history_gets_a_row_per_new_or_changed_value),
                T(test_fact_set_on_unknown_board_is_enoent),
                T(test_injected_enospc_fails_the_write_and_keeps_data),
                cmocka_unit_test(test_sqlite_errors_map_to_errno),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
