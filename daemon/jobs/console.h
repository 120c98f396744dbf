/* A board's live console: the last 64 KB the board printed, the people watching it (each with
 * its own lag limit and drop counter), one write lock, and the bytes waiting to go to the port.
 * The port worker feeds and drains it; the WebSocket layer joins viewers. Thread-safe.
 *
 * Each viewer gets the bytes and structured messages (struct console_msg: hello, lock, status,
 * dropped, reset); api/ws_console_wire.c turns a message into the JSON text of
 * /ws/v1/boards/{id}/console (api/websocket.md). A writer holds the lock for the lease it
 * presented (if any): a new lease on the board revokes any other writer. */
#ifndef CORRAL_CONSOLE_H
#define CORRAL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h" /* CONSOLE_MAX_VIEWERS */

#define CONSOLE_HISTORY 65536    /* bytes kept and replayed on join; also each viewer's lag limit */
#define CONSOLE_INPUT_MAX 16384  /* bytes queued for the port before input is refused */
#define CONSOLE_TEXT_QUEUE 32    /* status messages queued per viewer before the oldest is dropped */
#define CONSOLE_TEXT_MAX 1024    /* longest status message on the wire (longer ones are not sent) */

struct console_dir;
struct console;
struct console_viewer;

/* What a viewer is told, as data; api/ws_console_wire.c formats it for the wire. */
enum console_msg_type {
        CONSOLE_MSG_HELLO,      /* on join: the state, the board, the viewer's id, the lock holder */
        CONSOLE_MSG_STATUS,     /* the state changed */
        CONSOLE_MSG_LOCK,       /* the write lock changed hands */
        CONSOLE_MSG_DROPPED,    /* the viewer lagged and lost bytes */
        CONSOLE_MSG_RESET,      /* how a requested hard reset went */
};

struct console_msg {
        enum console_msg_type type;
        /* hello, status: the console's state */
        bool online, busy;
        int64_t job;            /* the job holding the port, 0: none */
        char kind[32];          /* that job's kind */
        char reason[512];       /* why the console is offline or read-only, "" when it is not */
        /* hello */
        char board[72];
        unsigned viewer;        /* the receiving viewer's id */
        uint64_t replay_bytes;
        /* hello, lock: who holds the write lock */
        unsigned holder;        /* its viewer id, 0: nobody */
        char holder_name[64];
        /* lock */
        bool writer;            /* the receiving viewer holds it */
        bool why_given;         /* it changed hands without a release: code and why say why */
        char code[32];
        char why[512];
        /* dropped */
        uint64_t bytes, total;  /* lost now, lost since joining */
        /* reset */
        bool ok;
        char message[512];
};

/* Called when there is something new; runs on the caller's thread with the console lock held:
 * it must only flag and wake (never call back into the console). */
typedef void (*console_wake_fn)(void *user);

/* ---- directory: one console per board id, shared by the board's worker and its viewers ---- */
int console_dir_new(struct console_dir **ret);
/* NULL-safe; every console must have been released first. Returns NULL. */
struct console_dir *console_dir_free(struct console_dir *d);
/* The console of board_id, created empty when missing. *ret is a new reference. */
int console_dir_get(struct console_dir *d, const char *board_id, struct console **ret);
/* Drop a reference; the last one frees the console. NULL-safe; returns NULL. */
struct console *console_unref(struct console *c);

/* ---- port side (the board's worker thread) ---- */
/* The worker owns the port now; wake() is called when input or a reset request is queued. */
void console_attach(struct console *c, console_wake_fn wake, void *user);
/* The worker is gone: the console says "offline", queued input is dropped, wake() is never
 * called again once this returns. */
void console_detach(struct console *c);
/* Port open or not, with the reason in plain words when not (copied). */
void console_set_port(struct console *c, bool open, const char *error);
/* A job holds the port (job_id > 0, kind copied) or not (0): the console is read-only meanwhile
 * and queued input is dropped. */
void console_set_job(struct console *c, int64_t job_id, const char *kind);
/* Someone other than a job holds the port (who: a plain phrase such as "A remote RFC 2217
 * session (alice, 127.0.0.1)", copied; NULL or "" when it ends): read-only meanwhile, as for a job. */
void console_set_holder(struct console *c, const char *who);
/* Bytes the board printed (or a job's output): into the history, towards every viewer. */
void console_feed(struct console *c, const void *data, size_t len);
/* Take up to cap queued input bytes; *reset says a hard reset was asked for (cleared). */
size_t console_input_take(struct console *c, void *buf, size_t cap, bool *reset);
/* A viewer joined (nobody holding the write lock): true once (cleared) when no job holds the port
 * and CONSOLE_PROMPT_DELAY_MS have passed (a job the viewer's page queues on opening goes first),
 * and the worker shows a fresh prompt on a MicroPython board. A writer or queued input cancels it. */
#define CONSOLE_PROMPT_DELAY_MS 400
bool console_prompt_take(struct console *c);
/* True while someone holds the write lock or input is queued: the worker should poll fast. */
bool console_interactive(struct console *c);
/* The board was just leased (reservation lease): a writer that did not take the lock with it
 * loses the lock at once, its queued input is dropped unsent, and every viewer gets a lock
 * message with "code" (e.g. "lease_granted") and "reason" (copied) saying why. */
void console_revoke_writer(struct console *c, int64_t lease, const char *code, const char *reason);
/* Tell every viewer how a requested hard reset went. */
void console_report_reset(struct console *c, bool ok, const char *message);

/* ---- viewer side (the WebSocket thread) ---- */
/* Join: the viewer is queued a hello and the history. name (may be NULL) labels the viewer in
 * lock messages. -EMFILE when the console has CONSOLE_MAX_VIEWERS already. The viewer holds its
 * own reference on c; free it with console_viewer_leave(). */
int console_viewer_join(struct console *c, const char *name, console_wake_fn wake, void *user,
                        struct console_viewer **ret);
/* Leave (releases the write lock if held) and free. NULL-safe; returns NULL. */
struct console_viewer *console_viewer_leave(struct console_viewer *v);
/* Next thing to send: a message (copied into *msg, *is_msg = true, returns 1) or history bytes
 * (copied into buf, at most cap, *is_msg = false, returns their count); 0 when nothing is pending
 * (the viewer is woken again when something arrives). */
size_t console_viewer_next(struct console_viewer *v, void *buf, size_t cap, struct console_msg *msg, bool *is_msg);
/* Anything waiting for this viewer (does not consume). */
bool console_viewer_pending(struct console_viewer *v);
/* Bytes this viewer has lost to its lag limit so far. */
uint64_t console_viewer_dropped(struct console_viewer *v);

/* Requests. Each returns 0 or a negative errno with a plain sentence in msg:
 * -EBUSY lock held by another viewer (take) or a job holds the port (input/reset),
 * -EPERM the viewer does not hold the write lock, -ENODEV the board is offline,
 * -ENOBUFS the input queue is full. */
int console_viewer_take(struct console_viewer *v, char *msg, size_t msg_size);
/* Take for the holder of lease (a reservation id, > 0) on a leased board: a writer holding the
 * lock without that lease loses it at once (told why in its lock message), so the holder always
 * gets it. lease 0: as console_viewer_take. */
int console_viewer_take_leased(struct console_viewer *v, int64_t lease, char *msg, size_t msg_size);
int console_viewer_release(struct console_viewer *v, char *msg, size_t msg_size);
int console_viewer_input(struct console_viewer *v, const void *data, size_t len, char *msg, size_t msg_size);
int console_viewer_reset(struct console_viewer *v, char *msg, size_t msg_size);

#endif
