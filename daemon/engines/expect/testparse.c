/* Test result parsers (Unity, ztest, plain PASS/FAIL lines) over serial output, one line at a
 * time: each finished test becomes a case with file:line, outcome and message. */
#include "engines/expect/testparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define LINE_MAX_BYTES 2048

struct testparse {
        unsigned formats;
        struct testparse_case *cases;
        size_t n, cap;
        char *running;              /* announced test not finished yet */
        const char *running_format;
        char *suite;                /* ztest suite */
        char *assert_file, *assert_msg; /* ztest: the last assertion of the running test */
        unsigned assert_line;
        bool crashed;
        bool have_summary;
        unsigned sum_tests, sum_failures, sum_ignored;
};

int testparse_new(unsigned formats, struct testparse **ret)
{
        if (!ret || !(formats & TESTPARSE_ALL))
                return -EINVAL;
        struct testparse *tp = calloc(1, sizeof(*tp));
        if (!tp)
                return -ENOMEM;
        tp->formats = formats & TESTPARSE_ALL;
        *ret = tp;
        return 0;
}

static void clear_assert(struct testparse *tp)
{
        free(tp->assert_file);
        free(tp->assert_msg);
        tp->assert_file = tp->assert_msg = NULL;
        tp->assert_line = 0;
}

static void case_clear(struct testparse_case *c)
{
        free(c->name);
        free(c->suite);
        free(c->file);
        free(c->message);
        free(c->details);
}

struct testparse *testparse_free(struct testparse *tp)
{
        if (!tp)
                return NULL;
        for (size_t i = 0; i < tp->n; i++)
                case_clear(&tp->cases[i]);
        free(tp->cases);
        free(tp->running);
        free(tp->suite);
        clear_assert(tp);
        free(tp);
        return NULL;
}

/* A copy of s[0..len) with surrounding blanks trimmed, at most TESTPARSE_TEXT_MAX bytes; NULL for
 * an empty string (or no memory). */
static char *dup_trim(const char *s, size_t len)
{
        while (len && isspace((unsigned char)*s))
                s++, len--;
        while (len && isspace((unsigned char)s[len - 1]))
                len--;
        if (!len)
                return NULL;
        if (len > TESTPARSE_TEXT_MAX)
                len = TESTPARSE_TEXT_MAX;
        return strndup(s, len);
}

static struct testparse_case *add_case(struct testparse *tp, const char *format)
{
        if (tp->n >= TESTPARSE_MAX_CASES)
                return NULL;
        if (tp->n == tp->cap) {
                size_t cap = tp->cap ? tp->cap * 2 : 16;
                struct testparse_case *c = realloc(tp->cases, cap * sizeof(*c));
                if (!c)
                        return NULL;
                tp->cases = c;
                tp->cap = cap;
        }
        struct testparse_case *c = &tp->cases[tp->n++];
        memset(c, 0, sizeof(*c));
        c->time_s = -1;
        c->format = format;
        return c;
}

/* A test finished: record it; the running test, if it is this one, is no longer running. */
static struct testparse_case *finish(struct testparse *tp, const char *format, const char *name, size_t name_len,
                                     enum testparse_status st)
{
        struct testparse_case *c = add_case(tp, format);
        if (!c)
                return NULL;
        c->name = dup_trim(name, name_len);
        c->status = st;
        if (tp->suite)
                c->suite = strdup(tp->suite);
        if (tp->running && c->name && !strcmp(tp->running, c->name)) {
                free(tp->running);
                tp->running = NULL;
        }
        return c;
}

static void set_running(struct testparse *tp, const char *format, const char *name, size_t len)
{
        free(tp->running);
        tp->running = dup_trim(name, len);
        tp->running_format = format;
        clear_assert(tp);
}

static bool starts(const char *s, size_t len, const char *prefix)
{
        size_t n = strlen(prefix);
        return len >= n && !memcmp(s, prefix, n);
}

/* Find needle in s[0..len); returns its offset or -1. */
static long find(const char *s, size_t len, const char *needle, size_t from)
{
        size_t n = strlen(needle);
        for (size_t i = from; n <= len && i + n <= len; i++)
                if (!memcmp(s + i, needle, n))
                        return (long)i;
        return -1;
}

/* ---- Unity ---- */

static bool unity_summary(struct testparse *tp, const char *s, size_t len)
{
        unsigned t, f, ig;
        char buf[128];
        if (len >= sizeof(buf))
                return false;
        memcpy(buf, s, len);
        buf[len] = '\0';
        int used = 0;
        if (sscanf(buf, "%u Tests %u Failures %u Ignored%n", &t, &f, &ig, &used) == 3 && used > 0) {
                tp->have_summary = true;
                tp->sum_tests = t, tp->sum_failures = f, tp->sum_ignored = ig;
                return true;
        }
        return false;
}

/* FILE:LINE:NAME:STATUS[: message | (N ms)] with STATUS PASS, FAIL or IGNORE. */
static bool unity_result(struct testparse *tp, const char *s, size_t len)
{
        static const struct { const char *tok; enum testparse_status st; } toks[] = {
                { ":PASS", TESTPARSE_PASS }, { ":FAIL", TESTPARSE_FAIL }, { ":IGNORE", TESTPARSE_SKIP },
        };
        long c1 = find(s, len, ":", 0);
        if (c1 <= 0)
                return false;
        size_t i = (size_t)c1 + 1, d0 = i;
        unsigned line = 0;
        while (i < len && isdigit((unsigned char)s[i]) && i - d0 < 9)
                line = line * 10 + (unsigned)(s[i++] - '0');
        if (i == d0 || i >= len || s[i] != ':')
                return false;
        size_t name0 = i + 1;
        /* The status token: the first one after the name that ends the line or is followed by ':'
         * or " (" (UNITY_INCLUDE_EXEC_TIME). */
        for (size_t k = name0 + 1; k < len; k++) {
                for (size_t t = 0; t < sizeof(toks) / sizeof(toks[0]); t++) {
                        size_t tl = strlen(toks[t].tok);
                        if (k + tl > len || memcmp(s + k, toks[t].tok, tl))
                                continue;
                        size_t after = k + tl;
                        if (after != len && s[after] != ':' && s[after] != ' ')
                                continue;
                        struct testparse_case *c = finish(tp, "unity", s + name0, k - name0, toks[t].st);
                        if (!c)
                                return true;
                        c->file = dup_trim(s, (size_t)c1);
                        c->line = line;
                        if (after < len && s[after] == ':')
                                c->message = dup_trim(s + after + 1, len - after - 1);
                        else if (after + 2 < len && s[after + 1] == '(') {
                                unsigned ms = 0;
                                char tail[32];
                                size_t tn = len - after - 1 < sizeof(tail) - 1 ? len - after - 1 : sizeof(tail) - 1;
                                memcpy(tail, s + after + 1, tn);
                                tail[tn] = '\0';
                                if (sscanf(tail, "(%u ms)", &ms) == 1)
                                        c->time_s = ms / 1000.0;
                        }
                        return true;
                }
        }
        return false;
}

static bool unity_line(struct testparse *tp, const char *s, size_t len)
{
        /* ESP-IDF's runner announces each test: "Running <name>..." */
        if (starts(s, len, "Running ") && len > 11 && !memcmp(s + len - 3, "...", 3)) {
                set_running(tp, "unity", s + 8, len - 11);
                return true;
        }
        return unity_summary(tp, s, len) || unity_result(tp, s, len);
}

/* ---- Zephyr ztest ---- */

/* "NAME in 0.001 seconds" -> NAME and the time. */
static void ztest_name(const char *s, size_t len, size_t *name_len, double *time_s)
{
        long in = find(s, len, " in ", 0);
        *name_len = len;
        *time_s = -1;
        if (in > 0 && len >= 8 && !memcmp(s + len - 8, " seconds", 8)) {
                char num[32];
                size_t n = len - 8 - ((size_t)in + 4);
                if (n < sizeof(num)) {
                        memcpy(num, s + in + 4, n);
                        num[n] = '\0';
                        char *end;
                        double v = strtod(num, &end);
                        if (end != num && !*end && v >= 0)
                                *time_s = v;
                }
                *name_len = (size_t)in;
        }
        /* "[suite.]name": newer ztest prints the bare name */
}

static bool ztest_line(struct testparse *tp, const char *s, size_t len)
{
        while (len && (*s == ' ' || *s == '\t'))
                s++, len--;
        static const struct { const char *p; enum testparse_status st; } res[] = {
                { "PASS - ", TESTPARSE_PASS }, { "FAIL - ", TESTPARSE_FAIL }, { "SKIP - ", TESTPARSE_SKIP },
        };
        if (starts(s, len, "START - ")) {
                set_running(tp, "ztest", s + 8, len - 8);
                return true;
        }
        if (starts(s, len, "starting test - ")) {
                set_running(tp, "ztest", s + 16, len - 16);
                return true;
        }
        if (starts(s, len, "Running TESTSUITE ") || starts(s, len, "Running test suite ")) {
                size_t o = s[8] == 'T' ? 18 : 19;
                free(tp->suite);
                tp->suite = dup_trim(s + o, len - o);
                return true;
        }
        if (starts(s, len, "Assertion failed at ")) {
                /* Assertion failed at FILE:LINE: FUNC: MESSAGE */
                const char *p = s + 20;
                size_t n = len - 20;
                for (size_t i = 0; i < n; i++) {
                        if (p[i] != ':' || i + 1 >= n || !isdigit((unsigned char)p[i + 1]))
                                continue;
                        size_t j = i + 1;
                        unsigned line = 0;
                        while (j < n && isdigit((unsigned char)p[j]) && j - i < 10)
                                line = line * 10 + (unsigned)(p[j++] - '0');
                        if (j >= n || p[j] != ':')
                                continue;
                        clear_assert(tp);
                        tp->assert_file = dup_trim(p, i);
                        tp->assert_line = line;
                        const char *m = p + j + 1;
                        size_t mn = n - j - 1;
                        long colon = find(m, mn, ": ", 0);
                        tp->assert_msg = colon > 0 ? dup_trim(m + colon + 2, mn - (size_t)colon - 2) : dup_trim(m, mn);
                        return true;
                }
                return false;
        }
        for (size_t r = 0; r < sizeof(res) / sizeof(res[0]); r++) {
                if (!starts(s, len, res[r].p))
                        continue;
                size_t nl;
                double t;
                ztest_name(s + 7, len - 7, &nl, &t);
                struct testparse_case *c = finish(tp, "ztest", s + 7, nl, res[r].st);
                if (c) {
                        c->time_s = t;
                        if (res[r].st == TESTPARSE_FAIL && (tp->assert_file || tp->assert_msg)) {
                                c->file = tp->assert_file;
                                c->line = tp->assert_line;
                                c->message = tp->assert_msg;
                                tp->assert_file = tp->assert_msg = NULL;
                        }
                }
                clear_assert(tp);
                return true;
        }
        return false;
}

/* ---- plain PASS: / FAIL: / SKIP: ---- */

static bool plain_line(struct testparse *tp, const char *s, size_t len)
{
        static const struct { const char *p; enum testparse_status st; } res[] = {
                { "PASS: ", TESTPARSE_PASS }, { "FAIL: ", TESTPARSE_FAIL }, { "SKIP: ", TESTPARSE_SKIP },
        };
        for (size_t r = 0; r < sizeof(res) / sizeof(res[0]); r++) {
                if (!starts(s, len, res[r].p))
                        continue;
                const char *n = s + 6;
                size_t nl = len - 6;
                long colon = find(n, nl, ": ", 0);
                struct testparse_case *c = finish(tp, "plain", n, colon > 0 ? (size_t)colon : nl, res[r].st);
                if (c && c->name && colon > 0)
                        c->message = dup_trim(n + colon + 2, nl - (size_t)colon - 2);
                if (c && !c->name) {
                        /* "PASS: " alone names nothing: not a test line after all */
                        case_clear(c); /* its suite (and anything else) was already copied */
                        tp->n--;
                        return false;
                }
                return true;
        }
        return false;
}

void testparse_line(struct testparse *tp, const char *line, size_t len)
{
        if (!tp || !line || tp->crashed)
                return;
        if (len && line[len - 1] == '\r')
                len--;
        if (len > LINE_MAX_BYTES)
                len = LINE_MAX_BYTES;
        if ((tp->formats & TESTPARSE_ZTEST) && ztest_line(tp, line, len))
                return;
        if ((tp->formats & TESTPARSE_PLAIN) && plain_line(tp, line, len))
                return;
        if (tp->formats & TESTPARSE_UNITY)
                unity_line(tp, line, len);
}

void testparse_crash(struct testparse *tp, const char *reason, const char *details)
{
        if (!tp || tp->crashed)
                return;
        tp->crashed = true;
        const char *name = tp->running ? tp->running : "crash";
        struct testparse_case *c = finish(tp, tp->running ? tp->running_format : "crash", name, strlen(name),
                                          TESTPARSE_ERROR);
        if (!c)
                return;
        if (tp->assert_file) {
                c->file = tp->assert_file;
                c->line = tp->assert_line;
                tp->assert_file = NULL;
        }
        c->message = reason ? dup_trim(reason, strlen(reason)) : strdup("the firmware crashed");
        if (details) {
                size_t n = strlen(details);
                c->details = strndup(details, n > 8 * TESTPARSE_TEXT_MAX ? 8 * TESTPARSE_TEXT_MAX : n);
        }
        free(tp->running);
        tp->running = NULL;
}

size_t testparse_count(const struct testparse *tp)
{
        return tp ? tp->n : 0;
}

const struct testparse_case *testparse_case(const struct testparse *tp, size_t i)
{
        return tp && i < tp->n ? &tp->cases[i] : NULL;
}

const char *testparse_running(const struct testparse *tp)
{
        return tp ? tp->running : NULL;
}

void testparse_totals(const struct testparse *tp, size_t *passed, size_t *failed, size_t *skipped, size_t *errors)
{
        size_t c[4] = { 0 };
        for (size_t i = 0; tp && i < tp->n; i++)
                c[tp->cases[i].status]++;
        if (passed)
                *passed = c[TESTPARSE_PASS];
        if (failed)
                *failed = c[TESTPARSE_FAIL];
        if (skipped)
                *skipped = c[TESTPARSE_SKIP];
        if (errors)
                *errors = c[TESTPARSE_ERROR];
}

bool testparse_summary(const struct testparse *tp, unsigned *tests, unsigned *failures, unsigned *ignored)
{
        if (!tp || !tp->have_summary)
                return false;
        if (tests)
                *tests = tp->sum_tests;
        if (failures)
                *failures = tp->sum_failures;
        if (ignored)
                *ignored = tp->sum_ignored;
        return true;
}

const char *testparse_status_name(enum testparse_status s)
{
        switch (s) {
        case TESTPARSE_PASS: return "passed";
        case TESTPARSE_FAIL: return "failed";
        case TESTPARSE_SKIP: return "skipped";
        case TESTPARSE_ERROR: return "error";
        }
        return "?";
}

/* A JSON string of s, serial noise repaired by the one rule of utf8.h. NULL for NULL. */
static json_t *jstr(const char *s)
{
        return s ? utf8_json_string(s, strlen(s)) : NULL;
}

json_t *testparse_json(const struct testparse *tp)
{
        json_t *a = json_array();
        for (size_t i = 0; tp && a && i < tp->n; i++) {
                const struct testparse_case *c = &tp->cases[i];
                json_t *o = json_pack("{s:s, s:s}", "status", testparse_status_name(c->status), "format", c->format);
                if (!o)
                        continue;
                json_object_set_new(o, "name", c->name ? jstr(c->name) : json_string("?"));
                if (c->suite)
                        json_object_set_new(o, "suite", jstr(c->suite));
                if (c->file)
                        json_object_set_new(o, "file", jstr(c->file));
                if (c->line)
                        json_object_set_new(o, "line", json_integer(c->line));
                if (c->message)
                        json_object_set_new(o, "message", jstr(c->message));
                if (c->details)
                        json_object_set_new(o, "details", jstr(c->details));
                if (c->time_s >= 0)
                        json_object_set_new(o, "time_s", json_real(c->time_s));
                json_array_append_new(a, o);
        }
        return a;
}
