/* User authentication for corrald: the token table from the config (names, roles, SHA-256 of
 * the secrets, never the secrets), constant-time checks of "Authorization: Bearer" and of the
 * session cookie, in-memory login sessions with expiry, and the loopback rule (a non-loopback
 * listener needs tokens). Thread-safe: one mutex around the table and the sessions. */
#ifndef CORRAL_AUTH_H
#define CORRAL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct auth;

enum auth_role { AUTH_ROLE_NONE = 0, AUTH_ROLE_VIEWER = 1, AUTH_ROLE_OPERATOR = 2, AUTH_ROLE_ADMIN = 3 };

#define AUTH_COOKIE "corral_session"
#define AUTH_SESSION_TTL_S (12 * 3600) /* a login lasts this long */
/* Sessions per token: a token's login beyond this ends that token's own oldest session, never
 * another token's. The table holds every token's share (CONFIG_MAX_TOKENS of them), so one
 * token cannot evict the others' browser sessions. */
#define AUTH_SESSIONS_PER_TOKEN 16
#define AUTH_MAX_SESSIONS (64 * AUTH_SESSIONS_PER_TOKEN) /* 64: CONFIG_MAX_TOKENS (checked in auth.c) */
/* Login rate limits (auth_login_limited), per AUTH_LOGIN_WINDOW_S window: failed logins from
 * one client address, and logins (sessions made) with one token. Beyond: -EAGAIN, 429. */
#define AUTH_LOGIN_WINDOW_S 60
#define AUTH_LOGIN_FAILS_PER_ADDR 10
#define AUTH_LOGINS_PER_TOKEN 30
#define AUTH_LOGIN_ADDRS 512 /* client addresses tracked; the stalest window is reused */
#define AUTH_SID_HEX 64                /* a session id: 32 random bytes as hex */
#define AUTH_ANONYMOUS "anonymous"     /* who, when auth is off (loopback without tokens) */

struct auth_identity {
        char name[64];       /* the token's name (AUTH_ANONYMOUS when auth is off) */
        enum auth_role role;
        bool session;        /* authenticated by the session cookie rather than a bearer token */
        unsigned char cred[32]; /* which credential: the session id's or the token's SHA-256 (auth_identity_live) */
};

/* "viewer", "operator", "admin"; "none" for AUTH_ROLE_NONE. Static strings. */
const char *auth_role_name(enum auth_role r);
/* -EINVAL for an unknown name. */
int auth_role_parse(const char *name, enum auth_role *ret);


/* True for 127.0.0.0/8, ::1, ::ffff:127.x.x.x and "localhost". */
bool auth_host_is_loopback(const char *host);

/* Build the table from cfg->tokens (each secret "sha256:<64 hex>", as config.c leaves them).
 * Refuses (-EPERM, msg says why and what to do) when cfg listens on a non-loopback address
 * without any token. -EINVAL for a malformed secret, -ENOMEM. *ret owned by the caller. */
int auth_new(const struct config *cfg, struct auth **ret, char *msg, size_t msg_size);
/* Replace the tokens (SIGHUP). Same checks as auth_new; on failure the old table stays.
 * Sessions whose token is gone or has a new secret end; the others take the new role. */
int auth_reload(struct auth *a, const struct config *cfg, char *msg, size_t msg_size);
struct auth *auth_free(struct auth *a); /* NULL-safe, returns NULL */

/* Auth is enforced (tokens configured). When false every request is AUTH_ANONYMOUS/admin. */
bool auth_enabled(struct auth *a);

/* Who sends this request. authorization: the Authorization header value or NULL; cookie: the
 * Cookie header value or NULL. A bearer token wins over the cookie. Returns 0 with *ret set,
 * -ENOKEY when neither was presented, -EACCES when what was presented is not valid (unknown
 * token, ended or unknown session, another scheme than Bearer). */
int auth_check(struct auth *a, const char *authorization, const char *cookie, int64_t now_ms,
               struct auth_identity *ret);

/* Log in with a token's secret: a new session. ret_sid gets its id (AUTH_SID_HEX + 1 bytes),
 * *ret the identity. -EACCES for a wrong secret, -EOPNOTSUPP when auth is off, -EIO when no
 * randomness is available. */
int auth_login(struct auth *a, const char *secret, int64_t now_ms, char ret_sid[AUTH_SID_HEX + 1],
               struct auth_identity *ret);
/* auth_login with the rate limits: addr (the client's address, NULL: none) may fail
 * AUTH_LOGIN_FAILS_PER_ADDR times per window, a token may make AUTH_LOGINS_PER_TOKEN sessions
 * per window. Over a limit: -EAGAIN with *ret_retry_after_s (seconds until the window ends),
 * checked before the secret, so a guess made while limited tells nothing. */
int auth_login_limited(struct auth *a, const char *secret, const char *addr, int64_t now_ms,
                       char ret_sid[AUTH_SID_HEX + 1], struct auth_identity *ret, unsigned *ret_retry_after_s);
/* Counters since start, for /metrics: failed logins (wrong secret) and logins refused by a rate limit. */
void auth_login_counters(struct auth *a, unsigned long long *ret_failed, unsigned long long *ret_limited);
/* Whether who (as auth_check gave it) still holds: its session not ended nor expired, its token
 * still configured with the same secret, anonymous only while auth is off. */
bool auth_identity_live(struct auth *a, const struct auth_identity *who, int64_t now_ms);
/* Called (from the thread that ended them, without the auth lock) whenever sessions or tokens
 * end: logout, eviction, reload. fn NULL unregisters. One hook (the WebSocket server). */
void auth_on_revoke(struct auth *a, void (*fn)(void *user), void *user);
/* End the session named by the Cookie header, if any. Returns 1 when one ended, else 0. */
int auth_logout(struct auth *a, const char *cookie);
/* The configured tokens' names and roles (never secrets), at most max; returns how many. */
size_t auth_tokens(struct auth *a, struct auth_identity *out, size_t max);
/* Number of live sessions (tests, metrics). */
unsigned auth_session_count(struct auth *a, int64_t now_ms);

#endif
