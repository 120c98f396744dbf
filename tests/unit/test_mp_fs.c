/* Specification of MicroPython file operations: chunking, binary-safe escaping, base64, verify,
 * capability fallbacks (no binascii, no hashlib, flat micro:bit filesystem). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/mp/mp_fs.h"
#include "engines/mp/mp_repl.h"
#include "fake_port.h"
#include "mp_device_model.h"

/* A one-file filesystem that understands the scripts mp_fs generates. */
struct minifs {
        unsigned caps;
        char path[128];
        uint8_t data[16384];
        size_t len;
        size_t space; /* bytes the filesystem can take (0: no limit) */
        char open_code[512]; /* the script that opened the file for writing */
        const char *missing_err; /* exception line for a missing file (default "[Errno 2] ENOENT") */
        unsigned damaged; /* answer this many execs with a SyntaxError (code that arrived damaged) */
        bool exists, corrupt, wrong_size;
        long size_delta; /* wrong_size: the size reported is off by this much (0: by +1) */
        unsigned probes, writes, b64_writes, mkdirs;
        char mkdir_log[512];
        const char *ls_reply;
};

struct fx {
        struct port *p;
        struct mp_model m;
        struct mp_repl r;
        struct minifs fs;
        char msg[256];
};

static uint64_t fake_clock(void *user)
{
        return fake_port_now(user);
}

static int hexv(char c)
{
        return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Decode a Python bytes/str literal body up to the closing quote (the test's own decoder). */
static size_t py_unescape(const char *s, uint8_t *out)
{
        size_t n = 0;
        while (*s && *s != '\'') {
                if (*s == '\\') {
                        s++;
                        if (*s == 'x') {
                                out[n++] = (uint8_t)(hexv(s[1]) << 4 | hexv(s[2]));
                                s += 3;
                        } else {
                                out[n++] = (uint8_t)*s++;
                        }
                } else {
                        out[n++] = (uint8_t)*s++;
                }
        }
        return n;
}

static void reply(struct mp_model *m, const char *out)
{
        mp_model_reply(m, out, strlen(out), NULL, 0);
}

static void fs_exec(struct mp_model *m, const char *code, size_t len, void *user)
{
        struct minifs *fs = user;
        char buf[40000];
        const char *s;
        (void)len;
        if (fs->damaged) {
                const char *tb = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3\r\n"
                                 "SyntaxError: invalid syntax\r\n";
                fs->damaged--;
                mp_model_reply(m, NULL, 0, tb, strlen(tb));
                return;
        }
        if (strstr(code, "_c=1")) {
                fs->probes++;
                snprintf(buf, sizeof(buf), "%u\r\n", fs->caps);
                reply(m, buf);
        } else if (strstr(code, "_H.sha256")) {
                char hex[65];
                uint8_t tmp[sizeof(fs->data)];
                memcpy(tmp, fs->data, fs->len);
                if (fs->corrupt && fs->len)
                        tmp[0] ^= 1;
                mp_sha256_hex(tmp, fs->len, hex);
                snprintf(buf, sizeof(buf), "%s\r\n", hex);
                reply(m, buf);
        } else if (strstr(code, "print(os.stat(")) {
                snprintf(buf, sizeof(buf), "%zu\r\n",
                         fs->len + (size_t)(fs->wrong_size ? (fs->size_delta ? fs->size_delta : 1) : 0));
                reply(m, buf);
        } else if ((s = strstr(code, "_f=open('")) && strstr(code, "'wb'")) {
                size_t n = strcspn(s + 9, "'");
                snprintf(fs->path, sizeof(fs->path), "%.*s", (int)n, s + 9);
                snprintf(fs->open_code, sizeof(fs->open_code), "%s", code);
                fs->len = 0;
                fs->exists = true;
        } else if ((s = strstr(code, "_w(b'"))) {
                fs->writes++;
                fs->len += py_unescape(s + 5, fs->data + fs->len);
                if (fs->space && fs->len > fs->space) {
                        const char *tb = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in "
                                         "<module>\r\n  File \"<stdin>\", line 5, in _w\r\nOSError: 28\r\n";
                        fs->len = fs->space;
                        mp_model_reply(m, NULL, 0, tb, strlen(tb));
                }
        } else if ((s = strstr(code, "a2b_base64(b'"))) {
                uint8_t *d;
                size_t n;
                fs->writes++;
                fs->b64_writes++;
                assert_int_equal(mp_b64_decode(s + 13, strcspn(s + 13, "'"), &d, &n), 0);
                memcpy(fs->data + fs->len, d, n);
                fs->len += n;
                free(d);
        } else if (strstr(code, "'rb'")) {
                bool b64 = strstr(code, "b2a_base64");
                size_t o = 0;
                for (size_t i = 0; i < fs->len; i += 256) {
                        size_t n = fs->len - i < 256 ? fs->len - i : 256;
                        if (b64) {
                                char *e;
                                mp_b64_encode(fs->data + i, n, &e);
                                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\r\n", e);
                                free(e);
                        } else {
                                for (size_t k = 0; k < n; k++)
                                        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%02x", fs->data[i + k]);
                                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
                        }
                }
                buf[o] = 0;
                reply(m, buf);
        } else if ((s = strstr(code, "os.remove('"))) {
                if (!fs->exists || strncmp(s + 11, fs->path, strlen(fs->path)) != 0) {
                        snprintf(buf, sizeof(buf), "Traceback (most recent call last):\r\n  File \"<stdin>\", "
                                 "line 2, in <module>\r\nOSError: %s\r\n",
                                 fs->missing_err ? fs->missing_err : "[Errno 2] ENOENT");
                        mp_model_reply(m, NULL, 0, buf, strlen(buf));
                } else {
                        fs->exists = false;
                }
        } else if (strstr(code, "os.mkdir(")) {
                fs->mkdirs++;
                snprintf(fs->mkdir_log + strlen(fs->mkdir_log), sizeof(fs->mkdir_log) - strlen(fs->mkdir_log),
                         "%s", code);
        } else if (strstr(code, "os.listdir()") || strstr(code, "_l(")) {
                reply(m, fs->ls_reply ? fs->ls_reply : "");
        }
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->p = fake_port_new();
        mp_model_init(&f->m, f->p);
        mp_repl_init(&f->r, f->p);
        f->r.now_ms = fake_clock;
        f->r.clock_user = f->p;
        f->m.on_exec = fs_exec;
        f->m.user = &f->fs;
        f->fs.caps = MP_FS_PROBED | MP_FS_B64DEC | MP_FS_B64ENC | MP_FS_SHA256 | MP_FS_ILISTDIR |
                     MP_FS_STAT | MP_FS_DIRS;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        mp_model_release(&f->m);
        port_close(f->p);
        free(f);
        return 0;
}

static void all_bytes(uint8_t *d, size_t n)
{
        for (size_t i = 0; i < n; i++)
                d[i] = (uint8_t)(i * 7 + (i >> 8));
}

/* ---- helpers ---- */

static void escaping_round_trips_every_byte_value(void **state)
{
        (void)state;
        uint8_t in[256], back[256];
        char lit[4 * 256 + 1];
        for (int i = 0; i < 256; i++)
                in[i] = (uint8_t)i;
        size_t n = mp_fs_escape_bytes(in, 256, lit);
        assert_int_equal(strlen(lit), n);
        for (size_t i = 0; i < n; i++) {
                assert_true(lit[i] >= 0x20 && lit[i] < 0x7f);
                if (lit[i] == '\'')
                        assert_int_equal(lit[i - 1], '\\');
        }
        assert_int_equal(py_unescape(lit, back), 256);
        assert_memory_equal(back, in, 256);
}

static void quoting_a_path_escapes_quotes_and_control_bytes(void **state)
{
        (void)state;
        char q[64];
        assert_int_equal(mp_fs_quote("/it's\\a\n.py", q, sizeof(q)), 0);
        assert_string_equal(q, "'/it\\'s\\\\a\\x0a.py'");
        assert_int_equal(mp_fs_quote("/a-very-long-name", q, 8), -ENAMETOOLONG);
}

static void base64_round_trips_and_rejects_junk(void **state)
{
        (void)state;
        uint8_t in[100], *out;
        size_t n;
        char *e;
        all_bytes(in, sizeof(in));
        for (size_t len = 0; len < 5; len++) {
                assert_int_equal(mp_b64_encode(in, len, &e), 0);
                assert_int_equal(mp_b64_decode(e, strlen(e), &out, &n), 0);
                assert_int_equal(n, len);
                assert_memory_equal(out, in, len);
                free(e);
                free(out);
        }
        assert_int_equal(mp_b64_decode("abc", 3, &out, &n), -EINVAL);
        assert_int_equal(mp_b64_decode("a=bc", 4, &out, &n), -EINVAL);
        assert_int_equal(mp_b64_decode("!!!!", 4, &out, &n), -EINVAL);
}

/* ---- put ---- */

static void put_without_binascii_writes_escaped_128_byte_chunks(void **state)
{
        struct fx *f = *state;
        uint8_t data[600];
        all_bytes(data, sizeof(data));
        f->fs.caps &= ~(MP_FS_B64DEC | MP_FS_B64ENC);
        assert_int_equal(mp_fs_put(&f->r, "/data.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), 0);
        assert_string_equal(f->fs.path, "/data.bin");
        assert_int_equal(f->fs.writes, 5); /* 128 + 128 + 128 + 128 + 88 */
        assert_int_equal(f->fs.b64_writes, 0);
        assert_int_equal(f->fs.len, sizeof(data));
        assert_memory_equal(f->fs.data, data, sizeof(data));
}

static void put_uses_base64_when_the_board_has_binascii(void **state)
{
        struct fx *f = *state;
        uint8_t data[1000];
        all_bytes(data, sizeof(data));
        assert_int_equal(mp_fs_put(&f->r, "/x.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->fs.b64_writes, 4);
        assert_memory_equal(f->fs.data, data, sizeof(data));
}

static void put_honours_a_smaller_chunk_size(void **state)
{
        struct fx *f = *state;
        uint8_t data[100];
        struct mp_fs_opts o = { .chunk = 32 };
        all_bytes(data, sizeof(data));
        assert_int_equal(mp_fs_put(&f->r, "/x.bin", data, sizeof(data), &o, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->fs.writes, 4);
}

static void put_detects_a_checksum_mismatch(void **state)
{
        struct fx *f = *state;
        uint8_t data[10] = "0123456789";
        f->fs.corrupt = true;
        assert_int_equal(mp_fs_put(&f->r, "/x", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), -EIO);
        assert_non_null(strstr(f->msg, "sha256"));
}

static void put_without_hashlib_compares_the_size(void **state)
{
        struct fx *f = *state;
        uint8_t data[10] = "0123456789";
        f->fs.caps &= ~MP_FS_SHA256;
        assert_int_equal(mp_fs_put(&f->r, "/x", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), 0);
        f->fs.wrong_size = true;
        assert_int_equal(mp_fs_put(&f->r, "/x", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), -EIO);
        assert_non_null(strstr(f->msg, "11 bytes"));
}

static void put_on_a_full_filesystem_is_enospc_and_removes_the_partial_file(void **state)
{
        struct fx *f = *state;
        uint8_t data[600];
        all_bytes(data, sizeof(data));
        f->fs.caps &= ~(MP_FS_B64DEC | MP_FS_B64ENC | MP_FS_SHA256 | MP_FS_DIRS);
        f->fs.space = 300;
        assert_int_equal(mp_fs_put(&f->r, "/big.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), -ENOSPC);
        assert_non_null(strstr(f->msg, "filesystem is full after 256 of 600 bytes"));
        assert_false(f->fs.exists);
}

static void put_that_the_board_silently_truncates_fails_verify_and_removes_the_file(void **state)
{
        struct fx *f = *state;
        uint8_t data[600];
        all_bytes(data, sizeof(data));
        f->fs.caps &= ~(MP_FS_B64DEC | MP_FS_B64ENC | MP_FS_SHA256 | MP_FS_DIRS);
        f->fs.wrong_size = true;
        f->fs.size_delta = -16;
        assert_int_equal(mp_fs_put(&f->r, "/big.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), -EIO);
        assert_non_null(strstr(f->msg, "verify failed: the board has 584 bytes, expected 600"));
        assert_false(f->fs.exists);
}

static void put_checks_each_write_for_a_short_count(void **state)
{
        struct fx *f = *state;
        uint8_t data[10] = { 0 };
        assert_int_equal(mp_fs_put(&f->r, "/a.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), 0);
        /* The micro:bit takes part of a write when full and returns the count, without an error. */
        assert_non_null(strstr(f->fs.open_code, "n=_f.write(b)\n if n is not None and n<len(b):raise OSError(28)"));
}

static void put_can_create_parent_directories(void **state)
{
        struct fx *f = *state;
        struct mp_fs_opts o = { .make_dirs = true };
        assert_int_equal(mp_fs_put(&f->r, "/lib/sub/m.py", (const uint8_t *)"x=1\n", 4, &o, f->msg,
                                   sizeof(f->msg)), 0);
        assert_non_null(strstr(f->fs.mkdir_log, "os.mkdir('/lib')"));
        assert_non_null(strstr(f->fs.mkdir_log, "os.mkdir('/lib/sub')"));
        assert_null(strstr(f->fs.mkdir_log, "m.py"));
}

static void capabilities_are_probed_once_per_session(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_fs_put(&f->r, "/a", (const uint8_t *)"a", 1, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(mp_fs_put(&f->r, "/b", (const uint8_t *)"b", 1, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->fs.probes, 1);
}

/* ---- micro:bit flat filesystem ---- */

static void flat_filesystem_drops_the_leading_slash_and_lists_with_os_size(void **state)
{
        struct fx *f = *state;
        json_t *ls = NULL;
        f->fs.caps = MP_FS_PROBED | MP_FS_SIZE;
        f->fs.ls_reply = "f\t12\tmain.py\r\n";
        assert_int_equal(mp_fs_put(&f->r, "/main.py", (const uint8_t *)"print('hi')\n", 12, NULL, f->msg,
                                   sizeof(f->msg)), 0);
        assert_string_equal(f->fs.path, "main.py");
        assert_int_equal(mp_fs_ls(&f->r, "/", false, &ls, f->msg, sizeof(f->msg)), 0);
        assert_non_null(strstr(f->m.last_code, "os.listdir()"));
        assert_non_null(strstr(f->m.last_code, "os.size(_n)"));
        assert_int_equal(json_array_size(ls), 1);
        json_t *e = json_array_get(ls, 0);
        assert_string_equal(json_string_value(json_object_get(e, "path")), "/main.py");
        assert_int_equal(json_integer_value(json_object_get(e, "size")), 12);
        json_decref(ls);
        assert_int_equal(mp_fs_mkdir(&f->r, "/lib", f->msg, sizeof(f->msg)), -ENOTSUP);
}

/* ---- ls / get / rm ---- */

static void ls_parses_files_and_directories(void **state)
{
        struct fx *f = *state;
        json_t *ls = NULL;
        f->fs.ls_reply = "f\t139\t/boot.py\r\nd\t0\t/lib\r\nf\t20\t/lib/a.py\r\n";
        assert_int_equal(mp_fs_ls(&f->r, "/", true, &ls, f->msg, sizeof(f->msg)), 0);
        assert_non_null(strstr(f->m.last_code, "os.ilistdir(d)"));
        assert_non_null(strstr(f->m.last_code, "_R=1"));
        assert_int_equal(json_array_size(ls), 3);
        json_t *d = json_array_get(ls, 1);
        assert_string_equal(json_string_value(json_object_get(d, "type")), "dir");
        assert_null(json_object_get(d, "size"));
        assert_int_equal(json_integer_value(json_object_get(json_array_get(ls, 2), "size")), 20);
        json_decref(ls);
}

static void ls_without_ilistdir_falls_back_to_listdir_and_stat(void **state)
{
        struct fx *f = *state;
        json_t *ls = NULL;
        f->fs.caps &= ~MP_FS_ILISTDIR;
        assert_int_equal(mp_fs_ls(&f->r, "/", false, &ls, f->msg, sizeof(f->msg)), 0);
        assert_null(strstr(f->m.last_code, "ilistdir"));
        assert_non_null(strstr(f->m.last_code, "os.listdir(d)"));
        assert_non_null(strstr(f->m.last_code, "os.stat("));
        json_decref(ls);
}

static void get_reads_base64_or_hex(void **state)
{
        struct fx *f = *state;
        uint8_t *d;
        size_t n;
        all_bytes(f->fs.data, 700);
        f->fs.len = 700;
        assert_int_equal(mp_fs_get(&f->r, "/x", &d, &n, NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(n, 700);
        assert_memory_equal(d, f->fs.data, 700);
        free(d);
        f->r.fs_caps &= ~MP_FS_B64ENC;
        assert_int_equal(mp_fs_get(&f->r, "/x", &d, &n, NULL, f->msg, sizeof(f->msg)), 0);
        assert_non_null(strstr(f->m.last_code, "'%02x'"));
        assert_int_equal(n, 700);
        assert_memory_equal(d, f->fs.data, 700);
        free(d);
}

static void get_without_binascii_hex_encodes_each_chunk_in_one_operation(void **state)
{
        struct fx *f = *state;
        uint8_t *d;
        size_t n;
        all_bytes(f->fs.data, 300);
        f->fs.len = 300;
        f->fs.caps &= ~MP_FS_B64ENC;
        assert_int_equal(mp_fs_get(&f->r, "/x", &d, &n, NULL, f->msg, sizeof(f->msg)), 0);
        /* A per-byte list of str runs a micro:bit out of heap (MemoryError in the listcomp). */
        assert_non_null(strstr(f->m.last_code, "'%02x'*len(_b)%tuple(_b)"));
        assert_null(strstr(f->m.last_code, "for x in _b"));
        free(d);
}

static void rm_of_a_missing_file_is_enoent_with_the_board_message(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_fs_rm(&f->r, "/nope.py", f->msg, sizeof(f->msg)), -ENOENT);
        assert_string_equal(f->msg, "OSError: [Errno 2] ENOENT");
}

static void rm_on_a_webassembly_board_reads_its_errno_numbers_the_wasi_way(void **state)
{
        struct fx *f = *state;
        f->fs.caps |= MP_FS_WASI;
        f->fs.missing_err = "44";
        assert_int_equal(mp_fs_rm(&f->r, "/nope.py", f->msg, sizeof(f->msg)), -ENOENT);
        assert_string_equal(f->msg, "OSError: 44 (No such file or directory)");
}

static void rm_on_a_microbit_reads_file_not_found_as_enoent(void **state)
{
        struct fx *f = *state;
        f->fs.caps &= ~MP_FS_DIRS;
        f->fs.missing_err = "file not found";
        assert_int_equal(mp_fs_rm(&f->r, "/nope.py", f->msg, sizeof(f->msg)), -ENOENT);
}

static void code_that_arrives_damaged_once_is_sent_again(void **state)
{
        struct fx *f = *state;
        uint8_t data[10] = { 1, 2, 3 };
        assert_int_equal(mp_fs_probe(&f->r, f->msg, sizeof(f->msg)), 0);
        f->fs.damaged = 1;
        assert_int_equal(mp_fs_put(&f->r, "/a.bin", data, sizeof(data), NULL, f->msg, sizeof(f->msg)), 0);
        assert_int_equal(f->fs.len, sizeof(data));
}

static void code_that_keeps_arriving_damaged_fails_with_the_syntax_error(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mp_fs_probe(&f->r, f->msg, sizeof(f->msg)), 0);
        f->fs.damaged = 5; /* the first send and four resends */
        assert_int_equal(mp_fs_rm(&f->r, "/a.bin", f->msg, sizeof(f->msg)), -EREMOTEIO);
        assert_string_equal(f->msg, "SyntaxError: invalid syntax");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                cmocka_unit_test(escaping_round_trips_every_byte_value),
                cmocka_unit_test(quoting_a_path_escapes_quotes_and_control_bytes),
                cmocka_unit_test(base64_round_trips_and_rejects_junk),
                T(put_without_binascii_writes_escaped_128_byte_chunks),
                T(put_uses_base64_when_the_board_has_binascii),
                T(put_honours_a_smaller_chunk_size),
                T(put_detects_a_checksum_mismatch),
                T(put_without_hashlib_compares_the_size),
                T(put_on_a_full_filesystem_is_enospc_and_removes_the_partial_file),
                T(put_checks_each_write_for_a_short_count),
                T(put_that_the_board_silently_truncates_fails_verify_and_removes_the_file),
                T(put_can_create_parent_directories),
                T(capabilities_are_probed_once_per_session),
                T(flat_filesystem_drops_the_leading_slash_and_lists_with_os_size),
                T(ls_parses_files_and_directories),
                T(ls_without_ilistdir_falls_back_to_listdir_and_stat),
                T(get_reads_base64_or_hex),
                T(get_without_binascii_hex_encodes_each_chunk_in_one_operation),
                T(rm_of_a_missing_file_is_enoent_with_the_board_message),
                T(rm_on_a_webassembly_board_reads_its_errno_numbers_the_wasi_way),
                T(rm_on_a_microbit_reads_file_not_found_as_enoent),
                T(code_that_arrives_damaged_once_is_sent_again),
                T(code_that_keeps_arriving_damaged_fails_with_the_syntax_error),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
