/* Serial backend over a pseudo-terminal pair: raw I/O with timeouts, baud rates, no modem lines,
 * exclusive use, and unplug (master closed) reported as -ENODEV. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "ports/port.h"
#include "ports/port_backends.h"
#include "util.h"

struct pty {
        int master;
        char slave[64];
        struct port *p;
};

static int pty_setup(void **state)
{
        struct pty *t = calloc(1, sizeof(*t));
        assert_non_null(t);
        t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(t->master >= 0);
        assert_int_equal(grantpt(t->master), 0);
        assert_int_equal(unlockpt(t->master), 0);
        assert_int_equal(ptsname_r(t->master, t->slave, sizeof(t->slave)), 0);
        assert_int_equal(port_open(t->slave, 115200, &t->p), 0);
        *state = t;
        return 0;
}

static int pty_teardown(void **state)
{
        struct pty *t = *state;
        port_close(t->p);
        if (t->master >= 0)
                close(t->master);
        free(t);
        return 0;
}

/* Read from the master (the "device" side) with a deadline. */
static size_t master_read(struct pty *t, void *buf, size_t len, int timeout_ms)
{
        size_t got = 0;
        uint64_t deadline = util_mono_ms() + (uint64_t)timeout_ms;
        while (got < len && util_mono_ms() < deadline) {
                struct pollfd pfd = { .fd = t->master, .events = POLLIN };
                if (poll(&pfd, 1, 20) <= 0)
                        continue;
                ssize_t n = read(t->master, (char *)buf + got, len - got);
                if (n > 0)
                        got += (size_t)n;
        }
        return got;
}

static void master_write(struct pty *t, const char *s)
{
        assert_int_equal(write(t->master, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_pty_port_is_named_pty(void **state)
{
        struct pty *t = *state;
        assert_string_equal(t->p->ops->name, "pty");
        assert_string_equal(t->p->url, t->slave);
}

static void test_pty_read_returns_bytes_sent_by_device(void **state)
{
        struct pty *t = *state;
        char buf[32] = { 0 };
        assert_int_equal(write(t->master, "hello\xff\x00x", 8), 8);
        assert_int_equal(port_read_exact(t->p, buf, 8, 1000), 8);
        assert_memory_equal(buf, "hello\xff\x00x", 8);
}

static void test_pty_read_times_out_with_zero(void **state)
{
        struct pty *t = *state;
        char buf[8];
        uint64_t t0 = util_mono_ms();
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 150), 0);
        uint64_t took = util_mono_ms() - t0;
        assert_true(took >= 140);
        assert_true(took < 1000);
}

struct poke {
        struct port *p;
        bool cancel;
};

static void *poke_later(void *arg)
{
        struct poke *k = arg;
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
        if (k->cancel)
                port_cancel(k->p, true);
        else
                port_wake(k->p);
        return NULL;
}

static void test_pty_cancel_from_another_thread_ends_a_blocked_read_at_once(void **state)
{
        struct pty *t = *state;
        char buf[8];
        struct poke k = { t->p, true };
        pthread_t th;
        uint64_t t0 = util_mono_ms();
        assert_int_equal(pthread_create(&th, NULL, poke_later, &k), 0);
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 5000), -ECANCELED);
        uint64_t took = util_mono_ms() - t0;
        pthread_join(th, NULL);
        assert_true(took < 1000); /* not the 5 s timeout, nor a whole read slice */
        port_cancel(t->p, false);
        master_write(t, "ok");
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 1000), 2);
}

static void test_pty_wake_ends_a_blocked_read_early_with_nothing_read(void **state)
{
        struct pty *t = *state;
        char buf[8];
        struct poke k = { t->p, false };
        pthread_t th;
        uint64_t t0 = util_mono_ms();
        assert_int_equal(pthread_create(&th, NULL, poke_later, &k), 0);
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 5000), 0);
        uint64_t took = util_mono_ms() - t0;
        pthread_join(th, NULL);
        assert_true(took < 1000);
        /* The wake is consumed: the next read waits its whole timeout again. */
        t0 = util_mono_ms();
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 200), 0);
        assert_true(util_mono_ms() - t0 >= 190);
}

static void test_pty_write_reaches_device_unchanged(void **state)
{
        struct pty *t = *state;
        const char msg[] = "AT\r\n\x03\xff\x11\x13"; /* CR/LF, ^C, XON/XOFF pass untouched (raw) */
        char buf[16] = { 0 };
        assert_int_equal(port_write(t->p, msg, sizeof(msg) - 1, 1000), (int)(sizeof(msg) - 1));
        assert_int_equal(master_read(t, buf, sizeof(msg) - 1, 1000), sizeof(msg) - 1);
        assert_memory_equal(buf, msg, sizeof(msg) - 1);
}

static void test_pty_is_raw_8n1_and_keeps_lines_on_close(void **state)
{
        struct pty *t = *state;
        struct termios tio;
        /* Start from a "cooked" tty with HUPCL set (ptys start without it; USB ttys with it).
         * On a pty master, TCGETS/TCSETS act on the slave's settings. */
        t->p = port_close(t->p);
        assert_int_equal(tcgetattr(t->master, &tio), 0);
        tio.c_cflag |= HUPCL | PARENB | CSTOPB;
        tio.c_lflag |= ICANON | ECHO | ISIG;
        tio.c_iflag |= IXON | ICRNL;
        tio.c_oflag |= OPOST;
        assert_int_equal(tcsetattr(t->master, TCSANOW, &tio), 0);
        assert_int_equal(port_open(t->slave, 115200, &t->p), 0);
        assert_int_equal(tcgetattr(t->master, &tio), 0);
        assert_int_equal(tio.c_cflag & HUPCL, 0);
        assert_int_equal(tio.c_cflag & CSIZE, CS8);
        assert_int_equal(tio.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
        assert_int_equal(tio.c_cflag & (CLOCAL | CREAD), CLOCAL | CREAD);
        assert_int_equal(tio.c_lflag & (ICANON | ECHO | ISIG), 0);
        assert_int_equal(tio.c_iflag & (IXON | ICRNL), 0);
        assert_int_equal(tio.c_oflag & OPOST, 0);
}

static void test_pty_open_sets_requested_baud(void **state)
{
        struct pty *t = *state;
        unsigned baud = 0;
        assert_int_equal(port_baud_get(t->master, &baud), 0);
        assert_int_equal(baud, 115200);
}

static void test_pty_accepts_nonstandard_baud_74880(void **state)
{
        struct pty *t = *state;
        unsigned baud = 0;
        assert_int_equal(port_set_baud(t->p, 74880), 0);
        assert_int_equal(t->p->baud, 74880);
        assert_int_equal(port_baud_get(t->master, &baud), 0);
        assert_int_equal(baud, 74880);
}

static void test_pty_accepts_baud_921600(void **state)
{
        struct pty *t = *state;
        unsigned baud = 0;
        assert_int_equal(port_set_baud(t->p, 921600), 0);
        assert_int_equal(port_baud_get(t->master, &baud), 0);
        assert_int_equal(baud, 921600);
}

static void test_pty_set_baud_zero_is_invalid(void **state)
{
        struct pty *t = *state;
        assert_int_equal(port_set_baud(t->p, 0), -EINVAL);
}

static void test_pty_has_no_modem_lines(void **state)
{
        struct pty *t = *state;
        assert_int_equal(port_set_lines(t->p, true, false), -ENOTSUP);
        assert_int_equal(port_set_lines(t->p, false, true), -ENOTSUP);
}

static void test_pty_flush_input_drops_pending_bytes(void **state)
{
        struct pty *t = *state;
        char buf[8];
        master_write(t, "stale");
        usleep(50 * 1000);
        assert_int_equal(port_flush_input(t->p), 0);
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 50), 0);
        master_write(t, "new");
        assert_int_equal(port_read_exact(t->p, buf, 3, 1000), 3);
        assert_memory_equal(buf, "new", 3);
}

static void test_pty_unplug_reports_enodev_on_read(void **state)
{
        struct pty *t = *state;
        char buf[8];
        close(t->master);
        t->master = -1;
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 1000), -ENODEV);
}

static void test_pty_after_unplug_every_call_is_enodev(void **state)
{
        struct pty *t = *state;
        char buf[8];
        close(t->master);
        t->master = -1;
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 1000), -ENODEV);
        assert_int_equal(port_write(t->p, "x", 1, 100), -ENODEV);
        assert_int_equal(port_set_baud(t->p, 9600), -ENODEV);
        assert_int_equal(port_set_lines(t->p, true, true), -ENODEV);
        assert_int_equal(port_flush_input(t->p), -ENODEV);
        assert_int_equal(port_read(t->p, buf, sizeof(buf), 0), -ENODEV);
}

static void test_pty_bytes_before_unplug_are_still_read(void **state)
{
        struct pty *t = *state;
        char buf[8] = { 0 };
        master_write(t, "bye");
        usleep(50 * 1000);
        close(t->master);
        t->master = -1;
        int r = port_read(t->p, buf, sizeof(buf), 500);
        /* Linux may drop the slave's input queue on hangup; either way the end is -ENODEV. */
        if (r > 0) {
                assert_int_equal(r, 3);
                assert_memory_equal(buf, "bye", 3);
                r = port_read(t->p, buf, sizeof(buf), 500);
        }
        assert_int_equal(r, -ENODEV);
}

static void test_pty_second_open_is_ebusy(void **state)
{
        struct pty *t = *state;
        struct port *p2 = (struct port *)0x1;
        assert_int_equal(port_open(t->slave, 115200, &p2), -EBUSY);
        assert_ptr_equal(p2, (struct port *)0x1); /* out-param untouched on failure */
}

static void test_pty_reopen_after_close_succeeds(void **state)
{
        struct pty *t = *state;
        t->p = port_close(t->p);
        assert_null(t->p);
        assert_int_equal(port_open(t->slave, 9600, &t->p), 0);
}

static void test_pty_symlink_is_resolved(void **state)
{
        struct pty *t = *state;
        char link[64];
        struct port *p2 = NULL;
        t->p = port_close(t->p);
        snprintf(link, sizeof(link), "/tmp/corral-test-pty-%d", (int)getpid());
        unlink(link);
        assert_int_equal(symlink(t->slave, link), 0);
        int r = port_open(link, 115200, &p2);
        unlink(link);
        assert_int_equal(r, 0);
        assert_string_equal(p2->url, link);
        assert_int_equal(port_write(p2, "ok", 2, 500), 2);
        char buf[2];
        assert_int_equal(master_read(t, buf, 2, 1000), 2);
        port_close(p2);
}

static void test_open_missing_device_is_enoent(void **state)
{
        struct port *p = NULL;
        assert_int_equal(port_open("/dev/ttyDOESNOTEXIST9", 115200, &p), -ENOENT);
        assert_null(p);
}

static void test_open_regular_file_is_enotty(void **state)
{
        char path[] = "/tmp/corral-test-notty-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        struct port *p = NULL;
        int r = port_open(path, 115200, &p);
        unlink(path);
        assert_int_equal(r, -ENOTTY);
        assert_null(p);
}

static void test_open_relative_path_is_einval(void **state)
{
        struct port *p = NULL;
        assert_int_equal(port_open("ttyUSB0", 115200, &p), -EINVAL);
        assert_int_equal(port_open("", 115200, &p), -EINVAL);
        assert_int_equal(port_open(NULL, 115200, &p), -EINVAL);
        assert_null(p);
}

#define PTY_TEST(f) cmocka_unit_test_setup_teardown(f, pty_setup, pty_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                PTY_TEST(test_pty_port_is_named_pty),
                PTY_TEST(test_pty_read_returns_bytes_sent_by_device),
                PTY_TEST(test_pty_read_times_out_with_zero),
                PTY_TEST(test_pty_cancel_from_another_thread_ends_a_blocked_read_at_once),
                PTY_TEST(test_pty_wake_ends_a_blocked_read_early_with_nothing_read),
                PTY_TEST(test_pty_write_reaches_device_unchanged),
                PTY_TEST(test_pty_is_raw_8n1_and_keeps_lines_on_close),
                PTY_TEST(test_pty_open_sets_requested_baud),
                PTY_TEST(test_pty_accepts_nonstandard_baud_74880),
                PTY_TEST(test_pty_accepts_baud_921600),
                PTY_TEST(test_pty_set_baud_zero_is_invalid),
                PTY_TEST(test_pty_has_no_modem_lines),
                PTY_TEST(test_pty_flush_input_drops_pending_bytes),
                PTY_TEST(test_pty_unplug_reports_enodev_on_read),
                PTY_TEST(test_pty_after_unplug_every_call_is_enodev),
                PTY_TEST(test_pty_bytes_before_unplug_are_still_read),
                PTY_TEST(test_pty_second_open_is_ebusy),
                PTY_TEST(test_pty_reopen_after_close_succeeds),
                PTY_TEST(test_pty_symlink_is_resolved),
                cmocka_unit_test(test_open_missing_device_is_enoent),
                cmocka_unit_test(test_open_regular_file_is_enotty),
                cmocka_unit_test(test_open_relative_path_is_einval),
        };
        return cmocka_run_group_tests_name("port_pty", tests, NULL, NULL);
}
