/* Firmware once, flash anywhere: with a PostgreSQL store the library's bytes also live in the
 * store (store_firmware_blob.h). An upload publishes its file there; a host whose library lacks
 * a file fetches it by id into a temp file, checks size and SHA-256 (libcrypto) and renames it
 * into place, so later uses read the local copy. */
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

#include "log.h"
#include "store/store.h"
#include "store/store_firmware.h"
#include "store/store_firmware_blob.h"

int firmware_blob_publish(struct store *st, const char *id, const char *path, uint64_t size)
{
        if (!st || !firmware_id_valid(id) || !path)
                return -EINVAL;
        if (!store_is_pg(st))
                return 0;
        int64_t chunks = 0, bytes = 0;
        char have[65];
        int r = store_firmware_blob_stat(st, id, &chunks, &bytes, have);
        if (r < 0)
                return r;
        if (chunks > 0 && (uint64_t)bytes == size && !strcmp(have, id))
                return 0; /* published and intact (the same bytes uploaded again, or by another host) */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat sb;
        if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != size) {
                close(fd);
                return -EIO;
        }
        void *map = size ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
        close(fd);
        if (map == MAP_FAILED)
                return -errno;
        r = store_firmware_blob_put(st, id, map, (size_t)size);
        if (map)
                munmap(map, (size_t)size);
        return r;
}

struct fetch {
        int fd;
        uint64_t size, got;
        EVP_MD_CTX *md;
};

static int fetch_sink(void *ctx, const uint8_t *data, size_t len)
{
        struct fetch *f = ctx;
        if (f->got + len > f->size)
                return -EBADMSG; /* more bytes than the row says */
        if (EVP_DigestUpdate(f->md, data, len) != 1)
                return -EIO;
        for (size_t off = 0; off < len;) {
                ssize_t n = write(f->fd, data + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EDQUOT ? -ENOSPC : -errno;
                off += (size_t)n;
        }
        f->got += len;
        return 0;
}

/* The digest of what came matches id. */
static bool digest_is(EVP_MD_CTX *md, const char *id)
{
        unsigned char h[32];
        unsigned hl = 0;
        char hex[FIRMWARE_ID_LEN + 1];
        if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != 32)
                return false;
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", h[i]);
        return !strcmp(hex, id);
}

int firmware_blob_fetch(struct store *st, const char *id, uint64_t size, const char *final)
{
        if (!st || !firmware_id_valid(id) || !final)
                return -EINVAL;
        if (!store_is_pg(st))
                return -ENODATA; /* a host-local library: nowhere else to look */
        char dir[512], tmp[600];
        int r = store_firmware_dir(st, dir, sizeof(dir));
        if (r < 0)
                return r;
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        snprintf(tmp, sizeof(tmp), "%s/.upload-fetch-XXXXXX", dir); /* removed at start if left */
        struct fetch f = { .size = size };
        if ((f.fd = mkostemp(tmp, O_CLOEXEC)) < 0)
                return -errno;
        fchmod(f.fd, 0640);
        f.md = EVP_MD_CTX_new();
        if (!f.md || EVP_DigestInit_ex(f.md, EVP_sha256(), NULL) != 1)
                r = -ENOMEM;
        if (r >= 0)
                r = store_firmware_blob_get(st, id, fetch_sink, &f);
        if (r >= 0 && (f.got != size || !digest_is(f.md, id)))
                r = -EBADMSG;
        if (r >= 0 && fsync(f.fd) < 0)
                r = errno == EDQUOT ? -ENOSPC : -errno;
        close(f.fd);
        EVP_MD_CTX_free(f.md);
        if (r >= 0 && rename(tmp, final) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        log_info("firmware %.12s: fetched %llu bytes from the store into the library", id, (unsigned long long)size);
        return 0;
}

int firmware_available(struct store *st, const char *id)
{
        char path[600];
        uint64_t size = 0;
        int r = firmware_locate(st, id, path, sizeof(path), &size);
        if (r < 0)
                return r;
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
                return 0;
        if (!store_is_pg(st))
                return -ENOENT;
        int64_t chunks = 0, bytes = 0;
        char have[65];
        if ((r = store_firmware_blob_stat(st, id, &chunks, &bytes, have)) < 0)
                return r;
        if (chunks == 0)
                return -ENODATA;
        return (uint64_t)bytes == size && !strcmp(have, id) ? 0 : -EBADMSG;
}

/* Remove library files whose row is gone (the image was deleted through another host). Only at
 * start: no upload of this host is between its file and its row then. */
static void prune_deleted(struct store *st, const char *dir)
{
        DIR *d = opendir(dir);
        if (!d)
                return;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                json_t *row = NULL;
                if (firmware_id_valid(e->d_name) && store_firmware_get(st, e->d_name, &row) == -ENOENT &&
                    unlinkat(dirfd(d), e->d_name, 0) == 0)
                        n++;
                json_decref(row);
        }
        closedir(d);
        if (n)
                log_info("firmware: removed %d cached image(s) deleted from the library through other hosts", n);
}

int firmware_blob_backfill(struct store *st)
{
        if (!st)
                return -EINVAL;
        if (!store_is_pg(st))
                return 0;
        json_t *list = NULL;
        char dir[512], path[600];
        int r = store_firmware_dir(st, dir, sizeof(dir));
        if (r >= 0)
                r = store_firmware_blob_missing(st, &list);
        if (r < 0)
                return r;
        prune_deleted(st, dir);
        int n = 0;
        size_t i;
        json_t *row;
        json_array_foreach(list, i, row) {
                const char *id = json_string_value(json_object_get(row, "id"));
                uint64_t size = (uint64_t)json_integer_value(json_object_get(row, "size"));
                struct stat sb;
                snprintf(path, sizeof(path), "%s/%s", dir, id ? id : "");
                if (!firmware_id_valid(id) || stat(path, &sb) < 0 || (uint64_t)sb.st_size != size)
                        continue; /* another host's image, or a file gone */
                if ((r = firmware_blob_publish(st, id, path, size)) < 0)
                        break;
                n++;
        }
        json_decref(list);
        return r < 0 ? r : n;
}

const char *firmware_strerror(int err)
{
        switch (err) {
        case -ENOENT:
                return "is not (or no longer) in the firmware library";
        case -ENODATA:
                return "has no bytes on this host and none in the store: upload it again";
        case -EBADMSG:
                return "has a corrupt copy in the store (its size or SHA-256 does not match the id): upload it again";
        case -ENOSPC:
                return "cannot be fetched into this host's library: the disk is full";
        case -ENOTCONN:
                return "cannot be fetched: the store is unavailable";
        default:
                return "cannot be read from the firmware library";
        }
}
