/* Logging to stderr with sd-daemon "<N>" priority prefixes; journald does the rest.
 * Library-style code (engines, store) does not log: it returns errors and messages. */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include <syslog.h>

/* LOG_DEBUG .. LOG_ERR; default LOG_INFO. Any thread may log while another sets the level. */
void log_set_max_level(int level);
int log_max_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
