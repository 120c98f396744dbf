/* corrald configuration: one INI-style file plus command-line overrides. Every unknown key or bad
 * value is an error naming file, line and key; the daemon does not start on a bad config. The
 * running configuration is an immutable, refcounted snapshot behind one holder (config_live). */
#ifndef CORRAL_CONFIG_H
#define CORRAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "health/health_policy.h"

#define CONFIG_MAX_PORTS 128
#define CONFIG_MAX_USB_IDS 64
#define CONFIG_MAX_TOKENS 64
#define CONFIG_FARM_SECRET_MIN 16 /* farm_secret: at least this many characters */
#define CONFIG_MAX_ORIGINS 16
#define CONFIG_MAX_FIRMWARE_DIRS 8

struct config_port {
        char name[64];    /* board name and id of a static port */
        char url[256];    /* rfc2217://host:port, socket://host:port, /dev/... */
        char family[24];  /* hint: "esp8266", "esp32", "micropython", ... (may be empty) */
        unsigned baud;    /* 0 = default 115200 */
        char power[256];  /* power backend (power/power.h spec), "" = none */
        unsigned remote_port; /* static RFC 2217 port on remote_bind (0 = none); only without tokens */
};

struct config_usb_id {
        unsigned short vid, pid; /* pid 0xFFFF = any pid of that vendor */
};

struct config_token {
        char name[64];
        char role[16];   /* viewer | operator | admin */
        char secret[128];/* always "sha256:<64 hex>" once parsed: a plain secret is hashed by the
                          * parser and its text wiped (auth.c compares digests only) */
};

struct config {
        char listen_host[64];
        unsigned listen_port;
        char state_dir[512];
        char store_url[512];     /* "" = SQLite in state_dir; else "postgresql://..." (start-time only) */
        char host_name[64];      /* this host in the store's hosts table; "" = gethostname() (start-time only) */
        char advertise_url[256]; /* the API URL other hosts and clients reach this one at; "" = the
                                  * listen address (start-time only) */
        char farm_secret[128];   /* the credential hosts of one farm present to each other (console
                                  * relays, farm/farm_auth.h); "" = none: no relaying. Plain text
                                  * (this host sends it), never logged; reloadable */
        unsigned host_stale_s;   /* a host silent this long is dead to the farm (boards offline, jobs
                                  * interrupted); the heartbeat runs at a third of it (start-time only) */
        char web_root[512];
        char stub_dir[512];      /* Espressif flasher-stub JSON directory (optional) */
        bool udev;
        bool auto_identify;      /* identify idle boards that appear (jobs/auto_identify.c); default on */
        size_t max_body;         /* request body limit, bytes */
        size_t max_upload;       /* firmware upload limit, bytes */
        size_t max_library;      /* firmware library quota, bytes (sum of all firmware); 0: none */
        unsigned job_timeout_s;  /* caps the timeout of a job without timeout_s (registry.c) */
        unsigned max_queued_jobs;/* per port */
        unsigned max_viewers;    /* WebSocket viewers per board console (<= CONSOLE_MAX_VIEWERS) */
        unsigned max_log_lines;  /* stored log lines per job, then one truncation marker */
        unsigned max_connections;/* concurrent HTTP + WebSocket connections (after the front door) */
        unsigned max_connections_per_address; /* of those, from one client address */
        unsigned max_pending_per_address;     /* connections without a complete request head yet */
        unsigned head_timeout_s; /* accept to the end of the request head, else 408 and closed */
        struct config_port ports[CONFIG_MAX_PORTS];
        size_t nports;
        struct config_usb_id usb_allow[CONFIG_MAX_USB_IDS], usb_deny[CONFIG_MAX_USB_IDS];
        size_t nusb_allow, nusb_deny;
        struct config_token tokens[CONFIG_MAX_TOKENS];
        size_t ntokens;
        /* ws_origins: extra Origins allowed to open WebSockets, lowercase "scheme://host[:port]"
         * (no Origin and the server's own origin are always allowed). Needs a restart. */
        char ws_origins[CONFIG_MAX_ORIGINS][128];
        size_t nws_origins;
        /* firmware_dirs: the only directories on this host whose files a flash job may name
         * (image_path, parts[].path), and only for an admin; absolute, no trailing '/', no "..".
         * None (the default): no job reads a host file, clients flash from the library. */
        char firmware_dirs[CONFIG_MAX_FIRMWARE_DIRS][512];
        size_t nfirmware_dirs;
        /* Remote ports (daemon/remote/): leases with "expose": ["rfc2217"] get a TCP port on
         * remote_bind from [remote_port_min, remote_port_max] (0-0: any free port), advertised as
         * rfc2217://remote_host:PORT (empty: remote_bind); with remote_same_address only the
         * address that asked for the lease may connect. Need a restart. */
        char remote_bind[64];
        char remote_host[128];
        unsigned remote_port_min, remote_port_max;
        bool remote_same_address;
        struct health_policy health; /* fleet-health knobs (health/health_policy.h) */
};

/* Defaults: listen 127.0.0.1:7070, state dir $STATE_DIRECTORY or /var/lib/corral, udev on. */
void config_defaults(struct config *c);
/* Parse a file into c (on top of what is there). -ENOENT if missing; -EINVAL with
 * "path:line: message" in msg on a bad line. */
int config_load_file(struct config *c, const char *path, char *msg, size_t msg_size);
/* The same parser over text[0..len) (no NUL needed; a NUL byte is an error naming its line);
 * path is only the name used in "path:line: message". */
int config_load_string(struct config *c, const char *path, const char *text, size_t len, char *msg,
                       size_t msg_size);
/* The store key / --store flag: "sqlite" or "" (SQLite in state_dir) or "postgresql://..."; -EINVAL
 * with a message otherwise. */
int config_set_store(struct config *c, const char *v, char *msg, size_t msg_size);
/* Parse one "[port NAME]"-style static port given as "NAME=URL" (the --port flag). */
int config_add_port_arg(struct config *c, const char *arg, char *msg, size_t msg_size);
/* "127.0.0.1:7070", "[::1]:80", ":7070" */
int config_parse_listen(struct config *c, const char *value, char *msg, size_t msg_size);
/* Checks across keys (duplicate port names, ...). */
int config_validate(const struct config *c, char *msg, size_t msg_size);
bool config_url_valid(const char *url);

/* ---- The running configuration: immutable snapshots, swapped whole on SIGHUP ----
 *
 * Ownership rules:
 * - config_new() returns a heap config with the defaults and one reference, owned by the caller.
 *   While only its creator holds it, the creator may fill it (config_load_*, config_add_port_arg,
 *   config_parse_listen, config_keep_restart_keys). It is the only kind of config that may be
 *   passed to config_ref/config_put/config_live_*; a struct config on the stack or in static
 *   storage is a plain value (tests, fuzzers) and never is.
 * - Handing a config to config_live_new() or config_live_swap() publishes it and transfers the
 *   caller's reference to the holder. A published config is never written again, by anyone.
 * - Readers on any thread call config_live_get(): a new reference to the config running now. That
 *   snapshot stays valid and unchanged, whatever reloads happen meanwhile, until the reader calls
 *   config_put(). Take it for one request or one decision, not for a thread's lifetime (a held
 *   snapshot does not see reloads and keeps an old config in memory).
 * - config_live_swap() replaces the running config in one step: a reader sees either all of the
 *   old one or all of the new one. The old one is freed when its last reference is put.
 * - Adding a key: a field, its default in config_defaults() and its branch in the parser. It
 *   applies on SIGHUP by itself; a key that needs a restart is also copied over in
 *   config_keep_restart_keys(). */
struct config *config_new(void);                   /* NULL on ENOMEM */
const struct config *config_ref(const struct config *c); /* one more reference; NULL-safe */
void config_put(const struct config *c);           /* drop a reference; NULL-safe */

struct config_live;
/* Takes over first's reference (also on failure, when first is put). */
int config_live_new(struct config *first, struct config_live **ret);
struct config_live *config_live_free(struct config_live *l); /* NULL-safe; drops its reference */
/* A reference to the running config (config_put it); NULL only when l is NULL. */
const struct config *config_live_get(struct config_live *l);
/* Publish next (takes over the caller's reference); the previous config goes when unreferenced. */
void config_live_swap(struct config_live *l, struct config *next);

/* Keys that need a restart (listen, state_dir, store, host_name, advertise_url, host_stale_s, web_root, stub_dir, udev, ws_origins): copy them
 * from running into next, so a reload leaves them as they run. Names the keys whose value in next
 * differed in changed ("" when none; comma-separated). Returns how many differed. */
int config_keep_restart_keys(struct config *next, const struct config *running, char *changed, size_t changed_size);

#endif
