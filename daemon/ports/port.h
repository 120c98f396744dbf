/* struct port: the one interface every serial backend implements and every protocol engine uses.
 * Backends: serial (libserialport tty), pty (termios), rfc2217 client, raw socket, and test fakes. */
#ifndef CORRAL_PORT_H
#define CORRAL_PORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct port;

/* Backend operations. All return 0 or a positive count on success, negative errno on failure.
 * A backend whose device vanished (USB unplug, peer closed) returns -ENODEV from then on. */
struct port_ops {
        const char *name; /* "serial", "pty", "rfc2217", "socket", "fake" */
        /* Read up to len bytes, waiting at most timeout_ms (0 = poll). Returns bytes read (>0),
         * 0 on timeout, negative errno on error. */
        int (*read)(struct port *p, void *buf, size_t len, int timeout_ms);
        /* Write all len bytes within timeout_ms. Returns len, -ETIMEDOUT, or negative errno. */
        int (*write)(struct port *p, const void *buf, size_t len, int timeout_ms);
        int (*set_baud)(struct port *p, unsigned baud);
        /* Set DTR and RTS together (logical: true = asserted). -ENOTSUP where the backend has no lines. */
        int (*set_lines)(struct port *p, bool dtr, bool rts);
        /* Drop buffered input (host side and, where the protocol allows, the remote side). */
        int (*flush_input)(struct port *p);
        /* Optional: hold the line in BREAK (on) or release it. NULL = -ENOTSUP. */
        int (*set_break)(struct port *p, bool on);
        /* Optional: sleep; test fakes advance a virtual clock. NULL = real nanosleep. */
        void (*sleep_ms)(struct port *p, unsigned ms);
        /* Release everything; the struct itself is freed by port_close(). */
        void (*close)(struct port *p);
};

struct port {
        const struct port_ops *ops;
        char *url;           /* owned: what was opened ("rfc2217://127.0.0.1:4000", "/dev/ttyUSB0") */
        unsigned baud;       /* current host-side baud */
        bool dtr, rts;       /* last lines set */
        atomic_bool cancel;  /* set by another thread: blocking calls return -ECANCELED soon after */
        int wake_fd;         /* eventfd polled by backends beside their own fd: port_cancel() and
                              * port_wake() end a blocked read at once */
        bool wake_borrowed;  /* wake_fd belongs to the caller (port_use_wake_fd) */
        void *priv;          /* backend state */
};

/* Open a port by URL: "rfc2217://host:port", "socket://host:port", "/dev/..." (tty via
 * libserialport, or termios when it is a pty). On success *ret owns the new port. */
int port_open(const char *url, unsigned baud, struct port **ret);

/* Wrappers engines call. They honour p->cancel (-ECANCELED) by slicing long waits. */
int port_read(struct port *p, void *buf, size_t len, int timeout_ms);
/* Read exactly len bytes or fail with -ETIMEDOUT (partial data is consumed and lost). */
int port_read_exact(struct port *p, void *buf, size_t len, int timeout_ms);
int port_write(struct port *p, const void *buf, size_t len, int timeout_ms);
int port_write_str(struct port *p, const char *s, int timeout_ms);
int port_set_baud(struct port *p, unsigned baud);
int port_set_lines(struct port *p, bool dtr, bool rts);
int port_flush_input(struct port *p);
/* BREAK on/off: -ENOTSUP where the backend cannot (raw sockets). */
int port_set_break(struct port *p, bool on);
void port_sleep_ms(struct port *p, unsigned ms);

/* The step of a reset pulse that failed. */
enum port_pulse_step { PORT_PULSE_ASSERT, PORT_PULSE_RELEASE };
/* The one reset pulse every board wiring here shares (ESP auto-reset circuit, MicroPython boards,
 * the console's hard reset): RTS asserted with DTR released (EN low, IO0 high) for hold_ms, then
 * both released (the board boots from flash). With drop_input, what arrived during the hold is
 * flushed before the release. 0, or the negative errno of the failed step (-ENOTSUP: the port
 * has no lines), whose name goes to *ret_failed when it is not NULL. */
int port_reset_pulse(struct port *p, unsigned hold_ms, bool drop_input, enum port_pulse_step *ret_failed);
/* Ask a port's blocking calls to return -ECANCELED; safe from any thread. */
void port_cancel(struct port *p, bool on);
/* End a blocked port_read() early with 0 (nothing read); safe from any thread. */
void port_wake(struct port *p);
/* Poll this eventfd (owned by the caller, who may write 1 to it from any thread to wake a read)
 * instead of the port's own: lets an owner wake reads across port reopens. */
void port_use_wake_fd(struct port *p, int fd);
/* On the calling thread only: a cancellable wait in port_read() (one polling a wake fd) also ends
 * with 0 when fd becomes readable (-1: none). Lets one thread serve a port and a socket (the
 * remote-port session) without a second thread touching the port. */
void port_poll_also(int fd);

/* Close and free; NULL-safe. Returns NULL. */
struct port *port_close(struct port *p);

/* Used by backends. */
int port_alloc(const struct port_ops *ops, const char *url, unsigned baud, struct port **ret);
/* Wait until fd is readable, the port is cancelled (wake_fd) or timeout_ms passes. Returns the
 * fd's revents (> 0) when it is ready, 0 on timeout or cancel (port_read then reports
 * -ECANCELED), negative errno on poll errors. wake_fd may be -1 (no cancel wake-up). */
int port_poll_in(int fd, int wake_fd, int timeout_ms);

#endif
