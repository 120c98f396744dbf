/* Fuzz what api/http.c and auth.c make of a request's path and credentials: api_split_path and
 * api_unescape over arbitrary paths, auth_check over arbitrary Authorization and Cookie headers,
 * auth_login_limited over arbitrary secrets and addresses. Input: path \n authorization \n cookie
 * \n secret \n addr. No crash; segments are non-empty and decoded at most once; only the real
 * secret or the real session id authenticates. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "api.h"
#include "auth.h"
#include "config.h"

#define SECRET "fuzz-secret-0123456789"

static struct auth *a;
static char sid[AUTH_SID_HEX + 1];

static void init(void)
{
        static struct config cfg;
        char msg[256];
        config_defaults(&cfg);
        cfg.ntokens = 1;
        snprintf(cfg.tokens[0].name, sizeof(cfg.tokens[0].name), "fuzz");
        snprintf(cfg.tokens[0].role, sizeof(cfg.tokens[0].role), "operator");
        char hex[65];
        if (digest_sha256_hex(SECRET, strlen(SECRET), hex) < 0)
                abort();
        snprintf(cfg.tokens[0].secret, sizeof(cfg.tokens[0].secret), "sha256:%s", hex);
        struct auth_identity id;
        if (auth_new(&cfg, &a, msg, sizeof(msg)) < 0 || auth_login(a, SECRET, 1000, sid, &id) < 0)
                abort();
}

/* Copy the next '\n'-terminated field of data into a fresh NUL-terminated string. */
static char *field(const uint8_t **p, const uint8_t *end)
{
        const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
        size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
        char *s = malloc(n + 1);
        if (!s)
                abort();
        memcpy(s, *p, n);
        s[n] = '\0';
        *p += n + (nl ? 1 : 0);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!a)
                init();
        const uint8_t *p = data, *end = data + size;
        char *path = field(&p, end), *authz = field(&p, end), *cookie = field(&p, end), *secret = field(&p, end),
             *addr = field(&p, end);

        size_t plen = strlen(path);
        char *segs[API_MAX_SEGS];
        int n = -1;
        int r = api_split_path(path, segs, API_MAX_SEGS, &n);
        if (r == 0) {
                if (n < 0 || n > API_MAX_SEGS)
                        abort();
                for (int i = 0; i < n; i++)
                        if (!segs[i][0] || strlen(segs[i]) > plen)
                                abort();
        } else if (r != -EINVAL && r != -E2BIG && r != -ENOENT) {
                abort();
        }

        struct auth_identity who;
        r = auth_check(a, authz[0] ? authz : NULL, cookie[0] ? cookie : NULL, 2000, &who);
        if (r == 0) {
                bool by_bearer = authz[0] != '\0';
                if (by_bearer ? !strstr(authz, SECRET) : !strstr(cookie, sid))
                        abort(); /* authenticated without the credential */
                if (strcmp(who.name, "fuzz") || who.role != AUTH_ROLE_OPERATOR)
                        abort();
        } else if (r != -ENOKEY && r != -EACCES) {
                abort();
        }

        char nsid[AUTH_SID_HEX + 1];
        unsigned retry = 0;
        r = auth_login_limited(a, secret, addr, 3000, nsid, &who, &retry);
        if (r == 0 && strcmp(secret, SECRET))
                abort();
        if (r == -EAGAIN && (retry == 0 || retry > AUTH_LOGIN_WINDOW_S))
                abort();
        free(path);
        free(authz);
        free(cookie);
        free(secret);
        free(addr);
        return 0;
}
