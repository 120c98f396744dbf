/* The front door's routing (the pure frontdoor_classify: which server a connection goes to) and
 * its refusals on the wire: each corral code answered with the status api/reply.c's table gives
 * it, a JSON error body, Retry-After on a limit, and the socket closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reply.h"
#include "ws_frontdoor.h"

static enum frontdoor_route route(const char *s)
{
        return frontdoor_classify(s, strlen(s));
}

/* Only a complete GET /ws/... head goes to the WebSocket server; every other complete head
 * (other methods, other paths, paths merely starting with "/ws") goes to HTTP. */
static void only_a_get_of_a_ws_path_goes_to_the_websocket_server(void **state)
{
        (void)state;
        assert_int_equal(route("GET /ws/v1/boards/b1/console HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), FRONTDOOR_WS);
        assert_int_equal(route("GET /ws/ HTTP/1.1\r\n\r\n"), FRONTDOOR_WS);
        assert_int_equal(route("GET /ws HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(route("GET /wsx/v1/events HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(route("get /ws/v1/events HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(route("HEAD /ws/v1/events HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(route("GET /api/v1/ws/ HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        assert_int_equal(route("GET / HTTP/1.1\r\n\r\n"), FRONTDOOR_HTTP);
        /* The end of the head decides, not where the bytes stop. */
        assert_int_equal(route("GET /ws/v1/events HTTP/1.1\r\nHost: x\r\n\r"), FRONTDOOR_MORE);
        assert_int_equal(route("GET /ws/v1/events HTTP/1.1\r\nHost: x\n\n"), FRONTDOOR_WS);
        assert_int_equal(route("\r\n\r\n"), FRONTDOOR_HTTP); /* malformed: HTTP's head check answers */
}

/* Refuse with code on one end of a socket pair; what the other end reads. */
static void refusal(enum corral_err code, char *out, size_t size)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        frontdoor_refuse(sv[0], code, json_pack("{s:i}", "limit", 7), "Closed: %s.", "a reason");
        size_t n = 0;
        ssize_t r;
        while (n < size - 1 && (r = read(sv[1], out + n, size - 1 - n)) > 0)
                n += (size_t)r;
        out[n] = '\0';
        close(sv[1]);
}

static void a_refusal_carries_the_tables_status_and_a_json_error(void **state)
{
        (void)state;
        char buf[2048];
        refusal(CORRAL_E_PENDING_FULL, buf, sizeof(buf));
        assert_true(!strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34));
        assert_non_null(strstr(buf, "Retry-After: 1\r\n"));
        assert_non_null(strstr(buf, "Connection: close\r\n"));
        assert_non_null(strstr(buf, "{\"error\":{\"code\":\"pending_full\",\"message\":\"Closed: a reason.\","
                                    "\"details\":{\"limit\":7}}}\n"));
        refusal(CORRAL_E_TOO_MANY_PENDING, buf, sizeof(buf));
        assert_true(!strncmp(buf, "HTTP/1.1 429 Too Many Requests\r\n", 32));
        assert_non_null(strstr(buf, "\"code\":\"too_many_pending\""));
        refusal(CORRAL_E_HEADER_TOO_LARGE, buf, sizeof(buf));
        assert_true(!strncmp(buf, "HTTP/1.1 431 ", 13));
        assert_null(strstr(buf, "Retry-After"));
        refusal(CORRAL_E_HTTP_VERSION_NOT_SUPPORTED, buf, sizeof(buf));
        assert_true(!strncmp(buf, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41));
        assert_int_equal(reply_code_status(CORRAL_E_REQUEST_TIMEOUT), 408);
        refusal(CORRAL_E_REQUEST_TIMEOUT, buf, sizeof(buf));
        assert_true(!strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(only_a_get_of_a_ws_path_goes_to_the_websocket_server),
                cmocka_unit_test(a_refusal_carries_the_tables_status_and_a_json_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
