/* hostfile_open: files named by clients, confined beneath firmware_dirs with openat2: symlinks
 * (absolute or relative) and ".." that lead out are "not allowed", the same whether the target
 * exists; a FIFO inside does not hang; links staying inside are fine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "firmware/hostfile.h"

static char root[64], fw[128], out[128];

static void put(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state)
{
        (void)state;
        char p[256], t[256];
        snprintf(root, sizeof(root), "/tmp/corral-hostfile-XXXXXX");
        assert_non_null(mkdtemp(root));
        snprintf(fw, sizeof(fw), "%s/fw", root);
        snprintf(out, sizeof(out), "%s/out", root);
        assert_int_equal(mkdir(fw, 0700), 0);
        assert_int_equal(mkdir(out, 0700), 0);
        snprintf(p, sizeof(p), "%s/a.bin", fw);
        put(p, "firmware");
        snprintf(p, sizeof(p), "%s/secret.conf", out);
        put(p, "secret = hunter2");
        snprintf(t, sizeof(t), "%s/secret.conf", out);
        snprintf(p, sizeof(p), "%s/abs.bin", fw);
        assert_int_equal(symlink(t, p), 0);
        snprintf(p, sizeof(p), "%s/rel.bin", fw);
        assert_int_equal(symlink("../out/secret.conf", p), 0);
        snprintf(p, sizeof(p), "%s/dangling.bin", fw);
        assert_int_equal(symlink("/nonexistent/corral/x", p), 0);
        snprintf(p, sizeof(p), "%s/dir", fw);
        assert_int_equal(symlink("../out", p), 0);
        snprintf(p, sizeof(p), "%s/inside.bin", fw);
        assert_int_equal(symlink("a.bin", p), 0);
        snprintf(p, sizeof(p), "%s/pipe", fw);
        assert_int_equal(mkfifo(p, 0600), 0);
        snprintf(p, sizeof(p), "%s/empty.bin", fw);
        put(p, "");
        snprintf(p, sizeof(p), "%s/self", fw);
        assert_int_equal(symlink("/proc/self/root/etc/passwd", p), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        return system(cmd) == 0 ? 0 : -1;
}

static int try_open(const char *rel_or_abs, char *msg, size_t size)
{
        char p[256];
        if (rel_or_abs[0] == '/')
                snprintf(p, sizeof(p), "%s", rel_or_abs);
        else
                snprintf(p, sizeof(p), "%s/%s", fw, rel_or_abs);
        json_t *dirs = json_pack("[s]", fw);
        int fd = -1;
        uint64_t size_ = 0;
        int r = hostfile_open(dirs, "image_path", p, 1024, &fd, &size_, msg, size);
        json_decref(dirs);
        if (r == 0) {
                assert_true(fd >= 0);
                close(fd);
                return (int)size_;
        }
        return r;
}

static void inside_is_read(void **state)
{
        (void)state;
        char msg[512];
        assert_int_equal(try_open("a.bin", msg, sizeof(msg)), 8);
        assert_int_equal(try_open("inside.bin", msg, sizeof(msg)), 8);
        char p[256];
        snprintf(p, sizeof(p), "%s//a.bin", fw); /* doubled slashes are fine */
        assert_int_equal(try_open(p, msg, sizeof(msg)), 8);
}

static void escapes_are_not_allowed(void **state)
{
        (void)state;
        char msg[512];
        const char *bad[] = { "abs.bin", "rel.bin", "dir/secret.conf", "self", "dangling.bin" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(try_open(bad[i], msg, sizeof(msg)), -EACCES);
                assert_non_null(strstr(msg, "is not allowed"));
        }
        char p[256];
        snprintf(p, sizeof(p), "%s/../out/secret.conf", fw);
        assert_int_equal(try_open(p, msg, sizeof(msg)), -EACCES);
        snprintf(p, sizeof(p), "%s/./a.bin", fw);
        assert_int_equal(try_open(p, msg, sizeof(msg)), -EACCES);
        snprintf(p, sizeof(p), "%s/secret.conf", out);
        assert_int_equal(try_open(p, msg, sizeof(msg)), -EACCES);
        snprintf(p, sizeof(p), "%s-evil/x.bin", fw); /* a sibling sharing the prefix */
        assert_int_equal(try_open(p, msg, sizeof(msg)), -EACCES);
        assert_int_equal(try_open("/etc/passwd", msg, sizeof(msg)), -EACCES);
        assert_int_equal(try_open(fw, msg, sizeof(msg)), -EACCES); /* the dir itself */
        /* Outside, existing or not: one answer, naming only the path given. */
        char m1[512], m2[512];
        assert_int_equal(try_open("/etc/passwd", m1, sizeof(m1)), -EACCES);
        assert_int_equal(try_open("/etc/passwe", m2, sizeof(m2)), -EACCES);
        m1[strlen(m1) - 1] = m2[strlen(m2) - 1] = '\0';
        char *a = strstr(m1, "passwd"), *b = strstr(m2, "passwe");
        assert_non_null(a);
        assert_non_null(b);
        a[5] = b[5] = '?';
        assert_string_equal(m1, m2);
}

static void allowed_but_unusable(void **state)
{
        (void)state;
        char msg[512];
        assert_int_equal(try_open("pipe", msg, sizeof(msg)), -EISDIR); /* no hang on a FIFO */
        assert_int_equal(try_open("empty.bin", msg, sizeof(msg)), -ENODATA);
        assert_int_equal(try_open("missing.bin", msg, sizeof(msg)), -ENOENT);
        json_t *none = json_array();
        int fd;
        uint64_t n;
        char p[256];
        snprintf(p, sizeof(p), "%s/a.bin", fw);
        assert_int_equal(hostfile_open(none, "image_path", p, 1024, &fd, &n, msg, sizeof(msg)), -EACCES);
        assert_int_equal(hostfile_open(NULL, "image_path", p, 1024, &fd, &n, msg, sizeof(msg)), -EACCES);
        json_decref(none);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(inside_is_read),
                cmocka_unit_test(escapes_are_not_allowed),
                cmocka_unit_test(allowed_but_unusable),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
