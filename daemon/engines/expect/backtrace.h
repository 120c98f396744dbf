/* Crash addresses in serial output: a line-by-line scanner that finds the program counters,
 * return addresses, backtrace frames and stack words that firmware crash dumps print (ESP32
 * Xtensa, ESP8266, ESP32-C3 RISC-V, Zephyr, Cortex-M HardFault handlers), for decoding against
 * the app's ELF elsewhere. Pure: lines in, addresses out. */
#ifndef CORRAL_BACKTRACE_H
#define CORRAL_BACKTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKTRACE_MAX_ADDRS 64   /* addresses kept (the first ones: the first crash matters most) */
#define BACKTRACE_MAX_STACK 24   /* of which stack-dump words (candidates; most are data) */
#define BACKTRACE_BLOCK_LINES 48 /* a crash block's register lines are read this many lines after it began */

enum backtrace_format {
        BACKTRACE_XTENSA,  /* ESP-IDF on ESP32/S2/S3: "Guru Meditation", "PC : 0x..", "Backtrace: 0xPC:0xSP ..." */
        BACKTRACE_ESP8266, /* "Exception (N):" / "Fatal exception (N):", "epc1=0x..", ">>>stack>>>" words */
        BACKTRACE_RISCV,   /* ESP32-C3/C6/H2: "MEPC : 0x..", "RA : 0x..", "Stack memory:" words */
        BACKTRACE_ZEPHYR,  /* "Faulting instruction address (r15/pc): 0x..", "r14/lr: 0x..", "mepc:", "ra:" */
        BACKTRACE_CORTEXM, /* a HardFault handler's "PC"/"LR" (with or without 0x) */
};

enum backtrace_role {
        BACKTRACE_PC,     /* where it crashed: decoded as is */
        BACKTRACE_FRAME,  /* a backtrace entry after the first (ESP-IDF already points it into the call) */
        BACKTRACE_RETURN, /* a return address register (LR, RA): decoded at addr - 1, the call */
        BACKTRACE_STACK,  /* a word of a stack dump: a return address only if it falls into code */
};

struct backtrace_addr {
        uint64_t addr;                /* as printed */
        enum backtrace_role role;
        enum backtrace_format format;
        unsigned crash;               /* 0 for the first crash block seen, 1 for the next, ... */
};

struct backtrace;

/* *ret owns the scanner. 0 or -ENOMEM. */
int backtrace_new(struct backtrace **ret);
/* NULL-safe; returns NULL. */
struct backtrace *backtrace_free(struct backtrace *bt);
/* One line of output (without its line end; a trailing CR is ignored; any bytes, NUL included). */
void backtrace_line(struct backtrace *bt, const char *line, size_t len);

size_t backtrace_count(const struct backtrace *bt);
/* Borrowed; NULL when i is out of range. In the order they were printed. */
const struct backtrace_addr *backtrace_get(const struct backtrace *bt, size_t i);
/* Crash blocks seen (a block is counted even when it printed no address). */
unsigned backtrace_crashes(const struct backtrace *bt);

/* The address to look up for a (the call for return addresses; ARM's Thumb bit cleared). */
uint64_t backtrace_lookup_addr(const struct backtrace_addr *a);
/* "xtensa", "esp8266", "riscv", "zephyr", "cortex-m"; "pc", "frame", "return", "stack" (static). */
const char *backtrace_format_name(enum backtrace_format f);
const char *backtrace_role_name(enum backtrace_role r);

#endif
