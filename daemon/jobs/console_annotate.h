/* Console annotations: the console recognises a stream read at the wrong baud (an ESP8266 ROM
 * boot log at 74880 shown at 115200, or any other mismatch) and adds one readable line to it,
 * decoding the ROM log at 74880 where it can ("ESP8266 boot loop: the flash is blank (rst cause
 * 2). Flash MicroPython to this board."). Also: a fresh MicroPython prompt for a joining viewer.
 * The detector and the wording are pure (unit-tested); console_annotate_pump() does the I/O for
 * the port worker between jobs. */
#ifndef CORRAL_CONSOLE_ANNOTATE_H
#define CORRAL_CONSOLE_ANNOTATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/bootlog.h"

#define ANNOT_WINDOW 256         /* bytes judged together */
#define ANNOT_MIN_BYTES 48       /* fewer than this in the window: no verdict */
#define ANNOT_BAD_PERCENT 25     /* share of bytes that no terminal text explains */
#define ANNOT_REPEAT_MS 60000    /* one annotation a minute at most while the garbage goes on */
#define ANNOT_DECODE_MS 1500     /* how long the ROM log is read at 74880 baud */
#define ANNOT_DECODE_TRIES 3     /* decodes that read nothing before the plain wrong-baud line */
#define ANNOT_RETRY_MS 3000      /* wait before the next try */
/* Garbage must go on this long (and still be arriving) before it is a verdict: one ROM boot log
 * (a reset) followed by the firmware's own text at the console's baud is not a wrong baud. */
#define ANNOT_PERSIST_MS 300
#define ANNOT_RECENT 32          /* the newest bytes of a read that say whether garbage still arrives */
/* After a job or a reset the worker did itself, the board's ROM log is expected (the worker
 * knows the ROM speaks 74880 and the firmware the console's baud): bytes read this long after are
 * not judged, and never trigger a 74880 decode window that would swallow the firmware's output. */
#define ANNOT_HOLD_MS 1500

/* The detector's state: zero-initialise (also on every port open). */
struct console_annot {
        uint8_t bad[ANNOT_WINDOW]; /* 1 = an unexplained byte, ring */
        size_t at, filled, nbad;
        uint8_t utf8_left;         /* continuation bytes still expected */
        uint64_t quiet_until_ms;   /* no verdict before this (0: now) */
        unsigned decode_failures;  /* 74880 reads that found nothing readable, in a row */
        uint64_t hold_until_ms;    /* nothing judged before this (console_annot_hold) */
        uint64_t bad_since_ms;     /* when the current run of garbage began (valid if in_bad) */
        bool in_bad;
        /* The ROM log the last annotation decoded, for the board fact "boot" (boot_state.h):
         * set with boot_fresh by console_annotate_pump(), taken by the port worker. */
        struct bootlog_result boot;
        bool boot_fresh;
};

/* Feed bytes read from the board at now_ms. Returns true when the recent stream looks like
 * another baud than the port's, has for ANNOT_PERSIST_MS, the newest bytes of this read are
 * garbage too, and no annotation was made in the last ANNOT_REPEAT_MS (the caller then
 * annotates and calls console_annot_noted()). */
bool console_annot_feed(struct console_annot *a, const uint8_t *data, size_t len, uint64_t now_ms);
void console_annot_noted(struct console_annot *a, uint64_t now_ms);
/* Nothing was said this time (a decode read nothing): look again after ANNOT_RETRY_MS. */
void console_annot_retry(struct console_annot *a, uint64_t now_ms);
/* The worker just ran a job or reset the board itself: forget what was judged and judge nothing
 * for ANNOT_HOLD_MS (the ROM log that follows a reset is expected, the firmware's output after
 * it must reach the console). The once-a-minute limit starts afresh: what the board does after
 * a job is news. */
void console_annot_hold(struct console_annot *a, uint64_t now_ms);

/* Is this family's ROM log at 74880 baud (esp8266 or a generic "esp" hint)? */
bool console_annot_rom_74880(const char *family);

/* The annotation line (no colour, no CR/LF): from the boot log decoded at 74880 (decoded may be
 * NULL: not tried or nothing read), for family (may be NULL) and the port's baud. */
void console_annot_line(const char *family, unsigned port_baud, const struct bootlog_result *decoded, char *out,
                        size_t size);

struct port;
struct console;
/* The port worker's hold on its port for the baud switch (may be NULL: no jobs to wait for).
 * claim(): false when a job is queued (then nothing is switched); release(): true when a job was
 * queued meanwhile (the baud goes back at once). */
struct console_annot_claim {
        bool (*claim)(void *user);
        bool (*release)(void *user);
        void *user;
};
/* For the port worker, right after it fed buf to the console: when the detector trips, read the
 * board at 74880 baud for ANNOT_DECODE_MS (ESP8266 family only, and only when nobody is typing),
 * put the port's baud back, and feed the annotation (and the decoded ROM lines) to the console.
 * hints: the board's hints (family). Returns 0, or the port error that ended the read. */
int console_annotate_pump(struct console_annot *a, struct port *p, struct console *c, const json_t *hints,
                          const struct console_annot_claim *cl, const uint8_t *buf, size_t len);

/* A fresh MicroPython prompt for a viewer who just joined: CR to the board, then what it answers
 * (up to ANNOT_PROMPT_MS, until ">>> ") is fed to the console at once, before a queued job can
 * take the port and swallow it. 0 or the port error. */
#define ANNOT_PROMPT_MS 500
int console_fresh_prompt(struct port *p, struct console *c);

#endif
