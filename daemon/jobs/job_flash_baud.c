/* Job kind "flash", the baud: the candidates for an automatic baud (bridge, chip, what held
 * before), stepping down when the link does not hold, the sector records kept for the next
 * diff, and the baud result remembered on the board. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/esp/esp_flashcmd.h"
#include "jobs/job_flash.h"

/* The baud that held on this board before (flash_baud fact), 0 when none or the port has no
 * real baud (USB-Serial/JTAG). */
unsigned flash_remembered_baud(struct flash_job *fj)
{
        const json_t *hints = jr_board_hints(fj->jr);
        const char *vid = json_string_value(json_object_get(hints, "vid"));
        const char *pid = json_string_value(json_object_get(hints, "pid"));
        if (vid && pid && usb_ids_lookup(vid, pid)->usb_native)
                return 0;
        json_int_t rem = json_integer_value(json_object_get(json_object_get(jr_board_facts(fj->jr), "flash_baud"), "baud"));
        return rem > ESP_BAUD_ROM && rem <= 12000000 ? (unsigned)rem : 0;
}

/* Candidates for an automatic baud: the bridge (VID:PID table), the chip and loader, and what
 * held on this board before (the flash_baud fact). */
static void plan_for(struct flash_job *fj, const struct esp_chip *chip, bool stub, struct esp_baud_plan *plan)
{
        const json_t *hints = jr_board_hints(fj->jr);
        const char *vid = json_string_value(json_object_get(hints, "vid"));
        const char *pid = json_string_value(json_object_get(hints, "pid"));
        fj->bridge = vid && pid ? usb_ids_lookup(vid, pid) : NULL;
        const json_t *fact = json_object_get(jr_board_facts(fj->jr), "flash_baud");
        json_int_t rem = json_integer_value(json_object_get(fact, "baud"));
        fj->remembered = rem > 0 && rem <= 12000000 ? (unsigned)rem : 0;
        struct esp_baud_in in = {
                .chip = chip,
                .stub = stub,
                .bridge_max = fj->bridge ? fj->bridge->max_baud : 0,
                .usb_native = fj->bridge && fj->bridge->usb_native,
                .remembered = fj->remembered,
        };
        esp_baud_plan(&in, plan);
}

void flash_plan_baud(struct flash_job *fj)
{
        plan_for(fj, fj->l->chip, fj->l->stub, &fj->plan);
}

/* Before the stub upload (the chip is known, the stub not yet running): the first step of the
 * plan the stub will have, so the stub goes up at it rather than at the ROM baud. */
unsigned flash_pick_stub_baud(void *user, const struct esp_loader *l)
{
        struct esp_baud_plan p;
        plan_for(user, l->chip, true, &p);
        return p.n ? p.cand[0] : 0;
}

void flash_tried_add(struct flash_job *fj, unsigned baud, const char *error)
{
        if (!fj->tried)
                fj->tried = json_array();
        json_array_append_new(fj->tried, json_pack("{s:i, s:b, s:s?}", "baud", (int)baud, "ok", !error, "error",
                                                   error));
}

/* The pick_baud of the flash pipeline, called only when something is left to write: the next
 * candidate of the plan. A link that does not hold it is lost (the chip switched, the bridge
 * cannot follow): -EAGAIN, and the job resets into the loader and runs the pipeline again, one
 * step lower. */
int flash_pick_baud(void *user, struct esp_loader *l)
{
        struct flash_job *fj = ((struct ctx *)user)->fj;
        unsigned b = fj->next_baud;
        if (!b) {
                fj->baud_used = l->port->baud;
                if (fj->plan.n)
                        jr_log(fj->jr, "No faster baud held: staying at %u", fj->baud_used);
                return 0;
        }
        if (l->port->baud == b) { /* the stub was uploaded at this baud and answered at it */
                if (!fj->tried)
                        flash_tried_add(fj, b, NULL);
                fj->baud_used = b;
                return 0;
        }
        int e = esp_change_baud(l, b);
        if (e == 0)
                e = esp_link_check(l);
        if (e == 0) {
                flash_tried_add(fj, b, NULL);
                fj->baud_used = b;
                jr_log(fj->jr, "Changed baud rate to %u (%s)", b, fj->plan.why);
                return 0;
        }
        if (e == -ENODEV || e == -ECANCELED)
                return e;
        flash_tried_add(fj, b, esp_loader_msg(l));
        fj->baud_failed = b;
        fj->next_baud = esp_baud_next(&fj->plan, b);
        fj->co.stub_baud = 0;
        jr_log(fj->jr, "%u baud does not hold (%s): reconnecting to step down", b, esp_loader_msg(l));
        jr_health(fj->jr, "link_errors", 1);
        return -EAGAIN;
}

/* Run the pipeline; when the baud corral chose fails (the link check, or the write itself:
 * sync/checksum trouble under load), reset into the loader and run it again one step lower.
 * Reconnects count as the baud phase. Returns what the last run returned. */
int flash_write_stepping(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
                          bool erase, bool no_reset, struct esp_flash_result *r)
{
        for (;;) {
                fj->baud_used = 0;
                esp_flash_result_clear(r); /* a retry's result replaces the last one */
                int e = flash_write_parts(fj, parts, n, mode, erase, no_reset, r);
                fj->baud_s += r->baud_s;
                if (e >= 0 || !fj->auto_baud || e == -ENODEV || e == -ECANCELED)
                        return e;
                if (e != -EAGAIN) {
                        if (fj->baud_used <= ESP_BAUD_ROM || e == -EINVAL || e == -ENOMEM)
                                return e;
                        unsigned failed = fj->baud_used;
                        flash_tried_add(fj, failed, esp_loader_msg(fj->l));
                        fj->baud_failed = failed;
                        fj->next_baud = esp_baud_next(&fj->plan, failed);
                        fj->co.stub_baud = 0;
                        jr_log(fj->jr, "Writing at %u baud failed (%s): reconnecting to step down", failed,
                               esp_loader_msg(fj->l));
                        jr_health(fj->jr, "resends", 1);
                }
                double t = flash_now_s();
                e = flash_connect_loader(fj, false);
                fj->baud_s += flash_now_s() - t;
                if (e < 0)
                        return e;
        }
}

/* What corral wrote to this board before: the flash_record fact's entries (bad ones ignored). */
void flash_load_records(struct flash_job *fj)
{
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(json_object_get(jr_board_facts(fj->jr), "flash_record"), "parts"), i, e) {
                if (fj->n_records >= sizeof(fj->records) / sizeof(fj->records[0]))
                        break;
                if (esp_diff_record_parse(e, &fj->records[fj->n_records]) == 0)
                        fj->n_records++;
        }
}

/* After a verified write: the parts just written (with their sector hashes) replace what the
 * record had where they overlap; the rest of the record stays. */
void flash_save_records(struct flash_job *fj, const struct esp_flash_result *r)
{
        json_t *parts = json_array();
        for (size_t k = 0; k < r->n_parts; k++) {
                const struct esp_flash_part_result *p = &r->parts[k];
                if (!p->sector_hashes || !p->verified)
                        continue;
                json_array_append_new(parts, esp_diff_record_json(p->offset, (uint32_t)p->len, p->md5raw,
                                                                  p->sector_hashes, p->sectors));
        }
        for (size_t i = 0; i < fj->n_records; i++) {
                const struct esp_flash_record *o = &fj->records[i];
                bool overlaps = false;
                for (size_t k = 0; k < r->n_parts; k++) {
                        uint64_t a0 = r->parts[k].offset, a1 = a0 + r->parts[k].len;
                        overlaps |= o->offset < a1 && a0 < (uint64_t)o->offset + o->len;
                }
                if (!overlaps)
                        json_array_append_new(parts, esp_diff_record_json(o->offset, o->len, o->md5, o->sectors,
                                                                          o->n_sectors));
        }
        jr_fact(fj->jr, "flash_record", json_pack("{s:o}", "parts", parts));
}

/* The job result's baud object; remembers on the board what held (the flash_baud fact). */
void flash_report_baud(struct flash_job *fj, bool succeeded)
{
        struct job_run *jr = fj->jr;
        const char *by = !fj->auto_baud ? "job" : !fj->plan.n ? "rom" : !fj->tried ? "not_needed"
                         : fj->remembered && fj->plan.cand[0] == fj->remembered ? "remembered" : "auto";
        unsigned used = fj->auto_baud && fj->baud_used ? fj->baud_used : jr_port(jr)->baud;
        json_t *b = json_pack("{s:i, s:s, s:s?, s:o?, s:i, s:s}", "used", (int)used, "chosen_by", by, "bridge",
                              fj->bridge ? fj->bridge->bridge : NULL, "bridge_max_baud",
                              fj->bridge && fj->bridge->max_baud ? json_integer(fj->bridge->max_baud) : NULL,
                              "ceiling", (int)fj->plan.ceiling, "why", fj->auto_baud ? fj->plan.why : "the job's baud parameter");
        if (fj->tried)
                json_object_set(b, "tried", fj->tried);
        jr_result_set(jr, "baud", b);
        if (!succeeded || !fj->auto_baud || !fj->tried || used == fj->remembered)
                return;
        jr_fact(jr, "flash_baud", json_pack("{s:i, s:o?, s:s?}", "baud", (int)used, "failed",
                                            fj->baud_failed ? json_integer(fj->baud_failed) : NULL, "bridge",
                                            fj->bridge ? fj->bridge->bridge : NULL));
        jr_log(jr, "Remembered for this board: flashing holds %u baud", used);
}
