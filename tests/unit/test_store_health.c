/* The health record in the store and the policy over it: counters add and set atomically and
 * survive a restart; history is capped per board; the status keeps "since" while its state holds;
 * job outcomes become counters, and the rules quarantine (infra failures in a row, link errors, a
 * failed check) or release (a passed release check) with evidence and an audit row. */
#include "store_fixture.h"

#include <errno.h>

#include "events.h"
#include "health/health.h"
#include "health/health_policy.h"
#include "store/store_audit.h"
#include "store/store_health.h"
#include "store/store_hosts.h"

static json_int_t counter(struct fx *f, const char *board, const char *key)
{
        json_t *c = NULL;
        assert_int_equal(store_health_counters(f->s, board, &c), 0);
        json_int_t v = json_integer_value(json_object_get(c, key));
        json_decref(c);
        return v;
}

static void counters_add_and_set_and_survive_a_restart(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        json_t *a = json_pack("{s:i, s:i}", "link_errors", 3, "resends", 2);
        assert_int_equal(store_health_bump(f->s, "b1", a, NULL), 0);
        json_t *set = json_pack("{s:i}", "infra_failures_in_row", 7);
        assert_int_equal(store_health_bump(f->s, "b1", a, set), 0);
        json_decref(set);
        json_decref(a);
        reopen(f);
        assert_int_equal(counter(f, "b1", "link_errors"), 6);
        assert_int_equal(counter(f, "b1", "resends"), 4);
        assert_int_equal(counter(f, "b1", "infra_failures_in_row"), 7);
        assert_int_equal(store_health_bump(f->s, "nope", NULL, NULL), -ENOENT);
        json_t *all = NULL;
        assert_int_equal(store_health_counters_all(f->s, &all), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(all, "b1"), "resends")), 4);
        json_decref(all);
}

/* The health scheduler's reads: only the boards whose row names this host. */
static void counters_and_status_here_are_this_hosts_boards_only(void **state)
{
        struct fx *f = *state;
        assert_int_equal(store_host_set_name(f->s, "rack-a"), 0);
        add_board(f, "a1");
        assert_int_equal(store_host_set_name(f->s, "rack-b"), 0);
        add_board(f, "b1");
        json_t *one = json_pack("{s:i}", "link_errors", 1);
        assert_int_equal(store_health_bump(f->s, "a1", one, NULL), 0);
        assert_int_equal(store_health_bump(f->s, "b1", one, NULL), 0);
        json_decref(one);
        assert_int_equal(store_health_status_set(f->s, "a1", "degraded", "a", NULL), 0);
        assert_int_equal(store_health_status_set(f->s, "b1", "quarantined", "b", NULL), 0);
        json_t *c = NULL, *st = NULL;
        assert_int_equal(store_health_counters_here(f->s, &c), 0);
        assert_int_equal(store_health_status_here(f->s, &st), 0);
        assert_int_equal(json_object_size(c), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "b1"), "link_errors")), 1);
        assert_int_equal(json_object_size(st), 1);
        assert_string_equal(json_string_value(json_object_get(json_object_get(st, "b1"), "state")), "quarantined");
        json_decref(c);
        json_decref(st);
        assert_int_equal(store_health_counters_all(f->s, &c), 0);
        assert_int_equal(json_object_size(c), 2);
        json_decref(c);
}

static void history_is_capped_per_board_newest_first(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        add_board(f, "b2");
        assert_int_equal(store_health_history_add(f->s, "b2", "job", true, "other board", NULL), 0);
        for (int i = 0; i < STORE_HEALTH_HISTORY_KEEP + 5; i++) {
                char s[32];
                snprintf(s, sizeof(s), "job %d", i);
                assert_int_equal(store_health_history_add(f->s, "b1", "job", i % 2, s, NULL), 0);
        }
        assert_int_equal(raw_int(f, "SELECT count(*) FROM board_health_history WHERE board_id = 'b1'"),
                         STORE_HEALTH_HISTORY_KEEP);
        assert_int_equal(raw_int(f, "SELECT count(*) FROM board_health_history WHERE board_id = 'b2'"), 1);
        json_t *h = NULL;
        assert_int_equal(store_health_history(f->s, "b1", 3, &h), 0);
        assert_int_equal(json_array_size(h), 3);
        char want[32];
        snprintf(want, sizeof(want), "job %d", STORE_HEALTH_HISTORY_KEEP + 4);
        assert_string_equal(str(json_array_get(h, 0), "summary"), want);
        json_decref(h);
}

static void status_since_moves_only_when_the_state_changes(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        json_t *st = NULL;
        assert_int_equal(store_health_status_get(f->s, "b1", &st), -ENOENT);
        assert_int_equal(store_health_status_set(f->s, "b1", "degraded", "1 failure", NULL), 0);
        assert_int_equal(store_health_status_get(f->s, "b1", &st), 0);
        char since[40];
        snprintf(since, sizeof(since), "%s", str(st, "since"));
        json_decref(st);
        sleep_ms(5);
        assert_int_equal(store_health_status_set(f->s, "b1", "degraded", "2 failures", NULL), 0);
        assert_int_equal(store_health_status_get(f->s, "b1", &st), 0);
        assert_string_equal(str(st, "since"), since);
        assert_string_equal(str(st, "reason"), "2 failures");
        json_decref(st);
        json_t *ev = json_pack("{s:i}", "link_errors", 9);
        assert_int_equal(store_health_status_set(f->s, "b1", "quarantined", "rule", ev), 0);
        json_decref(ev);
        assert_int_equal(store_health_status_get(f->s, "b1", &st), 0);
        assert_string_not_equal(str(st, "since"), since);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "evidence"), "link_errors")), 9);
        json_decref(st);
        assert_int_equal(store_health_status_set(f->s, "b1", "sick", "", NULL), -EINVAL); /* CHECK */
        /* every board's status in one read, keyed by board; boards never set are absent */
        add_board(f, "b2");
        add_board(f, "b3");
        assert_int_equal(store_health_status_set(f->s, "b2", "degraded", "slow", NULL), 0);
        json_t *all = NULL;
        assert_int_equal(store_health_status_all(f->s, &all), 0);
        assert_int_equal(json_object_size(all), 2);
        assert_string_equal(str(json_object_get(all, "b1"), "state"), "quarantined");
        assert_string_equal(str(json_object_get(all, "b1"), "reason"), "rule");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(all, "b1"), "evidence"),
                                                            "link_errors")), 9);
        assert_string_equal(str(json_object_get(all, "b2"), "state"), "degraded");
        assert_null(json_object_get(all, "b3"));
        json_decref(all);
}

static void end(struct fx *f, struct events *ev, const char *kind, const char *state, const char *code, json_t *obs,
                json_t *params)
{
        static int64_t id;
        struct health_job j = { .id = ++id, .kind = kind, .state = state, .code = code, .message = code,
                                .obs = obs, .params = params };
        health_job_end(f->s, ev, "b1", &j);
        json_decref(obs);
        json_decref(params);
}

static const char *state_of(struct fx *f)
{
        return health_is_quarantined(f->s, "b1") ? "quarantined" : "not";
}

static void infra_failures_in_a_row_quarantine_script_failures_do_not(void **state)
{
        struct fx *f = *state;
        struct events *ev = NULL;
        assert_int_equal(events_new(&ev), 0);
        struct health_policy p;
        health_policy_defaults(&p);
        p.quarantine_after_infra_failures = 3;
        health_policy_publish(&p);
        add_board(f, "b1");
        end(f, ev, "run", "failed", "link_corrupt", NULL, NULL);
        end(f, ev, "run", "failed", "board_silent", NULL, NULL);
        end(f, ev, "run", "failed", "exec_failed", NULL, NULL); /* the script's fault: the row ends */
        assert_int_equal(counter(f, "b1", "infra_failures_in_row"), 0);
        assert_int_equal(counter(f, "b1", "script_failures"), 1);
        end(f, ev, "run", "failed", "cancelled", NULL, NULL); /* neither */
        end(f, ev, "run", "failed", "link_corrupt", NULL, NULL);
        end(f, ev, "run", "failed", "board_gone", NULL, NULL);
        assert_string_equal(state_of(f), "not");
        json_t *h = NULL;
        assert_int_equal(health_board_json(f->s, "b1", 5, &h), 0);
        assert_string_equal(str(h, "state"), "degraded");
        json_decref(h);
        end(f, ev, "identify", "failed", "no_prompt", NULL, NULL);
        assert_string_equal(state_of(f), "quarantined");
        assert_int_equal(counter(f, "b1", "infra_failures"), 5);
        assert_int_equal(counter(f, "b1", "disconnects"), 1);
        assert_int_equal(health_board_json(f->s, "b1", 5, &h), 0);
        assert_non_null(strstr(str(h, "reason"), "3 infrastructure failures in a row"));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(h, "evidence"), "counters"),
                                                            "infra_failures_in_row")), 3);
        json_decref(h);
        json_t *audit = NULL;
        assert_int_equal(store_audit_list(f->s, 5, &audit), 0);
        assert_string_equal(str(json_array_get(audit, 0), "path"), "/api/v1/boards/b1/quarantine");
        json_decref(audit);
        /* a failed release check keeps it out; a passed one releases it */
        end(f, ev, "health_check", "failed", "link_errors", NULL, json_pack("{s:b}", "release", 1));
        assert_string_equal(state_of(f), "quarantined");
        end(f, ev, "health_check", "succeeded", NULL, NULL, json_pack("{s:b}", "release", 0));
        assert_string_equal(state_of(f), "quarantined"); /* a scheduled check does not release */
        end(f, ev, "health_check", "succeeded", NULL, NULL, json_pack("{s:b, s:s}", "release", 1, "requested_by", "ops"));
        assert_string_equal(state_of(f), "not");
        assert_int_equal(counter(f, "b1", "infra_failures_in_row"), 0);
        assert_int_equal(counter(f, "b1", "checks_passed"), 2);
        events_free(ev);
}

static void link_errors_and_failed_checks_quarantine(void **state)
{
        struct fx *f = *state;
        struct events *ev = NULL;
        assert_int_equal(events_new(&ev), 0);
        struct health_policy p;
        health_policy_defaults(&p);
        p.quarantine_after_link_errors = 10;
        health_policy_publish(&p);
        add_board(f, "b1");
        end(f, ev, "run", "succeeded", NULL, json_pack("{s:i, s:i}", "link_errors", 6, "resends", 6), NULL);
        assert_string_equal(state_of(f), "not");
        end(f, ev, "fs_put", "succeeded", NULL, json_pack("{s:i}", "link_errors", 4), NULL);
        assert_string_equal(state_of(f), "quarantined");
        assert_int_equal(counter(f, "b1", "link_errors"), 10);
        end(f, ev, "health_check", "succeeded", NULL, NULL, json_pack("{s:b}", "release", 1));
        assert_string_equal(state_of(f), "not");
        assert_int_equal(counter(f, "b1", "link_errors_since_check"), 0);
        assert_int_equal(counter(f, "b1", "link_errors"), 10); /* the total stays */
        end(f, ev, "health_check", "failed", "loopback_failed", NULL, NULL);
        assert_string_equal(state_of(f), "quarantined");
        health_policy_defaults(&p);
        health_policy_publish(&p);
        events_free(ev);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(counters_add_and_set_and_survive_a_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(counters_and_status_here_are_this_hosts_boards_only, setup, teardown),
                cmocka_unit_test_setup_teardown(history_is_capped_per_board_newest_first, setup, teardown),
                cmocka_unit_test_setup_teardown(status_since_moves_only_when_the_state_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(infra_failures_in_a_row_quarantine_script_failures_do_not, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(link_errors_and_failed_checks_quarantine, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
