/* Static files of the web console from the configured web root: no path traversal (decoded
 * "..", absolute paths, symlinks out of the root), right content types, cache headers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

enum MHD_Result routes_static(struct api_req *rq)
{
        if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD"))
                return api_reply_error(rq, 405, "method_not_allowed", NULL, "Static files only answer GET.");
        /* MHD hands us the path already percent-decoded; decode again defensively for %2e%2e. */
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
        if (strstr(rel, "..") || strchr(rel, '\\') || memchr(rel, 0, o) != NULL || o == sizeof(rel) - 1)
                return api_reply_error(rq, 400, "bad_path", NULL, "Path '%s' is not allowed.", rq->url);
        if (!strcmp(rel, "/") || rel[0] == '\0')
                snprintf(rel, sizeof(rel), "/index.html");
        const char *root = rq->ctx->cfg->web_root;
        char want[PATH_MAX], real[PATH_MAX], rootreal[PATH_MAX];
        if (!realpath(root, rootreal))
                return api_reply_error(rq, 404, "not_found", NULL, "The web console is not installed (web_root %s).", root);
        if (strlen(rootreal) + strlen(rel) >= sizeof(want))
                return api_reply_error(rq, 414, "uri_too_long", NULL, "The request path is too long.");
        memcpy(want, rootreal, strlen(rootreal));
        memcpy(want + strlen(rootreal), rel, strlen(rel) + 1);
        if (!realpath(want, real) || strncmp(real, rootreal, strlen(rootreal)) != 0 ||
            (real[strlen(rootreal)] != '/' && real[strlen(rootreal)] != '\0'))
                return api_reply_error(rq, 404, "not_found", json_pack("{s:s}", "path", rq->url), "No file at '%s'.",
                                       rq->url);
        int fd = open(real, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                if (fd >= 0)
                        close(fd);
                return api_reply_error(rq, 404, "not_found", json_pack("{s:s}", "path", rq->url), "No file at '%s'.",
                                       rq->url);
        }
        struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (!resp) {
                close(fd);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(real));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                strstr(real, "/vendor/") ? "public, max-age=86400" : "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        enum MHD_Result r = MHD_queue_response(rq->conn, 200, resp);
        MHD_destroy_response(resp);
        return r;
}
