/* Fuzz the test result parsers and the expect engine on serial output: the first byte picks the
 * formats and where a crash is reported; every case must be well-formed (a name, bounded text,
 * a valid status), and the expect engine must reach the same outcome, captures and parsed tests
 * whether the bytes come all at once or one by one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/expect/expect.h"
#include "engines/expect/testparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_line(void *user, const char *line, size_t len, uint64_t ms)
{
        testparse_line(user, line, len);
}

/* Run the engine over data in chunks of n (0: all at once); returns the result + tests JSON. */
static char *run(const uint8_t *data, size_t size, size_t n, unsigned formats)
{
        static const char params[] = "{\"steps\": [{\"expect\": \"Running \"}, {\"expect_re\": "
                                     "\"(?<tests>\\\\d+) Tests (?<failures>\\\\d+) Failures\"}, {\"wait_ms\": 5}, "
                                     "{\"expect\": \"OK\"}], \"fail_on\": [\"FATAL\"]}";
        json_t *p = json_loads(params, 0, NULL);
        struct expect *x = NULL;
        struct testparse *tp = NULL;
        char msg[256];
        if (!p || expect_new(p, &x, msg, sizeof(msg)) < 0 || testparse_new(formats, &tp) < 0)
                abort();
        json_decref(p);
        expect_set_line_cb(x, on_line, tp);
        expect_start(x, 0);
        if (!n)
                n = size ? size : 1;
        struct expect_action a;
        for (size_t i = 0; i < size; i += n) {
                expect_feed(x, data + i, size - i < n ? size - i : n, 1);
                expect_next(x, 1, &a); /* no time passes: the wait step never ends */
        }
        expect_abort(x, 2);
        if (expect_outcome(x) == EXPECT_RUNNING)
                abort();
        json_t *r = expect_result_json(x), *t = testparse_json(tp);
        if (!r || !t)
                abort();
        json_object_set_new(r, "tests", t);
        char *s = json_dumps(r, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(r);
        expect_free(x);
        testparse_free(tp);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > 8192)
                return 0;
        unsigned formats = (data[0] & 7) ? (data[0] & 7) : TESTPARSE_ALL;
        size_t crash_at = (size_t)(data[0] >> 3) * size / 32;
        data++, size--;

        struct testparse *tp = NULL;
        if (testparse_new(formats, &tp) < 0)
                abort();
        size_t start = 0, lines = 0;
        for (size_t i = 0; i <= size; i++) {
                if (i == size || data[i] == '\n') {
                        testparse_line(tp, (const char *)data + start, i - start);
                        start = i + 1;
                        if (++lines == crash_at)
                                testparse_crash(tp, "crash", "details");
                }
        }
        if (testparse_count(tp) > TESTPARSE_MAX_CASES)
                abort();
        for (size_t i = 0; i < testparse_count(tp); i++) {
                const struct testparse_case *c = testparse_case(tp, i);
                if (!c || !c->format || c->status > TESTPARSE_ERROR)
                        abort();
                if ((c->name && strlen(c->name) > TESTPARSE_TEXT_MAX) ||
                    (c->message && strlen(c->message) > TESTPARSE_TEXT_MAX) ||
                    (c->file && strlen(c->file) > TESTPARSE_TEXT_MAX))
                        abort();
        }
        json_t *j = testparse_json(tp);
        if (!j || json_array_size(j) != testparse_count(tp))
                abort();
        json_decref(j);
        testparse_free(tp);

        char *whole = run(data, size, 0, formats), *bytes = run(data, size, 1, formats);
        if (!whole || !bytes || strcmp(whole, bytes))
                abort();
        free(whole);
        free(bytes);
        return 0;
}
