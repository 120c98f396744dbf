/* Confined opening of host files named by clients: lexical checks first (absolute, no "." or
 * "..", below a listed dir), then open the dir and openat2() the rest with RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS: the kernel refuses any step (symlink included) that leaves the dir. */
#include "firmware/hostfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* No "." or ".." component, no empty path. */
static bool components_ok(const char *p)
{
        for (const char *c = p; *c;) {
                while (*c == '/')
                        c++;
                size_t n = strcspn(c, "/");
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
        }
        return true;
}

/* The dir of dirs path is inside, with rel pointing at the rest (no leading '/'); NULL if none. */
static const char *find_dir(const json_t *dirs, const char *path, const char **rel)
{
        if (!path || path[0] != '/' || !components_ok(path))
                return NULL;
        size_t i;
        json_t *d;
        json_array_foreach(dirs, i, d) {
                const char *dir = json_string_value(d);
                size_t n = dir ? strlen(dir) : 0;
                if (n < 2 || dir[0] != '/' || strncmp(path, dir, n) || path[n] != '/')
                        continue;
                const char *r = path + n;
                while (*r == '/')
                        r++;
                if (!*r)
                        continue;
                *rel = r;
                return dir;
        }
        return NULL;
}

bool hostfile_path_inside(const json_t *dirs, const char *path)
{
        const char *rel;
        return find_dir(dirs, path, &rel) != NULL;
}

static int not_allowed(const char *what, const char *path, char *msg, size_t msg_size)
{
        snprintf(msg, msg_size, "%s: reading '%.300s' on corrald's host is not allowed (only files inside the "
                 "configured firmware_dirs, without '..' or links leading out); upload the firmware "
                 "(POST /api/v1/firmware) and flash it by id", what, path ? path : "");
        return -EACCES;
}

int hostfile_open(const json_t *dirs, const char *what, const char *path, uint64_t max, int *ret_fd,
                  uint64_t *ret_size, char *msg, size_t msg_size)
{
        const char *rel = NULL;
        const char *dir = find_dir(dirs, path, &rel);
        if (!dir)
                return not_allowed(what, path, msg, msg_size);
        int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                int e = -errno;
                snprintf(msg, msg_size, "%s: the firmware directory %s cannot be opened: %s", what, dir, strerror(-e));
                return e;
        }
        /* O_NONBLOCK: a FIFO planted in the dir must not hang the caller; cleared below. */
        struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
        int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
        int e = fd < 0 ? -errno : 0;
        close(dfd);
        if (e == -EXDEV || e == -ELOOP || e == -ENOSYS || e == -E2BIG || e == -EINVAL || e == -EPERM)
                return not_allowed(what, path, msg, msg_size);
        if (e < 0) {
                snprintf(msg, msg_size, "%s: %.300s cannot be read: %s", what, path, strerror(-e));
                return e;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                snprintf(msg, msg_size, "%s: %.300s is not a regular file", what, path);
                return -EISDIR;
        }
        if (st.st_size == 0 || (uint64_t)st.st_size > max) {
                close(fd);
                snprintf(msg, msg_size, "%s: %.300s is %s", what, path, st.st_size ? "too large" : "empty");
                return st.st_size ? -EFBIG : -ENODATA;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        *ret_fd = fd;
        *ret_size = (uint64_t)st.st_size;
        return 0;
}

int hostfile_read(const json_t *dirs, const char *what, const char *path, uint64_t max, uint8_t **ret,
                  size_t *ret_len, char *msg, size_t msg_size)
{
        int fd;
        uint64_t size;
        int e = hostfile_open(dirs, what, path, max, &fd, &size, msg, msg_size);
        if (e < 0)
                return e;
        uint8_t *b = malloc((size_t)size);
        size_t got = 0;
        while (b && got < size) {
                ssize_t n = read(fd, b + got, (size_t)size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(fd);
        if (!b || got != size) {
                free(b);
                snprintf(msg, msg_size, "%s: reading %.300s failed", what, path);
                return b ? -EIO : -ENOMEM;
        }
        *ret = b;
        *ret_len = got;
        return 0;
}
