/* Per-board health counters as Prometheus metric families. */
#include "health/health_metrics.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_health.h"

struct buf {
        char *p;
        size_t len, cap;
        bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
        for (;;) {
                if (b->failed)
                        return;
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->failed = true;
                        return;
                }
                if ((size_t)n < b->cap - b->len) {
                        b->len += (size_t)n;
                        return;
                }
                size_t ncap = b->cap * 2 + (size_t)n;
                char *np = realloc(b->p, ncap);
                if (!np) {
                        b->failed = true;
                        return;
                }
                b->p = np;
                b->cap = ncap;
        }
}

/* A label value with \ " and newlines escaped (ids are plain words, but be safe). */
static void label(const char *in, char *out, size_t size)
{
        size_t o = 0;
        for (; *in && o + 3 < size; in++) {
                if (*in == '\\' || *in == '"') {
                        out[o++] = '\\';
                        out[o++] = *in;
                } else if (*in == '\n') {
                        out[o++] = '\\';
                        out[o++] = 'n';
                } else {
                        out[o++] = *in;
                }
        }
        out[o] = '\0';
}

static bool is_gauge(const char *key)
{
        return !strcmp(key, "infra_failures_in_row") || !strcmp(key, "link_errors_since_check");
}

static bool key_ok(const char *k)
{
        for (const char *c = k; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                        return false;
        return *k != '\0';
}

char *health_metrics_text(struct store *st)
{
        json_t *all = NULL;
        if (store_health_counters_all(st, &all) < 0)
                return NULL;
        struct buf b = { .p = malloc(4096), .cap = 4096 };
        if (!b.p) {
                json_decref(all);
                return NULL;
        }
        b.p[0] = '\0';
        /* Every counter key any board has, each as one family over all boards. */
        json_t *keys = json_object();
        const char *board, *k;
        json_t *counters, *v;
        json_object_foreach(all, board, counters)
                json_object_foreach(counters, k, v)
                        if (key_ok(k))
                                json_object_set_new(keys, k, json_true());
        json_object_foreach(keys, k, v) {
                bool gauge = is_gauge(k);
                put(&b, "# HELP corral_board_%s%s Board health: %s (see GET /api/v1/boards/{id}/health).\n"
                        "# TYPE corral_board_%s%s %s\n", k, gauge ? "" : "_total", k, k, gauge ? "" : "_total",
                    gauge ? "gauge" : "counter");
                json_object_foreach(all, board, counters) {
                        json_t *n = json_object_get(counters, k);
                        char lb[256];
                        label(board, lb, sizeof(lb));
                        put(&b, "corral_board_%s%s{board=\"%s\"} %lld\n", k, gauge ? "" : "_total", lb,
                            n ? (long long)json_integer_value(n) : 0LL);
                }
        }
        json_decref(keys);
        put(&b, "# HELP corral_board_health Board health state (1 for the state the board is in).\n"
                "# TYPE corral_board_health gauge\n");
        json_object_foreach(all, board, counters) {
                json_t *status = NULL;
                const char *state = "good";
                if (store_health_status_get(st, board, &status) == 0)
                        state = json_string_value(json_object_get(status, "state"));
                char lb[256];
                label(board, lb, sizeof(lb));
                static const char *const states[] = { "good", "degraded", "quarantined" };
                for (size_t i = 0; i < 3; i++)
                        put(&b, "corral_board_health{board=\"%s\",state=\"%s\"} %d\n", lb, states[i],
                            state && !strcmp(state, states[i]));
                json_decref(status);
        }
        json_decref(all);
        if (b.failed) {
                free(b.p);
                return NULL;
        }
        return b.p;
}
