/* Shared fixture for the store tests (test_store.c, test_store_jobs.c): a fresh state
 * directory and open store per test, raw SQL on a second connection, small builders.
 * Header-only (static inline) so it is not linked into every unit test. */
#ifndef CORRAL_TEST_STORE_FIXTURE_H
#define CORRAL_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "store/store.h"

struct fx {
        char dir[64];
        struct store *s;
        char msg[512];
};

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb, (void)flag, (void)ftw;
        return remove(path);
}

static inline int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(store_open(f->dir, &f->s, f->msg, sizeof(f->msg)), 0);
        *state = f;
        return 0;
}

static inline int teardown(void **state)
{
        struct fx *f = *state;
        f->s = store_close(f->s);
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static inline void reopen(struct fx *f)
{
        f->s = store_close(f->s);
        assert_int_equal(store_open(f->dir, &f->s, f->msg, sizeof(f->msg)), 0);
}

static inline char *db_path(const struct fx *f, char *buf, size_t size)
{
        snprintf(buf, size, "%s/corral.db", f->dir);
        return buf;
}

/* One integer from raw SQL on a separate connection (what another process would see). */
static inline int64_t raw_int(const struct fx *f, const char *sql)
{
        char path[128];
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open_v2(db_path(f, path, sizeof(path)), &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int64_t v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static inline void raw_exec(const struct fx *f, const char *sql)
{
        char path[128];
        sqlite3 *db;
        assert_int_equal(sqlite3_open_v2(db_path(f, path, sizeof(path)), &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static inline const char *str(const json_t *o, const char *key)
{
        const char *v = json_string_value(json_object_get(o, key));
        assert_non_null(v);
        return v;
}

static inline void add_board(struct fx *f, const char *id)
{
        char identity[64];
        snprintf(identity, sizeof(identity), "usb:%s", id);
        assert_int_equal(store_board_upsert(f->s, id, identity, NULL, NULL), 0);
}

static inline int64_t add_job(struct fx *f, const char *board, const char *kind)
{
        int64_t id = 0;
        assert_int_equal(store_job_create(f->s, board, kind, NULL, 60, &id), 0);
        assert_true(id > 0);
        return id;
}

static inline void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

#endif
