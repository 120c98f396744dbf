/* Small helpers shared by the daemon: time stamps, the one monotonic clock, and condition
 * variables whose timed waits run on it (a wall-clock step must not stall a deadline). */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "2026-11-25T08:40:57.123Z" (UTC) into buf (at least 25 bytes). */
void util_now_iso(char *buf, size_t size);
/* The same for a wall-clock time in milliseconds since the epoch. */
void util_iso_from_ms(int64_t ms, char *buf, size_t size);
/* Wall clock, milliseconds since the epoch (leases, sessions, expiry times). */
int64_t util_wall_ms(void);
/* CLOCK_MONOTONIC in milliseconds: every deadline, timeout and duration uses this clock. */
uint64_t util_mono_ms(void);
/* The same clock in microseconds (sd_notify's MONOTONIC_USEC, which must not be rounded down). */
uint64_t util_mono_us(void);
/* pthread_cond_init on CLOCK_MONOTONIC: every condition variable waited with a timeout is made
 * with this, and waited with util_deadline_ts(). 0 or a negative errno. */
int util_cond_init_mono(pthread_cond_t *cv);
/* The absolute CLOCK_MONOTONIC time ms milliseconds from now (ms < 0 counts as 0), for
 * pthread_cond_timedwait on a util_cond_init_mono() condition variable. */
struct timespec util_deadline_ts(int64_t ms);

/* The value of one hexadecimal digit (either case), or -1 for any other character. */
static inline int util_hexval(int c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

#endif
