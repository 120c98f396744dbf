/* RFC 2217 backend against a tiny scripted Telnet peer in a thread: negotiation, COM-PORT-OPTION
 * bytes on the wire, IAC doubling both ways, command stripping split across reads, peer close. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ports/port.h"
#include "ports/port_backends.h"
#include "util.h"

#define IAC 0xff
#define SB 0xfa
#define SE 0xf0
#define WILL 0xfb
#define WONT 0xfc
#define DO 0xfd
#define DONT 0xfe
#define CPO 44

struct peer {
        int lfd, cfd;
        unsigned short port;
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        uint8_t rec[16384]; /* everything the client sent */
        size_t rec_len;
        size_t scan_comport, scan_baud, scan_ctl;
        bool no_lines_ack;   /* never answer DTR/RTS SET-CONTROL */
        bool refuse_comport; /* answer WILL COM-PORT-OPTION with DONT */
        bool no_baud_ack;
        const char *data_before_ack; /* sent just before a SET-BAUDRATE ack */
        bool stop;
        struct port *p;
};

static void peer_send(struct peer *pe, const void *b, size_t n)
{
        assert_int_equal(send(pe->cfd, b, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void peer_ack_lines(struct peer *pe);

/* React to what the client sent so far: COM-PORT-OPTION request and SET-BAUDRATE. */
static void peer_react(struct peer *pe)
{
        static const uint8_t will_cpo[] = { IAC, WILL, CPO };
        static const uint8_t sb_baud[] = { IAC, SB, CPO, 1 };
        uint8_t *m;
        while ((m = memmem(pe->rec + pe->scan_comport, pe->rec_len - pe->scan_comport, will_cpo, 3))) {
                uint8_t ans[3] = { IAC, pe->refuse_comport ? DONT : DO, CPO };
                pe->scan_comport = (size_t)(m - pe->rec) + 3;
                send(pe->cfd, ans, 3, MSG_NOSIGNAL);
        }
        while ((m = memmem(pe->rec + pe->scan_baud, pe->rec_len - pe->scan_baud, sb_baud, 4))) {
                size_t at = (size_t)(m - pe->rec);
                uint8_t *se = memmem(m + 4, pe->rec_len - at - 4, (const uint8_t[]){ IAC, SE }, 2);
                if (!se)
                        break; /* incomplete: wait for more bytes */
                pe->scan_baud = (size_t)(se - pe->rec) + 2;
                if (pe->no_baud_ack)
                        continue;
                if (pe->data_before_ack)
                        send(pe->cfd, pe->data_before_ack, strlen(pe->data_before_ack), MSG_NOSIGNAL);
                uint8_t ack[32] = { IAC, SB, CPO, 101 };
                size_t vlen = (size_t)(se - (m + 4));
                memcpy(ack + 4, m + 4, vlen);
                ack[4 + vlen] = IAC;
                ack[5 + vlen] = SE;
                send(pe->cfd, ack, 6 + vlen, MSG_NOSIGNAL);
        }
        peer_ack_lines(pe);
}

/* Answer DTR/RTS SET-CONTROL (5, value) with 105, value, as RFC 2217 servers do. */
static void peer_ack_lines(struct peer *pe)
{
        static const uint8_t sb_ctl[] = { IAC, SB, CPO, 5 };
        uint8_t *m;
        while ((m = memmem(pe->rec + pe->scan_ctl, pe->rec_len - pe->scan_ctl, sb_ctl, 4))) {
                size_t at = (size_t)(m - pe->rec);
                if (pe->rec_len - at < 7)
                        break; /* incomplete */
                pe->scan_ctl = at + 7;
                uint8_t v = m[4];
                if (pe->no_lines_ack || (v != 8 && v != 9 && v != 11 && v != 12))
                        continue;
                uint8_t ack[7] = { IAC, SB, CPO, 105, v, IAC, SE };
                send(pe->cfd, ack, sizeof(ack), MSG_NOSIGNAL);
        }
}

static void *peer_main(void *arg)
{
        struct peer *pe = arg;
        int fd = accept(pe->lfd, NULL, NULL);
        pthread_mutex_lock(&pe->mu);
        pe->cfd = fd;
        pthread_cond_broadcast(&pe->cv);
        pthread_mutex_unlock(&pe->mu);
        if (fd < 0)
                return NULL;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                pthread_mutex_lock(&pe->mu);
                bool stop = pe->stop;
                pthread_mutex_unlock(&pe->mu);
                if (stop)
                        break;
                if (poll(&pfd, 1, 20) <= 0)
                        continue;
                uint8_t buf[1024];
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0)
                        break;
                pthread_mutex_lock(&pe->mu);
                if (pe->rec_len + (size_t)n <= sizeof(pe->rec)) {
                        memcpy(pe->rec + pe->rec_len, buf, (size_t)n);
                        pe->rec_len += (size_t)n;
                }
                peer_react(pe);
                pthread_cond_broadcast(&pe->cv);
                pthread_mutex_unlock(&pe->mu);
        }
        return NULL;
}

static void peer_start(struct peer *pe)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        pe->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pe->cfd = -1;
        assert_true(pe->lfd >= 0);
        assert_int_equal(bind(pe->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(pe->lfd, 1), 0);
        assert_int_equal(getsockname(pe->lfd, (struct sockaddr *)&sa, &sl), 0);
        pe->port = ntohs(sa.sin_port);
        pthread_mutex_init(&pe->mu, NULL);
        util_cond_init_mono(&pe->cv);
        assert_int_equal(pthread_create(&pe->th, NULL, peer_main, pe), 0);
}

static int peer_open(struct peer *pe, unsigned baud, struct port **ret)
{
        char url[64];
        snprintf(url, sizeof(url), "rfc2217://127.0.0.1:%u", pe->port);
        return port_open(url, baud, ret);
}

static void peer_stop(struct peer *pe)
{
        pthread_mutex_lock(&pe->mu);
        pe->stop = true;
        pthread_mutex_unlock(&pe->mu);
        if (pe->cfd < 0)
                shutdown(pe->lfd, SHUT_RDWR); /* unblock accept() */
        pthread_join(pe->th, NULL);
        if (pe->cfd >= 0)
                close(pe->cfd);
        close(pe->lfd);
        pthread_mutex_destroy(&pe->mu);
        pthread_cond_destroy(&pe->cv);
}

/* Position of needle in what the client sent at or after `from`, waiting up to 2 s; -1 if never. */
static long peer_wait_for(struct peer *pe, size_t from, const void *needle, size_t n)
{
        uint64_t deadline = util_mono_ms() + 2000;
        long pos = -1;
        pthread_mutex_lock(&pe->mu);
        while (pos < 0 && util_mono_ms() < deadline) {
                if (pe->rec_len > from) {
                        uint8_t *m = memmem(pe->rec + from, pe->rec_len - from, needle, n);
                        if (m) {
                                pos = (long)(m - pe->rec);
                                break;
                        }
                }
                struct timespec ts = util_deadline_ts(20);
                pthread_cond_timedwait(&pe->cv, &pe->mu, &ts);
        }
        pthread_mutex_unlock(&pe->mu);
        return pos;
}

static size_t peer_recorded(struct peer *pe)
{
        pthread_mutex_lock(&pe->mu);
        size_t n = pe->rec_len;
        pthread_mutex_unlock(&pe->mu);
        return n;
}

/* Read until exactly n bytes arrived (or 2 s passed). */
static size_t read_n(struct port *p, uint8_t *buf, size_t n)
{
        size_t got = 0;
        uint64_t deadline = util_mono_ms() + 2000;
        while (got < n && util_mono_ms() < deadline) {
                int r = port_read(p, buf + got, n - got, 100);
                if (r < 0)
                        break;
                got += (size_t)r;
        }
        return got;
}

static int rfc_setup(void **state)
{
        struct peer *pe = calloc(1, sizeof(*pe));
        assert_non_null(pe);
        peer_start(pe);
        assert_int_equal(peer_open(pe, 115200, &pe->p), 0);
        *state = pe;
        return 0;
}

static int rfc_teardown(void **state)
{
        struct peer *pe = *state;
        port_close(pe->p);
        peer_stop(pe);
        free(pe);
        return 0;
}

#define WAIT_FOR(pe, from, ...)                                                                     \
        peer_wait_for((pe), (from), (const uint8_t[]){ __VA_ARGS__ },                                \
                      sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_open_negotiates_binary_sga_and_comport(void **state)
{
        struct peer *pe = *state;
        assert_string_equal(pe->p->ops->name, "rfc2217");
        assert_int_equal(WAIT_FOR(pe, 0, IAC, WILL, 0, IAC, DO, 0, IAC, WILL, 3, IAC, DO, 3, IAC, WILL, CPO), 0);
}

static void test_open_sets_8n1_no_flow_control_and_baud(void **state)
{
        struct peer *pe = *state;
        assert_true(WAIT_FOR(pe, 0, IAC, SB, CPO, 2, 8, IAC, SE) > 0);
        assert_true(WAIT_FOR(pe, 0, IAC, SB, CPO, 3, 1, IAC, SE) > 0);
        assert_true(WAIT_FOR(pe, 0, IAC, SB, CPO, 4, 1, IAC, SE) > 0);
        assert_true(WAIT_FOR(pe, 0, IAC, SB, CPO, 5, 1, IAC, SE) > 0);
        /* 115200 = 0x0001c200, big-endian */
        assert_true(WAIT_FOR(pe, 0, IAC, SB, CPO, 1, 0x00, 0x01, 0xc2, 0x00, IAC, SE) > 0);
}

static void test_set_baud_sends_u32_big_endian_and_waits_for_ack(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        uint64_t t0 = util_mono_ms();
        assert_int_equal(port_set_baud(pe->p, 74880), 0);
        assert_true(util_mono_ms() - t0 < PORT_RFC2217_REPLY_TIMEOUT_MS); /* the ack ended the wait */
        assert_true(WAIT_FOR(pe, from, IAC, SB, CPO, 1, 0x00, 0x01, 0x24, 0x80, IAC, SE) >= (long)from);
        assert_int_equal(pe->p->baud, 74880);
}

static void test_set_baud_doubles_iac_inside_the_value(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        assert_int_equal(port_set_baud(pe->p, 0x0001ff00), 0);
        assert_true(WAIT_FOR(pe, from, IAC, SB, CPO, 1, 0x00, 0x01, 0xff, 0xff, 0x00, IAC, SE) >= (long)from);
}

static void test_set_baud_without_ack_gives_up_after_reply_timeout(void **state)
{
        struct peer *pe = *state;
        pthread_mutex_lock(&pe->mu);
        pe->no_baud_ack = true;
        pthread_mutex_unlock(&pe->mu);
        uint64_t t0 = util_mono_ms();
        assert_int_equal(port_set_baud(pe->p, 9600), 0);
        assert_true(util_mono_ms() - t0 >= PORT_RFC2217_REPLY_TIMEOUT_MS - 50);
}

static void test_data_arriving_before_baud_ack_is_kept(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        pthread_mutex_lock(&pe->mu);
        pe->data_before_ack = "boot";
        pthread_mutex_unlock(&pe->mu);
        assert_int_equal(port_set_baud(pe->p, 460800), 0);
        assert_int_equal(read_n(pe->p, buf, 4), 4);
        assert_memory_equal(buf, "boot", 4);
}

static void test_set_lines_sends_dtr_and_rts_together(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        assert_int_equal(port_set_lines(pe->p, true, false), 0);
        assert_true(WAIT_FOR(pe, from, IAC, SB, CPO, 5, 8, IAC, SE, IAC, SB, CPO, 5, 12, IAC, SE) >= (long)from);
        from = peer_recorded(pe);
        assert_int_equal(port_set_lines(pe->p, false, true), 0);
        assert_true(WAIT_FOR(pe, from, IAC, SB, CPO, 5, 9, IAC, SE, IAC, SB, CPO, 5, 11, IAC, SE) >= (long)from);
        assert_true(!pe->p->dtr && pe->p->rts);
}

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_set_lines_waits_for_the_servers_answers(void **state)
{
        struct peer *pe = *state;
        uint64_t t0 = mono_ms();
        assert_int_equal(port_set_lines(pe->p, false, true), 0);
        assert_true(mono_ms() - t0 < 500); /* answered at once */
        pthread_mutex_lock(&pe->mu);
        pe->no_lines_ack = true;
        pthread_mutex_unlock(&pe->mu);
        t0 = mono_ms();
        assert_int_equal(port_set_lines(pe->p, false, false), 0); /* a silent server costs the timeout */
        assert_true(mono_ms() - t0 >= 900);
        assert_true(!pe->p->dtr && !pe->p->rts);
}

static void test_flush_input_purges_remote_and_local_buffers(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8];
        size_t from = peer_recorded(pe);
        peer_send(pe, "stale", 5);
        usleep(50 * 1000);
        assert_int_equal(port_flush_input(pe->p), 0);
        assert_true(WAIT_FOR(pe, from, IAC, SB, CPO, 12, 1, IAC, SE) >= (long)from);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 50), 0);
        peer_send(pe, "new", 3);
        assert_int_equal(read_n(pe->p, buf, 3), 3);
        assert_memory_equal(buf, "new", 3);
}

static void test_write_doubles_iac(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        const uint8_t data[] = { 'A', 0xff, 'B', 0xff, 0xff };
        assert_int_equal(port_write(pe->p, data, sizeof(data), 1000), (int)sizeof(data));
        assert_int_equal(WAIT_FOR(pe, from, 'A', 0xff, 0xff, 'B', 0xff, 0xff, 0xff, 0xff), (long)from);
}

static void test_write_of_large_binary_block_arrives_intact(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        uint8_t data[3000];
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t)(i * 7);
        assert_int_equal(port_write(pe->p, data, sizeof(data), 2000), (int)sizeof(data));
        /* every 0xff doubled, nothing else changed */
        size_t nff = 0;
        for (size_t i = 0; i < sizeof(data); i++)
                nff += data[i] == 0xff;
        uint64_t deadline = util_mono_ms() + 2000;
        while (peer_recorded(pe) < from + sizeof(data) + nff && util_mono_ms() < deadline)
                usleep(10 * 1000);
        assert_int_equal(peer_recorded(pe), from + sizeof(data) + nff);
        size_t j = from;
        for (size_t i = 0; i < sizeof(data); i++) {
                assert_int_equal(pe->rec[j++], data[i]);
                if (data[i] == 0xff)
                        assert_int_equal(pe->rec[j++], 0xff);
        }
}

static void test_read_undoubles_iac(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        peer_send(pe, (const uint8_t[]){ 'A', IAC, IAC, 'B', IAC, IAC }, 6);
        assert_int_equal(read_n(pe->p, buf, 4), 4);
        assert_memory_equal(buf, ((const uint8_t[]){ 'A', 0xff, 'B', 0xff }), 4);
}

static void test_read_strips_negotiation_and_server_notifications(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        /* NOTIFY-MODEMSTATE (107), a SET-CONTROL answer (105), WILL SGA, NOP */
        peer_send(pe, (const uint8_t[]){ 'a', IAC, SB, CPO, 107, 0x30, IAC, SE, 'b', IAC, SB, CPO, 105, 8,
                                         IAC, SE, IAC, WILL, 3, 'c', IAC, 241, 'd' },
                  23);
        assert_int_equal(read_n(pe->p, buf, 4), 4);
        assert_memory_equal(buf, "abcd", 4);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 50), 0);
}

static void test_iac_split_across_reads_is_undoubled(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        peer_send(pe, (const uint8_t[]){ 'x', IAC }, 2);
        assert_int_equal(read_n(pe->p, buf, 1), 1);
        assert_int_equal(buf[0], 'x');
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 50), 0); /* half an IAC pair: no data */
        peer_send(pe, (const uint8_t[]){ IAC, 'y' }, 2);
        assert_int_equal(read_n(pe->p, buf, 2), 2);
        assert_memory_equal(buf, ((const uint8_t[]){ 0xff, 'y' }), 2);
}

static void test_subnegotiation_split_across_reads_is_stripped(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        peer_send(pe, (const uint8_t[]){ 'p', IAC, SB, CPO, 107 }, 5);
        assert_int_equal(read_n(pe->p, buf, 1), 1);
        assert_int_equal(buf[0], 'p');
        peer_send(pe, (const uint8_t[]){ 0x10, IAC }, 2);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 50), 0);
        peer_send(pe, (const uint8_t[]){ SE, 'q' }, 2);
        assert_int_equal(read_n(pe->p, buf, 1), 1);
        assert_int_equal(buf[0], 'q');
}

static void test_server_echo_offer_is_refused(void **state)
{
        struct peer *pe = *state;
        size_t from = peer_recorded(pe);
        uint8_t buf[4];
        peer_send(pe, (const uint8_t[]){ IAC, WILL, 1, IAC, DO, 24 }, 6);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 100), 0);
        assert_true(WAIT_FOR(pe, from, IAC, DONT, 1) >= (long)from);
        assert_true(WAIT_FOR(pe, from, IAC, WONT, 24) >= (long)from);
}

static void test_confirmations_are_not_answered(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[4];
        usleep(50 * 1000);
        size_t from = peer_recorded(pe);
        /* answers to the client's own WILL/DO requests: replying would start a loop */
        peer_send(pe, (const uint8_t[]){ IAC, DO, 0, IAC, WILL, 0, IAC, DO, 3, IAC, WILL, 3 }, 12);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 100), 0);
        usleep(50 * 1000);
        assert_int_equal(peer_recorded(pe), from);
}

static void test_peer_close_is_enodev(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[4];
        shutdown(pe->cfd, SHUT_RDWR);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 1000), -ENODEV);
        assert_int_equal(port_write(pe->p, "x", 1, 100), -ENODEV);
        assert_int_equal(port_set_baud(pe->p, 9600), -ENODEV);
        assert_int_equal(port_flush_input(pe->p), -ENODEV);
}

static void test_bytes_before_peer_close_are_delivered(void **state)
{
        struct peer *pe = *state;
        uint8_t buf[8] = { 0 };
        peer_send(pe, "last", 4);
        shutdown(pe->cfd, SHUT_RDWR);
        assert_int_equal(read_n(pe->p, buf, 4), 4);
        assert_memory_equal(buf, "last", 4);
        assert_int_equal(port_read(pe->p, buf, sizeof(buf), 1000), -ENODEV);
}

static void test_server_refusing_comport_option_fails_open(void **state)
{
        struct peer pe;
        struct port *p = NULL;
        memset(&pe, 0, sizeof(pe));
        pe.refuse_comport = true;
        peer_start(&pe);
        assert_int_equal(peer_open(&pe, 115200, &p), -EPROTONOSUPPORT);
        assert_null(p);
        peer_stop(&pe);
}

static void test_connection_refused(void **state)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        char url[64];
        struct port *p = NULL;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        close(fd); /* a port nobody listens on */
        snprintf(url, sizeof(url), "rfc2217://127.0.0.1:%u", ntohs(sa.sin_port));
        assert_int_equal(port_open(url, 115200, &p), -ECONNREFUSED);
        assert_null(p);
}

static void test_malformed_rfc2217_urls_are_einval(void **state)
{
        struct port *p = NULL;
        assert_int_equal(port_open("rfc2217://localhost", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://:4000", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://host:0", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://host:70000", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://host:12ab", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://::1:4000", 115200, &p), -EINVAL);
        assert_int_equal(port_open("rfc2217://[::1]4000", 115200, &p), -EINVAL);
        assert_int_equal(port_open("telnet://host:23", 115200, &p), -EINVAL);
        assert_null(p);
}

#define RFC_TEST(f) cmocka_unit_test_setup_teardown(f, rfc_setup, rfc_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                RFC_TEST(test_open_negotiates_binary_sga_and_comport),
                RFC_TEST(test_open_sets_8n1_no_flow_control_and_baud),
                RFC_TEST(test_set_baud_sends_u32_big_endian_and_waits_for_ack),
                RFC_TEST(test_set_baud_doubles_iac_inside_the_value),
                RFC_TEST(test_set_baud_without_ack_gives_up_after_reply_timeout),
                RFC_TEST(test_data_arriving_before_baud_ack_is_kept),
                RFC_TEST(test_set_lines_sends_dtr_and_rts_together),
                RFC_TEST(test_set_lines_waits_for_the_servers_answers),
                RFC_TEST(test_flush_input_purges_remote_and_local_buffers),
                RFC_TEST(test_write_doubles_iac),
                RFC_TEST(test_write_of_large_binary_block_arrives_intact),
                RFC_TEST(test_read_undoubles_iac),
                RFC_TEST(test_read_strips_negotiation_and_server_notifications),
                RFC_TEST(test_iac_split_across_reads_is_undoubled),
                RFC_TEST(test_subnegotiation_split_across_reads_is_stripped),
                RFC_TEST(test_server_echo_offer_is_refused),
                RFC_TEST(test_confirmations_are_not_answered),
                RFC_TEST(test_peer_close_is_enodev),
                RFC_TEST(test_bytes_before_peer_close_are_delivered),
                cmocka_unit_test(test_server_refusing_comport_option_fails_open),
                cmocka_unit_test(test_connection_refused),
                cmocka_unit_test(test_malformed_rfc2217_urls_are_einval),
        };
        return cmocka_run_group_tests_name("port_rfc2217", tests, NULL, NULL);
}
