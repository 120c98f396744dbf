/* Job kind "erase": erase the whole flash (or a 4 KiB aligned region) of an ESP board. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engines/esp/esp_rom.h"
#include "engines/esp/esp_info.h"
#include "engines/esp/esp_flashcmd.h"
#include "jobs/job_esp.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"

/* From job_flash.c. */

static int erase_check(const json_t *params, char *msg, size_t size)
{
        if (params && !json_is_object(params)) {
                snprintf(msg, size, "Parameters must be an object");
                return -EINVAL;
        }
        json_t *off = json_object_get(params, "offset"), *sz = json_object_get(params, "size");
        if ((off != NULL) != (sz != NULL)) {
                snprintf(msg, size, "Give both 'offset' and 'size' for a region, or neither for the whole chip");
                return -EINVAL;
        }
        if (off) {
                if (!json_is_integer(off) || !json_is_integer(sz) || json_integer_value(off) < 0 ||
                    json_integer_value(sz) <= 0 || json_integer_value(off) % 4096 ||
                    json_integer_value(sz) % 4096 || json_integer_value(off) + json_integer_value(sz) > 0x10000000) {
                        snprintf(msg, size, "'offset' and 'size' must be positive multiples of 4096 (0x1000)");
                        return -EINVAL;
                }
        }
        return job_esp_check_common(params, msg, size);
}

static int erase_run(struct job_run *jr)
{
        const json_t *params = jr_params(jr);
        struct esp_connect_opts co;
        struct esp_loader *l = NULL;
        job_esp_connect_opts(jr, &co);
        if (esp_loader_new(jr_port(jr), &l) < 0)
                return jr_fail(jr, "internal", "Out of memory");
        jr_progress(jr, 0, "connecting");
        int e = esp_loader_prepare(l, &co);
        if (e < 0) {
                e = job_esp_fail(jr, e, l);
                goto out;
        }
        job_esp_report_facts(jr, l);
        jr_progress(jr, 10, "erasing");
        json_t *off = json_object_get(params, "offset");
        if (off) {
                uint32_t o = (uint32_t)json_integer_value(off);
                uint32_t s = (uint32_t)json_integer_value(json_object_get(params, "size"));
                if (l->flash_size && (uint64_t)o + s > l->flash_size) {
                        e = jr_fail(jr, "invalid", "Region 0x%x+0x%x is beyond the %u KiB flash", o, s,
                                    l->flash_size / 1024);
                        goto out;
                }
                e = esp_erase_region(l, o, s);
                if (e == 0)
                        jr_log(jr, "Erased 0x%x..0x%x", o, o + s);
        } else {
                e = esp_erase_all(l);
                if (e == 0)
                        jr_log(jr, "Erased the whole flash (%u KiB)%s", l->flash_size / 1024,
                               l->stub ? "" : " through the ROM loader");
        }
        if (e < 0) {
                e = job_esp_fail(jr, e, l);
                goto out;
        }
        jr_result_set(jr, "erased", json_string(off ? "region" : "all"));
        if (co.reset != ESP_RESET_NONE) {
                jr_progress(jr, 95, "resetting");
                if (esp_hard_reset(l) < 0)
                        jr_log(jr, "%s", esp_loader_msg(l));
        }
        jr_progress(jr, 100, "done");
        e = 0;
out:
        esp_loader_free(l);
        return e;
}

const struct job_kind job_kind_erase = {
        .name = "erase",
        .summary = "erase the flash of an ESP board (whole chip, or offset+size)",
        .default_timeout_s = 300,
        .check = erase_check,
        .run = erase_run,
};
