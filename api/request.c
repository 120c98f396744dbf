/* Reading a request: the path split into decoded segments, query arguments decoded once, ids. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "util.h"

bool api_parse_id(const char *s, int64_t *ret)
{
        char *end;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || v <= 0)
                return false;
        *ret = v;
        return true;
}

int api_unescape(char *s)
{
        char *o = s;
        for (char *i = s; *i; i++) {
                if (*i == '%') {
                        int h = util_hexval((unsigned char)i[1]), l = h >= 0 ? util_hexval((unsigned char)i[2]) : -1;
                        if (h < 0 || l < 0 || (h == 0 && l == 0))
                                return -EINVAL;
                        *o++ = (char)(h * 16 + l);
                        i += 2;
                } else {
                        *o++ = *i;
                }
        }
        *o = '\0';
        return (int)(o - s);
}

/* MHD leaves the URL and the query arguments as they came (see unescape_none): each is decoded
 * exactly once, here and in api_split_path. A value with a bad escape or %00 is handed on as
 * sent, so that the handler's own validation names it. */
const char *api_query(struct api_req *rq, const char *key)
{
        const char *raw = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
        if (!raw || !strchr(raw, '%') || rq->nqcopy >= API_MAX_QUERY_COPIES)
                return raw;
        char *c = strdup(raw);
        if (!c)
                return raw;
        if (api_unescape(c) < 0) {
                free(c);
                return raw;
        }
        rq->qcopy[rq->nqcopy++] = c;
        return c;
}

int api_split_path(char *path, char **segs, int max_segs, int *nsegs)
{
        *nsegs = 0;
        size_t len = strlen(path);
        char *p = path;
        if (*p == '/')
                p++;
        /* One trailing '/' is tolerated ("/api/v1/firmware/"); an empty segment elsewhere is not. */
        if (len > 1 && path[len - 1] == '/')
                path[--len] = '\0';
        if (!*p)
                return 0;
        for (;;) {
                char *slash = strchr(p, '/');
                if (slash)
                        *slash = '\0';
                if (!*p)
                        return -ENOENT;
                if (*nsegs >= max_segs)
                        return -E2BIG;
                if (api_unescape(p) < 0)
                        return -EINVAL;
                segs[(*nsegs)++] = p;
                if (!slash)
                        return 0;
                p = slash + 1;
        }
}
