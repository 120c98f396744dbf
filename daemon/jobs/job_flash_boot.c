/* Job kind "flash", after the write: the boot check, remediation by policy (re-flash as DIO,
 * roll back to the known-good firmware) and the verdict. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/bootlog.h"
#include "engines/esp/esp_image.h"
#include "firmware/firmware.h"
#include "jobs/boot_state.h"
#include "jobs/job_flash.h"
#include "store/store_firmware.h"

/* What an attempt wrote, in words, and the header mode now at the boot offset. */
static void describe_write(struct flash_job *fj, struct esp_bootcheck_attempt *a, const struct esp_flash_part *parts,
                           size_t n, const struct esp_flash_result *r, const char *mode)
{
        uint32_t boot = fj->l->chip->bootloader_offset;
        const struct esp_flash_part *bp = NULL;
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
                total += parts[i].len;
                if (parts[i].offset == boot)
                        bp = &parts[i];
        }
        a->wrote_boot = bp != NULL;
        a->flash_mode[0] = '\0';
        if (bp && bp->len > 3 && bp->data[0] == ESP_IMAGE_MAGIC) {
                const char *m = r->patched && mode && strcmp(mode, "keep") ? mode : esp_bootcheck_mode_name(bp->data[2]);
                snprintf(a->flash_mode, sizeof(a->flash_mode), "%s", m ? m : "");
        }
        struct firmware_info fi;
        const struct esp_flash_part *main_part = bp ? bp : &parts[0];
        firmware_inspect(main_part->data, main_part->len, NULL, &fi);
        if (fi.mp_version[0])
                snprintf(a->what, sizeof(a->what), "MicroPython v%s", fi.mp_version);
        else if (bp)
                snprintf(a->what, sizeof(a->what), "%s (%zu bytes)", bp->name ? bp->name : "the image", bp->len);
        else
                snprintf(a->what, sizeof(a->what), "%llu bytes at 0x%x", (unsigned long long)total, parts[0].offset);
}

/* One boot check of attempt a (already described). Returns 0 or a port error. */
static int check_boot(struct flash_job *fj, struct esp_bootcheck_attempt *a, enum bootlog_chip chip, bool other)
{
        struct esp_bootcheck_opts o = { .chip = chip, .usb = fj->l->usb_jtag };
        if (other) {
                unsigned rb = bootlog_rom_baud(chip) == ESP_BOOTCHECK_FW_BAUD ? BOOTLOG_ROM_BAUD_ESP8266
                                                                               : ESP_BOOTCHECK_FW_BAUD;
                o.reset = ESP_BOOTCHECK_RESET_LONG;
                o.rom_baud = o.fw_baud = rb;
        }
        char msg[256];
        /* The phase stays "resetting" (reset and watch the boot): the job log names each check. */
        jr_progress(fj->jr, fj->c.last_pct > 98 ? fj->c.last_pct : 98, "resetting");
        int e = esp_bootcheck_run(jr_port(fj->jr), &o, fj->cap, &a->boot, msg, sizeof(msg));
        if (e < 0)
                return jr_fail(fj->jr, job_esp_fail_code(e), "%s", msg), e;
        a->reset_sent = fj->cap->reset_sent;
        a->rom_baud = fj->cap->rom_baud;
        a->fw_baud = fj->cap->fw_baud;
        jr_log(fj->jr, "Boot check %zu (%s reset, listening at %u%s%.0u baud): %s — %s", fj->n_att,
               other ? "long EN" : "RTS", a->rom_baud, a->fw_baud ? " then " : "", a->fw_baud,
               bootlog_class_name(a->boot.cls), a->boot.summary);
        for (size_t i = 0; i < a->boot.n_evidence; i++)
                jr_log(fj->jr, "  | %s", a->boot.evidence[i]);
        if (a->boot.cls == BOOTLOG_BOOTED) {
                a->repl_checked = true;
                a->repl_ok = esp_bootcheck_repl(jr_port(fj->jr), chip, &a->boot, msg, sizeof(msg)) == 0;
                jr_log(fj->jr, "  REPL: %s", a->repl_ok ? "print(1) answered 1" : msg);
        }
        return 0;
}

/* The known-good firmware for this board other than the one just flashed: the family's pin,
 * else the board's known_good_firmware fact. 0 with id/path, or -ENOENT. */
static int find_known_good(struct flash_job *fj, char id[FIRMWARE_ID_LEN + 1], char *path, size_t size,
                           uint32_t *off)
{
        struct store *st = jr_store(fj->jr);
        const char *fact = json_string_value(json_object_get(json_object_get(jr_board_facts(fj->jr),
                                                                             "known_good_firmware"), "id"));
        if (firmware_known_good(st, fj->l->chip->stub_name, id, NULL, 0) == 0 &&
            (!fj->fw_id || strcmp(id, fj->fw_id)) && firmware_resolve(st, id, path, size, off) == 0)
                return 0;
        if (fact && firmware_id_valid(fact) && (!fj->fw_id || strcmp(fact, fj->fw_id)) &&
            firmware_resolve(st, fact, path, size, off) == 0) {
                snprintf(id, FIRMWARE_ID_LEN + 1, "%s", fact);
                return 0;
        }
        return -ENOENT;
}

/* Re-flash (DIO) or roll back, as attempt a. Returns 0 (a->flash_error tells how the write
 * went) or a port error that ends the job. */
static int remediate(struct flash_job *fj, struct esp_bootcheck_attempt *a, enum esp_bootcheck_action act,
                     const struct bootlog_result *last)
{
        const struct esp_flash_part *parts = fj->cur ? fj->cur : fj->parts;
        size_t n = fj->cur ? fj->cur_n : fj->n;
        const char *mode = "dio";
        bool erase = last->fs_corrupt;
        if (act == ESP_BOOTCHECK_ROLLBACK) {
                char id[FIRMWARE_ID_LEN + 1], path[640], msg[256];
                uint32_t off = 0;
                size_t len = 0;
                if (find_known_good(fj, id, path, sizeof(path), &off) < 0 ||
                    flash_read_file(path, &fj->kg_buf, &len, msg, sizeof(msg)) < 0) {
                        a->flash_error = -ENOENT;
                        snprintf(a->what, sizeof(a->what), "from the library");
                        snprintf(a->flash_msg, sizeof(a->flash_msg), "the known-good firmware could not be read");
                        return 0;
                }
                fj->kg = (struct esp_flash_part){ .offset = off, .data = fj->kg_buf, .len = len, .name = "known-good" };
                parts = fj->cur = &fj->kg;
                n = fj->cur_n = 1;
                snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", id);
                snprintf(a->what, sizeof(a->what), "fw-%.12s", id); /* until the write names it */
                /* DIO when this job learned the board needs it; else as the pin was written. */
                const json_t *kgf = json_object_get(jr_board_facts(fj->jr), "known_good_firmware");
                const char *fact_id = json_string_value(json_object_get(kgf, "id"));
                const char *fact_mode = fact_id && !strcmp(fact_id, id)
                                        ? json_string_value(json_object_get(kgf, "flash_mode")) : NULL;
                bool tried_dio = false;
                for (size_t i = 0; i < fj->n_att; i++)
                        tried_dio |= fj->att[i].step == ESP_BOOTCHECK_STEP_REFLASH_DIO;
                mode = tried_dio ? "dio" : fact_mode ? fact_mode : NULL;
                erase = false;
                jr_log(fj->jr, "Remediation: roll back to the known-good firmware %.12s%s%s", id, mode ? " as " : "",
                       mode ? mode : "");
        } else {
                jr_log(fj->jr, "Remediation: re-flash with flash mode DIO%s", erase ? " after erasing the chip "
                       "(the filesystem looked corrupt)" : "");
        }
        jr_progress(fj->jr, fj->c.last_pct, act == ESP_BOOTCHECK_ROLLBACK ? "rolling back" : "re-flashing as DIO");
        int e = flash_connect_loader(fj, false);
        struct esp_flash_result r;
        memset(&r, 0, sizeof(r));
        /* Back to the baud that held in this job, without probing the ladder again. */
        fj->next_baud = fj->auto_baud && fj->baud_used > ESP_BAUD_ROM ? fj->baud_used : 0;
        if (e == 0)
                e = flash_write_stepping(fj, parts, n, mode, erase, true, &r);
        if (e < 0)
                esp_flash_result_clear(&r);
        if (e == -ENODEV || e == -ECANCELED)
                return job_esp_fail(fj->jr, e, fj->l);
        if (e < 0) {
                a->flash_error = e;
                snprintf(a->flash_msg, sizeof(a->flash_msg), "%s", fj->l ? esp_loader_msg(fj->l) : "no loader");
                jr_log(fj->jr, "  the flash failed: %s", a->flash_msg);
                return 0;
        }
        describe_write(fj, a, parts, n, &r, mode);
        jr_log(fj->jr, "  wrote %llu bytes (%llu skipped), %s at the boot offset",
               (unsigned long long)r.bytes_written, (unsigned long long)r.bytes_skipped,
               a->flash_mode[0] ? a->flash_mode : "no image");
        esp_flash_result_clear(&r);
        return 0;
}

/* Facts and the known-good pin after a verified boot of what this job wrote. */
static void record_boot(struct flash_job *fj, const struct esp_bootcheck_attempt *a)
{
        struct job_run *jr = fj->jr;
        const char *id = a->firmware_id[0] ? a->firmware_id : NULL;
        if (a->boot.mp_version[0])
                jr_fact(jr, "mp_version", json_string(a->boot.mp_version));
        jr_fact(jr, "firmware", json_pack("{s:s, s:s?, s:s?, s:s?}", "name", a->what, "id", id, "version",
                                          a->boot.mp_version[0] ? a->boot.mp_version : NULL, "flash_mode",
                                          a->flash_mode[0] ? a->flash_mode : NULL));
        if (!a->repl_ok || !id || a->step == ESP_BOOTCHECK_STEP_ROLLBACK)
                return;
        jr_fact(jr, "known_good_firmware", json_pack("{s:s, s:s, s:s?, s:s?}", "id", id, "name", a->what, "version",
                                                     a->boot.mp_version[0] ? a->boot.mp_version : NULL,
                                                     "flash_mode", a->flash_mode[0] ? a->flash_mode : NULL));
        int e = firmware_pin_known_good(jr_store(jr), fj->l->chip->stub_name, id);
        jr_log(jr, e == 0 ? "Pinned %.12s as the known-good firmware for %s" : "Could not pin %.12s for %s", id,
               fj->l->chip->stub_name);
}

/* Boot check, remediation by policy, verdict. Returns 0 or jr_fail(). */
int flash_boot_check_loop(struct flash_job *fj, const struct esp_flash_result *first)
{
        struct job_run *jr = fj->jr;
        const json_t *params = jr_params(jr);
        enum bootlog_chip chip;
        if (bootlog_chip_from_name(fj->l->chip->stub_name, &chip) < 0)
                return 0;
        if (!(fj->cap = malloc(sizeof(*fj->cap))))
                return jr_fail(jr, "internal", "Out of memory");
        struct esp_bootcheck_state s = {
                .chip = chip,
                .remediate = !json_is_false(json_object_get(params, "remediate")),
        };
        struct esp_bootcheck_attempt *a = &fj->att[fj->n_att++];
        memset(a, 0, sizeof(*a));
        a->step = ESP_BOOTCHECK_STEP_FLASH;
        snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", fj->fw_id ? fj->fw_id : "");
        describe_write(fj, a, fj->parts, fj->n, first, json_string_value(json_object_get(params, "flash_mode")));
        int e = check_boot(fj, a, chip, false);
        const char *remedy = NULL;
        while (e == 0) {
                char id[FIRMWARE_ID_LEN + 1], path[640];
                uint32_t off;
                s.cls = a->flash_error < 0 ? BOOTLOG_BAD_IMAGE : a->boot.cls;
                snprintf(s.flashed_mode, sizeof(s.flashed_mode), "%s", a->flash_mode);
                s.wrote_boot = a->wrote_boot;
                s.reset_sent = a->reset_sent;
                s.have_known_good = find_known_good(fj, id, path, sizeof(path), &off) == 0;
                s.attempts = (unsigned)fj->n_att;
                s.time_left_ms = jr_time_left_ms(jr);
                const char *why;
                enum esp_bootcheck_action act = esp_bootcheck_next(&s, &why);
                jr_log(jr, "Next: %s (%s)", esp_bootcheck_action_name(act), why);
                if (act == ESP_BOOTCHECK_DONE || act == ESP_BOOTCHECK_GIVE_UP || fj->n_att >= ESP_BOOTCHECK_MAX_ATTEMPTS)
                        break;
                struct esp_bootcheck_attempt *prev = a;
                a = &fj->att[fj->n_att++];
                memset(a, 0, sizeof(*a));
                if (act == ESP_BOOTCHECK_RECHECK_OTHER) {
                        *a = *prev;
                        a->step = ESP_BOOTCHECK_STEP_RECHECK;
                        a->repl_checked = a->repl_ok = false;
                        s.tried_other_reset = true;
                        e = check_boot(fj, a, chip, true);
                        remedy = "another reset";
                        continue;
                }
                a->step = act == ESP_BOOTCHECK_REFLASH_DIO ? ESP_BOOTCHECK_STEP_REFLASH_DIO : ESP_BOOTCHECK_STEP_ROLLBACK;
                s.tried_dio |= act == ESP_BOOTCHECK_REFLASH_DIO;
                s.tried_rollback |= act == ESP_BOOTCHECK_ROLLBACK;
                if (act == ESP_BOOTCHECK_REFLASH_DIO)
                        snprintf(a->firmware_id, sizeof(a->firmware_id), "%s", prev->firmware_id);
                remedy = act == ESP_BOOTCHECK_REFLASH_DIO ? "flash mode DIO" : "rolled back to known-good";
                if ((e = remediate(fj, a, act, &prev->boot)) == 0 && a->flash_error == 0)
                        e = check_boot(fj, a, chip, false);
        }
        if (e < 0)
                return e;
        const struct esp_bootcheck_attempt *last = &fj->att[fj->n_att - 1];
        if (last->flash_error == 0 && last->boot.cls == BOOTLOG_BOOTED)
                record_boot(fj, last);
        if (last->flash_error == 0) /* what the board does now: the fleet's boot state */
                jr_fact(jr, "boot", boot_state_from_bootlog(&last->boot, "flash", NULL));
        char verdict[1024];
        esp_bootcheck_verdict(fj->att, fj->n_att, esp_flash_size_name(fj->l->flash_size), verdict, sizeof(verdict));
        const char *code = esp_bootcheck_error_code(fj->att, fj->n_att);
        json_t *atts = json_array();
        for (size_t i = 0; i < fj->n_att; i++)
                json_array_append_new(atts, esp_bootcheck_attempt_json(&fj->att[i]));
        json_t *boot = esp_bootcheck_boot_json(&last->boot);
        if (last->repl_checked)
                json_object_set_new(boot, "repl", json_boolean(last->repl_ok));
        jr_result_set(jr, "boot", boot);
        jr_result_set(jr, "attempts", atts);
        jr_result_set(jr, "remediation", fj->n_att > 1 && remedy ? json_string(remedy) : json_null());
        jr_result_set(jr, "verdict", json_string(verdict));
        jr_log(jr, "Verdict: %s", verdict);
        char line[1100];
        int len = snprintf(line, sizeof(line), "\r\n[corral] %s\r\n", verdict);
        jr_output(jr, "console", line, len > 0 && (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
        return code ? jr_fail(jr, code, "%s", verdict) : 0;
}
