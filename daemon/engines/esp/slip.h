/* SLIP framing (RFC 1055 as used by the ESP ROM loader): a pure encoder and an incremental
 * decoder state machine. No I/O; callers feed bytes and collect frames. */
#ifndef CORRAL_SLIP_H
#define CORRAL_SLIP_H

#include <stddef.h>
#include <stdint.h>

#define SLIP_END 0xC0
#define SLIP_ESC 0xDB
#define SLIP_ESC_END 0xDC
#define SLIP_ESC_ESC 0xDD

#define SLIP_GARBAGE_KEEP 256

/* Worst-case encoded size of a len-byte payload (every byte escaped, plus two delimiters). */
static inline size_t slip_encoded_max(size_t len) { return 2 * len + 2; }

/* Encode payload as one frame (C0 ... C0) into out. Returns the encoded length or -ENOSPC when
 * out_size is too small (nothing useful is in out then). */
int slip_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t out_size);

enum slip_state { SLIP_OUTSIDE, SLIP_IN_FRAME, SLIP_IN_ESCAPE, SLIP_DISCARD };

/* Decoder. Owns frame (max_frame bytes). Initialise with slip_decoder_init(), release with
 * slip_decoder_fini(). Fields are readable; do not modify them. */
struct slip_decoder {
        enum slip_state state;
        uint8_t *frame;          /* current/complete frame payload, owned */
        size_t len, max_frame;
        uint64_t garbage_total;  /* bytes seen outside any frame (boot log text, noise) */
        uint8_t garbage[SLIP_GARBAGE_KEEP]; /* ring of the last garbage bytes */
        size_t garbage_head;     /* next write position in the ring */
        size_t garbage_len;      /* bytes held in the ring (<= SLIP_GARBAGE_KEEP) */
        uint64_t empty_frames;   /* C0 C0 pairs skipped */
        uint64_t errors;         /* bad escapes and oversize frames */
};

/* Returns 0 or -ENOMEM / -EINVAL (max_frame 0). */
int slip_decoder_init(struct slip_decoder *d, size_t max_frame);
void slip_decoder_fini(struct slip_decoder *d);
/* Forget any partial frame (e.g. after a flush); garbage statistics are kept. */
void slip_decoder_reset(struct slip_decoder *d);

/* Feed bytes. Stops after the first complete frame or error. *consumed (required) = bytes used.
 * Returns:
 *   1          a frame is complete: d->frame / d->len hold it until the next feed call;
 *   0          all input consumed, no frame yet;
 *  -EBADMSG    0xDB followed by something other than 0xDC/0xDD (frame dropped, resyncing);
 *  -EMSGSIZE   frame longer than max_frame (frame dropped, resyncing).
 * Empty frames (C0 C0) are never reported. Bytes outside frames are counted as garbage. */
int slip_decoder_feed(struct slip_decoder *d, const uint8_t *data, size_t len, size_t *consumed);

/* Copy the last garbage bytes (oldest first, at most size-1) into out as a NUL-terminated
 * string; returns the number copied. Non-printable bytes are kept as they are. */
size_t slip_decoder_garbage(const struct slip_decoder *d, char *out, size_t size);
/* Forget the garbage ring (not the total). */
void slip_decoder_clear_garbage(struct slip_decoder *d);

#endif
