/* Helpers shared by the ESP job kinds (flash, erase): parameter checks, connect options from
 * params and hints, facts reporting, errno to failure code (job_esp.c). */
#ifndef CORRAL_JOB_ESP_H
#define CORRAL_JOB_ESP_H

#include <jansson.h>
#include <stddef.h>

#include "engines/esp/esp_rom.h"
#include "jobs/job_run.h"

/* A string parameter that must be one of set (NULL-terminated), when given. 0 or -EINVAL + msg. */
int job_esp_check_str(const json_t *params, const char *key, const char *const *set, char *msg, size_t size);
/* Checks the options every ESP job shares (reset, baud, stub_dir). 0 or -EINVAL + msg. */
int job_esp_check_common(const json_t *params, char *msg, size_t size);
/* Connect options from the job's params and the board's hints (USB-JTAG bridges, url scheme). */
void job_esp_connect_opts(struct job_run *jr, struct esp_connect_opts *o);
/* Store chip, MAC, flash size... of a prepared loader as board facts. */
void job_esp_report_facts(struct job_run *jr, const struct esp_loader *l);
/* Stable failure code for a negative errno from the ESP engines. */
const char *job_esp_fail_code(int e);
/* jr_fail() with that code and the loader's message; returns e for -ENODEV / -ECANCELED (the
 * worker closes a vanished port / reports a timeout) and -EIO for everything else. */
int job_esp_fail(struct job_run *jr, int e, const struct esp_loader *l);

#endif
