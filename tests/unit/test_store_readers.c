/* Readers never wait for a writer: while the store's write connection is stuck in a write (another
 * process holds the SQLite write lock, so the writer sits in its 5 s busy wait holding the store's
 * write lock), the reads an API GET takes (store_board_list, store_get) and a console take
 * (reservations_check_board) still answer, see committed data only, and see the write once it
 * commits. Each check is an order, not a time: the read must return while the writer still
 * holds the store's write lock, which it does until the test lets the other process go. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "reservations.h"
#include "store_fixture.h"
#include "store/store_internal.h"
#include "store/store_reservations.h"

#define T0 1800000000000LL /* a fixed "now" in Unix ms */

/* Another process' write transaction on the database: holds SQLite's write lock until let_go(). */
static sqlite3 *hold_write_lock(struct fx *f)
{
        char path[128];
        sqlite3 *db;
        assert_int_equal(sqlite3_open_v2(db_path(f, path, sizeof(path)), &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE boards SET name = 'uncommitted'", NULL, NULL, NULL),
                         SQLITE_OK);
        return db;
}

static void let_go(sqlite3 *db)
{
        assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* Wait until another thread holds the store's write lock (it is then in, or entering, its write,
 * which cannot finish before let_go()). */
static void wait_writer_holds_lock(struct store *s)
{
        for (;;) {
                int r = pthread_mutex_trylock(&s->lock);
                if (r == EBUSY)
                        return;
                assert_int_equal(r, 0);
                pthread_mutex_unlock(&s->lock);
                sleep_ms(1);
        }
}

/* The writer still holds the store's write lock (its write cannot have ended: the other process
 * still holds SQLite's). A read that had to wait for that lock finds it free afterwards. */
static bool writer_still_stuck(struct store *s)
{
        int r = pthread_mutex_trylock(&s->lock);
        if (r == 0)
                pthread_mutex_unlock(&s->lock);
        return r == EBUSY;
}

struct writer {
        struct store *s;
        struct reservations *rs; /* set: run the reaper instead of a plain write */
        const struct resv_request *grant; /* set (with rs): lease a board instead */
        const json_t *boards;
        json_t *lease;
        int rc;
};

static void *write_main(void *arg)
{
        struct writer *w = arg;
        struct corral_error err = { 0 };
        if (w->grant)
                w->rc = reservations_create(w->rs, w->grant, w->boards, T0 + 1000, &w->lease, NULL, &err);
        else if (w->rs)
                reservations_reap(w->rs, T0 + 5000, 1);
        else
                w->rc = store_write_row(w->s, "UPDATE boards SET name = 'renamed' WHERE id = ?1", "s", "b1");
        corral_error_clear(&err);
        return NULL;
}

static const char *first_name(const json_t *list)
{
        return json_string_value(json_object_get(json_array_get(list, 0), "name"));
}

static json_t *name_row(struct db_stmt *st)
{
        return json_pack("{s:o}", "name", store_col_string(st, 0));
}

/* GET /api/v1/boards reads store_board_list; it answers while a write waits for the disk. */
static void test_board_list_answers_while_a_write_waits(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        sqlite3 *other = hold_write_lock(f);
        struct writer w = { .s = f->s };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, write_main, &w), 0);
        wait_writer_holds_lock(f->s);

        json_t *list = NULL, *row = NULL;
        assert_int_equal(store_board_list(f->s, &list), 0);
        assert_int_equal(store_get(f->s, name_row, &row, "SELECT name FROM boards WHERE id = ?1", "s", "b1"), 0);
        assert_true(writer_still_stuck(f->s)); /* answered while the writer is still stuck */
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(first_name(list), "b1"); /* committed data only */
        assert_string_equal(str(row, "name"), "b1");
        json_decref(list);
        json_decref(row);

        let_go(other);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(store_board_list(f->s, &list), 0); /* the commit is seen at once */
        assert_string_equal(first_name(list), "renamed");
        json_decref(list);
}

/* A lease that is due: the reaper records its expiry; a console take on the board (and a take
 * with the old lease) is answered while that write waits, and never writes itself. */
static void test_console_take_answers_while_the_reaper_writes(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        struct reservations *rs = NULL;
        assert_int_equal(reservations_new(f->s, NULL, &rs), 0);
        json_t *boards = json_pack("[{s:s, s:s, s:s, s:[]}]", "id", "b1", "state", "online", "family", "esp32",
                                   "labels");
        json_t *body = json_pack("{s:{s:s}, s:i}", "match", "board", "b1", "ttl_s", 1);
        struct resv_request req;
        struct corral_error err = { 0 };
        json_t *lease = NULL;
        assert_int_equal(reservations_parse_request(body, &req, &err), 0);
        assert_int_equal(reservations_create(rs, &req, boards, T0, &lease, NULL, &err), 0);
        char token[128];
        snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(lease, "token")));

        sqlite3 *other = hold_write_lock(f);
        struct writer w = { .s = f->s, .rs = rs };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, write_main, &w), 0);
        wait_writer_holds_lock(f->s);

        assert_int_equal(reservations_check_board(rs, "b1", NULL, T0 + 5000, &err), 0); /* due: the board is free */
        assert_int_equal(reservations_check_board(rs, "b1", token, T0 + 5000, &err), -ESTALE);
        assert_int_equal(err.code, CORRAL_E_LEASE_LOST);
        assert_non_null(strstr(err.message, "it was expired"));
        corral_error_clear(&err);
        assert_int_equal(reservations_board_lease(rs, "b1", T0 + 5000), 0);
        assert_true(writer_still_stuck(f->s)); /* all answered while the reaper is still stuck */

        let_go(other);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM reservations WHERE state = 'expired'"), 1);
        rs = reservations_free(rs);
        json_decref(lease);
        json_decref(body);
        json_decref(boards);
}

/* A lease grant on b2 is stuck in its store write: the API reads of the leases (GET
 * /api/v1/reservations, GET /reservations/{id}, a lease check) and a console take on b1, leased
 * before, all answer meanwhile; the grant then lands and is seen. */
static void test_lease_reads_answer_while_a_grant_writes(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        add_board(f, "b2");
        struct reservations *rs = NULL;
        assert_int_equal(reservations_new(f->s, NULL, &rs), 0);
        json_t *boards = json_pack("[{s:s, s:s, s:s, s:[]}, {s:s, s:s, s:s, s:[]}]", "id", "b1", "state", "online",
                                   "family", "esp32", "labels", "id", "b2", "state", "online", "family", "esp32",
                                   "labels");
        json_t *body1 = json_pack("{s:{s:s}, s:i}", "match", "board", "b1", "ttl_s", 60);
        json_t *body2 = json_pack("{s:{s:s}, s:i}", "match", "board", "b2", "ttl_s", 60);
        struct resv_request req1, req2;
        struct corral_error err = { 0 };
        json_t *lease = NULL;
        assert_int_equal(reservations_parse_request(body1, &req1, &err), 0);
        assert_int_equal(reservations_parse_request(body2, &req2, &err), 0);
        assert_int_equal(reservations_create(rs, &req1, boards, T0, &lease, NULL, &err), 0);
        int64_t id1 = json_integer_value(json_object_get(lease, "id"));
        const char *token = json_string_value(json_object_get(lease, "token"));

        sqlite3 *other = hold_write_lock(f);
        struct writer w = { .s = f->s, .rs = rs, .grant = &req2, .boards = boards };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, write_main, &w), 0);
        wait_writer_holds_lock(f->s);

        json_t *list = NULL, *one = NULL, *auth = NULL;
        assert_int_equal(reservations_list(rs, T0 + 1000, &list), 0);
        assert_int_equal(reservations_get(rs, id1, T0 + 1000, &one), 0);
        assert_int_equal(reservations_authorize(rs, id1, token, T0 + 1000, &auth, &err), 0);
        assert_int_equal(reservations_check_board(rs, "b1", token, T0 + 1000, &err), 0); /* the holder's take */
        assert_int_equal(reservations_check_board(rs, "b1", NULL, T0 + 1000, &err), -EBUSY);
        corral_error_clear(&err);
        assert_int_equal(reservations_board_lease(rs, "b1", T0 + 1000), id1);
        assert_true(writer_still_stuck(f->s)); /* all answered while the grant is still stuck */
        assert_int_equal(json_array_size(list), 1); /* the grant is not seen before it is recorded */
        assert_string_equal(str(json_array_get(list, 0), "board"), "b1");
        assert_string_equal(str(one, "state"), "active");
        assert_string_equal(str(auth, "board"), "b1");
        json_decref(list);
        json_decref(one);
        json_decref(auth);

        let_go(other);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(reservations_list(rs, T0 + 1000, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        assert_int_equal(reservations_check_board(rs, "b2", NULL, T0 + 1000, &err), -EBUSY);
        corral_error_clear(&err);
        json_decref(list);
        json_decref(w.lease);
        rs = reservations_free(rs);
        json_decref(lease);
        json_decref(body1);
        json_decref(body2);
        json_decref(boards);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_board_list_answers_while_a_write_waits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_console_take_answers_while_the_reaper_writes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease_reads_answer_while_a_grant_writes, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
