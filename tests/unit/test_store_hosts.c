/* Specification of the hosts table (store_hosts.h) on the SQLite store: registering, the
 * heartbeat, liveness by heartbeat age, and boards carrying the name of the host that upserted them;
 * the farm calls (publish, other hosts' boards, the dead-host sweep) with two stores on one
 * database standing for two hosts (the same SQL runs on PostgreSQL: farm.test.mjs). */
#include <errno.h>

#include "store_fixture.h"
#include "store/store_hosts.h"
#include "store/store_reservations.h"

static json_t *only_host(struct fx *f, int64_t now_ms)
{
        json_t *list = NULL;
        assert_int_equal(store_host_list(f->s, now_ms, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        json_t *h = json_incref(json_array_get(list, 0));
        json_decref(list);
        return h;
}

static void test_register_needs_a_name_and_writes_one_row(void **state)
{
        struct fx *f = *state;
        assert_int_equal(store_host_register(f->s, "http://a:7070/", "1.0", 1000), -EINVAL);
        assert_int_equal(store_host_heartbeat(f->s, 1000), -EINVAL);
        assert_int_equal(store_host_set_name(f->s, ""), -EINVAL);
        char long_name[80];
        memset(long_name, 'h', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_int_equal(store_host_set_name(f->s, long_name), -ENAMETOOLONG);

        assert_int_equal(store_host_set_name(f->s, "pi-7"), 0);
        assert_int_equal(store_host_register(f->s, "http://pi-7:7070/", "1.0", 1767225600000), 0);
        json_t *h = only_host(f, 1767225600000);
        assert_string_equal(json_string_value(json_object_get(h, "name")), "pi-7");
        assert_string_equal(json_string_value(json_object_get(h, "api_url")), "http://pi-7:7070/");
        assert_string_equal(json_string_value(json_object_get(h, "version")), "1.0");
        assert_string_equal(json_string_value(json_object_get(h, "started_at")), "2026-01-01T00:00:00.000Z");
        assert_string_equal(json_string_value(json_object_get(h, "heartbeat_at")), "2026-01-01T00:00:00.000Z");
        assert_true(json_is_true(json_object_get(h, "alive")));
        json_decref(h);

        /* registering again (a restart) updates the same row */
        assert_int_equal(store_host_register(f->s, "http://pi-7:8080/", "1.1", 1767225660000), 0);
        h = only_host(f, 1767225660000);
        assert_string_equal(json_string_value(json_object_get(h, "api_url")), "http://pi-7:8080/");
        assert_string_equal(json_string_value(json_object_get(h, "version")), "1.1");
        assert_string_equal(json_string_value(json_object_get(h, "started_at")), "2026-01-01T00:01:00.000Z");
        json_decref(h);
}

static void test_heartbeat_moves_and_a_stale_host_is_not_alive(void **state)
{
        struct fx *f = *state;
        const int64_t t0 = 1767225600000;
        assert_int_equal(store_host_set_name(f->s, "bench"), 0);
        assert_int_equal(store_host_register(f->s, "", "1.0", t0), 0);
        assert_int_equal(store_host_heartbeat(f->s, t0 + 10000), 0);
        json_t *h = only_host(f, t0 + 10000 + STORE_HOST_STALE_MS);
        assert_string_equal(json_string_value(json_object_get(h, "heartbeat_at")), "2026-01-01T00:00:10.000Z");
        assert_string_equal(json_string_value(json_object_get(h, "started_at")), "2026-01-01T00:00:00.000Z");
        assert_true(json_is_true(json_object_get(h, "alive")));
        json_decref(h);
        h = only_host(f, t0 + 10001 + STORE_HOST_STALE_MS);
        assert_true(json_is_false(json_object_get(h, "alive")));
        json_decref(h);

        /* a row deleted by hand: the heartbeat says so, registering writes it again */
        raw_exec(f, "DELETE FROM hosts");
        assert_int_equal(store_host_heartbeat(f->s, t0 + 20000), -ENOENT);
        assert_int_equal(store_host_register(f->s, "", "1.0", t0 + 20000), 0);
        json_decref(only_host(f, t0 + 20000));
}

static void test_boards_carry_the_host_that_upserted_them(void **state)
{
        struct fx *f = *state;
        json_t *b = NULL;
        assert_int_equal(store_board_upsert(f->s, "b1", "static-b1", NULL, NULL), 0);
        assert_int_equal(store_board_get(f->s, "b1", &b), 0);
        assert_string_equal(json_string_value(json_object_get(b, "host")), ""); /* no host named yet */
        json_decref(b);

        assert_int_equal(store_host_set_name(f->s, "rack-a"), 0);
        assert_int_equal(store_board_upsert(f->s, "b2", "static-b2", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(f->s, "b1", "static-b1", NULL, NULL), 0); /* seen again: moves */
        json_t *list = NULL;
        assert_int_equal(store_board_list(f->s, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        size_t i;
        json_array_foreach(list, i, b)
                assert_string_equal(json_string_value(json_object_get(b, "host")), "rack-a");
        json_decref(list);
}


/* The bound, publish, the other host's view of a board, and the sweep that claims a dead host's
 * jobs once (and again after it came back and died again). */
static void test_farm_publish_view_and_sweep(void **state)
{
        struct fx *f = *state;
        const int64_t t0 = 1767225600000;
        struct store *b = NULL;
        assert_int_equal(store_open(f->dir, &b, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(store_host_stale_ms(f->s), STORE_HOST_STALE_MS);
        store_host_set_stale_ms(f->s, 3000);
        store_host_set_stale_ms(b, 3000);
        assert_int_equal(store_host_stale_ms(b), 3000);
        assert_int_equal(store_host_set_name(f->s, "rack-a"), 0);
        assert_int_equal(store_host_set_name(b, "rack-b"), 0);
        assert_int_equal(store_host_register(f->s, "", "1", t0), 0);
        assert_int_equal(store_host_register(b, "", "1", t0), 0);
        assert_int_equal(store_board_upsert(f->s, "a1", "static-a1", NULL, NULL), 0);
        assert_int_equal(store_board_upsert(b, "b1", "static-b1", NULL, NULL), 0);
        int64_t job = 0;
        assert_int_equal(store_job_create(f->s, "a1", "run", NULL, 60, &job), 0);
        assert_int_equal(store_job_set_state(f->s, job, "running"), 0);

        json_t *states = json_pack("[{s:s, s:s, s:I}, {s:s, s:s, s:n}]", "id", "a1", "state", "busy", "running_job",
                                   (json_int_t)job, "id", "b1", "state", "online", "running_job");
        assert_int_equal(store_host_publish(f->s, states), 0); /* b1 is not rack-a's: ignored */
        json_decref(states);
        json_t *view = NULL;
        assert_int_equal(store_host_remote_boards(b, t0 + 3000, &view), 0);
        assert_int_equal(json_object_size(view), 1); /* rack-b's own board is not "remote" */
        json_t *a1 = json_object_get(view, "a1");
        assert_string_equal(json_string_value(json_object_get(a1, "host")), "rack-a");
        assert_string_equal(json_string_value(json_object_get(a1, "state")), "busy");
        assert_int_equal(json_integer_value(json_object_get(a1, "running_job")), job);
        assert_true(json_is_true(json_object_get(a1, "host_alive")));
        json_decref(view);
        /* publishing the same states again writes no row; a change is written (job cleared) */
        states = json_pack("[{s:s, s:s, s:n}]", "id", "a1", "state", "online", "running_job");
        assert_int_equal(store_host_publish(f->s, states), 0);
        assert_int_equal(store_host_publish(f->s, states), 0);
        json_decref(states);
        assert_int_equal(store_host_remote_boards(b, t0 + 3000, &view), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(view, "a1"), "state")), "online");
        assert_true(json_is_null(json_object_get(json_object_get(view, "a1"), "running_job")));
        json_decref(view);
        assert_int_equal(store_host_remote_boards(f->s, t0, &view), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(view, "b1"), "state")), "offline");
        json_decref(view); /* never published: offline */

        json_t *dead = NULL;
        assert_int_equal(store_host_sweep_dead(b, t0 + 3000, &dead), 0); /* within the bound */
        assert_int_equal(json_array_size(dead), 0);
        json_decref(dead);
        assert_int_equal(store_host_remote_boards(b, t0 + 3001, &view), 0);
        assert_true(json_is_false(json_object_get(json_object_get(view, "a1"), "host_alive")));
        json_decref(view);
        assert_int_equal(store_host_sweep_dead(b, t0 + 3001, &dead), 0);
        assert_int_equal(json_array_size(dead), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(dead, 0), "host")), "rack-a");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(dead, 0), "jobs")), 1);
        json_decref(dead);
        json_t *j = NULL;
        assert_int_equal(store_job_get(b, job, false, &j), 0);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "interrupted");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                            "host rack-a stopped answering (no heartbeat for 3 s) while this job was running; "
                            "host rack-b marked it interrupted");
        json_decref(j);
        assert_int_equal(store_host_sweep_dead(b, t0 + 9000, &dead), 0); /* claimed once */
        assert_int_equal(json_array_size(dead), 0);
        json_decref(dead);

        /* back, then dead again: claimed again */
        assert_int_equal(store_host_heartbeat(f->s, t0 + 10000), 0);
        assert_int_equal(store_host_sweep_dead(b, t0 + 12000, &dead), 0);
        assert_int_equal(json_array_size(dead), 0);
        json_decref(dead);
        assert_int_equal(store_host_sweep_dead(b, t0 + 13001, &dead), 0);
        assert_int_equal(json_array_size(dead), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(dead, 0), "jobs")), 0);
        json_decref(dead);

        int64_t id = 0;
        assert_int_equal(store_resv_next_id(b, &id), -EOPNOTSUPP); /* one host: reservations.c numbers them */
        store_close(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_register_needs_a_name_and_writes_one_row),
                T(test_heartbeat_moves_and_a_stale_host_is_not_alive),
                T(test_boards_carry_the_host_that_upserted_them),
                T(test_farm_publish_view_and_sweep),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
