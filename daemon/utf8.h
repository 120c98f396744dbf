/* UTF-8 repair with one rule for every place corral turns bytes into text (board output, job
 * logs, test names, file names, JUnit): a valid UTF-8 sequence is kept byte for byte; each byte
 * that does not start one (a stray continuation byte, an overlong form, a surrogate, a code point
 * above U+10FFFF, a sequence cut short by the end of the buffer) becomes U+FFFD, one per byte.
 * NUL is valid UTF-8 and kept. */
#ifndef CORRAL_UTF8_H
#define CORRAL_UTF8_H

#include <jansson.h>
#include <stddef.h>

/* The replacement character U+FFFD in UTF-8 (3 bytes). */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Length (1..4) of the valid UTF-8 sequence at s, n bytes available; 0 when s does not start one
 * (or n is 0). */
size_t utf8_seq_len(const void *s, size_t n);
/* Repairs n bytes of in into out, which has room for 3 * n + 1 bytes; NUL-terminates it and
 * returns the bytes written (without the NUL). */
size_t utf8_repair(const void *in, size_t n, char *out);
/* The repaired text as a new JSON string (new reference); NULL only when memory runs out. */
json_t *utf8_json_string(const void *in, size_t n);

#endif
