/* JUnit XML writer: counts, escaping (entities, control characters, invalid UTF-8) and the
 * testsuites/testsuite/testcase layout that Jenkins, GitLab and GitHub test reporters read. */
#include "junit.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"

void junit_count(const struct junit_case *cases, size_t n, struct junit_totals *ret)
{
        struct junit_totals t = { 0 };
        for (size_t i = 0; i < n; i++) {
                t.tests++;
                t.time_s += cases[i].time_s;
                if (cases[i].outcome == JUNIT_FAILED)
                        t.failures++;
                else if (cases[i].outcome == JUNIT_ERROR)
                        t.errors++;
                else if (cases[i].outcome == JUNIT_SKIPPED)
                        t.skipped++;
        }
        *ret = t;
}

/* Length of the UTF-8 character at s (n bytes left) that XML 1.0 allows, or 0: the one UTF-8 rule
 * of utf8.h, less U+FFFE and U+FFFF, which XML forbids. */
static size_t xml_char_len(const unsigned char *s, size_t n)
{
        size_t len = utf8_seq_len(s, n);
        if (len == 3 && s[0] == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
                return 0;
        return len;
}

void junit_escape(FILE *f, const char *s, bool attribute)
{
        if (!s)
                return;
        const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
        while (*p) {
                unsigned char c = *p;
                switch (c) {
                case '&': fputs("&amp;", f); p++; continue;
                case '<': fputs("&lt;", f); p++; continue;
                case '>': fputs("&gt;", f); p++; continue;
                case '"': fputs("&quot;", f); p++; continue;
                case '\'': fputs("&apos;", f); p++; continue;
                case '\t': fputs(attribute ? "&#9;" : "\t", f); p++; continue;
                case '\n': fputs(attribute ? "&#10;" : "\n", f); p++; continue;
                case '\r': fputs("&#13;", f); p++; continue;
                default: break;
                }
                size_t n = c < 0x20 || c == 0x7F ? 0 : xml_char_len(p, (size_t)(end - p));
                if (!n) {
                        fputs(UTF8_REPLACEMENT, f);
                        p++;
                        continue;
                }
                fwrite(p, 1, n, f);
                p += n;
        }
}

static void attr(FILE *f, const char *name, const char *value)
{
        if (!value)
                return;
        fprintf(f, " %s=\"", name);
        junit_escape(f, value, true);
        fputc('"', f);
}

static void element(FILE *f, const char *indent, const char *tag, const char *text)
{
        if (!text || !*text)
                return;
        fprintf(f, "%s<%s>", indent, tag);
        junit_escape(f, text, false);
        fprintf(f, "</%s>\n", tag);
}

static void write_suite(FILE *f, const char *suite, const char *timestamp, const struct junit_case *cases, size_t n);

int junit_write(FILE *f, const char *suite, const char *timestamp, const struct junit_case *cases, size_t n)
{
        struct junit_suite s = { suite, timestamp, cases, n };
        return junit_write_suites(f, &s, 1);
}

int junit_write_suites(FILE *f, const struct junit_suite *suites, size_t nsuites)
{
        struct junit_totals t = { 0 };
        for (size_t i = 0; i < nsuites; i++) {
                struct junit_totals one;
                junit_count(suites[i].cases, suites[i].n, &one);
                t.tests += one.tests, t.failures += one.failures, t.errors += one.errors;
                t.skipped += one.skipped, t.time_s += one.time_s;
        }
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
        fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
                t.tests, t.failures, t.errors, t.skipped, t.time_s);
        for (size_t i = 0; i < nsuites; i++)
                write_suite(f, suites[i].name, suites[i].timestamp, suites[i].cases, suites[i].n);
        fputs("</testsuites>\n", f);
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

static void write_suite(FILE *f, const char *suite, const char *timestamp, const struct junit_case *cases, size_t n)
{
        struct junit_totals t;
        junit_count(cases, n, &t);
        fputs("  <testsuite", f);
        attr(f, "name", suite ? suite : "corral");
        fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\"", t.tests,
                t.failures, t.errors, t.skipped, t.time_s);
        attr(f, "timestamp", timestamp);
        fputs(">\n", f);
        for (size_t i = 0; i < n; i++) {
                const struct junit_case *c = &cases[i];
                fputs("    <testcase", f);
                attr(f, "name", c->name ? c->name : "");
                attr(f, "classname", c->classname);
                fprintf(f, " time=\"%.3f\">\n", c->time_s);
                if (c->outcome == JUNIT_FAILED || c->outcome == JUNIT_ERROR) {
                        const char *tag = c->outcome == JUNIT_FAILED ? "failure" : "error";
                        fprintf(f, "      <%s", tag);
                        attr(f, "type", c->type);
                        attr(f, "message", c->message);
                        if (c->details && *c->details) {
                                fputc('>', f);
                                junit_escape(f, c->details, false);
                                fprintf(f, "</%s>\n", tag);
                        } else {
                                fputs("/>\n", f);
                        }
                } else if (c->outcome == JUNIT_SKIPPED) {
                        fputs("      <skipped", f);
                        attr(f, "message", c->message);
                        fputs("/>\n", f);
                }
                element(f, "      ", "system-out", c->system_out);
                element(f, "      ", "system-err", c->system_err);
                fputs("    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
}
