/* A tiny scripted MicroPython REPL on a fake_port: friendly and raw REPL, raw-paste (supported,
 * refused, old firmware, junk), canned exec answers, a hung program that only Ctrl-C stops, a deaf
 * board that only a hard reset (RTS pulse) wakes, the verified-transfer helper (mp_xfer.c: its
 * install steps and _crw/_crx, checked as the board would), and a seeded lossy receiver. For
 * byte-by-byte engine tests. */
#ifndef CORRAL_MP_DEVICE_MODEL_H
#define CORRAL_MP_DEVICE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_port.h"

enum mp_model_mode { MPM_FRIENDLY, MPM_RAW, MPM_PASTE, MPM_PASTE_ENDED, MPM_RUNNING };

struct mp_model;

/* Canned answer: the first entry whose match is a substring of the code (NULL matches all). */
struct mp_model_answer {
        const char *match;
        const char *out;
        const char *err;
        bool hang; /* run until Ctrl-C (after printing out, if any) */
};

/* Custom exec handler; call mp_model_reply() (or set hang) from it. */
typedef void (*mp_model_exec_fn)(struct mp_model *m, const char *code, size_t len, void *user);

struct mp_model {
        struct port *port;
        enum mp_model_mode mode;
        /* configuration */
        bool paste_supported; /* "R\x01" + window */
        bool paste_refused;   /* "R\x00" */
        bool paste_junk;      /* answers the request with junk and no prompt, once */
        uint16_t window;
        bool soft_reset_to_raw; /* newer firmware stays in the raw REPL after Ctrl-D */
        bool deaf;              /* ignores every byte until a hard reset */
        bool dead;              /* ignores everything, even resets */
        bool ignore_ctrl_c;     /* a hung program cannot be interrupted */
        size_t paste_end_early_at; /* raw-paste: stop reading after N bytes (syntax error) */
        const char *banner;
        const struct mp_model_answer *answers;
        size_t n_answers;
        mp_model_exec_fn on_exec;
        void *user;
        /* Host->board loss: each received byte is dropped with probability drop_ppm / 1e6
         * (seeded xorshift; the same seed loses the same bytes). */
        unsigned drop_ppm;
        uint32_t seed;
        /* observations */
        unsigned execs, soft_resets, hard_resets, ctrl_c;
        unsigned steps;        /* helper steps (install parts, _crw) answered */
        unsigned installs;     /* times the helper was installed (checked against mp_xfer_helper_py) */
        unsigned dropped;      /* bytes the lossy receiver dropped */
        bool helper;           /* the helper is defined (cleared by resets, or by a test) */
        bool overrun; /* raw-paste host sent more than it was granted */
        char *last_code; /* NUL-terminated copy of the last exec'd code */
        size_t last_len;
        /* internals */
        struct { uint8_t *d; size_t n; bool set; } parts[128], chunks[512];
        uint8_t *line;
        size_t line_len, line_cap, paste_count;
        long credit;
        bool in_reply, replied, hang_now, rts_down;
};

/* Attach to a fake port; the model answers every write. Defaults: new firmware, raw-paste
 * supported with a 128-byte window, soft reset stays raw, banner of v1.27.0. */
void mp_model_init(struct mp_model *m, struct port *p);
void mp_model_release(struct mp_model *m);
/* From an exec handler: the program's stdout and exception text. */
void mp_model_reply(struct mp_model *m, const char *out, size_t out_len, const char *err, size_t err_len);
void mp_model_hang(struct mp_model *m);

#endif
