/* corrald: the board-farm daemon. Parses flags and config, opens the store, starts discovery,
 * the port workers and the HTTP API, then waits for signals (TERM/INT stop, HUP reloads). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <poll.h>
#include <pthread.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "remote/remote.h"
#include "events.h"
#include "firmware/firmware.h"
#include "health/health_sched.h"
#include "http.h"
#include "jobs/auto_identify.h"
#include "jobs/console.h"
#include "log.h"
#include "registry.h"
#include "store/store.h"
#include "store/store_hosts.h"
#include "farm/farm.h"
#include "farm/farm_dispatch.h"
#include "udev/udev_watch.h"
#include "util.h"

#ifndef CORRAL_VERSION
#define CORRAL_VERSION "0.1.0"
#endif

#define DEFAULT_CONFIG "/etc/corral/corrald.conf"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: corrald [OPTIONS]\n"
                "Board-farm daemon: discovers USB serial boards, keeps an inventory, runs flash and run jobs,\n"
                "serves a REST API and a web console.\n\n"
                "  -c, --config PATH       configuration file (default " DEFAULT_CONFIG " if it exists)\n"
                "  -l, --listen ADDR:PORT  listen address (default 127.0.0.1:7070)\n"
                "  -s, --state-dir DIR     state directory (database, firmware)\n"
                "      --store URL         keep inventory and jobs in PostgreSQL (postgresql://...)\n"
                "                          instead of SQLite in the state directory\n"
                "  -p, --port NAME=URL     add a static port (repeatable); URL: rfc2217://HOST:PORT,\n"
                "                          socket://HOST:PORT or /dev/...; optional ,family=F,baud=N\n"
                "      --no-udev           do not watch USB serial devices\n"
                "      --no-auto-identify  do not identify boards that appear (config: auto_identify off)\n"
                "      --web-root DIR      directory with the web console\n"
                "      --stub-dir DIR      Espressif flasher-stub JSON files (optional)\n"
                "  -v, --verbose           debug logging\n"
                "      --version           print the version and exit\n"
                "  -h, --help              this help\n");
}

enum { OPT_NO_UDEV = 256, OPT_WEB_ROOT, OPT_STUB_DIR, OPT_VERSION, OPT_STORE, OPT_NO_AUTO_IDENTIFY };

static const struct option long_opts[] = {
        { "config", required_argument, NULL, 'c' },  { "listen", required_argument, NULL, 'l' },
        { "state-dir", required_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
        { "no-auto-identify", no_argument, NULL, OPT_NO_AUTO_IDENTIFY },
        { "no-udev", no_argument, NULL, OPT_NO_UDEV }, { "web-root", required_argument, NULL, OPT_WEB_ROOT },
        { "stub-dir", required_argument, NULL, OPT_STUB_DIR }, { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, OPT_VERSION }, { "help", no_argument, NULL, 'h' },
        { "store", required_argument, NULL, OPT_STORE },
        { NULL, 0, NULL, 0 },
};

/* Build the configuration: defaults, then the file, then flags. Used at start and on SIGHUP. */
static int build_config(int argc, char **argv, struct config *c, char *msg, size_t msg_size, bool *exit_now)
{
        config_defaults(c);
        const char *path = NULL;
        optind = 1;
        int opt;
        while ((opt = getopt_long(argc, argv, "c:l:s:p:vh", long_opts, NULL)) != -1) {
                if (opt == 'c')
                        path = optarg;
                else if (opt == 'h') {
                        usage(stdout);
                        *exit_now = true;
                        return 0;
                } else if (opt == OPT_VERSION) {
                        printf("corrald %s\n", CORRAL_VERSION);
                        *exit_now = true;
                        return 0;
                } else if (opt == '?') {
                        snprintf(msg, msg_size, "bad command line (see corrald --help)");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                snprintf(msg, msg_size, "unexpected argument '%s' (see corrald --help)", argv[optind]);
                return -EINVAL;
        }
        int r;
        if (path) {
                r = config_load_file(c, path, msg, msg_size);
                if (r < 0)
                        return r;
        } else if (access(DEFAULT_CONFIG, F_OK) == 0) {
                r = config_load_file(c, DEFAULT_CONFIG, msg, msg_size);
                if (r < 0)
                        return r;
        }
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:l:s:p:vh", long_opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        r = config_parse_listen(c, optarg, msg, msg_size);
                        if (r < 0)
                                return r;
                        break;
                case 's':
                        snprintf(c->state_dir, sizeof(c->state_dir), "%s", optarg);
                        break;
                case 'p':
                        r = config_add_port_arg(c, optarg, msg, msg_size);
                        if (r < 0)
                                return r;
                        break;
                case OPT_NO_UDEV:
                        c->udev = false;
                        break;
                case OPT_NO_AUTO_IDENTIFY:
                        c->auto_identify = false;
                        break;
                case OPT_WEB_ROOT:
                        snprintf(c->web_root, sizeof(c->web_root), "%s", optarg);
                        break;
                case OPT_STUB_DIR:
                        snprintf(c->stub_dir, sizeof(c->stub_dir), "%s", optarg);
                        break;
                case OPT_STORE:
                        r = config_set_store(c, optarg, msg, msg_size);
                        if (r < 0)
                                return r;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                default:
                        break;
                }
        }
        return config_validate(c, msg, msg_size);
}

static bool usb_listed(const struct config_usb_id *ids, size_t n, unsigned vid, unsigned pid)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i].vid == vid && (ids[i].pid == 0xFFFF || ids[i].pid == pid))
                        return true;
        return false;
}

struct daemon_ctx {
        struct registry *registry;
        struct config_live *config; /* the running config: udev allow/deny read per event */
};

/* udev thread → registry (plain structs only cross the thread boundary). */
static void on_udev(const struct udev_port_info *info, void *user)
{
        struct daemon_ctx *d = user;
        if (!strcmp(info->action, "ready")) {
                log_info("USB discovery: initial enumeration done");
                return;
        }
        if (!strcmp(info->action, "remove")) {
                registry_port_removed(d->registry, info->identity);
                return;
        }
        unsigned vid = (unsigned)strtoul(info->vid, NULL, 16), pid = (unsigned)strtoul(info->pid, NULL, 16);
        const struct config *cfg = config_live_get(d->config);
        bool hidden = (cfg->nusb_allow && !usb_listed(cfg->usb_allow, cfg->nusb_allow, vid, pid)) ||
                      usb_listed(cfg->usb_deny, cfg->nusb_deny, vid, pid);
        config_put(cfg);
        if (hidden)
                return;
        json_t *hints = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "source", "udev", "syspath",
                                  info->syspath, "vid", info->vid,
                                  "pid", info->pid, "serial", info->serial, "bridge", info->bridge, "family",
                                  info->family[0] ? info->family : "unknown", "devnode", info->devnode, "by_id",
                                  info->by_id, "by_path", info->by_path, "product", info->product);
        struct board_source src = { .identity = info->identity, .name = info->product[0] ? info->product : NULL,
                                    .url = info->devnode, .baud = 115200, .hints = hints };
        registry_port_added(d->registry, &src);
        json_decref(hints);
}

/* SIGHUP: build a whole new config, keep what needs a restart, hand the tokens to the HTTP side,
 * then publish it in one swap. Any failure before the swap leaves the running config as it is. */
static void reload(int argc, char **argv, struct config_live *live, struct http_server *http, struct store *store,
                   struct registry *registry, struct remote *remote)
{
        char msg[1024] = "", changed[256] = "";
        bool exit_now = false;
        struct config *next = config_new();
        if (!next) {
                log_error("reload refused, keeping the running configuration: out of memory");
                return;
        }
        if (build_config(argc, argv, next, msg, sizeof(msg), &exit_now) < 0) {
                log_error("reload refused, keeping the running configuration: %s", msg);
                config_put(next);
                return;
        }
        const struct config *running = config_live_get(live);
        int n = config_keep_restart_keys(next, running, changed, sizeof(changed));
        config_put(running);
        if (n > 0)
                log_warning("reload: %s changed in the file; that takes a restart, the running value stays", changed);
        if (http_reload(http, next, msg, sizeof(msg)) < 0) {
                log_error("reload refused, keeping the running configuration: %s", msg);
                config_put(next);
                return;
        }
        config_live_swap(live, next); /* next is published: read-only from here, for everyone */
        const struct config *now = config_live_get(live);
        health_policy_publish(&now->health);
        store_set_job_log_max(store, now->max_log_lines);
        registry_sync_static(registry, now);
        remote_sync_static(remote, now);
        log_notice("configuration reloaded: %zu static port(s), %zu token(s)", now->nports, now->ntokens);
        config_put(now);
}

/* The configuration from the file and flags, published in *ret_live. Without *ret_live, main
 * returns the status this returns (0 after --help or --version, 1 or 2 on errors). */
static int load_config(int argc, char **argv, struct config_live **ret_live)
{
        char msg[1024] = "";
        bool exit_now = false;
        *ret_live = NULL;
        struct config *first = config_new();
        if (!first) {
                log_error("corrald: out of memory");
                return 1;
        }
        if (build_config(argc, argv, first, msg, sizeof(msg), &exit_now) < 0) {
                log_error("corrald: %s", msg);
                config_put(first);
                return 2;
        }
        if (exit_now) {
                config_put(first);
                return 0;
        }
        if (config_live_new(first, ret_live) < 0) {
                log_error("corrald: out of memory");
                return 1;
        }
        return 0;
}

/* SIGTERM, SIGINT and SIGHUP arrive on the returned signalfd; SIGPIPE is ignored. */
static int block_signals(void)
{
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        return signalfd(-1, &mask, SFD_CLOEXEC);
}

/* Opens the store and tidies what a crash of the previous run left: unfinished uploads, jobs. */
static int open_store(const struct config *boot, struct store **ret)
{
        char msg[1024] = "";
        struct store *store = NULL;
        if (store_open_url(boot->state_dir, boot->store_url, &store, msg, sizeof(msg)) < 0) {
                log_error("corrald: cannot open the store: %s", msg);
                return -EIO;
        }
        store_set_job_log_max(store, boot->max_log_lines);
        char host[64] = "";
        if (boot->host_name[0])
                snprintf(host, sizeof(host), "%s", boot->host_name);
        else if (gethostname(host, sizeof(host)) < 0 || !host[0])
                snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        store_host_set_name(store, host); /* before the sweep below, which only takes this host's jobs */
        store_host_set_stale_ms(store, boot->host_stale_s * 1000LL);
        int stale = firmware_remove_stale_uploads(store); /* temp files of uploads cut short by a crash */
        if (stale > 0)
                log_notice("corrald: removed %d unfinished upload(s) from the firmware directory", stale);
        int shared = firmware_blob_backfill(store); /* library files older than the store's copies */
        if (shared > 0)
                log_notice("corrald: copied %d firmware image(s) into the shared store", shared);
        else if (shared < 0) /* not fatal: other hosts cannot fetch those images until they are uploaded again */
                log_warning("corrald: cannot copy this host's firmware into the shared store: %s", strerror(-shared));
        int n = store_jobs_mark_interrupted(store);
        if (n > 0)
                log_notice("%d job(s) left unfinished by the previous run are now marked interrupted", n);
        *ret = store;
        return 0;
}

/* USB discovery, when configured; boards present now are listed before the daemon says ready. */
static struct udev_watch *start_udev(const struct config *boot, struct daemon_ctx *dctx)
{
        char msg[1024] = "";
        struct udev_watch *uw = NULL;
        if (!boot->udev)
                return NULL;
        /* allow/deny are applied in on_udev() so SIGHUP changes take effect. */
        int r = udev_watch_start(NULL, on_udev, dctx, &uw, msg, sizeof(msg));
        if (r < 0)
                log_warning("USB discovery is off: %s", msg);
        else if (!udev_watch_monitor_live(uw))
                log_notice("no udev daemon runs here: boards present at start are listed, hotplug is not seen");
        if (uw && udev_watch_wait_ready(uw, 5000) < 0)
                log_warning("USB discovery: the start-up enumeration takes longer than 5 s; going on");
        return uw;
}

/* This host's row in the store (name, advertised API URL, version) and its heartbeat. */
struct host_beat {
        char api_url[300];
        uint64_t beat_ms;       /* a third of the farm's bound (host_stale_s) */
        struct registry *registry;
        bool registered;
        uint64_t next_beat;
};

static void host_register(struct store *store, const struct config *boot, unsigned port, struct host_beat *hb)
{
        if (boot->advertise_url[0])
                snprintf(hb->api_url, sizeof(hb->api_url), "%s", boot->advertise_url);
        else
                snprintf(hb->api_url, sizeof(hb->api_url),
                         strchr(boot->listen_host, ':') ? "http://[%s]:%u/" : "http://%s:%u/", boot->listen_host, port);
        int hr = store_host_register(store, hb->api_url, CORRAL_VERSION, util_wall_ms());
        if (hr < 0)
                log_warning("cannot register host %s in the store (%s); retrying with the heartbeat",
                            store_host_name(store), strerror(-hr));
        hb->registered = hr >= 0;
        hb->beat_ms = boot->host_stale_s * 1000u / 3;
        farm_tick(hb->registry, store, util_wall_ms());
        hb->next_beat = util_mono_ms() + hb->beat_ms;
}

/* The heartbeat, when due (a host row gone missing, or never written, is written again). */
static void host_beat_tick(struct store *store, struct host_beat *hb)
{
        if (util_mono_ms() < hb->next_beat)
                return;
        int e = hb->registered ? store_host_heartbeat(store, util_wall_ms()) : -ENOENT;
        bool written = false;
        if (e == -ENOENT) {
                e = store_host_register(store, hb->api_url, CORRAL_VERSION, util_wall_ms());
                written = e >= 0;
        }
        if (written)
                log_notice("host %s registered in the store%s", store_host_name(store),
                           hb->registered ? " again (its row was gone)" : "");
        else if (e < 0 && hb->registered)
                log_warning("host %s: heartbeat failed (%s); retrying", store_host_name(store), strerror(-e));
        hb->registered = e >= 0;
        if (e >= 0)
                farm_tick(hb->registry, store, util_wall_ms());
        hb->next_beat = util_mono_ms() + hb->beat_ms;
}

/* The main thread's life after start-up: the systemd watchdog, SIGHUP reloads, until SIGTERM/SIGINT. */
static void serve_signals(int sfd, int argc, char **argv, struct config_live *live, struct http_server *http,
                          struct store *store, struct registry *registry, struct remote *remote, struct host_beat *hb)
{
        uint64_t wd_usec = 0;
        int wd = sd_watchdog_enabled(0, &wd_usec);
        int tick_ms = wd > 0 ? (int)(wd_usec / 2000) : -1;
        for (;;) {
                struct pollfd pfd = { .fd = sfd, .events = POLLIN };
                uint64_t now = util_mono_ms();
                int wait = hb->next_beat > now ? (int)(hb->next_beat - now) : 0;
                int pr = poll(&pfd, 1, tick_ms >= 0 && tick_ms < wait ? tick_ms : wait);
                if (wd > 0)
                        sd_notify(0, "WATCHDOG=1");
                host_beat_tick(store, hb);
                if (pr <= 0)
                        continue;
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) != sizeof(si))
                        continue;
                if (si.ssi_signo == SIGHUP) {
                        /* systemd's notify-reload protocol: RELOADING=1 with the monotonic time. */
                        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                                   (unsigned long long)util_mono_us());
                        reload(argc, argv, live, http, store, registry, remote);
                        sd_notify(0, "READY=1");
                        continue;
                }
                log_notice("corrald stopping (signal %u)", si.ssi_signo);
                return;
        }
}

/* Everything corrald runs, started in order by parts_start() and stopped in reverse by parts_stop(). */
struct parts {
        struct config_live *live;
        struct store *store;
        struct events *events;
        struct registry *registry;
        struct console_dir *consoles;
        struct daemon_ctx dctx; /* the udev watch holds its address */
        struct auto_identify *autoid;
        struct health_sched *hsched;
        struct udev_watch *uw;
        struct remote *remote;
        struct farm_dispatch *fdisp; /* PostgreSQL only */
        struct http_ctx hctx; /* the HTTP server holds its address */
        struct http_server *http;
};

/* Start the store, the registry and its threads, udev, remote ports and the HTTP server.
 * 0, or -1 with the cause logged (parts_stop() undoes what started). */
static int parts_start(struct parts *p, const struct config *boot)
{
        char msg[1024] = "";
        if (open_store(boot, &p->store) < 0)
                return -1;
        if (events_new(&p->events) < 0 || console_dir_new(&p->consoles) < 0 ||
            registry_new(p->store, p->events, p->consoles, p->live, &p->registry) < 0) {
                log_error("corrald: out of memory");
                return -1;
        }
        p->dctx = (struct daemon_ctx){ .registry = p->registry, .config = p->live };
        if (auto_identify_start(p->events, p->registry, p->live, &p->autoid) < 0)
                log_warning("boards that appear will not be identified on their own: cannot start a thread");
        registry_sync_static(p->registry, boot);
        if (health_sched_start(p->registry, p->store, &p->hsched) < 0)
                log_warning("health checks will not be scheduled: cannot start their thread");
        p->uw = start_udev(boot, &p->dctx);
        if (farm_dispatch_start(p->registry, p->store, p->events, boot->store_url, &p->fdisp) < 0)
                log_warning("jobs posted on other hosts will not run here: cannot start the farm dispatcher");
        else if (p->fdisp)
                registry_on_publish_here(p->registry, farm_dispatch_publish_here);
        int rr = remote_new(p->registry, boot, &p->remote);
        if (rr < 0)
                log_warning("remote ports are off: %s", strerror(-rr));
        else
                registry_on_board_json(p->registry, remote_board_decorate, p->remote);
        remote_sync_static(p->remote, boot);
        p->hctx = (struct http_ctx){ .registry = p->registry, .store = p->store, .events = p->events,
                                     .consoles = p->consoles, .config = p->live, .version = CORRAL_VERSION,
                                     .remote = p->remote };
        if (http_start(&p->hctx, &p->http, msg, sizeof(msg)) < 0) {
                log_error("corrald: %s", msg);
                return -1;
        }
        return 0;
}

static void parts_stop(struct parts *p)
{
        p->http = http_stop(p->http);
        remote_stop(p->remote); /* sessions hand their ports back before the workers stop */
        udev_watch_stop(p->uw);
        p->autoid = auto_identify_stop(p->autoid);
        p->hsched = health_sched_stop(p->hsched);
        registry_on_publish_here(p->registry, NULL);
        p->fdisp = farm_dispatch_stop(p->fdisp);
        p->registry = registry_free(p->registry);
        p->remote = remote_free(p->remote);
        p->consoles = console_dir_free(p->consoles);
        p->events = events_free(p->events);
        p->store = store_close(p->store);
        p->live = config_live_free(p->live);
}

int main(int argc, char **argv)
{
        json_object_seed(0);
        struct parts p = { 0 };
        int rc = load_config(argc, argv, &p.live);
        if (!p.live)
                return rc;
        /* Start-up reads this snapshot; the keys it uses here (state_dir, udev, listen) need a
         * restart to change, so it stays accurate for them after any reload. */
        const struct config *boot = config_live_get(p.live);
        health_policy_publish(&boot->health);
        int sfd = block_signals();
        if (parts_start(&p, boot) < 0) {
                config_put(boot);
                parts_stop(&p);
                close(sfd);
                return 1;
        }
        /* Registered before the line that says it serves (and before READY=1): a client that waits
         * for either finds this host in the store's host list. */
        struct host_beat hb = { .registry = p.registry };
        host_register(p.store, boot, http_port(p.http), &hb);
        log_notice("corrald %s listening on http://%s:%u/ (state in %s)", CORRAL_VERSION, boot->listen_host,
                   http_port(p.http), boot->state_dir);
        sd_notifyf(0, "READY=1\nSTATUS=Serving on %s:%u", boot->listen_host, http_port(p.http));
        config_put(boot);

        serve_signals(sfd, argc, argv, p.live, p.http, p.store, p.registry, p.remote, &hb);
        sd_notify(0, "STOPPING=1");
        parts_stop(&p);
        close(sfd);
        return 0;
}
