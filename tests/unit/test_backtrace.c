/* Crash address scanner specification: ESP-IDF Xtensa and RISC-V panics, ESP8266 exceptions with
 * stack dumps, Zephyr fatal errors (ARM and RISC-V) and Cortex-M HardFault handlers, laid out as
 * those firmwares print them; the addresses, roles, formats and crash numbers found, byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "engines/expect/backtrace.h"

/* Feed text split at LF (CR LF kept as the port gives it). */
static struct backtrace *scan(const char *text)
{
        struct backtrace *bt;
        assert_int_equal(backtrace_new(&bt), 0);
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                backtrace_line(bt, p, n);
                p += n + (p[n] == '\n');
        }
        return bt;
}

static void expect_addr(const struct backtrace *bt, size_t i, uint64_t addr, enum backtrace_role role,
                        enum backtrace_format f, unsigned crash)
{
        const struct backtrace_addr *a = backtrace_get(bt, i);
        assert_non_null(a);
        assert_int_equal(a->addr, addr);
        assert_string_equal(backtrace_role_name(a->role), backtrace_role_name(role));
        assert_string_equal(backtrace_format_name(a->format), backtrace_format_name(f));
        assert_int_equal(a->crash, crash);
}

static const char XTENSA[] =
        "I (312) cpu_start: Starting scheduler on PRO CPU.\r\n"
        "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n"
        "\r\n"
        "Core  0 register dump:\r\n"
        "PC      : 0x400d1f2e  PS      : 0x00060330  A0      : 0x800d2a14  A1      : 0x3ffb4e80  \r\n"
        "A2      : 0x00000000  A3      : 0x3ffb4ebc  A4      : 0x00000001  A5      : 0x3ffb4ea0  \r\n"
        "EXCVADDR: 0x00000000  LBEG    : 0x4000c2e0  LEND    : 0x4000c2f6  LCOUNT  : 0x00000000  \r\n"
        "\r\n"
        "Backtrace: 0x400d1f2e:0x3ffb4e80 0x400d2a11:0x3ffb4ea0 0x4008a1b5:0x3ffb4ec0 |<-CORRUPTED\r\n"
        "\r\n"
        "ELF file SHA256: 3f2a1c9e8b7d6a5f\r\n"
        "Rebooting...\r\n";

static void test_xtensa_panic_pc_then_backtrace_frames(void **state)
{
        struct backtrace *bt = scan(XTENSA);
        assert_int_equal(backtrace_crashes(bt), 1);
        assert_int_equal(backtrace_count(bt), 3); /* the Backtrace's first PC repeats the register PC */
        expect_addr(bt, 0, 0x400d1f2e, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 1, 0x400d2a11, BACKTRACE_FRAME, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 2, 0x4008a1b5, BACKTRACE_FRAME, BACKTRACE_XTENSA, 0);
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 1)), 0x400d2a11);
        backtrace_free(bt);
}

static void test_xtensa_abort_and_backtrace_without_space(void **state)
{
        struct backtrace *bt = scan("abort() was called at PC 0x400d5c3f on core 0\r\n\r\n"
                                    "Backtrace:0x40081a2e:0x3ffb5a60 0x400d5c3c:0x3ffb5a80\r\n");
        assert_int_equal(backtrace_count(bt), 3);
        expect_addr(bt, 0, 0x400d5c3f, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 1, 0x40081a2e, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 2, 0x400d5c3c, BACKTRACE_FRAME, BACKTRACE_XTENSA, 0);
        backtrace_free(bt);
}

static void test_stray_backtrace_line_is_a_crash(void **state)
{
        struct backtrace *bt = scan("assert failed: app_main main.c:12 (x == 1)\n\nBacktrace: 0x4037b4c2:0x3fcebd10\n");
        assert_int_equal(backtrace_crashes(bt), 1);
        assert_int_equal(backtrace_count(bt), 1);
        expect_addr(bt, 0, 0x4037b4c2, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        backtrace_free(bt);
}

/* ESP-IDF v5 on an ESP32-C3. */
static const char RISCV[] =
        "Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.\r\n"
        "\r\n"
        "Core  0 register dump:\r\n"
        "MEPC    : 0x42005a1c  RA      : 0x42005a10  SP      : 0x3fc8f2d0  GP      : 0x3fc8c000  \r\n"
        "TP      : 0x3fc8f3b0  T0      : 0x4005890e  T1      : 0x3fc8f02c  T2      : 0x00000000  \r\n"
        "MSTATUS : 0x00001881  MTVEC   : 0x40380001  MCAUSE  : 0x00000005  MTVAL   : 0x00000000  \r\n"
        "MHARTID : 0x00000000  \r\n"
        "\r\n"
        "Stack memory:\r\n"
        "3fc8f2d0: 0x00000000 0x00000000 0x42005a64 0x4038429a 0x00000000 0x00000000 0x00000000 0x00000000\r\n"
        "3fc8f2f0: 0xa5a5a5a5 0xa5a5a5a5 0x42005a10 0x00000000\r\n"
        "\r\n"
        "ELF file SHA256: 6f2c...\r\n"
        "Rebooting...\r\n";

static void test_riscv_mepc_ra_and_stack_words(void **state)
{
        struct backtrace *bt = scan(RISCV);
        assert_int_equal(backtrace_crashes(bt), 1);
        assert_int_equal(backtrace_count(bt), 5);
        expect_addr(bt, 0, 0x42005a1c, BACKTRACE_PC, BACKTRACE_RISCV, 0);
        expect_addr(bt, 1, 0x42005a10, BACKTRACE_RETURN, BACKTRACE_RISCV, 0);
        expect_addr(bt, 2, 0x42005a64, BACKTRACE_STACK, BACKTRACE_RISCV, 0);
        expect_addr(bt, 3, 0x4038429a, BACKTRACE_STACK, BACKTRACE_RISCV, 0);
        expect_addr(bt, 4, 0xa5a5a5a5, BACKTRACE_STACK, BACKTRACE_RISCV, 0); /* a data word: the ELF says */
        /* zeros and 0x42005a10 again (the RA) are not kept */
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 1)), 0x42005a0f);
        backtrace_free(bt);
}

static const char ESP8266[] =
        "\r\n"
        "Exception (28):\r\n"
        "epc1=0x40201a3d epc2=0x00000000 epc3=0x00000000 excvaddr=0x00000000 depc=0x00000000\r\n"
        "\r\n"
        ">>>stack>>>\r\n"
        "\r\n"
        "ctx: cont\r\n"
        "sp: 3ffffe00 end: 3fffffc0 offset: 01a0\r\n"
        "3ffffe40:  3fffdad0 00000000 3ffee7ec 40201a54  \r\n"
        "3ffffe50:  feefeffe feefeffe 3ffee7ec 40202f25  \r\n"
        "<<<stack<<<\r\n"
        "3ffffe60:  00000000 40209999 00000000 00000000  \r\n";

static void test_esp8266_epc1_and_stack_dump(void **state)
{
        struct backtrace *bt = scan(ESP8266);
        assert_int_equal(backtrace_crashes(bt), 1);
        expect_addr(bt, 0, 0x40201a3d, BACKTRACE_PC, BACKTRACE_ESP8266, 0);
        expect_addr(bt, 1, 0x3fffdad0, BACKTRACE_STACK, BACKTRACE_ESP8266, 0);
        expect_addr(bt, 2, 0x3ffee7ec, BACKTRACE_STACK, BACKTRACE_ESP8266, 0);
        expect_addr(bt, 3, 0x40201a54, BACKTRACE_STACK, BACKTRACE_ESP8266, 0);
        expect_addr(bt, 4, 0xfeefeffe, BACKTRACE_STACK, BACKTRACE_ESP8266, 0);
        expect_addr(bt, 5, 0x40202f25, BACKTRACE_STACK, BACKTRACE_ESP8266, 0);
        assert_int_equal(backtrace_count(bt), 6); /* nothing after <<<stack<<< */
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 3)), 0x40201a53);
        backtrace_free(bt);
}

static void test_esp8266_fatal_exception_with_commas(void **state)
{
        struct backtrace *bt = scan("Fatal exception (0): \nepc1=0x4024a3c4, epc2=0x00000000, epc3=0x00000000, "
                                    "excvaddr=0x00000000, depc=0x00000000\n");
        assert_int_equal(backtrace_count(bt), 1);
        expect_addr(bt, 0, 0x4024a3c4, BACKTRACE_PC, BACKTRACE_ESP8266, 0);
        backtrace_free(bt);
}

/* Zephyr 3.x on a Cortex-M (the log prefix "[00:00:00.010,000] <err> os: " or "E: "). */
static const char ZEPHYR_ARM[] =
        "*** Booting Zephyr OS build v3.5.0 ***\r\n"
        "[00:00:00.010,000] <err> os: ***** HARD FAULT *****\r\n"
        "[00:00:00.010,000] <err> os:   Fault escalation (see below)\r\n"
        "[00:00:00.010,000] <err> os: ***** BUS FAULT *****\r\n"
        "[00:00:00.010,000] <err> os:   Precise data bus error\r\n"
        "[00:00:00.010,000] <err> os:   BFAR Address: 0x0\r\n"
        "[00:00:00.010,000] <err> os: r0/a1:  0x00000000  r1/a2:  0x00000001  r2/a3:  0x20000a3c\r\n"
        "[00:00:00.010,000] <err> os: r3/a4:  0x00000000 r12/ip:  0x00000000 r14/lr:  0x000003d5\r\n"
        "[00:00:00.010,000] <err> os:  xpsr:  0x61000000\r\n"
        "[00:00:00.010,000] <err> os: Faulting instruction address (r15/pc): 0x000003c8\r\n"
        "[00:00:00.010,000] <err> os: >>> ZEPHYR FATAL ERROR 25: Unknown error on CPU 0\r\n"
        "[00:00:00.010,000] <err> os: Current thread: 0x20000128 (unknown)\r\n"
        "[00:00:00.010,000] <err> os: Halting system\r\n";

static void test_zephyr_arm_lr_and_faulting_pc_one_crash(void **state)
{
        struct backtrace *bt = scan(ZEPHYR_ARM);
        assert_int_equal(backtrace_crashes(bt), 1);
        assert_int_equal(backtrace_count(bt), 2);
        expect_addr(bt, 0, 0x3d5, BACKTRACE_RETURN, BACKTRACE_ZEPHYR, 0);
        expect_addr(bt, 1, 0x3c8, BACKTRACE_PC, BACKTRACE_ZEPHYR, 0);
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 0)), 0x3d3); /* Thumb bit off, into the bl */
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 1)), 0x3c8);
        backtrace_free(bt);
}

static void test_zephyr_riscv_equals_form(void **state)
{
        struct backtrace *bt = scan("E: Exception cause Load access fault (5)\n"
                                    "E:  Faulting instruction address = 0x80000a4c\n"
                                    "E:      ra: 0x80000a30\n"
                                    "E:    mepc: 0x80000a4c\n"
                                    "E: >>> ZEPHYR FATAL ERROR 0: CPU exception on CPU 0\n");
        assert_int_equal(backtrace_crashes(bt), 1);
        assert_int_equal(backtrace_count(bt), 2);
        expect_addr(bt, 0, 0x80000a4c, BACKTRACE_PC, BACKTRACE_ZEPHYR, 0);
        expect_addr(bt, 1, 0x80000a30, BACKTRACE_RETURN, BACKTRACE_ZEPHYR, 0);
        backtrace_free(bt);
}

static void test_cortexm_handler_one_line_and_mbed_bare_hex(void **state)
{
        struct backtrace *bt = scan("HardFault: PC=0x0800123c LR=0x08000f01 PSR=0x21000000\n"
                                    "\n++ MbedOS Fault Handler ++\n\nFaultType: HardFault\n\nContext:\n"
                                    "R0   : 00000000\nSP   : 20001F58\nLR   : 08001C39\nPC   : 08000A1A\n"
                                    "xPSR : 21000000\n");
        assert_int_equal(backtrace_crashes(bt), 2);
        assert_int_equal(backtrace_count(bt), 4);
        expect_addr(bt, 0, 0x0800123c, BACKTRACE_PC, BACKTRACE_CORTEXM, 0);
        expect_addr(bt, 1, 0x08000f01, BACKTRACE_RETURN, BACKTRACE_CORTEXM, 0);
        expect_addr(bt, 2, 0x08001c39, BACKTRACE_RETURN, BACKTRACE_CORTEXM, 1);
        expect_addr(bt, 3, 0x08000a1a, BACKTRACE_PC, BACKTRACE_CORTEXM, 1);
        assert_int_equal(backtrace_lookup_addr(backtrace_get(bt, 1)), 0x08000eff);
        backtrace_free(bt);
}

static void test_registers_outside_a_crash_are_ignored(void **state)
{
        struct backtrace *bt = scan("PC      : 0x400d1f2e\nepc1=0x40201a3d\nr14/lr: 0x3d5\nHello PC=0x1234\n"
                                    "3ffffe40:  3fffdad0 00000000\nMEPC: 0x42000000\n");
        assert_int_equal(backtrace_crashes(bt), 0);
        assert_int_equal(backtrace_count(bt), 0);
        backtrace_free(bt);
}

static void test_block_ends_after_its_lines(void **state)
{
        struct backtrace *bt;
        assert_int_equal(backtrace_new(&bt), 0);
        backtrace_line(bt, "Guru Meditation Error: Core  0 panic'ed (IllegalInstruction)", 60);
        for (int i = 0; i < BACKTRACE_BLOCK_LINES - 2; i++)
                backtrace_line(bt, "", 0);
        backtrace_line(bt, "PC      : 0x40000001", 20); /* still inside */
        backtrace_line(bt, "PC      : 0x40000002", 20); /* one past */
        assert_int_equal(backtrace_count(bt), 1);
        expect_addr(bt, 0, 0x40000001, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        backtrace_free(bt);
}

static void test_two_crashes_keep_their_numbers_and_same_address_twice(void **state)
{
        struct backtrace *bt = scan("Guru Meditation Error: Core  0 panic'ed (LoadProhibited).\n"
                                    "PC      : 0x400d1f2e  PS      : 0x00060330\nRebooting...\n"
                                    "ets Jun  8 2016 00:22:57\n"
                                    "Guru Meditation Error: Core  0 panic'ed (LoadProhibited).\n"
                                    "PC      : 0x400d1f2e  PS      : 0x00060330\n");
        assert_int_equal(backtrace_crashes(bt), 2);
        assert_int_equal(backtrace_count(bt), 2);
        expect_addr(bt, 0, 0x400d1f2e, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 1, 0x400d1f2e, BACKTRACE_PC, BACKTRACE_XTENSA, 1);
        backtrace_free(bt);
}

static void test_malformed_numbers_are_refused(void **state)
{
        /* 17 hex digits, a letter glued on, a missing 0x, a bare "0x", zero */
        struct backtrace *bt = scan("Guru Meditation Error:\nPC      : 0x400d1f2e12345678a\n"
                                    "PC      : 0x400d1f2eg\nPC      : 400d1f2e\nPC      : 0x\nPC      : 0x00000000\n"
                                    "Backtrace: 0x400d1f2e 0x400d2a11:0x3ffb4ea0\nBacktrace: 0x400d1f2e:zz\n");
        assert_int_equal(backtrace_count(bt), 0);
        backtrace_free(bt);
}

static void test_nul_bytes_long_lines_and_limits(void **state)
{
        struct backtrace *bt;
        assert_int_equal(backtrace_new(&bt), 0);
        char line[3000];
        memset(line, 'x', sizeof(line));
        memcpy(line, "Backtrace:", 10);
        line[10] = '\0'; /* a NUL where a space would be */
        size_t o = 11;
        for (unsigned i = 1; o + 24 < sizeof(line); i++)
                o += (size_t)snprintf(line + o, sizeof(line) - o, "0x%08x:0x3ffb0000 ", 0x40080000u + i);
        backtrace_line(bt, line, o);
        /* read on its first 1023 bytes: 1012 / 22 = 46 pairs */
        assert_int_equal(backtrace_count(bt), 46);
        expect_addr(bt, 0, 0x40080001, BACKTRACE_PC, BACKTRACE_XTENSA, 0);
        expect_addr(bt, 45, 0x4008002e, BACKTRACE_FRAME, BACKTRACE_XTENSA, 0);
        for (unsigned i = 0; i < 30; i++) {
                char l[64];
                int n = snprintf(l, sizeof(l), "Backtrace: 0x%08x:0x3ffb0000", 0x50000000u + i);
                backtrace_line(bt, l, (size_t)n);
        }
        assert_int_equal(backtrace_count(bt), BACKTRACE_MAX_ADDRS);
        backtrace_line(bt, NULL, 5);
        backtrace_line(NULL, "x", 1);
        assert_null(backtrace_get(bt, BACKTRACE_MAX_ADDRS));
        assert_null(backtrace_free(bt));
}

static void test_stack_words_are_capped(void **state)
{
        struct backtrace *bt;
        assert_int_equal(backtrace_new(&bt), 0);
        backtrace_line(bt, ">>>stack>>>", 11);
        for (unsigned i = 0; i < 10; i++) {
                char l[80];
                int n = snprintf(l, sizeof(l), "3fff%04x:  4020%04x 4021%04x 4022%04x 4023%04x", i, i, i, i, i);
                backtrace_line(bt, l, (size_t)n);
        }
        assert_int_equal(backtrace_count(bt), BACKTRACE_MAX_STACK);
        backtrace_line(bt, "Backtrace: 0x40001234:0x3ffb0000", 33);
        assert_int_equal(backtrace_count(bt), BACKTRACE_MAX_STACK + 1); /* other kinds still fit */
        backtrace_free(bt);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_xtensa_panic_pc_then_backtrace_frames),
                cmocka_unit_test(test_xtensa_abort_and_backtrace_without_space),
                cmocka_unit_test(test_stray_backtrace_line_is_a_crash),
                cmocka_unit_test(test_riscv_mepc_ra_and_stack_words),
                cmocka_unit_test(test_esp8266_epc1_and_stack_dump),
                cmocka_unit_test(test_esp8266_fatal_exception_with_commas),
                cmocka_unit_test(test_zephyr_arm_lr_and_faulting_pc_one_crash),
                cmocka_unit_test(test_zephyr_riscv_equals_form),
                cmocka_unit_test(test_cortexm_handler_one_line_and_mbed_bare_hex),
                cmocka_unit_test(test_registers_outside_a_crash_are_ignored),
                cmocka_unit_test(test_block_ends_after_its_lines),
                cmocka_unit_test(test_two_crashes_keep_their_numbers_and_same_address_twice),
                cmocka_unit_test(test_malformed_numbers_are_refused),
                cmocka_unit_test(test_nul_bytes_long_lines_and_limits),
                cmocka_unit_test(test_stack_words_are_capped),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
