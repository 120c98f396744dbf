/* The farm credential check: SHA-256 of what was presented against SHA-256 of the configured
 * farm_secret, compared with CRYPTO_memcmp (the time does not depend on where they differ, nor,
 * digests being of fixed length, on the secret's length). */
#include "farm/farm_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "config.h"

bool farm_secret_configured(const struct config *cfg)
{
        return cfg && cfg->farm_secret[0];
}

static bool digest(const char *s, unsigned char out[EVP_MAX_MD_SIZE], unsigned *n)
{
        return EVP_Digest(s, strlen(s), out, n, EVP_sha256(), NULL) == 1;
}

bool farm_secret_matches(const struct config *cfg, const char *presented)
{
        if (!farm_secret_configured(cfg) || !presented)
                return false;
        unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
        unsigned nw = 0, ng = 0;
        bool ok = digest(cfg->farm_secret, want, &nw) && digest(presented, got, &ng) && nw == ng &&
                  CRYPTO_memcmp(want, got, nw) == 0;
        OPENSSL_cleanse(want, sizeof(want));
        OPENSSL_cleanse(got, sizeof(got));
        return ok;
}
