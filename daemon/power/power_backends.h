/* The power backends behind power.c's dispatch: one function each, same conventions as power_set(). */
#ifndef CORRAL_POWER_BACKENDS_H
#define CORRAL_POWER_BACKENDS_H

#include "power/power.h"

/* url: "tcp://HOST:PORT" of a vboard control channel. */
int power_vboard_set(const char *url, bool on, struct power_report *rep, char *msg, size_t msg_size);
/* loc, port: the hub port; program: the uhubctl to run. */
int power_uhubctl_set(const char *program, const char *loc, unsigned port, bool on, struct power_report *rep,
                      char *msg, size_t msg_size);
/* path: an absolute program run as `path board_id off|on`. */
int power_cmd_set(const char *path, const char *board_id, bool on, struct power_report *rep, char *msg,
                  size_t msg_size);

#endif
