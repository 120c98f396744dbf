/* mp_xfer: verified code transfer to a MicroPython board. Code reaches the board in checked steps
 * and runs only after the board itself has confirmed its length and Adler-32; damaged steps are
 * resent, and a link that keeps damaging them fails with -EILSEQ ("link_corrupt"). */
#ifndef CORRAL_MP_XFER_H
#define CORRAL_MP_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "engines/mp/mp_repl.h"

/* A step that fails this many times in a row ends the transfer with -EILSEQ. */
#define MP_XFER_TRIES 16
/* The same for the steps that install the helper (once per board boot): more, as a lost byte can
 * only make them fail, and without the helper nothing runs. */
#define MP_XFER_INSTALL_TRIES 40
/* Bytes of code per step: plain raw REPL (no flow control) starts at MP_XFER_CHUNK, halves after
 * a damaged step down to MP_XFER_CHUNK_MIN and grows back after clean ones up to
 * MP_XFER_CHUNK_MAX (the step's line and its literal both sit in the heap while the last step
 * compiles the code: a micro:bit has 8 KB); raw-paste sends MP_XFER_CHUNK_PASTE per step (its
 * flow control keeps bytes from being lost, and such boards have the memory). */
#define MP_XFER_CHUNK 128
#define MP_XFER_CHUNK_MIN 32
#define MP_XFER_CHUNK_MAX 256
#define MP_XFER_CHUNK_PASTE 4096

/* The on-board helper (Python, MicroPython 1.9 and later; ~1 KB of heap): _crw(i, chunk, len, a, b)
 * keeps chunk i after checking its length and Adler-32 halves and prints "\x06" + i;
 * _crx(i, chunk, len, a, b, total, ta, tb) does the same for the last chunk, checks the whole code
 * (chunks 0..i), prints "\x06" and only then compiles it as "<stdin>" and runs it. Exposed for
 * tests. */
extern const char mp_xfer_helper_py[];
#define MP_XFER_MARK 0x06

/* Adler-32 of data (zlib's), as the helper computes it on the board. */
uint32_t mp_xfer_adler(const uint8_t *data, size_t len);
/* Body of a Python bytes literal for data: printable ASCII as is, '\\' and '\'' escaped, the rest
 * as \xHH. A lost or changed byte can end the literal only in a way that does not compile. out
 * must hold 4*len+1 bytes; returns the length written. */
size_t mp_xfer_escape(const uint8_t *data, size_t len, char *out);
/* Remove the helper's two frames (the _crx call and _crx itself) from a traceback in place, so
 * the user sees the frames and line numbers of their own code. Returns the new length. */
size_t mp_xfer_strip_traceback(char *err, size_t len);

/* mp_repl_exec() for code without control bytes, through the helper (installed when missing).
 * Same contract as mp_repl_exec; -EILSEQ when the code could not be delivered intact, with the
 * share of damaged bytes in msg. */
int mp_xfer_exec(struct mp_repl *r, const char *code, size_t len, const struct mp_exec_opts *opts,
                 struct mp_exec_result *res, char *msg, size_t msg_size);

#endif
