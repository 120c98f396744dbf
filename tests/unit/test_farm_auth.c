/* The farm credential: farm_secret and farm_secret_file in corrald.conf (bounds, never quoted in
 * an error, the line holding it wiped like token secrets), and farm_secret_matches (exact match
 * only, nothing matches when no secret is configured). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "farm/farm_auth.h"

#define FARM "farm-secret-3b9d0e6a41f2c857"

static struct config *parse(const char *text, int *r, char *msg, size_t msg_size)
{
        struct config *c = config_new();
        assert_non_null(c);
        msg[0] = '\0';
        *r = config_load_string(c, "t.conf", text, strlen(text), msg, msg_size);
        return c;
}

static void test_farm_secret_key(void **state)
{
        (void)state;
        char msg[512];
        int r;
        struct config *c = parse("\n", &r, msg, sizeof(msg));
        assert_int_equal(r, 0);
        assert_false(farm_secret_configured(c)); /* default: none, no relaying */
        assert_false(farm_secret_matches(c, ""));
        assert_false(farm_secret_matches(c, FARM));
        config_put(c);

        c = parse("farm_secret = " FARM "\n", &r, msg, sizeof(msg));
        assert_int_equal(r, 0);
        assert_true(farm_secret_configured(c));
        assert_true(farm_secret_matches(c, FARM));
        assert_false(farm_secret_matches(c, FARM "x"));
        assert_false(farm_secret_matches(c, "farm-secret-3b9d0e6a41f2c856"));
        assert_false(farm_secret_matches(c, ""));
        assert_false(farm_secret_matches(c, NULL));
        config_put(c);

        /* too short, spaces, too long: refused without quoting the value */
        const char *bad[] = { "farm_secret = short-secret\n", "farm_secret = two words and more here\n", NULL };
        for (int i = 0; bad[i]; i++) {
                config_put(parse(bad[i], &r, msg, sizeof(msg)));
                assert_int_equal(r, -EINVAL);
                assert_non_null(strstr(msg, "'farm_secret' must give 16 to 127 printable characters without spaces"));
                assert_null(strstr(msg, "short-secret"));
                assert_null(strstr(msg, "words"));
        }
        char text[300] = "farm_secret = ";
        memset(text + strlen(text), 'k', 130);
        strcat(text, "\n");
        config_put(parse(text, &r, msg, sizeof(msg)));
        assert_int_equal(r, -EINVAL);
        assert_null(strstr(msg, "kkkk"));
}

static void test_farm_secret_file(void **state)
{
        (void)state;
        char path[] = "/tmp/corral-farm-secret-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        const char body[] = FARM "\nsecond line ignored\n";
        assert_int_equal(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
        close(fd);
        char text[200], msg[512];
        int r;
        snprintf(text, sizeof(text), "farm_secret_file = %s\n", path);
        struct config *c = parse(text, &r, msg, sizeof(msg));
        assert_int_equal(r, 0);
        assert_true(farm_secret_matches(c, FARM));
        assert_false(farm_secret_matches(c, FARM "\n"));
        config_put(c);
        unlink(path);

        config_put(parse(text, &r, msg, sizeof(msg))); /* gone now */
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(msg, "'farm_secret_file' must be an absolute path to a readable file"));
        config_put(parse("farm_secret_file = relative/secret\n", &r, msg, sizeof(msg)));
        assert_int_equal(r, -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_farm_secret_key),
                cmocka_unit_test(test_farm_secret_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
