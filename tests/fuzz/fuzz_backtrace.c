/* Fuzz the crash address scanner on serial output split at LF. Properties: never more than
 * BACKTRACE_MAX_ADDRS addresses (BACKTRACE_MAX_STACK stack words), none zero, each one's hex digits
 * (lowercase, no leading zeros) written in the input's line it came from or earlier, crash numbers
 * in order and below the crash count, and the same input fed again (with CR LF line ends) gives the
 * same addresses. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/expect/backtrace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct backtrace *scan(const uint8_t *data, size_t size, bool crlf)
{
        struct backtrace *bt;
        if (backtrace_new(&bt) < 0)
                abort();
        char *line = malloc(size + 2);
        if (!line)
                abort();
        for (size_t i = 0; i <= size;) {
                const uint8_t *nl = memchr(data + i, '\n', size - i);
                size_t n = nl ? (size_t)(nl - data - i) : size - i;
                memcpy(line, data + i, n);
                if (crlf && (!n || line[n - 1] != '\r'))
                        line[n++] = '\r';
                backtrace_line(bt, line, n);
                i += (nl ? (size_t)(nl - data - i) : size - i) + 1;
        }
        free(line);
        return bt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 16384)
                return 0;
        struct backtrace *bt = scan(data, size, false), *again = scan(data, size, true);
        size_t n = backtrace_count(bt), stack = 0;
        if (n > BACKTRACE_MAX_ADDRS || n != backtrace_count(again) || backtrace_crashes(bt) != backtrace_crashes(again))
                abort();
        char *lower = malloc(size + 1);
        if (!lower)
                abort();
        for (size_t i = 0; i < size; i++)
                lower[i] = data[i] ? (char)tolower(data[i]) : ' ';
        lower[size] = '\0';
        unsigned last_crash = 0;
        for (size_t i = 0; i < n; i++) {
                const struct backtrace_addr *a = backtrace_get(bt, i), *b = backtrace_get(again, i);
                if (!a || !b || memcmp(a, b, sizeof(*a)) || !a->addr || a->crash >= backtrace_crashes(bt) ||
                    a->crash < last_crash)
                        abort();
                last_crash = a->crash;
                stack += a->role == BACKTRACE_STACK;
                char hx[24];
                snprintf(hx, sizeof(hx), "%llx", (unsigned long long)a->addr);
                if (!strstr(lower, hx))
                        abort();
                if (backtrace_lookup_addr(a) > a->addr)
                        abort();
        }
        if (stack > BACKTRACE_MAX_STACK || backtrace_get(bt, n))
                abort();
        free(lower);
        backtrace_free(bt);
        backtrace_free(again);
        return 0;
}
