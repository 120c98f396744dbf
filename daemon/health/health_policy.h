/* The fleet-health policy knobs (config keys) and the one running copy the health code reads:
 * when a board is quarantined, when health checks run, how power is switched. */
#ifndef CORRAL_HEALTH_POLICY_H
#define CORRAL_HEALTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct health_policy {
        unsigned quarantine_after_infra_failures; /* in a row; 0 = never (default 3) */
        unsigned quarantine_after_link_errors;    /* damaged transfer steps since the last passed check; 0 = never */
        bool quarantine_on_failed_check;          /* a failed health check quarantines (default on) */
        unsigned degraded_after_infra_failures;   /* in a row: "degraded" (default 1) */
        unsigned check_interval_s;                /* health check of idle, unleased boards; 0 = never */
        unsigned check_after_infra_failures;      /* in a row: check soon; 0 = never (default 2) */
        char uhubctl[256];                        /* the uhubctl program (default "uhubctl", from PATH) */
        unsigned power_off_ms;                    /* how long power stays off in a cycle (default 2000) */
        unsigned power_on_wait_ms;                /* after power is back, wait for the port (default 10000) */
};

void health_policy_defaults(struct health_policy *p);
/* A config key: 0 when it was one of ours and valid, -EINVAL with err filled when ours and bad,
 * -ENOENT when the key is not a health key. */
int health_policy_set(struct health_policy *p, const char *key, const char *value, char *err, size_t err_size);

/* The running policy: set at start-up and on each reload; read anywhere (copied under a lock). */
void health_policy_publish(const struct health_policy *p);
void health_policy_current(struct health_policy *ret);

#endif
