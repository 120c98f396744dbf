/* SHA-256 as lowercase hex (libcrypto), for what corral keeps hashed: token secrets (config.c
 * hashes them at load, auth.c compares), the farm secret. No state; thread-safe. */
#ifndef CORRAL_DIGEST_H
#define CORRAL_DIGEST_H

#include <stddef.h>

/* out: 64 hex digits and a NUL. 0, or -EIO when libcrypto fails. The intermediate digest is
 * cleansed. */
int digest_sha256_hex(const char *s, size_t len, char out[65]);

#endif
