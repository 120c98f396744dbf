/* SHA-256 as lowercase hex (libcrypto); see digest.h. */
#include "digest.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>

int digest_sha256_hex(const char *s, size_t len, char out[65])
{
        unsigned char d[32];
        unsigned int n = 0;
        if (EVP_Digest(s, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
        OPENSSL_cleanse(d, sizeof(d));
        return 0;
}
