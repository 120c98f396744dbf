/* Cross-host jobs and farm events (store_farm_jobs.h) on the SQLite store, one host: schema step
 * 10 is there (dispatch, cancel_requested, farm_events) and nothing dispatches: a post is
 * -ENODEV (the registry answers board_offline as before), a claim or a cancel list is empty, a
 * remote cancel is -ENOENT, events are neither written nor read. The PostgreSQL side runs in
 * tests/integration/farm_dispatch.test.mjs. */
#include <errno.h>

#include "store_fixture.h"
#include "store/store_farm_jobs.h"
#include "store/store_hosts.h"

static void test_schema_step_is_there_and_unused(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        int64_t id = 0;
        assert_int_equal(store_job_create(f->s, "b1", "reset", NULL, 10, &id), 0);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM jobs WHERE dispatch IS NULL AND cancel_requested = 0"), 1);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM farm_events"), 0);
}

static void test_nothing_dispatches_on_one_host(void **state)
{
        struct fx *f = *state;
        assert_int_equal(store_host_set_name(f->s, "solo"), 0);
        add_board(f, "b1");
        int64_t id = 0;
        json_t *params = json_pack("{s:s}", "kind", "reset");
        assert_int_equal(store_farm_job_post(f->s, "b1", "reset", params, 10, 1000, &id), -ENODEV);
        assert_int_equal(store_farm_job_post(NULL, "b1", "reset", params, 10, 1000, &id), -EINVAL);
        json_decref(params);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM jobs"), 0);

        json_t *rows = NULL;
        assert_int_equal(store_farm_job_claim(f->s, "claimed solo 1.1", &rows), 0);
        assert_int_equal(json_array_size(rows), 0);
        json_decref(rows);
        assert_int_equal(store_farm_job_claim(f->s, "pending", &rows), -EINVAL); /* not a claim token */
        assert_int_equal(store_farm_job_cancels(f->s, &rows), 0);
        assert_int_equal(json_array_size(rows), 0);
        json_decref(rows);

        assert_int_equal(store_job_create(f->s, "b1", "reset", NULL, 10, &id), 0);
        assert_int_equal(store_farm_job_cancel(f->s, id), -ENOENT);
        json_t *job = NULL;
        assert_int_equal(store_job_get(f->s, id, false, &job), 0);
        assert_string_equal(str(job, "state"), "queued");
        json_decref(job);

        json_t *ev = json_pack("[{s:s, s:{s:I}}]", "type", "job.state", "data", "job", (json_int_t)id);
        assert_int_equal(store_farm_events_put(f->s, ev, 1000), 0);
        json_decref(ev);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM farm_events"), 0);
        assert_int_equal(store_farm_events_since(f->s, 0, 10, &rows), 0);
        assert_int_equal(json_array_size(rows), 0);
        json_decref(rows);
        int64_t last = -1;
        assert_int_equal(store_farm_events_last(f->s, &last), 0);
        assert_int_equal(last, 0);
        assert_int_equal(store_farm_events_prune(f->s, 1000), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_schema_step_is_there_and_unused),
                T(test_nothing_dispatches_on_one_host),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
