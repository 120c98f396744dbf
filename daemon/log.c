/* stderr logger: one line per call, "<N>" prefix for journald, no buffering surprises. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int max_level = LOG_INFO;

void log_set_max_level(int level)
{
        max_level = level;
}

void log_msg(int level, const char *fmt, ...)
{
        if (level > max_level)
                return;
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "<%d>%s\n", level, line);
}
