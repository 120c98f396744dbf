/* Prometheus text for the per-board health counters (with a `board` label), for /metrics. */
#ifndef CORRAL_HEALTH_METRICS_H
#define CORRAL_HEALTH_METRICS_H

struct store;

/* A new string (caller frees): one metric family per counter, corral_board_<counter>{board="..."},
 * and corral_board_health{board,state} (1 for the board's state). NULL on failure. */
char *health_metrics_text(struct store *st);

#endif
