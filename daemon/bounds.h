/* Bounds that more than one concern needs (the config checks its settings against them, the
 * console and the store enforce them), kept here so that config.c includes neither of those. */
#ifndef CORRAL_BOUNDS_H
#define CORRAL_BOUNDS_H

#define CONSOLE_MAX_VIEWERS 64       /* viewers of one board's console (config max_viewers: at most this) */
#define STORE_JOB_LOG_MAX_LINES 5000 /* log lines stored per job (config max_log_lines: the default) */

#endif
