/* Health policy: defaults, config parsing, and the process-wide running copy. */
#include "health/health_policy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct health_policy running;
static bool running_set;

void health_policy_defaults(struct health_policy *p)
{
        memset(p, 0, sizeof(*p));
        p->quarantine_after_infra_failures = 3;
        p->quarantine_on_failed_check = true;
        p->degraded_after_infra_failures = 1;
        p->check_after_infra_failures = 2;
        snprintf(p->uhubctl, sizeof(p->uhubctl), "uhubctl");
        p->power_off_ms = 2000;
        p->power_on_wait_ms = 10000;
}

static int parse_num(const char *v, unsigned max, unsigned *out)
{
        char *end = NULL;
        if (!v || !*v || *v == '-' || *v == '+')
                return -EINVAL;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || n > max)
                return -EINVAL;
        *out = (unsigned)n;
        return 0;
}

struct num_key {
        const char *name;
        size_t off;
        unsigned max;
        const char *what;
};

#define NK(f, m, w) { #f, offsetof(struct health_policy, f), m, w }
#define NKN(k, f, m, w) { k, offsetof(struct health_policy, f), m, w }
static const struct num_key num_keys[] = {
        NK(quarantine_after_infra_failures, 1000, "a number of failures in a row from 0 (never) to 1000"),
        NK(quarantine_after_link_errors, 1000000, "a number of link errors from 0 (never) to 1000000"),
        NK(degraded_after_infra_failures, 1000, "a number of failures in a row from 0 (never) to 1000"),
        NKN("health_check_after_infra_failures", check_after_infra_failures, 1000,
            "a number of failures in a row from 0 (never) to 1000"),
        NK(power_off_ms, 60000, "milliseconds from 0 to 60000"),
        NK(power_on_wait_ms, 120000, "milliseconds from 0 to 120000"),
};

int health_policy_set(struct health_policy *p, const char *key, const char *value, char *err, size_t err_size)
{
        for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++) {
                if (strcmp(key, num_keys[i].name))
                        continue;
                if (parse_num(value, num_keys[i].max, (unsigned *)((char *)p + num_keys[i].off)) < 0) {
                        snprintf(err, err_size, "'%s' must be %s, not '%s'", key, num_keys[i].what, value);
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "health_check_interval")) {
                if (parse_num(value, 30u * 86400u, &p->check_interval_s) < 0) {
                        snprintf(err, err_size, "'health_check_interval' must be seconds from 0 (never) to 2592000 "
                                 "(30 days; 86400 = nightly), not '%s'", value);
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "quarantine_on_failed_check")) {
                if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true"))
                        p->quarantine_on_failed_check = true;
                else if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false"))
                        p->quarantine_on_failed_check = false;
                else {
                        snprintf(err, err_size, "'quarantine_on_failed_check' must be on or off, not '%s'", value);
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "uhubctl")) {
                if (!*value || strlen(value) >= sizeof(p->uhubctl) || strchr(value, ' ')) {
                        snprintf(err, err_size, "'uhubctl' must be a program name or path without spaces, not '%s'",
                                 value);
                        return -EINVAL;
                }
                snprintf(p->uhubctl, sizeof(p->uhubctl), "%s", value);
                return 0;
        }
        return -ENOENT;
}

void health_policy_publish(const struct health_policy *p)
{
        pthread_mutex_lock(&running_mu);
        running = *p;
        running_set = true;
        pthread_mutex_unlock(&running_mu);
}

void health_policy_current(struct health_policy *ret)
{
        pthread_mutex_lock(&running_mu);
        if (running_set)
                *ret = running;
        else
                health_policy_defaults(ret);
        pthread_mutex_unlock(&running_mu);
}
