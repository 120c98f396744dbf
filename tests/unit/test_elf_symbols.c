/* ELF symbol and line lookups over real ELFs built at test time (tests/unit/elf/build): ARM
 * Cortex-M (Thumb), RISC-V RV32IMC and x86-64 compiled from test_app.c, Xtensa assembled from
 * test_app_xtensa.S; every address inside a function names it and its line; data, addresses
 * outside the ELF, a file that is not an ELF and an ELF without DWARF. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "firmware/elf_symbols.h"

static char dir[64];

struct sym {
        uint64_t addr, size;
        char name[64];
};

/* From NAME.syms (nm -S): the symbol's address (Thumb bit cleared) and size. */
static struct sym sym(const char *elf, const char *name)
{
        char path[128], line[256];
        snprintf(path, sizeof(path), "%s/%s.syms", dir, elf);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        struct sym s = { 0 };
        while (fgets(line, sizeof(line), f)) {
                unsigned long long a, z;
                char type, n[64];
                if (sscanf(line, "%llx %llx %c %63s", &a, &z, &type, n) == 4 && !strcmp(n, name)) {
                        s.addr = strcmp(elf, "arm") ? a : a & ~1ull; /* Thumb bit */
                        s.size = z;
                        snprintf(s.name, sizeof(s.name), "%s", n);
                }
        }
        fclose(f);
        assert_true(s.size > 0);
        return s;
}

static struct elf_symbols *open_elf(const char *elf)
{
        char path[128], msg[256] = "";
        snprintf(path, sizeof(path), "%s/%s.elf", dir, elf);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct elf_symbols *es = NULL;
        int e = elf_symbols_open(fd, path, &es, msg, sizeof(msg));
        close(fd); /* the table keeps its own descriptor */
        if (e)
                fprintf(stderr, "%s\n", msg);
        assert_int_equal(e, 0);
        return es;
}

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/corral-elf-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        char cmd[1024], here[256];
        snprintf(here, sizeof(here), "%s", __FILE__);
        char *slash = strrchr(here, '/');
        if (slash)
                *slash = '\0';
        snprintf(cmd, sizeof(cmd), "'%s/elf/build' '%s' && cp '%s/host.elf' '%s/nodwarf.elf' && strip -g '%s/nodwarf.elf' "
                 "&& cp '%s/host.syms' '%s/nodwarf.syms'", slash ? here : ".", dir, dir, dir, dir, dir, dir);
        return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Every address of the function (start, middle, last byte) names it, with its line in test_app.c. */
static void expect_function(struct elf_symbols *es, const char *elf, const char *name, unsigned line)
{
        struct sym s = sym(elf, name);
        uint64_t addrs[] = { s.addr, s.addr + s.size / 2, s.addr + s.size - 1 };
        for (size_t i = 0; i < 3; i++) {
                struct elf_location loc;
                assert_int_equal(elf_symbols_lookup(es, addrs[i], &loc), 0);
                assert_true(loc.in_code);
                assert_string_equal(loc.function, name);
                assert_int_equal(loc.offset, addrs[i] - s.addr);
                if (line) {
                        const char *base = strrchr(loc.file, '/');
                        assert_string_equal(base ? base + 1 : loc.file, "test_app.c");
                        assert_int_equal(loc.line, line);
                } else {
                        assert_string_equal(loc.file, "");
                        assert_int_equal(loc.line, 0);
                }
        }
}

static void check_app(const char *elf, const char *machine)
{
        struct elf_symbols *es = open_elf(elf);
        assert_string_equal(elf_symbols_machine(es), machine);
        assert_true(elf_symbols_has_lines(es));
        expect_function(es, elf, "read_sensor", 5);
        expect_function(es, elf, "test_three", 6);
        expect_function(es, elf, "app_main", 7);
        elf_symbols_free(es);
}

static void test_arm_cortex_m_thumb(void **state)
{
        check_app("arm", "ARM");
}

static void test_riscv_rv32imc(void **state)
{
        check_app("riscv", "RISC-V");
}

static void test_xtensa(void **state)
{
        check_app("xtensa", "Xtensa");
}

static void test_host_x86_64(void **state)
{
        check_app("host", "x86-64");
}

static void test_data_and_outside_addresses(void **state)
{
        struct elf_symbols *es = open_elf("arm");
        struct sym d = sym("arm", "sensor_reg");
        struct elf_location loc;
        assert_int_equal(elf_symbols_lookup(es, d.addr, &loc), 0);
        assert_false(loc.in_code);
        assert_string_equal(loc.function, "");
        assert_int_equal(loc.line, 0);
        assert_int_equal(elf_symbols_lookup(es, 0x60000000, &loc), -ENOENT);
        assert_false(loc.in_code);
        assert_int_equal(elf_symbols_lookup(NULL, 0x08000000, &loc), -ENOENT);
        elf_symbols_free(es);
}

static void test_symbols_without_dwarf(void **state)
{
        struct elf_symbols *es = open_elf("nodwarf");
        assert_false(elf_symbols_has_lines(es));
        expect_function(es, "nodwarf", "read_sensor", 0);
        expect_function(es, "nodwarf", "test_three", 0);
        elf_symbols_free(es);
}

static void test_not_an_elf(void **state)
{
        char path[128], msg[256] = "";
        snprintf(path, sizeof(path), "%s/arm.syms", dir);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct elf_symbols *es = (void *)1;
        assert_int_equal(elf_symbols_open(fd, "app.bin", &es, msg, sizeof(msg)), -EMEDIUMTYPE);
        assert_null(es);
        assert_non_null(strstr(msg, "app.bin is not an ELF"));
        close(fd);
        assert_int_equal(elf_symbols_open(-1, "x", &es, msg, sizeof(msg)), -EBADF);
        assert_null(elf_symbols_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arm_cortex_m_thumb),
                cmocka_unit_test(test_riscv_rv32imc),
                cmocka_unit_test(test_xtensa),
                cmocka_unit_test(test_host_x86_64),
                cmocka_unit_test(test_data_and_outside_addresses),
                cmocka_unit_test(test_symbols_without_dwarf),
                cmocka_unit_test(test_not_an_elf),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
