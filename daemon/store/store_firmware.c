/* Firmware rows and known-good pins in the store: insert-once by content id, list with filters,
 * delete guarded by queued/running jobs and pins, one pin per board family. */
#include "store/store_firmware.h"

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/store_reserve.h"

#define FW_COLS "id, size, kind, chip, family, meta, name, filename, notes, labels, created_at, title, version, release_notes, mp_version"

int store_firmware_dir(struct store *s, char *buf, size_t size)
{
        if (!s || !s->path)
                return -EINVAL;
        const char *slash = strrchr(s->path, '/');
        size_t n = slash ? (size_t)(slash - s->path) : 1;
        int w = snprintf(buf, size, "%.*s/firmware", (int)n, slash ? s->path : ".");
        return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

/* The row as JSON, without known_good_for (added by the caller under the same lock). */
static json_t *row_json(struct db_stmt *st)
{
        json_t *meta = store_col_json(st, 5);
        json_t *r = json_is_object(meta) ? json_deep_copy(meta) : json_object();
        json_decref(meta);
        if (!r)
                return NULL;
        json_object_set_new(r, "id", store_col_string(st, 0));
        json_object_set_new(r, "size", store_col_int(st, 1));
        json_object_set_new(r, "kind", store_col_string(st, 2));
        json_object_set_new(r, "chip", store_col_string(st, 3));
        json_object_set_new(r, "family", store_col_string(st, 4));
        json_object_set_new(r, "name", store_col_string(st, 6));
        json_object_set_new(r, "filename", store_col_string(st, 7));
        json_object_set_new(r, "notes", store_col_string(st, 8));
        json_object_set_new(r, "labels", store_col_json(st, 9));
        json_object_set_new(r, "created_at", store_col_string(st, 10));
        /* The catalogue: a stated version, else the one MicroPython's banner in the image says. */
        json_object_set_new(r, "title", store_col_string(st, 11));
        json_t *ver = store_col_string(st, 12);
        if (!json_string_length(ver)) {
                json_decref(ver);
                ver = store_col_string(st, 14);
        }
        json_object_set_new(r, "version", ver);
        json_object_set_new(r, "release_notes", store_col_string(st, 13));
        return r;
}

static int add_pins_locked(struct store *s, json_t *row)
{
        struct db_stmt *st;
        const char *id = json_string_value(json_object_get(row, "id"));
        int r = store_prepare(s, &st, "SELECT family FROM firmware_known_good WHERE firmware_id = ?1 ORDER BY family",
                              "s", id);
        if (r < 0)
                return r;
        json_t *a = json_array();
        while ((r = store_step(st)) == 1)
                json_array_append_new(a, store_col_string(st, 0));
        db_finalize(st);
        json_object_set_new(row, "known_good_for", a);
        return r;
}

int store_firmware_put(struct store *s, const char *id, int64_t size, const json_t *meta, const char *name,
                       const char *filename, const char *notes, const json_t *labels, bool *ret_created)
{
        if (!s || !id || !name || !*name || !json_is_object(meta) || (labels && !json_is_array(labels)))
                return -EINVAL;
        const char *kind = json_string_value(json_object_get(meta, "kind"));
        const char *chip = json_string_value(json_object_get(meta, "chip"));
        const char *family = json_string_value(json_object_get(meta, "family"));
        const char *ver = json_string_value(json_object_get(json_object_get(meta, "micropython"), "version"));
        json_t *empty = labels ? NULL : json_array();
        char now[STORE_TIME_SIZE];
        store_now(now);
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run(s,
                              "INSERT INTO firmware (id, size, kind, chip, family, mp_version, meta, name, filename,"
                              " notes, labels, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                              " ON CONFLICT (id) DO NOTHING",
                              "sIssssJsssJs", id, size, kind ? kind : "raw", chip, family, ver, meta, name,
                              filename ? filename : "", notes ? notes : "", labels ? labels : empty, now);
        r = store_write_unlock(s, r);
        json_decref(empty);
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = r > 0;
        return 0;
}

int store_firmware_set_catalogue(struct store *s, const char *id, const char *title, const char *family,
                                 const char *version, const char *release_notes)
{
        if (!s || !id)
                return -EINVAL;
        if (version && version[0] == 'v')
                version++;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run(s,
                              "UPDATE firmware SET title = coalesce(?2, title), family = coalesce(?3, family),"
                              " version = coalesce(?4, version), release_notes = coalesce(?5, release_notes)"
                              " WHERE id = ?1",
                              "sssss", id, title, family, version, release_notes);
        r = store_write_unlock(s, r);
        if (r == 0)
                return -ENOENT;
        return r < 0 ? r : 0;
}

int store_firmware_set_info(struct store *s, const char *id, const char *name, const char *notes,
                            const json_t *labels)
{
        if (!s || !id || (name && !*name) || (labels && !json_is_array(labels)))
                return -EINVAL;
        int r = store_write_lock(s);
        if (r >= 0)
                r = store_run(s,
                              "UPDATE firmware SET name = coalesce(?2, name), notes = coalesce(?3, notes),"
                              " labels = coalesce(?4, labels) WHERE id = ?1",
                              "sssJ", id, name, notes, labels);
        r = store_write_unlock(s, r);
        if (r == 0)
                return -ENOENT;
        return r < 0 ? r : 0;
}

static int get_locked(struct store *s, const char *id, json_t **ret)
{
        json_t *row;
        int r = store_query_one(s, row_json, &row, "SELECT " FW_COLS " FROM firmware WHERE id = ?1", "s", id);
        if (r < 0)
                return r;
        if ((r = add_pins_locked(s, row)) < 0) {
                json_decref(row);
                return r;
        }
        *ret = row;
        return 0;
}

int store_firmware_get(struct store *s, const char *id, json_t **ret)
{
        if (!s || !id || !ret)
                return -EINVAL;
        int r = store_read_lock(s);
        if (r >= 0)
                r = get_locked(s, id, ret);
        store_read_unlock(s);
        return r;
}

int store_firmware_list(struct store *s, const char *chip, const char *family, const char *version,
                        json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        if (version && version[0] == 'v')
                version++;
        json_t *a = json_array();
        if (!a)
                return -ENOMEM;
        int r = store_read_lock(s);
        if (r >= 0)
                r = store_query_all(s, row_json, a,
                                    "SELECT " FW_COLS " FROM firmware WHERE (?1 IS NULL OR chip = ?1)"
                                    " AND (?2 IS NULL OR family = ?2) AND (?3 IS NULL OR mp_version = ?3)"
                                    " ORDER BY created_at DESC, id",
                                    "sss", chip, family, version);
        size_t i;
        json_t *row;
        json_array_foreach(a, i, row) {
                if (r < 0)
                        break;
                r = add_pins_locked(s, row);
        }
        store_read_unlock(s);
        if (r < 0) {
                json_decref(a);
                return r;
        }
        *ret = a;
        return 0;
}

static int job_using_locked(struct store *s, const char *id, int64_t *ret_job)
{
        int64_t job = 0;
        int r = store_run_int(s, &job,
                              store_is_pg(s) ? "SELECT id FROM jobs WHERE state IN ('queued','running')"
                                               " AND strpos(params, ?1) > 0 ORDER BY id LIMIT 1"
                                             : "SELECT id FROM jobs WHERE state IN ('queued','running')"
                                               " AND instr(params, ?1) > 0 ORDER BY id LIMIT 1",
                              "s", id);
        if (r == 1 && ret_job)
                *ret_job = job;
        return r;
}

int store_firmware_job_using(struct store *s, const char *id, int64_t *ret_job)
{
        if (!s || !id)
                return -EINVAL;
        store_lock(s);
        int r = job_using_locked(s, id, ret_job);
        store_unlock(s);
        return r;
}

static int firmware_delete_once(struct store *s, const char *id, int64_t *ret_job, char *pinned_family,
                                size_t pinned_size, const char *file)
{
        if (!s || !id)
                return -EINVAL;
        int r = store_write_lock(s);
        if (r >= 0) {
                r = job_using_locked(s, id, ret_job);
                if (r == 1)
                        r = -EBUSY;
        }
        if (r >= 0) {
                struct db_stmt *st;
                r = store_prepare(s, &st, "SELECT family FROM firmware_known_good WHERE firmware_id = ?1 LIMIT 1",
                                  "s", id);
                if (r >= 0) {
                        r = store_step(st);
                        if (r == 1) {
                                if (pinned_family && pinned_size)
                                        snprintf(pinned_family, pinned_size, "%s",
                                                 db_col_text(st, 0));
                                r = -EADDRINUSE;
                        }
                        db_finalize(st);
                }
        }
        if (r >= 0) {
                int64_t n = 0;
                r = store_run_int(s, &n, "SELECT count(*) FROM firmware WHERE id = ?1", "s", id);
                if (r >= 0 && n == 0)
                        r = -ENOENT;
        }
        if (r >= 0 && file)
                (void)unlink(file); /* first: its space lets the row's delete be written */
        if (r >= 0) {
                r = store_run(s, "DELETE FROM firmware WHERE id = ?1", "s", id);
                if (r == 0)
                        r = -ENOENT;
        }
        r = store_write_unlock(s, r);
        return r < 0 ? r : 0;
}

int store_firmware_delete(struct store *s, const char *id, int64_t *ret_job, char *pinned_family,
                          size_t pinned_size, const char *file)
{
        int r = firmware_delete_once(s, id, ret_job, pinned_family, pinned_size, file);
        if (r == -ENOSPC && store_reserve_release(s) == 0) /* the file was too small to make room */
                r = firmware_delete_once(s, id, ret_job, pinned_family, pinned_size, file);
        if (r == 0)
                (void)store_reserve_make(s);
        return r;
}

int store_firmware_total(struct store *s, uint64_t *ret)
{
        if (!s || !ret)
                return -EINVAL;
        int64_t n = 0;
        int r = store_read_lock(s);
        if (r >= 0)
                r = store_run_int(s, &n, "SELECT COALESCE(SUM(size), 0) FROM firmware", "");
        store_read_unlock(s);
        *ret = r < 0 || n < 0 ? 0 : (uint64_t)n;
        return r < 0 ? r : 0;
}

int store_firmware_pin(struct store *s, const char *family, const char *id, const char *by)
{
        if (!s || !family || !*family || !id || !by)
                return -EINVAL;
        char now[STORE_TIME_SIZE];
        store_now(now);
        int r = store_write(s,
                            "INSERT INTO firmware_known_good (family, firmware_id, pinned_at, pinned_by)"
                            " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (family) DO UPDATE SET"
                            " firmware_id = ?2, pinned_at = ?3, pinned_by = ?4",
                            "ssss", family, id, now, by);
        return r < 0 ? r : 0;
}

static json_t *pin_json(struct db_stmt *st)
{
        json_t *p = json_object();
        if (!p)
                return NULL;
        json_object_set_new(p, "family", store_col_string(st, 0));
        json_object_set_new(p, "firmware_id", store_col_string(st, 1));
        json_object_set_new(p, "pinned_at", store_col_string(st, 2));
        json_object_set_new(p, "pinned_by", store_col_string(st, 3));
        return p;
}

int store_firmware_pin_get(struct store *s, const char *family, json_t **ret)
{
        if (!s || !family || !ret)
                return -EINVAL;
        return store_get(s, pin_json, ret,
                         "SELECT family, firmware_id, pinned_at, pinned_by FROM firmware_known_good WHERE family = ?1",
                         "s", family);
}

int store_firmware_pin_list(struct store *s, json_t **ret)
{
        if (!s || !ret)
                return -EINVAL;
        return store_list(s, pin_json, ret,
                          "SELECT family, firmware_id, pinned_at, pinned_by FROM firmware_known_good ORDER BY family",
                          "");
}

int store_firmware_unpin(struct store *s, const char *family)
{
        if (!s || !family)
                return -EINVAL;
        int r = store_write_row(s, "DELETE FROM firmware_known_good WHERE family = ?1", "s", family);
        if (r == -ENOSPC && store_reserve_release(s) == 0) /* a repair on a full disk: use the reserve */
                r = store_write_row(s, "DELETE FROM firmware_known_good WHERE family = ?1", "s", family);
        if (r == 0)
                (void)store_reserve_make(s);
        return r;
}
