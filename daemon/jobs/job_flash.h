/* Internal to the flash job kind (job_flash*.c): one job's state, shared by the orchestration
 * (job_flash.c), the submit checks (job_flash_check.c), the baud (job_flash_baud.c) and the
 * boot check (job_flash_boot.c). Not for other kinds: those use job_esp.h. */
#ifndef CORRAL_JOB_FLASH_H
#define CORRAL_JOB_FLASH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_baud.h"
#include "engines/esp/esp_bootcheck.h"
#include "engines/esp/esp_diff.h"
#include "engines/esp/esp_flash.h"
#include "engines/esp/esp_rom.h"
#include "jobs/job_esp.h"
#include "jobs/job_run.h"
#include "jobs/kinds.h"
#include "udev/usb_ids.h"
#include "util.h"

#define FLASH_FILE_MAX (64u << 20)

struct flash_job;

/* The engine callbacks' user data. */
struct ctx {
        struct job_run *jr;
        struct flash_job *fj;
        int last_pct;
        unsigned zcache_hits;
};

/* One flash job: the parts it writes, its loader session, and the boot checks after it. */
struct flash_job {
        struct job_run *jr;
        struct esp_connect_opts co;
        struct esp_loader *l;
        struct ctx c;
        struct esp_flash_part parts[ESP_FLASH_MAX_PARTS];
        uint8_t *bufs[ESP_FLASH_MAX_PARTS];
        size_t n;
        const char *fw_id;              /* library id of what was asked for, NULL when paths */
        char names[ESP_FLASH_MAX_PARTS][24]; /* "fw-<12 hex>" for library parts */
        uint8_t *kg_buf;                /* the known-good firmware, when rolled back */
        struct esp_flash_part kg;
        const struct esp_flash_part *cur; /* what is in flash now: parts, or &kg after a rollback */
        size_t cur_n;
        struct esp_bootcheck_capture *cap;
        struct esp_bootcheck_attempt att[ESP_BOOTCHECK_MAX_ATTEMPTS];
        size_t n_att;
        /* The baud: chosen by corral (auto) unless the job names one. */
        bool auto_baud;
        struct esp_baud_plan plan;
        const struct usb_id *bridge;  /* NULL when the port has no VID:PID */
        unsigned remembered, baud_used, baud_failed;
        unsigned next_baud;           /* what pick_baud tries next, 0 = stay */
        unsigned stub_pick_failed;    /* the first step, tried before the stub upload, did not hold */
        /* Sector diff: what corral wrote to this board before (the flash_record fact). */
        struct esp_flash_record records[ESP_FLASH_MAX_PARTS * 2];
        size_t n_records;
        json_t *tried;                /* [{baud, ok, error}] */
        double baud_s;                /* changing the baud, checks, reconnects after a failure */
};

static inline double flash_now_s(void)
{
        return (double)util_mono_ms() / 1000.0;
}

/* job_flash_check.c: the kind's check hooks (see kinds.h). */
int job_flash_check(const json_t *params, char *msg, size_t size);
int job_flash_check_store(const json_t *params, struct store *store, char *msg, size_t size);
int job_flash_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size);
int job_flash_check_board(const json_t *params, struct store *store, const json_t *facts, char *msg, size_t size);

/* job_flash.c */
/* A whole file of at most FLASH_FILE_MAX bytes into *ret (caller frees). 0 or -errno + msg. */
int flash_read_file(const char *path, uint8_t **ret, size_t *ret_len, char *msg, size_t size);
/* (Re)connect to the ROM loader; the first time the board's facts are reported. */
int flash_connect_loader(struct flash_job *fj, bool first);
/* Write parts through the prepared loader with the job's options (mode/erase override them). */
int flash_write_parts(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
                      bool erase, bool no_reset, struct esp_flash_result *r);

/* job_flash_baud.c */
unsigned flash_remembered_baud(struct flash_job *fj);
void flash_plan_baud(struct flash_job *fj);
/* esp_connect_opts.pick_stub_baud; user is the job. The plan's first step for a stub. */
unsigned flash_pick_stub_baud(void *user, const struct esp_loader *l);
void flash_tried_add(struct flash_job *fj, unsigned baud, const char *error);
/* esp_flash_opts.pick_baud; user is the job's struct ctx. */
int flash_pick_baud(void *user, struct esp_loader *l);
int flash_write_stepping(struct flash_job *fj, const struct esp_flash_part *parts, size_t n, const char *mode,
                         bool erase, bool no_reset, struct esp_flash_result *r);
void flash_load_records(struct flash_job *fj);
void flash_save_records(struct flash_job *fj, const struct esp_flash_result *r);
void flash_report_baud(struct flash_job *fj, bool succeeded);

/* job_flash_boot.c: boot check, remediation by policy, verdict. 0 or jr_fail(). */
int flash_boot_check_loop(struct flash_job *fj, const struct esp_flash_result *first);

#endif
