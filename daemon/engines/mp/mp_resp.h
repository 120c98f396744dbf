/* mp_resp: pure parsers for MicroPython raw-REPL replies, no I/O: the exec reply stream
 * ("OK", stdout, 0x04, exception text, 0x04, '>') and the traceback of an uncaught exception. */
#ifndef CORRAL_MP_RESP_H
#define CORRAL_MP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mp_stream { MP_STREAM_STDOUT = 0, MP_STREAM_STDERR = 1 };

/* Live output: bytes of one stream, borrowed for the duration of the call. */
typedef void (*mp_output_fn)(enum mp_stream stream, const uint8_t *data, size_t len, void *user);

enum mp_resp_state {
        MP_RESP_WAIT_OK,     /* plain raw REPL: the board acknowledges the code with "OK" */
        MP_RESP_STDOUT,      /* program output until the first 0x04 */
        MP_RESP_STDERR,      /* exception text until the second 0x04 */
        MP_RESP_WAIT_PROMPT, /* the raw prompt '>' that follows */
        MP_RESP_DONE,
        MP_RESP_ERROR,       /* not a raw-REPL reply (no "OK") */
};

/* Growing capture of one stream; data is NUL-terminated when non-NULL. */
struct mp_capture {
        char *data;
        size_t len, cap, max;
        bool truncated;
};

struct mp_resp {
        enum mp_resp_state state;
        unsigned ok_matched;
        mp_output_fn out;
        void *user;
        struct mp_capture cap[2]; /* [MP_STREAM_STDOUT], [MP_STREAM_STDERR]; owned */
};

/* expect_ok: true for the plain raw REPL, false after raw-paste (no "OK" there).
 * capture_max: bytes kept per stream (0 = keep nothing; output still goes to fn). */
void mp_resp_init(struct mp_resp *p, bool expect_ok, mp_output_fn fn, void *user, size_t capture_max);
/* Feed received bytes. Returns how many were consumed (parsing stops right after the final '>',
 * the rest belongs to the caller), -EPROTO when the reply does not start with "OK", -ENOMEM. */
int mp_resp_feed(struct mp_resp *p, const uint8_t *data, size_t len);
/* Frees the captures; the struct may be re-initialised afterwards. */
void mp_resp_release(struct mp_resp *p);

/* An uncaught exception, parsed from the text MicroPython prints. */
struct mp_exception {
        char type[96];     /* "ZeroDivisionError", "mymod.MyError" */
        char message[512]; /* "divide by zero"; "" when raised without a message */
        int line;          /* innermost "line N" of the traceback, -1 when absent */
};

/* Parse exception text (a "Traceback (most recent call last):" block, or a bare "Type: msg" last
 * line). Returns 0 and fills *ret, or -ENOENT when no exception line is found. */
int mp_exception_parse(const char *text, size_t len, struct mp_exception *ret);
/* For OSError-like messages ("[Errno 2] ENOENT", "2", "ENOENT", micro:bit's "file not found"):
 * the errno (positive), else 0. Numbers are read as MicroPython's own (Linux) values. */
int mp_exception_errno(const struct mp_exception *e);
/* The same for a board whose C library numbers errors the WASI way (the webassembly port built
 * with Emscripten: ENOENT is 44, EEXIST 20): numbers are translated, names read as above. */
int mp_exception_errno_wasi(const struct mp_exception *e);

#endif
