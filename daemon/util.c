/* Time helpers: ISO-8601 UTC stamps, the monotonic millisecond clock, monotonic timed waits. */
#include "util.h"

#include <stdio.h>
#include <time.h>

int64_t util_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_iso_from_ms(int64_t ms, char *buf, size_t size)
{
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        if (!gmtime_r(&sec, &tm)) {
                snprintf(buf, size, "1970-01-01T00:00:00.000Z");
                return;
        }
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

void util_now_iso(char *buf, size_t size)
{
        util_iso_from_ms(util_wall_ms(), buf, size);
}

uint64_t util_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t util_mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int util_cond_init_mono(pthread_cond_t *cv)
{
        pthread_condattr_t a;
        int r = pthread_condattr_init(&a);
        if (r)
                return -r;
        r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        if (!r)
                r = pthread_cond_init(cv, &a);
        pthread_condattr_destroy(&a);
        return -r;
}

struct timespec util_deadline_ts(int64_t ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ms < 0)
                ms = 0;
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}
