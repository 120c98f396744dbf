/* Parameter validation of the flash and erase job kinds: specific messages before queueing. */
#include <setjmp.h>
#include <stdarg.h>
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

static void flash_rejects_relative_and_missing_files(void **state)
{
        (void)state;
        char msg[256];
        assert_int_equal(check(&job_kind_flash, "{\"parts\":[{\"offset\":0,\"path\":\"fw.bin\"}]}", msg,
                               sizeof(msg)), -EINVAL);
        assert_string_equal(msg, "parts[0]: 'path' must be an absolute file path");
        assert_int_equal(check(&job_kind_flash, "{\"image_path\":\"/nonexistent/fw.bin\"}", msg,
                               sizeof(msg)), -EBADMSG);
        assert_string_equal(msg, "image_path: /nonexistent/fw.bin is not a readable file");
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
                cmocka_unit_test(flash_rejects_relative_and_missing_files),
                cmocka_unit_test(flash_rejects_unknown_option_values),
                cmocka_unit_test(flash_rejects_parts_and_image_together),
                cmocka_unit_test(erase_region_must_be_4k_aligned),
        };
        return cmocka_run_group_tests(tests, make_file, rm_file);
}
