/* Crash address scanner: a crash block begins at a trigger line (Guru Meditation, Fatal exception,
 * abort(), a Zephyr or Cortex-M fault banner, a stray Backtrace: or >>>stack>>>), and for the next
 * BACKTRACE_BLOCK_LINES lines its format's register names, Backtrace: pairs and stack-dump words
 * are read as addresses. Duplicates within one crash and zero addresses are dropped. */
#include "engines/expect/backtrace.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 1024 /* longer lines are read on their first 1023 bytes */

enum stack_mode { STACK_NONE, STACK_ESP8266, STACK_RISCV };

struct backtrace {
        struct backtrace_addr addrs[BACKTRACE_MAX_ADDRS];
        size_t n, n_stack;
        unsigned crashes;
        bool in_block;
        enum backtrace_format format;
        unsigned lines_left;
        enum stack_mode stack;
        char line[LINE_MAX_BYTES];
};

int backtrace_new(struct backtrace **ret)
{
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : -ENOMEM;
}

struct backtrace *backtrace_free(struct backtrace *bt)
{
        free(bt);
        return NULL;
}

size_t backtrace_count(const struct backtrace *bt)
{
        return bt ? bt->n : 0;
}

const struct backtrace_addr *backtrace_get(const struct backtrace *bt, size_t i)
{
        return bt && i < bt->n ? &bt->addrs[i] : NULL;
}

unsigned backtrace_crashes(const struct backtrace *bt)
{
        return bt ? bt->crashes : 0;
}

const char *backtrace_format_name(enum backtrace_format f)
{
        switch (f) {
        case BACKTRACE_XTENSA: return "xtensa";
        case BACKTRACE_ESP8266: return "esp8266";
        case BACKTRACE_RISCV: return "riscv";
        case BACKTRACE_ZEPHYR: return "zephyr";
        case BACKTRACE_CORTEXM: return "cortex-m";
        }
        return "?";
}

const char *backtrace_role_name(enum backtrace_role r)
{
        switch (r) {
        case BACKTRACE_PC: return "pc";
        case BACKTRACE_FRAME: return "frame";
        case BACKTRACE_RETURN: return "return";
        case BACKTRACE_STACK: return "stack";
        }
        return "?";
}

uint64_t backtrace_lookup_addr(const struct backtrace_addr *a)
{
        bool arm = a->format == BACKTRACE_ZEPHYR || a->format == BACKTRACE_CORTEXM;
        uint64_t v = arm ? a->addr & ~(uint64_t)1 : a->addr;
        if ((a->role == BACKTRACE_RETURN || a->role == BACKTRACE_STACK) && v > 0)
                v--;
        return v;
}

static void add(struct backtrace *bt, uint64_t addr, enum backtrace_role role)
{
        if (!addr || bt->n >= BACKTRACE_MAX_ADDRS)
                return;
        if (role == BACKTRACE_STACK && bt->n_stack >= BACKTRACE_MAX_STACK)
                return;
        for (size_t i = 0; i < bt->n; i++)
                if (bt->addrs[i].crash == bt->crashes - 1 && bt->addrs[i].addr == addr)
                        return;
        bt->addrs[bt->n++] = (struct backtrace_addr){ addr, role, bt->format, bt->crashes - 1 };
        if (role == BACKTRACE_STACK)
                bt->n_stack++;
}

static void begin(struct backtrace *bt, enum backtrace_format f)
{
        bt->crashes++;
        bt->in_block = true;
        bt->format = f;
        bt->lines_left = BACKTRACE_BLOCK_LINES;
        bt->stack = STACK_NONE;
}

/* Hex digits at s (1..16 of them, then not an alphanumeric): the value and the end, or NULL. */
static const char *hex(const char *s, uint64_t *v)
{
        uint64_t x = 0;
        size_t n = 0;
        for (; isxdigit((unsigned char)s[n]); n++) {
                if (n == 16)
                        return NULL;
                int c = tolower((unsigned char)s[n]);
                x = x << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        if (!n || isalnum((unsigned char)s[n]) || s[n] == '_')
                return NULL;
        *v = x;
        return s + n;
}

/* "0x" + hex (or, when prefix_optional, bare hex) at s. */
static const char *hex0x(const char *s, bool prefix_optional, uint64_t *v)
{
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                return hex(s + 2, v);
        return prefix_optional ? hex(s, v) : NULL;
}

static bool word_start(const char *line, const char *p)
{
        return p == line || (!isalnum((unsigned char)p[-1]) && p[-1] != '_');
}

/* The value of register name (a whole word; nocase: any case) written "NAME : 0x1234" or
 * "NAME=0x1234" (bare hex too when bare): true + *v. */
static bool reg(const char *line, const char *name, bool nocase, bool bare, uint64_t *v)
{
        size_t n = strlen(name);
        for (const char *p = line; (p = nocase ? strcasestr(p, name) : strstr(p, name)); p++) {
                if (!word_start(line, p) || isalnum((unsigned char)p[n]) || p[n] == '_')
                        continue;
                const char *q = p + n;
                while (*q == ' ' || *q == '\t')
                        q++;
                if (*q != ':' && *q != '=')
                        continue;
                q++;
                while (*q == ' ' || *q == '\t')
                        q++;
                if (hex0x(q, bare, v))
                        return true;
        }
        return false;
}

/* "Backtrace: 0xPC:0xSP 0xPC:0xSP ... [|<-CORRUPTED]": the PCs; the first is where it crashed. */
static void backtrace_pairs(struct backtrace *bt, const char *p)
{
        bool first = true;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                uint64_t pc, sp;
                const char *q = hex0x(p, false, &pc);
                if (!q || *q != ':' || !(q = hex0x(q + 1, false, &sp)))
                        return;
                add(bt, pc, first ? BACKTRACE_PC : BACKTRACE_FRAME);
                first = false;
                p = q;
        }
}

/* A stack dump line: "3ffffe40:  3fffdad0 00000000 ..." (ESP8266) or "3fc8f2d0: 0x00000000 0x42000a3e ..."
 * (ESP32-C3). false when the line is not one (the dump ended). */
static bool stack_words(struct backtrace *bt, const char *l)
{
        uint64_t v;
        const char *p = hex(l, &v);
        if (!p || p - l != 8 || *p != ':')
                return false;
        p++;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                const char *q = hex0x(p, bt->stack == STACK_ESP8266, &v);
                if (!q)
                        return true;
                add(bt, v, BACKTRACE_STACK);
                p = q;
        }
}

/* Does this line start a crash block? Which format. */
static bool trigger(const struct backtrace *bt, const char *l, enum backtrace_format *f)
{
        bool zephyr_on = bt->in_block && bt->format == BACKTRACE_ZEPHYR;
        bool e8266_on = bt->in_block && bt->format == BACKTRACE_ESP8266;
        bool idf_on = bt->in_block && (bt->format == BACKTRACE_XTENSA || bt->format == BACKTRACE_RISCV);
        if (strstr(l, "Guru Meditation Error") || strstr(l, "abort() was called at PC")) {
                *f = BACKTRACE_XTENSA;
                return true;
        }
        if (strstr(l, "Fatal exception (") || !strncmp(l, "Exception (", 11) ||
            (!e8266_on && strstr(l, ">>>stack>>>"))) {
                *f = BACKTRACE_ESP8266;
                return true;
        }
        if (!zephyr_on && ((strstr(l, "***** ") && strstr(l, "FAULT")) || strstr(l, "ZEPHYR FATAL ERROR") ||
                           strstr(l, "Faulting instruction address"))) {
                *f = BACKTRACE_ZEPHYR;
                return true;
        }
        if (!zephyr_on && (strstr(l, "Fault Handler") || (!(bt->in_block && bt->format == BACKTRACE_CORTEXM) &&
                                                          (strcasestr(l, "hardfault") || strcasestr(l, "hard fault"))))) {
                *f = BACKTRACE_CORTEXM;
                return true;
        }
        if (!idf_on && strstr(l, "Backtrace:")) {
                *f = BACKTRACE_XTENSA;
                return true;
        }
        return false;
}

static void block_line(struct backtrace *bt, const char *l)
{
        uint64_t v;
        const char *p;
        if (bt->stack != STACK_NONE) {
                if (bt->stack == STACK_ESP8266 && strstr(l, "<<<stack<<<")) {
                        bt->stack = STACK_NONE;
                        return;
                }
                if (stack_words(bt, l) || (bt->stack == STACK_ESP8266 && (!strncmp(l, "ctx:", 4) ||
                                                                          !strncmp(l, "sp:", 3) || !*l)))
                        return;
                bt->stack = STACK_NONE;
        }
        switch (bt->format) {
        case BACKTRACE_XTENSA:
        case BACKTRACE_RISCV:
                if ((p = strstr(l, "abort() was called at PC ")) && hex0x(p + 25, false, &v))
                        add(bt, v, BACKTRACE_PC);
                if (reg(l, "MEPC", false, false, &v)) {
                        bt->format = BACKTRACE_RISCV;
                        add(bt, v, BACKTRACE_PC);
                }
                if (bt->format == BACKTRACE_RISCV && reg(l, "RA", false, false, &v))
                        add(bt, v, BACKTRACE_RETURN);
                if (bt->format == BACKTRACE_XTENSA && reg(l, "PC", false, false, &v))
                        add(bt, v, BACKTRACE_PC);
                if ((p = strstr(l, "Backtrace:")))
                        backtrace_pairs(bt, p + 10);
                if (strstr(l, "Stack memory:"))
                        bt->stack = STACK_RISCV;
                break;
        case BACKTRACE_ESP8266:
                if (reg(l, "epc1", false, false, &v))
                        add(bt, v, BACKTRACE_PC);
                if (strstr(l, ">>>stack>>>"))
                        bt->stack = STACK_ESP8266;
                break;
        case BACKTRACE_ZEPHYR:
                if ((p = strstr(l, "Faulting instruction address"))) {
                        p += 28;
                        const char *q = strpbrk(p, ":=");
                        if (q && q - p <= 12) {
                                for (q++; *q == ' ' || *q == '\t'; q++)
                                        ;
                                if (hex0x(q, false, &v))
                                        add(bt, v, BACKTRACE_PC);
                        }
                }
                if (reg(l, "r14/lr", false, false, &v) || reg(l, "ra", false, false, &v))
                        add(bt, v, BACKTRACE_RETURN);
                if (reg(l, "mepc", false, false, &v))
                        add(bt, v, BACKTRACE_PC);
                break;
        case BACKTRACE_CORTEXM:
                if (reg(l, "pc", true, true, &v))
                        add(bt, v, BACKTRACE_PC);
                if (reg(l, "lr", true, true, &v))
                        add(bt, v, BACKTRACE_RETURN);
                break;
        }
}

void backtrace_line(struct backtrace *bt, const char *line, size_t len)
{
        if (!bt || (!line && len))
                return;
        if (len && line[len - 1] == '\r')
                len--;
        if (len >= sizeof(bt->line))
                len = sizeof(bt->line) - 1;
        for (size_t i = 0; i < len; i++)
                bt->line[i] = line[i] ? line[i] : ' ';
        bt->line[len] = '\0';
        const char *l = bt->line;
        enum backtrace_format f;
        if (trigger(bt, l, &f))
                begin(bt, f);
        else if (bt->in_block && !--bt->lines_left)
                bt->in_block = false;
        if (bt->in_block)
                block_line(bt, l);
}
