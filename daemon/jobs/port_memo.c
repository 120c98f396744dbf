/* The rules for what job kinds keep with an open port between their jobs (see port_memo.h). */
#include "jobs/port_memo.h"

#include <errno.h>
#include <string.h>

void port_memo_wipe(struct port_memo *m)
{
        memset(m->block, 0, sizeof(m->block));
        m->size = 0;
        m->handback_len = 0;
        m->disturbed = true;
}

bool port_memo_kind(const struct port_memo *m, const struct job_kind *k)
{
        for (unsigned i = 0; i < m->nkinds; i++)
                if (m->kinds[i] == k)
                        return true;
        return false;
}

void *port_memo_claim(struct port_memo *m, const struct job_kind *k, size_t size, bool *disturbed)
{
        if (size == 0 || size > sizeof(m->block))
                return NULL;
        if (m->size != size) {
                memset(m->block, 0, sizeof(m->block));
                m->size = size;
        }
        m->handback_len = 0;
        if (!port_memo_kind(m, k) && m->nkinds < PORT_MEMO_KINDS)
                m->kinds[m->nkinds++] = k;
        if (disturbed)
                *disturbed = m->disturbed;
        return m->block;
}

int port_memo_set_handback(struct port_memo *m, const void *data, size_t len)
{
        if (len > sizeof(m->handback))
                return -EMSGSIZE;
        if (len)
                memcpy(m->handback, data, len);
        m->handback_len = len;
        return 0;
}

void port_memo_disturb(struct port_memo *m)
{
        m->disturbed = true;
}

void port_memo_job_end(struct port_memo *m, bool claimed)
{
        if (claimed)
                m->disturbed = false;
        else
                port_memo_wipe(m);
}
