/* The "serial" backend: real ttys (ttyUSB, ttyACM, ttyS) and ptys through one termios code path.
 *
 * Why not libserialport for I/O: 0.1.1 cannot open ptys (sp_open's TIOCMGET fails with ENOTTY),
 * sets HUPCL (DTR/RTS drop on close, resetting boards), has no O_CLOEXEC and no exclusive open,
 * and its non-blocking write misreports EAGAIN (stack-pitfalls B.3). Plain open() + termios works
 * the same on ptys (our tests) and on every tty driver, so there is exactly one code path here.
 * libserialport is used only for metadata of static ports (port_serial_usb_meta()). */
#include "ports/port.h"
#include "ports/port_backends.h"
#include "ports/port_serial.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

/* Linux Unix98 pty slaves: majors 136..143 (Documentation/admin-guide/devices.txt). */
#define PTY_SLAVE_MAJOR_FIRST 136
#define PTY_SLAVE_MAJOR_LAST 143

struct serial {
        int fd;
        bool gone; /* hung up: every call returns -ENODEV from then on */
};

static int serial_fail(struct serial *s, int err)
{
        if (err == -EIO || err == -ENXIO || err == -ENODEV || err == -EBADF) {
                s->gone = true;
                return -ENODEV;
        }
        return err;
}

static int serial_read(struct port *p, void *buf, size_t len, int timeout_ms)
{
        struct serial *s = p->priv;
        if (s->gone)
                return -ENODEV;
        if (len == 0)
                return 0;
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        for (;;) {
                uint64_t now = util_mono_ms();
                int left = now >= deadline ? 0 : (int)(deadline - now);
                struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
                int r = port_poll_in(s->fd, p->wake_fd, left);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 0; /* timeout, or cancelled: port_read says which */
                pfd.revents = (short)r;
                if (pfd.revents & POLLNVAL)
                        return serial_fail(s, -EBADF);
                /* Read even on POLLHUP: bytes that arrived before the hangup are still delivered. */
                ssize_t n = read(s->fd, buf, len);
                if (n > 0)
                        return (int)n;
                if (n == 0) { /* hangup (tty driver reports EOF after the device vanished) */
                        s->gone = true;
                        return -ENODEV;
                }
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        if (pfd.revents & (POLLHUP | POLLERR)) {
                                s->gone = true;
                                return -ENODEV;
                        }
                        if (left == 0)
                                return 0;
                        continue;
                }
                return serial_fail(s, -errno);
        }
}

static int serial_write(struct port *p, const void *buf, size_t len, int timeout_ms)
{
        struct serial *s = p->priv;
        const uint8_t *b = buf;
        size_t done = 0;
        if (s->gone)
                return -ENODEV;
        uint64_t deadline = util_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
        while (done < len) {
                ssize_t n = write(s->fd, b + done, len - done);
                if (n > 0) {
                        done += (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                        return serial_fail(s, -errno);
                uint64_t now = util_mono_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
                int r = poll(&pfd, 1, (int)(deadline - now));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
                        s->gone = true;
                        return -ENODEV;
                }
        }
        return (int)len;
}

static int serial_set_baud(struct port *p, unsigned baud)
{
        struct serial *s = p->priv;
        if (s->gone)
                return -ENODEV;
        return serial_fail(s, port_baud_set(s->fd, baud));
}

static int serial_set_lines(struct port *p, bool dtr, bool rts)
{
        struct serial *s = p->priv;
        int bits;
        if (s->gone)
                return -ENODEV;
        /* One TIOCMSET sets both lines at once: no glitch between DTR and RTS changes. */
        if (ioctl(s->fd, TIOCMGET, &bits) < 0) {
                if (errno == ENOTTY || errno == EINVAL)
                        return -ENOTSUP; /* ptys have no modem lines */
                return serial_fail(s, -errno);
        }
        bits = dtr ? (bits | TIOCM_DTR) : (bits & ~TIOCM_DTR);
        bits = rts ? (bits | TIOCM_RTS) : (bits & ~TIOCM_RTS);
        if (ioctl(s->fd, TIOCMSET, &bits) < 0) {
                if (errno == ENOTTY || errno == EINVAL)
                        return -ENOTSUP;
                return serial_fail(s, -errno);
        }
        return 0;
}

static int serial_set_break(struct port *p, bool on)
{
        struct serial *s = p->priv;
        if (s->gone)
                return -ENODEV;
        if (ioctl(s->fd, on ? TIOCSBRK : TIOCCBRK) < 0)
                return (errno == ENOTTY || errno == EINVAL) ? -ENOTSUP : serial_fail(s, -errno);
        return 0;
}

static int serial_flush_input(struct port *p)
{
        struct serial *s = p->priv;
        if (s->gone)
                return -ENODEV;
        if (tcflush(s->fd, TCIFLUSH) < 0)
                return serial_fail(s, -errno);
        return 0;
}

static void serial_close(struct port *p)
{
        struct serial *s = p->priv;
        if (!s)
                return;
        if (s->fd >= 0)
                close(s->fd); /* HUPCL is clear: DTR/RTS keep their state */
        free(s);
        p->priv = NULL;
}

static const struct port_ops serial_ops = {
        .name = "serial",
        .read = serial_read,
        .write = serial_write,
        .set_baud = serial_set_baud,
        .set_lines = serial_set_lines,
        .flush_input = serial_flush_input,
        .set_break = serial_set_break,
        .close = serial_close,
};

/* Same code; the name tells the registry (and people) that there are no modem lines. */
static const struct port_ops pty_ops = {
        .name = "pty",
        .read = serial_read,
        .write = serial_write,
        .set_baud = serial_set_baud,
        .set_lines = serial_set_lines,
        .flush_input = serial_flush_input,
        .close = serial_close,
};

/* Raw 8N1, no flow control, receiver on, modem-control lines ignored and left alone on close. */
static int serial_configure(int fd)
{
        struct termios t;
        if (tcgetattr(fd, &t) < 0) /* not isatty(): umockdev overrides it (B.4) */
                return errno == EINVAL ? -ENOTTY : -errno;
        cfmakeraw(&t);
        t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS | HUPCL);
        t.c_cflag |= CS8 | CLOCAL | CREAD;
        t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(fd, TCSANOW, &t) < 0)
                return -errno;
        return 0;
}

/* Resolve udev symlinks (/dev/serial/by-id/...) to the device node. Paths that are not
 * symlinks are used as given: cheaper, and umockdev's realpath() wrapper (0.17) crashes on
 * mocked ttys whose target lies outside its testbed. */
static int resolve_tty_path(const char *path, char real[PATH_MAX])
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISLNK(st.st_mode)) {
                if (strlen(path) >= PATH_MAX)
                        return -ENAMETOOLONG;
                strcpy(real, path);
                return 0;
        }
        return realpath(path, real) ? 0 : -errno;
}

static bool fd_is_pty_slave(int fd)
{
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
                return false;
        unsigned maj = major(st.st_rdev);
        return maj >= PTY_SLAVE_MAJOR_FIRST && maj <= PTY_SLAVE_MAJOR_LAST;
}

int port_serial_open(const char *url, const char *path, unsigned baud, struct port **ret)
{
        char real[PATH_MAX];
        if (!path || !ret)
                return -EINVAL;
        /* by-id/by-path links: resolve so the lock and messages name the real node. */
        int r = resolve_tty_path(path, real);
        if (r < 0)
                return r;

        int fd = open(real, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno; /* EBUSY: another program set TIOCEXCL */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = (errno == EWOULDBLOCK) ? -EBUSY : -errno;
                goto fail;
        }
        r = serial_configure(fd);
        if (r < 0)
                goto fail;
        /* Exclusive mode: further open()s fail with EBUSY (except for CAP_SYS_ADMIN, hence flock). */
        if (ioctl(fd, TIOCEXCL) < 0) {
                r = -errno;
                goto fail;
        }
        if (baud) {
                r = port_baud_set(fd, baud);
                if (r < 0)
                        goto fail;
        }
        struct serial *s = calloc(1, sizeof(*s));
        if (!s) {
                r = -ENOMEM;
                goto fail;
        }
        s->fd = fd;
        struct port *p;
        r = port_alloc(fd_is_pty_slave(fd) ? &pty_ops : &serial_ops, url ? url : path, baud, &p);
        if (r < 0) {
                free(s);
                goto fail;
        }
        p->priv = s;
        *ret = p;
        return 0;
fail:
        close(fd);
        return r;
}

/* Copy a libserialport string (may be NULL) into a fixed buffer. */
static void meta_copy(char *dst, size_t size, const char *src)
{
        size_t n = src ? strnlen(src, size - 1) : 0;
        if (n)
                memcpy(dst, src, n);
        dst[n] = '\0';
}

int port_serial_usb_meta(const char *path, struct port_serial_meta *ret)
{
        char real[PATH_MAX];
        struct sp_port *sp = NULL;
        int vid = 0, pid = 0;

        if (!path || !ret)
                return -EINVAL;
        /* libserialport 0.1.1 does not follow symlinks itself. */
        int r = resolve_tty_path(path, real);
        if (r < 0)
                return r;
        if (sp_get_port_by_name(real, &sp) != SP_OK)
                return -ENOENT; /* no sysfs entry: a pty or a device that vanished */
        struct port_serial_meta m;
        memset(&m, 0, sizeof(m));
        if (sp_get_port_transport(sp) != SP_TRANSPORT_USB || sp_get_port_usb_vid_pid(sp, &vid, &pid) != SP_OK) {
                sp_free_port(sp);
                return -ENODEV;
        }
        snprintf(m.vid, sizeof(m.vid), "%04x", (unsigned)vid & 0xffffu);
        snprintf(m.pid, sizeof(m.pid), "%04x", (unsigned)pid & 0xffffu);
        meta_copy(m.serial, sizeof(m.serial), sp_get_port_usb_serial(sp));
        meta_copy(m.manufacturer, sizeof(m.manufacturer), sp_get_port_usb_manufacturer(sp));
        meta_copy(m.product, sizeof(m.product), sp_get_port_usb_product(sp));
        if (strlen(real) >= sizeof(m.devnode)) {
                sp_free_port(sp);
                return -ENAMETOOLONG;
        }
        meta_copy(m.devnode, sizeof(m.devnode), real);
        sp_free_port(sp);
        *ret = m;
        return 0;
}
