/* Cross-host job dispatch and farm-wide events (PostgreSQL only; on SQLite nothing starts):
 * a thread that waits on LISTEN corral_jobs / corral_events (with a poll every
 * FARM_DISPATCH_POLL_MS as the fallback for notifications lost while the database was away),
 * claims the jobs other hosts posted for this host's boards and queues them on their workers,
 * delivers cancels asked on other hosts, writes the events this host originates (job.*, board.*,
 * reservation.*) to the store and relays the other hosts' into this host's bus (/ws/v1/events). */
#ifndef CORRAL_FARM_DISPATCH_H
#define CORRAL_FARM_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>

struct registry;
struct store;
struct events;
struct farm_dispatch;

#define FARM_DISPATCH_POLL_MS 1000
/* Events waiting to be written while the store is away: the oldest are dropped beyond this. */
#define FARM_DISPATCH_OUTBOX_MAX 4096

/* Start on a PostgreSQL store (url: the store's URL, for the LISTEN connection); *ret NULL and 0
 * on SQLite. reg, st and ev are borrowed and must outlive the dispatcher. 0 or negative errno
 * (logged). */
int farm_dispatch_start(struct registry *reg, struct store *st, struct events *ev, const char *url,
                        struct farm_dispatch **ret);
/* Publish on this host's bus an event the farm's event log already has (store_farm_job_post
 * wrote it): not written to farm_events again. Steals data. */
void farm_dispatch_publish_here(struct events *ev, const char *type, json_t *data);
/* True on the thread that is publishing another host's event, during that publish: bus
 * subscribers that act on this host's own changes (auto-identify) skip it. */
bool farm_dispatch_relaying(void);
/* Stop the thread (pending events are written first when the store answers). NULL-safe. */
struct farm_dispatch *farm_dispatch_stop(struct farm_dispatch *fd);

#endif
