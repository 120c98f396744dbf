/* The farm credential: hosts of one farm (one shared store) present the config's farm_secret to
 * each other (console relays, api/ws_relay.c). Compared as SHA-256 digests in constant time;
 * never logged, never quoted in an error. */
#ifndef CORRAL_FARM_AUTH_H
#define CORRAL_FARM_AUTH_H

#include <stdbool.h>

struct config;

/* cfg has a farm_secret: this host may relay to the others and accept their relays. */
bool farm_secret_configured(const struct config *cfg);
/* presented is cfg's farm_secret. False when none is configured or presented is NULL. */
bool farm_secret_matches(const struct config *cfg, const char *presented);

#endif
