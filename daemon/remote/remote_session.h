/* One remote-port connection: an RFC 2217 client driving a board's real port. It runs on the
 * board's port worker thread (worker_lend), so the port keeps a single owner; the client socket
 * wakes its port reads (port_poll_also). Counters are read from other threads. */
#ifndef CORRAL_REMOTE_SESSION_H
#define CORRAL_REMOTE_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct port;
struct console;

struct remote_session {
        int fd;                       /* the client's socket; owned by the remote manager */
        bool esp;                     /* an ESP board: recognise esptool's resets */
        char board[72];
        char owner[129];
        char peer[64];
        int64_t since_ms;             /* wall clock */
        atomic_uint_fast64_t to_board, from_board; /* data bytes each way */
        atomic_uint loader_resets, hard_resets;
        atomic_uint baud;             /* the port's baud as the client last set it */
};

/* Serve the client until it disconnects (0), the worker takes the port back (-ECANCELED seen:
 * 0) or the port fails (its negative errno; -ENODEV: the device is gone). Runs on the worker
 * thread; console viewers see the board's output and a read-only console meanwhile. */
int remote_session_run(struct remote_session *s, struct port *p, struct console *c);

#endif
