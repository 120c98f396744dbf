/* The table of job kinds and lookups by name. */
#include <stdio.h>
#include <string.h>

#include "jobs/job_run.h"
#include "jobs/kinds.h"

const struct job_kind *const job_kinds[] = {
        &job_kind_identify,
        &job_kind_reset,
        &job_kind_flash,
        &job_kind_erase,
        &job_kind_run,
        &job_kind_soft_reset,
        &job_kind_fs_ls,
        &job_kind_fs_put,
        &job_kind_fs_get,
        &job_kind_fs_rm,
        &job_kind_fs_mkdir,
        &job_kind_fs_rmdir,
        &job_kind_deploy,
        &job_kind_expect,
        &job_kind_power_cycle,
        &job_kind_health_check,
        NULL,
};

const struct job_kind *job_kind_find(const char *name)
{
        for (size_t i = 0; name && job_kinds[i]; i++)
                if (!strcmp(job_kinds[i]->name, name))
                        return job_kinds[i];
        return NULL;
}

void job_kinds_list(char *buf, size_t size)
{
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; job_kinds[i] && o < size; i++)
                o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", job_kinds[i]->name);
}
