/* mp_identify: ask a MicroPython board what it is (version, platform, machine, ids, memory, fs),
 * with every probe guarded on the board so old or small firmware answers what it can. */
#include "engines/mp/mp_repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One "key\tvalue" line per fact; each probe has its own try/except. */
static const char identify_py[] =
        "def _cid():\n"
        " import sys\n"
        " def p(k,v):\n"
        "  print(k+'\\t'+str(v))\n"
        " try:p('implementation',sys.implementation.name)\n"
        " except:pass\n"
        " try:p('mp_version','.'.join([str(x) for x in sys.implementation.version[:3]]))\n"
        " except:pass\n"
        " try:p('platform',sys.platform)\n"
        " except:pass\n"
        " m=''\n"
        " try:\n"
        "  import os\n"
        "  u=os.uname()\n"
        "  p('release',u.release)\n"
        "  m=u.machine\n"
        " except:pass\n"
        " if not m:\n"
        "  try:m=sys.implementation._machine\n"
        "  except:pass\n"
        " if m:p('machine',m)\n"
        " try:\n"
        "  import machine\n"
        "  p('unique_id',''.join(['%02x'%b for b in machine.unique_id()]))\n"
        " except:pass\n"
        " try:\n"
        "  import gc\n"
        "  gc.collect()\n"
        "  p('mem_free',gc.mem_free())\n"
        " except:pass\n"
        " try:\n"
        "  import os\n"
        "  s=os.statvfs('/')\n"
        "  p('fs_size',s[0]*s[2])\n"
        "  p('fs_free',s[0]*s[3])\n"
        " except:pass\n"
        "_cid()\n"
        "del _cid\n";

static bool is_int_key(const char *k)
{
        return !strcmp(k, "mem_free") || !strcmp(k, "fs_size") || !strcmp(k, "fs_free");
}

static int set_fact(json_t *facts, const char *key, const char *val)
{
        json_t *v;
        if (is_int_key(key)) {
                char *end;
                long long n = strtoll(val, &end, 10);
                if (end == val || *end)
                        return 0;
                v = json_integer(n);
        } else {
                if (!*val)
                        return 0;
                v = json_string(val);
        }
        if (!v)
                return 0; /* not valid UTF-8: skip the fact */
        return json_object_set_new(facts, key, v) < 0 ? -ENOMEM : 0;
}

/* "MicroPython v1.9.2-34-gd64154c73 on ..." -> "1.9.2" */
static void version_from(const char *s, char *out, size_t size)
{
        const char *v = strstr(s, " v");
        out[0] = '\0';
        if (!v)
                return;
        v += 2;
        size_t n = strspn(v, "0123456789.");
        while (n > 0 && v[n - 1] == '.')
                n--;
        if (n == 0 || n >= size)
                return;
        memcpy(out, v, n);
        out[n] = '\0';
}

static int parse_facts(json_t *facts, char *text)
{
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line[strcspn(line, "\r")] = '\0';
                char *tab = strchr(line, '\t');
                if (!tab)
                        continue;
                *tab = '\0';
                if (strcmp(line, "release") == 0)
                        continue;
                int rc = set_fact(facts, line, tab + 1);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int mp_identify(struct mp_repl *r, json_t **ret_facts, char *msg, size_t msg_size)
{
        struct mp_exec_result res = { 0 };
        char release[32] = "";
        int rc;

        if (!r || !ret_facts)
                return -EINVAL;
        if (r->mode != MP_MODE_RAW) {
                if ((rc = mp_repl_interrupt(r, msg, msg_size)) < 0 ||
                    (rc = mp_repl_enter_raw(r, msg, msg_size)) < 0)
                        return rc;
        }
        /* Ctrl-B prints the banner; then back into the raw REPL. A board that does not print
         * one is no reason to fail. */
        if (mp_repl_exit_raw(r, msg, msg_size) < 0 && (rc = mp_repl_interrupt(r, msg, msg_size)) < 0)
                return rc;
        if ((rc = mp_repl_enter_raw(r, msg, msg_size)) < 0)
                return rc;
        /* Collect first, in an exec of its own: on a micro:bit (8 KB heap, fragmented by earlier
         * jobs) compiling the probe below can fail for want of memory, which 1.9.2 reports as
         * "SyntaxError: invalid syntax". */
        (void)mp_repl_eval(r, "import gc\ngc.collect()\n", 5000, &res, msg, msg_size);
        mp_exec_result_clear(&res);
        rc = mp_repl_eval(r, identify_py, 10000, &res, msg, msg_size);
        if (rc == -EREMOTEIO && strncmp(msg, "SyntaxError", 11) == 0) {
                /* Our probe compiles: it arrived damaged and never ran. Send it again, once. */
                mp_exec_result_clear(&res);
                rc = mp_repl_eval(r, identify_py, 10000, &res, msg, msg_size);
        }
        if (rc < 0) {
                mp_exec_result_clear(&res);
                return rc;
        }
        json_t *facts = json_object();
        if (!facts) {
                mp_exec_result_clear(&res);
                return -ENOMEM;
        }
        if (res.out) {
                const char *rel = strstr(res.out, "release\t");
                if (rel)
                        snprintf(release, sizeof(release), "%.*s", (int)strcspn(rel + 8, "\r\n"), rel + 8);
                rc = parse_facts(facts, res.out);
        }
        mp_exec_result_clear(&res);
        if (rc == 0 && !json_object_get(facts, "mp_version")) {
                char v[32];
                version_from(r->banner, v, sizeof(v));
                if (!v[0] && release[0])
                        snprintf(v, sizeof(v), "%s", release);
                if (v[0])
                        rc = set_fact(facts, "mp_version", v);
        }
        if (rc == 0 && r->banner[0])
                rc = set_fact(facts, "banner", r->banner);
        if (rc < 0) {
                json_decref(facts);
                snprintf(msg, msg_size, "out of memory");
                return rc;
        }
        *ret_facts = facts;
        return 0;
}
