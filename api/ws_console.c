/* /ws/v1/boards/{id}/console: binary frames carry raw serial bytes both ways; text frames carry
 * the small JSON control protocol (take, release, interrupt, soft_reset, reset, input) in, and
 * the console's status messages out. Protocol: api/websocket.md. */
#include "ws_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/console.h"
#include "registry.h"
#include "reply.h"
#include "reservations.h"
#include "util.h"
#include "ws_console_wire.h"

int ws_console_open(struct ws_session *ss, const char *board_id, const char *name, char *msg, size_t msg_size)
{
        struct console *c = NULL;
        int r = console_dir_get(ss->s->o.consoles, board_id, &c);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot open the console of '%s'", board_id);
                return r;
        }
        snprintf(ss->board, sizeof(ss->board), "%s", board_id);
        r = console_viewer_join(c, name, ws_wake, ss->s, &ss->viewer);
        console_unref(c); /* the viewer holds its own reference */
        if (r == -EMFILE)
                snprintf(msg, msg_size, "This console already has %d viewers.", CONSOLE_MAX_VIEWERS);
        else if (r < 0)
                snprintf(msg, msg_size, "cannot join the console of '%s'", board_id);
        return r;
}

void ws_console_close(struct ws_session *ss)
{
        ss->viewer = console_viewer_leave(ss->viewer);
}

bool ws_console_pending(struct ws_session *ss)
{
        return ss->viewer && console_viewer_pending(ss->viewer);
}

static const char *error_code(int r, bool taking)
{
        switch (r) {
        case -EBUSY:
                return taking ? "lock_held" : "read_only";
        case -EPERM:
                return "not_writer";
        case -ENODEV:
                return "offline";
        case -ENOBUFS:
                return "input_full";
        default:
                return "failed";
        }
}

static void answer(struct ws_session *ss, int r, bool taking, const char *msg)
{
        if (r < 0)
                ws_reply(ss, "error", error_code(r, taking), "%s", msg);
}

/* Typing, resets and the write lock need the operator role; viewers only watch. */
static bool may_write(struct ws_session *ss)
{
        if (ss->who.role >= AUTH_ROLE_OPERATOR)
                return true;
        ws_reply(ss, "error", "forbidden", "Writing to the console needs the operator role; token '%s' has the %s role.",
                 ss->who.name, auth_role_name(ss->who.role));
        return false;
}

/* An authenticated admin may use a reserved board without its lease (with auth off everyone
 * is "admin": then leases must still exclude). */
static bool lease_override(struct ws_session *ss)
{
        return ss->who.role >= AUTH_ROLE_ADMIN && auth_enabled(ss->s->o.auth);
}

/* take: on a reserved board only with its lease ("lease": token) or as an admin; the lease
 * holder gets the lock even from a writer without the lease. */
static void take(struct ws_session *ss, const char *lease)
{
        char msg[512];
        struct reservations *rs = registry_reservations(ss->s->o.registry);
        struct corral_error err = { 0 };
        if (lease_override(ss) && !(lease && *lease)) {
                ss->lease = 0;
                answer(ss, console_viewer_take(ss->viewer, msg, sizeof(msg)), true, msg);
        } else if (reservations_check_board(rs, ss->board, lease, util_wall_ms(), &err) < 0) {
                ws_reply(ss, "error", reply_code_name(err.code), "%s", err.message);
        } else {
                /* Accepted with a lease: it is the board's active lease. */
                ss->lease = lease && *lease ? reservations_token_id(lease) : 0;
                answer(ss, console_viewer_take_leased(ss->viewer, ss->lease > 0 ? ss->lease : 0, msg, sizeof(msg)),
                       true, msg);
        }
        corral_error_clear(&err);
}

/* Bytes and resets reach a reserved board only from a writer that took the lock with its lease
 * (or an admin): a lease granted since is refused here even if the revocation raced. */
static bool lease_allows_write(struct ws_session *ss)
{
        if (lease_override(ss))
                return true;
        int64_t held = reservations_board_lease(registry_reservations(ss->s->o.registry), ss->board, util_wall_ms());
        if (!held || held == ss->lease)
                return true;
        ws_reply(ss, "error", "board_reserved", "Board '%s' is reserved (reservation %lld) and you did not take the "
                 "write lock with its lease; nothing was sent.", ss->board, (long long)held);
        return false;
}

/* One complete text message from the client. */
static void control(struct ws_session *ss, const char *text, size_t len)
{
        char msg[512];
        struct ws_control c;
        struct console_viewer *v = ss->viewer;
        if (ws_control_parse(text, len, &c, msg, sizeof(msg)) < 0) {
                ws_reply(ss, "error", "bad_message", "%s", msg);
        } else if (c.type != WS_CTL_RELEASE && !may_write(ss)) {
                /* refused, answered */
        } else if (c.type == WS_CTL_TAKE) {
                take(ss, c.lease);
        } else if (c.type == WS_CTL_RELEASE) {
                answer(ss, console_viewer_release(v, msg, sizeof(msg)), false, msg);
        } else if (c.type == WS_CTL_UNKNOWN) {
                ws_reply(ss, "error", "bad_message", "Unknown message type '%.64s'.", c.type_name);
        } else if (!lease_allows_write(ss)) {
                /* refused, answered: nothing queued */
        } else if (c.type == WS_CTL_INTERRUPT) {
                answer(ss, console_viewer_input(v, "\x03", 1, msg, sizeof(msg)), false, msg);
        } else if (c.type == WS_CTL_SOFT_RESET) {
                answer(ss, console_viewer_input(v, "\x04", 1, msg, sizeof(msg)), false, msg);
        } else if (c.type == WS_CTL_RESET) {
                answer(ss, console_viewer_reset(v, msg, sizeof(msg)), false, msg);
        } else if (!c.data) {
                ws_reply(ss, "error", "bad_message", "\"input\" needs a \"data\" string.");
        } else {
                answer(ss, console_viewer_input(v, c.data, c.data_len, msg, sizeof(msg)), false, msg);
        }
        ws_control_clear(&c);
}

int ws_console_receive(struct ws_session *ss, const void *in, size_t len)
{
        struct lws *wsi = ss->wsi;
        if (!ss->viewer)
                return -1;
        if (lws_frame_is_binary(wsi)) {
                char msg[512];
                if (!may_write(ss))
                        return 0;
                if (lease_allows_write(ss))
                        answer(ss, console_viewer_input(ss->viewer, in, len, msg, sizeof(msg)), false, msg);
                return 0;
        }
        if (ss->nrx + len >= sizeof(ss->rx))
                ss->rx_too_long = true;
        else {
                memcpy(ss->rx + ss->nrx, in, len);
                ss->nrx += len;
        }
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
                return 0;
        if (ss->rx_too_long)
                ws_reply(ss, "error", "bad_message", "Control messages are at most %zu bytes; send bytes for the "
                         "board as binary frames.", sizeof(ss->rx) - 1);
        else
                control(ss, ss->rx, ss->nrx);
        ss->nrx = 0;
        ss->rx_too_long = false;
        return 0;
}

int ws_console_writeable(struct ws_session *ss)
{
        unsigned char buf[LWS_PRE + WS_CHUNK];
        /* Several frames per callback while the socket takes them: one frame per poll round
         * would cap a viewer far below what the socket can carry. */
        for (int i = 0; i < WS_FRAMES_PER_WRITEABLE; i++) {
                struct console_msg m;
                bool is_msg = false;
                size_t n = console_viewer_next(ss->viewer, buf + LWS_PRE, WS_CHUNK, &m, &is_msg);
                if (!n)
                        return 0; /* drained: the console wakes us when more arrives */
                if (is_msg) {
                        char *text = ws_console_wire(&m);
                        if (!text)
                                continue; /* too long for the wire (or out of memory): not sent */
                        n = strlen(text);
                        memcpy(buf + LWS_PRE, text, n); /* n < CONSOLE_TEXT_MAX < WS_CHUNK */
                        free(text);
                }
                if (ws_write_frame(ss, buf + LWS_PRE, n, is_msg) < 0)
                        return -1;
                if (lws_send_pipe_choked(ss->wsi))
                        break;
        }
        lws_callback_on_writable(ss->wsi);
        return 0;
}
