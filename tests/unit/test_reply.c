/* api/reply.c's table of corral error codes against api/openapi.yaml: every code the document
 * lists is in the table with the status the document gives it, and every code in the table is
 * documented. "Listed" is a text scan of the YAML: in the description of a 4xx/5xx response (or
 * of a components/responses entry used under one), a backticked code right after "(" or after
 * another such code ("(`invalid_field`, `unknown_field`)"); anywhere, a status followed by a
 * backticked code ("409 `board_reserved`", "429 (`too_many_viewers`)"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "reply.h"

#define MAX_DOC 512

struct doc {
        char name[64];
        unsigned status;
        int line;
};

static struct doc docs[MAX_DOC];
static size_t ndocs;

/* api/openapi.yaml from the repo root (make check's directory), else found from the binary
 * (build/san/tests/test_reply). */
static char *read_openapi(void)
{
        char path[PATH_MAX] = "api/openapi.yaml";
        FILE *f = fopen(path, "r");
        if (!f) {
                ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
                if (n > 0) {
                        path[n] = '\0';
                        for (int up = 0; up < 4; up++) {
                                char *s = strrchr(path, '/');
                                if (s)
                                        *s = '\0';
                        }
                        strncat(path, "/api/openapi.yaml", sizeof(path) - strlen(path) - 1);
                        f = fopen(path, "r");
                }
        }
        if (!f)
                return NULL;
        size_t cap = 1 << 20, len = 0;
        char *buf = malloc(cap + 1);
        if (buf)
                len = fread(buf, 1, cap, f);
        fclose(f);
        if (!buf || len == cap) {
                free(buf);
                return NULL;
        }
        buf[len] = '\0';
        return buf;
}

static void add_doc(const char *name, size_t n, unsigned status, int line)
{
        if (ndocs == MAX_DOC || n >= sizeof(docs[0].name))
                return;
        memcpy(docs[ndocs].name, name, n);
        docs[ndocs].name[n] = '\0';
        docs[ndocs].status = status;
        docs[ndocs].line = line;
        ndocs++;
}

/* A backticked code at p ("`name`"): its length, 0 when p is not one. */
static size_t code_at(const char *p)
{
        if (*p != '`' || !islower((unsigned char)p[1]))
                return 0;
        size_t n = 1;
        while (islower((unsigned char)p[n]) || isdigit((unsigned char)p[n]) || p[n] == '_')
                n++;
        return p[n] == '`' ? n - 1 : 0;
}

/* The code at q and those chained after it with ", " ("`a`, `b`, `c`"), all with status. */
static void add_chain(const char *q, unsigned status, int line)
{
        size_t n;
        while ((n = code_at(q)) > 0) {
                add_doc(q + 1, n, status, line);
                q += n + 2;
                if (strncmp(q, ", `", 3))
                        break;
                q += 2;
        }
}

/* Codes in parentheses of one response description (text, status). */
static void scan_response(const char *text, unsigned status, int line)
{
        for (const char *p = strstr(text, "(`"); p; p = strstr(p + 1, "(`"))
                add_chain(p + 1, status, line);
}

/* "NNN `code`" or "NNN (`code`" anywhere (prose spans lines: whitespace includes newlines). */
static void scan_prose(const char *all)
{
        int line = 1;
        for (const char *p = all; *p; p++) {
                if (*p == '\n')
                        line++;
                if ((p[0] != '4' && p[0] != '5') || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
                    (p > all && isalnum((unsigned char)p[-1])) || isalnum((unsigned char)p[3]))
                        continue;
                unsigned status = (unsigned)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
                const char *q = p + 3;
                while (*q == ' ' || *q == '\n')
                        q++;
                if (*q == '(')
                        q++;
                size_t n = code_at(q);
                if (n)
                        add_doc(q + 1, n, status, line);
        }
}

static int indent_of(const char *l)
{
        int i = 0;
        while (l[i] == ' ')
                i++;
        return i;
}

/* The status a components/responses entry is used under ("400": { $ref: ".../BadRequest" }). */
static unsigned component_status(const char *all, const char *name)
{
        char ref[96];
        snprintf(ref, sizeof(ref), "#/components/responses/%s\"", name);
        const char *r = strstr(all, ref);
        if (!r)
                return 0;
        const char *l = r;
        while (l > all && l[-1] != '\n')
                l--;
        l += indent_of(l);
        return l[0] == '"' && isdigit((unsigned char)l[1]) ? (unsigned)atoi(l + 1) : 0;
}

/* Walk the lines: a `"4xx":` / `"5xx":` key, or an entry under components/responses, opens a
 * block that lasts while lines are indented deeper; each block's text is scanned. */
static void scan_openapi(char *all)
{
        scan_prose(all);
        char *copy = strdup(all);
        assert_non_null(copy);
        bool in_components = false, in_responses = false;
        char block[8192];
        size_t blen = 0;
        unsigned bstatus = 0;
        int bindent = -1, bline = 0, line = 0;
        for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                line++;
                int ind = indent_of(l);
                const char *t = l + ind;
                if (!*t)
                        continue;
                if (bindent >= 0 && ind <= bindent) {
                        block[blen] = '\0';
                        scan_response(block, bstatus, bline);
                        bindent = -1;
                }
                if (ind == 0)
                        in_components = !strncmp(t, "components:", 11);
                if (in_components && ind == 2)
                        in_responses = !strncmp(t, "responses:", 10);
                unsigned status = 0;
                if (t[0] == '"' && (t[1] == '4' || t[1] == '5') && isdigit((unsigned char)t[2]) &&
                    isdigit((unsigned char)t[3]) && t[4] == '"' && t[5] == ':')
                        status = (unsigned)atoi(t + 1);
                else if (in_responses && ind == 4 && isupper((unsigned char)t[0])) {
                        char name[64];
                        size_t n = strcspn(t, ":");
                        snprintf(name, sizeof(name), "%.*s", (int)n, t);
                        status = component_status(all, name);
                }
                if (status && bindent < 0) {
                        bstatus = status;
                        bindent = ind;
                        bline = line;
                        blen = 0;
                }
                if (bindent >= 0) {
                        size_t n = strlen(t);
                        if (blen + n + 2 < sizeof(block)) {
                                memcpy(block + blen, t, n);
                                blen += n;
                                block[blen++] = ' ';
                        }
                }
        }
        if (bindent >= 0) {
                block[blen] = '\0';
                scan_response(block, bstatus, bline);
        }
        free(copy);
}

static int setup(void **state)
{
        (void)state;
        char *all = read_openapi();
        if (!all) {
                print_error("cannot read api/openapi.yaml\n");
                return -1;
        }
        ndocs = 0;
        scan_openapi(all);
        free(all);
        return 0;
}

/* The table itself: every code named, names unique, an error status. */
static void the_table_names_every_code_once_with_an_error_status(void **state)
{
        (void)state;
        for (int i = 1; i < CORRAL_E_COUNT; i++) {
                const char *name = reply_code_name((enum corral_err)i);
                unsigned st = reply_code_status((enum corral_err)i);
                assert_true(st >= 400 && st <= 599);
                assert_int_equal(reply_code_find(name), i);
        }
        assert_string_equal(reply_code_name(CORRAL_OK), "internal");
        assert_int_equal(reply_code_status(CORRAL_OK), 500);
        assert_int_equal(reply_code_status(CORRAL_E_COUNT), 500);
        assert_int_equal(reply_code_find("no_such_code"), CORRAL_OK);
        assert_string_equal(reply_code_name(CORRAL_E_BOARD_NOT_FOUND), "board_not_found");
        assert_int_equal(reply_code_status(CORRAL_E_BOARD_NOT_FOUND), 404);
        assert_int_equal(reply_code_status(CORRAL_E_STORE_ERROR), 500);
        assert_int_equal(reply_code_find("storage_error"), CORRAL_OK); /* one name for one failure */
}

/* The scan finds what it should (so the two checks below cannot pass on an empty list). */
static void the_scan_reads_codes_from_responses_and_prose(void **state)
{
        (void)state;
        bool resp = false, prose = false, component = false;
        for (size_t i = 0; i < ndocs; i++) {
                resp |= !strcmp(docs[i].name, "lease_mismatch") && docs[i].status == 403;
                prose |= !strcmp(docs[i].name, "too_many_viewers") && docs[i].status == 429;
                component |= !strcmp(docs[i].name, "unknown_field") && docs[i].status == 400;
        }
        assert_true(resp);
        assert_true(prose);
        assert_true(component);
        assert_true(ndocs > 60);
}

static void every_documented_code_is_in_the_table_with_its_status(void **state)
{
        (void)state;
        int bad = 0;
        for (size_t i = 0; i < ndocs; i++) {
                enum corral_err c = reply_code_find(docs[i].name);
                if (c == CORRAL_OK) {
                        print_error("api/openapi.yaml:%d documents `%s` (%u); api/reply.c's table has no such code\n",
                                    docs[i].line, docs[i].name, docs[i].status);
                        bad++;
                } else if (reply_code_status(c) != docs[i].status) {
                        print_error("api/openapi.yaml:%d documents `%s` as %u; api/reply.c answers it with %u\n",
                                    docs[i].line, docs[i].name, docs[i].status, reply_code_status(c));
                        bad++;
                }
        }
        assert_int_equal(bad, 0);
}

static void every_code_in_the_table_is_documented(void **state)
{
        (void)state;
        int bad = 0;
        for (int c = 1; c < CORRAL_E_COUNT; c++) {
                const char *name = reply_code_name((enum corral_err)c);
                bool found = false;
                for (size_t i = 0; i < ndocs && !found; i++)
                        found = !strcmp(docs[i].name, name);
                if (!found) {
                        print_error("`%s` (%u) is in api/reply.c's table but api/openapi.yaml does not list it\n", name,
                                    reply_code_status((enum corral_err)c));
                        bad++;
                }
        }
        assert_int_equal(bad, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(the_table_names_every_code_once_with_an_error_status),
                cmocka_unit_test(the_scan_reads_codes_from_responses_and_prose),
                cmocka_unit_test(every_documented_code_is_in_the_table_with_its_status),
                cmocka_unit_test(every_code_in_the_table_is_documented),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
