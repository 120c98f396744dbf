/* Connection budget and front door classification: a head is routed only once complete, per-address
 * and total caps, counts given back, idle watched connections shut down and busy ones kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn_budget.h"
#include "ws_frontdoor.h"

static enum frontdoor_route classify(const char *s)
{
        return frontdoor_classify(s, strlen(s));
}

static void a_head_is_routed_only_once_complete(void **state)
{
        (void)state;
        assert_int_equal(classify(""), FRONTDOOR_MORE);
        assert_int_equal(classify("GET /ws/v1/events HTTP/1.1\r\nHost: x\r\n"), FRONTDOOR_MORE);
        assert_int_equal(classify("GET /ws/v1/events HTTP/1.1\r\nHost: x\r\n\r\n"), FRONTDOOR_WS);
        assert_int_equal(classify("GET /api/v1/boards HTTP/1.1\r\nHost: x\r\n\r"), FRONTDOOR_MORE);
        assert_int_equal(classify("GET /api/v1/boards HTTP/1.1\r\nHost: x\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(classify("GET /api/v1/boards HTTP/1.0\n\n"), FRONTDOOR_HTTP);
        assert_int_equal(classify("GET /ws/x HTTP/1.1\n\nbody"), FRONTDOOR_WS);
        assert_int_equal(classify("POST /ws/v1/events HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(classify("GET /w\r\n\r\n"), FRONTDOOR_HTTP);
}

static void a_head_without_end_is_too_large_at_the_limit(void **state)
{
        (void)state;
        static char big[FRONTDOOR_HEAD_MAX];
        memset(big, 'a', sizeof(big));
        assert_int_equal(frontdoor_classify(big, sizeof(big) - 1), FRONTDOOR_MORE);
        assert_int_equal(frontdoor_classify(big, sizeof(big)), FRONTDOOR_TOO_LARGE);
        memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
        assert_int_equal(frontdoor_classify(big, sizeof(big)), FRONTDOOR_HTTP);
}

static struct sockaddr_in v4(const char *ip, unsigned port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, ip, &a.sin_addr);
        return a;
}

static void caps_per_address_and_in_all(void **state)
{
        (void)state;
        struct conn_budget *b = conn_budget_new();
        assert_non_null(b);
        struct sockaddr_in a1 = v4("127.0.0.2", 1000), a2 = v4("127.0.0.2", 2000), c = v4("127.0.0.3", 1000);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&a1, CONN_HTTP, 4, 2), 0);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&a2, CONN_WS, 4, 2), 0); /* port ignored */
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&a1, CONN_HTTP, 4, 2), -EUSERS);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&c, CONN_WS, 4, 2), 0);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&c, CONN_HTTP, 4, 2), 0);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&c, CONN_HTTP, 4, 0), -EBUSY);
        struct conn_budget_stats st;
        conn_budget_stats(b, &st);
        assert_int_equal(st.open[CONN_HTTP], 2);
        assert_int_equal(st.open[CONN_WS], 2);
        conn_budget_put(b, (struct sockaddr *)&a2, CONN_WS);
        assert_int_equal(conn_budget_take(b, (struct sockaddr *)&a1, CONN_HTTP, 4, 2), 0);
        conn_budget_put(b, (struct sockaddr *)&a1, CONN_HTTP);
        conn_budget_put(b, (struct sockaddr *)&a1, CONN_HTTP);
        conn_budget_put(b, (struct sockaddr *)&a1, CONN_HTTP); /* one too many: ignored */
        conn_budget_put(b, (struct sockaddr *)&c, CONN_WS);
        conn_budget_put(b, (struct sockaddr *)&c, CONN_HTTP);
        conn_budget_stats(b, &st);
        assert_int_equal(st.open[CONN_HTTP], 0);
        assert_int_equal(st.open[CONN_WS], 0);
        conn_budget_refused(b, CONN_REFUSED_HEAD_TIMEOUT);
        conn_budget_stats(b, &st);
        assert_int_equal(st.refused[CONN_REFUSED_HEAD_TIMEOUT], 1);
        assert_string_equal(conn_refusal_name(CONN_REFUSED_HEAD_TIMEOUT), "head_timeout");
        assert_null(conn_budget_free(b));
        assert_null(conn_budget_free(NULL));
}

static void idle_watched_connections_are_shut_busy_ones_kept(void **state)
{
        (void)state;
        struct conn_budget *b = conn_budget_new();
        int idle[2], busy[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, idle), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
        struct conn_watch *wi = conn_budget_watch(b, idle[0], 1000);
        struct conn_watch *wb = conn_budget_watch(b, busy[0], 1000);
        conn_budget_busy(b, wb, true, 0);
        conn_budget_reap(b, 999);
        char c;
        assert_int_equal(recv(idle[1], &c, 1, MSG_DONTWAIT), -1); /* not yet */
        conn_budget_reap(b, 1000);
        assert_int_equal(recv(idle[1], &c, 1, MSG_DONTWAIT), 0); /* shut: EOF */
        assert_int_equal(recv(busy[1], &c, 1, MSG_DONTWAIT), -1);
        struct conn_budget_stats st;
        conn_budget_stats(b, &st);
        assert_int_equal(st.refused[CONN_REFUSED_IDLE_TIMEOUT], 1);
        conn_budget_busy(b, wb, false, 2000);
        conn_budget_unwatch(b, wi);
        conn_budget_reap(b, 2000);
        assert_int_equal(recv(busy[1], &c, 1, MSG_DONTWAIT), 0);
        conn_budget_unwatch(b, wb);
        conn_budget_unwatch(b, NULL);
        conn_budget_free(b);
        close(idle[0]), close(idle[1]), close(busy[0]), close(busy[1]);
}

/* Malformed heads are refused by the front door with a JSON error (libmicrohttpd would answer
 * them with its own HTML page); well-formed ones pass. */
static void test_head_check(void **state)
{
        (void)state;
        char msg[160];
#define CHECK(s) frontdoor_check_head((s), strlen(s), msg, sizeof(msg))
        assert_int_equal(CHECK("GET /api/v1/boards HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n"), CORRAL_OK);
        assert_int_equal(CHECK("GET / HTTP/1.0\n\n"), CORRAL_OK);
        assert_int_equal(CHECK("POST /api/v1/firmware HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), CORRAL_OK);
        assert_int_equal(CHECK("GET / HTTP/1.1\r\nHost: x\r\n\r\nnot a header: after the head"), CORRAL_OK);
        assert_int_equal(CHECK("GARBAGE\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_non_null(strstr(msg, "METHOD TARGET"));
        assert_int_equal(CHECK("GET  HTTP/1.1\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_non_null(strstr(msg, "target"));
        assert_int_equal(CHECK("GET /a\x01b HTTP/1.1\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("GET / HTTP/1.1 extra\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("GET / HTTX/1.1\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("G(T / HTTP/1.1\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("GET / HTTP/2.0\r\n\r\n"), CORRAL_E_HTTP_VERSION_NOT_SUPPORTED);
        assert_non_null(strstr(msg, "HTTP/2.0"));
        assert_int_equal(CHECK("GET / HTTP/1.2\r\n\r\n"), CORRAL_E_HTTP_VERSION_NOT_SUPPORTED);
        assert_int_equal(CHECK("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_string_equal(msg, "Header line 'no colon here' is not 'Name: value'.");
        assert_int_equal(CHECK("GET / HTTP/1.1\r\n: empty name\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        assert_int_equal(CHECK("GET / HTTP/1.1\r\nX:\x01\x02\r\nY z\r\n\r\n"), CORRAL_E_BAD_REQUEST);
        for (const char *c = msg; *c; c++)
                assert_true((unsigned char)*c >= ' '); /* control bytes never echoed */
#undef CHECK
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_head_check),
                cmocka_unit_test(a_head_is_routed_only_once_complete),
                cmocka_unit_test(a_head_without_end_is_too_large_at_the_limit),
                cmocka_unit_test(caps_per_address_and_in_all),
                cmocka_unit_test(idle_watched_connections_are_shut_busy_ones_kept),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
