/* Files on corrald's host that a job may name (a flash job's image_path / parts[].path): only
 * beneath a directory the config lists (firmware_dirs), resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) so that no "..", symlink or magic link leads outside. Who may name host
 * files at all (admins only) is the caller's decision. */
#ifndef CORRAL_HOSTFILE_H
#define CORRAL_HOSTFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open path (absolute) for reading, confined to dirs (an array of absolute directory strings,
 * borrowed; NULL or empty: nothing is allowed). A regular file of 1..max bytes: 0 with *ret_fd
 * (owned by the caller, O_CLOEXEC) and *ret_size. Errors, with a plain sentence in msg naming
 * what (e.g. "image_path"):
 *   -EACCES  not allowed: not absolute, a "." or ".." component, outside every dir, or it
 *            escapes its dir (symlink, magic link). Says nothing about whether the file exists.
 *   -ENOENT / -EISDIR / -EFBIG / -ENODATA / other negative errno: allowed, but not usable
 *            (missing, not a regular file, larger than max, empty, unreadable). */
int hostfile_open(const json_t *dirs, const char *what, const char *path, uint64_t max, int *ret_fd,
                  uint64_t *ret_size, char *msg, size_t msg_size);

/* Is path lexically inside one of dirs (absolute, no "." / ".." components)? Does not touch the
 * file system: for refusing early and identically whether or not the file exists. */
bool hostfile_path_inside(const json_t *dirs, const char *path);

/* The whole file read into a malloc'd buffer (*ret, caller frees); same errors as hostfile_open
 * plus -ENOMEM / -EIO. */
int hostfile_read(const json_t *dirs, const char *what, const char *path, uint64_t max, uint8_t **ret,
                  size_t *ret_len, char *msg, size_t msg_size);

#endif
