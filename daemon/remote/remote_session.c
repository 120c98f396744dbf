/* The remote-port session loop: client bytes through the RFC 2217 engine into port actions (data,
 * baud, lines with server-side ESP resets, BREAK, purge), board bytes escaped back to the client
 * and into the console. One thread: the worker's. */
#include "remote/remote_session.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "engines/esp/esp_reset.h"
#include "engines/rfc2217/rfc2217_resetwatch.h"
#include "engines/rfc2217/rfc2217_server.h"
#include "jobs/console.h"
#include "log.h"
#include "ports/port.h"
#include "util.h"

#define SLICE_MS 200          /* a port read's longest wait (the client socket wakes it) */
#define CLIENT_SEND_MS 5000   /* a client that reads nothing for this long is dropped */
#define WRITE_MS 5000
#define LOADER_IO0_MS 50      /* IO0 held low after EN rises (esptool's own delay) */

struct loop {
        struct remote_session *s;
        struct port *p;
        struct rfc2217_server srv;
        struct r2s_out out;
        struct resetwatch rw;
        bool suspended;
        bool modem_sent;
};

/* Send all of b to the client; false when it is gone or stalls. */
static bool client_send(int fd, const uint8_t *b, size_t n)
{
        uint64_t deadline = util_mono_ms() + CLIENT_SEND_MS;
        while (n > 0) {
                ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) {
                        b += w;
                        n -= (size_t)w;
                        continue;
                }
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                        return false;
                uint64_t now = util_mono_ms();
                if (now >= deadline)
                        return false;
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
                        return false;
        }
        return true;
}

static int apply_lines(struct loop *l, bool dtr, bool rts)
{
        struct remote_session *s = l->s;
        if (!s->esp)
                return port_set_lines(l->p, dtr, rts);
        switch (resetwatch_lines(&l->rw, dtr, rts, util_mono_ms())) {
        case RESETWATCH_IGNORE:
                return 0;
        case RESETWATCH_LOADER_RESET:
                /* The chip has been in reset since the client's RTS; release it into the loader
                 * with board-side timing, not pyserial's ~50 ms per line. */
                atomic_fetch_add(&s->loader_resets, 1);
                log_info("board %s: remote session (%s) asked for the ROM loader: EN released with IO0 low",
                         s->board, s->owner);
                return esp_reset_release_to_loader(l->p, LOADER_IO0_MS);
        case RESETWATCH_HARD_RESET:
                atomic_fetch_add(&s->hard_resets, 1);
                return port_set_lines(l->p, false, false);
        case RESETWATCH_APPLY:
        default:
                return port_set_lines(l->p, dtr, rts);
        }
}

/* Carry out one batch of engine actions; a negative errno only for a port failure that ends
 * the session. */
static int run_actions(struct loop *l)
{
        struct remote_session *s = l->s;
        for (size_t i = 0; i < l->out.nact; i++) {
                const struct r2s_action *a = &l->out.act[i];
                int r = 0;
                switch (a->kind) {
                case R2S_ACT_DATA:
                        r = port_write(l->p, l->out.data + a->off, a->len, WRITE_MS);
                        if (r > 0)
                                atomic_fetch_add(&s->to_board, a->len);
                        if (r == -ETIMEDOUT)
                                r = 0; /* a stalled port loses that data, the session goes on */
                        break;
                case R2S_ACT_BAUD:
                        r = port_set_baud(l->p, a->value);
                        if (r == 0)
                                atomic_store(&s->baud, a->value);
                        else if (r != -ENODEV)
                                log_warning("board %s: remote session cannot set %u baud: %s", s->board, a->value,
                                            strerror(-r));
                        break;
                case R2S_ACT_LINES:
                        r = apply_lines(l, a->dtr, a->rts);
                        break;
                case R2S_ACT_BREAK:
                        r = port_set_break(l->p, a->value != 0);
                        break;
                case R2S_ACT_PURGE:
                        /* 1 (and 3): what the board sent that the client has not got yet. Bytes
                         * from the client are written at once, so there is no transmit buffer. */
                        if (a->value & R2S_PURGE_RX)
                                r = port_flush_input(l->p);
                        break;
                case R2S_ACT_SUSPEND:
                        l->suspended = a->value != 0;
                        break;
                case R2S_ACT_DATASIZE:
                case R2S_ACT_PARITY:
                case R2S_ACT_STOPSIZE:
                        break; /* 8N1 only (only_8n1): nothing else is accepted */
                }
                if (r == -ENODEV || r == -ECANCELED)
                        return r;
        }
        return 0;
}

/* Feed n client bytes through the engine, act, answer. */
static int from_client(struct loop *l, const uint8_t *in, size_t n)
{
        size_t done = 0;
        while (done < n) {
                rfc2217_server_out_reset(&l->out);
                done += rfc2217_server_feed(&l->srv, in + done, n - done, &l->out);
                int r = run_actions(l);
                if (!l->modem_sent && rfc2217_server_comport(&l->srv)) {
                        /* A bridge with a board attached: CTS, DSR and CD up. */
                        rfc2217_server_modem(&l->srv, R2S_MODEM_CTS | R2S_MODEM_DSR | R2S_MODEM_CD, &l->out);
                        l->modem_sent = true;
                }
                if (l->out.nreply && !client_send(l->s->fd, l->out.reply, l->out.nreply))
                        return -EPIPE;
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool to_client(struct loop *l, const uint8_t *b, size_t n)
{
        uint8_t esc[2 * 4096];
        size_t done = 0;
        while (done < n) {
                size_t used = 0;
                size_t m = rfc2217_server_escape(b + done, n - done, esc, sizeof(esc), &used);
                if (!client_send(l->s->fd, esc, m))
                        return false;
                done += used;
        }
        return true;
}

int remote_session_run(struct remote_session *s, struct port *p, struct console *c)
{
        static _Thread_local struct loop l; /* large (engine output buffers): off the stack */
        memset(&l, 0, sizeof(l));
        l.s = s;
        l.p = p;
        rfc2217_server_init(&l.srv, p->baud, "corral");
        l.srv.only_8n1 = true;
        resetwatch_init(&l.rw);
        atomic_store(&s->baud, p->baud);
        char who[300];
        snprintf(who, sizeof(who), "A remote RFC 2217 session (%s, from %s)", s->owner, s->peer);
        console_set_holder(c, who);

        rfc2217_server_out_reset(&l.out);
        rfc2217_server_start(&l.srv, &l.out);
        int rc = 0;
        if (!client_send(s->fd, l.out.reply, l.out.nreply))
                goto out;
        port_poll_also(s->fd);
        uint8_t in[4096], board[4096];
        for (;;) {
                ssize_t n = recv(s->fd, in, sizeof(in), MSG_DONTWAIT);
                if (n == 0)
                        break; /* the client closed (or the manager shut the socket: lease ended) */
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                        break;
                if (n > 0) {
                        int r = from_client(&l, in, (size_t)n);
                        if (r == -EPIPE)
                                break;
                        if (r == -ECANCELED)
                                break;
                        if (r < 0) {
                                rc = r;
                                break;
                        }
                }
                if (l.suspended) {
                        struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
                        poll(&pfd, 1, 50);
                        continue;
                }
                int r = port_read(p, board, sizeof(board), n > 0 ? 0 : SLICE_MS);
                if (r > 0) {
                        atomic_fetch_add(&s->from_board, (uint64_t)r);
                        console_feed(c, board, (size_t)r);
                        if (!to_client(&l, board, (size_t)r))
                                break;
                } else if (r == -ECANCELED) {
                        break; /* the worker is stopping or the board went away */
                } else if (r < 0) {
                        rc = r;
                        break;
                }
        }
out:
        port_poll_also(-1);
        console_set_holder(c, NULL);
        return rc;
}
