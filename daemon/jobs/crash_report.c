/* Crash report for the expect job: lines in (backtrace scanner + ROM reset lines through
 * bootlog_classify), then at the end the ELF opened (library file or hostfile_open, confined as
 * at submit) and each address decoded with elf_symbols; stack-dump words are kept only when they
 * fall into a function. */
#include "jobs/crash_report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/esp/bootlog.h"
#include "engines/expect/backtrace.h"
#include "firmware/elf_symbols.h"
#include "firmware/firmware.h"
#include "firmware/hostfile.h"

#define ELF_FILE_MAX (1024ull * 1024 * 1024) /* app ELFs with debug info are large; 1 GiB is plenty */
#define STACK_FRAMES_MAX 12                  /* decoded stack words kept */

/* A ROM reset line, named. */
struct reset_seen {
        char line[BOOTLOG_LINE_MAX];
        char text[256];
        int cause;
        char reason[40];
        const char *kind;
};

struct crash_report {
        struct backtrace *bt;
        bool expect_reset;
        unsigned resets;
        struct reset_seen boot;       /* the boot the job's own reset caused */
        struct reset_seen unexpected; /* the first reset after it */
        char reset_text[300];         /* "the board reset during the test: ..." (after finish) */
        char where[600];
        char *text;
        bool finished;
};

int crash_report_check(const json_t *params, char *msg, size_t size)
{
        json_t *id = json_object_get(params, "elf"), *path = json_object_get(params, "elf_path");
        if (id && path) {
                snprintf(msg, size, "Give either 'elf' (a library id) or 'elf_path', not both");
                return -EINVAL;
        }
        if (id && (!json_is_string(id) || !firmware_id_valid(json_string_value(id)))) {
                snprintf(msg, size, "'elf' must be the firmware id (64 hex digits, POST /api/v1/firmware) of the app's "
                         "ELF file, to decode crash addresses");
                return -EINVAL;
        }
        if (path && (!json_is_string(path) || json_string_value(path)[0] != '/')) {
                snprintf(msg, size, "'elf_path' must be an absolute path on corrald's host (admins only, inside "
                         "firmware_dirs); or upload the ELF and give 'elf' (its library id)");
                return -EINVAL;
        }
        return 0;
}

int crash_report_check_store(const json_t *params, struct store *store, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "elf"));
        char path[640];
        if (id && firmware_path(store, id, path, sizeof(path)) < 0) {
                snprintf(msg, size, "unknown firmware id %s for 'elf': upload the app's ELF first (POST /api/v1/firmware)", id);
                return -EBADMSG;
        }
        return 0;
}

int crash_report_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size)
{
        const char *path = json_string_value(json_object_get(params, "elf_path"));
        if (!path)
                return 0;
        if (!caller || !caller->host_files) {
                snprintf(msg, size, "elf_path: reading files on corrald's host is not allowed for token '%s'; upload the "
                         "ELF (POST /api/v1/firmware) and give 'elf' (its id)", caller ? caller->name : "?");
                return -EACCES;
        }
        int fd;
        uint64_t len;
        int e = hostfile_open(caller->firmware_dirs, "elf_path", path, ELF_FILE_MAX, &fd, &len, msg, size);
        if (e == -EACCES)
                return e;
        if (e < 0)
                return -EBADMSG;
        close(fd);
        return 0;
}

int crash_report_new(bool expect_reset, struct crash_report **ret)
{
        struct crash_report *cr = calloc(1, sizeof(*cr));
        if (!cr || backtrace_new(&cr->bt) < 0) {
                free(cr);
                return -ENOMEM;
        }
        cr->expect_reset = expect_reset;
        *ret = cr;
        return 0;
}

struct crash_report *crash_report_free(struct crash_report *cr)
{
        if (cr) {
                backtrace_free(cr->bt);
                free(cr->text);
                free(cr);
        }
        return NULL;
}

/* Classify a ROM reset line into rs (text: "watchdog (rst cause 4)"). false when it names no cause. */
static bool reset_parse(const char *line, size_t len, struct reset_seen *rs)
{
        char buf[BOOTLOG_LINE_MAX];
        size_t n = len < sizeof(buf) - 2 ? len : sizeof(buf) - 2;
        memcpy(buf, line, n);
        buf[n++] = '\n';
        enum bootlog_chip chip = memmem(line, len, "rst:0x", 6) ? BOOTLOG_ESP32 : BOOTLOG_ESP8266;
        struct bootlog_capture cap = { (const uint8_t *)buf, n, bootlog_rom_baud(chip) };
        struct bootlog_result r;
        bootlog_classify(chip, &cap, NULL, &r);
        if (r.reset_cause < 0)
                return false;
        snprintf(rs->line, sizeof(rs->line), "%.*s", (int)(n - 1), buf);
        if (r.reset_reason[0])
                snprintf(rs->text, sizeof(rs->text), "%s (rst:0x%x %s)", bootlog_reset_kind(&r),
                         (unsigned)r.reset_cause, r.reset_reason);
        else
                snprintf(rs->text, sizeof(rs->text), "%s (rst cause %d)", bootlog_reset_kind(&r), r.reset_cause);
        rs->cause = r.reset_cause;
        snprintf(rs->reason, sizeof(rs->reason), "%s", r.reset_reason);
        rs->kind = bootlog_reset_kind(&r);
        return true;
}

void crash_report_line(struct crash_report *cr, const char *line, size_t len)
{
        if (!cr)
                return;
        backtrace_line(cr->bt, line, len);
        /* A ROM reset line: the first after the job's own reset is the boot it asked for. */
        if (!memmem(line, len, "rst cause:", 10) && !memmem(line, len, "rst:0x", 6))
                return;
        if (cr->resets++ == 0 && cr->expect_reset) {
                reset_parse(line, len, &cr->boot);
                return;
        }
        if (!cr->unexpected.text[0]) /* the first unexpected one is the story */
                reset_parse(line, len, &cr->unexpected);
}

/* Open the job's ELF: the library file, or the host path (confined again: the config or the file
 * system may have changed since the submit). 0 + *ret, or a negative errno with msg. */
static int open_elf(struct job_run *jr, const json_t *params, struct elf_symbols **ret, char *name, size_t name_size,
                    char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "elf"));
        const char *path = json_string_value(json_object_get(params, "elf_path"));
        int fd = -1, e;
        if (id) {
                char lib[640];
                if (firmware_path(jr_store(jr), id, lib, sizeof(lib)) < 0) {
                        snprintf(msg, size, "the ELF %s is not (or no longer) in the firmware library", id);
                        return -ENOMEDIUM;
                }
                if ((fd = open(lib, O_RDONLY | O_CLOEXEC)) < 0) {
                        e = -errno;
                        snprintf(msg, size, "the ELF %.12s cannot be read: %s", id, strerror(-e));
                        return e;
                }
                snprintf(name, name_size, "%s", id);
        } else {
                uint64_t len;
                e = hostfile_open(json_object_get(jr_board_hints(jr), "firmware_dirs"), "elf_path", path, ELF_FILE_MAX,
                                  &fd, &len, msg, size);
                if (e < 0)
                        return e;
                snprintf(name, name_size, "%s", path);
        }
        e = elf_symbols_open(fd, name, ret, msg, size);
        close(fd);
        return e;
}

static void hexaddr(char *buf, size_t size, uint64_t a)
{
        snprintf(buf, size, "0x%08llx", (unsigned long long)a);
}

/* One frame: {addr, role, format, crash, function, offset, file, line}; NULL for a stack word
 * that is not in a function (a data word). Text line appended to f. */
static json_t *frame_json(const struct backtrace_addr *a, struct elf_symbols *es, FILE *f, char *where, size_t wsize,
                          bool *where_pc)
{
        char hx[24];
        hexaddr(hx, sizeof(hx), a->addr);
        json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "addr", hx, "role", backtrace_role_name(a->role), "format",
                              backtrace_format_name(a->format), "crash", (int)a->crash);
        if (!es) {
                if (a->role == BACKTRACE_STACK) {
                        json_decref(o);
                        return NULL;
                }
                fprintf(f, "%s (%s)\n", hx, backtrace_role_name(a->role));
                return o;
        }
        struct elf_location loc;
        int e = elf_symbols_lookup(es, backtrace_lookup_addr(a), &loc);
        if (a->role == BACKTRACE_STACK && (e < 0 || !loc.in_code || !loc.function[0])) {
                json_decref(o);
                return NULL;
        }
        if (e == 0 && loc.function[0]) {
                json_object_set_new(o, "function", json_string(loc.function));
                json_object_set_new(o, "offset", json_integer((json_int_t)loc.offset));
        }
        if (e == 0 && loc.line) {
                json_object_set_new(o, "file", json_string(loc.file));
                json_object_set_new(o, "line", json_integer(loc.line));
        }
        fprintf(f, "%s: %s", hx, loc.function[0] ? loc.function : "??");
        if (loc.line)
                fprintf(f, " at %s:%u", loc.file, loc.line);
        fprintf(f, " (%s)\n", backtrace_role_name(a->role));
        /* where it crashed: the first crash's PC (a return address only while no PC decoded) */
        if (!*where_pc && a->crash == 0 && loc.function[0] && a->role != BACKTRACE_STACK &&
            (!where[0] || a->role == BACKTRACE_PC)) {
                *where_pc = a->role == BACKTRACE_PC;
                if (loc.line)
                        snprintf(where, wsize, "at %s (%s:%u)", loc.function, loc.file, loc.line);
                else
                        snprintf(where, wsize, "at %s", loc.function);
        }
        return o;
}

/* {line, cause, reason, kind, text}; text: the given one, or the named reset. */
static json_t *reset_json(const struct reset_seen *rs, const char *text)
{
        return json_pack("{s:s, s:i, s:s?, s:s, s:s}", "line", rs->line, "cause", rs->cause, "reason",
                         rs->reason[0] ? rs->reason : NULL, "kind", rs->kind ? rs->kind : "unknown", "text",
                         text[0] ? text : rs->text);
}

void crash_report_finish(struct crash_report *cr, struct job_run *jr)
{
        if (!cr || cr->finished)
                return;
        cr->finished = true;
        if (cr->boot.text[0])
                jr_result_set(jr, "boot_reset", reset_json(&cr->boot, ""));
        if (cr->unexpected.text[0]) {
                snprintf(cr->reset_text, sizeof(cr->reset_text), "the board reset during the test: %s", cr->unexpected.text);
                jr_result_set(jr, "unexpected_reset", reset_json(&cr->unexpected, cr->reset_text));
        }
        size_t n = backtrace_count(cr->bt);
        if (!n)
                return;
        const json_t *params = jr_params(jr);
        bool want = json_object_get(params, "elf") || json_object_get(params, "elf_path");
        struct elf_symbols *es = NULL;
        char name[640] = "", msg[600] = "";
        json_t *bt = json_pack("{s:i, s:[]}", "crashes", (int)backtrace_crashes(cr->bt), "frames");
        if (want && open_elf(jr, params, &es, name, sizeof(name), msg, sizeof(msg)) == 0) {
                json_object_set_new(bt, "elf", json_string(name));
                json_object_set_new(bt, "machine", json_string(elf_symbols_machine(es)));
                if (!elf_symbols_has_lines(es))
                        json_object_set_new(bt, "note", json_string("the ELF has no DWARF line information (build with -g): "
                                                                    "functions only"));
                jr_log(jr, "Decoding %zu crash addresses with the %s ELF %.64s", n, elf_symbols_machine(es), name);
        } else {
                json_object_set_new(bt, "note", json_string(want ? msg : "give the app's ELF ('elf': its library id) to "
                                                                         "decode these addresses to functions and file:line"));
                if (want)
                        jr_log(jr, "Cannot decode the crash addresses: %s", msg);
        }
        char *text = NULL;
        size_t tl = 0;
        FILE *f = open_memstream(&text, &tl);
        size_t stack = 0;
        bool where_pc = false;
        for (size_t i = 0; f && i < n; i++) {
                const struct backtrace_addr *a = backtrace_get(cr->bt, i);
                if (a->role == BACKTRACE_STACK && stack >= STACK_FRAMES_MAX)
                        continue;
                json_t *o = frame_json(a, es, f, cr->where, sizeof(cr->where), &where_pc);
                if (o) {
                        stack += a->role == BACKTRACE_STACK;
                        json_array_append_new(json_object_get(bt, "frames"), o);
                }
        }
        if (f)
                fclose(f);
        if (text && tl && text[tl - 1] == '\n')
                text[tl - 1] = '\0';
        cr->text = text;
        elf_symbols_free(es);
        jr_result_set(jr, "backtrace", bt);
}

const char *crash_report_where(const struct crash_report *cr)
{
        return cr && cr->where[0] ? cr->where : NULL;
}

const char *crash_report_text(const struct crash_report *cr)
{
        return cr && cr->text && cr->text[0] ? cr->text : NULL;
}

const char *crash_report_reset(const struct crash_report *cr)
{
        return cr && cr->reset_text[0] ? cr->reset_text : NULL;
}

const char *crash_report_boot(const struct crash_report *cr)
{
        return cr && cr->boot.text[0] ? cr->boot.text : NULL;
}
