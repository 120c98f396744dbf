/* Test result parsers over serial output lines: Unity (plain and ESP-IDF's runner), Zephyr ztest
 * and a plain "PASS: name" / "FAIL: name: message" convention, into a list of test cases with
 * file:line, outcome and message. Pure: lines in, cases out; a crash reported mid-test marks the
 * running test as an error and keeps the rest of the report. */
#ifndef CORRAL_TESTPARSE_H
#define CORRAL_TESTPARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TESTPARSE_MAX_CASES 2000
#define TESTPARSE_TEXT_MAX 1024     /* names, messages and details are cut at this many bytes */

enum testparse_format {
        TESTPARSE_UNITY = 1u << 0,  /* file:line:name:PASS|FAIL[: msg]|IGNORE; "Running name..." */
        TESTPARSE_ZTEST = 1u << 1,  /* START - name, PASS|FAIL|SKIP - name [in N seconds], asserts */
        TESTPARSE_PLAIN = 1u << 2,  /* PASS: name, FAIL: name[: message], SKIP: name[: why] */
        TESTPARSE_ALL = 7u,
};

enum testparse_status { TESTPARSE_PASS, TESTPARSE_FAIL, TESTPARSE_SKIP, TESTPARSE_ERROR };

/* One test case; every string is owned by the parser (NUL-terminated, may be NULL). */
struct testparse_case {
        char *name;
        char *suite;               /* ztest suite, when announced */
        char *file;
        unsigned line;             /* 0 = unknown */
        enum testparse_status status;
        char *message;             /* one line */
        char *details;             /* several lines (a crash's evidence), or NULL */
        double time_s;             /* < 0: not reported */
        const char *format;        /* "unity", "ztest", "plain" (static) */
};

struct testparse;

/* formats: an OR of enum testparse_format. *ret owns the parser. 0 or -ENOMEM / -EINVAL. */
int testparse_new(unsigned formats, struct testparse **ret);
/* NULL-safe; returns NULL. */
struct testparse *testparse_free(struct testparse *tp);
/* Parses one line (without its line end; a trailing CR is ignored; any bytes). */
void testparse_line(struct testparse *tp, const char *line, size_t len);
/* The firmware crashed: the running test (announced, not finished) becomes an error with this
 * reason and details; with no running test an error case "crash" is added. Further lines are
 * ignored. reason/details may be NULL. */
void testparse_crash(struct testparse *tp, const char *reason, const char *details);

size_t testparse_count(const struct testparse *tp);
/* Borrowed; NULL when i is out of range. */
const struct testparse_case *testparse_case(const struct testparse *tp, size_t i);
/* The running test's name (announced and not finished; borrowed) or NULL. */
const char *testparse_running(const struct testparse *tp);
/* Counts of parsed cases by status. */
void testparse_totals(const struct testparse *tp, size_t *passed, size_t *failed, size_t *skipped, size_t *errors);
/* The Unity summary line ("5 Tests 1 Failures 0 Ignored"), when one was seen: true + counts. */
bool testparse_summary(const struct testparse *tp, unsigned *tests, unsigned *failures, unsigned *ignored);
/* [{name, suite, file, line, status: "passed"|"failed"|"skipped"|"error", message, details, time_s,
 * format}] (new reference); invalid UTF-8 becomes U+FFFD (utf8.h). */
json_t *testparse_json(const struct testparse *tp);
const char *testparse_status_name(enum testparse_status s);

#endif
