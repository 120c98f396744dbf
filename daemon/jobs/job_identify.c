/* Job kind "identify": find out what answers on the port and store it as facts. A MicroPython
 * REPL gives version, platform and machine; an ESP ROM loader gives chip, MAC and flash; anything
 * else fails with a diagnosis and the bytes seen. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engines/esp/esp_rom.h"
#include "engines/esp/esp_info.h"
#include "engines/mp/mp_repl.h"
#include "jobs/boot_state.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"

static int identify_check(const json_t *params, char *msg, size_t size)
{
        json_t *m = json_object_get(params, "method");
        if (m && (!json_is_string(m) || (strcmp(json_string_value(m), "auto") && strcmp(json_string_value(m), "repl") &&
                                         strcmp(json_string_value(m), "esp")))) {
                snprintf(msg, size, "'method' must be auto, repl or esp.");
                return -EINVAL;
        }
        return 0;
}

static void log_line(const char *line, void *user)
{
        jr_log(user, "%s", line);
}

static void store_facts(struct job_run *jr, json_t *facts)
{
        const char *k;
        json_t *v;
        json_object_foreach(facts, k, v)
                jr_fact(jr, k, json_incref(v));
}

static bool family_is_esp(struct job_run *jr)
{
        const char *fam = json_string_value(json_object_get(jr_board_hints(jr), "family"));
        return fam && !strncmp(fam, "esp", 3);
}

/* Printable rendering of the last bytes seen, for the failure message. */
static void render_bytes(const uint8_t *d, size_t n, char *out, size_t size)
{
        size_t o = 0;
        size_t start = n > 120 ? n - 120 : 0;
        for (size_t i = start; i < n && o + 5 < size; i++) {
                if (d[i] == '\r')
                        o += (size_t)snprintf(out + o, size - o, "\\r");
                else if (d[i] == '\n')
                        o += (size_t)snprintf(out + o, size - o, "\\n");
                else if (isprint(d[i]))
                        out[o++] = (char)d[i];
                else
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", d[i]);
        }
        out[o] = '\0';
}

/* esp_facts (borrowed, may be NULL): what the ROM loader said just before; the result keeps them. */
/* budget_ms bounds the REPL connect (0: the job's remaining time). */
static int identify_repl(struct job_run *jr, struct mp_diag *diag, char *msg, size_t size, json_t *esp_facts,
                         int budget_ms)
{
        struct mp_repl r;
        mp_repl_init(&r, jr_port(jr));
        int left = jr_time_left_ms(jr);
        mp_repl_set_budget(&r, budget_ms > 0 && budget_ms < left ? budget_ms : left);
        r.log = log_line;
        r.log_user = jr;
        jr_progress(jr, 10, "connecting");
        int rc = mp_repl_connect(&r, diag, msg, size);
        if (rc < 0) {
                char seen[600];
                render_bytes(r.recent, r.recent_len, seen, sizeof(seen));
                jr_result_set(jr, "bytes_seen", json_string(seen));
                return rc;
        }
        jr_progress(jr, 50, "identifying");
        json_t *facts = NULL;
        rc = mp_identify(&r, &facts, msg, size);
        char ignore[128];
        mp_repl_exit_raw(&r, ignore, sizeof(ignore)); /* leave a friendly prompt for people */
        if (rc < 0)
                return rc;
        json_object_set_new(facts, "firmware", json_string("micropython"));
        store_facts(jr, facts);
        jr_fact(jr, "boot", boot_state_booted("identify", NULL)); /* its firmware started: no boot loop */
        if (esp_facts) {
                json_object_update_missing(facts, esp_facts);
                jr_result_set(jr, "answered", json_string("esp-rom"));
        } else {
                jr_result_set(jr, "answered", json_string("micropython"));
        }
        jr_result_set(jr, "facts", facts);
        return 0;
}

/* *ret_facts (optional): a new reference to the facts learned. */
static int identify_esp(struct job_run *jr, char *msg, size_t size, json_t **ret_facts)
{
        struct esp_connect_opts o = { .reset = ESP_RESET_CLASSIC, .attempts = 4 };
        const char *stub = json_string_value(json_object_get(jr_board_hints(jr), "stub_dir"));
        (void)stub; /* identify stays in the ROM: no stub needed */
        jr_progress(jr, 60, "esp-rom");
        json_t *facts = NULL;
        int rc = esp_identify(jr_port(jr), &o, &facts, msg, size);
        if (rc < 0)
                return rc;
        store_facts(jr, facts);
        jr_result_set(jr, "answered", json_string("esp-rom"));
        if (ret_facts)
                *ret_facts = json_incref(facts);
        jr_result_set(jr, "facts", facts);
        return 0;
}

static int identify_run(struct job_run *jr)
{
        const char *method = json_string_value(json_object_get(jr_params(jr), "method"));
        if (!method)
                method = "auto";
        char msg[512] = "";
        struct mp_diag diag = { 0 };
        if (!strcmp(method, "esp") || (!strcmp(method, "auto") && family_is_esp(jr))) {
                json_t *esp_facts = NULL;
                int rc = identify_esp(jr, msg, sizeof(msg), &esp_facts);
                if (rc == 0) {
                        /* The ROM identify hard-resets into the firmware: learn its version too. */
                        char m2[512];
                        port_sleep_ms(jr_port(jr), 500);
                        /* Short: a blank or boot-looping board would otherwise climb the whole
                         * recovery ladder before identify could report the chip. */
                        if (identify_repl(jr, &diag, m2, sizeof(m2), esp_facts, 3000) < 0)
                                jr_log(jr, "no MicroPython REPL after the reset: %s", m2);
                        json_decref(esp_facts);
                        jr_progress(jr, 100, "done");
                        return 0;
                }
                if (!strcmp(method, "esp"))
                        return jr_fail(jr, rc == -ENODEV ? "board_gone" : "esp_no_answer", "%s", msg);
                jr_log(jr, "ESP ROM loader: %s", msg);
        }
        int rc = identify_repl(jr, &diag, msg, sizeof(msg), NULL, 0);
        if (rc == 0) {
                jr_progress(jr, 100, "done");
                return 0;
        }
        if (rc == -ENODEV)
                return jr_fail(jr, "board_gone", "%s", msg);
        if (!strcmp(method, "auto") && !family_is_esp(jr) &&
            (diag.kind == MP_DIAG_ROM_DOWNLOAD || diag.kind == MP_DIAG_ROM_BOOTLOOP)) {
                char m2[512];
                jr_log(jr, "MicroPython: %s; trying the ESP ROM loader", msg);
                if (identify_esp(jr, m2, sizeof(m2), NULL) == 0) {
                        jr_progress(jr, 100, "done");
                        return 0;
                }
                jr_log(jr, "ESP ROM loader: %s", m2);
        }
        jr_result_set(jr, "answered", json_string("unknown"));
        return jr_fail(jr, diag.code ? diag.code : "unknown_device", "%s", msg[0] ? msg : diag.message);
}

const struct job_kind job_kind_identify = {
        .name = "identify",
        .summary = "find out what answers on the port (MicroPython REPL or ESP ROM loader) and store it",
        .default_timeout_s = 60,
        .check = identify_check,
        .run = identify_run,
};
