/* The health-check scheduler: a thread that queues a health_check job on each idle, unleased,
 * not quarantined board every health_check_interval seconds, and soon after
 * health_check_after_infra_failures infrastructure failures in a row (policy knobs). */
#ifndef CORRAL_HEALTH_SCHED_H
#define CORRAL_HEALTH_SCHED_H

struct registry;
struct store;
struct health_sched;

/* Start the thread (it reads the running policy each tick, so reloads apply). reg and st are
 * borrowed and must outlive the scheduler. 0 or negative errno. */
int health_sched_start(struct registry *reg, struct store *st, struct health_sched **ret);
/* Stop and join; NULL-safe; returns NULL. */
struct health_sched *health_sched_stop(struct health_sched *hs);

#endif
