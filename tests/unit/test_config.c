/* Specification of corrald.conf and the running config: defaults, every key and its bad values
 * (with file:line), sections, the comment rule, size suffixes, limits, tokens, static ports from
 * the file and from --port, and the reload semantics of the refcounted snapshot swap. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"
#include "auth.h"
#include "config.h"
#include "jobs/console.h"
#include "store/store.h"

#define SECRET "a-long-enough-secret-1"

/* Parse text over the defaults into a fresh heap config; *r gets the result, msg the message. */
static struct config *parse(const char *text, int *r, char *msg, size_t msg_size)
{
        struct config *c = config_new();
        assert_non_null(c);
        msg[0] = '\0';
        *r = config_load_string(c, "t.conf", text, strlen(text), msg, msg_size);
        return c;
}

/* text must parse; returns the config (config_put it). */
static struct config *ok(const char *text)
{
        char msg[512];
        int r;
        struct config *c = parse(text, &r, msg, sizeof(msg));
        if (r != 0)
                fail_msg("'%s' was refused: %s", text, msg);
        return c;
}

/* text must be refused with -EINVAL (or want_rc) and a message containing want. */
static void refused_rc(const char *text, int want_rc, const char *want)
{
        char msg[512];
        int r;
        config_put(parse(text, &r, msg, sizeof(msg)));
        if (r != want_rc)
                fail_msg("'%s': want %d, got %d (%s)", text, want_rc, r, msg);
        if (!strstr(msg, want))
                fail_msg("'%s': message '%s' lacks '%s'", text, msg, want);
}
#define refused(text, want) refused_rc(text, -EINVAL, want)

/* ---- defaults ---- */

static void test_defaults(void **state)
{
        (void)state;
        unsetenv("STATE_DIRECTORY");
        struct config *c = config_new();
        assert_string_equal(c->listen_host, "127.0.0.1");
        assert_int_equal(c->listen_port, 7070);
        assert_string_equal(c->state_dir, "/var/lib/corral");
        assert_string_equal(c->web_root, "/usr/local/share/corral/web");
        assert_string_equal(c->stub_dir, "");
        assert_true(c->udev);
        assert_int_equal(c->max_body, 1024 * 1024);
        assert_int_equal(c->max_upload, 16 * 1024 * 1024);
        assert_int_equal(c->job_timeout_s, 900); /* the longest kind default (flash): unset job_timeout changes nothing */
        assert_int_equal(c->max_queued_jobs, 64);
        assert_int_equal(c->max_viewers, CONSOLE_MAX_VIEWERS);
        assert_int_equal(c->max_log_lines, STORE_JOB_LOG_MAX_LINES);
        assert_int_equal(c->max_connections, 512);
        assert_int_equal(c->nports, 0);
        assert_int_equal(c->ntokens, 0);
        assert_int_equal(c->nusb_allow, 0);
        assert_int_equal(c->nusb_deny, 0);
        assert_int_equal(c->nws_origins, 0);
        char msg[256];
        assert_int_equal(config_validate(c, msg, sizeof(msg)), 0);
        config_put(c);
        /* An empty file and one of only comments change nothing. */
        c = ok("");
        assert_int_equal(c->max_body, 1024 * 1024);
        config_put(c);
}

static void test_state_directory_from_systemd_takes_the_first_entry(void **state)
{
        (void)state;
        setenv("STATE_DIRECTORY", "/var/lib/corral-a:/var/lib/other", 1);
        struct config *c = config_new();
        assert_string_equal(c->state_dir, "/var/lib/corral-a");
        config_put(c);
        setenv("STATE_DIRECTORY", "", 1);
        c = config_new();
        assert_string_equal(c->state_dir, "/var/lib/corral");
        config_put(c);
        unsetenv("STATE_DIRECTORY");
}

/* ---- every main key ---- */

static void test_every_main_key_sets_its_field(void **state)
{
        (void)state;
        struct config *c = ok("listen = 10.0.0.5:8080\n"
                              "state_dir = /srv/corral\n"
                              "web_root = /srv/web\n"
                              "stub_dir = /srv/stubs\n"
                              "udev = off\n"
                              "max_body = 2K\n"
                              "max_upload = 3M\n"
                              "job_timeout = 42\n"
                              "max_queued_jobs = 7\n"
                              "max_viewers = 5\n"
                              "max_log_lines = 100\n"
                              "max_connections = 9\n"
                              "max_connections_per_address = 4\n"
                              "max_pending_per_address = 3\n"
                              "head_timeout = 11\n"
                              "max_library = 5M\n"
                              "firmware_dirs = /srv/fw, /opt/images\n"
                              "udev_allow = 10c4:ea60, 1a86:*\n"
                              "udev_deny = 0403:6001\n"
                              "ws_origins = https://Farm.Example, http://10.0.0.5:7070\n"
                              "[token t]\nrole = viewer\nsecret = " SECRET "\n");
        assert_string_equal(c->listen_host, "10.0.0.5");
        assert_int_equal(c->listen_port, 8080);
        assert_string_equal(c->state_dir, "/srv/corral");
        assert_string_equal(c->web_root, "/srv/web");
        assert_string_equal(c->stub_dir, "/srv/stubs");
        assert_false(c->udev);
        assert_int_equal(c->max_body, 2048);
        assert_int_equal(c->max_upload, 3 * 1024 * 1024);
        assert_int_equal(c->job_timeout_s, 42);
        assert_int_equal(c->max_queued_jobs, 7);
        assert_int_equal(c->max_viewers, 5);
        assert_int_equal(c->max_log_lines, 100);
        assert_int_equal(c->max_connections, 9);
        assert_int_equal(c->max_connections_per_address, 4);
        assert_int_equal(c->max_pending_per_address, 3);
        assert_int_equal(c->head_timeout_s, 11);
        assert_int_equal(c->max_library, 5 * 1024 * 1024);
        assert_int_equal(c->nfirmware_dirs, 2);
        assert_string_equal(c->firmware_dirs[0], "/srv/fw");
        assert_string_equal(c->firmware_dirs[1], "/opt/images");
        assert_int_equal(c->nusb_allow, 2);
        assert_int_equal(c->usb_allow[0].vid, 0x10c4);
        assert_int_equal(c->usb_allow[0].pid, 0xea60);
        assert_int_equal(c->usb_allow[1].vid, 0x1a86);
        assert_int_equal(c->usb_allow[1].pid, 0xFFFF); /* any pid */
        assert_int_equal(c->nusb_deny, 1);
        assert_int_equal(c->usb_deny[0].vid, 0x0403);
        assert_int_equal(c->usb_deny[0].pid, 0x6001);
        assert_int_equal(c->nws_origins, 2);
        assert_string_equal(c->ws_origins[0], "https://farm.example"); /* lowercased */
        assert_string_equal(c->ws_origins[1], "http://10.0.0.5:7070");
        config_put(c);
}

static void test_unknown_key_names_file_line_and_key(void **state)
{
        (void)state;
        refused("# corral\n\nlisten = 127.0.0.1:7070\nmax_bodies = 1K\n", "t.conf:4: unknown key 'max_bodies'");
        refused("max_body 1K\n", "t.conf:1: expected 'key = value'");
}

static void test_listen_forms(void **state)
{
        (void)state;
        struct config *c = ok("listen = [::1]:80\n");
        assert_string_equal(c->listen_host, "::1");
        assert_int_equal(c->listen_port, 80);
        config_put(c);
        c = ok("listen = :7071\n");
        assert_string_equal(c->listen_host, "0.0.0.0");
        assert_int_equal(c->listen_port, 7071);
        config_put(c);
        c = ok("listen = 127.0.0.1:0\n"); /* 0 picks a free port */
        assert_int_equal(c->listen_port, 0);
        config_put(c);
        refused("listen = localhost\n", "t.conf:1: listen address 'localhost' must be HOST:PORT");
        refused("listen = 127.0.0.1:65536\n", "t.conf:1: listen port in '127.0.0.1:65536' must be 0..65535");
        refused("listen = 127.0.0.1:\n", "must be 0..65535");
        refused("listen = 127.0.0.1:80x\n", "must be 0..65535");
        char longhost[200];
        snprintf(longhost, sizeof(longhost), "listen = %0100d:80\n", 1);
        refused(longhost, "t.conf:1: listen host in");
}

static void test_paths_must_be_absolute(void **state)
{
        (void)state;
        refused("state_dir = var/lib/corral\n", "t.conf:1: 'state_dir' must be an absolute path");
        refused("\nweb_root = web\n", "t.conf:2: 'web_root' must be an absolute path");
        refused("stub_dir = ./stubs\n", "t.conf:1: 'stub_dir' must be an absolute path");
        char text[700] = "state_dir = /";
        memset(text + 13, 'a', 600);
        text[613] = '\0';
        refused(text, "'state_dir' must be an absolute path"); /* too long for the field */
}

static void test_booleans(void **state)
{
        (void)state;
        const char *yes[] = { "on", "yes", "true", "1" }, *no[] = { "off", "no", "false", "0" };
        char line[64];
        for (size_t i = 0; i < 4; i++) {
                snprintf(line, sizeof(line), "udev = %s\n", no[i]);
                struct config *c = ok(line);
                assert_false(c->udev);
                config_put(c);
                snprintf(line, sizeof(line), "udev = off\nudev = %s\n", yes[i]);
                c = ok(line);
                assert_true(c->udev);
                config_put(c);
        }
        refused("udev = maybe\n", "t.conf:1: 'udev' must be on or off, not 'maybe'");
        refused("udev = ON\n", "'udev' must be on or off");
}

static void test_size_suffixes(void **state)
{
        (void)state;
        static const struct { const char *v; size_t want; } good[] = {
                { "1048576", 1048576 }, { "64K", 64 * 1024 }, { "64k", 64 * 1024 }, { "16M", 16 * 1024 * 1024 },
                { "16m", 16 * 1024 * 1024 }, { "2G", 2ULL * 1024 * 1024 * 1024 }, { "1", 1 },
        };
        char line[128];
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                snprintf(line, sizeof(line), "max_body = %s\nmax_upload = %s\n", good[i].v, good[i].v);
                struct config *c = ok(line);
                assert_int_equal(c->max_body, good[i].want);
                assert_int_equal(c->max_upload, good[i].want);
                config_put(c);
        }
        static const char *bad[] = { "0", "0K", "-1", "+1K", "1T", "1KB", "K", "1.5M", "", "lots",
                                     "99999999999999999999", "18014398509481984K", "17179869184G" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(line, sizeof(line), "# sizes\nmax_body = %s\n", bad[i]);
                char want[160];
                snprintf(want, sizeof(want), "t.conf:2: 'max_body' must be a size like 1048576, 64K or 16M, not '%s'", bad[i]);
                refused(line, want);
                snprintf(line, sizeof(line), "max_upload = %s\n", bad[i]);
                refused(line, "t.conf:1: 'max_upload' must be a size");
        }
}

static void test_whole_number_keys_and_their_ranges(void **state)
{
        (void)state;
        static const struct { const char *key; unsigned lo, hi; const char *msg; } keys[] = {
                { "job_timeout", 1, 86400, "'job_timeout' must be a whole number from 1 to 86400" },
                { "max_queued_jobs", 1, 86400, "'max_queued_jobs' must be a whole number from 1 to 86400" },
                { "max_viewers", 1, CONSOLE_MAX_VIEWERS, "'max_viewers' must be a whole number from 1 to 64" },
                { "max_log_lines", 1, 1000000, "'max_log_lines' must be a whole number from 1 to 1000000" },
                { "max_connections", 1, 65536, "'max_connections' must be a whole number from 1 to 65536" },
        };
        char line[128];
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                unsigned edge[2] = { keys[i].lo, keys[i].hi };
                for (int e = 0; e < 2; e++) {
                        snprintf(line, sizeof(line), "%s = %u\n", keys[i].key, edge[e]);
                        config_put(ok(line));
                }
                const char *badv[] = { "0", "-1", "many", "1.5", "5s", "" };
                for (size_t b = 0; b < sizeof(badv) / sizeof(badv[0]); b++) {
                        snprintf(line, sizeof(line), "\n\n%s = %s\n", keys[i].key, badv[b]);
                        char want[200];
                        snprintf(want, sizeof(want), "t.conf:3: %s, not '%s'", keys[i].msg, badv[b]);
                        refused(line, want);
                }
                snprintf(line, sizeof(line), "%s = %u\n", keys[i].key, keys[i].hi + 1);
                refused(line, keys[i].msg);
        }
        struct config *c = ok("job_timeout = 86400\nmax_connections = 65536\n");
        assert_int_equal(c->job_timeout_s, 86400);
        assert_int_equal(c->max_connections, 65536);
        config_put(c);
}

static void test_usb_lists(void **state)
{
        (void)state;
        struct config *c = ok("udev_deny = 0403:6001,10C4:EA60 1a86:*\nudev_deny = 2341:0043\n");
        assert_int_equal(c->nusb_deny, 4); /* repeated keys add to the list */
        assert_int_equal(c->usb_deny[1].vid, 0x10c4);
        assert_int_equal(c->usb_deny[1].pid, 0xea60);
        assert_int_equal(c->usb_deny[2].pid, 0xFFFF);
        assert_int_equal(c->usb_deny[3].vid, 0x2341);
        config_put(c);
        refused("udev_allow = 10c4\n", "t.conf:1: 'udev_allow' must be a list of VID:PID");
        refused("udev_allow = 10c4:ea600\n", "'udev_allow' must be a list of VID:PID");
        refused("udev_deny = zzzz:0001\n", "'udev_deny' must be a list of VID:PID");
        refused("udev_deny = 10c4:*x\n", "'udev_deny' must be a list of VID:PID");
        char text[1024] = "udev_allow =";
        for (int i = 0; i <= CONFIG_MAX_USB_IDS; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), " %04x:0001", i + 1);
        refused_rc(text, -E2BIG, "'udev_allow' must be a list of VID:PID");
}

static void test_ws_origins(void **state)
{
        (void)state;
        struct config *c = ok("ws_origins = http://[::1]:7070, https://a-b.example\n");
        assert_int_equal(c->nws_origins, 2);
        assert_string_equal(c->ws_origins[0], "http://[::1]:7070");
        config_put(c);
        static const char *bad[] = { "ftp://farm.example", "https://farm.example/path", "https://", "farm.example",
                                     "https://farm.example:0", "https://farm.example:99999", "https://x:" };
        char line[256];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(line, sizeof(line), "ws_origins = %s\n", bad[i]);
                refused(line, "t.conf:1: 'ws_origins' must be a comma-separated list of origins");
        }
        char text[1024] = "ws_origins =";
        for (int i = 0; i <= CONFIG_MAX_ORIGINS; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), " http://h%d.example", i);
        refused_rc(text, -E2BIG, "'ws_origins' lists more than 16 origins");
}

/* ---- comments, blank lines, line ends ---- */

static void test_comment_rule(void **state)
{
        (void)state;
        /* '#' and ';' start a comment only as the first non-blank character of a line. */
        struct config *c = ok("# a comment\n; another\n   # indented\n\t; tab\n\n   \nmax_body = 2K\n");
        assert_int_equal(c->max_body, 2048);
        config_put(c);
        /* After a value it is part of the value, which then is not a size. */
        refused("max_body = 2K # two kilobytes\n", "t.conf:1: 'max_body' must be a size like 1048576, 64K or 16M, not '2K # two kilobytes'");
        refused("[port a] # bench\n", "t.conf:1: a section is written [port NAME] or [token NAME]");
        /* CRLF files, no final newline, blanks around '=' */
        c = ok("max_body = 3K\r\nmax_upload=4K");
        assert_int_equal(c->max_body, 3072);
        assert_int_equal(c->max_upload, 4096);
        config_put(c);
        c = ok("   max_viewers    =    3   \n");
        assert_int_equal(c->max_viewers, 3);
        config_put(c);
}

static void test_long_lines_and_nul_bytes(void **state)
{
        (void)state;
        char text[1200];
        memset(text, '#', sizeof(text));
        memcpy(text + 1100, "\nmax_body=1K\n", 14);
        refused(text, "t.conf:1: line too long (at most 1022 characters)");
        memset(text, ' ', 1000);
        memcpy(text + 1000, "max_body = 5K\n", 15);
        struct config *c = ok(text); /* 1014 characters fit */
        assert_int_equal(c->max_body, 5 * 1024);
        config_put(c);
        /* A NUL byte (a binary file) is named as such, with its line. */
        static const char nul[] = "max_body = 6K\nmax_upload = 7K\0garbage\n";
        char msg[256];
        c = config_new();
        assert_int_equal(config_load_string(c, "t.conf", nul, sizeof(nul) - 1, msg, sizeof(msg)), -EINVAL);
        assert_string_equal(msg, "t.conf:2: a NUL byte in the line (the config is a text file)");
        config_put(c);
}

/* ---- sections: ports and tokens ---- */

static void test_port_sections(void **state)
{
        (void)state;
        struct config *c = ok("max_body = 1K\n"
                              "[port bench-esp8266]\nurl = rfc2217://10.0.0.5:4000\nfamily = esp8266\nbaud = 921600\n"
                              "[port usb.0]\nurl = /dev/ttyUSB0\n"
                              "[ port  spaced_name ]\nurl = socket://host:1\n");
        assert_int_equal(c->nports, 3);
        assert_string_equal(c->ports[0].name, "bench-esp8266");
        assert_string_equal(c->ports[0].url, "rfc2217://10.0.0.5:4000");
        assert_string_equal(c->ports[0].family, "esp8266");
        assert_int_equal(c->ports[0].baud, 921600);
        assert_string_equal(c->ports[1].name, "usb.0");
        assert_int_equal(c->ports[1].baud, 0); /* default */
        assert_string_equal(c->ports[1].family, "");
        assert_string_equal(c->ports[2].name, "spaced_name");
        config_put(c);

        refused("[port a]\nurl = telnet://x:1\n", "t.conf:2: 'url' must be rfc2217://HOST:PORT, socket://HOST:PORT or /dev/PATH, not 'telnet://x:1'");
        refused("[port a]\nurl = /dev/x\nbaud = 299\n", "t.conf:3: 'baud' must be a number from 300 to 12000000, not '299'");
        refused("[port a]\nurl = /dev/x\nbaud = 12000001\n", "'baud' must be a number from 300 to 12000000");
        refused("[port a]\nurl = /dev/x\nfamily = esp 32\n", "t.conf:3: 'family' must be a short word");
        refused("[port a]\nurl = /dev/x\nfamily = abcdefghijklmnopqrstuvwxyz\n", "'family' must be a short word");
        /* keys after a section header belong to it: a main key there is unknown */
        refused("[port a]\nurl = /dev/x\nmax_body = 1K\n",
                "t.conf:3: unknown key 'max_body' in a [port] section (known: url, family, baud, power, remote_port)");
        refused("[port a]\nfamily = esp32\n", "port 'a' has no url");
        refused("[port a]\nurl = /dev/x\n[port a]\nurl = /dev/y\n", "port name 'a' is used twice");
        refused("[port]\n", "t.conf:1: a section is written [port NAME] or [token NAME]");
        refused("[port a b]\n", "t.conf:1: a section is written");
        refused("[port a/b]\n", "t.conf:1: a section is written");
        refused("[port a\n", "t.conf:1: a section is written");
        refused("\n[board a]\n", "t.conf:2: unknown section '[board ...]' (known: port, token)");
}

/* remote_port: a static RFC 2217 port, only without tokens (it would bypass leases). */
static void test_static_remote_port(void **state)
{
        (void)state;
        struct config *c = ok("[port a]\nurl = /dev/x\nremote_port = 4001\n[port b]\nurl = /dev/y\n");
        assert_int_equal(c->ports[0].remote_port, 4001);
        assert_int_equal(c->ports[1].remote_port, 0);
        config_put(c);
        refused("[port a]\nurl = /dev/x\nremote_port = 0\n", "t.conf:3: 'remote_port' must be a TCP port from 1 to 65535, not '0'");
        refused("[port a]\nurl = /dev/x\nremote_port = 65536\n", "'remote_port' must be a TCP port from 1 to 65535");
        refused("[port a]\nurl = /dev/x\nremote_port = 4001\n[port b]\nurl = /dev/y\nremote_port = 4001\n",
                "ports 'a' and 'b' have the same remote_port 4001");
        refused("[port a]\nurl = /dev/x\nremote_port = 4001\n[token t]\nrole = operator\nsecret = " SECRET "\n",
                "port 'a' has remote_port = 4001, but tokens are configured: a static remote port would bypass leases");
}

static void test_token_sections(void **state)
{
        (void)state;
        char want[72];
        assert_int_equal(digest_sha256_hex(SECRET, strlen(SECRET), want), 0);
        struct config *c = ok("[token ci]\nrole = operator\nsecret = " SECRET "\n"
                              "[token boss]\nrole = admin\nsecret = SHA256:"
                              "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n"
                              "[token eye]\nsecret = viewer-secret-000001\nrole = viewer\n");
        assert_int_equal(c->ntokens, 3);
        assert_string_equal(c->tokens[0].name, "ci");
        assert_string_equal(c->tokens[0].role, "operator");
        assert_memory_equal(c->tokens[0].secret, "sha256:", 7);
        assert_string_equal(c->tokens[0].secret + 7, want);
        assert_string_equal(c->tokens[1].secret, "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
        assert_string_equal(c->tokens[2].role, "viewer");
        config_put(c);

        refused("[token t]\nrole = root\nsecret = " SECRET "\n", "t.conf:2: 'role' must be viewer, operator or admin, not 'root'");
        refused("[token t]\nrole = admin\nsecret = short\n", "t.conf:3: 'secret' must be 16 to 127 characters");
        refused("[token t]\nrole = admin\nsecret = sha256:abc\n", "t.conf:3: 'secret = sha256:...' wants 64 hex digits");
        refused("[token t]\nrole = admin\n", "token 't' needs both role and secret");
        refused("[token t]\nsecret = " SECRET "\n", "token 't' needs both role and secret");
        refused("[token t]\nrole = admin\nname = x\n", "t.conf:3: unknown key 'name' in a [token] section (known: role, secret)");
        refused("[token t]\nrole = admin\nsecret = " SECRET "\n[token t]\nrole = viewer\nsecret = other-secret-0000001\n",
                "token name 't' is used twice");
        refused("[token a]\nrole = admin\nsecret = " SECRET "\n[token b]\nrole = viewer\nsecret = " SECRET "\n",
                "tokens 'a' and 'b' have the same secret");
}

static void test_how_many_ports_and_tokens(void **state)
{
        (void)state;
        size_t cap = (CONFIG_MAX_PORTS + 1) * 48;
        char *text = calloc(1, cap);
        for (int i = 0; i < CONFIG_MAX_PORTS; i++)
                snprintf(text + strlen(text), cap - strlen(text), "[port p%d]\nurl = /dev/tty%d\n", i, i);
        struct config *c = ok(text);
        assert_int_equal(c->nports, CONFIG_MAX_PORTS);
        config_put(c);
        snprintf(text + strlen(text), cap - strlen(text), "[port one-more]\nurl = /dev/x\n");
        char want[64];
        snprintf(want, sizeof(want), "t.conf:%d: too many ports (at most %d)", 2 * CONFIG_MAX_PORTS + 1, CONFIG_MAX_PORTS);
        refused_rc(text, -E2BIG, want);
        free(text);

        cap = (CONFIG_MAX_TOKENS + 1) * 96;
        text = calloc(1, cap);
        for (int i = 0; i < CONFIG_MAX_TOKENS; i++)
                snprintf(text + strlen(text), cap - strlen(text), "[token t%d]\nrole = viewer\nsecret = secret-number-%06d\n", i, i);
        c = ok(text);
        assert_int_equal(c->ntokens, CONFIG_MAX_TOKENS);
        config_put(c);
        snprintf(text + strlen(text), cap - strlen(text), "[token extra]\n");
        snprintf(want, sizeof(want), "t.conf:%d: too many tokens (at most %d)", 3 * CONFIG_MAX_TOKENS + 1, CONFIG_MAX_TOKENS);
        refused_rc(text, -E2BIG, want);
        free(text);
}

/* ---- --port NAME=URL[,family=F][,baud=N] and URLs ---- */

static void test_port_flag(void **state)
{
        (void)state;
        char msg[256];
        struct config *c = config_new();
        assert_int_equal(config_add_port_arg(c, "a=socket://127.0.0.1:4000,family=esp32,baud=921600", msg, sizeof(msg)), 0);
        assert_int_equal(config_add_port_arg(c, "b=/dev/ttyACM0", msg, sizeof(msg)), 0);
        assert_int_equal(c->nports, 2);
        assert_string_equal(c->ports[0].name, "a");
        assert_string_equal(c->ports[0].url, "socket://127.0.0.1:4000");
        assert_string_equal(c->ports[0].family, "esp32");
        assert_int_equal(c->ports[0].baud, 921600);
        assert_string_equal(c->ports[1].url, "/dev/ttyACM0");
        static const struct { const char *arg, *want; } bad[] = {
                { "no-equals", "--port wants NAME=URL, not 'no-equals'" },
                { "=socket://h:1", "--port name in '=socket://h:1' must be 1..63 characters" },
                { "a b=socket://h:1", "--port name 'a b' may only use letters, digits" },
                { "c=telnet://h:1", "'url' must be rfc2217://HOST:PORT" },
                { "c=/dev/x,speed", "--port option 'speed' wants KEY=VALUE" },
                { "c=/dev/x,speed=9600", "unknown key 'speed' in a [port] section" },
                { "c=/dev/x,baud=1", "'baud' must be a number from 300 to 12000000" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                msg[0] = '\0';
                assert_int_equal(config_add_port_arg(c, bad[i].arg, msg, sizeof(msg)), -EINVAL);
                if (!strstr(msg, bad[i].want))
                        fail_msg("--port %s: '%s' lacks '%s'", bad[i].arg, msg, bad[i].want);
        }
        assert_int_equal(c->nports, 2); /* refused ones are not added */
        /* the same name in the file and a flag */
        assert_int_equal(config_add_port_arg(c, "a=/dev/y", msg, sizeof(msg)), 0);
        assert_int_equal(config_validate(c, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "port name 'a' is used twice"));
        config_put(c);
}

static void test_url_forms(void **state)
{
        (void)state;
        assert_true(config_url_valid("rfc2217://10.0.0.5:4000"));
        assert_true(config_url_valid("socket://host:65535"));
        assert_true(config_url_valid("socket://[::1]:1"));
        assert_true(config_url_valid("/dev/ttyUSB0"));
        assert_false(config_url_valid(NULL));
        assert_false(config_url_valid(""));
        assert_false(config_url_valid("/"));
        assert_false(config_url_valid("dev/ttyUSB0"));
        assert_false(config_url_valid("socket://host"));
        assert_false(config_url_valid("socket://:4000"));
        assert_false(config_url_valid("socket://host:0"));
        assert_false(config_url_valid("socket://host:65536"));
        assert_false(config_url_valid("socket://host:40x"));
        assert_false(config_url_valid("tcp://host:4000"));
}

static void test_load_file(void **state)
{
        (void)state;
        char dir[] = "/tmp/corral-config-XXXXXX", path[64], msg[256];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/corrald.conf", dir);
        struct config *c = config_new();
        assert_int_equal(config_load_file(c, path, msg, sizeof(msg)), -ENOENT);
        char want[96];
        snprintf(want, sizeof(want), "%s: No such file or directory", path);
        assert_string_equal(msg, want);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("max_body = 8K\n[port x]\nurl = /dev/x\nbaud = slow\n", f);
        fclose(f);
        assert_int_equal(config_load_file(c, path, msg, sizeof(msg)), -EINVAL);
        snprintf(want, sizeof(want), "%s:4: 'baud' must be a number", path);
        assert_non_null(strstr(msg, want));
        config_put(c);
        f = fopen(path, "w");
        fputs("max_body = 8K\n", f);
        fclose(f);
        c = config_new();
        assert_int_equal(config_load_file(c, path, msg, sizeof(msg)), 0);
        assert_int_equal(c->max_body, 8192);
        config_put(c);
        unlink(path);
        rmdir(dir);
}

/* ---- the running config: snapshots, swap, restart-only keys ---- */

static void test_live_get_returns_the_published_snapshot_until_a_swap(void **state)
{
        (void)state;
        struct config *first = ok("max_body = 1K\n");
        struct config_live *live = NULL;
        assert_int_equal(config_live_new(first, &live), 0);
        const struct config *a = config_live_get(live), *a2 = config_live_get(live);
        assert_ptr_equal(a, first);
        assert_ptr_equal(a2, first);
        config_put(a2);

        struct config *next = ok("max_body = 4K\n");
        config_live_swap(live, next);
        /* A reader holding the old snapshot keeps reading it, whole and unchanged. */
        assert_int_equal(a->max_body, 1024);
        const struct config *b = config_live_get(live);
        assert_ptr_equal(b, next);
        assert_int_equal(b->max_body, 4096);
        config_put(a); /* the last reference to the old one: freed here (LeakSanitizer sees it otherwise) */
        config_put(b);

        /* Many swaps with no reader in between free every replaced config. */
        for (int i = 0; i < 100; i++)
                config_live_swap(live, config_new());
        const struct config *c = config_live_get(live);
        assert_int_equal(c->max_body, 1024 * 1024);
        config_put(c);
        assert_null(config_live_free(live));
}

static void test_ref_put_and_null_safety(void **state)
{
        (void)state;
        struct config *c = config_new();
        assert_ptr_equal(config_ref(c), c);
        config_put(c);
        config_put(c);
        config_put(NULL);
        assert_null(config_ref(NULL));
        assert_null(config_live_get(NULL));
        assert_null(config_live_free(NULL));
        struct config_live *live = (struct config_live *)1;
        assert_int_equal(config_live_new(NULL, &live), -ENOMEM);
        assert_ptr_equal(live, (struct config_live *)1); /* untouched on failure */
}

static void test_store_key_takes_sqlite_or_a_postgresql_url(void **state)
{
        (void)state;
        struct config *c = ok("store = postgresql://corral@db.example/farm?sslmode=require\n");
        assert_string_equal(c->store_url, "postgresql://corral@db.example/farm?sslmode=require");
        config_put(c);
        c = ok("store = postgres:///farm?host=/run/postgresql\nstore = sqlite\n");
        assert_string_equal(c->store_url, ""); /* the last one wins: SQLite in state_dir */
        config_put(c);
        c = ok("\n");
        assert_string_equal(c->store_url, ""); /* the default */
        config_put(c);
        refused("store = mysql://db/farm\n", "t.conf:1: 'store' must be sqlite or a postgresql://... URL");
        refused("store = /var/lib/corral/corral.db\n", "'store' must be sqlite or a postgresql://... URL");
        char text[700] = "store = postgresql://";
        memset(text + strlen(text), 'h', 600);
        strcat(text, "\n");
        refused(text, "'store' is longer than 511 bytes");
}

static void test_host_name_and_advertise_url(void **state)
{
        (void)state;
        struct config *c = ok("\n");
        assert_string_equal(c->host_name, "");     /* the machine's host name, at start */
        assert_string_equal(c->advertise_url, ""); /* the listen address, at start */
        config_put(c);
        c = ok("host_name = rack-2.lab\nadvertise_url = https://rack-2.lab:7070/\n");
        assert_string_equal(c->host_name, "rack-2.lab");
        assert_string_equal(c->advertise_url, "https://rack-2.lab:7070/");
        config_put(c);
        refused("host_name = rack 2\n", "t.conf:1: 'host_name' must be 1 to 63 letters, digits, '-', '_' or '.', not 'rack 2'");
        refused("advertise_url = rack-2:7070\n", "'advertise_url' must be an http:// or https:// URL of at most 255 bytes");
        refused("advertise_url = http://a b/\n", "'advertise_url' must be an http:// or https:// URL");
}

static void test_host_stale_s(void **state)
{
        (void)state;
        struct config *c = ok("\n");
        assert_int_equal(c->host_stale_s, 15); /* the farm's bound: heartbeat every 5 s */
        config_put(c);
        c = ok("host_stale_s = 3\n");
        assert_int_equal(c->host_stale_s, 3);
        config_put(c);
        refused("host_stale_s = 1\n", "'host_stale_s' must be a whole number of seconds from 2 to 3600, not '1'");
        refused("host_stale_s = -5\n", "'host_stale_s' must be a whole number of seconds from 2 to 3600, not '-5'");
        refused("host_stale_s = 10s\n", "'host_stale_s' must be a whole number of seconds from 2 to 3600, not '10s'");
        struct config *running = ok("host_stale_s = 3\n"), *next = ok("host_stale_s = 30\n");
        char changed[64];
        assert_int_equal(config_keep_restart_keys(next, running, changed, sizeof(changed)), 1);
        assert_string_equal(changed, "host_stale_s");
        assert_int_equal(next->host_stale_s, 3);
        config_put(next);
        config_put(running);
}

static void test_a_changed_store_needs_a_restart(void **state)
{
        (void)state;
        struct config *running = ok("store = postgresql:///a\nhost_name = one\nadvertise_url = http://one/\n");
        struct config *next = ok("store = sqlite\nhost_name = two\nadvertise_url = http://two/\n");
        char changed[64];
        assert_int_equal(config_keep_restart_keys(next, running, changed, sizeof(changed)), 3);
        assert_string_equal(changed, "store, host_name, advertise_url");
        assert_string_equal(next->store_url, "postgresql:///a");
        assert_string_equal(next->host_name, "one");
        assert_string_equal(next->advertise_url, "http://one/");
        config_put(next);
        config_put(running);
}

static void test_restart_keys_keep_the_running_values_and_are_named(void **state)
{
        (void)state;
        struct config *running = ok("listen = 127.0.0.1:7070\nstate_dir = /a\nweb_root = /w\nstub_dir = /s\n"
                                    "ws_origins = https://one.example\nmax_body = 1K\n");
        struct config *next = ok("listen = 0.0.0.0:80\nstate_dir = /b\nweb_root = /w\nstub_dir = /t\nudev = off\n"
                                 "ws_origins = https://two.example\nmax_body = 4K\n"
                                 "[port p]\nurl = /dev/x\n[token t]\nrole = admin\nsecret = " SECRET "\n");
        char changed[128];
        assert_int_equal(config_keep_restart_keys(next, running, changed, sizeof(changed)), 5);
        assert_string_equal(changed, "listen, state_dir, stub_dir, udev, ws_origins");
        assert_string_equal(next->listen_host, "127.0.0.1");
        assert_int_equal(next->listen_port, 7070);
        assert_string_equal(next->state_dir, "/a");
        assert_string_equal(next->stub_dir, "/s");
        assert_true(next->udev);
        assert_int_equal(next->nws_origins, 1);
        assert_string_equal(next->ws_origins[0], "https://one.example");
        /* what reloads live is left as the file says */
        assert_int_equal(next->max_body, 4096);
        assert_int_equal(next->nports, 1);
        assert_int_equal(next->ntokens, 1);
        /* nothing differs now; a tiny buffer is not overrun */
        assert_int_equal(config_keep_restart_keys(next, running, changed, sizeof(changed)), 0);
        assert_string_equal(changed, "");
        struct config *third = ok("listen = 127.0.0.1:1\nstate_dir = /c\n");
        char tiny[8];
        assert_int_equal(config_keep_restart_keys(third, running, tiny, sizeof(tiny)), 5);
        assert_int_equal(strlen(tiny), 7);
        config_put(third);
        config_put(next);
        config_put(running);
}

/* Readers on several threads while the main thread swaps: each snapshot read is one whole
 * config (its fields agree with each other), never a mix and never a freed one (ASan). */
struct stress {
        struct config_live *live;
        atomic_int stop;
        long reads, mixed;
};

static void *reader(void *arg)
{
        struct stress *s = arg;
        long reads = 0, mixed = 0;
        while (!atomic_load(&s->stop)) {
                const struct config *c = config_live_get(s->live);
                size_t k = c->max_body / 1024;
                if (c->max_upload != k * 2048 || c->job_timeout_s != k || c->nports != k % 4 ||
                    (c->nports && c->ports[c->nports - 1].baud != 300 + k))
                        mixed++;
                config_put(c);
                reads++;
        }
        s->reads += reads; /* joined before read; each thread writes its own struct */
        s->mixed += mixed;
        return NULL;
}

static void test_swaps_under_concurrent_readers_are_whole_and_safe(void **state)
{
        (void)state;
        struct stress s[4];
        struct config_live *live = NULL;
        struct config *first = config_new();
        first->max_body = 1024, first->max_upload = 2048, first->job_timeout_s = 1, first->nports = 1;
        first->ports[0].baud = 301;
        assert_int_equal(config_live_new(first, &live), 0);
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
                memset(&s[i], 0, sizeof(s[i]));
                atomic_init(&s[i].stop, 0);
                s[i].live = live;
                assert_int_equal(pthread_create(&th[i], NULL, reader, &s[i]), 0);
        }
        for (unsigned k = 2; k < 5000; k++) {
                struct config *n = config_new();
                n->max_body = k * 1024, n->max_upload = k * 2048, n->job_timeout_s = k, n->nports = k % 4;
                for (size_t p = 0; p < n->nports; p++)
                        n->ports[p].baud = 300 + k;
                config_live_swap(live, n);
        }
        long reads = 0, mixed = 0;
        for (int i = 0; i < 4; i++) {
                atomic_store(&s[i].stop, 1);
                pthread_join(th[i], NULL);
                reads += s[i].reads;
                mixed += s[i].mixed;
        }
        assert_true(reads > 0);
        assert_int_equal(mixed, 0);
        config_live_free(live);
}

static void test_remote_port_keys(void **state)
{
        (void)state;
        struct config *c = ok("# remote ports\n");
        assert_string_equal(c->remote_bind, "127.0.0.1");
        assert_true(c->remote_same_address);
        assert_int_equal(c->remote_port_min, 0);
        config_put(c);
        c = ok("remote_bind = 0.0.0.0\nremote_host = farm.lan\nremote_ports = 7100-7199\nremote_same_address = off\n");
        assert_string_equal(c->remote_bind, "0.0.0.0");
        assert_string_equal(c->remote_host, "farm.lan");
        assert_int_equal(c->remote_port_min, 7100);
        assert_int_equal(c->remote_port_max, 7199);
        assert_false(c->remote_same_address);
        config_put(c);
        c = ok("remote_ports = 7200\n");
        assert_int_equal(c->remote_port_min, 7200);
        assert_int_equal(c->remote_port_max, 7200);
        config_put(c);
        refused("remote_ports = 7199-7100\n", "remote_ports");
        refused("remote_ports = 70000\n", "remote_ports");
        refused("remote_ports = 7100-x\n", "remote_ports");
        refused("remote_same_address = maybe\n", "on or off");
        refused("remote_bind = a b\n", "remote_bind");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_remote_port_keys),
                cmocka_unit_test(test_state_directory_from_systemd_takes_the_first_entry),
                cmocka_unit_test(test_every_main_key_sets_its_field),
                cmocka_unit_test(test_unknown_key_names_file_line_and_key),
                cmocka_unit_test(test_listen_forms),
                cmocka_unit_test(test_paths_must_be_absolute),
                cmocka_unit_test(test_store_key_takes_sqlite_or_a_postgresql_url),
                cmocka_unit_test(test_host_name_and_advertise_url),
                cmocka_unit_test(test_host_stale_s),
                cmocka_unit_test(test_a_changed_store_needs_a_restart),
                cmocka_unit_test(test_booleans),
                cmocka_unit_test(test_size_suffixes),
                cmocka_unit_test(test_whole_number_keys_and_their_ranges),
                cmocka_unit_test(test_usb_lists),
                cmocka_unit_test(test_ws_origins),
                cmocka_unit_test(test_comment_rule),
                cmocka_unit_test(test_long_lines_and_nul_bytes),
                cmocka_unit_test(test_port_sections),
                cmocka_unit_test(test_static_remote_port),
                cmocka_unit_test(test_token_sections),
                cmocka_unit_test(test_how_many_ports_and_tokens),
                cmocka_unit_test(test_port_flag),
                cmocka_unit_test(test_url_forms),
                cmocka_unit_test(test_load_file),
                cmocka_unit_test(test_live_get_returns_the_published_snapshot_until_a_swap),
                cmocka_unit_test(test_ref_put_and_null_safety),
                cmocka_unit_test(test_restart_keys_keep_the_running_values_and_are_named),
                cmocka_unit_test(test_swaps_under_concurrent_readers_are_whole_and_safe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
