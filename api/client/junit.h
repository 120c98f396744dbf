/* JUnit XML test reports (the format CI systems read): one testsuite of testcases with their
 * outcome, failure/error type and message, and captured output. Pure: writes to a FILE. Used by
 * the corral CLI (`corral test`); lives here so unit tests link it from libcorral. */
#ifndef CORRAL_JUNIT_H
#define CORRAL_JUNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum junit_outcome {
        JUNIT_PASSED,
        JUNIT_FAILED,   /* the test ran and failed (an assertion or an exception): <failure> */
        JUNIT_ERROR,    /* the test could not run to a verdict (timeout, board gone): <error> */
        JUNIT_SKIPPED,
};

/* One test case; every string is borrowed and may be NULL (then left out). */
struct junit_case {
        const char *name;
        const char *classname;
        double time_s;
        enum junit_outcome outcome;
        const char *type;       /* failure/error type, e.g. "AssertionError" */
        const char *message;    /* one line */
        const char *details;    /* body of <failure>/<error>, e.g. the traceback */
        const char *system_out;
        const char *system_err;
};

/* Counts of a list of cases. */
struct junit_totals {
        size_t tests, failures, errors, skipped;
        double time_s;
};
void junit_count(const struct junit_case *cases, size_t n, struct junit_totals *ret);

/* Write <testsuites><testsuite name=suite ...>cases</testsuite></testsuites> with an XML
 * declaration. timestamp: ISO-8601 or NULL. Returns 0 or -EIO when the stream failed. */
int junit_write(FILE *f, const char *suite, const char *timestamp, const struct junit_case *cases, size_t n);

/* Several testsuites in one <testsuites> (e.g. one per board of a multi-board test). */
struct junit_suite {
        const char *name, *timestamp;
        const struct junit_case *cases;
        size_t n;
};
int junit_write_suites(FILE *f, const struct junit_suite *suites, size_t nsuites);

/* Write s escaped for XML: & < > " ' as entities, CR as &#13; (parsers would drop it), other
 * control characters and invalid UTF-8 as U+FFFD (XML 1.0 cannot carry them). In an attribute
 * value tab and LF become character references too (parsers would turn them into spaces); in
 * text they stay as they are. NULL writes nothing. */
void junit_escape(FILE *f, const char *s, bool attribute);

#endif
