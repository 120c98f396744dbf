/* Parser for corrald.conf: "key = value" lines, "[port NAME]" and "[token NAME]" sections,
 * '#' comments. Strict: unknown keys and bad values are errors with file:line. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h" /* token secrets are kept hashed */
#include "bounds.h"
#include "power/power.h"

void config_defaults(struct config *c)
{
        memset(c, 0, sizeof(*c));
        snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
        c->listen_port = 7070;
        const char *sd = getenv("STATE_DIRECTORY");
        snprintf(c->state_dir, sizeof(c->state_dir), "%s", sd && *sd ? sd : "/var/lib/corral");
        char *colon = strchr(c->state_dir, ':'); /* systemd may list several */
        if (colon)
                *colon = '\0';
        snprintf(c->web_root, sizeof(c->web_root), "/usr/local/share/corral/web");
        c->udev = true;
        c->max_body = 1024 * 1024;
        c->max_upload = 16 * 1024 * 1024;
        c->job_timeout_s = 900; /* the longest kind default (flash): unset, it shortens nothing */
        c->max_queued_jobs = 64;
        c->auto_identify = true;
        c->max_viewers = CONSOLE_MAX_VIEWERS;
        c->max_log_lines = STORE_JOB_LOG_MAX_LINES;
        c->max_connections = 512;
        c->max_connections_per_address = 256;
        c->max_pending_per_address = 16;
        c->head_timeout_s = 10;
        c->host_stale_s = 15;
        snprintf(c->remote_bind, sizeof(c->remote_bind), "127.0.0.1");
        c->remote_same_address = true;
        health_policy_defaults(&c->health);
}

static char *trim(char *s)
{
        while (isspace((unsigned char)*s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

bool config_url_valid(const char *url)
{
        if (!url || !*url)
                return false;
        const char *rest = NULL;
        if (!strncmp(url, "rfc2217://", 10))
                rest = url + 10;
        else if (!strncmp(url, "socket://", 9))
                rest = url + 9;
        else
                return url[0] == '/' && strlen(url) > 1;
        const char *colon = strrchr(rest, ':');
        if (!colon || colon == rest)
                return false;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        return *end == '\0' && port > 0 && port < 65536;
}

int config_parse_listen(struct config *c, const char *value, char *msg, size_t msg_size)
{
        const char *colon = strrchr(value, ':');
        if (!colon) {
                snprintf(msg, msg_size, "listen address '%s' must be HOST:PORT", value);
                return -EINVAL;
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || !colon[1] || port < 0 || port > 65535) {
                snprintf(msg, msg_size, "listen port in '%s' must be 0..65535 (0 picks a free port)", value);
                return -EINVAL;
        }
        size_t hl = (size_t)(colon - value);
        const char *h = value;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
        }
        if (hl >= sizeof(c->listen_host)) {
                snprintf(msg, msg_size, "listen host in '%s' is too long", value);
                return -EINVAL;
        }
        if (hl == 0) {
                snprintf(c->listen_host, sizeof(c->listen_host), "0.0.0.0");
        } else {
                memcpy(c->listen_host, h, hl);
                c->listen_host[hl] = '\0';
        }
        c->listen_port = (unsigned)port;
        return 0;
}

static int parse_bool(const char *v, bool *out)
{
        if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
                *out = true;
        else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
                *out = false;
        else
                return -EINVAL;
        return 0;
}

/* "1048576", "64K", "16M", "1G": digits only (no sign: strtoull would wrap "-1" to 2^64-1), and
 * a product that does not fit is refused rather than wrapped. */
static int parse_size(const char *v, size_t *out)
{
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)v[0]))
                return -EINVAL;
        unsigned long long n = strtoull(v, &end, 10), mult = 1;
        if (errno || end == v)
                return -EINVAL;
        if (*end == 'K' || *end == 'k')
                mult = 1024, end++;
        else if (*end == 'M' || *end == 'm')
                mult = 1024 * 1024, end++;
        else if (*end == 'G' || *end == 'g')
                mult = 1024ULL * 1024 * 1024, end++;
        if (*end || n == 0 || n > SIZE_MAX / mult)
                return -EINVAL;
        *out = (size_t)(n * mult);
        return 0;
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n < lo || n > hi)
                return -EINVAL;
        *out = (unsigned)n;
        return 0;
}

static int parse_usb_list(const char *v, struct config_usb_id *ids, size_t *n)
{
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", v);
        char *save = NULL;
        for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                unsigned vid, pid = 0xFFFF;
                char star;
                if (*n >= CONFIG_MAX_USB_IDS)
                        return -E2BIG;
                if (sscanf(tok, "%4x:%4x", &vid, &pid) == 2 && strlen(tok) == 9) {
                } else if (sscanf(tok, "%4x:%c", &vid, &star) == 2 && star == '*' && strlen(tok) == 6) {
                        pid = 0xFFFF;
                } else {
                        return -EINVAL;
                }
                ids[*n].vid = (unsigned short)vid;
                ids[*n].pid = (unsigned short)pid;
                (*n)++;
        }
        return 0;
}

/* One origin: http:// or https://, a host name, IPv4 or [IPv6] literal, an optional :port,
 * nothing after. Stored lowercase, as browsers send it. */
static bool origin_valid(const char *o)
{
        const char *h = !strncmp(o, "http://", 7) ? o + 7 : !strncmp(o, "https://", 8) ? o + 8 : NULL;
        if (!h || !*h)
                return false;
        const char *p = h;
        if (*p == '[') {
                while (*p && *p != ']' && (isxdigit((unsigned char)*p) || *p == ':' || *p == '.' || *p == '['))
                        p++;
                if (*p++ != ']' || p - h < 4)
                        return false;
        } else {
                while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
                        p++;
                if (p == h)
                        return false;
        }
        if (*p == ':') {
                char *end;
                long port = strtol(p + 1, &end, 10);
                if (!isdigit((unsigned char)p[1]) || *end || port < 1 || port > 65535)
                        return false;
                return true;
        }
        return *p == '\0';
}

static int parse_origin_list(const char *v, char list[][128], size_t *n)
{
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", v);
        char *save = NULL;
        size_t count = 0;
        for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                if (*n >= CONFIG_MAX_ORIGINS)
                        return -E2BIG;
                if (strlen(tok) >= 128 || !origin_valid(tok))
                        return -EINVAL;
                for (char *c = tok; *c; c++)
                        *c = (char)tolower((unsigned char)*c);
                snprintf(list[*n], 128, "%s", tok);
                (*n)++;
                count++;
        }
        return count ? 0 : -EINVAL;
}

/* One firmware_dirs entry: absolute, not "/", no "." or ".." component; trailing '/' dropped. */
static bool firmware_dir_valid(char *d)
{
        size_t n = strlen(d);
        while (n > 1 && d[n - 1] == '/')
                d[--n] = '\0';
        if (d[0] != '/' || n < 2 || n >= 512)
                return false;
        for (const char *p = d; *p; p++)
                if (p[0] == '/' && p[1] == '.' && (!p[2] || p[2] == '/' || (p[2] == '.' && (!p[3] || p[3] == '/'))))
                        return false;
        return true;
}

static int parse_dir_list(const char *v, char list[][512], size_t *n)
{
        char tmp[CONFIG_MAX_FIRMWARE_DIRS * 512];
        snprintf(tmp, sizeof(tmp), "%s", v);
        char *save = NULL;
        size_t count = 0;
        for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                if (*n >= CONFIG_MAX_FIRMWARE_DIRS)
                        return -E2BIG;
                if (strlen(tok) >= 512 || !firmware_dir_valid(tok))
                        return -EINVAL;
                snprintf(list[*n], 512, "%s", tok);
                (*n)++;
                count++;
        }
        return count ? 0 : -EINVAL;
}

static bool name_valid(const char *s)
{
        if (!*s || strlen(s) >= 64)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
                        return false;
        return true;
}

enum section { SEC_MAIN, SEC_PORT, SEC_TOKEN };

int config_set_store(struct config *c, const char *v, char *err, size_t es)
{
        /* "sqlite" (or empty): the default database in state_dir. */
        if (!*v || !strcmp(v, "sqlite")) {
                c->store_url[0] = '\0';
                return 0;
        }
        if (strncmp(v, "postgresql://", 13) && strncmp(v, "postgres://", 11)) {
                snprintf(err, es, "'store' must be sqlite or a postgresql://... URL");
                return -EINVAL;
        }
        if (strlen(v) >= sizeof(c->store_url)) {
                snprintf(err, es, "'store' is longer than %zu bytes", sizeof(c->store_url) - 1);
                return -EINVAL;
        }
        snprintf(c->store_url, sizeof(c->store_url), "%s", v);
        return 0;
}

/* farm_secret (the text) or farm_secret_file (an absolute path; its first line): the credential
 * hosts of one farm present to each other. err never quotes the secret. 0, -EINVAL, 1 other key. */
static int set_farm_secret(struct config *c, const char *k, const char *v, char *err, size_t es)
{
        char buf[sizeof(c->farm_secret) + 2] = "";
        const char *secret = v;
        if (!strcmp(k, "farm_secret_file")) {
                FILE *f = v[0] == '/' ? fopen(v, "re") : NULL;
                if (!f) {
                        snprintf(err, es, "'farm_secret_file' must be an absolute path to a readable file, not '%s'", v);
                        return -EINVAL;
                }
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                fclose(f);
                buf[strcspn(buf, "\r\n")] = '\0';
                secret = buf;
        } else if (strcmp(k, "farm_secret")) {
                return 1;
        }
        size_t n = strlen(secret);
        bool printable = true;
        for (size_t i = 0; i < n; i++)
                printable = printable && isgraph((unsigned char)secret[i]);
        int r = 0;
        if (n < CONFIG_FARM_SECRET_MIN || n >= sizeof(c->farm_secret) || !printable) {
                snprintf(err, es, "'%s' must give %d to %zu printable characters without spaces", k,
                         CONFIG_FARM_SECRET_MIN, sizeof(c->farm_secret) - 1);
                r = -EINVAL;
        } else {
                memcpy(c->farm_secret, secret, n + 1); /* n < sizeof(c->farm_secret): checked above */
        }
        explicit_bzero(buf, sizeof(buf));
        return r;
}

/* The keys of this host in a farm (a shared store): 0 set, -EINVAL (err filled), 1 not one of them. */
static int set_farm(struct config *c, const char *k, const char *v, char *err, size_t es)
{
        int fr = set_farm_secret(c, k, v, err, es);
        if (fr <= 0)
                return fr;
        if (!strcmp(k, "host_name")) {
                if (!name_valid(v)) {
                        snprintf(err, es, "'host_name' must be 1 to 63 letters, digits, '-', '_' or '.', not '%s'", v);
                        return -EINVAL;
                }
                snprintf(c->host_name, sizeof(c->host_name), "%s", v);
                return 0;
        }
        if (!strcmp(k, "host_stale_s")) {
                if (!isdigit((unsigned char)v[0]) || parse_uint(v, 2, 3600, &c->host_stale_s) < 0) {
                        snprintf(err, es, "'host_stale_s' must be a whole number of seconds from 2 to 3600, not '%s'", v);
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(k, "advertise_url")) {
                if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) || strlen(v) >= sizeof(c->advertise_url) ||
                    strpbrk(v, " \t\"'<>\\")) {
                        snprintf(err, es, "'advertise_url' must be an http:// or https:// URL of at most %zu bytes",
                                 sizeof(c->advertise_url) - 1);
                        return -EINVAL;
                }
                snprintf(c->advertise_url, sizeof(c->advertise_url), "%s", v);
                return 0;
        }
        return 1;
}

/* Whole-number keys: name, field, range, and how the range is said ("" or " of seconds"). */
static const struct uint_key {
        const char *name;
        size_t off;
        unsigned lo, hi;
        const char *unit;
} uint_keys[] = {
        { "job_timeout", offsetof(struct config, job_timeout_s), 1, 86400, "" },
        { "max_queued_jobs", offsetof(struct config, max_queued_jobs), 1, 86400, "" },
        { "max_viewers", offsetof(struct config, max_viewers), 1, CONSOLE_MAX_VIEWERS, "" },
        { "max_log_lines", offsetof(struct config, max_log_lines), 1, 1000000, "" },
        { "max_connections", offsetof(struct config, max_connections), 1, 65536, "" },
        { "max_connections_per_address", offsetof(struct config, max_connections_per_address), 1, 65536, "" },
        /* up to the front door's table (256) */
        { "max_pending_per_address", offsetof(struct config, max_pending_per_address), 1, 256, "" },
        { "head_timeout", offsetof(struct config, head_timeout_s), 1, 300, " of seconds" },
};

/* on/off keys. */
static const struct bool_key {
        const char *name;
        size_t off;
} bool_keys[] = {
        { "auto_identify", offsetof(struct config, auto_identify) },
        { "udev", offsetof(struct config, udev) },
        { "remote_same_address", offsetof(struct config, remote_same_address) },
};

/* Sizes ("64K", "16M"). */
static const struct size_key {
        const char *name;
        size_t off;
} size_keys[] = {
        { "max_body", offsetof(struct config, max_body) },
        { "max_upload", offsetof(struct config, max_upload) },
        { "max_library", offsetof(struct config, max_library) },
};

/* Absolute paths. */
static const struct path_key {
        const char *name;
        size_t off;
} path_keys[] = {
        { "state_dir", offsetof(struct config, state_dir) },
        { "web_root", offsetof(struct config, web_root) },
        { "stub_dir", offsetof(struct config, stub_dir) },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The keys of the tables above: 0 set, -EINVAL (err filled), 1 not one of them. */
static int set_from_tables(struct config *c, const char *k, const char *v, char *err, size_t es)
{
        char *base = (char *)c;
        for (size_t i = 0; i < N_OF(uint_keys); i++) {
                const struct uint_key *u = &uint_keys[i];
                if (strcmp(k, u->name))
                        continue;
                if (parse_uint(v, u->lo, u->hi, (unsigned *)(base + u->off)) < 0) {
                        snprintf(err, es, "'%s' must be a whole number%s from %u to %u, not '%s'", k, u->unit, u->lo,
                                 u->hi, v);
                        return -EINVAL;
                }
                return 0;
        }
        for (size_t i = 0; i < N_OF(bool_keys); i++) {
                if (strcmp(k, bool_keys[i].name))
                        continue;
                if (parse_bool(v, (bool *)(base + bool_keys[i].off)) < 0) {
                        snprintf(err, es, "'%s' must be on or off, not '%s'", k, v);
                        return -EINVAL;
                }
                return 0;
        }
        for (size_t i = 0; i < N_OF(size_keys); i++) {
                if (strcmp(k, size_keys[i].name))
                        continue;
                if (parse_size(v, (size_t *)(base + size_keys[i].off)) < 0) {
                        snprintf(err, es, "'%s' must be a size like 1048576, 64K or 16M, not '%s'", k, v);
                        return -EINVAL;
                }
                return 0;
        }
        for (size_t i = 0; i < N_OF(path_keys); i++) {
                if (strcmp(k, path_keys[i].name))
                        continue;
                if (v[0] != '/' || strlen(v) >= sizeof(c->state_dir)) {
                        snprintf(err, es, "'%s' must be an absolute path", k);
                        return -EINVAL;
                }
                snprintf(base + path_keys[i].off, sizeof(c->state_dir), "%s", v);
                return 0;
        }
        return 1;
}

/* remote_bind, remote_host, remote_ports: 0 set, -EINVAL (err filled), 1 not one of them. */
static int set_remote(struct config *c, const char *k, const char *v, char *err, size_t es)
{
        if (!strcmp(k, "remote_bind") || !strcmp(k, "remote_host")) {
                char *dst = k[7] == 'b' ? c->remote_bind : c->remote_host;
                size_t cap = k[7] == 'b' ? sizeof(c->remote_bind) : sizeof(c->remote_host);
                if (strlen(v) >= cap || strpbrk(v, " /\t")) {
                        snprintf(err, es, "'%s' must be a host name or address (no spaces or '/'), not '%s'", k, v);
                        return -EINVAL;
                }
                snprintf(dst, cap, "%s", v);
                return 0;
        }
        if (strcmp(k, "remote_ports"))
                return 1;
        /* "7100-7199", "7100", or "0" (any free port) */
        char *end = NULL;
        unsigned long lo = strtoul(v, &end, 10), hi = lo;
        bool ok = end != v && *v >= '0' && *v <= '9';
        if (ok && *end == '-') {
                const char *h = end + 1;
                hi = strtoul(h, &end, 10);
                ok = end != h && *h >= '0' && *h <= '9';
        }
        if (!ok || *end || lo > hi || hi > 65535 || (lo == 0 && hi != 0)) {
                snprintf(err, es, "'remote_ports' must be a port range like 7100-7199 (or 0: any free port), "
                         "not '%s'", v);
                return -EINVAL;
        }
        c->remote_port_min = (unsigned)lo;
        c->remote_port_max = (unsigned)hi;
        return 0;
}

static int set_main(struct config *c, const char *k, const char *v, char *err, size_t es)
{
        if (!strcmp(k, "listen"))
                return config_parse_listen(c, v, err, es);
        if (!strcmp(k, "store"))
                return config_set_store(c, v, err, es);
        int r = set_from_tables(c, k, v, err, es);
        if (r <= 0)
                return r;
        if ((r = set_farm(c, k, v, err, es)) <= 0)
                return r;
        if ((r = set_remote(c, k, v, err, es)) <= 0)
                return r;
        if (!strcmp(k, "udev_allow") || !strcmp(k, "udev_deny")) {
                bool allow = !strcmp(k, "udev_allow");
                r = parse_usb_list(v, allow ? c->usb_allow : c->usb_deny,
                                       allow ? &c->nusb_allow : &c->nusb_deny);
                if (r < 0) {
                        snprintf(err, es, "'%s' must be a list of VID:PID (hex, e.g. 10c4:ea60 or 1a86:*)", k);
                        return r;
                }
                return 0;
        }
        if (!strcmp(k, "ws_origins")) {
                r = parse_origin_list(v, c->ws_origins, &c->nws_origins);
                if (r == -E2BIG)
                        snprintf(err, es, "'ws_origins' lists more than %d origins", CONFIG_MAX_ORIGINS);
                else if (r < 0)
                        snprintf(err, es, "'ws_origins' must be a comma-separated list of origins like "
                                 "https://farm.example or http://10.0.0.5:7070 (no path), not '%s'", v);
                return r;
        }
        if (!strcmp(k, "firmware_dirs")) {
                r = parse_dir_list(v, c->firmware_dirs, &c->nfirmware_dirs);
                if (r == -E2BIG)
                        snprintf(err, es, "'firmware_dirs' lists more than %d directories", CONFIG_MAX_FIRMWARE_DIRS);
                else if (r < 0)
                        snprintf(err, es, "'firmware_dirs' must be a comma-separated list of absolute directories "
                                 "(not '/', no '..'), like /srv/firmware, /home/ci/out; not '%s'", v);
                return r;
        }
        int hr = health_policy_set(&c->health, k, v, err, es);
        if (hr != -ENOENT)
                return hr;
        snprintf(err, es, "unknown key '%s'", k);
        return -EINVAL;
}

static int set_port(struct config_port *p, const char *k, const char *v, char *err, size_t es)
{
        if (!strcmp(k, "url")) {
                if (!config_url_valid(v) || strlen(v) >= sizeof(p->url)) {
                        snprintf(err, es, "'url' must be rfc2217://HOST:PORT, socket://HOST:PORT or /dev/PATH, not '%s'", v);
                        return -EINVAL;
                }
                snprintf(p->url, sizeof(p->url), "%s", v);
                return 0;
        }
        if (!strcmp(k, "family")) {
                if (!name_valid(v) || strlen(v) >= sizeof(p->family)) {
                        snprintf(err, es, "'family' must be a short word like esp8266 or micropython");
                        return -EINVAL;
                }
                snprintf(p->family, sizeof(p->family), "%s", v);
                return 0;
        }
        if (!strcmp(k, "baud")) {
                if (parse_uint(v, 300, 12000000, &p->baud) < 0) {
                        snprintf(err, es, "'baud' must be a number from 300 to 12000000, not '%s'", v);
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(k, "power")) {
                if (strlen(v) >= sizeof(p->power) || power_spec_check(v, err, es) < 0) {
                        if (strlen(v) >= sizeof(p->power))
                                snprintf(err, es, "'power' is too long");
                        return -EINVAL;
                }
                snprintf(p->power, sizeof(p->power), "%s", v);
                return 0;
        }
        if (!strcmp(k, "remote_port")) {
                if (parse_uint(v, 1, 65535, &p->remote_port) < 0) {
                        snprintf(err, es, "'remote_port' must be a TCP port from 1 to 65535, not '%s'", v);
                        return -EINVAL;
                }
                return 0;
        }
        snprintf(err, es, "unknown key '%s' in a [port] section (known: url, family, baud, power, remote_port)", k);
        return -EINVAL;
}

static int set_token(struct config_token *t, const char *k, const char *v, char *err, size_t es)
{
        if (!strcmp(k, "role")) {
                if (strcmp(v, "viewer") && strcmp(v, "operator") && strcmp(v, "admin")) {
                        snprintf(err, es, "'role' must be viewer, operator or admin, not '%s'", v);
                        return -EINVAL;
                }
                snprintf(t->role, sizeof(t->role), "%s", v);
                return 0;
        }
        if (!strcmp(k, "secret")) {
                /* Kept only as "sha256:<hex>": a plain secret is hashed here (the caller wipes v). */
                if (!strncasecmp(v, "sha256:", 7)) {
                        size_t n = strspn(v + 7, "0123456789abcdefABCDEF");
                        if (n != 64 || v[7 + n] != '\0') {
                                snprintf(err, es, "'secret = sha256:...' wants 64 hex digits (printf %%s SECRET | sha256sum)");
                                return -EINVAL;
                        }
                        snprintf(t->secret, sizeof(t->secret), "sha256:%s", v + 7);
                        for (char *c = t->secret + 7; *c; c++)
                                *c = (char)tolower((unsigned char)*c);
                        return 0;
                }
                if (strlen(v) < 16 || strlen(v) > 127) {
                        snprintf(err, es, "'secret' must be 16 to 127 characters, or sha256:<64 hex digits>");
                        return -EINVAL;
                }
                memcpy(t->secret, "sha256:", 7);
                if (digest_sha256_hex(v, strlen(v), t->secret + 7) < 0) {
                        snprintf(err, es, "cannot hash the secret");
                        return -EIO;
                }
                return 0;
        }
        snprintf(err, es, "unknown key '%s' in a [token] section (known: role, secret)", k);
        return -EINVAL;
}

int config_add_port_arg(struct config *c, const char *arg, char *msg, size_t msg_size)
{
        const char *eq = strchr(arg, '=');
        if (!eq) {
                snprintf(msg, msg_size, "--port wants NAME=URL, not '%s'", arg);
                return -EINVAL;
        }
        if (c->nports >= CONFIG_MAX_PORTS) {
                snprintf(msg, msg_size, "too many static ports (at most %d)", CONFIG_MAX_PORTS);
                return -E2BIG;
        }
        struct config_port *p = &c->ports[c->nports];
        memset(p, 0, sizeof(*p));
        size_t nl = (size_t)(eq - arg);
        if (nl == 0 || nl >= sizeof(p->name)) {
                snprintf(msg, msg_size, "--port name in '%s' must be 1..63 characters", arg);
                return -EINVAL;
        }
        memcpy(p->name, arg, nl);
        if (!name_valid(p->name)) {
                snprintf(msg, msg_size, "--port name '%s' may only use letters, digits, '-', '_' and '.'", p->name);
                return -EINVAL;
        }
        /* Optional ",family=X,baud=N" suffix. */
        char rest[512];
        snprintf(rest, sizeof(rest), "%s", eq + 1);
        char *opts = strchr(rest, ',');
        if (opts)
                *opts++ = '\0';
        int r = set_port(p, "url", rest, msg, msg_size);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *kv = opts ? strtok_r(opts, ",", &save) : NULL; kv; kv = strtok_r(NULL, ",", &save)) {
                char *e = strchr(kv, '=');
                if (!e) {
                        snprintf(msg, msg_size, "--port option '%s' wants KEY=VALUE", kv);
                        return -EINVAL;
                }
                *e = '\0';
                r = set_port(p, kv, e + 1, msg, msg_size);
                if (r < 0)
                        return r;
        }
        c->nports++;
        return 0;
}

/* The next line of text[*pos..len) into line as fgets() reads it: at most size - 1 bytes, up to
 * and including '\n'. *eof is set as feof() would be: the text ended before '\n' or size - 1. */
static bool next_line(const char *text, size_t len, size_t *pos, char *line, size_t size, size_t *got, bool *eof)
{
        size_t n = 0;
        *eof = false;
        if (*pos >= len)
                return false;
        while (n < size - 1) {
                if (*pos >= len) {
                        *eof = true;
                        break;
                }
                line[n] = text[(*pos)++];
                if (line[n++] == '\n')
                        break;
        }
        line[n] = '\0';
        *got = n;
        return true;
}

/* A "[port NAME]" or "[token NAME]" line in s: a new entry opened, *sec set; msg names the
 * problem on error. */
static int config_open_section(struct config *c, char *s, enum section *sec, const char *path,
                               unsigned lineno, char *msg, size_t msg_size)
{
        char *end = strchr(s, ']');
        char kind[16] = "", name[128] = "";
        if (!end || end[1] != '\0' || sscanf(s, "[%15s %127[^]]]", kind, name) != 2 ||
            !name_valid(trim(name))) {
                snprintf(msg, msg_size, "%s:%u: a section is written [port NAME] or [token NAME] (NAME: letters, digits, - _ .)", path, lineno);
                return -EINVAL;
        }
        if (!strcmp(kind, "port")) {
                if (c->nports >= CONFIG_MAX_PORTS) {
                        snprintf(msg, msg_size, "%s:%u: too many ports (at most %d)", path, lineno, CONFIG_MAX_PORTS);
                        return -E2BIG;
                }
                memset(&c->ports[c->nports], 0, sizeof(c->ports[0]));
                snprintf(c->ports[c->nports].name, sizeof(c->ports[0].name), "%s", trim(name));
                c->nports++;
                *sec = SEC_PORT;
        } else if (!strcmp(kind, "token")) {
                if (c->ntokens >= CONFIG_MAX_TOKENS) {
                        snprintf(msg, msg_size, "%s:%u: too many tokens (at most %d)", path, lineno, CONFIG_MAX_TOKENS);
                        return -E2BIG;
                }
                memset(&c->tokens[c->ntokens], 0, sizeof(c->tokens[0]));
                snprintf(c->tokens[c->ntokens].name, sizeof(c->tokens[0].name), "%s", trim(name));
                c->ntokens++;
                *sec = SEC_TOKEN;
        } else {
                snprintf(msg, msg_size, "%s:%u: unknown section '[%s ...]' (known: port, token)", path, lineno, kind);
                return -EINVAL;
        }
        return 0;
}

int config_load_string(struct config *c, const char *path, const char *text, size_t len, char *msg,
                       size_t msg_size)
{
        char line[1024], err[512];
        unsigned lineno = 0;
        enum section sec = SEC_MAIN;
        int r = 0;
        size_t pos = 0, got = 0;
        bool eof = false;
        while (next_line(text, len, &pos, line, sizeof(line), &got, &eof)) {
                lineno++;
                if (memchr(line, '\0', got)) {
                        snprintf(msg, msg_size, "%s:%u: a NUL byte in the line (the config is a text file)", path, lineno);
                        r = -EINVAL;
                        break;
                }
                if (!strchr(line, '\n') && !eof) {
                        snprintf(msg, msg_size, "%s:%u: line too long (at most %zu characters)", path, lineno,
                                 sizeof(line) - 2);
                        r = -EINVAL;
                        break;
                }
                char *s = trim(line);
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        r = config_open_section(c, s, &sec, path, lineno, msg, msg_size);
                        if (r < 0)
                                break;
                        continue;
                }
                char *eq = strchr(s, '=');
                if (!eq) {
                        snprintf(msg, msg_size, "%s:%u: expected 'key = value'", path, lineno);
                        r = -EINVAL;
                        break;
                }
                *eq = '\0';
                char *k = trim(s), *v = trim(eq + 1);
                if (sec == SEC_MAIN) {
                        bool secret = !strcmp(k, "farm_secret");
                        r = set_main(c, k, v, err, sizeof(err));
                        if (secret)
                                explicit_bzero(line, sizeof(line)); /* like token secrets */
                }
                else if (sec == SEC_PORT)
                        r = set_port(&c->ports[c->nports - 1], k, v, err, sizeof(err));
                else {
                        r = set_token(&c->tokens[c->ntokens - 1], k, v, err, sizeof(err));
                        explicit_bzero(line, sizeof(line)); /* a plain secret lives nowhere after this */
                }
                if (r < 0) {
                        snprintf(msg, msg_size, "%s:%u: %s", path, lineno, err);
                        break;
                }
        }
        if (r == 0)
                r = config_validate(c, msg, msg_size);
        return r;
}

int config_load_file(struct config *c, const char *path, char *msg, size_t msg_size)
{
        FILE *f = fopen(path, "re");
        if (!f) {
                int e = errno;
                snprintf(msg, msg_size, "%s: %s", path, strerror(e));
                return -e;
        }
        /* Read errors end the text, as they ended the line-by-line reading before. */
        char *text = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len == cap) {
                        char *t = realloc(text, cap ? cap * 2 : 4096);
                        if (!t) {
                                free(text);
                                fclose(f);
                                snprintf(msg, msg_size, "%s: %s", path, strerror(ENOMEM));
                                return -ENOMEM;
                        }
                        text = t;
                        cap = cap ? cap * 2 : 4096;
                }
                size_t n = fread(text + len, 1, cap - len, f);
                if (n == 0)
                        break;
                len += n;
        }
        fclose(f);
        int r = config_load_string(c, path, text, len, msg, msg_size);
        if (text)
                explicit_bzero(text, cap); /* it may hold plain token secrets */
        free(text);
        return r;
}

/* A static remote_port serves whoever connects: only without tokens (loopback-only mode). */
static int validate_remote_ports(const struct config *c, char *msg, size_t msg_size)
{
        for (size_t i = 0; i < c->nports; i++) {
                if (!c->ports[i].remote_port)
                        continue;
                if (c->ntokens) {
                        snprintf(msg, msg_size, "port '%s' has remote_port = %u, but tokens are configured: a static "
                                 "remote port would bypass leases; remove remote_port and ask for the port with a lease "
                                 "(\"expose\": [\"rfc2217\"]) instead", c->ports[i].name, c->ports[i].remote_port);
                        return -EINVAL;
                }
                for (size_t j = 0; j < i; j++)
                        if (c->ports[j].remote_port == c->ports[i].remote_port) {
                                snprintf(msg, msg_size, "ports '%s' and '%s' have the same remote_port %u",
                                         c->ports[j].name, c->ports[i].name, c->ports[i].remote_port);
                                return -EINVAL;
                        }
        }
        return 0;
}

int config_validate(const struct config *c, char *msg, size_t msg_size)
{
        if (validate_remote_ports(c, msg, msg_size) < 0)
                return -EINVAL;
        for (size_t i = 0; i < c->nports; i++) {
                if (!c->ports[i].url[0]) {
                        snprintf(msg, msg_size, "port '%s' has no url", c->ports[i].name);
                        return -EINVAL;
                }
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(c->ports[i].name, c->ports[j].name)) {
                                snprintf(msg, msg_size, "port name '%s' is used twice", c->ports[i].name);
                                return -EINVAL;
                        }
        }
        for (size_t i = 0; i < c->ntokens; i++) {
                if (!c->tokens[i].role[0] || !c->tokens[i].secret[0]) {
                        snprintf(msg, msg_size, "token '%s' needs both role and secret", c->tokens[i].name);
                        return -EINVAL;
                }
                for (size_t j = 0; j < i; j++) {
                        if (!strcmp(c->tokens[i].name, c->tokens[j].name)) {
                                snprintf(msg, msg_size, "token name '%s' is used twice", c->tokens[i].name);
                                return -EINVAL;
                        }
                        if (!strcmp(c->tokens[i].secret, c->tokens[j].secret)) {
                                snprintf(msg, msg_size, "tokens '%s' and '%s' have the same secret",
                                         c->tokens[j].name, c->tokens[i].name);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}

/* ---- refcounted snapshots and the running-config holder ---- */

struct config_box {
        atomic_uint refs;
        struct config c;
};

static struct config_box *box_of(const struct config *c)
{
        return (struct config_box *)((char *)(uintptr_t)c - offsetof(struct config_box, c));
}

struct config *config_new(void)
{
        struct config_box *b = malloc(sizeof(*b));
        if (!b)
                return NULL;
        atomic_init(&b->refs, 1);
        config_defaults(&b->c);
        return &b->c;
}

const struct config *config_ref(const struct config *c)
{
        if (c)
                atomic_fetch_add_explicit(&box_of(c)->refs, 1, memory_order_relaxed);
        return c;
}

void config_put(const struct config *c)
{
        if (!c)
                return;
        struct config_box *b = box_of(c);
        /* acq_rel: every reader's last use happens before the free below. */
        if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
                explicit_bzero(b, sizeof(*b)); /* token digests */
                free(b);
        }
}

/* The mutex makes "load the pointer, take a reference" one step against the swap's "replace the
 * pointer, drop the holder's reference": a reader never references a config already freed. */
struct config_live {
        pthread_mutex_t mu;
        const struct config *cur; /* holds one reference */
};

int config_live_new(struct config *first, struct config_live **ret)
{
        struct config_live *l = calloc(1, sizeof(*l));
        if (!l || !first) {
                free(l);
                config_put(first);
                return -ENOMEM;
        }
        pthread_mutex_init(&l->mu, NULL);
        l->cur = first;
        *ret = l;
        return 0;
}

struct config_live *config_live_free(struct config_live *l)
{
        if (!l)
                return NULL;
        config_put(l->cur);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
}

const struct config *config_live_get(struct config_live *l)
{
        if (!l)
                return NULL;
        pthread_mutex_lock(&l->mu);
        const struct config *c = config_ref(l->cur);
        pthread_mutex_unlock(&l->mu);
        return c;
}

void config_live_swap(struct config_live *l, struct config *next)
{
        pthread_mutex_lock(&l->mu);
        const struct config *old = l->cur;
        l->cur = next;
        pthread_mutex_unlock(&l->mu);
        config_put(old);
}

static void note_changed(bool differs, const char *key, char *changed, size_t size, int *n)
{
        if (!differs)
                return;
        size_t len = strlen(changed);
        if (len < size)
                snprintf(changed + len, size - len, "%s%s", *n ? ", " : "", key);
        (*n)++;
}

int config_keep_restart_keys(struct config *next, const struct config *running, char *changed, size_t changed_size)
{
        int n = 0;
        if (changed_size)
                changed[0] = '\0';
        note_changed(strcmp(next->listen_host, running->listen_host) || next->listen_port != running->listen_port,
                     "listen", changed, changed_size, &n);
        note_changed(strcmp(next->state_dir, running->state_dir) != 0, "state_dir", changed, changed_size, &n);
        note_changed(strcmp(next->store_url, running->store_url) != 0, "store", changed, changed_size, &n);
        note_changed(strcmp(next->host_name, running->host_name) != 0, "host_name", changed, changed_size, &n);
        note_changed(strcmp(next->advertise_url, running->advertise_url) != 0, "advertise_url", changed, changed_size,
                     &n);
        note_changed(next->host_stale_s != running->host_stale_s, "host_stale_s", changed, changed_size, &n);
        note_changed(strcmp(next->web_root, running->web_root) != 0, "web_root", changed, changed_size, &n);
        note_changed(strcmp(next->stub_dir, running->stub_dir) != 0, "stub_dir", changed, changed_size, &n);
        note_changed(next->udev != running->udev, "udev", changed, changed_size, &n);
        bool origins_differ = next->nws_origins != running->nws_origins;
        for (size_t i = 0; !origins_differ && i < next->nws_origins; i++)
                origins_differ = strcmp(next->ws_origins[i], running->ws_origins[i]) != 0;
        note_changed(origins_differ, "ws_origins", changed, changed_size, &n);
        memcpy(next->listen_host, running->listen_host, sizeof(next->listen_host));
        next->listen_port = running->listen_port;
        memcpy(next->state_dir, running->state_dir, sizeof(next->state_dir));
        memcpy(next->store_url, running->store_url, sizeof(next->store_url));
        memcpy(next->host_name, running->host_name, sizeof(next->host_name));
        memcpy(next->advertise_url, running->advertise_url, sizeof(next->advertise_url));
        next->host_stale_s = running->host_stale_s;
        memcpy(next->web_root, running->web_root, sizeof(next->web_root));
        memcpy(next->stub_dir, running->stub_dir, sizeof(next->stub_dir));
        next->udev = running->udev;
        memcpy(next->ws_origins, running->ws_origins, sizeof(next->ws_origins));
        next->nws_origins = running->nws_origins;
        return n;
}
