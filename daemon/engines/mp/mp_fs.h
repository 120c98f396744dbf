/* mp_fs: file operations on a MicroPython board, built on mp_repl_exec: ls, put (binary-safe,
 * small chunks, verified), get, rm, mkdir, rmdir. Capabilities (binascii, hashlib, os.ilistdir,
 * os.stat, os.size, directories) are probed once per session and cached in r->fs_caps. */
#ifndef CORRAL_MP_FS_H
#define CORRAL_MP_FS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/mp/mp_repl.h"

#define MP_FS_PROBED   (1u << 0)
#define MP_FS_B64DEC   (1u << 1) /* binascii.a2b_base64 */
#define MP_FS_B64ENC   (1u << 2) /* binascii.b2a_base64 */
#define MP_FS_SHA256   (1u << 3) /* hashlib.sha256 */
#define MP_FS_ILISTDIR (1u << 4)
#define MP_FS_STAT     (1u << 5)
#define MP_FS_SIZE     (1u << 6) /* os.size(name): micro:bit */
#define MP_FS_DIRS     (1u << 7) /* os.mkdir exists; without it the fs is flat (micro:bit) */
#define MP_FS_WASI     (1u << 8) /* sys.platform 'webassembly': OSError numbers are WASI's */

/* Python script that prints the capability bits (exposed for tests). */
extern const char mp_fs_probe_py[];

struct mp_fs_opts {
        unsigned chunk;      /* bytes per write / read (default 256) */
        int timeout_ms;      /* per exec (default 10 s; get: 60 s) */
        bool make_dirs;      /* put: create missing parent directories */
        bool no_verify;      /* put: skip the sha256 / size check */
        void (*progress)(size_t done, size_t total, void *user);
        void *user;
};

/* Probe once per session (no-op when r->fs_caps has MP_FS_PROBED). */
int mp_fs_probe(struct mp_repl *r, char *msg, size_t msg_size);

/* Entries under path as a new JSON array owned by the caller: [{"path":"/lib/a.py","type":"file",
 * "size":123}, {"path":"/lib","type":"dir"}]. recursive descends into directories. */
int mp_fs_ls(struct mp_repl *r, const char *path, bool recursive, json_t **ret_entries, char *msg,
             size_t msg_size);
/* Write data to path, then verify by sha256 (or size where hashlib is missing): -EIO on mismatch. */
int mp_fs_put(struct mp_repl *r, const char *path, const uint8_t *data, size_t len,
              const struct mp_fs_opts *opts, char *msg, size_t msg_size);
/* Read path; on success *ret_data (malloc'd, caller frees) and *ret_len are set. */
int mp_fs_get(struct mp_repl *r, const char *path, uint8_t **ret_data, size_t *ret_len,
              const struct mp_fs_opts *opts, char *msg, size_t msg_size);
/* Put each {"path", "content_b64"} of files (a JSON array, borrowed) with parents created and
 * verified; reports "put PATH (N bytes, verified)" through r->log. msg names the failing file. */
int mp_fs_put_files(struct mp_repl *r, const json_t *files, char *msg, size_t msg_size);
int mp_fs_rm(struct mp_repl *r, const char *path, char *msg, size_t msg_size);
int mp_fs_mkdir(struct mp_repl *r, const char *path, char *msg, size_t msg_size);
int mp_fs_rmdir(struct mp_repl *r, const char *path, char *msg, size_t msg_size);

/* Helpers (exposed for tests and job kinds). */
/* Body of a Python bytes literal for data (no b'' around it): printable ASCII as is, the rest
 * as \xHH. out must hold 4*len+1 bytes; returns the length written. */
size_t mp_fs_escape_bytes(const uint8_t *data, size_t len, char *out);
/* A quoted Python str literal for s ('...'); -ENAMETOOLONG when it does not fit. */
int mp_fs_quote(const char *s, char *out, size_t size);
/* Base64 (OpenSSL EVP). encode: *ret NUL-terminated, caller frees. decode ignores whitespace;
 * -EINVAL for malformed input. */
int mp_b64_encode(const uint8_t *data, size_t len, char **ret);
int mp_b64_decode(const char *text, size_t len, uint8_t **ret_data, size_t *ret_len);
/* Lowercase hex SHA-256 of data into out[65]. */
int mp_sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
