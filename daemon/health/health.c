/* Health record and policy: job outcomes to counters, history and quarantine decisions. */
#include "health/health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "health/health_policy.h"
#include "log.h"
#include "store/store_audit.h"
#include "store/store_health.h"

bool health_code_is_infra(const char *code)
{
        static const char *const infra[] = {
                "link_corrupt", "board_gone", "port_unavailable", "port_busy", "port_error", "permission_denied",
                "board_silent", "garbage", "no_prompt", "no_raw_repl", "no_answer", "esp_no_answer", "esp_error",
                "flash_failed", "timeout", "power_failed", "rom_bootloader", "link_errors",
        };
        if (!code)
                return false;
        for (size_t i = 0; i < sizeof(infra) / sizeof(infra[0]); i++)
                if (!strcmp(code, infra[i]))
                        return true;
        return false;
}

/* Failures that say nothing about the board either way. */
static bool code_is_neutral(const char *code)
{
        static const char *const neutral[] = { "cancelled", "interrupted", "invalid", "bad_params", "internal",
                                               "no_memory", "no_power_backend" };
        for (size_t i = 0; code && i < sizeof(neutral) / sizeof(neutral[0]); i++)
                if (!strcmp(code, neutral[i]))
                        return true;
        return false;
}

static void add(json_t *o, const char *key, json_int_t n)
{
        if (!n)
                return;
        json_t *v = json_object_get(o, key);
        json_object_set_new(o, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

static json_int_t get(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

static void publish(struct events *ev, const char *board_id, const char *state, const char *reason,
                    const json_t *evidence, const char *by)
{
        events_publish(ev, "board.health",
                       json_pack("{s:s, s:s, s:s, s:O?, s:s}", "board", board_id, "state", state, "reason",
                                 reason ? reason : "", "evidence", evidence, "by", by ? by : "policy"));
}

static int audit(struct store *st, const char *board_id, const char *what, const char *by)
{
        char path[256], who[96];
        snprintf(path, sizeof(path), "/api/v1/boards/%s/%s", board_id, what);
        snprintf(who, sizeof(who), "%s", by ? by : "corrald:policy");
        return store_audit_add(st, who, "POLICY", path, 200);
}

int health_quarantine(struct store *st, struct events *ev, const char *board_id, const char *reason,
                      const json_t *evidence, const char *by)
{
        int r = store_health_status_set(st, board_id, "quarantined", reason, evidence);
        if (r < 0)
                return r;
        store_health_history_add(st, board_id, "quarantine", false, reason, evidence);
        audit(st, board_id, "quarantine", by ? by : "corrald:policy");
        log_warning("board %s quarantined: %s", board_id, reason);
        publish(ev, board_id, "quarantined", reason, evidence, by ? by : "policy");
        return 0;
}

int health_release(struct store *st, struct events *ev, const char *board_id, const json_t *evidence, const char *by)
{
        int r = store_health_status_set(st, board_id, "good", "", evidence);
        if (r < 0)
                return r;
        json_t *reset = json_pack("{s:i, s:i}", "infra_failures_in_row", 0, "link_errors_since_check", 0);
        store_health_bump(st, board_id, NULL, reset);
        json_decref(reset);
        char line[160];
        snprintf(line, sizeof(line), "released by %s after a passed health check", by ? by : "policy");
        store_health_history_add(st, board_id, "release", true, line, evidence);
        audit(st, board_id, "unquarantine", by);
        log_notice("board %s %s", board_id, line);
        publish(ev, board_id, "good", line, evidence, by);
        return 0;
}

/* What this job says about the board: counter deltas and a history row. */
static void observe(const char *board_id, const struct health_job *j, json_t *d, json_t *hist, bool *infra,
                    bool *script)
{
        bool ok = !strcmp(j->state, "succeeded");
        *infra = !ok && health_code_is_infra(j->code);
        *script = !ok && !*infra && !code_is_neutral(j->code) && strcmp(j->state, "cancelled") &&
                  strcmp(j->state, "interrupted");
        json_int_t exit_status = json_integer_value(json_object_get(j->result, "exit_status"));
        if (ok && exit_status != 0 && json_object_get(j->result, "exit_status"))
                *script = true; /* the script failed, the farm did not */
        add(d, "jobs_total", 1);
        add(d, ok ? "jobs_succeeded" : "jobs_failed", 1);
        add(d, "infra_failures", *infra);
        add(d, "script_failures", *script);
        if (j->code && !strcmp(j->code, "board_gone"))
                add(d, "disconnects", 1);
        if (j->code && !strcmp(j->code, "link_corrupt"))
                add(d, "link_corrupt_failures", 1);
        const json_t *res = j->result;
        if (!strcmp(j->kind, "flash") || json_object_get(res, "bytes_written")) {
                add(d, "flash_attempts", 1);
                add(d, ok ? "flash_succeeded" : "flash_failed", 1);
                json_int_t bytes = get(res, "bytes_written");
                double secs = json_number_value(json_object_get(res, "seconds"));
                if (bytes > 0 && secs > 0) {
                        add(d, "flash_bytes", bytes);
                        add(d, "flash_ms", (json_int_t)(secs * 1000.0 + 0.5));
                        json_object_set_new(hist, "flash_kbit_per_s", json_real((double)bytes * 8.0 / 1000.0 / secs));
                }
                double connect_s = json_number_value(json_object_get(json_object_get(res, "phases"), "connect_s"));
                if (connect_s > 0) {
                        add(d, "sync_count", 1);
                        add(d, "sync_ms_total", (json_int_t)(connect_s * 1000.0 + 0.5));
                        json_object_set_new(hist, "sync_ms", json_integer((json_int_t)(connect_s * 1000.0 + 0.5)));
                }
        }
        if (json_object_get(res, "boot")) /* a flash with a boot check: the job succeeds when it booted */
                add(d, ok ? "boot_checks_ok" : "boot_checks_failed", 1);
        /* What the job counted itself (jr_health): link errors, resends, sync retries, sync time. */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j->obs, k, v) {
                add(d, k, json_integer_value(v));
                json_object_set(hist, k, v);
        }
        add(d, "link_errors_since_check", get(j->obs, "link_errors"));
        (void)board_id;
}

/* Count the job's end in the board's counters and history; its one-line summary into summary.
 * 0, or a negative errno when the store refused the counters (then nothing else is done). */
static int record_job(struct store *st, const char *board_id, const struct health_job *j, char *summary,
                      size_t summary_size)
{
        json_t *d = json_object(), *set = json_object();
        json_t *hist = json_pack("{s:I, s:s, s:s}", "job", (json_int_t)j->id, "kind", j->kind, "state", j->state);
        if (j->code)
                json_object_set_new(hist, "code", json_string(j->code));
        bool infra = false, script = false;
        observe(board_id, j, d, hist, &infra, &script);
        bool is_check = !strcmp(j->kind, "health_check");
        bool ok = !strcmp(j->state, "succeeded");
        if (infra)
                add(d, "infra_failures_in_row", 1);
        else if (ok || script)
                json_object_set_new(set, "infra_failures_in_row", json_integer(0));
        if (is_check && ok)
                json_object_set_new(set, "link_errors_since_check", json_integer(0));
        if (is_check)
                add(d, ok ? "checks_passed" : "checks_failed", 1);
        int r = store_health_bump(st, board_id, d, set);
        if (r == 0) {
                if (ok)
                        snprintf(summary, summary_size, "%s job %lld succeeded", j->kind, (long long)j->id);
                else
                        snprintf(summary, summary_size, "%s job %lld %s (%s)%s%.400s", j->kind, (long long)j->id,
                                 j->state, j->code ? j->code : "?", j->message ? ": " : "",
                                 j->message ? j->message : "");
                store_health_history_add(st, board_id, is_check ? "check" : "job", ok, summary, hist);
        }
        json_decref(d);
        json_decref(set);
        json_decref(hist);
        return r;
}

/* A release check on a quarantined board failed: it stays out, the failed check added to the
 * evidence. */
static void refuse_release(struct store *st, struct events *ev, const char *board_id, const struct health_job *j,
                           json_t *status, const char *summary, const char *by)
{
        json_t *evd = json_pack("{s:O?, s:{s:I, s:s}}", "previous", json_object_get(status, "evidence"),
                                "release_check", "job", (json_int_t)j->id, "summary", summary);
        store_health_status_set(st, board_id, "quarantined", json_string_value(json_object_get(status, "reason")),
                                evd);
        store_health_history_add(st, board_id, "quarantine", false, "release refused: the health check failed", evd);
        publish(ev, board_id, "quarantined", "release refused: the health check failed", evd, by ? by : "policy");
        json_decref(evd);
}

/* A board in service after a job: quarantine it when a rule says so, else set good or degraded. */
static void apply_rules(struct store *st, struct events *ev, const char *board_id, const struct health_job *j,
                        const struct health_policy *pol, json_t *c, const char *state, const char *summary)
{
        bool is_check = !strcmp(j->kind, "health_check"), ok = !strcmp(j->state, "succeeded");
        json_int_t in_row = get(c, "infra_failures_in_row"), link = get(c, "link_errors_since_check");
        char reason[512] = "";
        if (is_check && !ok && pol->quarantine_on_failed_check)
                snprintf(reason, sizeof(reason), "the health check failed: %.400s", summary);
        else if (pol->quarantine_after_infra_failures && in_row >= pol->quarantine_after_infra_failures)
                snprintf(reason, sizeof(reason), "%lld infrastructure failures in a row (rule: "
                         "quarantine_after_infra_failures = %u)", (long long)in_row,
                         pol->quarantine_after_infra_failures);
        else if (pol->quarantine_after_link_errors && link >= pol->quarantine_after_link_errors)
                snprintf(reason, sizeof(reason), "%lld link errors since the last passed check (rule: "
                         "quarantine_after_link_errors = %u)", (long long)link, pol->quarantine_after_link_errors);
        if (reason[0]) {
                json_t *recent = NULL;
                store_health_history(st, board_id, 10, &recent);
                json_t *evd = json_pack("{s:O, s:o*}", "counters", c, "recent", recent);
                health_quarantine(st, ev, board_id, reason, evd, "corrald:policy");
                json_decref(evd);
                return;
        }
        bool degraded = pol->degraded_after_infra_failures && in_row >= pol->degraded_after_infra_failures;
        const char *want = degraded ? "degraded" : "good";
        if (state && !strcmp(state, want))
                return;
        char why[160] = "";
        if (degraded)
                snprintf(why, sizeof(why), "%lld infrastructure failure(s) in a row", (long long)in_row);
        store_health_status_set(st, board_id, want, why, NULL);
        publish(ev, board_id, want, why, NULL, "policy");
}

void health_job_end(struct store *st, struct events *ev, const char *board_id, const struct health_job *j)
{
        if (!st || !board_id || !j || !j->kind || !j->state)
                return;
        struct health_policy pol;
        health_policy_current(&pol);
        char summary[600];
        if (record_job(st, board_id, j, summary, sizeof(summary)) < 0)
                return;
        json_t *c = NULL, *status = NULL;
        if (store_health_counters(st, board_id, &c) < 0)
                c = json_object();
        const char *state = "good";
        if (store_health_status_get(st, board_id, &status) == 0)
                state = json_string_value(json_object_get(status, "state"));
        bool quarantined = state && !strcmp(state, "quarantined");
        bool release = !strcmp(j->kind, "health_check") && json_is_true(json_object_get(j->params, "release"));
        bool ok = !strcmp(j->state, "succeeded");
        const char *by = json_string_value(json_object_get(j->params, "requested_by"));
        if (quarantined && release && ok) {
                json_t *ev_ = json_pack("{s:I, s:s}", "check_job", (json_int_t)j->id, "summary", summary);
                health_release(st, ev, board_id, ev_, by);
                json_decref(ev_);
        } else if (quarantined && release) {
                refuse_release(st, ev, board_id, j, status, summary, by);
        } else if (!quarantined) {
                apply_rules(st, ev, board_id, j, &pol, c, state, summary);
        }
        json_decref(status);
        json_decref(c);
}

int health_board_json(struct store *st, const char *board_id, int history_limit, json_t **ret)
{
        json_t *c = NULL, *status = NULL, *hist = NULL;
        int r = store_health_counters(st, board_id, &c);
        if (r < 0)
                return r;
        if (store_health_status_get(st, board_id, &status) < 0)
                status = json_pack("{s:s, s:s, s:n, s:n}", "state", "good", "reason", "", "evidence", "since");
        if (store_health_history(st, board_id, history_limit, &hist) < 0)
                hist = json_array();
        json_int_t bytes = get(c, "flash_bytes"), ms = get(c, "flash_ms"), syncs = get(c, "sync_count");
        json_t *rates = json_pack("{s:o, s:o}", "flash_kbit_per_s",
                                  ms > 0 ? json_real((double)bytes * 8.0 / (double)ms) : json_null(), "sync_ms_avg",
                                  syncs > 0 ? json_real((double)get(c, "sync_ms_total") / (double)syncs) : json_null());
        json_t *out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:o, s:o, s:o}", "board", board_id, "state",
                                json_object_get(status, "state"), "reason", json_object_get(status, "reason"), "evidence",
                                json_object_get(status, "evidence"), "since", json_object_get(status, "since"),
                                "counters", c, "rates", rates, "history", hist);
        json_decref(status);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

/* row's "health" from its status row (NULL: never set, so good). */
static void decorate(json_t *row, const json_t *status)
{
        if (status)
                json_object_set_new(row, "health", json_pack("{s:O, s:O, s:O}", "state", json_object_get(status, "state"),
                                                             "reason", json_object_get(status, "reason"), "since",
                                                             json_object_get(status, "since")));
        else
                json_object_set_new(row, "health", json_pack("{s:s, s:s, s:n}", "state", "good", "reason", "", "since"));
}

void health_decorate(struct store *st, json_t *row)
{
        const char *id = json_string_value(json_object_get(row, "id"));
        json_t *status = NULL;
        if (!id)
                return;
        if (store_health_status_get(st, id, &status) < 0)
                status = NULL;
        decorate(row, status);
        json_decref(status);
}

void health_decorate_from(const json_t *statuses, json_t *row)
{
        const char *id = json_string_value(json_object_get(row, "id"));
        if (id)
                decorate(row, json_object_get(statuses, id));
}

bool health_row_quarantined(const json_t *row)
{
        const char *s = json_string_value(json_object_get(json_object_get(row, "health"), "state"));
        return s && !strcmp(s, "quarantined");
}

bool health_is_quarantined(struct store *st, const char *board_id)
{
        json_t *status = NULL;
        bool q = false;
        if (store_health_status_get(st, board_id, &status) == 0) {
                const char *s = json_string_value(json_object_get(status, "state"));
                q = s && !strcmp(s, "quarantined");
        }
        json_decref(status);
        return q;
}
