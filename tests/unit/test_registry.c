/* The board registry where its threads meet: job submission (validation, offline, leases), a
 * board that goes away while jobs are submitted, and the memory-only board lookup the WebSocket
 * upgrade uses. Boards are static ports on socket:// endpoints nobody listens on: the worker runs
 * and queues, the port never opens (jobs end failed, which these tests do not wait for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "events.h"
#include "jobs/console.h"
#include "registry.h"
#include "reservations.h"
#include "store/store.h"
#include "util.h"

struct rfx {
        char dir[64];
        struct store *store;
        struct events *events;
        struct console_dir *consoles;
        struct registry *reg;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb, (void)flag, (void)ftw;
        return remove(path);
}

static int setup(void **state)
{
        struct rfx *f = calloc(1, sizeof(*f));
        char msg[256];
        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_registry.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(store_open(f->dir, &f->store, msg, sizeof(msg)), 0);
        assert_int_equal(events_new(&f->events), 0);
        assert_int_equal(console_dir_new(&f->consoles), 0);
        /* One board stored before the registry starts (known, never plugged in this run). */
        assert_int_equal(store_board_upsert(f->store, "stored", "static-stored", "stored", NULL), 0);
        assert_int_equal(registry_new(f->store, f->events, f->consoles, NULL, &f->reg), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct rfx *f = *state;
        f->reg = registry_free(f->reg);
        f->consoles = console_dir_free(f->consoles);
        f->events = events_free(f->events);
        f->store = store_close(f->store);
        nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* A static port on an endpoint nobody listens on. */
static int plug(struct rfx *f, const char *id)
{
        char identity[64];
        snprintf(identity, sizeof(identity), "static-%s", id);
        struct board_source src = { .identity = identity, .id = id, .name = id, .url = "socket://127.0.0.1:9",
                                    .is_static = true };
        return registry_port_added(f->reg, &src);
}

static int unplug(struct rfx *f, const char *id)
{
        char identity[64];
        snprintf(identity, sizeof(identity), "static-%s", id);
        return registry_port_removed(f->reg, identity);
}

static int submit(struct rfx *f, const char *board, const char *body, const char *lease, json_t **job,
                  struct corral_error *err)
{
        json_t *b = json_loads(body, 0, NULL);
        assert_non_null(b);
        struct reg_caller c = { .name = "test", .lease = lease };
        int rc = registry_job_submit_as(f->reg, board, b, &c, job, err);
        json_decref(b);
        return rc;
}

static void refusals_name_the_problem_with_a_code(void **state)
{
        struct rfx *f = *state;
        struct corral_error err = { 0 };
        json_t *job = NULL;
        assert_int_equal(submit(f, "stored", "[1]", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_INVALID_BODY);
        assert_int_equal(submit(f, "stored", "{}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_MISSING_KIND);
        assert_non_null(json_object_get(err.details, "allowed"));
        assert_int_equal(submit(f, "stored", "{\"kind\": \"juggle\"}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_UNKNOWN_KIND);
        assert_string_equal(json_string_value(json_object_get(err.details, "kind")), "juggle");
        assert_int_equal(submit(f, "stored", "{\"kind\": \"reset\", \"timeout_s\": 0}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_INVALID_FIELD);
        assert_int_equal(submit(f, "stored", "{\"kind\": \"reset\", \"hold_ms\": 0}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_INVALID_PARAMS);
        assert_int_equal(submit(f, "nowhere", "{\"kind\": \"reset\"}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_BOARD_NOT_FOUND);
        assert_non_null(strstr(err.message, "nowhere"));
        assert_null(job);
        corral_error_clear(&err);
        assert_int_equal(err.code, CORRAL_OK);
        assert_null(err.details);
}

static void a_stored_board_that_is_not_plugged_in_is_offline_but_known(void **state)
{
        struct rfx *f = *state;
        struct corral_error err = { 0 };
        json_t *job = NULL;
        assert_true(registry_board_known(f->reg, "stored"));
        assert_false(registry_board_known(f->reg, "nowhere"));
        assert_int_equal(submit(f, "stored", "{\"kind\": \"reset\"}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_BOARD_OFFLINE);
        assert_string_equal(json_string_value(json_object_get(err.details, "board")), "stored");
        corral_error_clear(&err);
}

static void a_present_board_queues_and_cancels(void **state)
{
        struct rfx *f = *state;
        struct corral_error err = { 0 };
        assert_int_equal(plug(f, "b1"), 0);
        assert_true(registry_board_known(f->reg, "b1"));
        json_t *job = NULL;
        assert_int_equal(submit(f, "b1", "{\"kind\": \"reset\"}", NULL, &job, &err), 0);
        assert_int_equal(err.code, CORRAL_OK);
        int64_t id = json_integer_value(json_object_get(job, "id"));
        assert_true(id > 0);
        assert_string_equal(json_string_value(json_object_get(job, "board")), "b1");
        assert_string_equal(json_string_value(json_object_get(job, "kind")), "reset");
        json_decref(job);
        /* Cancel: queued or already ended (the port never opens); either way a clear answer. */
        json_t *c = NULL;
        int rc = registry_job_cancel(f->reg, id, &c, &err);
        assert_true(rc == 0 || (rc == -EINVAL && err.code == CORRAL_E_JOB_FINISHED));
        json_decref(c);
        corral_error_clear(&err);
        assert_int_equal(registry_job_cancel(f->reg, 999999, &c, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_JOB_NOT_FOUND);
        corral_error_clear(&err);
}

static void a_leased_board_takes_jobs_only_with_its_lease(void **state)
{
        struct rfx *f = *state;
        struct corral_error err = { 0 };
        assert_int_equal(plug(f, "b2"), 0);
        struct reservations *rs = registry_reservations(f->reg);
        assert_non_null(rs);
        json_t *body = json_loads("{\"match\": {\"board\": \"b2\"}, \"owner\": \"ci\"}", 0, NULL);
        struct resv_request req;
        assert_int_equal(reservations_parse_request(body, &req, &err), 0);
        json_t *boards = NULL, *lease = NULL;
        /* The board as the API would list it while its port is up (this one's never opens, and a
         * static port that cannot open shows "offline"): the lease logic is not under test here. */
        boards = json_pack("[{s:s, s:s, s:[]}]", "id", "b2", "state", "online", "labels");
        assert_int_equal(reservations_create(rs, &req, boards, util_wall_ms(), &lease, NULL, &err), 0);
        const char *token = json_string_value(json_object_get(lease, "token"));
        assert_non_null(token);
        json_t *job = NULL;
        assert_int_equal(submit(f, "b2", "{\"kind\": \"reset\"}", NULL, &job, &err), -EPERM);
        assert_int_equal(err.code, CORRAL_E_BOARD_RESERVED);
        assert_string_equal(json_string_value(json_object_get(err.details, "holder")), "ci");
        assert_int_equal(submit(f, "b2", "{\"kind\": \"reset\"}", "cl-999-nope", &job, &err), -EPERM);
        assert_int_equal(err.code, CORRAL_E_LEASE_UNKNOWN);
        assert_int_equal(submit(f, "b2", "{\"kind\": \"reset\"}", token, &job, &err), 0);
        assert_true(json_integer_value(json_object_get(job, "id")) > 0);
        /* An admin overrides the lease. */
        json_decref(job);
        json_t *b = json_loads("{\"kind\": \"reset\"}", 0, NULL);
        struct reg_caller admin = { .name = "admin", .lease_override = true };
        assert_int_equal(registry_job_submit_as(f->reg, "b2", b, &admin, &job, &err), 0);
        json_decref(b);
        json_decref(job);
        json_decref(lease);
        json_decref(boards);
        json_decref(body);
        corral_error_clear(&err);
}

static void a_board_that_goes_away_is_offline_and_still_known(void **state)
{
        struct rfx *f = *state;
        struct corral_error err = { 0 };
        assert_int_equal(plug(f, "b3"), 0);
        assert_int_equal(unplug(f, "b3"), 0);
        assert_int_equal(unplug(f, "b3"), -ENOENT);
        assert_true(registry_board_known(f->reg, "b3"));
        json_t *job = NULL, *board = NULL;
        assert_int_equal(submit(f, "b3", "{\"kind\": \"reset\"}", NULL, &job, &err), -EINVAL);
        assert_int_equal(err.code, CORRAL_E_BOARD_OFFLINE);
        assert_int_equal(registry_board_json(f->reg, "b3", &board), 0);
        assert_string_equal(json_string_value(json_object_get(board, "state")), "offline");
        json_decref(board);
        corral_error_clear(&err);
}

/* Submitters on several threads while the board is unplugged and plugged again and again: every
 * answer is a job or a clear refusal, and the registry's references keep each worker alive for
 * as long as a submitter uses it (ASan would see a use after free otherwise). */
struct race {
        struct rfx *f;
        atomic_bool stop;
        atomic_int ok, offline, other;
};

static void *submitter(void *arg)
{
        struct race *r = arg;
        json_t *body = json_pack("{s:s}", "kind", "reset");
        while (!atomic_load(&r->stop)) {
                struct corral_error err = { 0 };
                json_t *job = NULL;
                int rc = registry_job_submit(r->f->reg, "b4", body, &job, &err);
                if (rc == 0)
                        atomic_fetch_add(&r->ok, 1);
                else if (err.code == CORRAL_E_BOARD_OFFLINE || err.code == CORRAL_E_QUEUE_FULL)
                        atomic_fetch_add(&r->offline, 1);
                else
                        atomic_fetch_add(&r->other, 1);
                json_decref(job);
                corral_error_clear(&err);
        }
        json_decref(body);
        return NULL;
}

static void submissions_race_a_board_coming_and_going(void **state)
{
        struct rfx *f = *state;
        struct race r = { .f = f };
        pthread_t t[3];
        assert_int_equal(plug(f, "b4"), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(pthread_create(&t[i], NULL, submitter, &r), 0);
        while (atomic_load(&r.ok) == 0) /* the board takes jobs before the churn starts */
                usleep(1000);
        for (int round = 0; round < 20; round++) {
                usleep(5000);
                assert_int_equal(unplug(f, "b4"), 0);
                usleep(2000);
                assert_int_equal(plug(f, "b4"), 0);
        }
        atomic_store(&r.stop, true);
        for (int i = 0; i < 3; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&r.other), 0);
        assert_true(atomic_load(&r.ok) > 0);
        struct registry_stats st;
        registry_stats(f->reg, &st);
        assert_int_equal(st.boards_online + st.boards_busy + st.boards_offline, 2); /* stored, b4 */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(refusals_name_the_problem_with_a_code, setup, teardown),
                cmocka_unit_test_setup_teardown(a_stored_board_that_is_not_plugged_in_is_offline_but_known, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(a_present_board_queues_and_cancels, setup, teardown),
                cmocka_unit_test_setup_teardown(a_leased_board_takes_jobs_only_with_its_lease, setup, teardown),
                cmocka_unit_test_setup_teardown(a_board_that_goes_away_is_offline_and_still_known, setup, teardown),
                cmocka_unit_test_setup_teardown(submissions_race_a_board_coming_and_going, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
