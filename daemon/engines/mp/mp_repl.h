/* mp_repl: a MicroPython REPL session over struct port: interrupt, raw REPL, exec with raw-paste
 * flow control (and a fallback for old firmware), soft/hard reset, the recovery ladder, connect
 * (with diagnosis) and identify. Pure logic: no logging, no threads; errors are negative errno
 * plus a plain-language message in the caller's msg buffer. */
#ifndef CORRAL_MP_REPL_H
#define CORRAL_MP_REPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/mp/mp_diag.h"
#include "engines/mp/mp_resp.h"
#include "ports/port.h"

enum mp_mode { MP_MODE_UNKNOWN, MP_MODE_FRIENDLY, MP_MODE_RAW };

struct mp_repl;

/* Progress lines of the recovery ladder and resets ("recover 1/4: Ctrl-C twice: ..."). */
typedef void (*mp_log_fn)(const char *line, void *user);
/* Health counters as they happen: "link_errors" (a damaged transfer step), "resends",
 * "sync_retries" (a recovery rung climbed), "power_cycles". */
typedef void (*mp_count_fn)(const char *key, long long n, void *user);
/* The recovery ladder's last rung: cut and restore the board's power and reopen the port
 * (r->port may change). 0 done, -ENOTSUP no power backend, else negative errno with msg. */
typedef int (*mp_power_fn)(struct mp_repl *r, void *user, char *msg, size_t msg_size);

#define MP_RAW_PROMPT "raw REPL; CTRL-B to exit\r\n>"
#define MP_SETTLE_MS 20

/* One session on one port. Initialise with mp_repl_init(); nothing inside is heap-allocated, so
 * there is nothing to free. The port is borrowed and must outlive the session. Fields below the
 * "tunables" line may be changed by the caller after init; the rest is engine state. */
struct mp_repl {
        struct port *port;
        enum mp_mode mode;
        int raw_paste;  /* -1 not probed yet, 0 not supported, 1 supported (cached per session) */
        char banner[160]; /* last "MicroPython v..." line seen, "" when none */
        unsigned fs_caps; /* mp_fs capability bits, probed once (MP_FS_PROBED set when valid) */
        uint8_t pend[512]; /* bytes read past a marker, consumed first */
        size_t pend_off, pend_len;
        uint8_t recent[1024]; /* last bytes received, for diagnosis */
        size_t recent_len;
        /* Where an earlier session left the board (mp_session_load()): a hint mp_repl_connect()
         * checks with one Ctrl-A before trusting it; MP_MODE_UNKNOWN = none. */
        enum mp_mode kept_mode;
        /* Verified transfer (mp_xfer.c): the helper was installed in this session; the current
         * step size and the clean steps since it last changed. */
        bool xfer_ready;
        unsigned xfer_chunk, xfer_clean;
        /* tunables */
        int io_timeout_ms;      /* each prompt / ack wait; default 2000 */
        int boot_wait_ms;       /* after a soft/hard reset; default 4000 */
        unsigned chunk_size;    /* plain raw REPL: bytes per write (default 256) ... */
        unsigned chunk_delay_ms; /* ... and the pause after each (default 10) */
        int check_timeout_ms;   /* connect: the Ctrl-A check of a kept mode; default 500 */
        mp_log_fn log;
        void *log_user;
        mp_count_fn count;      /* may be NULL */
        void *count_user;
        mp_power_fn power_cycle; /* may be NULL: the ladder ends at the hard reset */
        void *power_user;
        /* Clock for deadlines; default CLOCK_MONOTONIC. Tests point it at the fake port's clock. */
        uint64_t (*now_ms)(void *clock_user);
        void *clock_user;
        /* When set (mp_repl_now() clock), the recovery ladder stops climbing once it has passed:
         * a job's timeout bounds the connect too. 0 = no limit. */
        uint64_t deadline_ms;
};

void mp_repl_init(struct mp_repl *r, struct port *p);
static inline void mp_repl_count(struct mp_repl *r, const char *key, long long n)
{
        if (r->count)
                r->count(key, n, r->count_user);
}

/* Ctrl-C twice ("\r\x03\x03"), then drain whatever the board prints until it is quiet: 100 ms
 * of silence, or only MP_SETTLE_MS once what it printed ends in a prompt (">>> ", "\x04>", the
 * raw prompt). */
int mp_repl_interrupt(struct mp_repl *r, char *msg, size_t msg_size);
/* Ctrl-A ("\r\x01"), wait for MP_RAW_PROMPT. Does not interrupt first (mp_repl_connect does). */
int mp_repl_enter_raw(struct mp_repl *r, char *msg, size_t msg_size);
/* Ctrl-B: back to the friendly REPL (banner + ">>> "); remembers the banner. */
int mp_repl_exit_raw(struct mp_repl *r, char *msg, size_t msg_size);

struct mp_exec_opts {
        int timeout_ms;      /* how long the code may run (<= 0: 10 s) */
        mp_output_fn on_output; /* live output, may be NULL */
        void *user;
        size_t capture_max;  /* bytes of each stream kept in the result (0: 1 MiB) */
};

/* What an exec produced. Zero-initialise before use; release with mp_exec_result_clear().
 * Filled on success and on -ETIMEDOUT (partial output). */
struct mp_exec_result {
        char *out, *err;     /* captured stdout / exception text, NUL-terminated, owned (may be NULL) */
        size_t out_len, err_len;
        bool truncated;      /* a capture hit capture_max */
        bool timed_out;      /* the code was interrupted because it ran too long */
        bool board_usable;   /* after a timeout: the raw prompt came back */
        int duration_ms;
};
void mp_exec_result_clear(struct mp_exec_result *res);

/* Run code in the raw REPL (entering it if needed), verified: the code reaches the board through
 * mp_xfer (steps the board checks by length and Adler-32) and runs only once the board confirmed
 * all of it; tracebacks show the code's own frames and line numbers. Returns 0 when the code ran
 * to its end, with or without an uncaught exception (res->err non-empty), -ETIMEDOUT when it was
 * still running at timeout_ms (then it was interrupted; res->board_usable tells whether the board
 * is back at the raw prompt), -EINVAL for code containing raw-REPL control bytes 0x01..0x05,
 * -EILSEQ when the link kept damaging the code (nothing ran; msg names the share of bytes lost),
 * other negative errno for port or protocol failures. Uses raw-paste when the board supports
 * it (probed once per session), else the plain raw REPL in chunks. */
int mp_repl_exec(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                 struct mp_exec_result *res, char *msg, size_t msg_size);
/* Convenience: run code, 0 only when it finished without an exception; the exception's
 * first line goes to msg otherwise (-EREMOTEIO, or the OSError's errno negated). */
int mp_repl_eval(struct mp_repl *r, const char *code, int timeout_ms, struct mp_exec_result *res,
                 char *msg, size_t msg_size);

/* Result of an exec as a process exit status: 0 finished, 1 uncaught exception, 124 timeout,
 * -1 when it never ran (exec_rc another error). */
int mp_exit_status(int exec_rc, const struct mp_exec_result *res);

/* Soft reset (Ctrl-D). stay_raw: from the raw prompt, then wait until the raw prompt is back
 * (interrupting main.py on old firmware that returns to the friendly REPL). !stay_raw: from the
 * friendly REPL so boot.py/main.py run; returns once "soft reboot" is seen (mode unknown). */
int mp_repl_soft_reset(struct mp_repl *r, bool stay_raw, char *msg, size_t msg_size);
/* Pulse the reset line: RTS asserted with DTR released for ~100 ms, then both released.
 * -ENOTSUP when the backend has no modem lines. Does not wait for the boot. */
int mp_repl_hard_reset(struct mp_repl *r, char *msg, size_t msg_size);
/* Read and return what the board prints for ms milliseconds (or until size-1 bytes), NUL-ended. */
int mp_repl_capture(struct mp_repl *r, int ms, char *buf, size_t size);

/* Recovery ladder: Ctrl-C x2 -> Ctrl-B/Ctrl-A -> soft reset -> hard reset -> give up. Each step
 * is reported through r->log. 0 = at the raw prompt; -EHOSTDOWN = every step failed, a diagnosis
 * of what the port showed is in msg; other negative errno = port failure (gone, cancelled). */
int mp_repl_recover(struct mp_repl *r, char *msg, size_t msg_size);
/* Bound connect/recover to ms from now (deadline_ms); ms <= 0 clears it. */
void mp_repl_set_budget(struct mp_repl *r, int ms);
/* Interrupt, enter the raw REPL, climb the ladder if needed. With a kept mode (r->kept_mode, from
 * mp_session_load()) it first sends a lone Ctrl-A and, when the raw prompt comes back within
 * check_timeout_ms, is done without interrupting; otherwise it goes the whole way. On failure
 * *ret_diag (may be NULL) holds the diagnosis of what the port showed and msg its message. */
int mp_repl_connect(struct mp_repl *r, struct mp_diag *ret_diag, char *msg, size_t msg_size);

/* Board facts as a new JSON object owned by the caller: mp_version, implementation, platform,
 * machine, unique_id, mem_free, fs_size, fs_free, banner (each only when the board tells).
 * Each probe is guarded on the board so a missing module skips only that fact. */
int mp_identify(struct mp_repl *r, json_t **ret_facts, char *msg, size_t msg_size);

/* Internal to the mp_* engines: one unverified exec of code as it is (mp_xfer's steps). */
int mp_repl_exec_raw(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                     struct mp_exec_result *res, char *msg, size_t msg_size);
/* Internal to the mp_* engines: byte I/O with pushback and the recent-bytes record. */
uint64_t mp_repl_now(struct mp_repl *r);
int mp_repl_read_until(struct mp_repl *r, const char *marker, size_t mlen, int timeout_ms, char *tail,
                       size_t tail_size);
int mp_repl_drain(struct mp_repl *r, int quiet_ms, int max_ms);
/* Send what (Ctrl-A, optionally after "\r") and wait timeout_ms for MP_RAW_PROMPT. */
int mp_repl_raw_prompt(struct mp_repl *r, const char *what, size_t len, int timeout_ms, char *msg,
                       size_t msg_size);

#endif
