/* The firmware library: streaming uploads into a temp file beside the final one (SHA-256 on the
 * fly, fsync, rename, directory fsync), rows in the store, delete, known-good pins. */
#include "firmware/firmware.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engines/esp/esp_chips.h"
#include "log.h"
#include "store/store.h"
#include "store/store_firmware.h"

struct firmware_upload {
        char dir[512];
        char tmp[600];            /* "" until the first write, and again once removed */
        char final[600];
        int fd;
        size_t limit;
        uint64_t size;
        EVP_MD_CTX *md;
        int err;                  /* first error, sticky */
        char msg[1024];
        int test_fail;            /* TEST seam: next write fails with this */
        bool finished, committed;
        char sha[FIRMWARE_ID_LEN + 1];
};

static int mkdir_one(const char *dir)
{
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int firmware_upload_begin(const char *dir, size_t limit, struct firmware_upload **ret)
{
        if (!dir || !ret)
                return -EINVAL;
        struct firmware_upload *u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->fd = -1;
        u->limit = limit;
        snprintf(u->dir, sizeof(u->dir), "%s", dir);
        u->md = EVP_MD_CTX_new();
        if (!u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(u->md);
                free(u);
                return -ENOMEM;
        }
        *ret = u;
        return 0;
}

static void drop_temp(struct firmware_upload *u)
{
        if (u->fd >= 0) {
                close(u->fd);
                u->fd = -1;
        }
        if (u->tmp[0]) {
                unlink(u->tmp);
                u->tmp[0] = '\0';
        }
}

static int fail(struct firmware_upload *u, int err, const char *what)
{
        if (!u->err) {
                u->err = err;
                if (err == -ENOSPC)
                        snprintf(u->msg, sizeof(u->msg),
                                 "The disk holding %s is full: the upload was refused and nothing was kept", u->dir);
                else if (err == -EFBIG)
                        snprintf(u->msg, sizeof(u->msg), "The upload is larger than the limit of %zu bytes", u->limit);
                else
                        snprintf(u->msg, sizeof(u->msg), "%s in %s: %s", what, u->dir, strerror(-err));
        }
        drop_temp(u);
        return u->err;
}

static int open_temp(struct firmware_upload *u)
{
        int r = mkdir_one(u->dir);
        if (r < 0)
                return fail(u, r, "Cannot create the firmware directory");
        snprintf(u->tmp, sizeof(u->tmp), "%s/.upload-XXXXXX", u->dir);
        u->fd = mkostemp(u->tmp, O_CLOEXEC);
        if (u->fd < 0) {
                r = -errno;
                u->tmp[0] = '\0';
                return fail(u, r, "Cannot create a temporary file");
        }
        fchmod(u->fd, 0640);
        return 0;
}

int firmware_upload_write(struct firmware_upload *u, const void *data, size_t len)
{
        if (!u || (!data && len))
                return -EINVAL;
        if (u->err)
                return u->err;
        if (u->finished)
                return -EINVAL;
        if (len > u->limit || u->size + len > u->limit)
                return fail(u, -EFBIG, "Too big");
        if (u->fd < 0) {
                int r = open_temp(u);
                if (r < 0)
                        return r;
        }
        if (EVP_DigestUpdate(u->md, data, len) != 1)
                return fail(u, -EIO, "Hashing failed");
        const uint8_t *p = data;
        size_t left = len;
        while (left) {
                ssize_t n;
                if (u->test_fail) {
                        errno = u->test_fail;
                        u->test_fail = 0;
                        n = -1;
                } else {
                        n = write(u->fd, p, left);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(u, errno == EDQUOT ? -ENOSPC : -errno, "Writing the upload failed");
                }
                p += n;
                left -= (size_t)n;
        }
        u->size += len;
        return 0;
}

int firmware_upload_error(const struct firmware_upload *u, const char **msg)
{
        if (!u)
                return -EINVAL;
        if (msg)
                *msg = u->msg;
        return u->err;
}

uint64_t firmware_upload_size(const struct firmware_upload *u)
{
        return u ? u->size : 0;
}

void firmware_upload_test_fail(struct firmware_upload *u, int err)
{
        if (u)
                u->test_fail = err < 0 ? -err : err;
}

int firmware_upload_finish(struct firmware_upload *u, const char *filename, struct firmware_info *info,
                           char sha[FIRMWARE_ID_LEN + 1], char *msg, size_t msg_size)
{
        if (!u || !info || !sha)
                return -EINVAL;
        if (u->err) {
                snprintf(msg, msg_size, "%s", u->msg);
                return u->err;
        }
        if (u->size == 0 || u->fd < 0) {
                snprintf(msg, msg_size, "The upload is empty");
                return -ENODATA;
        }
        if (fsync(u->fd) < 0) {
                int r = fail(u, errno == EDQUOT ? -ENOSPC : -errno, "Saving the upload failed");
                snprintf(msg, msg_size, "%s", u->msg);
                return r;
        }
        unsigned char h[32];
        unsigned hl = 0;
        if (EVP_DigestFinal_ex(u->md, h, &hl) != 1 || hl != 32) {
                snprintf(msg, msg_size, "Hashing the upload failed");
                return fail(u, -EIO, "Hashing failed");
        }
        for (int i = 0; i < 32; i++)
                snprintf(u->sha + 2 * i, 3, "%02x", h[i]);
        void *map = mmap(NULL, (size_t)u->size, PROT_READ, MAP_PRIVATE, u->fd, 0);
        if (map == MAP_FAILED) {
                int r = -errno;
                snprintf(msg, msg_size, "Cannot read the upload back: %s", strerror(-r));
                return fail(u, r, "Reading back failed");
        }
        firmware_inspect(map, (size_t)u->size, filename, info);
        munmap(map, (size_t)u->size);
        u->finished = true;
        memcpy(sha, u->sha, sizeof(u->sha));
        return 0;
}

int firmware_upload_commit(struct firmware_upload *u, char *msg, size_t msg_size)
{
        if (!u || !u->finished || u->committed || !u->tmp[0])
                return -EINVAL;
        snprintf(u->final, sizeof(u->final), "%s/%s", u->dir, u->sha);
        struct stat st;
        if (stat(u->final, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == u->size) {
                drop_temp(u); /* same bytes already stored */
        } else {
                if (rename(u->tmp, u->final) < 0) {
                        int r = -errno;
                        snprintf(msg, msg_size, "Cannot store the firmware as %s: %s", u->final, strerror(-r));
                        drop_temp(u);
                        return r;
                }
                u->tmp[0] = '\0';
                close(u->fd);
                u->fd = -1;
        }
        int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        u->committed = true;
        return 0;
}

struct firmware_upload *firmware_upload_free(struct firmware_upload *u)
{
        if (!u)
                return NULL;
        if (!u->committed)
                drop_temp(u);
        else if (u->fd >= 0)
                close(u->fd);
        EVP_MD_CTX_free(u->md);
        free(u);
        return NULL;
}

/* ---- library ---- */

static int file_path(struct store *st, const char *id, char *buf, size_t size)
{
        char dir[512];
        int r = store_firmware_dir(st, dir, sizeof(dir));
        if (r < 0)
                return r;
        int w = snprintf(buf, size, "%s/%s", dir, id);
        return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

/* With a shared store, the bytes go into it too, so that every host can flash them. A new row
 * whose bytes could not be published is removed again: no host is left with an image only one
 * host can use. */
static int publish(struct store *st, const char *sha, uint64_t size, bool created)
{
        char path[600];
        int r = file_path(st, sha, path, sizeof(path));
        if (r >= 0)
                r = firmware_blob_publish(st, sha, path, size);
        if (r < 0 && created) {
                log_error("firmware %.12s: copying the bytes into the store failed (%s); the upload is undone", sha,
                          strerror(-r));
                (void)store_firmware_delete(st, sha, NULL, NULL, 0, path);
        }
        return r;
}

int firmware_register(struct store *st, const char *sha, uint64_t size, const struct firmware_info *fi,
                      const struct firmware_user *user, json_t **ret, bool *ret_created)
{
        if (!st || !firmware_id_valid(sha) || !fi || !ret)
                return -EINVAL;
        struct firmware_user none = { 0 };
        if (!user)
                user = &none;
        char name[256];
        if (user->name && *user->name) {
                snprintf(name, sizeof(name), "%s", user->name);
        } else if (user->filename && *user->filename) {
                const char *base = strrchr(user->filename, '/');
                snprintf(name, sizeof(name), "%s", base ? base + 1 : user->filename);
        } else {
                snprintf(name, sizeof(name), "%.12s", sha);
        }
        json_t *meta = firmware_info_json(fi);
        if (!meta)
                return -ENOMEM;
        bool created = false;
        int r = store_firmware_put(st, sha, (int64_t)size, meta, name, user->filename, user->notes, user->labels,
                                   &created);
        json_decref(meta);
        if (r < 0) {
                /* No row, no file: a committed file nobody can see would only take space. */
                json_t *row = NULL;
                char path[600];
                if (store_firmware_get(st, sha, &row) == -ENOENT && file_path(st, sha, path, sizeof(path)) == 0)
                        unlink(path);
                json_decref(row);
                return r;
        }
        r = publish(st, sha, size, created);
        if (r < 0)
                return r;
        if (user->title || user->family || user->version || user->release_notes) {
                r = store_firmware_set_catalogue(st, sha, user->title, user->family, user->version,
                                                 user->release_notes);
                if (r < 0)
                        return r;
        }
        r = store_firmware_get(st, sha, ret);
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = created;
        return 0;
}

int firmware_add_buffer(struct store *st, const void *data, size_t len, const struct firmware_user *user,
                        json_t **ret, char *msg, size_t msg_size)
{
        char dir[512], sha[FIRMWARE_ID_LEN + 1];
        struct firmware_upload *u = NULL;
        struct firmware_info fi;
        int r = store_firmware_dir(st, dir, sizeof(dir));
        if (r < 0) {
                snprintf(msg, msg_size, "No firmware directory");
                return r;
        }
        if ((r = firmware_upload_begin(dir, len ? len : 1, &u)) < 0) {
                snprintf(msg, msg_size, "Out of memory");
                return r;
        }
        r = firmware_upload_write(u, data, len);
        if (r < 0) {
                const char *m = "";
                firmware_upload_error(u, &m);
                snprintf(msg, msg_size, "%s", m);
        }
        if (r >= 0)
                r = firmware_upload_finish(u, user ? user->filename : NULL, &fi, sha, msg, msg_size);
        if (r >= 0)
                r = firmware_upload_commit(u, msg, msg_size);
        if (r >= 0 && (r = firmware_register(st, sha, len, &fi, user, ret, NULL)) < 0)
                snprintf(msg, msg_size, "Could not record the firmware: %s", strerror(-r));
        firmware_upload_free(u);
        return r;
}

int firmware_locate(struct store *st, const char *id, char *buf, size_t size, uint64_t *ret_size)
{
        if (!st || !firmware_id_valid(id) || !buf)
                return -EINVAL;
        json_t *row = NULL;
        int r = store_firmware_get(st, id, &row);
        json_int_t bytes = json_integer_value(json_object_get(row, "size"));
        json_decref(row);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = (uint64_t)bytes;
        return file_path(st, id, buf, size);
}

int firmware_path(struct store *st, const char *id, char *buf, size_t size)
{
        uint64_t bytes = 0;
        int r = firmware_locate(st, id, buf, size, &bytes);
        if (r < 0)
                return r;
        struct stat sb;
        if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode))
                return 0;
        if (!store_is_pg(st))
                return -ENOENT; /* a host-local library: nowhere else to look */
        return firmware_blob_fetch(st, id, bytes, buf); /* uploaded to another host */
}

int firmware_resolve(struct store *st, const char *id, char *path, size_t path_size, uint32_t *ret_offset)
{
        int r = firmware_path(st, id, path, path_size);
        if (r < 0)
                return r;
        json_t *row = NULL;
        if ((r = store_firmware_get(st, id, &row)) < 0)
                return r;
        uint32_t off = 0;
        const char *chip = json_string_value(json_object_get(row, "chip"));
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const struct esp_chip *c = chip ? esp_chip_by_name(chip) : NULL;
        if (c && kind && !strcmp(kind, "esp-image"))
                off = c->bootloader_offset;
        json_decref(row);
        if (ret_offset)
                *ret_offset = off;
        return 0;
}

int firmware_delete(struct store *st, const char *id, int64_t *ret_job, char *msg, size_t msg_size)
{
        if (!st || !firmware_id_valid(id))
                return -EINVAL;
        char family[64] = "", path[600];
        bool have_path = file_path(st, id, path, sizeof(path)) == 0;
        int r = store_firmware_delete(st, id, ret_job, family, sizeof(family), have_path ? path : NULL);
        if (r == -EBUSY)
                snprintf(msg, msg_size, "Firmware %.12s is used by job %lld (queued or running)", id,
                         ret_job ? (long long)*ret_job : 0LL);
        else if (r == -EADDRINUSE)
                snprintf(msg, msg_size, "Firmware %.12s is the known-good firmware of family %s; unpin it first", id,
                         family);
        else if (r == -ENOENT)
                snprintf(msg, msg_size, "No firmware with id %s", id);
        else if (r < 0)
                snprintf(msg, msg_size, "Could not delete the firmware: %s", strerror(-r));
        return r < 0 ? r : 0;
}

int firmware_remove_stale_uploads(struct store *st)
{
        char dir[512];
        int r = store_firmware_dir(st, dir, sizeof(dir));
        if (r < 0)
                return r;
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (!strncmp(e->d_name, ".upload-", 8) && unlinkat(dirfd(d), e->d_name, 0) == 0)
                        n++;
        closedir(d);
        return n;
}

int firmware_pin_known_good(struct store *st, const char *family, const char *id)
{
        if (!st || !firmware_family_valid(family) || !firmware_id_valid(id))
                return -EINVAL;
        return store_firmware_pin(st, family, id, "boot-check");
}

int firmware_known_good(struct store *st, const char *family, char id[FIRMWARE_ID_LEN + 1], char *path,
                        size_t path_size)
{
        if (!st || !firmware_family_valid(family) || !id)
                return -EINVAL;
        json_t *pin = NULL;
        int r = store_firmware_pin_get(st, family, &pin);
        if (r < 0)
                return r;
        const char *fid = json_string_value(json_object_get(pin, "firmware_id"));
        if (!firmware_id_valid(fid)) {
                json_decref(pin);
                return -ENOENT;
        }
        char tmp[FIRMWARE_ID_LEN + 1];
        memcpy(tmp, fid, sizeof(tmp));
        json_decref(pin);
        if (path && (r = firmware_path(st, tmp, path, path_size)) < 0)
                return r;
        memcpy(id, tmp, sizeof(tmp));
        return 0;
}
