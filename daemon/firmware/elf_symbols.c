/* libdwfl over one offline ELF: dwfl_report_offline() on the caller's fd (a dup); the function
 * symbols (ARM's Thumb bit cleared, mapping symbols such as $t skipped) sorted once for a binary
 * search; lines through dwfl_module_getsrc() (.debug_aranges), else the compile unit whose ranges
 * hold the address (clang emits no aranges). The callbacks that would look for files elsewhere
 * (debuginfod, /usr/lib/debug) find nothing, on purpose. */
#include "firmware/elf_symbols.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct func {
        uint64_t addr, size;
        const char *name; /* libdwfl's string, valid while dwfl is */
};

struct elf_symbols {
        struct func *funcs;
        size_t n_funcs;
        Dwfl *dwfl;
        Dwfl_Module *mod;
        Elf *elf;
        GElf_Addr bias;
        bool has_lines;
        unsigned machine;
};

static int no_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base, char **file_name,
                  Elf **elfp)
{
        return -1;
}

static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                        const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                        char **debuginfo_file_name)
{
        return -1;
}

static const Dwfl_Callbacks callbacks = {
        .find_elf = no_elf,
        .find_debuginfo = no_debuginfo,
        .section_address = dwfl_offline_section_address,
};

static bool has_lines(Dwfl_Module *mod, GElf_Addr *bias)
{
        Dwarf *dw = dwfl_module_getdwarf(mod, bias);
        if (!dw)
                return false;
        Dwarf_Off off = 0, next;
        size_t hsize;
        while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
                Dwarf_Die cu;
                Dwarf_Lines *lines;
                size_t n;
                if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_getsrclines(&cu, &lines, &n) == 0 && n)
                        return true;
                off = next;
        }
        return false;
}

static int func_cmp(const void *a, const void *b)
{
        const struct func *x = a, *y = b;
        return x->addr < y->addr ? -1 : x->addr > y->addr ? 1 : x->size > y->size ? -1 : x->size < y->size;
}

/* The FUNC symbols, sorted by address (largest first among equals). 0 or -ENOMEM. */
static int load_funcs(struct elf_symbols *es)
{
        int n = dwfl_module_getsymtab(es->mod);
        if (n <= 0)
                return 0;
        if (!(es->funcs = calloc((size_t)n, sizeof(*es->funcs))))
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                GElf_Sym sym;
                GElf_Addr addr;
                const char *name = dwfl_module_getsym_info(es->mod, i, &sym, &addr, NULL, NULL, NULL);
                if (!name || !*name || name[0] == '$' || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF)
                        continue;
                if (es->machine == EM_ARM)
                        addr &= ~(GElf_Addr)1;
                es->funcs[es->n_funcs++] = (struct func){ addr, sym.st_size, name };
        }
        qsort(es->funcs, es->n_funcs, sizeof(*es->funcs), func_cmp);
        return 0;
}

/* The function holding a (module address): the last one starting at or before it whose size
 * covers it (a sizeless symbol covers up to the next one). */
static const struct func *func_at(const struct elf_symbols *es, uint64_t a)
{
        size_t lo = 0, hi = es->n_funcs;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (es->funcs[mid].addr <= a)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t i = lo; i-- > 0;) {
                const struct func *f = &es->funcs[i];
                if (a - f->addr < f->size || (!f->size && (i + 1 == es->n_funcs || a < es->funcs[i + 1].addr)))
                        return f;
                if (!f->size)
                        break;
        }
        return NULL;
}

int elf_symbols_open(int fd, const char *name, struct elf_symbols **ret, char *msg, size_t size)
{
        *ret = NULL;
        struct elf_symbols *es = calloc(1, sizeof(*es));
        if (!es)
                return -ENOMEM;
        if (!(es->dwfl = dwfl_begin(&callbacks))) {
                free(es);
                return -ENOMEM;
        }
        /* libdwfl owns (and closes) the descriptor it is given. */
        int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (own < 0) {
                int e = -errno;
                snprintf(msg, size, "%s: %s", name, strerror(-e));
                elf_symbols_free(es);
                return e;
        }
        dwfl_report_begin(es->dwfl);
        es->mod = dwfl_report_offline(es->dwfl, name, name, own);
        dwfl_report_end(es->dwfl, NULL, NULL);
        if (!es->mod) {
                snprintf(msg, size, "%s is not an ELF file with symbols or debug information (%s)", name,
                         dwfl_errmsg(-1));
                elf_symbols_free(es);
                return -EMEDIUMTYPE;
        }
        es->elf = dwfl_module_getelf(es->mod, &es->bias);
        GElf_Ehdr eh;
        if (!es->elf || !gelf_getehdr(es->elf, &eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN && eh.e_type != ET_REL)) {
                snprintf(msg, size, "%s is not an ELF executable or object", name);
                elf_symbols_free(es);
                return -EMEDIUMTYPE;
        }
        es->machine = eh.e_machine;
        GElf_Addr dwbias;
        es->has_lines = has_lines(es->mod, &dwbias);
        if (load_funcs(es) < 0) {
                elf_symbols_free(es);
                return -ENOMEM;
        }
        *ret = es;
        return 0;
}

struct elf_symbols *elf_symbols_free(struct elf_symbols *es)
{
        if (es) {
                if (es->dwfl)
                        dwfl_end(es->dwfl);
                free(es->funcs);
                free(es);
        }
        return NULL;
}

const char *elf_symbols_machine(const struct elf_symbols *es)
{
        static __thread char other[16];
        switch (es ? es->machine : 0) {
        case EM_XTENSA: return "Xtensa";
        case EM_RISCV: return "RISC-V";
        case EM_ARM: return "ARM";
        case EM_AARCH64: return "AArch64";
        case EM_X86_64: return "x86-64";
        case EM_386: return "x86";
        default:
                snprintf(other, sizeof(other), "EM_%u", es ? es->machine : 0);
                return other;
        }
}

bool elf_symbols_has_lines(const struct elf_symbols *es)
{
        return es && es->has_lines;
}

/* In an allocated executable section (the file's addresses, before the module bias)? Any section? */
static void section_of(const struct elf_symbols *es, uint64_t addr, bool *in_any, bool *in_code)
{
        *in_any = *in_code = false;
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(es->elf, scn))) {
                GElf_Shdr sh;
                if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) || addr < sh.sh_addr ||
                    addr - sh.sh_addr >= sh.sh_size)
                        continue;
                *in_any = true;
                if (sh.sh_flags & SHF_EXECINSTR)
                        *in_code = true;
        }
}

/* The line of a (module address) from the compile unit whose ranges hold it. */
static bool cu_line(const struct elf_symbols *es, uint64_t a, struct elf_location *ret)
{
        GElf_Addr bias;
        Dwarf *dw = dwfl_module_getdwarf(es->mod, &bias);
        Dwarf_Off off = 0, next;
        size_t hsize;
        while (dw && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
                Dwarf_Die cu;
                if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_haspc(&cu, a - bias) > 0) {
                        Dwarf_Line *l = dwarf_getsrc_die(&cu, a - bias);
                        const char *src = l ? dwarf_linesrc(l, NULL, NULL) : NULL;
                        int lineno = 0;
                        if (src && dwarf_lineno(l, &lineno) == 0 && lineno > 0) {
                                snprintf(ret->file, sizeof(ret->file), "%s", src);
                                ret->line = (unsigned)lineno;
                                return true;
                        }
                }
                off = next;
        }
        return false;
}

int elf_symbols_lookup(struct elf_symbols *es, uint64_t addr, struct elf_location *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (!es)
                return -ENOENT;
        bool in_any;
        section_of(es, addr, &in_any, &ret->in_code);
        Dwarf_Addr a = addr + es->bias;
        const struct func *f = func_at(es, a);
        if (f) {
                snprintf(ret->function, sizeof(ret->function), "%s", f->name);
                ret->offset = a - f->addr;
        }
        if (ret->in_code || !in_any) {
                Dwfl_Line *line = dwfl_module_getsrc(es->mod, a);
                int lineno = 0;
                const char *src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
                if (src && lineno > 0) {
                        snprintf(ret->file, sizeof(ret->file), "%s", src);
                        ret->line = (unsigned)lineno;
                } else if (es->has_lines) {
                        cu_line(es, a, ret);
                }
        }
        return in_any || ret->function[0] || ret->line ? 0 : -ENOENT;
}
