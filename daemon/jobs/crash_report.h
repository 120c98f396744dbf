/* A job's crash report: follows the serial lines of a run (crash addresses through the backtrace
 * scanner, ROM reset lines through the boot-log parser), then decodes the addresses against the
 * app's ELF (a firmware-library id or a confined host path) into function and file:line, and
 * names the boot log's reset reason and a reset that happened during the test. */
#ifndef CORRAL_CRASH_REPORT_H
#define CORRAL_CRASH_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "jobs/job_run.h"

struct crash_report;

/* Check a job's "elf" (library id) / "elf_path" (host path) parameters. 0 or -EINVAL with msg. */
int crash_report_check(const json_t *params, char *msg, size_t size);
/* The library id must be there: 0 or -EBADMSG. */
int crash_report_check_store(const json_t *params, struct store *store, char *msg, size_t size);
/* elf_path only for callers who may read host files, inside firmware_dirs: 0, -EACCES, -EBADMSG. */
int crash_report_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size);

/* expect_reset: the job reset the board itself, so the first ROM reset line is the expected boot.
 * *ret owned by the caller. 0 or -ENOMEM. */
int crash_report_new(bool expect_reset, struct crash_report **ret);
struct crash_report *crash_report_free(struct crash_report *cr);
void crash_report_line(struct crash_report *cr, const char *line, size_t len);

/* Build the report (call once, after the run): decodes with the job's ELF when it has one. Sets
 * result "backtrace" {elf, machine, crashes, frames: [{addr, role, format, crash, function,
 * offset, file, line}], note} when addresses were seen, "boot_reset" {line, cause, reason, kind,
 * text: "power-on (rst:0x1 POWERON_RESET)"} for the boot log's reset line after the job's own
 * reset, and "unexpected_reset" (the same keys) when the board reset during the test. */
void crash_report_finish(struct crash_report *cr, struct job_run *jr);
/* After finish: "at read_sensor (main/app.c:5)" for the first decoded crash frame, or NULL. */
const char *crash_report_where(const struct crash_report *cr);
/* After finish: the decoded frames as lines ("0x400d1f2e: read_sensor at main/app.c:5"), or NULL. */
const char *crash_report_text(const struct crash_report *cr);
/* After finish: "the board reset during the test: watchdog (rst cause 4)", or NULL. */
const char *crash_report_reset(const struct crash_report *cr);
/* After a line: the boot log's reset, named: "power-on (rst:0x1 POWERON_RESET)", or NULL. */
const char *crash_report_boot(const struct crash_report *cr);

#endif
