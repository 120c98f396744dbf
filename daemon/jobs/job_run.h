/* What a job kind's run() sees: the open port, its parameters, and calls to report progress,
 * log lines, facts, live output and the result. Implemented by the port worker (worker.c);
 * job kinds never touch the store, HTTP or threads directly. */
#ifndef CORRAL_JOB_RUN_H
#define CORRAL_JOB_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/port.h"

struct job_run;
struct store;

/* Who queues a job, for the checks that depend on it (job_kind.check_caller). */
struct job_caller {
        const char *name;             /* the token's name ("anonymous" when auth is off) */
        bool host_files;              /* may name files on corrald's host at all (an admin) */
        const json_t *firmware_dirs;  /* where those files may be (config; array, may be NULL) */
};

/* A job kind. run() returns 0 on success; on failure it returns negative errno after calling
 * jr_fail() with a code and a plain-language message (if it did not, a generic message is used). */
struct job_kind {
        const char *name;        /* "identify", "reset", "flash", "run", ... */
        const char *summary;     /* one line for error messages and docs */
        unsigned default_timeout_s;
        /* Validate params before queueing. msg gets a static or snprintf'd reason into buf. NULL =
         * anything goes. Returns 0, -EINVAL (the registry says CORRAL_E_INVALID_PARAMS) or -EBADMSG
         * (well-formed but impossible: CORRAL_E_UNPROCESSABLE). */
        int (*check)(const json_t *params, char *msg, size_t msg_size);
        int (*run)(struct job_run *jr);
        /* Optional check that needs the store (a referenced firmware id exists), called by the
         * registry after check() with the same conventions. NULL = none. */
        int (*check_store)(const json_t *params, struct store *store, char *msg, size_t msg_size);
        /* Optional check against what is known about the target board: facts is {key: value}
         * (borrowed, may be empty). Called by the registry once the board exists, same
         * conventions (-EBADMSG: unprocessable). NULL = none. */
        int (*check_board)(const json_t *params, struct store *store, const json_t *facts, char *msg,
                           size_t msg_size);
        /* Optional check of what the caller may do with these params (files on the host), called
         * by the registry right after check(). -EACCES: not allowed (CORRAL_E_PATH_NOT_ALLOWED;
         * msg says nothing about whether a file exists); -EBADMSG / -EINVAL as above. */
        int (*check_caller)(const json_t *params, const struct job_caller *caller, char *msg, size_t msg_size);
};

/* The table of kinds (job_kinds.c); NULL-terminated. */
extern const struct job_kind *const job_kinds[];
const struct job_kind *job_kind_find(const char *name);
/* "identify, reset, ..." into buf, for error messages. */
void job_kinds_list(char *buf, size_t size);

/* Accessors (borrowed). */
struct port *jr_port(struct job_run *jr);
const json_t *jr_params(struct job_run *jr);
/* While params is not NULL (borrowed), jr_params() returns it instead of the job's own: a kind
 * that runs another kind's steps (expect flashing first) hands it that kind's parameters. */
void jr_params_override(struct job_run *jr, const json_t *params);
const char *jr_board_id(struct job_run *jr);
/* Facts already known about the board (object, borrowed; may be empty). */
const json_t *jr_board_facts(struct job_run *jr);
/* Static hints from configuration or udev: "family" ("esp", "micropython", ...), "vid", "pid";
 * from corrald's config only: "stub_dir", "firmware_dirs" (array). */
const json_t *jr_board_hints(struct job_run *jr);
/* The daemon's store (borrowed), for library look-ups through firmware.h (resolve a firmware id,
 * known-good pins); job state still goes through the jr_* calls only. */
struct store *jr_store(struct job_run *jr);

/* Reporting. All thread-safe, all cheap. */
void jr_progress(struct job_run *jr, int percent, const char *phase);
/* jr_progress() with transfer figures: GET /jobs/{id} shows them as "progress_detail"
 * {bytes_done, bytes_total, kbit_per_s} and the job.progress event carries the same keys. */
void jr_progress_bytes(struct job_run *jr, int percent, const char *phase, uint64_t done, uint64_t total,
                       double kbit_per_s);
void jr_log(struct job_run *jr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Store a fact about the board with the time it was learned; steals value. */
void jr_fact(struct job_run *jr, const char *key, json_t *value);
/* Set a key of the job's result object; steals value. */
void jr_result_set(struct job_run *jr, const char *key, json_t *value);
/* Live output of a run job (stream "stdout" / "stderr" / "console"). */
void jr_output(struct job_run *jr, const char *stream, const void *data, size_t len);
/* Record failure: code is a stable identifier ("no_answer", "board_gone", ...). Returns -EIO
 * so callers can `return jr_fail(...)`. The first call wins. */
int jr_fail(struct job_run *jr, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
bool jr_cancelled(struct job_run *jr);
/* Add n to the job's health counter key (health/health.h: "link_errors", "resends",
 * "sync_retries", "sync_ms", ...); the worker folds them into the board's record at the end. */
void jr_health(struct job_run *jr, const char *key, long long n);
/* Close the port and open it again, retrying until it opens or timeout_ms pass (after a power
 * cycle the device comes back). 0, or negative errno (-ECANCELED when the job was cancelled). */
int jr_port_reopen(struct job_run *jr, int timeout_ms);
/* Milliseconds left before the job's timeout (0 when expired). */
int jr_time_left_ms(struct job_run *jr);

/* ---- What a kind keeps with the open port from one of its jobs to the next ----
 * A kind that talks a session protocol (the MicroPython REPL) may keep what it learned (where it
 * left the board, what the firmware can do) so that its next job on the same port skips work.
 * The block is the worker's: zero-filled at first, wiped when the port is opened or closed, when
 * a job ends without having claimed it (that kind may have changed the board) or when size
 * changes. Returns NULL when size > JR_PORT_MEMO_MAX. Borrowed until run() returns.
 * *disturbed (may be NULL) tells whether anything but this kind's jobs used the port since the
 * last job ended: bytes the board printed, console input or reset, a handback (below), a job of
 * another kind; a kept state should then be rechecked. Claiming drops a pending handback: the
 * job takes the board over as the previous one left it. */
#define JR_PORT_MEMO_MAX 512
void *jr_port_memo(struct job_run *jr, size_t size, bool *disturbed);
/* Bytes that give the board back to people in the state they expect (MicroPython: "\x02", from
 * the raw REPL back to ">>> "), len <= JR_HANDBACK_MAX; len 0 clears. Only for a job that claimed
 * the memo. The worker sends them once, before a console writer's input, before a job of a kind
 * that never claimed the memo on this port, and before closing the port. */
#define JR_HANDBACK_MAX 16
void jr_port_handback(struct job_run *jr, const void *data, size_t len);

#endif
