/* The disk-space reserve next to the database: a small file allocated at open and given up when
 * a repair (unpinning, deleting firmware) meets a full disk, so that the deletion itself, which
 * SQLite has to append to its WAL, can be written. Made again once there is room. */
#include "store/store_reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store_internal.h"

static int reserve_path(struct store *s, char *buf, size_t size)
{
        if (!s || !s->path)
                return -EINVAL;
        const char *slash = strrchr(s->path, '/');
        size_t n = slash ? (size_t)(slash - s->path) : 1;
        int w = snprintf(buf, size, "%.*s/corral.reserve", (int)n, slash ? s->path : ".");
        return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

int store_reserve_make(struct store *s)
{
        char path[600];
        int r = reserve_path(s, path, sizeof(path));
        if (r < 0)
                return r;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = posix_fallocate(fd, 0, STORE_RESERVE_BYTES);
        close(fd);
        if (r) {
                unlink(path); /* a part of a reserve only takes space from everyone else */
                return -r;
        }
        return 0;
}

int store_reserve_release(struct store *s)
{
        char path[600];
        int r = reserve_path(s, path, sizeof(path));
        if (r < 0)
                return r;
        return unlink(path) == 0 ? 0 : -errno;
}
