/* Small helpers shared by the daemon: time stamps and monotonic clocks. */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-25T08:40:57.123Z" (UTC) into buf (at least 25 bytes). */
void util_now_iso(char *buf, size_t size);
uint64_t util_mono_ms(void);

#endif
