/* /api/v1/firmware: streaming uploads (raw or multipart, to a temp file, limit max_upload),
 * list with filters, metadata and download, delete (guarded), and known-good pins per family.
 * PATCH (the catalogue edit) is routes_firmware_edit.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "firmware/firmware.h"
#include "store/store_firmware.h"

#define MULTIPART_SLACK (64u * 1024u) /* boundaries and small fields around the file part */

struct api_upload {
        const struct http_ctx *ctx;
        struct firmware_upload *fu;
        struct MHD_PostProcessor *pp;
        bool multipart, bad_type, too_big, pp_failed, saw_file;
        unsigned file_parts;       /* 'file' parts that carried data: more than one is refused */
        uint64_t body;
        size_t limit;
        int setup_err;
        char name[256], notes[4096], chip[64], labels[1024], filename[256];
        char title[256], family[64], version[64], release_notes[8192]; /* the catalogue */
};

bool api_upload_wanted(const char *method, const char *url)
{
        return !strcmp(method, "POST") && (!strcmp(url, "/api/v1/firmware") || !strcmp(url, "/api/v1/firmware/"));
}

static void append(char *dst, size_t size, const char *data, size_t n)
{
        size_t have = strlen(dst);
        if (have + 1 >= size)
                return;
        if (n > size - 1 - have)
                n = size - 1 - have;
        memcpy(dst + have, data, n);
        dst[have + n] = '\0';
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data,
                               uint64_t off, size_t size)
{
        (void)kind, (void)content_type, (void)transfer_encoding;
        struct api_upload *u = cls;
        if (!key)
                return MHD_YES;
        if (!strcmp(key, "file")) {
                u->saw_file = true;
                /* A part's data comes in pieces at growing offsets; offset 0 again is another
                 * 'file' part, which must not be appended to the first (two images stored as one). */
                if (size && off == 0 && ++u->file_parts > 1)
                        return MHD_YES;
                if (u->file_parts > 1)
                        return MHD_YES;
                if (filename && !u->filename[0])
                        append(u->filename, sizeof(u->filename), filename, strlen(filename));
                if (size && u->fu)
                        firmware_upload_write(u->fu, data, size);
        } else if (!strcmp(key, "name")) {
                append(u->name, sizeof(u->name), data, size);
        } else if (!strcmp(key, "notes")) {
                append(u->notes, sizeof(u->notes), data, size);
        } else if (!strcmp(key, "chip")) {
                append(u->chip, sizeof(u->chip), data, size);
        } else if (!strcmp(key, "labels")) {
                append(u->labels, sizeof(u->labels), data, size);
        } else if (!strcmp(key, "filename")) {
                append(u->filename, sizeof(u->filename), data, size);
        } else if (!strcmp(key, "title")) {
                append(u->title, sizeof(u->title), data, size);
        } else if (!strcmp(key, "family")) {
                append(u->family, sizeof(u->family), data, size);
        } else if (!strcmp(key, "version")) {
                append(u->version, sizeof(u->version), data, size);
        } else if (!strcmp(key, "release_notes")) {
                append(u->release_notes, sizeof(u->release_notes), data, size);
        }
        return MHD_YES;
}

struct api_upload *api_upload_new(struct MHD_Connection *conn, const struct http_ctx *ctx)
{
        struct api_upload *u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->ctx = ctx;
        const struct config *cfg = config_live_get(ctx->config);
        u->limit = cfg->max_upload;
        config_put(cfg);
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
                u->multipart = true;
                u->pp = MHD_create_post_processor(conn, 64 * 1024, on_part, u);
                u->bad_type = !u->pp;
        } else if (ct && strncasecmp(ct, "application/octet-stream", 24) != 0) {
                u->bad_type = true;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)u->limit + (u->multipart ? MULTIPART_SLACK : 0))
                u->too_big = true;
        char dir[512];
        u->setup_err = store_firmware_dir(ctx->store, dir, sizeof(dir));
        if (!u->setup_err && !u->bad_type && !u->too_big)
                u->setup_err = firmware_upload_begin(dir, u->limit, &u->fu);
        return u;
}

void api_upload_data(struct api_upload *u, const char *data, size_t size)
{
        u->body += size;
        if (u->too_big || u->bad_type || !u->fu || u->pp_failed)
                return;
        if (u->body > (uint64_t)u->limit + (u->multipart ? MULTIPART_SLACK : 0)) {
                u->too_big = true;
                u->fu = firmware_upload_free(u->fu);
                return;
        }
        if (u->pp) {
                if (MHD_post_process(u->pp, data, size) == MHD_NO)
                        u->pp_failed = true;
        } else {
                firmware_upload_write(u->fu, data, size);
        }
}

struct api_upload *api_upload_free(struct api_upload *u)
{
        if (!u)
                return NULL;
        if (u->pp)
                MHD_destroy_post_processor(u->pp);
        firmware_upload_free(u->fu);
        free(u);
        return NULL;
}

/* ---- helpers ---- */

json_t *routes_firmware_urls(json_t *row)
{
        const char *id = json_string_value(json_object_get(row, "id"));
        if (id) {
                char url[128];
                snprintf(url, sizeof(url), "/api/v1/firmware/%s?download=1", id);
                json_object_set_new(row, "download_url", json_string(url));
        }
        return row;
}

static enum MHD_Result reply_empty(struct api_req *rq, unsigned status)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        enum MHD_Result r = api_queue_response(rq, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result store_failure(struct api_req *rq, int e, const char *what)
{
        if (e == -ENOSPC)
                return api_reply_error(rq, CORRAL_E_DISK_FULL, NULL, "%s: the disk is full.", what);
        if (e == -ENOTCONN)
                return api_reply_store_unavailable(rq);
        return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "%s: %s.", what, strerror(-e));
}

/* "a, b,c" -> ["a","b","c"] (empty items dropped). */
static json_t *labels_from(const char *s)
{
        json_t *a = json_array();
        if (!s)
                return a;
        const char *p = s;
        while (*p) {
                size_t n = strcspn(p, ",");
                const char *b = p, *e = p + n;
                while (b < e && isspace((unsigned char)*b))
                        b++;
                while (e > b && isspace((unsigned char)e[-1]))
                        e--;
                if (e > b)
                        json_array_append_new(a, json_stringn(b, (size_t)(e - b)));
                p += n + (p[n] == ',');
        }
        return a;
}

static const char *pick(const char *field, const char *query)
{
        return field && *field ? field : query && *query ? query : NULL;
}

/* ---- POST /firmware ---- */

/* The upload itself refused (no upload, wrong type, too large, a broken body): true with *r set. */
static bool upload_refused(struct api_req *rq, struct api_upload *u, enum MHD_Result *r)
{
        if (!u) { /* a spelling of the path that api_upload_wanted() does not take ("/firm%61ware") */
                *r = api_reply_error(rq, CORRAL_E_BAD_PATH, json_pack("{s:s}", "path", rq->url),
                                     "Upload firmware with POST /api/v1/firmware, spelled exactly so.");
                return true;
        }
        if (u->pp) {
                if (MHD_destroy_post_processor(u->pp) == MHD_NO)
                        u->pp_failed = true;
                u->pp = NULL;
        }
        const char *emsg = "";
        int e = u->fu ? firmware_upload_error(u->fu, &emsg) : 0;
        if (u->bad_type)
                *r = api_reply_error(rq, CORRAL_E_UNSUPPORTED_MEDIA_TYPE, NULL,
                                     "Upload firmware as application/octet-stream (metadata in the query) or as "
                                     "multipart/form-data with a 'file' part.");
        else if (u->too_big || e == -EFBIG)
                *r = api_reply_error(rq, CORRAL_E_UPLOAD_TOO_LARGE,
                                     json_pack("{s:I}", "limit_bytes", (json_int_t)u->limit),
                                     "The firmware is larger than the upload limit of %zu bytes (max_upload).",
                                     u->limit);
        else if (u->setup_err)
                *r = store_failure(rq, u->setup_err, "Cannot prepare the firmware directory");
        else if (e == -ENOSPC)
                *r = api_reply_error(rq, CORRAL_E_DISK_FULL, NULL, "%s.", emsg);
        else if (e < 0)
                *r = api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "%s.", emsg);
        else if (u->pp_failed)
                *r = api_reply_error(rq, CORRAL_E_BAD_MULTIPART, NULL, "The multipart/form-data body is malformed.");
        else if (u->multipart && !u->saw_file)
                *r = api_reply_error(rq, CORRAL_E_MISSING_FILE, NULL,
                                     "The multipart/form-data body needs a part named 'file'.");
        else if (u->file_parts > 1)
                *r = api_reply_error(rq, CORRAL_E_DUPLICATE_FILE, json_pack("{s:i}", "file_parts", (int)u->file_parts),
                                     "The multipart/form-data body has %u parts named 'file'; upload one image per "
                                     "request.", u->file_parts);
        else
                return false;
        return true;
}

/* The upload's metadata, from its form fields or else the query. */
struct fw_fields {
        const char *filename, *name, *notes, *chip, *labels, *title, *family, *version, *release_notes;
};

/* Read and check the metadata: true with *r set when a field is refused. */
static bool fields_refused(struct api_req *rq, const struct api_upload *u, struct fw_fields *f, enum MHD_Result *r)
{
        *f = (struct fw_fields){
                .filename = pick(u->filename, api_query(rq, "filename")),
                .name = pick(u->name, api_query(rq, "name")),
                .notes = pick(u->notes, api_query(rq, "notes")),
                .chip = pick(u->chip, api_query(rq, "chip")),
                .labels = pick(u->labels, api_query(rq, "labels")),
                .title = pick(u->title, api_query(rq, "title")),
                .family = pick(u->family, api_query(rq, "family")),
                .version = pick(u->version, api_query(rq, "version")),
                .release_notes = pick(u->release_notes, api_query(rq, "release_notes")),
        };
        if ((f->name && strlen(f->name) > 200) || (f->filename && strlen(f->filename) > 200) ||
            (f->notes && strlen(f->notes) > 4000))
                *r = api_reply_error(rq, CORRAL_E_INVALID_FIELD, NULL,
                                     "name and filename are limited to 200 bytes, notes to 4000.");
        else if ((f->title && strlen(f->title) > 200) || (f->version && strlen(f->version) > 40) ||
                 (f->release_notes && strlen(f->release_notes) > 8000))
                *r = api_reply_error(rq, CORRAL_E_INVALID_FIELD, NULL,
                                     "title is limited to 200 bytes, version to 40, release_notes to 8000.");
        else if (f->family && (strlen(f->family) > 32 ||
                               strspn(f->family, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(f->family)))
                *r = api_reply_error(rq, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "family"),
                                     "'family' must be a board family in lower case, such as esp8266, esp32 or "
                                     "micropython.");
        else if (f->chip && (strlen(f->chip) > 32 || !*f->chip))
                *r = api_reply_error(rq, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "chip"),
                                     "'chip' must be a chip name such as esp8266, esp32, esp32c3 or rp2040.");
        else
                return false;
        return true;
}

/* A new image that would take the library over max_library: true with *r set. */
static bool quota_refused(struct api_req *rq, const char *sha, uint64_t add, enum MHD_Result *r)
{
        const struct config *cfg = config_live_get(rq->ctx->config);
        size_t quota = cfg->max_library;
        config_put(cfg);
        json_t *existing = NULL;
        bool refused = false;
        if (quota && store_firmware_get(rq->ctx->store, sha, &existing) == -ENOENT) {
                uint64_t used = 0;
                int e = store_firmware_total(rq->ctx->store, &used);
                if (e < 0) {
                        *r = store_failure(rq, e, "Could not size the firmware library");
                        refused = true;
                } else if (used + add > quota) {
                        *r = api_reply_error(rq, CORRAL_E_LIBRARY_FULL,
                                             json_pack("{s:I, s:I, s:I}", "limit_bytes", (json_int_t)quota,
                                                       "used_bytes", (json_int_t)used, "upload_bytes", (json_int_t)add),
                                             "The firmware library would hold %llu bytes, over its quota of %zu "
                                             "(max_library); delete firmware that is no longer needed.",
                                             (unsigned long long)(used + add), quota);
                        refused = true;
                }
        }
        json_decref(existing);
        return refused;
}

static enum MHD_Result post_firmware_checked(struct api_req *rq)
{
        struct api_upload *u = rq->upload;
        struct fw_fields f;
        enum MHD_Result r;
        if (upload_refused(rq, u, &r) || fields_refused(rq, u, &f, &r))
                return r;
        struct firmware_info fi;
        char sha[FIRMWARE_ID_LEN + 1], msg[512];
        int e = firmware_upload_finish(u->fu, f.filename, &fi, sha, msg, sizeof(msg));
        if (e == -ENODATA)
                return api_reply_error(rq, CORRAL_E_EMPTY_UPLOAD, NULL, "The upload is empty: send the firmware bytes.");
        if (e < 0)
                return api_reply_error(rq, e == -ENOSPC ? CORRAL_E_DISK_FULL : CORRAL_E_STORE_ERROR, NULL, "%s.", msg);
        e = firmware_check_declared(&fi, f.filename, f.chip, msg, sizeof(msg));
        if (e < 0)
                return api_reply_error(rq, CORRAL_E_CONTENT_MISMATCH,
                                       json_pack("{s:s, s:s?, s:s?, s:s?}", "kind", fi.kind, "chip",
                                                 fi.chip[0] ? fi.chip : NULL, "declared_chip", f.chip, "filename",
                                                 f.filename),
                                       "%s.", msg);
        if (quota_refused(rq, sha, firmware_upload_size(u->fu), &r))
                return r;
        e = firmware_upload_commit(u->fu, msg, sizeof(msg));
        if (e < 0)
                return api_reply_error(rq, e == -ENOSPC ? CORRAL_E_DISK_FULL : CORRAL_E_STORE_ERROR, NULL, "%s.", msg);
        json_t *lab = labels_from(f.labels);
        struct firmware_user user = { .name = f.name, .filename = f.filename, .notes = f.notes, .labels = lab,
                                      .title = f.title, .family = f.family, .version = f.version,
                                      .release_notes = f.release_notes };
        json_t *row = NULL;
        bool created = false;
        e = firmware_register(rq->ctx->store, sha, firmware_upload_size(u->fu), &fi, &user, &row, &created);
        json_decref(lab);
        if (e < 0)
                return store_failure(rq, e, "Could not record the firmware");
        char loc[128];
        snprintf(loc, sizeof(loc), "/api/v1/firmware/%s", sha);
        json_object_set_new(row, "created", json_boolean(created));
        return api_reply_json_at(rq, created ? 201 : 200, routes_firmware_urls(row), loc, false);
}

/* A refused upload's temp file goes before the answer is sent, not when the connection ends:
 * whoever reads the answer finds nothing of it left. */
static enum MHD_Result post_firmware(struct api_req *rq)
{
        enum MHD_Result r = post_firmware_checked(rq);
        if (rq->status >= 400 && rq->upload)
                rq->upload->fu = firmware_upload_free(rq->upload->fu);
        return r;
}

/* ---- GET /firmware/{id}?download=1 ---- */

static enum MHD_Result download(struct api_req *rq, const char *id, json_t *row)
{
        char path[700];
        int e = firmware_path(rq->ctx->store, id, path, sizeof(path));
        if (e < 0) {
                json_decref(row);
                return api_reply_error(rq, CORRAL_E_FIRMWARE_FILE_MISSING, json_pack("{s:s}", "firmware", id),
                                       "The file of firmware %s is missing from the library.", id);
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        close(fd);
                json_decref(row);
                return api_reply_error(rq, CORRAL_E_STORE_ERROR, NULL, "Cannot read the firmware file.");
        }
        char fname[160] = "";
        const char *given = json_string_value(json_object_get(row, "filename"));
        for (size_t i = 0, o = 0; given && given[i] && o + 1 < sizeof(fname); i++)
                if (isalnum((unsigned char)given[i]) || strchr("._-", given[i]))
                        fname[o++] = given[i], fname[o] = '\0';
        if (!fname[0])
                snprintf(fname, sizeof(fname), "%.12s.bin", id);
        json_decref(row);
        struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (!resp) {
                close(fd);
                return MHD_NO;
        }
        char disp[200], etag[80];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
        snprintf(etag, sizeof(etag), "\"%s\"", id);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        MHD_add_response_header(resp, "Content-Disposition", disp);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        enum MHD_Result r = api_queue_response(rq, 200, resp);
        MHD_destroy_response(resp);
        return r;
}

/* ---- known-good ---- */

static enum MHD_Result pin_reply(struct api_req *rq, unsigned status, json_t *pin)
{
        json_t *row = NULL;
        const char *id = json_string_value(json_object_get(pin, "firmware_id"));
        if (id && store_firmware_get(rq->ctx->store, id, &row) == 0)
                json_object_set_new(pin, "firmware", routes_firmware_urls(row));
        return api_reply_json(rq, status, pin);
}

static enum MHD_Result known_good(struct api_req *rq)
{
        struct store *st = rq->ctx->store;
        if (rq->nsegs == 2) {
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL, "Use GET on /firmware/known-good.");
                json_t *pins = NULL;
                int e = store_firmware_pin_list(st, &pins);
                if (e < 0)
                        return store_failure(rq, e, "Could not read the known-good pins");
                return api_reply_json(rq, 200, json_pack("{s:o}", "known_good", pins));
        }
        if (rq->nsegs != 3)
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        const char *family = rq->segs[2];
        if (!firmware_family_valid(family))
                return api_reply_error(rq, CORRAL_E_INVALID_FAMILY, json_pack("{s:s}", "family", family),
                                       "Board families are 1-32 characters of a-z, 0-9, '_' and '-', like esp8266.");
        if (!strcmp(rq->method, "GET")) {
                json_t *pin = NULL;
                int e = store_firmware_pin_get(st, family, &pin);
                if (e == -ENOENT)
                        return api_reply_error(rq, CORRAL_E_KNOWN_GOOD_NOT_FOUND, json_pack("{s:s}", "family", family),
                                               "No known-good firmware is pinned for family %s.", family);
                if (e < 0)
                        return store_failure(rq, e, "Could not read the pin");
                return pin_reply(rq, 200, pin);
        }
        if (!strcmp(rq->method, "DELETE")) {
                int e = store_firmware_unpin(st, family);
                if (e == -ENOENT)
                        return api_reply_error(rq, CORRAL_E_KNOWN_GOOD_NOT_FOUND, json_pack("{s:s}", "family", family),
                                               "No known-good firmware is pinned for family %s.", family);
                if (e < 0)
                        return store_failure(rq, e, "Could not remove the pin");
                return reply_empty(rq, 204);
        }
        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                               "Use GET or DELETE on /firmware/known-good/{family}; pin with PUT "
                               "/firmware/{id}/known-good.");
}

static enum MHD_Result pin_firmware(struct api_req *rq, const char *id, json_t *row)
{
        const char *own = json_string_value(json_object_get(row, "family"));
        const char *family = own;
        json_t *body = NULL;
        if (rq->body && rq->body_len) {
                enum MHD_Result reply;
                body = api_body_json(rq, &reply);
                if (!body) {
                        json_decref(row);
                        return reply;
                }
                json_t *f = json_object_get(body, "family");
                if (f && !json_is_string(f)) {
                        json_decref(body);
                        json_decref(row);
                        return api_reply_error(rq, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", "family"),
                                               "'family' must be a string such as \"esp8266\".");
                }
                if (f)
                        family = json_string_value(f);
        }
        char fam[40];
        snprintf(fam, sizeof(fam), "%s", family ? family : "");
        json_decref(body);
        if (!fam[0]) {
                json_decref(row);
                return api_reply_error(rq, CORRAL_E_MISSING_FAMILY, NULL,
                                       "This firmware's chip is unknown: say which family it is for, "
                                       "{\"family\": \"esp8266\"}.");
        }
        if (!firmware_family_valid(fam)) {
                json_decref(row);
                return api_reply_error(rq, CORRAL_E_INVALID_FAMILY, json_pack("{s:s}", "family", fam),
                                       "Board families are 1-32 characters of a-z, 0-9, '_' and '-', like esp8266.");
        }
        if (own && strcmp(own, fam) != 0) {
                enum MHD_Result r = api_reply_error(rq, CORRAL_E_FAMILY_MISMATCH,
                                                    json_pack("{s:s, s:s}", "family", fam, "firmware_family", own),
                                                    "This firmware is for %s; it cannot be the known-good "
                                                    "firmware of %s.", own, fam);
                json_decref(row);
                return r;
        }
        json_decref(row);
        int e = store_firmware_pin(rq->ctx->store, fam, id, "manual");
        if (e < 0)
                return store_failure(rq, e, "Could not pin the firmware");
        json_t *pin = NULL;
        if ((e = store_firmware_pin_get(rq->ctx->store, fam, &pin)) < 0)
                return store_failure(rq, e, "Could not read the pin back");
        return pin_reply(rq, 200, pin);
}

/* ---- dispatch ---- */

enum MHD_Result routes_firmware(struct api_req *rq)
{
        struct store *st = rq->ctx->store;
        if (rq->nsegs == 1) {
                if (!strcmp(rq->method, "POST"))
                        return post_firmware(rq);
                if (strcmp(rq->method, "GET"))
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use GET to list or POST to upload on /firmware.");
                json_t *list = NULL;
                int e = store_firmware_list(st, api_query(rq, "chip"), api_query(rq, "family"),
                                            api_query(rq, "version"), &list);
                if (e < 0)
                        return store_failure(rq, e, "Could not read the firmware list");
                size_t i;
                json_t *row;
                json_array_foreach(list, i, row)
                        routes_firmware_urls(row);
                return api_reply_json(rq, 200, json_pack("{s:o}", "firmware", list));
        }
        if (!strcmp(rq->segs[1], "known-good"))
                return known_good(rq);
        const char *id = rq->segs[1];
        if (!firmware_id_valid(id))
                return api_reply_error(rq, CORRAL_E_INVALID_FIRMWARE_ID, json_pack("{s:s}", "firmware", id),
                                       "Firmware ids are the 64 lowercase hex digits of the file's SHA-256, not '%s'.",
                                       id);
        if (rq->nsegs > 3 || (rq->nsegs == 3 && strcmp(rq->segs[2], "known-good")))
                return api_reply_error(rq, CORRAL_E_NOT_FOUND, json_pack("{s:s}", "path", rq->url), "No such API path '%s'.",
                                       rq->url);
        if (rq->nsegs == 2 && !strcmp(rq->method, "DELETE")) {
                int64_t job = 0;
                char msg[256];
                int e = firmware_delete(st, id, &job, msg, sizeof(msg));
                if (e == -ENOENT)
                        return api_reply_error(rq, CORRAL_E_FIRMWARE_NOT_FOUND, json_pack("{s:s}", "firmware", id),
                                               "No firmware with id %s.", id);
                if (e == -EBUSY)
                        return api_reply_error(rq, CORRAL_E_FIRMWARE_IN_USE,
                                               json_pack("{s:s, s:I}", "firmware", id, "job", (json_int_t)job), "%s.", msg);
                if (e == -EADDRINUSE)
                        return api_reply_error(rq, CORRAL_E_FIRMWARE_PINNED, json_pack("{s:s}", "firmware", id), "%s.",
                                               msg);
                if (e < 0)
                        return store_failure(rq, e, "Could not delete the firmware");
                return reply_empty(rq, 204);
        }
        json_t *row = NULL;
        int e = store_firmware_get(st, id, &row);
        if (e == -ENOENT)
                return api_reply_error(rq, CORRAL_E_FIRMWARE_NOT_FOUND, json_pack("{s:s}", "firmware", id),
                                       "No firmware with id %s.", id);
        if (e < 0)
                return store_failure(rq, e, "Could not read the firmware");
        if (rq->nsegs == 3) {
                if (strcmp(rq->method, "PUT")) {
                        json_decref(row);
                        return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                               "Use PUT on /firmware/{id}/known-good to pin it.");
                }
                return pin_firmware(rq, id, row);
        }
        if (!strcmp(rq->method, "PATCH"))
                return routes_firmware_patch(rq, id, row);
        if (strcmp(rq->method, "GET")) {
                json_decref(row);
                return api_reply_error(rq, CORRAL_E_METHOD_NOT_ALLOWED, NULL,
                                       "Use GET, PATCH or DELETE on /firmware/{id}.");
        }
        const char *dl = api_query(rq, "download");
        if (dl && (!strcmp(dl, "1") || !strcmp(dl, "true")))
                return download(rq, id, row);
        return api_reply_json(rq, 200, routes_firmware_urls(row));
}
