/* The audit log in the store: one row per mutating API request (who by token name, method,
 * path, status, when), kept to the newest STORE_AUDIT_KEEP rows. Thread-safe like the store. */
#ifndef CORRAL_STORE_AUDIT_H
#define CORRAL_STORE_AUDIT_H

#include <jansson.h>

struct store;

#define STORE_AUDIT_KEEP 10000   /* rows kept; older ones are pruned as new ones come */
#define STORE_AUDIT_LIST_MAX 1000

/* Append an entry (strings copied; path is cut at 1024 bytes). 0 or negative errno. */
int store_audit_add(struct store *s, const char *token, const char *method, const char *path, unsigned status);
/* The newest entries first: [{"id","at","token","method","path","status"}]. limit <= 0 means
 * 100, at most STORE_AUDIT_LIST_MAX. *ret is a new reference owned by the caller. */
int store_audit_list(struct store *s, int limit, json_t **ret);
/* How many store_audit_add() calls failed since the store was opened (a full disk drops audit
 * rows; this makes it visible in /metrics and /api/v1/health). */
unsigned long long store_audit_failures(struct store *s);

#endif
