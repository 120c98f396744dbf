/* Parameter validation of the flash and erase job kinds: specific messages before queueing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jobs/kinds.h"

static char file[64];

static int make_file(void **state)
{
        (void)state;
        snprintf(file, sizeof(file), "/tmp/corral-fw-XXXXXX");
        int fd = mkstemp(file);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\xE9\x01\x02\x20", 4), 4);
        close(fd);
        return 0;
}

static int rm_file(void **state)
{
        (void)state;
        unlink(file);
        return 0;
}

static int check(const struct job_kind *k, const char *json, char *msg, size_t size)
{
        json_error_t err;
        char buf[1024];
        const char *at = strstr(json, "%s");
        if (at)
                snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - json), json, file, at + 2);
        else
                snprintf(buf, sizeof(buf), "%s", json);
        json_t *p = json_loads(buf, 0, &err);
        assert_non_null(p);
        msg[0] = '\0';
        int r = k->check(p, msg, size);
        json_decref(p);
        return r;
}

static void flash_accepts_parts_and_options(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":4096,\"path\":\"%s\"}],"
                               "\"flash_mode\":\"dio\",\"flash_size\":\"detect\",\"verify\":\"md5\","
                               "\"compress\":\"auto\",\"reset\":\"classic\",\"baud\":460800}", msg,
                               sizeof(msg)), 0);
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"offset\":0}", msg, sizeof(msg)), 0);
}

static void flash_needs_something_to_write(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{}", msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "Nothing to flash"));
}

static void flash_rejects_relative_paths_and_stub_dir(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":0,\"path\":\"fw.bin\"}]}", msg,
                               sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "parts[0]: 'path' must be an absolute file path"));
        /* Syntax only: whether the file exists is not looked at before the caller is checked. */
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"/nonexistent/fw.bin\"}", msg, sizeof(msg)), 0);
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"stub_dir\":\"/etc\"}", msg,
                               sizeof(msg)), -EACCES);
        assert_non_null(strstr(msg, "'stub_dir' is not allowed"));
        assert_int_equal(check(&job_kind_erase, "{\"stub_dir\":\"/tmp\"}", msg, sizeof(msg)), -EACCES);
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":0,\"firmware\":\"%s\",\"path\":\"/x\"}]}",
                               msg, sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":0,\"firmware\":\"abc\"}]}", msg,
                               sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":0,\"firmware\":\""
                               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}", msg,
                               sizeof(msg)), 0);
}

static int check_as(bool host_files, const char *dir, const char *json, char *msg, size_t size)
{
        char buf[1024];
        const char *at = strstr(json, "%s");
        if (at)
                snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - json), json, file, at + 2);
        else
                snprintf(buf, sizeof(buf), "%s", json);
        json_t *p = json_loads(buf, 0, NULL), *dirs = json_pack("[s]", dir);
        assert_non_null(p);
        struct job_caller c = { .name = "tester", .host_files = host_files, .firmware_dirs = dirs };
        msg[0] = '\0';
        int r = job_kind_flash.check_caller(p, &c, msg, size);
        json_decref(p);
        json_decref(dirs);
        return r;
}

static void flash_host_paths_only_for_admins_inside_firmware_dirs(void **state)
{
        (void)state;
        char msg[512], msg2[512];
        /* Not an admin: refused, and a missing file gets the very same answer. */
        assert_int_equal(check_as(false, "/tmp", "{\"image_path\":\"%s\"}", msg, sizeof(msg)), -EACCES);
        assert_non_null(strstr(msg, "not allowed for token 'tester'"));
        assert_int_equal(check_as(false, "/tmp", "{\"image_path\":\"/tmp/corral-no-such\"}", msg2, sizeof(msg2)),
                         -EACCES);
        assert_string_equal(msg, msg2);
        assert_int_equal(check_as(false, "/tmp", "{\"parts\":[{\"offset\":0,\"path\":\"%s\"}]}", msg,
                                  sizeof(msg)), -EACCES);
        /* An admin: inside the dir yes; outside, or with "..", not allowed whether it exists or not. */
        assert_int_equal(check_as(true, "/tmp", "{\"image_path\":\"%s\"}", msg, sizeof(msg)), 0);
        assert_int_equal(check_as(true, "/srv/fw", "{\"image_path\":\"%s\"}", msg, sizeof(msg)), -EACCES);
        assert_non_null(strstr(msg, "is not allowed"));
        assert_int_equal(check_as(true, "/tmp", "{\"image_path\":\"/tmp/../etc/passwd\"}", msg, sizeof(msg)),
                         -EACCES);
        assert_int_equal(check_as(true, "/tm", "{\"image_path\":\"%s\"}", msg, sizeof(msg)), -EACCES);
        /* Allowed but missing: that may be said to an admin inside the dir. */
        assert_int_equal(check_as(true, "/tmp", "{\"image_path\":\"/tmp/corral-no-such\"}", msg, sizeof(msg)),
                         -EBADMSG);
}

static void flash_rejects_unknown_option_values(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"flash_mode\":\"fast\"}", msg,
                               sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "'flash_mode' must be one of: keep, qio, qout, dio, dout"));
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"verify\":\"crc\"}", msg,
                               sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"reset\":\"magic\"}", msg,
                               sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"offset\":-1}", msg,
                               sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"baud\":12}", msg,
                               sizeof(msg)), -EINVAL);
}

static void flash_rejects_parts_and_image_together(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"%s\",\"parts\":[]}", msg, sizeof(msg)),
                         -EINVAL);
        assert_non_null(strstr(msg, "not both"));
}

static void erase_region_must_be_4k_aligned(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_erase, "{}", msg, sizeof(msg)), 0);
        assert_int_equal(check(&job_kind_erase, "{\"offset\":4096,\"size\":8192}", msg, sizeof(msg)), 0);
        assert_int_equal(check(&job_kind_erase, "{\"offset\":100,\"size\":8192}", msg, sizeof(msg)), -EINVAL);
        assert_int_equal(check(&job_kind_erase, "{\"offset\":4096}", msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "both"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(flash_accepts_parts_and_options),
                cmocka_unit_test(flash_needs_something_to_write),
                cmocka_unit_test(flash_rejects_relative_paths_and_stub_dir),
                cmocka_unit_test(flash_host_paths_only_for_admins_inside_firmware_dirs),
                cmocka_unit_test(flash_rejects_unknown_option_values),
                cmocka_unit_test(flash_rejects_parts_and_image_together),
                cmocka_unit_test(erase_region_must_be_4k_aligned),
        };
        return cmocka_run_group_tests(tests, make_file, rm_file);
}
