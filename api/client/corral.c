/* corral: the command-line client of corrald, made for CI hardware-in-the-loop jobs: reserve a
 * board, flash it, run scripts and test directories on it (JUnit XML), open its console, release
 * it. Parses the command line and hands over to the commands (client_*.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define DEFAULT_SERVER "http://127.0.0.1:7070"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: corral [OPTIONS] COMMAND [ARGS]\n"
                "The client of corrald, the board-farm daemon.\n\n"
                "Commands:\n"
                "  boards                                   list boards, their state and who holds them\n"
                "  reserve [--label L]... [--family F] [--board ID] [--ttl S] [--wait S] [--owner X]\n"
                "          [--expose rfc2217]   (prints the board's rfc2217://host:port for esptool, mpremote)\n"
                "                                           lease a matching board; prints the lease token\n"
                "                                           (or writes it to --lease-file)\n"
                "  renew [LEASE_ID] [--ttl S]               extend the lease to S seconds from now\n"
                "  expose [LEASE_ID] rfc2217|none           open (prints rfc2217://host:port) or close the\n"
                "                                           lease's remote port later\n"
                "  release [LEASE_ID]                       give the leased board back\n"
                "  flash BOARD FIRMWARE [--mode dio] [--erase]\n"
                "                                           upload FIRMWARE and flash it, following progress\n"
                "  run BOARD SCRIPT.py [--put FILE]... [--timeout S]\n"
                "                                           run a MicroPython script, streaming its output;\n"
                "                                           exits with the script's status\n"
                "  test BOARD DIR [--junit OUT.xml] [--timeout S] [--put FILE]...\n"
                "                                           run every DIR/test_*.py; JUnit XML report\n"
                "  test BOARD --expect TEXT | --expect-re RE | --send LINE | --wait-ms MS ...\n"
                "       [--fail-on TEXT]... [--fail-on-re RE]... [--no-default-fail-on] [--step-timeout MS]\n"
                "       [--parse auto|unity|ztest|plain|none] [--firmware FILE [--mode M]] [--no-reset]\n"
                "       [--elf APP.elf] [--timeout S] [--junit OUT.xml]\n"
                "                                           (flash FILE,) reset, follow the serial output\n"
                "                                           through the steps in order; Unity/ztest/PASS-FAIL\n"
                "                                           results as JUnit; ESP panics end it (exit 1);\n"
                "                                           --elf decodes crash addresses to file:line\n"
                "  test --spec FILE [BOARD] [--junit OUT.xml] [--wait S] [--timeout S]\n"
                "                                           a HIL test kept as JSON next to the code: one\n"
                "                                           board's steps, or several boards by role (leased\n"
                "                                           together, run in parallel); JUnit per role\n"
                "  console BOARD                            interactive serial console (Ctrl-] leaves)\n\n"
                "Options:\n"
                "  --server URL        corrald's URL (default $CORRAL_URL, else " DEFAULT_SERVER ")\n"
                "  --lease TOKEN       lease token to present (default $CORRAL_LEASE)\n"
                "  --lease-file FILE   read the lease token from FILE (reserve: write it there)\n"
                "  --json              machine-readable output on stdout\n"
                "  -h, --help          this help\n\n"
                "Environment: CORRAL_URL, CORRAL_LEASE (sent as X-Corral-Lease), CORRAL_TOKEN (sent as\n"
                "Authorization: Bearer, for deployments with user auth), CORRAL_OWNER (reserve's default owner).\n\n"
                "Exit codes:\n"
                "  0    success (the script exited normally, every test passed)\n"
                "  1    the script raised an exception, or tests failed\n"
                "  2    usage error, or corrald refused the request as invalid\n"
                "  3    farm error: corrald unreachable, board offline or gone, lease refused or lost,\n"
                "       a job that failed for infrastructure reasons (flash failed, port error)\n"
                "  124  the script was still running at its timeout (test --expect: a step did not match in time)\n");
}

enum {
        O_SERVER = 256, O_LEASE, O_LEASE_FILE, O_JSON, O_LABEL, O_FAMILY, O_BOARD, O_TTL, O_WAIT, O_OWNER,
        O_MODE, O_ERASE, O_PUT, O_TIMEOUT, O_JUNIT, O_EXPECT, O_EXPECT_RE, O_SEND, O_WAIT_MS, O_FAIL_ON,
        O_FAIL_ON_RE, O_STEP_TIMEOUT, O_NO_DEFAULT_FAIL_ON, O_PARSE, O_FIRMWARE, O_NO_RESET, O_SPEC, O_ELF, O_EXPOSE,
        O_LAST = O_EXPOSE,
};

static const struct option opts[] = {
        { "server", required_argument, NULL, O_SERVER },   { "lease", required_argument, NULL, O_LEASE },
        { "lease-file", required_argument, NULL, O_LEASE_FILE }, { "json", no_argument, NULL, O_JSON },
        { "label", required_argument, NULL, O_LABEL },     { "family", required_argument, NULL, O_FAMILY },
        { "board", required_argument, NULL, O_BOARD },     { "ttl", required_argument, NULL, O_TTL },
        { "wait", required_argument, NULL, O_WAIT },       { "owner", required_argument, NULL, O_OWNER },
        { "expose", required_argument, NULL, O_EXPOSE },
        { "mode", required_argument, NULL, O_MODE },       { "erase", no_argument, NULL, O_ERASE },
        { "put", required_argument, NULL, O_PUT },         { "timeout", required_argument, NULL, O_TIMEOUT },
        { "junit", required_argument, NULL, O_JUNIT },     { "expect", required_argument, NULL, O_EXPECT },
        { "expect-re", required_argument, NULL, O_EXPECT_RE }, { "send", required_argument, NULL, O_SEND },
        { "wait-ms", required_argument, NULL, O_WAIT_MS }, { "fail-on", required_argument, NULL, O_FAIL_ON },
        { "fail-on-re", required_argument, NULL, O_FAIL_ON_RE },
        { "step-timeout", required_argument, NULL, O_STEP_TIMEOUT },
        { "no-default-fail-on", no_argument, NULL, O_NO_DEFAULT_FAIL_ON },
        { "parse", required_argument, NULL, O_PARSE },     { "firmware", required_argument, NULL, O_FIRMWARE },
        { "no-reset", no_argument, NULL, O_NO_RESET },     { "spec", required_argument, NULL, O_SPEC },
        { "elf", required_argument, NULL, O_ELF },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
};

/* Which command each command-specific option belongs to (global ones: NULL). */
static const char *option_commands(int opt)
{
        switch (opt) {
        case O_TTL:
                return " reserve renew ";
        case O_WAIT:
                return " reserve test ";
        case O_LABEL: case O_FAMILY: case O_BOARD: case O_OWNER: case O_EXPOSE:
                return " reserve ";
        case O_MODE:
                return " flash test ";
        case O_ERASE:
                return " flash ";
        case O_PUT:
                return " run test ";
        case O_TIMEOUT:
                return " run test flash ";
        case O_JUNIT: case O_EXPECT: case O_EXPECT_RE: case O_SEND: case O_WAIT_MS: case O_FAIL_ON:
        case O_FAIL_ON_RE: case O_STEP_TIMEOUT: case O_NO_DEFAULT_FAIL_ON: case O_PARSE: case O_FIRMWARE: case O_ELF:
        case O_NO_RESET: case O_SPEC:
                return " test ";
        default:
                return NULL;
        }
}

static bool seconds(const char *s, int max, int *out)
{
        char *end;
        long v = strtol(s, &end, 10);
        if (!*s || *end || v < 0 || v > max)
                return false;
        *out = (int)v;
        return true;
}

/* The lease token in a file: its first line. */
static int read_lease_file(const char *path, char *out, size_t size)
{
        char *data;
        size_t len;
        int e = cli_read_file(path, &data, &len);
        if (e < 0)
                return e;
        data[strcspn(data, "\r\n")] = '\0';
        snprintf(out, size, "%s", data);
        free(data);
        return 0;
}

/* One parsed option into c; false when its value is out of range. */
static bool set_option(struct cli *c, int opt)
{
        bool ok = true;
        switch (opt) {
        case O_SERVER: snprintf(c->server, sizeof(c->server), "%s", optarg); break;
        case O_LEASE: snprintf(c->lease, sizeof(c->lease), "%s", optarg); break;
        case O_LEASE_FILE: c->lease_file = optarg; break;
        case O_JSON: c->json = true; break;
        case O_LABEL:
                ok = c->nlabels < CLI_MAX_LABELS;
                if (ok)
                        c->labels[c->nlabels++] = optarg;
                break;
        case O_FAMILY: c->family = optarg; break;
        case O_BOARD: c->board_opt = optarg; break;
        case O_TTL: ok = seconds(optarg, 86400, &c->ttl_s) && c->ttl_s > 0; break;
        case O_WAIT: ok = seconds(optarg, 300, &c->wait_s); break;
        case O_OWNER: c->owner = optarg; break;
        case O_EXPOSE: c->expose = optarg; return !strcmp(optarg, "rfc2217");
        case O_MODE: c->mode = optarg; break;
        case O_ERASE: c->erase = true; break;
        case O_PUT:
                ok = c->nputs < CLI_MAX_PUTS;
                if (ok)
                        c->puts[c->nputs++] = optarg;
                break;
        case O_TIMEOUT: ok = seconds(optarg, 86400, &c->timeout_s) && c->timeout_s > 0; break;
        case O_JUNIT: c->junit = optarg; break;
        case O_EXPECT: case O_EXPECT_RE: case O_SEND: case O_WAIT_MS: case O_FAIL_ON: case O_FAIL_ON_RE: {
                static const char letters[] = "ersw" "fF";
                ok = c->nsteps < CLI_MAX_STEPS;
                if (ok) {
                        c->steps[c->nsteps].kind = letters[opt - O_EXPECT];
                        c->steps[c->nsteps++].arg = optarg;
                }
                if (opt == O_WAIT_MS) {
                        int ms;
                        ok = ok && seconds(optarg, 3600000, &ms);
                }
                break;
        }
        case O_STEP_TIMEOUT: ok = seconds(optarg, 3600000, &c->step_timeout_ms) && c->step_timeout_ms > 0; break;
        case O_NO_DEFAULT_FAIL_ON: c->no_default_fail_on = true; break;
        case O_PARSE: c->parse = optarg; break;
        case O_FIRMWARE: c->firmware = optarg; break;
        case O_ELF: c->elf = optarg; break;
        case O_NO_RESET: c->no_reset = true; break;
        case O_SPEC: c->spec = optarg; break;
        default: break;
        }
        return ok;
}

/* The options into c, used[] marking each one given. -1 to go on, else main's exit status. */
static int parse_options(struct cli *c, int argc, char **argv, int used[O_LAST + 1])
{
        int opt;
        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                if (opt == 'h') {
                        usage(stdout);
                        return CLI_OK;
                }
                if (opt == '?') {
                        fprintf(stderr, "corral: see corral --help\n");
                        return CLI_USAGE;
                }
                used[opt] = 1;
                if (!set_option(c, opt)) {
                        fprintf(stderr, "corral: bad value '%s' for --%s\n", optarg, opts[opt - O_SERVER].name);
                        return CLI_USAGE;
                }
        }
        size_t sl = strlen(c->server);
        while (sl && c->server[sl - 1] == '/')
                c->server[--sl] = '\0';
        return -1;
}

/* Every option given must apply to cmd. */
static bool options_apply(const int used[O_LAST + 1], const char *cmd)
{
        char padded[64];
        snprintf(padded, sizeof(padded), " %s ", cmd);
        for (int o = O_SERVER; o <= O_LAST; o++) {
                const char *allowed = option_commands(o);
                if (used[o] && allowed && !strstr(allowed, padded)) {
                        fprintf(stderr, "corral: --%s does not apply to '%s'\n", opts[o - O_SERVER].name, cmd);
                        return false;
                }
        }
        return true;
}

/* Run the command; its exit status, or -1 when there is no such command. */
static int dispatch(struct cli *c, const char *cmd, int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(struct cli *, int, char **);
        } cmds[] = {
                { "boards", cmd_boards }, { "reserve", cmd_reserve }, { "release", cmd_release },
                { "renew", cmd_renew },   { "expose", cmd_expose },
                { "flash", cmd_flash },   { "run", cmd_run },         { "test", cmd_test },
                { "console", cmd_console },
        };
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (!strcmp(cmd, cmds[i].name))
                        return cmds[i].fn(c, argc, argv);
        return -1;
}

int main(int argc, char **argv)
{
        static struct cli c;
        const char *env = getenv("CORRAL_URL");
        snprintf(c.server, sizeof(c.server), "%s", env && *env ? env : DEFAULT_SERVER);
        c.token = getenv("CORRAL_TOKEN");
        env = getenv("CORRAL_LEASE");
        snprintf(c.lease, sizeof(c.lease), "%s", env ? env : "");
        int used[O_LAST + 1] = { 0 };
        int rc = parse_options(&c, argc, argv, used);
        if (rc >= 0)
                return rc;
        if (optind >= argc) {
                usage(stderr);
                return CLI_USAGE;
        }
        const char *cmd = argv[optind];
        if (!options_apply(used, cmd))
                return CLI_USAGE;
        /* reserve writes --lease-file; every other command reads the lease from it. */
        if (c.lease_file && strcmp(cmd, "reserve")) {
                int e = read_lease_file(c.lease_file, c.lease, sizeof(c.lease));
                if (e < 0) {
                        fprintf(stderr, "corral: cannot read the lease file %s: %s\n", c.lease_file, strerror(-e));
                        return CLI_USAGE;
                }
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = dispatch(&c, cmd, argc - optind - 1, argv + optind + 1);
        if (rc < 0) {
                fprintf(stderr, "corral: unknown command '%s' (see corral --help)\n", cmd);
                rc = CLI_USAGE;
        }
        if (c.curl)
                curl_easy_cleanup(c.curl);
        curl_global_cleanup();
        return rc;
}
