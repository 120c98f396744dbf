/* The expect engine: follows a board's serial output through an ordered list of steps (expect a
 * literal or a regex with its own timeout and named captures, send bytes, wait) while global
 * fail_on patterns (defaults: ESP panics, aborts, watchdog and brownout resets, boot failures,
 * an unexpected reboot) end the run at once. Pure: bytes and a clock passed in, actions out. */
#ifndef CORRAL_EXPECT_H
#define CORRAL_EXPECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPECT_MAX_STEPS 256
#define EXPECT_MAX_FAIL_ON 32
#define EXPECT_PATTERN_MAX 1024     /* bytes of a pattern */
#define EXPECT_SEND_MAX 4096        /* bytes one send step may send */
#define EXPECT_LINE_MAX 1024        /* longer lines are split */
#define EXPECT_WINDOW_MAX 65536     /* bytes kept since the last match, for the next expect */
#define EXPECT_TIMEOUT_MAX_MS 3600000u
#define EXPECT_TRANSCRIPT_LINES 40  /* lines kept around a failure */
#define EXPECT_VAR_POLL_MS 20      /* a send waiting for another board's value asks this often */
#define EXPECT_EVIDENCE_LINES 32    /* lines kept after a fail_on match (panic dump, backtrace) */

enum expect_outcome {
        EXPECT_RUNNING,
        EXPECT_PASSED,     /* every step done */
        EXPECT_TIMEOUT,    /* an expect step did not match in time */
        EXPECT_FAIL_ON,    /* a fail_on pattern matched */
};

enum expect_act {
        EXPECT_ACT_READ,   /* read input until deadline_ms (absolute, same clock), then call again */
        EXPECT_ACT_SEND,   /* send data/len (borrowed until the next call), then call again */
        EXPECT_ACT_DONE,   /* expect_outcome() says how it ended */
};

struct expect_action {
        enum expect_act act;
        uint64_t deadline_ms;
        const uint8_t *data;
        size_t len;
};

/* Called for every complete line (without CR LF; NUL-terminated) while the run is going, and for
 * the evidence lines after a fail_on match. ms: the clock when its last byte was fed. */
typedef void (*expect_line_fn)(void *user, const char *line, size_t len, uint64_t ms);

struct expect;

/* Validate a job's steps and fail_on without building anything: params is the job's object:
 * "steps" (required, 1..EXPECT_MAX_STEPS), "fail_on" (list), "default_fail_on" (bool),
 * "timeout_ms" (default per expect step). 0 or -EINVAL with msg naming the problem
 * ("steps[2].expect_re: missing ) at offset 5"). */
int expect_params_check(const json_t *params, char *msg, size_t size);
/* Build from the same params; *ret owns the engine. 0, -EINVAL (msg) or -ENOMEM. */
int expect_new(const json_t *params, struct expect **ret, char *msg, size_t size);
/* NULL-safe; returns NULL. */
struct expect *expect_free(struct expect *x);
/* Lines as they complete (optional). */
void expect_set_line_cb(struct expect *x, expect_line_fn fn, void *user);

/* Values of other boards' captures for sends with ${ROLE.NAME} references (NAME alone is this
 * run's own capture): a malloc'd copy, or NULL while it is not there yet (the send step waits,
 * up to its timeout_ms, asking again every EXPECT_VAR_POLL_MS). Optional. */
typedef char *(*expect_var_fn)(void *user, const char *ref);
void expect_set_var_fn(struct expect *x, expect_var_fn fn, void *user);
/* The captures so far (borrowed; {name: value}). */
const json_t *expect_captures(const struct expect *x);

/* Start the clock: the first step begins at now_ms (the moment of the reset). */
void expect_start(struct expect *x, uint64_t now_ms);
/* Bytes received at now_ms, in order; any chunking gives the same result. */
void expect_feed(struct expect *x, const void *data, size_t len, uint64_t now_ms);
/* What to do next at now_ms (timeouts are decided here). */
void expect_next(struct expect *x, uint64_t now_ms, struct expect_action *ret);
/* The input ended (the job's own deadline): an expect step still waiting times out now. */
void expect_abort(struct expect *x, uint64_t now_ms);

enum expect_outcome expect_outcome(const struct expect *x);
const char *expect_outcome_name(enum expect_outcome o);
/* For a fail_on end: the matched pattern's name ("panic", "watchdog", ... or "fail_on[N]"), the
 * line, and the evidence lines after it joined with LF (borrowed; NULL otherwise). */
const char *expect_fail_name(const struct expect *x);
const char *expect_fail_line(const struct expect *x);
const char *expect_fail_evidence(const struct expect *x);
/* The result object (new reference): outcome, steps_done, steps_total, failed_step {index, type,
 * pattern, regex, timeout_ms, reason}, fail_on {name, pattern, line, at_ms, evidence}, captures
 * {name: value} (numbered groups as "stepN.K"), transcript [last lines], ended_ms, and per step
 * matched_at_ms. Times are relative to expect_start(). */
json_t *expect_result_json(const struct expect *x);

#endif
