/* Raw TCP backend (socket://): bytes pass untouched both ways, no modem lines, baud only
 * recorded, peer close reported as -ENODEV. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ports/port.h"
#include "ports/port_backends.h"

struct conn {
        int lfd, sfd; /* listener, server side of the accepted connection */
        struct port *p;
};

static int sock_setup(void **state)
{
        struct conn *c = calloc(1, sizeof(*c));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        char url[64];
        assert_non_null(c);
        c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(c->lfd, 1), 0);
        assert_int_equal(getsockname(c->lfd, (struct sockaddr *)&sa, &sl), 0);
        snprintf(url, sizeof(url), "socket://127.0.0.1:%u", ntohs(sa.sin_port));
        /* connect() completes against the backlog, so no server thread is needed */
        assert_int_equal(port_open(url, 115200, &c->p), 0);
        c->sfd = accept(c->lfd, NULL, NULL);
        assert_true(c->sfd >= 0);
        *state = c;
        return 0;
}

static int sock_teardown(void **state)
{
        struct conn *c = *state;
        port_close(c->p);
        if (c->sfd >= 0)
                close(c->sfd);
        close(c->lfd);
        free(c);
        return 0;
}

static void test_socket_bytes_pass_untouched_both_ways(void **state)
{
        struct conn *c = *state;
        const uint8_t out[] = { 0xff, 0xfa, 0x2c, 0x00, '\r', '\n' };
        uint8_t in[sizeof(out)] = { 0 };
        assert_string_equal(c->p->ops->name, "socket");
        assert_int_equal(port_write(c->p, out, sizeof(out), 500), (int)sizeof(out));
        assert_int_equal(recv(c->sfd, in, sizeof(in), MSG_WAITALL), (ssize_t)sizeof(in));
        assert_memory_equal(in, out, sizeof(out));
        assert_int_equal(send(c->sfd, out, sizeof(out), 0), (ssize_t)sizeof(out));
        assert_int_equal(port_read_exact(c->p, in, sizeof(in), 1000), (int)sizeof(in));
        assert_memory_equal(in, out, sizeof(out));
}

static void test_socket_read_times_out_with_zero(void **state)
{
        struct conn *c = *state;
        uint8_t b[4];
        assert_int_equal(port_read(c->p, b, sizeof(b), 50), 0);
}

static void test_socket_has_no_lines_and_only_records_baud(void **state)
{
        struct conn *c = *state;
        assert_int_equal(port_set_lines(c->p, true, true), -ENOTSUP);
        assert_int_equal(port_set_baud(c->p, 74880), 0);
        assert_int_equal(c->p->baud, 74880);
}

static void test_socket_flush_input_drops_received_bytes(void **state)
{
        struct conn *c = *state;
        uint8_t b[8];
        assert_int_equal(send(c->sfd, "old", 3, 0), 3);
        usleep(50 * 1000);
        assert_int_equal(port_flush_input(c->p), 0);
        assert_int_equal(port_read(c->p, b, sizeof(b), 50), 0);
}

static void test_socket_peer_close_is_enodev(void **state)
{
        struct conn *c = *state;
        uint8_t b[8];
        close(c->sfd);
        c->sfd = -1;
        assert_int_equal(port_read(c->p, b, sizeof(b), 1000), -ENODEV);
        assert_int_equal(port_write(c->p, "x", 1, 100), -ENODEV);
}

static void test_socket_urls_need_host_and_port(void **state)
{
        struct port *p = NULL;
        assert_int_equal(port_open("socket://", 0, &p), -EINVAL);
        assert_int_equal(port_open("socket://host", 0, &p), -EINVAL);
        assert_int_equal(port_open("socket://host:", 0, &p), -EINVAL);
        assert_null(p);
}

static void test_socket_ipv6_literal_url_is_accepted(void **state)
{
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        socklen_t sl = sizeof(sa);
        char url[64];
        struct port *p = NULL;
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (fd >= 0)
                        close(fd);
                printf("skipped: no IPv6 loopback (::1) on this machine\n");
                skip();
        }
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        snprintf(url, sizeof(url), "socket://[::1]:%u", ntohs(sa.sin6_port));
        assert_int_equal(port_open(url, 0, &p), 0);
        port_close(p);
        close(fd);
}

#define SOCK_TEST(f) cmocka_unit_test_setup_teardown(f, sock_setup, sock_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                SOCK_TEST(test_socket_bytes_pass_untouched_both_ways),
                SOCK_TEST(test_socket_read_times_out_with_zero),
                SOCK_TEST(test_socket_has_no_lines_and_only_records_baud),
                SOCK_TEST(test_socket_flush_input_drops_received_bytes),
                SOCK_TEST(test_socket_peer_close_is_enodev),
                cmocka_unit_test(test_socket_urls_need_host_and_port),
                cmocka_unit_test(test_socket_ipv6_literal_url_is_accepted),
        };
        return cmocka_run_group_tests_name("port_socket", tests, NULL, NULL);
}
