/* Specification of reservations (daemon/reservations.c): request validation, matching, granting
 * and refusing leases, who may use a reserved board, renew/release with the token, expiry,
 * persistence across a restart, hashed tokens, and waiters. Time is passed in (no sleeping). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "reservations.h"
#include "store_fixture.h"
#include "store/store_reservations.h"

#define T0 1800000000000LL /* a fixed "now" in Unix ms */
#define M0 5000000ULL /* a fixed monotonic "now" (util_mono_ms), unrelated to T0 */

struct rfx {
        struct fx f;
        struct events *ev;
        struct reservations *rs;
        json_t *boards;
        int nevents;
        char last_type[64];
};

static void on_event(void *user, uint64_t seq, const char *type, const char *text)
{
        (void)seq, (void)text;
        struct rfx *r = user;
        if (!strncmp(type, "reservation.", 12)) {
                r->nevents++;
                snprintf(r->last_type, sizeof(r->last_type), "%s", type);
        }
}

static json_t *board(const char *id, const char *state, const char *family, const char *label)
{
        return json_pack("{s:s, s:s, s:s, s:[s]}", "id", id, "state", state, "family", family, "labels", label);
}

static int rsetup(void **state)
{
        struct rfx *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        snprintf(r->f.dir, sizeof(r->f.dir), "/tmp/test_resv.XXXXXX");
        assert_non_null(mkdtemp(r->f.dir));
        assert_int_equal(store_open(r->f.dir, &r->f.s, r->f.msg, sizeof(r->f.msg)), 0);
        assert_int_equal(events_new(&r->ev), 0);
        assert_int_equal(events_subscribe(r->ev, on_event, r), 0);
        assert_int_equal(reservations_new(r->f.s, r->ev, &r->rs), 0);
        r->boards = json_pack("[o, o, o]", board("e1", "online", "esp32", "ci"), board("e2", "busy", "esp32", "ci"),
                              board("m1", "offline", "micropython", "ci"));
        *state = r;
        return 0;
}

static int rteardown(void **state)
{
        struct rfx *r = *state;
        r->rs = reservations_free(r->rs);
        events_unsubscribe(r->ev, on_event, r);
        r->ev = events_free(r->ev);
        json_decref(r->boards);
        r->f.s = store_close(r->f.s);
        nftw(r->f.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(r);
        return 0;
}

/* Parse body text and try to reserve at now; returns the rc, *ret the reservation (or NULL). */
static int reserve(struct rfx *r, const char *body, int64_t now, json_t **ret, struct corral_error *err)
{
        json_t *b = json_loads(body, 0, NULL);
        assert_non_null(b);
        struct resv_request req;
        int rc = reservations_parse_request(b, &req, err);
        *ret = NULL;
        if (rc == 0)
                rc = reservations_create(r->rs, &req, r->boards, now, ret, NULL, err);
        json_decref(b);
        return rc;
}

static const char *token_of(const json_t *resv)
{
        return json_string_value(json_object_get(resv, "token"));
}

static int parse(const char *body, struct resv_request *req)
{
        struct corral_error err = { 0 };
        json_t *b = json_loads(body, 0, NULL);
        int rc = reservations_parse_request(b, req, &err);
        corral_error_clear(&err);
        json_decref(b);
        return rc;
}

/* ---- validation and matching ---- */

static void test_request_without_match_is_invalid(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"ttl_s\": 60}", &req), -EINVAL);
}

static void test_request_with_unknown_match_key_is_invalid(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"match\": {\"colour\": \"red\"}}", &req), -EINVAL);
}

static void test_request_with_non_string_label_is_invalid(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"match\": {\"labels\": [1]}}", &req), -EINVAL);
}

static void test_request_ttl_must_be_between_1_and_a_day(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"match\": {}, \"ttl_s\": 0}", &req), -EINVAL);
        assert_int_equal(parse("{\"match\": {}, \"ttl_s\": 86401}", &req), -EINVAL);
        assert_int_equal(parse("{\"match\": {}, \"ttl_s\": \"60\"}", &req), -EINVAL);
}

static void test_request_wait_is_bounded(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"match\": {}, \"wait_s\": 301}", &req), -EINVAL);
}

static void test_request_defaults_ttl_and_owner(void **state)
{
        (void)state;
        struct resv_request req;
        assert_int_equal(parse("{\"match\": {}}", &req), 0);
        assert_int_equal(req.ttl_s, RESV_TTL_DEFAULT_S);
        assert_int_equal(req.wait_s, 0);
        assert_string_equal(req.owner, "anonymous");
}

static void test_board_matches_needs_every_label_family_and_id(void **state)
{
        (void)state;
        json_t *b = json_pack("{s:s, s:s, s:[s, s]}", "id", "e1", "family", "esp32", "labels", "ci", "wifi");
        json_t *m1 = json_pack("{s:[s, s]}", "labels", "wifi", "ci");
        json_t *m2 = json_pack("{s:[s, s]}", "labels", "ci", "ble");
        json_t *m3 = json_pack("{s:s}", "family", "esp8266");
        json_t *m4 = json_pack("{s:s, s:s}", "board", "e1", "family", "esp32");
        json_t *m5 = json_object();
        assert_true(reservations_board_matches(b, m1));
        assert_false(reservations_board_matches(b, m2));
        assert_false(reservations_board_matches(b, m3));
        assert_true(reservations_board_matches(b, m4));
        assert_true(reservations_board_matches(b, m5));
        json_decref(b), json_decref(m1), json_decref(m2), json_decref(m3), json_decref(m4), json_decref(m5);
}

/* ---- granting ---- */

static void test_create_grants_the_first_free_matching_board_with_a_token_naming_its_id(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"family\": \"esp32\"}, \"ttl_s\": 60, \"owner\": \"ci-1\"}", T0, &a,
                                 &err), 0);
        assert_string_equal(json_string_value(json_object_get(a, "board")), "e1");
        assert_string_equal(json_string_value(json_object_get(a, "owner")), "ci-1");
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_token_id(token_of(a)), id);
        assert_int_equal(r->nevents, 1);
        assert_string_equal(r->last_type, "reservation.created");
        json_decref(a);
}

static void test_second_create_gets_the_next_free_board(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *b;
        assert_int_equal(reserve(r, "{\"match\": {\"labels\": [\"ci\"]}}", T0, &a, &err), 0);
        assert_int_equal(reserve(r, "{\"match\": {\"labels\": [\"ci\"]}}", T0, &b, &err), 0);
        assert_string_equal(json_string_value(json_object_get(b, "board")), "e2");
        json_decref(a), json_decref(b);
}

static void test_create_when_all_matching_are_reserved_is_busy_naming_the_holder(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *b;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"owner\": \"alice\", \"ttl_s\": 60}", T0, &a, &err), 0);
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"owner\": \"bob\"}", T0, &b, &err), -EBUSY);
        assert_null(b);
        assert_int_equal(err.code, CORRAL_E_BOARD_RESERVED);
        assert_string_equal(json_string_value(json_object_get(err.details, "holder")), "alice");
        assert_string_equal(json_string_value(json_object_get(err.details, "board")), "e1");
        assert_non_null(json_string_value(json_object_get(err.details, "expires_at")));
        corral_error_clear(&err);
        json_decref(a);
}

static void test_create_skips_offline_boards_and_says_when_none_is_online(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"family\": \"micropython\"}}", T0, &a, &err), -ENODEV);
        assert_int_equal(err.code, CORRAL_E_NO_BOARD_ONLINE);
        corral_error_clear(&err);
}

static void test_create_with_no_matching_board_is_not_found(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"labels\": [\"nope\"]}}", T0, &a, &err), -ENOENT);
        assert_int_equal(err.code, CORRAL_E_NO_MATCHING_BOARD);
        corral_error_clear(&err);
}

/* ---- using a reserved board ---- */

static void test_reserved_board_refuses_requests_without_the_lease(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"owner\": \"alice\"}", T0, &a, &err), 0);
        assert_int_equal(reservations_check_board(r->rs, "e1", NULL, T0, &err), -EBUSY);
        assert_int_equal(err.code, CORRAL_E_BOARD_RESERVED);
        assert_string_equal(json_string_value(json_object_get(err.details, "holder")), "alice");
        corral_error_clear(&err);
        json_decref(a);
}

static void test_reserved_board_accepts_its_lease_holder(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        assert_int_equal(reservations_check_board(r->rs, "e1", token_of(a), T0, &err), 0);
        json_decref(a);
}

static void test_free_board_accepts_requests_without_a_lease(void **state)
{
        struct rfx *r = *state;
        assert_int_equal(reservations_check_board(r->rs, "e2", NULL, T0, NULL), 0);
}

static void test_lease_for_another_board_is_refused(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        assert_int_equal(reservations_check_board(r->rs, "e2", token_of(a), T0, &err), -EXDEV);
        assert_int_equal(err.code, CORRAL_E_LEASE_NOT_FOR_BOARD);
        corral_error_clear(&err);
        json_decref(a);
}

static void test_released_lease_is_reported_lost(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *rel;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_release(r->rs, id, token_of(a), T0 + 1000, &rel, &err), 0);
        assert_int_equal(reservations_check_board(r->rs, "e1", token_of(a), T0 + 2000, &err), -ESTALE);
        assert_int_equal(err.code, CORRAL_E_LEASE_LOST);
        assert_string_equal(json_string_value(json_object_get(err.details, "state")), "released");
        corral_error_clear(&err);
        json_decref(a), json_decref(rel);
}

static void test_made_up_lease_is_unknown(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        assert_int_equal(reservations_check_board(r->rs, "e1", "cl-9-deadbeef", T0, &err), -ENOKEY);
        corral_error_clear(&err);
}

/* ---- renew, release, expiry ---- */

static void test_release_needs_the_token(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *rel = NULL;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_release(r->rs, id, NULL, T0, &rel, &err), -EACCES);
        assert_int_equal(err.code, CORRAL_E_LEASE_REQUIRED);
        assert_int_equal(reservations_release(r->rs, id, "cl-1-wrong", T0, &rel, &err), -EPERM);
        assert_int_equal(err.code, CORRAL_E_LEASE_MISMATCH);
        assert_null(rel);
        corral_error_clear(&err);
        json_decref(a);
}

static void test_release_of_unknown_id_is_not_found(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *rel = NULL;
        assert_int_equal(reservations_release(r->rs, 42, "x", T0, &rel, &err), -ENOENT);
        assert_int_equal(err.code, CORRAL_E_RESERVATION_NOT_FOUND);
        corral_error_clear(&err);
}

static void test_release_frees_the_board_for_the_next_create(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *b, *rel;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_release(r->rs, id, token_of(a), T0, &rel, &err), 0);
        assert_string_equal(json_string_value(json_object_get(rel, "state")), "released");
        assert_string_equal(r->last_type, "reservation.released");
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &b, &err), 0);
        json_decref(a), json_decref(b), json_decref(rel);
}

static void test_lease_expires_after_its_ttl(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *g;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"ttl_s\": 5}", T0, &a, &err), 0);
        assert_int_equal(reservations_check_board(r->rs, "e1", NULL, T0 + 4999, &err), -EBUSY);
        corral_error_clear(&err);
        reservations_reap(r->rs, T0 + 5000, M0 + 5000);
        assert_string_equal(r->last_type, "reservation.expired");
        assert_int_equal(reservations_check_board(r->rs, "e1", NULL, T0 + 5000, &err), 0);
        assert_int_equal(reservations_get(r->rs, json_integer_value(json_object_get(a, "id")), T0 + 5000, &g), 0);
        assert_string_equal(json_string_value(json_object_get(g, "state")), "expired");
        json_decref(a), json_decref(g);
}

static void test_renew_moves_the_expiry(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *n;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"ttl_s\": 5}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_renew(r->rs, id, token_of(a), 60, T0 + 4000, &n, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(n, "ttl_s")), 60);
        reservations_reap(r->rs, T0 + 10000, M0 + 10000);
        assert_int_equal(reservations_check_board(r->rs, "e1", NULL, T0 + 10000, &err), -EBUSY);
        corral_error_clear(&err);
        json_decref(a), json_decref(n);
}

static void test_renew_with_a_wrong_token_is_forbidden(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *n = NULL;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_renew(r->rs, id, "cl-1-nope", 60, T0, &n, &err), -EPERM);
        assert_int_equal(err.code, CORRAL_E_LEASE_MISMATCH);
        corral_error_clear(&err);
        json_decref(a);
}

/* ---- persistence ---- */

static void test_active_lease_survives_a_restart(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}, \"owner\": \"alice\"}", T0, &a, &err), 0);
        r->rs = reservations_free(r->rs);
        reopen(&r->f);
        assert_int_equal(reservations_new(r->f.s, NULL, &r->rs), 0);
        assert_int_equal(reservations_check_board(r->rs, "e1", NULL, T0, &err), -EBUSY);
        corral_error_clear(&err);
        assert_int_equal(reservations_check_board(r->rs, "e1", token_of(a), T0, &err), 0);
        json_decref(a);
}

static void test_store_keeps_only_the_sha256_of_the_token(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *row;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        assert_int_equal(store_resv_get(r->f.s, json_integer_value(json_object_get(a, "id")), &row), 0);
        char h[65];
        reservations_token_hash(token_of(a), h);
        assert_string_equal(json_string_value(json_object_get(row, "token_sha256")), h);
        assert_string_not_equal(h, token_of(a));
        json_decref(a), json_decref(row);
}

static void test_ids_keep_growing_after_a_restart(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *b, *rel;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        assert_int_equal(reservations_release(r->rs, id, token_of(a), T0, &rel, &err), 0);
        r->rs = reservations_free(r->rs);
        assert_int_equal(reservations_new(r->f.s, NULL, &r->rs), 0);
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &b, &err), 0);
        assert_true(json_integer_value(json_object_get(b, "id")) > id);
        json_decref(a), json_decref(b), json_decref(rel);
}

/* ---- waiters ---- */

static void count_wake(void *arg)
{
        (*(int *)arg)++;
}

static void test_waiter_is_woken_when_a_lease_ends(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *b, *rel;
        struct resv_request req;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        json_t *body = json_pack("{s:{s:s}}", "match", "board", "e1");
        assert_int_equal(reservations_parse_request(body, &req, &err), 0);
        uint64_t gen;
        assert_int_equal(reservations_create(r->rs, &req, r->boards, T0, &b, &gen, &err), -EBUSY);
        corral_error_clear(&err);
        int woken = 0;
        assert_int_equal(reservations_wait(r->rs, gen, M0 + 60000, count_wake, &woken), 0);
        reservations_reap(r->rs, T0 + 1000, M0 + 1000);
        assert_int_equal(woken, 0);
        assert_int_equal(reservations_release(r->rs, json_integer_value(json_object_get(a, "id")), token_of(a), T0 + 2000,
                                              &rel, &err), 0);
        assert_int_equal(woken, 1);
        json_decref(body), json_decref(a), json_decref(rel);
}

static void test_waiter_is_woken_at_once_when_a_lease_ended_meanwhile(void **state)
{
        struct rfx *r = *state;
        struct corral_error err = { 0 };
        json_t *a, *rel;
        assert_int_equal(reserve(r, "{\"match\": {\"board\": \"e1\"}}", T0, &a, &err), 0);
        uint64_t gen = 0; /* the counter as seen before the release below */
        assert_int_equal(reservations_release(r->rs, json_integer_value(json_object_get(a, "id")), token_of(a), T0, &rel,
                                              &err), 0);
        int woken = 0;
        assert_int_equal(reservations_wait(r->rs, gen, M0 + 60000, count_wake, &woken), 0);
        assert_int_equal(woken, 1);
        json_decref(a), json_decref(rel);
}

static void test_waiter_is_woken_at_its_retry_time(void **state)
{
        struct rfx *r = *state;
        int woken = 0;
        assert_int_equal(reservations_wait(r->rs, 0, M0 + 1000, count_wake, &woken), 0);
        reservations_reap(r->rs, T0 + 999, M0 + 999);
        assert_int_equal(woken, 0);
        reservations_reap(r->rs, T0 + 1000, M0 + 1000);
        assert_int_equal(woken, 1);
}

/* Waiters run on the monotonic clock: a wall clock stepped back an hour neither holds a waiter past
 * its retry time nor expires a lease early; one stepped forward does not wake a waiter early. */
static void test_waiter_retry_ignores_wall_clock_steps(void **state)
{
        struct rfx *r = *state;
        int woken = 0;
        assert_int_equal(reservations_wait(r->rs, 0, M0 + 1000, count_wake, &woken), 0);
        reservations_reap(r->rs, T0 + 3600000, M0 + 999); /* wall jumped ahead: not yet */
        assert_int_equal(woken, 0);
        reservations_reap(r->rs, T0 - 3600000, M0 + 1000); /* wall stepped back: due all the same */
        assert_int_equal(woken, 1);
}

static void test_closing_waiters_wakes_them_and_refuses_new_ones(void **state)
{
        struct rfx *r = *state;
        int woken = 0;
        assert_int_equal(reservations_wait(r->rs, 0, M0 + 60000, count_wake, &woken), 0);
        reservations_waiters_close(r->rs);
        assert_int_equal(woken, 1);
        assert_int_equal(reservations_wait(r->rs, 0, M0 + 60000, count_wake, &woken), -ESHUTDOWN);
        assert_int_equal(woken, 1);
}

#define RT(t) cmocka_unit_test_setup_teardown(t, rsetup, rteardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_without_match_is_invalid),
                cmocka_unit_test(test_request_with_unknown_match_key_is_invalid),
                cmocka_unit_test(test_request_with_non_string_label_is_invalid),
                cmocka_unit_test(test_request_ttl_must_be_between_1_and_a_day),
                cmocka_unit_test(test_request_wait_is_bounded),
                cmocka_unit_test(test_request_defaults_ttl_and_owner),
                cmocka_unit_test(test_board_matches_needs_every_label_family_and_id),
                RT(test_create_grants_the_first_free_matching_board_with_a_token_naming_its_id),
                RT(test_second_create_gets_the_next_free_board),
                RT(test_create_when_all_matching_are_reserved_is_busy_naming_the_holder),
                RT(test_create_skips_offline_boards_and_says_when_none_is_online),
                RT(test_create_with_no_matching_board_is_not_found),
                RT(test_reserved_board_refuses_requests_without_the_lease),
                RT(test_reserved_board_accepts_its_lease_holder),
                RT(test_free_board_accepts_requests_without_a_lease),
                RT(test_lease_for_another_board_is_refused),
                RT(test_released_lease_is_reported_lost),
                RT(test_made_up_lease_is_unknown),
                RT(test_release_needs_the_token),
                RT(test_release_of_unknown_id_is_not_found),
                RT(test_release_frees_the_board_for_the_next_create),
                RT(test_lease_expires_after_its_ttl),
                RT(test_renew_moves_the_expiry),
                RT(test_renew_with_a_wrong_token_is_forbidden),
                RT(test_active_lease_survives_a_restart),
                RT(test_store_keeps_only_the_sha256_of_the_token),
                RT(test_ids_keep_growing_after_a_restart),
                RT(test_waiter_is_woken_when_a_lease_ends),
                RT(test_waiter_is_woken_at_once_when_a_lease_ended_meanwhile),
                RT(test_waiter_is_woken_at_its_retry_time),
                RT(test_waiter_retry_ignores_wall_clock_steps),
                RT(test_closing_waiters_wakes_them_and_refuses_new_ones),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
