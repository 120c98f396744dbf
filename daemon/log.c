/* stderr logger: one line per call, "<N>" prefix for journald, no buffering surprises. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

/* Set by the main thread (start-up, SIGHUP), read by every thread: an atomic, relaxed (a level
 * is one independent value; no other data is published through it). */
static atomic_int max_level = LOG_INFO;

void log_set_max_level(int level)
{
        atomic_store_explicit(&max_level, level, memory_order_relaxed);
}

int log_max_level(void)
{
        return atomic_load_explicit(&max_level, memory_order_relaxed);
}

void log_msg(int level, const char *fmt, ...)
{
        if (level > log_max_level())
                return;
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "<%d>%s\n", level, line);
}
