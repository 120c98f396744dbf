/* Console (daemon/jobs/console.c) as a specification: history ring and replay, per-viewer lag
 * limit with drop counters, the write lock, read-only during jobs, the input queue. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/console.h"
#include "ws_console_wire.h"

struct fixture {
        struct console_dir *dir;
        struct console *c;     /* the worker's reference */
        int wakes;
};

static void count_wake(void *user)
{
        ((struct fixture *)user)->wakes++;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        assert_int_equal(console_dir_new(&f->dir), 0);
        assert_int_equal(console_dir_get(f->dir, "b1", &f->c), 0);
        console_attach(f->c, NULL, NULL);
        console_set_port(f->c, true, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        console_detach(f->c);
        console_unref(f->c);
        console_dir_free(f->dir);
        free(f);
        return 0;
}

static struct console_viewer *join(struct fixture *f, const char *name)
{
        struct console_viewer *v = NULL;
        assert_int_equal(console_viewer_join(f->c, name, count_wake, f, &v), 0);
        return v;
}

/* A status message as the console WebSocket sends it (api/ws_console_wire.c), parsed back. */
static json_t *wire(const struct console_msg *m)
{
        char *text = ws_console_wire(m);
        assert_non_null(text);
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        return j;
}

/* Read everything pending: bytes into out (may be NULL when none are expected), status messages
 * appended to texts (may be NULL). Returns the byte count. */
static size_t drain(struct console_viewer *v, uint8_t *out, size_t cap, json_t *texts)
{
        uint8_t buf[CONSOLE_TEXT_MAX + 4096];
        size_t got = 0, n;
        bool is_msg;
        struct console_msg m;
        while ((n = console_viewer_next(v, buf, sizeof(buf), &m, &is_msg)) > 0) {
                if (is_msg) {
                        if (texts)
                                json_array_append_new(texts, wire(&m));
                        continue;
                }
                assert_non_null(out);
                assert_true(got + n <= cap);
                memcpy(out + got, buf, n);
                got += n;
        }
        return got;
}

static size_t drain_bytes(struct console_viewer *v, uint8_t *out, size_t cap)
{
        return drain(v, out, cap, NULL);
}

/* Status messages pending for v (no bytes may be pending). */
static json_t *drain_texts(struct console_viewer *v)
{
        json_t *texts = json_array();
        drain(v, NULL, 0, texts);
        return texts;
}

/* The last pending status message of that type (new reference) or NULL. */
static json_t *last_of_type(struct console_viewer *v, const char *type)
{
        json_t *texts = drain_texts(v), *m, *found = NULL;
        size_t i;
        json_array_foreach(texts, i, m)
                if (!strcmp(json_string_value(json_object_get(m, "type")), type))
                        found = m;
        json_incref(found);
        json_decref(texts);
        return found;
}

/* The first pending item, which must be a status message. */
static json_t *next_text(struct console_viewer *v)
{
        char buf[16];
        struct console_msg m;
        bool is_msg = false;
        size_t n = console_viewer_next(v, buf, sizeof(buf), &m, &is_msg);
        assert_true(n > 0 && is_msg);
        return wire(&m);
}

static void fill_pattern(uint8_t *p, size_t n, size_t offset)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)((i + offset) * 7 + ((i + offset) >> 8));
}

static void test_hello_comes_first_and_names_the_board(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *v = join(f, "alice");
        json_t *hello = next_text(v);
        assert_non_null(hello);
        assert_string_equal(json_string_value(json_object_get(hello, "type")), "hello");
        assert_string_equal(json_string_value(json_object_get(hello, "board")), "b1");
        assert_true(json_is_false(json_object_get(hello, "writer")));
        assert_true(json_is_null(json_object_get(hello, "holder")));
        assert_true(json_is_true(json_object_get(hello, "online")));
        assert_int_equal(json_integer_value(json_object_get(hello, "replay_bytes")), 0);
        json_decref(hello);
        console_viewer_leave(v);
}

static void test_history_wraps_and_replays_the_last_64k(void **state)
{
        struct fixture *f = *state;
        static uint8_t data[CONSOLE_HISTORY * 2 + 1234], got[CONSOLE_HISTORY * 2];
        fill_pattern(data, sizeof(data), 0);
        /* Fed in odd-sized pieces so writes straddle the ring's end. */
        for (size_t at = 0; at < sizeof(data); at += 1000)
                console_feed(f->c, data + at, sizeof(data) - at < 1000 ? sizeof(data) - at : 1000);
        struct console_viewer *v = join(f, NULL);
        json_t *hello = next_text(v);
        assert_int_equal(json_integer_value(json_object_get(hello, "replay_bytes")), CONSOLE_HISTORY);
        json_decref(hello);
        size_t n = drain_bytes(v, got, sizeof(got));
        assert_int_equal(n, CONSOLE_HISTORY);
        assert_memory_equal(got, data + sizeof(data) - CONSOLE_HISTORY, CONSOLE_HISTORY);
        console_viewer_leave(v);
}

static void test_a_feed_larger_than_the_history_keeps_its_tail(void **state)
{
        struct fixture *f = *state;
        static uint8_t data[CONSOLE_HISTORY + 5000], got[CONSOLE_HISTORY];
        fill_pattern(data, sizeof(data), 3);
        console_feed(f->c, data, sizeof(data));
        struct console_viewer *v = join(f, NULL);
        assert_int_equal(drain_bytes(v, got, sizeof(got)), CONSOLE_HISTORY);
        assert_memory_equal(got, data + 5000, CONSOLE_HISTORY);
        console_viewer_leave(v);
}

static void test_viewers_see_the_same_live_bytes(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *a = join(f, NULL), *b = join(f, NULL);
        console_feed(f->c, "hello\r\n", 7);
        uint8_t ga[16], gb[16];
        assert_int_equal(drain_bytes(a, ga, sizeof(ga)), 7);
        assert_int_equal(drain_bytes(b, gb, sizeof(gb)), 7);
        assert_memory_equal(ga, "hello\r\n", 7);
        assert_memory_equal(gb, "hello\r\n", 7);
        console_viewer_leave(a);
        console_viewer_leave(b);
}

static void test_a_lagging_viewer_drops_oldest_bytes_and_counts_them(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *slow = join(f, NULL), *fast = join(f, NULL);
        static uint8_t chunk[4096], got[CONSOLE_HISTORY * 4];
        size_t fast_got = 0;
        for (int i = 0; i < 40; i++) { /* 160 KB; fast reads after every chunk, slow never */
                fill_pattern(chunk, sizeof(chunk), (size_t)i * sizeof(chunk));
                console_feed(f->c, chunk, sizeof(chunk));
                fast_got += drain_bytes(fast, got, sizeof(got));
        }
        assert_int_equal(fast_got, 40 * sizeof(chunk));
        assert_int_equal(console_viewer_dropped(fast), 0);
        json_t *texts = json_array();
        assert_int_equal(drain(slow, got, sizeof(got), texts), CONSOLE_HISTORY);
        /* hello, then the drop notice, then the newest 64 KB */
        assert_int_equal(json_array_size(texts), 2);
        json_t *dropped = json_array_get(texts, 1);
        assert_string_equal(json_string_value(json_object_get(dropped, "type")), "dropped");
        assert_int_equal(json_integer_value(json_object_get(dropped, "bytes")), 40 * 4096 - CONSOLE_HISTORY);
        assert_int_equal(json_integer_value(json_object_get(dropped, "total")), 40 * 4096 - CONSOLE_HISTORY);
        json_decref(texts);
        fill_pattern(chunk, sizeof(chunk), 39 * sizeof(chunk));
        assert_memory_equal(got + CONSOLE_HISTORY - sizeof(chunk), chunk, sizeof(chunk));
        assert_int_equal(console_viewer_dropped(slow), 40 * 4096 - CONSOLE_HISTORY);
        console_viewer_leave(slow);
        console_viewer_leave(fast);
}

static void test_a_viewer_is_woken_once_until_it_drains(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *v = join(f, NULL);
        assert_int_equal(f->wakes, 1); /* the hello */
        console_feed(f->c, "a", 1);
        console_feed(f->c, "b", 1);
        assert_int_equal(f->wakes, 1);
        uint8_t buf[CONSOLE_TEXT_MAX];
        drain_bytes(v, buf, sizeof(buf));
        assert_false(console_viewer_pending(v));
        console_feed(f->c, "c", 1);
        assert_int_equal(f->wakes, 2);
        console_viewer_leave(v);
}

static void test_a_second_writer_is_refused_until_the_first_releases(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *a = join(f, "alice"), *b = join(f, "bob");
        char msg[256];
        assert_int_equal(console_viewer_take(a, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_take(b, msg, sizeof(msg)), -EBUSY);
        assert_non_null(strstr(msg, "alice"));
        json_t *lock = last_of_type(b, "lock");
        assert_non_null(lock);
        assert_string_equal(json_string_value(json_object_get(json_object_get(lock, "holder"), "name")), "alice");
        assert_true(json_is_false(json_object_get(lock, "writer")));
        json_decref(lock);
        assert_int_equal(console_viewer_release(a, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_take(b, msg, sizeof(msg)), 0);
        lock = last_of_type(b, "lock");
        assert_true(json_is_true(json_object_get(lock, "writer")));
        json_decref(lock);
        console_viewer_leave(a);
        console_viewer_leave(b);
}

static void test_leaving_frees_the_write_lock(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *a = join(f, NULL), *b = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_take(a, msg, sizeof(msg)), 0);
        console_viewer_leave(a);
        json_t *lock = last_of_type(b, "lock");
        assert_true(json_is_null(json_object_get(lock, "holder")));
        json_decref(lock);
        assert_int_equal(console_viewer_take(b, msg, sizeof(msg)), 0);
        console_viewer_leave(b);
}

static void test_only_the_writer_input_reaches_the_port_in_order(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, NULL), *v = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_input(w, "x", 1, msg, sizeof(msg)), -EPERM);
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        assert_true(console_interactive(f->c));
        assert_int_equal(console_viewer_input(w, "ab", 2, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_input(v, "zz", 2, msg, sizeof(msg)), -EPERM);
        assert_int_equal(console_viewer_input(w, "\x03", 1, msg, sizeof(msg)), 0);
        uint8_t out[16];
        bool reset = true;
        assert_int_equal(console_input_take(f->c, out, sizeof(out), &reset), 3);
        assert_memory_equal(out, "ab\x03", 3);
        assert_false(reset);
        assert_int_equal(console_input_take(f->c, out, sizeof(out), &reset), 0);
        console_viewer_leave(w);
        console_viewer_leave(v);
}

/* The last lock message a viewer got (new reference), skipping everything else. */
static json_t *last_lock(struct console_viewer *v)
{
        json_t *texts = drain_texts(v), *lock = NULL, *t;
        size_t i;
        json_array_foreach(texts, i, t)
                if (!strcmp(json_string_value(json_object_get(t, "type")), "lock")) {
                        json_decref(lock);
                        lock = json_incref(t);
                }
        json_decref(texts);
        return lock;
}

static void test_a_new_lease_revokes_the_writer_and_drops_its_queued_input(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, "mallory"), *v = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_input(w, "queued", 6, msg, sizeof(msg)), 0);
        json_decref(last_lock(w));
        json_decref(last_lock(v));
        console_revoke_writer(f->c, 7, "lease_granted", "Board 'b1' was just reserved by ci (reservation 7)");
        json_t *lw = last_lock(w), *lv = last_lock(v);
        assert_non_null(lw);
        assert_false(json_is_true(json_object_get(lw, "writer")));
        assert_true(json_is_null(json_object_get(lw, "holder")));
        assert_string_equal(json_string_value(json_object_get(lw, "code")), "lease_granted");
        assert_non_null(strstr(json_string_value(json_object_get(lw, "reason")), "reservation 7"));
        assert_non_null(lv); /* everyone hears the lock changed and why */
        json_decref(lw);
        json_decref(lv);
        uint8_t out[16];
        bool reset;
        assert_int_equal(console_input_take(f->c, out, sizeof(out), &reset), 0); /* never sent */
        assert_int_equal(console_viewer_input(w, "more", 4, msg, sizeof(msg)), -EPERM);
        console_viewer_leave(w);
        console_viewer_leave(v);
}

static void test_the_lease_holder_takes_the_lock_from_a_writer_without_it(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *other = join(f, "admin"), *holder = join(f, "alice"), *twin = join(f, "alice-2");
        char msg[256];
        assert_int_equal(console_viewer_take(other, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_take(holder, msg, sizeof(msg)), -EBUSY); /* without the lease: no */
        json_decref(last_lock(other));
        assert_int_equal(console_viewer_take_leased(holder, 7, msg, sizeof(msg)), 0);
        json_t *l = last_lock(other);
        assert_string_equal(json_string_value(json_object_get(l, "code")), "lease_holder_took");
        json_decref(l);
        /* Another viewer with the same lease does not take it from the holder; a grant of the
         * same lease keeps the holder; a new lease revokes it. */
        assert_int_equal(console_viewer_take_leased(twin, 7, msg, sizeof(msg)), -EBUSY);
        console_revoke_writer(f->c, 7, "lease_granted", "same lease");
        assert_int_equal(console_viewer_input(holder, "ok", 2, msg, sizeof(msg)), 0);
        console_revoke_writer(f->c, 8, "lease_granted", "a new lease");
        assert_int_equal(console_viewer_input(holder, "no", 2, msg, sizeof(msg)), -EPERM);
        console_viewer_leave(other);
        console_viewer_leave(holder);
        console_viewer_leave(twin);
}

static void test_input_beyond_the_queue_limit_is_refused_whole(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, NULL);
        char msg[256];
        static uint8_t big[CONSOLE_INPUT_MAX];
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_input(w, big, sizeof(big) - 1, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_input(w, "ab", 2, msg, sizeof(msg)), -ENOBUFS);
        assert_int_equal(console_viewer_input(w, "a", 1, msg, sizeof(msg)), 0);
        console_viewer_leave(w);
}

static void test_a_running_job_makes_the_console_read_only_and_says_which(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_input(w, "queued", 6, msg, sizeof(msg)), 0);
        console_set_job(f->c, 42, "flash");
        json_t *st = last_of_type(w, "status");
        assert_true(json_is_true(json_object_get(st, "busy")));
        assert_int_equal(json_integer_value(json_object_get(st, "job")), 42);
        assert_non_null(strstr(json_string_value(json_object_get(st, "reason")), "Job 42 (flash)"));
        json_decref(st);
        assert_int_equal(console_viewer_input(w, "x", 1, msg, sizeof(msg)), -EBUSY);
        assert_non_null(strstr(msg, "Job 42 (flash)"));
        assert_int_equal(console_viewer_reset(w, msg, sizeof(msg)), -EBUSY);
        uint8_t out[16];
        bool reset;
        assert_int_equal(console_input_take(f->c, out, sizeof(out), &reset), 0); /* stale input dropped */
        console_set_job(f->c, 0, NULL);
        assert_int_equal(console_viewer_input(w, "y", 1, msg, sizeof(msg)), 0);
        console_viewer_leave(w);
}

static void test_an_offline_board_takes_no_input(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        console_set_port(f->c, false, "the device disappeared");
        json_t *st = last_of_type(w, "status");
        assert_true(json_is_false(json_object_get(st, "online")));
        assert_non_null(strstr(json_string_value(json_object_get(st, "reason")), "the device disappeared"));
        json_decref(st);
        assert_int_equal(console_viewer_input(w, "x", 1, msg, sizeof(msg)), -ENODEV);
        console_viewer_leave(w);
}

static void test_a_reset_request_reaches_the_worker_and_its_result_every_viewer(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *w = join(f, NULL), *v = join(f, NULL);
        char msg[256];
        assert_int_equal(console_viewer_take(w, msg, sizeof(msg)), 0);
        assert_int_equal(console_viewer_reset(w, msg, sizeof(msg)), 0);
        uint8_t out[4];
        bool reset = false;
        console_input_take(f->c, out, sizeof(out), &reset);
        assert_true(reset);
        console_report_reset(f->c, false, "no DTR/RTS lines");
        json_t *r = last_of_type(v, "reset");
        assert_non_null(r);
        assert_true(json_is_false(json_object_get(r, "ok")));
        assert_string_equal(json_string_value(json_object_get(r, "message")), "no DTR/RTS lines");
        json_decref(r);
        console_viewer_leave(w);
        console_viewer_leave(v);
}

static void test_the_same_board_id_gets_the_same_console_and_the_last_unref_frees_it(void **state)
{
        struct fixture *f = *state;
        struct console *again = NULL, *other = NULL;
        assert_int_equal(console_dir_get(f->dir, "b1", &again), 0);
        assert_ptr_equal(again, f->c);
        assert_int_equal(console_dir_get(f->dir, "b2", &other), 0);
        assert_ptr_not_equal(other, f->c);
        console_unref(again);
        console_unref(other); /* freed here; ASan would report a leak otherwise */
}

static void test_a_slow_viewers_status_queue_keeps_the_newest(void **state)
{
        struct fixture *f = *state;
        struct console_viewer *v = join(f, NULL), *w = join(f, NULL);
        char msg[256];
        for (int i = 0; i < CONSOLE_TEXT_QUEUE * 2; i++) {
                console_viewer_take(w, msg, sizeof(msg));
                console_viewer_release(w, msg, sizeof(msg));
        }
        console_set_job(f->c, 7, "run");
        json_t *st = last_of_type(v, "status");
        assert_non_null(st); /* the newest survived the overflow */
        assert_int_equal(json_integer_value(json_object_get(st, "job")), 7);
        json_decref(st);
        console_viewer_leave(v);
        console_viewer_leave(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hello_comes_first_and_names_the_board, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history_wraps_and_replays_the_last_64k, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_feed_larger_than_the_history_keeps_its_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_viewers_see_the_same_live_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_lagging_viewer_drops_oldest_bytes_and_counts_them, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_viewer_is_woken_once_until_it_drains, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_second_writer_is_refused_until_the_first_releases, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_leaving_frees_the_write_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_only_the_writer_input_reaches_the_port_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_input_beyond_the_queue_limit_is_refused_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_new_lease_revokes_the_writer_and_drops_its_queued_input, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_the_lease_holder_takes_the_lock_from_a_writer_without_it, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_running_job_makes_the_console_read_only_and_says_which, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_an_offline_board_takes_no_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_reset_request_reaches_the_worker_and_its_result_every_viewer,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_the_same_board_id_gets_the_same_console_and_the_last_unref_frees_it, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_slow_viewers_status_queue_keeps_the_newest, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
