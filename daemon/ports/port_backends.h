/* Private to daemon/ports/: constructors of the concrete backends behind port_open(), the
 * termios2 baud helper (isolated from <termios.h>) and the TCP helpers shared by two backends. */
#ifndef CORRAL_PORT_BACKENDS_H
#define CORRAL_PORT_BACKENDS_H

#include <stddef.h>
#include <stdint.h>

struct port;

/* Connect timeout used by the network backends (port_open() has no timeout argument). */
#define PORT_TCP_CONNECT_TIMEOUT_MS 5000
/* How long rfc2217 waits for the server's answers (COM-PORT-OPTION, SET-BAUDRATE ack). */
#define PORT_RFC2217_REPLY_TIMEOUT_MS 1000

/* Each constructor: on success *ret owns a new port (free with port_close()); `url` is copied
 * into port->url. Errors are negative errno; *ret is untouched. */

/* A tty (real or pty) at `path` (symlinks such as /dev/serial/by-id/... are resolved).
 * -EBUSY when another program holds it, -ENOTTY when it is not a terminal. */
int port_serial_open(const char *url, const char *path, unsigned baud, struct port **ret);
/* RFC 2217 client; -EPROTONOSUPPORT when the server refuses COM-PORT-OPTION. */
int port_rfc2217_open(const char *url, const char *host, const char *service, unsigned baud,
                      struct port **ret);
/* Raw TCP byte stream. */
int port_socket_open(const char *url, const char *host, const char *service, unsigned baud,
                     struct port **ret);

/* termios2 (BOTHER) baud rate: any integer rate the driver accepts, e.g. 74880.
 * Does not touch any other termios flag. */
int port_baud_set(int fd, unsigned baud);
/* Current output baud as the driver reports it. On a pty master this is the slave's setting. */
int port_baud_get(int fd, unsigned *ret_baud);

/* TCP: connect to host:service within timeout_ms; *ret_fd is a non-blocking, CLOEXEC,
 * TCP_NODELAY socket owned by the caller. -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, ... */
int port_tcp_connect(const char *host, const char *service, int timeout_ms, int *ret_fd);
/* Send all of buf before deadline_ms (CLOCK_MONOTONIC ms). Returns 0, -ETIMEDOUT, -ENODEV
 * (peer gone) or another negative errno. */
int port_tcp_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ms);
/* Wait up to timeout_ms for input, then recv what is there (at most len bytes).
 * Returns bytes (>0), 0 on timeout, -ENODEV when the peer closed or reset. */
/* wake_fd: the port's cancel eventfd (-1 for none): a cancel ends the wait early with 0. */
int port_tcp_recv(int fd, int wake_fd, void *buf, size_t len, int timeout_ms);
#endif
