/* Small helpers shared by the daemon: time stamps and monotonic clocks. */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-25T08:40:57.123Z" (UTC) into buf (at least 25 bytes). */
void util_now_iso(char *buf, size_t size);
/* The same for a wall-clock time in milliseconds since the epoch. */
void util_iso_from_ms(int64_t ms, char *buf, size_t size);
/* Wall clock, milliseconds since the epoch (leases, sessions, expiry times). */
int64_t util_wall_ms(void);
uint64_t util_mono_ms(void);

#endif
