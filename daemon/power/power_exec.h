/* Run a program (no shell) with a time limit and capture what it prints (stdout + stderr). */
#ifndef CORRAL_POWER_EXEC_H
#define CORRAL_POWER_EXEC_H

#include <stddef.h>

/* argv[0] is looked up in PATH when it has no '/'. out gets the output (NUL-terminated, cut to
 * out_size - 1). Returns the exit status (>= 0), -ETIMEDOUT (killed), or negative errno when it
 * could not be started (-ENOENT: no such program). */
int power_exec(char *const argv[], int timeout_ms, char *out, size_t out_size);

#endif
