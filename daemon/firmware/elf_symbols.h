/* An app's ELF as a symbol and line table: address -> function and file:line for any target
 * architecture (Xtensa, RISC-V, ARM, ...) through elfutils' libdwfl, which reads the ELF symbol
 * table and the DWARF line tables without a cross toolchain. Opened from a file descriptor;
 * nothing else is looked up (no debuginfod, no separate debug files). */
#ifndef CORRAL_ELF_SYMBOLS_H
#define CORRAL_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_SYMBOLS_NAME_MAX 128
#define ELF_SYMBOLS_FILE_MAX 256

struct elf_symbols;

struct elf_location {
        bool in_code;                        /* inside an executable section of the ELF */
        char function[ELF_SYMBOLS_NAME_MAX]; /* "" when no symbol covers the address */
        uint64_t offset;                     /* addr - the function's start */
        char file[ELF_SYMBOLS_FILE_MAX];     /* "" without line information; as DWARF names it */
        unsigned line;                       /* 0 when unknown */
};

/* Read the ELF on fd (borrowed; corral keeps its own duplicate). name is for messages. *ret owns
 * the table. 0; -EMEDIUMTYPE when the bytes are not an ELF executable or object (msg says what
 * they are); -ENOMEM. */
int elf_symbols_open(int fd, const char *name, struct elf_symbols **ret, char *msg, size_t size);
/* NULL-safe; returns NULL. */
struct elf_symbols *elf_symbols_free(struct elf_symbols *es);
/* The ELF's machine in words ("Xtensa", "RISC-V", "ARM", "x86-64", or "EM_<n>"; static). */
const char *elf_symbols_machine(const struct elf_symbols *es);
/* Does the ELF carry DWARF line tables (file:line), or only symbols? */
bool elf_symbols_has_lines(const struct elf_symbols *es);
/* Where addr is. 0 with *ret filled (function and/or file:line); -ENOENT when the address is in no
 * section of the ELF and no symbol covers it. */
int elf_symbols_lookup(struct elf_symbols *es, uint64_t addr, struct elf_location *ret);

#endif
