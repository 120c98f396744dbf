/* Static files of the web console from the configured web root: no path traversal (decoded
 * and double-decoded "..", absolute paths, symlinks out of the root), right content types,
 * cache headers (vendor/ for a day, the rest revalidated with an ETag). Public: no auth. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"

static const char *content_type(const char *path)
{
        const char *dot = strrchr(path, '.');
        static const struct {
                const char *ext, *type;
        } types[] = {
                { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
                { ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
                { ".json", "application/json" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
                { ".ico", "image/x-icon" }, { ".txt", "text/plain; charset=utf-8" }, { ".yaml", "application/yaml" },
        };
        for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
                if (!strcmp(dot, types[i].ext))
                        return types[i].type;
        return "application/octet-stream";
}

static int hexv(int c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A ".." path segment anywhere (separators: '/' and '\\'). */
static bool has_dotdot(const char *p)
{
        for (const char *s = p; *s;) {
                size_t n = strcspn(s, "/\\");
                if (n == 2 && s[0] == '.' && s[1] == '.')
                        return true;
                s += n;
                if (*s)
                        s++;
        }
        return false;
}

enum MHD_Result routes_static(struct api_req *rq)
{
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Static files only answer GET.");
        /* MHD hands us the path as sent (http.c: unescape_none): decoded once here; a '%' left
         * after that (double encoding, %252e) is refused. */
        char rel[1024];
        size_t o = 0;
        for (const char *i = rq->url; *i && o < sizeof(rel) - 1; i++) {
                if (*i == '%' && hexv((unsigned char)i[1]) >= 0 && hexv((unsigned char)i[2]) >= 0) {
                        rel[o++] = (char)(hexv((unsigned char)i[1]) * 16 + hexv((unsigned char)i[2]));
                        i += 2;
                } else {
                        rel[o++] = *i;
                }
        }
        rel[o] = '\0';
        if (has_dotdot(rel) || has_dotdot(rq->url) || strchr(rel, '\\') || memchr(rel, 0, o) != NULL ||
            o == sizeof(rel) - 1 || strchr(rel, '%') || rel[0] != '/')
                return api_reply_error(rq, CORRAL_E_BAD_PATH, NULL, "Path '%s' is not allowed.", rq->url);
        if (!strcmp(rel, "/"))
                snprintf(rel, sizeof(rel), "/index.html");
        char root[sizeof(((struct config *)0)->web_root)];
        const struct config *cfg = config_live_get(rq->ctx->config);
        snprintf(root, sizeof(root), "%s", cfg->web_root);
        config_put(cfg);
        char want[PATH_MAX], real[PATH_MAX], rootreal[PATH_MAX];
        if (!realpath(root, rootreal))
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, NULL, "The web console is not installed (web_root %s).", root);
        if (strlen(rootreal) + strlen(rel) >= sizeof(want))
                return api_reply_error(rq, CORRAL_E_URI_TOO_LONG, NULL, "The request path is too long.");
        memcpy(want, rootreal, strlen(rootreal));
        memcpy(want + strlen(rootreal), rel, strlen(rel) + 1);
        if (!realpath(want, real) || strncmp(real, rootreal, strlen(rootreal)) != 0 ||
            (real[strlen(rootreal)] != '/' && real[strlen(rootreal)] != '\0'))
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No file at '%s'.",
                                       rq->url);
        int fd = open(real, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                if (fd >= 0)
                        close(fd);
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No file at '%s'.",
                                       rq->url);
        }
        /* A validator from size and modification time: "no-cache" files are revalidated cheaply. */
        char etag[64];
        snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "-%lx\"", (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                 (unsigned long)st.st_mtim.tv_nsec);
        const char *inm = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        bool fresh = inm && !strcmp(inm, etag);
        struct MHD_Response *resp = fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                                          : MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (fresh)
                close(fd);
        if (!resp) {
                if (!fresh)
                        close(fd);
                return MHD_NO;
        }
        size_t rl = strlen(rootreal);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(real));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                !strncmp(real + rl, "/vendor/", 8) ? "public, max-age=86400" : "no-cache");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        enum MHD_Result r = api_queue_response(rq, fresh ? 304 : 200, resp);
        MHD_destroy_response(resp);
        return r;
}
