/* Specification of the store's db layer parts that need no server: PostgreSQL's parameter
 * spelling (db_pg_translate), the SQLSTATE to errno table, and the SQLite backend through the
 * db interface (parameters, rows, NULLs, changes, transactions). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "store/db_internal.h"

static void translated(const char *sql, const char *want)
{
        char *got = db_pg_translate(sql);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
}

static void test_numbered_parameters_become_dollar_numbers(void **state)
{
        (void)state;
        translated("UPDATE jobs SET state = ?2 WHERE id = ?1 AND ?2 <> 'x'",
                   "UPDATE jobs SET state = $2 WHERE id = $1 AND $2 <> 'x'");
        translated("LIMIT ?12", "LIMIT $12");
}

static void test_bare_parameters_count_on_from_the_largest_so_far_as_sqlite_does(void **state)
{
        (void)state;
        translated("VALUES (?, ?, ?)", "VALUES ($1, $2, $3)");
        translated("SET a = ?3, b = ?, c = ?1, d = ?", "SET a = $3, b = $4, c = $1, d = $5");
        translated("x = ?99999 AND y = ? AND z = ?", "x = $99999 AND y = $100000 AND z = $100001"); /* room for digits */
}

static void test_question_marks_inside_quotes_stay(void **state)
{
        (void)state;
        translated("SELECT '?', \"a?b\" FROM t WHERE x = ? AND y = 'it''s ?1'",
                   "SELECT '?', \"a?b\" FROM t WHERE x = $1 AND y = 'it''s ?1'");
        translated("", "");
}

static void test_sqlstates_map_to_the_store_errnos(void **state)
{
        (void)state;
        assert_int_equal(db_errno_from_sqlstate("23503"), -ENOENT);  /* foreign key */
        assert_int_equal(db_errno_from_sqlstate("23505"), -EEXIST);  /* unique */
        assert_int_equal(db_errno_from_sqlstate("23514"), -EINVAL);  /* check */
        assert_int_equal(db_errno_from_sqlstate("23502"), -EINVAL);  /* not null */
        assert_int_equal(db_errno_from_sqlstate("22021"), -EINVAL);  /* bad encoding: data class */
        assert_int_equal(db_errno_from_sqlstate("53100"), -ENOSPC);  /* disk full */
        assert_int_equal(db_errno_from_sqlstate("25006"), -EROFS);   /* read-only transaction */
        assert_int_equal(db_errno_from_sqlstate("40001"), -EBUSY);   /* serialization */
        assert_int_equal(db_errno_from_sqlstate("40P01"), -EBUSY);   /* deadlock */
        assert_int_equal(db_errno_from_sqlstate("08006"), -ENOTCONN); /* connection failure */
        assert_int_equal(db_errno_from_sqlstate("57P01"), -ENOTCONN); /* admin shutdown */
        assert_int_equal(db_errno_from_sqlstate("57P03"), -ENOTCONN); /* starting up */
        assert_int_equal(db_errno_from_sqlstate("42P01"), -EIO);     /* anything else */
        assert_int_equal(db_errno_from_sqlstate(NULL), -EIO);
        assert_int_equal(db_errno_from_sqlstate("2350"), -EIO);
}

static int64_t count(struct db *db, const char *sql, ...)
{
        struct db_stmt *st;
        va_list ap;
        va_start(ap, sql);
        assert_int_equal(db_prepare_v(db, &st, sql, NULL, ap), 0);
        va_end(ap);
        assert_int_equal(db_step(st), 1);
        int64_t n = db_col_int64(st, 0);
        db_finalize(st);
        return n;
}

static int run(struct db *db, struct db_stmt **ret, const char *sql, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = db_prepare_v(db, ret, sql, fmt, ap);
        va_end(ap);
        return r;
}

static void test_sqlite_backend_binds_steps_and_reads_columns(void **state)
{
        (void)state;
        struct db *db = NULL;
        char msg[256];
        assert_int_equal(db_open_sqlite(":memory:", &db, msg, sizeof(msg)), 0);
        assert_int_equal(db_backend(db), DB_SQLITE);
        assert_non_null(db_sqlite(db));
        assert_null(db_pg(db));
        assert_int_equal(db_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, n INTEGER, j TEXT UNIQUE)"), 0);

        json_t *j = json_pack("{s:i, s:s}", "b", 2, "a", "x");
        struct db_stmt *st;
        assert_int_equal(run(db, &st, "INSERT INTO t (s, n, j) VALUES (?1, ?2, ?3), (?4, ?5, NULL)", "sIJsi", "one",
                             (int64_t)1 << 40, j, NULL, -7),
                         0);
        assert_int_equal(db_step(st), 0);
        assert_int_equal(db_changes(st), 2);
        db_finalize(st);

        assert_int_equal(run(db, &st, "SELECT s, n, j FROM t ORDER BY id", NULL), 0);
        assert_int_equal(db_step(st), 1);
        assert_string_equal(db_col_text(st, 0), "one");
        assert_int_equal(db_col_int64(st, 1), (int64_t)1 << 40);
        assert_string_equal(db_col_text(st, 2), "{\"a\":\"x\",\"b\":2}"); /* canonical JSON text */
        assert_int_equal(db_step(st), 1);
        assert_true(db_col_null(st, 0));
        assert_null(db_col_text(st, 0));
        assert_int_equal(db_col_int64(st, 1), -7);
        assert_int_equal(db_step(st), 0);
        db_finalize(st);

        /* a unique violation is -EEXIST, reported by the step */
        assert_int_equal(run(db, &st, "INSERT INTO t (j) VALUES (?1)", "J", j), 0);
        assert_int_equal(db_step(st), -EEXIST);
        db_finalize(st);
        json_decref(j);

        /* transactions: a rollback undoes, a commit keeps */
        assert_int_equal(db_begin(db, true), 0);
        assert_true(db_in_transaction(db));
        assert_int_equal(db_exec(db, "DELETE FROM t"), 0);
        db_rollback(db);
        assert_false(db_in_transaction(db));
        assert_int_equal(count(db, "SELECT count(*) FROM t"), 2);
        assert_int_equal(db_begin(db, false), 0);
        assert_int_equal(db_commit(db), 0);
        db_rollback(db); /* harmless without a transaction */

        assert_int_equal(run(db, &st, "SELECT ?1", "x", 1), -EINVAL); /* unknown letter */
        assert_int_equal(run(db, &st, "SELECT nope FROM t", NULL), -EIO);
        db_close(db);
        db_close(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numbered_parameters_become_dollar_numbers),
                cmocka_unit_test(test_bare_parameters_count_on_from_the_largest_so_far_as_sqlite_does),
                cmocka_unit_test(test_question_marks_inside_quotes_stay),
                cmocka_unit_test(test_sqlstates_map_to_the_store_errnos),
                cmocka_unit_test(test_sqlite_backend_binds_steps_and_reads_columns),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
