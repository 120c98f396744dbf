/* Specification of user auth: secrets hashed by the config parser, the loopback rule, bearer and
 * cookie checks, login sessions (expiry, logout, reload), and the audit log and configurable job
 * log cap in the store. */
#include <errno.h>
#include <string.h>

#include "digest.h"
#include "auth.h"
#include "config.h"
#include "store/store_audit.h"
#include "store_fixture.h"

#define S_VIEW "viewer-secret-0123456"
#define S_OPS "operator-secret-01234"
#define S_BOSS "admin-secret-01234567"
#define NOW 1700000000000LL

static struct config *cfg_with(const char *text, char *msg, size_t msg_size, int *r)
{
        struct config *c = malloc(sizeof(*c));
        config_defaults(c);
        *r = config_load_string(c, "t.conf", text, strlen(text), msg, msg_size);
        return c;
}

static const char TOKENS[] = "[token view]\nrole = viewer\n"
                             "secret = sha256:A50D8C9AE3F6D2A1C9E8B5C0A2D4F6E8B0C2D4E6F8A0B2C4D6E8F0A2B4C6D8E0\n"
                             "[token ops]\nrole = operator\nsecret = " S_OPS "\n"
                             "[token boss]\nrole = admin\nsecret = " S_BOSS "\n";

static struct auth *auth_from(const char *text)
{
        char msg[512];
        int r;
        struct config *c = cfg_with(text, msg, sizeof(msg), &r);
        assert_int_equal(r, 0);
        struct auth *a = NULL;
        assert_int_equal(auth_new(c, &a, msg, sizeof(msg)), 0);
        free(c);
        return a;
}

static void test_plain_secret_is_kept_only_as_its_sha256(void **state)
{
        (void)state;
        char msg[512], want[65];
        int r;
        struct config *c = cfg_with(TOKENS, msg, sizeof(msg), &r);
        assert_int_equal(r, 0);
        assert_int_equal(digest_sha256_hex(S_OPS, strlen(S_OPS), want), 0);
        assert_string_equal(c->tokens[1].secret + 7, want);
        assert_memory_equal(c->tokens[1].secret, "sha256:", 7);
        assert_null(memmem(c, sizeof(*c), S_OPS, strlen(S_OPS)));
        /* a configured digest is kept, lowercased */
        assert_string_equal(c->tokens[0].secret,
                            "sha256:a50d8c9ae3f6d2a1c9e8b5c0a2d4f6e8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0");
        free(c);
}

static void test_bad_sha256_secret_names_file_and_line(void **state)
{
        (void)state;
        char msg[512];
        int r;
        free(cfg_with("# x\n[token t]\nrole = viewer\nsecret = sha256:12zz\n", msg, sizeof(msg), &r));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(msg, "t.conf:4: 'secret = sha256:...' wants 64 hex digits"));
}

static void test_two_tokens_with_one_secret_are_refused(void **state)
{
        (void)state;
        char msg[512];
        int r;
        free(cfg_with("[token a]\nrole = viewer\nsecret = " S_OPS "\n[token b]\nrole = admin\nsecret = " S_OPS "\n",
                      msg, sizeof(msg), &r));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(msg, "same secret"));
}

static void test_loopback_addresses(void **state)
{
        (void)state;
        assert_true(auth_host_is_loopback("127.0.0.1"));
        assert_true(auth_host_is_loopback("127.3.2.1"));
        assert_true(auth_host_is_loopback("::1"));
        assert_true(auth_host_is_loopback("::ffff:127.0.0.1"));
        assert_true(auth_host_is_loopback("localhost"));
        assert_false(auth_host_is_loopback("0.0.0.0"));
        assert_false(auth_host_is_loopback("::"));
        assert_false(auth_host_is_loopback("10.0.0.5"));
        assert_false(auth_host_is_loopback("128.0.0.1"));
}

static void test_non_loopback_without_tokens_is_refused_with_a_reason(void **state)
{
        (void)state;
        char msg[512];
        struct config c;
        config_defaults(&c);
        assert_int_equal(config_parse_listen(&c, "0.0.0.0:7070", msg, sizeof(msg)), 0);
        struct auth *a = NULL;
        assert_int_equal(auth_new(&c, &a, msg, sizeof(msg)), -EPERM);
        assert_null(a);
        assert_non_null(strstr(msg, "refusing to listen on 0.0.0.0:7070 without tokens"));
}

static void test_loopback_without_tokens_is_anonymous_admin(void **state)
{
        (void)state;
        struct auth *a = auth_from("");
        struct auth_identity id;
        assert_false(auth_enabled(a));
        assert_int_equal(auth_check(a, NULL, NULL, NOW, &id), 0);
        assert_string_equal(id.name, AUTH_ANONYMOUS);
        assert_int_equal(id.role, AUTH_ROLE_ADMIN);
        auth_free(a);
}

static void test_bearer_token_gives_its_name_and_role(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        assert_int_equal(auth_check(a, "Bearer " S_OPS, NULL, NOW, &id), 0);
        assert_string_equal(id.name, "ops");
        assert_int_equal(id.role, AUTH_ROLE_OPERATOR);
        assert_false(id.session);
        assert_int_equal(auth_check(a, "bearer   " S_BOSS "  ", NULL, NOW, &id), 0);
        assert_string_equal(id.name, "boss");
        auth_free(a);
}

static void test_missing_wrong_or_other_scheme_credentials_are_refused(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id = { .role = AUTH_ROLE_NONE };
        assert_int_equal(auth_check(a, NULL, NULL, NOW, &id), -ENOKEY);
        assert_int_equal(auth_check(a, "Bearer nope-nope-nope-nope", NULL, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, "Basic " S_OPS, NULL, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, "Bearer ", NULL, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, "Bearer " S_OPS "x", NULL, NOW, &id), -EACCES);
        assert_int_equal(id.role, AUTH_ROLE_NONE); /* untouched on failure */
        auth_free(a);
}

static void test_login_session_cookie_authenticates_until_it_expires(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1], cookie[160];
        assert_int_equal(auth_login(a, S_BOSS, NOW, sid, &id), 0);
        assert_int_equal(strlen(sid), AUTH_SID_HEX);
        snprintf(cookie, sizeof(cookie), "theme=dark; " AUTH_COOKIE "=%s; other=1", sid);
        assert_int_equal(auth_check(a, NULL, cookie, NOW + 1000, &id), 0);
        assert_string_equal(id.name, "boss");
        assert_true(id.session);
        assert_int_equal(auth_check(a, NULL, cookie, NOW + (int64_t)AUTH_SESSION_TTL_S * 1000 + 1, &id), -EACCES);
        assert_int_equal(auth_session_count(a, NOW), 0); /* the expired one was dropped */
        auth_free(a);
}

/* A session lasts exactly AUTH_SESSION_TTL_S: valid 1 ms before its end, ended at its end. */
static void test_session_ends_at_the_exact_expiry_instant(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1], cookie[160];
        const int64_t end = NOW + (int64_t)AUTH_SESSION_TTL_S * 1000;
        assert_int_equal(auth_login(a, S_OPS, NOW, sid, &id), 0);
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", sid);
        assert_int_equal(auth_session_count(a, end - 1), 1);
        assert_int_equal(auth_session_count(a, end), 0);
        assert_int_equal(auth_check(a, NULL, cookie, end - 1, &id), 0);
        assert_string_equal(id.name, "ops");
        assert_int_equal(id.role, AUTH_ROLE_OPERATOR);
        assert_int_equal(auth_check(a, NULL, cookie, end, &id), -EACCES);
        /* once refused, the session is gone even for an earlier clock */
        assert_int_equal(auth_check(a, NULL, cookie, end - 1, &id), -EACCES);
        auth_free(a);
}

/* Each role name parses to its role and back; anything else is refused. */
static void test_role_names_parse_both_ways(void **state)
{
        (void)state;
        static const struct {
                const char *name;
                enum auth_role role;
        } v[] = { { "viewer", AUTH_ROLE_VIEWER }, { "operator", AUTH_ROLE_OPERATOR }, { "admin", AUTH_ROLE_ADMIN } };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                enum auth_role r = AUTH_ROLE_NONE;
                assert_int_equal(auth_role_parse(v[i].name, &r), 0);
                assert_int_equal(r, v[i].role);
                assert_string_equal(auth_role_name(v[i].role), v[i].name);
        }
        enum auth_role r = AUTH_ROLE_NONE;
        assert_int_equal(auth_role_parse("none", &r), -EINVAL);
        assert_int_equal(auth_role_parse("Admin", &r), -EINVAL);
        assert_int_equal(auth_role_parse("", &r), -EINVAL);
        assert_int_equal(auth_role_parse(NULL, &r), -EINVAL);
        assert_int_equal(r, AUTH_ROLE_NONE);
}

static void test_login_with_a_wrong_secret_is_eacces(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1];
        assert_int_equal(auth_login(a, "not-the-secret-at-all", NOW, sid, &id), -EACCES);
        assert_int_equal(auth_session_count(a, NOW), 0);
        auth_free(a);
}

static void test_logout_ends_only_that_session(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char s1[AUTH_SID_HEX + 1], s2[AUTH_SID_HEX + 1], c1[128], c2[128];
        assert_int_equal(auth_login(a, S_OPS, NOW, s1, &id), 0);
        assert_int_equal(auth_login(a, S_OPS, NOW, s2, &id), 0);
        snprintf(c1, sizeof(c1), AUTH_COOKIE "=%s", s1);
        snprintf(c2, sizeof(c2), AUTH_COOKIE "=%s", s2);
        assert_int_equal(auth_logout(a, c1), 1);
        assert_int_equal(auth_logout(a, c1), 0);
        assert_int_equal(auth_check(a, NULL, c1, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, NULL, c2, NOW, &id), 0);
        auth_free(a);
}

static void test_sessions_are_bounded(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1];
        for (int i = 0; i < AUTH_MAX_SESSIONS + 10; i++)
                assert_int_equal(auth_login(a, S_OPS, NOW + i, sid, &id), 0);
        assert_int_equal(auth_session_count(a, NOW), AUTH_SESSIONS_PER_TOKEN); /* a token has its own share */
        auth_free(a);
}

static void test_reload_ends_sessions_of_removed_tokens_and_keeps_the_others(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char s_ops[AUTH_SID_HEX + 1], s_boss[AUTH_SID_HEX + 1], c_ops[128], c_boss[128], msg[512];
        assert_int_equal(auth_login(a, S_OPS, NOW, s_ops, &id), 0);
        assert_int_equal(auth_login(a, S_BOSS, NOW, s_boss, &id), 0);
        snprintf(c_ops, sizeof(c_ops), AUTH_COOKIE "=%s", s_ops);
        snprintf(c_boss, sizeof(c_boss), AUTH_COOKIE "=%s", s_boss);
        int r;
        /* ops is gone; boss is now a viewer with the same secret */
        struct config *c = cfg_with("[token boss]\nrole = viewer\nsecret = " S_BOSS "\n", msg, sizeof(msg), &r);
        assert_int_equal(r, 0);
        assert_int_equal(auth_reload(a, c, msg, sizeof(msg)), 0);
        assert_int_equal(auth_check(a, NULL, c_ops, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, "Bearer " S_OPS, NULL, NOW, &id), -EACCES);
        assert_int_equal(auth_check(a, NULL, c_boss, NOW, &id), 0);
        assert_int_equal(id.role, AUTH_ROLE_VIEWER);
        free(c);
        auth_free(a);
}

static void test_reload_with_a_new_secret_ends_the_sessions_of_the_old_one(void **state)
{
        (void)state;
        struct auth *a = auth_from(TOKENS);
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 1], cookie[128], msg[512];
        assert_int_equal(auth_login(a, S_OPS, NOW, sid, &id), 0);
        snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s", sid);
        int r;
        struct config *c = cfg_with("[token ops]\nrole = operator\nsecret = rotated-secret-0123456\n", msg, sizeof(msg), &r);
        assert_int_equal(r, 0);
        assert_int_equal(auth_reload(a, c, msg, sizeof(msg)), 0);
        assert_int_equal(auth_check(a, NULL, cookie, NOW, &id), -EACCES);
        assert_int_equal(auth_session_count(a, NOW), 0);
        assert_int_equal(auth_check(a, "Bearer rotated-secret-0123456", NULL, NOW, &id), 0);
        assert_string_equal(id.name, "ops");
        free(c);
        auth_free(a);
}

static void test_reload_to_no_tokens_on_a_public_address_keeps_the_old_ones(void **state)
{
        (void)state;
        char msg[512];
        int r;
        struct config *c = cfg_with("listen = 0.0.0.0:7070\n[token ops]\nrole = operator\nsecret = " S_OPS "\n", msg,
                                    sizeof(msg), &r);
        assert_int_equal(r, 0);
        struct auth *a = NULL;
        assert_int_equal(auth_new(c, &a, msg, sizeof(msg)), 0);
        c->ntokens = 0;
        assert_int_equal(auth_reload(a, c, msg, sizeof(msg)), -EPERM);
        struct auth_identity id;
        assert_int_equal(auth_check(a, "Bearer " S_OPS, NULL, NOW, &id), 0);
        free(c);
        auth_free(a);
}

static void test_limit_keys_parse_and_refuse_out_of_range_values(void **state)
{
        (void)state;
        char msg[512];
        int r;
        struct config *c = cfg_with("max_viewers = 5\nmax_log_lines = 100\nmax_connections = 9\n", msg, sizeof(msg), &r);
        assert_int_equal(r, 0);
        assert_int_equal(c->max_viewers, 5);
        assert_int_equal(c->max_log_lines, 100);
        assert_int_equal(c->max_connections, 9);
        free(c);
        free(cfg_with("\nmax_viewers = 100\n", msg, sizeof(msg), &r));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(msg, "t.conf:2: 'max_viewers' must be a whole number from 1 to 64"));
}

/* ---- store: audit and the job log cap ---- */

static void test_audit_lists_newest_first_with_who_what_when(void **state)
{
        struct fx *f = *state;
        json_t *list;
        assert_int_equal(store_audit_add(f->s, "ops", "POST", "/api/v1/boards/b/jobs", 202), 0);
        assert_int_equal(store_audit_add(f->s, "boss", "DELETE", "/api/v1/firmware/abc", 200), 0);
        assert_int_equal(store_audit_list(f->s, 10, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        json_t *e = json_array_get(list, 0);
        assert_string_equal(str(e, "token"), "boss");
        assert_string_equal(str(e, "method"), "DELETE");
        assert_string_equal(str(e, "path"), "/api/v1/firmware/abc");
        assert_int_equal(json_integer_value(json_object_get(e, "status")), 200);
        assert_int_equal(strlen(str(e, "at")), 24);
        json_decref(list);
        assert_int_equal(store_audit_list(f->s, 1, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        json_decref(list);
}

static void test_audit_keeps_only_the_newest_rows(void **state)
{
        struct fx *f = *state;
        for (int i = 0; i < STORE_AUDIT_KEEP + 130; i++)
                assert_int_equal(store_audit_add(f->s, "ops", "POST", "/x", 200), 0);
        int64_t n = 0;
        json_t *list;
        assert_int_equal(store_audit_list(f->s, STORE_AUDIT_LIST_MAX, &list), 0);
        n = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
        json_decref(list);
        int64_t rows = raw_int(f, "SELECT count(*) FROM audit");
        assert_true(rows <= STORE_AUDIT_KEEP + 64);
        assert_true(rows >= STORE_AUDIT_KEEP);
        assert_int_equal(n, STORE_AUDIT_KEEP + 130);
}

static void test_job_log_cap_is_configurable_with_a_marker_after_it(void **state)
{
        struct fx *f = *state;
        add_board(f, "b1");
        int64_t id = add_job(f, "b1", "identify");
        store_set_job_log_max(f->s, 3);
        for (int i = 1; i <= 7; i++) {
                char line[32];
                snprintf(line, sizeof(line), "line %d", i);
                assert_int_equal(store_job_log_append(f->s, id, line), 0);
        }
        json_t *j;
        assert_int_equal(store_job_get(f->s, id, true, &j), 0);
        json_t *log = json_object_get(j, "log");
        assert_int_equal(json_array_size(log), 4);
        assert_string_equal(str(json_array_get(log, 2), "line"), "line 3");
        assert_string_equal(str(json_array_get(log, 3), "line"), "\xe2\x80\xa6 log truncated (4 more lines)");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_secret_is_kept_only_as_its_sha256),
                cmocka_unit_test(test_bad_sha256_secret_names_file_and_line),
                cmocka_unit_test(test_two_tokens_with_one_secret_are_refused),
                cmocka_unit_test(test_loopback_addresses),
                cmocka_unit_test(test_non_loopback_without_tokens_is_refused_with_a_reason),
                cmocka_unit_test(test_loopback_without_tokens_is_anonymous_admin),
                cmocka_unit_test(test_bearer_token_gives_its_name_and_role),
                cmocka_unit_test(test_missing_wrong_or_other_scheme_credentials_are_refused),
                cmocka_unit_test(test_login_session_cookie_authenticates_until_it_expires),
                cmocka_unit_test(test_session_ends_at_the_exact_expiry_instant),
                cmocka_unit_test(test_role_names_parse_both_ways),
                cmocka_unit_test(test_login_with_a_wrong_secret_is_eacces),
                cmocka_unit_test(test_logout_ends_only_that_session),
                cmocka_unit_test(test_sessions_are_bounded),
                cmocka_unit_test(test_reload_ends_sessions_of_removed_tokens_and_keeps_the_others),
                cmocka_unit_test(test_reload_with_a_new_secret_ends_the_sessions_of_the_old_one),
                cmocka_unit_test(test_reload_to_no_tokens_on_a_public_address_keeps_the_old_ones),
                cmocka_unit_test(test_limit_keys_parse_and_refuse_out_of_range_values),
                cmocka_unit_test_setup_teardown(test_audit_lists_newest_first_with_who_what_when, setup, teardown),
                cmocka_unit_test_setup_teardown(test_audit_keeps_only_the_newest_rows, setup, teardown),
                cmocka_unit_test_setup_teardown(test_job_log_cap_is_configurable_with_a_marker_after_it, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
