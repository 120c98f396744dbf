/* Carrying what a MicroPython session learned over to the next session on the same port. */
#include "engines/mp/mp_session.h"

#include <string.h>

_Static_assert(sizeof(((struct mp_session *)0)->banner) == sizeof(((struct mp_repl *)0)->banner),
               "the kept banner and the session's banner have the same size");

void mp_session_save(const struct mp_repl *r, struct mp_session *s)
{
        memset(s, 0, sizeof(*s));
        s->magic = MP_SESSION_MAGIC;
        s->mode = r->mode;
        s->raw_paste = r->raw_paste;
        s->fs_caps = r->fs_caps;
        memcpy(s->banner, r->banner, sizeof(s->banner));
        s->banner[sizeof(s->banner) - 1] = '\0';
}

void mp_session_load(struct mp_repl *r, const struct mp_session *s, bool disturbed)
{
        if (!s || s->magic != MP_SESSION_MAGIC)
                return;
        r->raw_paste = s->raw_paste >= -1 && s->raw_paste <= 1 ? s->raw_paste : -1;
        r->fs_caps = s->fs_caps;
        memcpy(r->banner, s->banner, sizeof(r->banner));
        r->banner[sizeof(r->banner) - 1] = '\0';
        bool prompt = s->mode == MP_MODE_RAW || s->mode == MP_MODE_FRIENDLY;
        r->kept_mode = !disturbed && prompt ? (enum mp_mode)s->mode : MP_MODE_UNKNOWN;
}
