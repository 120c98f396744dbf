/* USB serial discovery: a thread that owns every libudev object, enumerates tty devices at
 * start, then follows hotplug through the udev monitor, and posts plain structs to a callback.
 *
 * Threads and ownership:
 *   - udev_watch_start() spawns the thread and returns once the monitor is set up (or failed).
 *   - The callback runs ON THE UDEV THREAD, one event at a time, in order. The info pointer is
 *     borrowed for the duration of the call: copy what you keep. The callback must not block for
 *     long (hotplug latency) and must not call udev_watch_stop() (it would join itself).
 *   - Event sequence: one "add" per present port, then one "ready" (initial scan complete: the
 *     registry may now mark persisted boards absent), then "add"/"remove" as boards come and go.
 *     A "remove" carries the same identity (and all other fields) as its "add".
 *     After a monitor overflow the thread rescans and posts the differences as add/remove.
 *   - udev_watch_stop() may be called from any one thread (not the callback); it wakes the
 *     thread, joins it, and frees everything. No callback runs after it returns. */
#ifndef CORRAL_UDEV_WATCH_H
#define CORRAL_UDEV_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "udev/udev_info.h"

struct udev_watch;

typedef void (*udev_watch_fn)(const struct udev_port_info *info, void *user);

struct udev_watch_options {
        /* NULL-terminated lists of "VID:PID" patterns ("1a86:7523", "239a:*"); borrowed, only
         * read during udev_watch_start(). allow NULL or empty = every USB tty; deny wins. */
        const char *const *allow;
        const char *const *deny;
        /* Also report ttys without a USB parent (ttyS*, ttyAMA*). Virtual ttys never. */
        bool include_non_usb;
};

/* Start watching. opts may be NULL (defaults). On success *ret owns the watcher (free with
 * udev_watch_stop()). On failure returns negative errno (-EINVAL: bad pattern; -ENOMEM; libudev
 * errors) and writes a human message into msg (if msg_size > 0). */
int udev_watch_start(const struct udev_watch_options *opts, udev_watch_fn fn, void *user,
                     struct udev_watch **ret, char *msg, size_t msg_size);

/* Wait until the start-up enumeration has been delivered: every "add" callback for the ports
 * present at start and the "ready" callback have returned. Call before announcing readiness, so
 * the first API request lists present boards online. Returns 0, -ETIMEDOUT after timeout_ms, or
 * -EINVAL for NULL. Thread-safe; never from the callback (it would wait for itself). */
int udev_watch_wait_ready(struct udev_watch *w, int timeout_ms);

/* False when no udev daemon runs (containers, CI): libudev then creates a monitor that never
 * receives anything, so only the start-up enumeration is seen and hotplug goes unnoticed.
 * The caller should log this once at notice level. Thread-safe. */
bool udev_watch_monitor_live(const struct udev_watch *w);

/* Stop the thread and free everything; NULL-safe; returns NULL. */
struct udev_watch *udev_watch_stop(struct udev_watch *w);

#endif
