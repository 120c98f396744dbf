/* Specification of the login limits and session revocation in auth.c: failed logins per client
 * address and logins per token per window (-EAGAIN with the seconds left, checked before the
 * secret), the per-token session cap (a token ends only its own oldest session), the counters
 * for /metrics, auth_identity_live after logout and reload, and the revoke hook. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"

#define S_OPS "operator-secret-01234"
#define S_BOSS "admin-secret-01234567"
#define NOW 1700000000000LL

static const char TOKENS[] = "[token ops]\nrole = operator\nsecret = " S_OPS "\n"
                             "[token boss]\nrole = admin\nsecret = " S_BOSS "\n";

static struct auth *auth_from(const char *text)
{
        char msg[512];
        struct config *c = malloc(sizeof(*c));
        config_defaults(c);
        assert_int_equal(config_load_string(c, "t.conf", text, strlen(text), msg, sizeof(msg)), 0);
        struct auth *a = NULL;
        assert_int_equal(auth_new(c, &a, msg, sizeof(msg)), 0);
        free(c);
        return a;
}

static void test_failed_logins_per_address_are_limited_then_the_window_ends(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1];
        unsigned retry = 99;
        for (int i = 0; i < AUTH_LOGIN_FAILS_PER_ADDR; i++) {
                assert_int_equal(auth_login_limited(a, "wrong-secret-xxxxxxxx", "10.0.0.1", NOW + i, sid, &id, &retry), -EACCES);
                assert_int_equal(retry, 0);
        }
        /* Limited: even the right secret, and the seconds left in the window. */
        assert_int_equal(auth_login_limited(a, S_OPS, "10.0.0.1", NOW + 20000, sid, &id, &retry), -EAGAIN);
        assert_int_equal(retry, AUTH_LOGIN_WINDOW_S - 20);
        /* Another address is not. */
        assert_int_equal(auth_login_limited(a, S_OPS, "10.0.0.2", NOW + 20000, sid, &id, &retry), 0);
        /* A new window. */
        assert_int_equal(auth_login_limited(a, S_OPS, "10.0.0.1", NOW + AUTH_LOGIN_WINDOW_S * 1000LL, sid, &id, &retry),
                         0);
        unsigned long long failed, limited;
        auth_login_counters(a, &failed, &limited);
        assert_int_equal(failed, AUTH_LOGIN_FAILS_PER_ADDR);
        assert_int_equal(limited, 1);
        auth_free(a);
}

static void test_logins_per_token_are_limited(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1];
        unsigned retry = 0;
        char addr[32];
        for (int i = 0; i < AUTH_LOGINS_PER_TOKEN; i++) {
                snprintf(addr, sizeof(addr), "10.0.1.%d", i);
                assert_int_equal(auth_login_limited(a, S_OPS, addr, NOW, sid, &id, &retry), 0);
        }
        assert_int_equal(auth_login_limited(a, S_OPS, "10.9.9.9", NOW + 1500, sid, &id, &retry), -EAGAIN);
        assert_int_equal(retry, AUTH_LOGIN_WINDOW_S - 1); /* 58.5 s left: rounded up */
        assert_int_equal(auth_login_limited(a, S_BOSS, "10.9.9.9", NOW + 1500, sid, &id, &retry), 0);
        auth_free(a);
}

static void test_a_token_ends_only_its_own_oldest_session(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char boss[AUTH_SID_HEX + 1], first[AUTH_SID_HEX + 1], sid[AUTH_SID_HEX + 1], cookie[128];
        assert_int_equal(auth_login(a, S_BOSS, NOW, boss, &id), 0);
        assert_int_equal(auth_login(a, S_OPS, NOW + 1, first, &id), 0);
        for (int i = 0; i < AUTH_MAX_SESSIONS + 10; i++)
                assert_int_equal(auth_login(a, S_OPS, NOW + 2 + i, sid, &id), 0);
        assert_int_equal(auth_session_count(a, NOW + 5), 1 + AUTH_SESSIONS_PER_TOKEN);
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", boss);
        assert_int_equal(auth_check(a, NULL, cookie, NOW + 5, &id), 0);
        assert_string_equal(id.name, "boss");
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", first);
        assert_int_equal(auth_check(a, NULL, cookie, NOW + 5, &id), -EACCES);
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", sid);
        assert_int_equal(auth_check(a, NULL, cookie, NOW + 5, &id), 0);
        auth_free(a);
}

static int hook_calls;
static void hook(void *user)
{
        (void)user;
        hook_calls++;
}

static void test_logout_and_reload_revoke_identities_and_call_the_hook(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        auth_on_revoke(a, hook, NULL);
        hook_calls = 0;
        struct auth_identity s1, s2, bearer, checked;
        char sid1[AUTH_SID_HEX + 1], sid2[AUTH_SID_HEX + 1], cookie[128];
        assert_int_equal(auth_login(a, S_OPS, NOW, sid1, &s1), 0);
        assert_int_equal(auth_login(a, S_OPS, NOW, sid2, &s2), 0);
        assert_int_equal(auth_check(a, "Bearer " S_BOSS, NULL, NOW, &bearer), 0);
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", sid1);
        assert_int_equal(auth_check(a, NULL, cookie, NOW, &checked), 0);
        assert_true(auth_identity_live(a, &checked, NOW));
        assert_true(auth_identity_live(a, &bearer, NOW));
        assert_int_equal(auth_logout(a, cookie), 1);
        assert_int_equal(hook_calls, 1);
        assert_false(auth_identity_live(a, &checked, NOW));
        assert_true(auth_identity_live(a, &s2, NOW));
        assert_false(auth_identity_live(a, &s2, NOW + AUTH_SESSION_TTL_S * 1000LL)); /* expired */
        /* Remove boss: its bearer identity no longer holds. */
        char msg[512];
        struct config *c = malloc(sizeof(*c));
        config_defaults(c);
        static const char only_ops[] = "[token ops]\nrole = operator\nsecret = " S_OPS "\n";
        assert_int_equal(config_load_string(c, "t.conf", only_ops, strlen(only_ops), msg, sizeof(msg)), 0);
        assert_int_equal(auth_reload(a, c, msg, sizeof(msg)), 0);
        free(c);
        assert_int_equal(hook_calls, 2);
        assert_false(auth_identity_live(a, &bearer, NOW));
        assert_true(auth_identity_live(a, &s2, NOW));
        auth_on_revoke(a, NULL, NULL);
        auth_free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_failed_logins_per_address_are_limited_then_the_window_ends),
                cmocka_unit_test(test_logins_per_token_are_limited),
                cmocka_unit_test(test_a_token_ends_only_its_own_oldest_session),
                cmocka_unit_test(test_logout_and_reload_revoke_identities_and_call_the_hook),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
