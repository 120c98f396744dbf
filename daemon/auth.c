/* Token table, bearer/cookie checks in constant time, login sessions and the loopback rule.
 * Only SHA-256 digests of secrets and session ids are kept in memory. */
#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

struct auth_token {
        char name[64];
        enum auth_role role;
        unsigned char hash[32];
};

struct auth_session {
        unsigned char sid_hash[32]; /* SHA-256 of the session id (the cookie value) */
        unsigned char token_hash[32];
        char name[64];
        enum auth_role role;
        int64_t expires_ms;         /* 0: free slot */
};

/* Failed logins of one client address in its current window. */
struct login_addr {
        char addr[48];
        int64_t window_ms;          /* when the window started; 0: free */
        unsigned fails;
};

_Static_assert(AUTH_MAX_SESSIONS >= CONFIG_MAX_TOKENS * AUTH_SESSIONS_PER_TOKEN,
               "every token's share of sessions fits in the table");

struct auth {
        pthread_mutex_t mu;
        struct auth_token tokens[CONFIG_MAX_TOKENS];
        size_t ntokens;
        struct auth_session sessions[AUTH_MAX_SESSIONS];
        struct login_addr addrs[AUTH_LOGIN_ADDRS];
        int64_t tok_window_ms[CONFIG_MAX_TOKENS]; /* per token (index in tokens): logins this window */
        unsigned tok_logins[CONFIG_MAX_TOKENS];
        unsigned long long failed, limited;       /* counters for /metrics */
        pthread_mutex_t hook_mu;                  /* on_revoke: set and called under it */
        void (*on_revoke)(void *user);
        void *revoke_user;
};

/* Tell the hook (if any) that sessions or tokens ended. Not under a->mu. */
static void revoked(struct auth *a)
{
        pthread_mutex_lock(&a->hook_mu);
        if (a->on_revoke)
                a->on_revoke(a->revoke_user);
        pthread_mutex_unlock(&a->hook_mu);
}

const char *auth_role_name(enum auth_role r)
{
        switch (r) {
        case AUTH_ROLE_VIEWER:
                return "viewer";
        case AUTH_ROLE_OPERATOR:
                return "operator";
        case AUTH_ROLE_ADMIN:
                return "admin";
        default:
                return "none";
        }
}

int auth_role_parse(const char *name, enum auth_role *ret)
{
        for (enum auth_role r = AUTH_ROLE_VIEWER; r <= AUTH_ROLE_ADMIN; r++)
                if (name && !strcmp(name, auth_role_name(r))) {
                        *ret = r;
                        return 0;
                }
        return -EINVAL;
}

static int sha256(const void *data, size_t len, unsigned char out[32])
{
        unsigned int n = 0;
        return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -EIO;
}

static int unhex(const char *hex, size_t n, unsigned char *out)
{
        for (size_t i = 0; i < n; i++) {
                int hi = util_hexval((unsigned char)hex[2 * i]), lo = hi < 0 ? -1 : util_hexval((unsigned char)hex[2 * i + 1]);
                if (lo < 0)
                        return -EINVAL;
                out[i] = (unsigned char)(hi * 16 + lo);
        }
        return hex[2 * n] == '\0' ? 0 : -EINVAL;
}

bool auth_host_is_loopback(const char *host)
{
        if (!host)
                return false;
        if (!strcasecmp(host, "localhost"))
                return true;
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1) {
                if (IN6_IS_ADDR_LOOPBACK(&a6))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
        }
        return false;
}

/* Parse cfg's tokens into out (no lock needed: out is private until swapped in). */
static int load_tokens(const struct config *cfg, struct auth_token *out, size_t *n, char *msg, size_t msg_size)
{
        if (cfg->ntokens == 0 && !auth_host_is_loopback(cfg->listen_host)) {
                snprintf(msg, msg_size,
                         "refusing to listen on %s:%u without tokens: anyone who can reach that address could "
                         "flash and control the boards. Add [token NAME] sections (role, secret) to the config "
                         "file, or listen on 127.0.0.1.",
                         cfg->listen_host, cfg->listen_port);
                return -EPERM;
        }
        for (size_t i = 0; i < cfg->ntokens; i++) {
                const struct config_token *t = &cfg->tokens[i];
                struct auth_token *o = &out[i];
                memset(o, 0, sizeof(*o));
                snprintf(o->name, sizeof(o->name), "%s", t->name);
                if (auth_role_parse(t->role, &o->role) < 0) {
                        snprintf(msg, msg_size, "token '%s' has no valid role", t->name);
                        return -EINVAL;
                }
                if (strncmp(t->secret, "sha256:", 7) || strlen(t->secret) != 7 + 64 ||
                    unhex(t->secret + 7, 32, o->hash) < 0) {
                        snprintf(msg, msg_size, "token '%s': the secret is not sha256:<64 hex digits>", t->name);
                        return -EINVAL;
                }
        }
        *n = cfg->ntokens;
        return 0;
}

int auth_new(const struct config *cfg, struct auth **ret, char *msg, size_t msg_size)
{
        struct auth *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        int r = load_tokens(cfg, a->tokens, &a->ntokens, msg, msg_size);
        if (r < 0) {
                free(a);
                return r;
        }
        pthread_mutex_init(&a->mu, NULL);
        pthread_mutex_init(&a->hook_mu, NULL);
        *ret = a;
        return 0;
}

int auth_reload(struct auth *a, const struct config *cfg, char *msg, size_t msg_size)
{
        struct auth_token *fresh = calloc(CONFIG_MAX_TOKENS, sizeof(*fresh));
        size_t n = 0;
        if (!fresh)
                return -ENOMEM;
        int r = load_tokens(cfg, fresh, &n, msg, msg_size);
        if (r < 0) {
                free(fresh);
                return r;
        }
        pthread_mutex_lock(&a->mu);
        memcpy(a->tokens, fresh, sizeof(a->tokens));
        a->ntokens = n;
        for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++) {
                struct auth_session *s = &a->sessions[i];
                if (!s->expires_ms)
                        continue;
                bool kept = false;
                for (size_t j = 0; j < n; j++)
                        if (!strcmp(fresh[j].name, s->name) && !CRYPTO_memcmp(fresh[j].hash, s->token_hash, 32)) {
                                s->role = fresh[j].role;
                                kept = true;
                        }
                if (!kept)
                        memset(s, 0, sizeof(*s));
        }
        memset(a->tok_window_ms, 0, sizeof(a->tok_window_ms));
        memset(a->tok_logins, 0, sizeof(a->tok_logins));
        pthread_mutex_unlock(&a->mu);
        free(fresh);
        revoked(a); /* tokens may be gone: their WebSockets must go too */
        return 0;
}

struct auth *auth_free(struct auth *a)
{
        if (!a)
                return NULL;
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->hook_mu);
        OPENSSL_cleanse(a, sizeof(*a));
        free(a);
        return NULL;
}

bool auth_enabled(struct auth *a)
{
        if (!a)
                return false;
        pthread_mutex_lock(&a->mu);
        bool on = a->ntokens > 0;
        pthread_mutex_unlock(&a->mu);
        return on;
}

/* The token whose secret hashes to h: every entry is compared, whatever matches. Locked. */
static const struct auth_token *token_by_hash_locked(struct auth *a, const unsigned char h[32])
{
        const struct auth_token *found = NULL;
        for (size_t i = 0; i < a->ntokens; i++)
                if (!CRYPTO_memcmp(a->tokens[i].hash, h, 32) && !found)
                        found = &a->tokens[i];
        return found;
}

/* The cookie's value in a Cookie header ("a=b; corral_session=HEX"): copied into out. */
static bool cookie_value(const char *header, char *out, size_t size)
{
        static const char name[] = AUTH_COOKIE "=";
        for (const char *p = header; p && *p;) {
                while (*p == ' ' || *p == ';')
                        p++;
                size_t n = strcspn(p, ";");
                if (!strncmp(p, name, sizeof(name) - 1)) {
                        size_t vl = n - (sizeof(name) - 1);
                        while (vl && p[sizeof(name) - 1 + vl - 1] == ' ')
                                vl--;
                        if (vl == 0 || vl >= size)
                                return false;
                        memcpy(out, p + sizeof(name) - 1, vl);
                        out[vl] = '\0';
                        return true;
                }
                p += n;
        }
        return false;
}

static void identity_set(struct auth_identity *id, const char *name, enum auth_role role, bool session,
                         const unsigned char *cred)
{
        memset(id, 0, sizeof(*id));
        snprintf(id->name, sizeof(id->name), "%s", name);
        id->role = role;
        id->session = session;
        if (cred)
                memcpy(id->cred, cred, sizeof(id->cred));
}

int auth_check(struct auth *a, const char *authorization, const char *cookie, int64_t now_ms,
               struct auth_identity *ret)
{
        if (!a)
                return -EINVAL;
        pthread_mutex_lock(&a->mu);
        int r = -ENOKEY;
        struct auth_identity id;
        char sid[AUTH_SID_HEX + 8];
        unsigned char h[32];
        if (a->ntokens == 0) {
                identity_set(&id, AUTH_ANONYMOUS, AUTH_ROLE_ADMIN, false, NULL);
                r = 0;
        } else if (authorization && *authorization) {
                r = -EACCES;
                const char *p = authorization;
                while (*p == ' ')
                        p++;
                if (!strncasecmp(p, "Bearer ", 7)) {
                        p += 7;
                        while (*p == ' ')
                                p++;
                        size_t n = strlen(p);
                        while (n && p[n - 1] == ' ')
                                n--;
                        const struct auth_token *t = n && sha256(p, n, h) == 0 ? token_by_hash_locked(a, h) : NULL;
                        if (t) {
                                identity_set(&id, t->name, t->role, false, t->hash);
                                r = 0;
                        }
                }
        } else if (cookie && cookie_value(cookie, sid, sizeof(sid))) {
                r = -EACCES;
                if (strlen(sid) == AUTH_SID_HEX && sha256(sid, AUTH_SID_HEX, h) == 0) {
                        for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++) {
                                struct auth_session *s = &a->sessions[i];
                                bool match = !CRYPTO_memcmp(s->sid_hash, h, 32);
                                if (match && s->expires_ms > now_ms && r < 0) {
                                        identity_set(&id, s->name, s->role, true, s->sid_hash);
                                        r = 0;
                                } else if (match) {
                                        memset(s, 0, sizeof(*s)); /* expired */
                                }
                        }
                }
        }
        pthread_mutex_unlock(&a->mu);
        OPENSSL_cleanse(h, sizeof(h));
        OPENSSL_cleanse(sid, sizeof(sid));
        if (r == 0)
                *ret = id;
        return r;
}

/* The address's entry (found, or the free/stalest one taken over). Locked. */
static struct login_addr *addr_entry_locked(struct auth *a, const char *addr, int64_t now_ms)
{
        struct login_addr *stalest = &a->addrs[0];
        for (size_t i = 0; i < AUTH_LOGIN_ADDRS; i++) {
                struct login_addr *e = &a->addrs[i];
                if (e->window_ms && !strcmp(e->addr, addr))
                        return e;
                if (e->window_ms < stalest->window_ms)
                        stalest = e;
        }
        memset(stalest, 0, sizeof(*stalest));
        snprintf(stalest->addr, sizeof(stalest->addr), "%s", addr);
        stalest->window_ms = now_ms;
        return stalest;
}

/* A fixed window of AUTH_LOGIN_WINDOW_S: restarted once over; returns the seconds left when
 * count has reached limit, else 0. */
static unsigned window_left(int64_t *window_ms, unsigned *count, unsigned limit, int64_t now_ms)
{
        int64_t len = (int64_t)AUTH_LOGIN_WINDOW_S * 1000;
        if (!*window_ms || now_ms - *window_ms >= len || now_ms < *window_ms) {
                *window_ms = now_ms;
                *count = 0;
        }
        if (*count < limit)
                return 0;
        int64_t left = *window_ms + len - now_ms;
        return (unsigned)((left + 999) / 1000);
}

/* The slot for a new session of token t: its own oldest once it has AUTH_SESSIONS_PER_TOKEN,
 * else a free or expired one (else, only with more tokens than the table was sized for, the
 * one closest to expiry). *evicted: a live session is ended. Locked. */
static struct auth_session *session_slot_locked(struct auth *a, const struct auth_token *t, int64_t now_ms,
                                                bool *evicted)
{
        struct auth_session *own_oldest = NULL, *free_slot = NULL, *soonest = NULL;
        unsigned own = 0;
        for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++) {
                struct auth_session *s = &a->sessions[i];
                if (s->expires_ms <= now_ms) {
                        if (!free_slot)
                                free_slot = s;
                        continue;
                }
                if (!strcmp(s->name, t->name) && !CRYPTO_memcmp(s->token_hash, t->hash, 32)) {
                        own++;
                        if (!own_oldest || s->expires_ms < own_oldest->expires_ms)
                                own_oldest = s;
                }
                if (!soonest || s->expires_ms < soonest->expires_ms)
                        soonest = s;
        }
        *evicted = false;
        if (own >= AUTH_SESSIONS_PER_TOKEN) {
                *evicted = true;
                return own_oldest;
        }
        if (free_slot)
                return free_slot;
        *evicted = true;
        return soonest;
}

static int login_common(struct auth *a, const char *secret, const char *addr, bool limited, int64_t now_ms,
                        char ret_sid[AUTH_SID_HEX + 1], struct auth_identity *ret, unsigned *ret_retry_after_s)
{
        if (!a || !secret)
                return -EINVAL;
        unsigned char h[32], raw[32], sid_hash[32];
        char sid[AUTH_SID_HEX + 1];
        if (sha256(secret, strlen(secret), h) < 0)
                return -EIO;
        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return -EIO;
        for (int i = 0; i < 32; i++)
                snprintf(sid + 2 * i, 3, "%02x", raw[i]);
        OPENSSL_cleanse(raw, sizeof(raw));
        if (sha256(sid, AUTH_SID_HEX, sid_hash) < 0)
                return -EIO;
        pthread_mutex_lock(&a->mu);
        int r = 0;
        bool evicted = false;
        unsigned retry = 0;
        struct login_addr *ae = limited && addr && *addr && a->ntokens ? addr_entry_locked(a, addr, now_ms) : NULL;
        if (ae)
                retry = window_left(&ae->window_ms, &ae->fails, AUTH_LOGIN_FAILS_PER_ADDR, now_ms);
        const struct auth_token *t = a->ntokens ? token_by_hash_locked(a, h) : NULL;
        size_t ti = t ? (size_t)(t - a->tokens) : 0;
        if (!retry && t && limited)
                retry = window_left(&a->tok_window_ms[ti], &a->tok_logins[ti], AUTH_LOGINS_PER_TOKEN, now_ms);
        if (!a->ntokens) {
                r = -EOPNOTSUPP;
        } else if (retry) {
                r = -EAGAIN;
                a->limited++;
        } else if (!t) {
                r = -EACCES;
                a->failed++;
                if (ae)
                        ae->fails++;
        } else {
                if (limited)
                        a->tok_logins[ti]++;
                struct auth_session *slot = session_slot_locked(a, t, now_ms, &evicted);
                memset(slot, 0, sizeof(*slot));
                memcpy(slot->sid_hash, sid_hash, 32);
                memcpy(slot->token_hash, t->hash, 32);
                snprintf(slot->name, sizeof(slot->name), "%s", t->name);
                slot->role = t->role;
                slot->expires_ms = now_ms + (int64_t)AUTH_SESSION_TTL_S * 1000;
                identity_set(ret, t->name, t->role, true, sid_hash);
                memcpy(ret_sid, sid, sizeof(sid));
        }
        pthread_mutex_unlock(&a->mu);
        OPENSSL_cleanse(h, sizeof(h));
        OPENSSL_cleanse(sid, sizeof(sid));
        if (ret_retry_after_s)
                *ret_retry_after_s = retry;
        if (evicted)
                revoked(a);
        return r;
}

int auth_login(struct auth *a, const char *secret, int64_t now_ms, char ret_sid[AUTH_SID_HEX + 1],
               struct auth_identity *ret)
{
        return login_common(a, secret, NULL, false, now_ms, ret_sid, ret, NULL);
}

int auth_login_limited(struct auth *a, const char *secret, const char *addr, int64_t now_ms,
                       char ret_sid[AUTH_SID_HEX + 1], struct auth_identity *ret, unsigned *ret_retry_after_s)
{
        return login_common(a, secret, addr, true, now_ms, ret_sid, ret, ret_retry_after_s);
}

void auth_login_counters(struct auth *a, unsigned long long *ret_failed, unsigned long long *ret_limited)
{
        *ret_failed = *ret_limited = 0;
        if (!a)
                return;
        pthread_mutex_lock(&a->mu);
        *ret_failed = a->failed;
        *ret_limited = a->limited;
        pthread_mutex_unlock(&a->mu);
}

bool auth_identity_live(struct auth *a, const struct auth_identity *who, int64_t now_ms)
{
        if (!a || !who)
                return false;
        bool live = false;
        pthread_mutex_lock(&a->mu);
        if (a->ntokens == 0) {
                live = !strcmp(who->name, AUTH_ANONYMOUS) && !who->session;
        } else if (who->session) {
                for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++) {
                        const struct auth_session *s = &a->sessions[i];
                        if (s->expires_ms > now_ms && !CRYPTO_memcmp(s->sid_hash, who->cred, 32))
                                live = true;
                }
        } else {
                for (size_t i = 0; i < a->ntokens; i++)
                        if (!CRYPTO_memcmp(a->tokens[i].hash, who->cred, 32) && !strcmp(a->tokens[i].name, who->name))
                                live = true;
        }
        pthread_mutex_unlock(&a->mu);
        return live;
}

void auth_on_revoke(struct auth *a, void (*fn)(void *user), void *user)
{
        if (!a)
                return;
        pthread_mutex_lock(&a->hook_mu);
        a->on_revoke = fn;
        a->revoke_user = user;
        pthread_mutex_unlock(&a->hook_mu);
}

int auth_logout(struct auth *a, const char *cookie)
{
        char sid[AUTH_SID_HEX + 8];
        unsigned char h[32];
        if (!a || !cookie || !cookie_value(cookie, sid, sizeof(sid)) || strlen(sid) != AUTH_SID_HEX ||
            sha256(sid, AUTH_SID_HEX, h) < 0)
                return 0;
        int ended = 0;
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++)
                if (a->sessions[i].expires_ms && !CRYPTO_memcmp(a->sessions[i].sid_hash, h, 32)) {
                        memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
                        ended = 1;
                }
        pthread_mutex_unlock(&a->mu);
        OPENSSL_cleanse(sid, sizeof(sid));
        if (ended)
                revoked(a); /* the session's WebSockets close */
        return ended;
}

size_t auth_tokens(struct auth *a, struct auth_identity *out, size_t max)
{
        if (!a)
                return 0;
        pthread_mutex_lock(&a->mu);
        size_t n = a->ntokens < max ? a->ntokens : max;
        for (size_t i = 0; i < n; i++)
                identity_set(&out[i], a->tokens[i].name, a->tokens[i].role, false, NULL);
        pthread_mutex_unlock(&a->mu);
        return n;
}

unsigned auth_session_count(struct auth *a, int64_t now_ms)
{
        if (!a)
                return 0;
        unsigned n = 0;
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < AUTH_MAX_SESSIONS; i++)
                n += a->sessions[i].expires_ms > now_ms;
        pthread_mutex_unlock(&a->mu);
        return n;
}
