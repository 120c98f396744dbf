/* Every job kind corrald knows, declared here and listed in job_kinds.c. */
#ifndef CORRAL_KINDS_H
#define CORRAL_KINDS_H

#include "jobs/job_run.h"

extern const struct job_kind job_kind_identify;
extern const struct job_kind job_kind_reset;
extern const struct job_kind job_kind_run;
extern const struct job_kind job_kind_fs_ls;
extern const struct job_kind job_kind_fs_put;
extern const struct job_kind job_kind_fs_get;
extern const struct job_kind job_kind_fs_rm;
extern const struct job_kind job_kind_fs_mkdir;
extern const struct job_kind job_kind_fs_rmdir;
extern const struct job_kind job_kind_deploy;
extern const struct job_kind job_kind_soft_reset;
extern const struct job_kind job_kind_flash, job_kind_erase;
extern const struct job_kind job_kind_expect;
extern const struct job_kind job_kind_power_cycle, job_kind_health_check;

#endif
