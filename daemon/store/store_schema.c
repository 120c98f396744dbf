/* Schema migrations for the store: an ordered list of SQL steps, step N bringing the schema
 * version from N-1 to N, each applied in its own transaction. SQLite keeps the version in
 * PRAGMA user_version; PostgreSQL in the table schema_version, with the same steps written in
 * its dialect (identity columns, BIGINT, byte-order text keys). Append new steps to both lists;
 * never edit a released one. */
#include "store/store_internal.h"
#include "store/store_health.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* PRAGMA application_id: "corl", marks the file as corral's. */
#define STORE_APPLICATION_ID 0x636f726c

static const char *const migrations[] = {
        /* 1: boards, facts (+ history), jobs, job log. Times are ISO-8601 UTC text,
         * JSON columns hold canonical JSON text. */
        "PRAGMA application_id = 1668248172;"
        "CREATE TABLE boards ("
        "  id          TEXT PRIMARY KEY NOT NULL,"
        "  identity    TEXT NOT NULL UNIQUE,"
        "  name        TEXT NOT NULL,"
        "  labels      TEXT NOT NULL DEFAULT '[]',"
        "  notes       TEXT NOT NULL DEFAULT '',"
        "  hints       TEXT NOT NULL DEFAULT '{}',"
        "  first_seen  TEXT NOT NULL,"
        "  last_seen   TEXT NOT NULL"
        ");"
        "CREATE TABLE facts ("
        "  board_id    TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  key         TEXT NOT NULL,"
        "  value       TEXT NOT NULL,"
        "  learned_at  TEXT NOT NULL,"
        "  job_id      INTEGER,"
        "  PRIMARY KEY (board_id, key)"
        ") WITHOUT ROWID;"
        "CREATE TABLE fact_history ("
        "  id          INTEGER PRIMARY KEY,"
        "  board_id    TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  key         TEXT NOT NULL,"
        "  value       TEXT NOT NULL,"
        "  learned_at  TEXT NOT NULL,"
        "  job_id      INTEGER"
        ");"
        "CREATE INDEX fact_history_by_board_key ON fact_history(board_id, key, id);"
        "CREATE TABLE jobs ("
        "  id            INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  board_id      TEXT REFERENCES boards(id) ON DELETE SET NULL,"
        "  kind          TEXT NOT NULL,"
        "  params        TEXT NOT NULL DEFAULT '{}',"
        "  state         TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed',"
        "                                               'cancelled','interrupted')),"
        "  progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),"
        "  phase         TEXT NOT NULL DEFAULT '',"
        "  result        TEXT,"
        "  error_code    TEXT,"
        "  error_message TEXT,"
        "  created_at    TEXT NOT NULL,"
        "  started_at    TEXT,"
        "  finished_at   TEXT,"
        "  timeout_s     INTEGER NOT NULL DEFAULT 0,"
        "  log_lines     INTEGER NOT NULL DEFAULT 0" /* lines appended, stored or not */
        ");"
        "CREATE INDEX jobs_by_board ON jobs(board_id, id);"
        "CREATE INDEX jobs_by_state ON jobs(state, id);"
        "CREATE TABLE job_log ("
        "  job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "  seq     INTEGER NOT NULL,"
        "  t       TEXT NOT NULL,"
        "  line    TEXT NOT NULL,"
        "  PRIMARY KEY (job_id, seq)"
        ") WITHOUT ROWID;",
        /* 2: transfer figures of a running job (flash): {bytes_done, bytes_total, kbit_per_s}. */
        "ALTER TABLE jobs ADD COLUMN progress_detail TEXT;",
        /* 3: the firmware library (id = SHA-256 of the file <state_dir>/firmware/<id>; meta =
         * what the bytes say, as JSON) and one known-good firmware per board family. */
        "CREATE TABLE firmware ("
        "  id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),"
        "  size        INTEGER NOT NULL,"
        "  kind        TEXT NOT NULL CHECK (kind IN ('esp-image','uf2','ihex','raw')),"
        "  chip        TEXT,"
        "  family      TEXT,"
        "  mp_version  TEXT,"
        "  meta        TEXT NOT NULL DEFAULT '{}',"
        "  name        TEXT NOT NULL,"
        "  filename    TEXT NOT NULL DEFAULT '',"
        "  notes       TEXT NOT NULL DEFAULT '',"
        "  labels      TEXT NOT NULL DEFAULT '[]',"
        "  created_at  TEXT NOT NULL"
        ");"
        "CREATE INDEX firmware_by_family ON firmware(family, created_at);"
        "CREATE TABLE firmware_known_good ("
        "  family      TEXT PRIMARY KEY NOT NULL,"
        "  firmware_id TEXT NOT NULL REFERENCES firmware(id),"
        "  pinned_at   TEXT NOT NULL,"
        "  pinned_by   TEXT NOT NULL"
        ") WITHOUT ROWID;",
        /* 4: reservations (leases): who holds which board until when. Only the SHA-256 of the
         * lease token is kept. expires_ms is Unix time in milliseconds; state moves from
         * 'active' to 'released' or 'expired' once (ended_at set then). */
        "CREATE TABLE reservations ("
        "  id            INTEGER PRIMARY KEY NOT NULL,"
        "  board_id      TEXT NOT NULL,"
        "  owner         TEXT NOT NULL,"
        "  token_sha256  TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),"
        "  match         TEXT NOT NULL DEFAULT '{}',"
        "  ttl_s         INTEGER NOT NULL,"
        "  created_at    TEXT NOT NULL,"
        "  expires_ms    INTEGER NOT NULL,"
        "  state         TEXT NOT NULL CHECK (state IN ('active','released','expired')),"
        "  ended_at      TEXT"
        ");"
        "CREATE INDEX reservations_by_state ON reservations(state, board_id);",
        /* 5: audit log of mutating API requests: who (token name), what (method, path, status),
         * when. Pruned to the newest STORE_AUDIT_KEEP rows. */
        "CREATE TABLE audit ("
        "  id      INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  at      TEXT NOT NULL,"
        "  token   TEXT NOT NULL,"
        "  method  TEXT NOT NULL,"
        "  path    TEXT NOT NULL,"
        "  status  INTEGER NOT NULL"
        ");",
        /* 6: hosts (one row per corrald sharing the store: its name, advertised API URL, version,
         * start and last heartbeat; heartbeat_ms is Unix time in milliseconds) and the host each
         * board is attached to ('' for rows written before this step). */
        "CREATE TABLE hosts ("
        "  name          TEXT PRIMARY KEY NOT NULL,"
        "  api_url       TEXT NOT NULL DEFAULT '',"
        "  version       TEXT NOT NULL DEFAULT '',"
        "  started_at    TEXT NOT NULL,"
        "  heartbeat_at  TEXT NOT NULL,"
        "  heartbeat_ms  INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "ALTER TABLE boards ADD COLUMN host TEXT NOT NULL DEFAULT '';",
        /* 7: fleet health: per-board counters, history, status (store_health.c). */
        store_health_migration,
        /* 8: the firmware catalogue: what people read in the Flash dialog ("MicroPython 1.25.0 for
         * ESP8266"), the version the uploader states and its release notes. */
        "ALTER TABLE firmware ADD COLUMN title TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE firmware ADD COLUMN version TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE firmware ADD COLUMN release_notes TEXT NOT NULL DEFAULT '';",
        /* 9: the farm (store_hosts.c): each board's live state as its host last published it
         * (live_state online/busy/offline, live_job the job it runs), and per host the heartbeat
         * whose death was already dealt with (swept_ms: its jobs interrupted by a survivor). */
        "ALTER TABLE boards ADD COLUMN live_state TEXT;"
        "ALTER TABLE boards ADD COLUMN live_job INTEGER;"
        "ALTER TABLE hosts ADD COLUMN swept_ms INTEGER;",
        /* 10: firmware bytes in the store (store_firmware_blob.c), in chunks of at most 256 KiB:
         * written on upload when the store is shared (PostgreSQL), so that any host can flash an
         * image uploaded to another; removed with the firmware row. Unused with SQLite. */
        "CREATE TABLE firmware_blobs ("
        "  firmware_id TEXT NOT NULL REFERENCES firmware(id) ON DELETE CASCADE,"
        "  seq         INTEGER NOT NULL,"
        "  data        BLOB NOT NULL,"
        "  PRIMARY KEY (firmware_id, seq)"
        ") WITHOUT ROWID;",
        /* 11: cross-host jobs and farm-wide events (store_farm_jobs.c): a job posted on one host for
         * a board on another waits with dispatch 'pending' until the board's host claims it
         * ('claimed'); cancel_requested 1 asks the board's host to cancel it (2: done); farm_events
         * carries each host's job events to the others (pruned after a minute). On SQLite (one
         * host) nothing writes them. */
        "ALTER TABLE jobs ADD COLUMN dispatch TEXT;"
        "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX jobs_dispatch_pending ON jobs(board_id) WHERE dispatch = 'pending';"
        "CREATE INDEX jobs_cancel_requested ON jobs(board_id) WHERE cancel_requested = 1;"
        "CREATE TABLE farm_events ("
        "  id     INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  host   TEXT NOT NULL,"
        "  type   TEXT NOT NULL,"
        "  data   TEXT NOT NULL,"
        "  at_ms  INTEGER NOT NULL"
        ");",
};

int store_schema_latest(void)
{
        return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

static int pragma_int(sqlite3 *db, const char *sql, int *ret)
{
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret = sqlite3_column_int(st, 0);
                rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        return rc;
}

static int fail(int rc, sqlite3 *db, const char *path, char *msg, size_t msg_size, const char *what)
{
        int r = store_errno_from_sqlite(rc);
        if (r == -EBADMSG)
                snprintf(msg, msg_size, "%s is not a usable corral database (not an SQLite file, or corrupt): %s",
                         path, sqlite3_errmsg(db));
        else
                snprintf(msg, msg_size, "%s %s: %s", what, path, sqlite3_errmsg(db));
        return r < 0 ? r : -EIO;
}

/* Refuse SQLite files that belong to something else. */
static int check_owner(sqlite3 *db, const char *path, int version, char *msg, size_t msg_size)
{
        int app_id = 0, objects = 0;
        int rc = pragma_int(db, "PRAGMA application_id", &app_id);
        if (rc == SQLITE_OK && app_id == 0 && version == 0)
                rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &objects);
        if (rc != SQLITE_OK)
                return fail(rc, db, path, msg, msg_size, "cannot read");
        if ((app_id != 0 && app_id != STORE_APPLICATION_ID) || (app_id == 0 && objects > 0)) {
                snprintf(msg, msg_size,
                         "%s is an SQLite database of another application, not corral's; refusing to touch it",
                         path);
                return -EBADMSG;
        }
        return 0;
}

int store_schema_migrate(sqlite3 *db, const char *path, int *ret_version, char *msg, size_t msg_size)
{
        const int latest = store_schema_latest();
        int version = 0;

        int rc = pragma_int(db, "PRAGMA user_version", &version);
        if (rc != SQLITE_OK)
                return fail(rc, db, path, msg, msg_size, "cannot read the schema version of");
        int r = check_owner(db, path, version, msg, msg_size);
        if (r < 0)
                return r;
        if (version > latest) {
                snprintf(msg, msg_size,
                         "%s has schema version %d, newer than this corrald understands (%d); "
                         "refusing to open it: run a newer corrald or use another state directory",
                         path, version, latest);
                return -EPROTONOSUPPORT;
        }

        for (int step = version + 1; step <= latest; step++) {
                rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        return fail(rc, db, path, msg, msg_size, "cannot start migrating");
                /* Another process may have migrated while we waited for the lock. */
                int now = 0;
                rc = pragma_int(db, "PRAGMA user_version", &now);
                if (rc == SQLITE_OK && now < step) {
                        char set_version[48];
                        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", step);
                        rc = sqlite3_exec(db, migrations[step - 1], NULL, NULL, NULL);
                        if (rc == SQLITE_OK)
                                rc = sqlite3_exec(db, set_version, NULL, NULL, NULL);
                }
                if (rc == SQLITE_OK)
                        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
                if (rc != SQLITE_OK) {
                        char what[64];
                        snprintf(what, sizeof(what), "migration to schema version %d failed for", step);
                        r = fail(rc, db, path, msg, msg_size, what);
                        if (!sqlite3_get_autocommit(db))
                                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                        return r;
                }
        }
        *ret_version = latest;
        return 0;
}

/* ---- PostgreSQL ---- */

/* The same steps as migrations[] for PostgreSQL: one step per entry, same meaning. Text keys
 * that are sorted on are COLLATE "C" so that lists come in the same (byte) order as SQLite's;
 * JSON columns hold the same canonical JSON text. */
static const char *const migrations_pg[] = {
        /* 1 */
        "CREATE TABLE boards ("
        "  id          TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,"
        "  identity    TEXT NOT NULL UNIQUE,"
        "  name        TEXT NOT NULL,"
        "  labels      TEXT NOT NULL DEFAULT '[]',"
        "  notes       TEXT NOT NULL DEFAULT '',"
        "  hints       TEXT NOT NULL DEFAULT '{}',"
        "  first_seen  TEXT COLLATE \"C\" NOT NULL,"
        "  last_seen   TEXT NOT NULL"
        ");"
        "CREATE TABLE facts ("
        "  board_id    TEXT COLLATE \"C\" NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  key         TEXT COLLATE \"C\" NOT NULL,"
        "  value       TEXT NOT NULL,"
        "  learned_at  TEXT NOT NULL,"
        "  job_id      BIGINT,"
        "  PRIMARY KEY (board_id, key)"
        ");"
        "CREATE TABLE fact_history ("
        "  id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        "  board_id    TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,"
        "  key         TEXT NOT NULL,"
        "  value       TEXT NOT NULL,"
        "  learned_at  TEXT NOT NULL,"
        "  job_id      BIGINT"
        ");"
        "CREATE INDEX fact_history_by_board_key ON fact_history(board_id, key, id);"
        "CREATE TABLE jobs ("
        "  id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        "  board_id      TEXT REFERENCES boards(id) ON DELETE SET NULL,"
        "  kind          TEXT COLLATE \"C\" NOT NULL,"
        "  params        TEXT NOT NULL DEFAULT '{}',"
        "  state         TEXT COLLATE \"C\" NOT NULL CHECK (state IN ('queued','running','succeeded','failed',"
        "                                               'cancelled','interrupted')),"
        "  progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),"
        "  phase         TEXT NOT NULL DEFAULT '',"
        "  result        TEXT,"
        "  error_code    TEXT,"
        "  error_message TEXT,"
        "  created_at    TEXT NOT NULL,"
        "  started_at    TEXT,"
        "  finished_at   TEXT,"
        "  timeout_s     INTEGER NOT NULL DEFAULT 0,"
        "  log_lines     BIGINT NOT NULL DEFAULT 0"
        ");"
        "CREATE INDEX jobs_by_board ON jobs(board_id, id);"
        "CREATE INDEX jobs_by_state ON jobs(state, id);"
        "CREATE TABLE job_log ("
        "  job_id  BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "  seq     BIGINT NOT NULL,"
        "  t       TEXT NOT NULL,"
        "  line    TEXT NOT NULL,"
        "  PRIMARY KEY (job_id, seq)"
        ");",
        /* 2 */
        "ALTER TABLE jobs ADD COLUMN progress_detail TEXT;",
        /* 3 */
        "CREATE TABLE firmware ("
        "  id          TEXT COLLATE \"C\" PRIMARY KEY NOT NULL CHECK (length(id) = 64),"
        "  size        BIGINT NOT NULL,"
        "  kind        TEXT NOT NULL CHECK (kind IN ('esp-image','uf2','ihex','raw')),"
        "  chip        TEXT,"
        "  family      TEXT,"
        "  mp_version  TEXT,"
        "  meta        TEXT NOT NULL DEFAULT '{}',"
        "  name        TEXT NOT NULL,"
        "  filename    TEXT NOT NULL DEFAULT '',"
        "  notes       TEXT NOT NULL DEFAULT '',"
        "  labels      TEXT NOT NULL DEFAULT '[]',"
        "  created_at  TEXT COLLATE \"C\" NOT NULL"
        ");"
        "CREATE INDEX firmware_by_family ON firmware(family, created_at);"
        "CREATE TABLE firmware_known_good ("
        "  family      TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,"
        "  firmware_id TEXT NOT NULL REFERENCES firmware(id),"
        "  pinned_at   TEXT NOT NULL,"
        "  pinned_by   TEXT NOT NULL"
        ");",
        /* 4 */
        "CREATE TABLE reservations ("
        "  id            BIGINT PRIMARY KEY NOT NULL,"
        "  board_id      TEXT NOT NULL,"
        "  owner         TEXT NOT NULL,"
        "  token_sha256  TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),"
        "  match         TEXT NOT NULL DEFAULT '{}',"
        "  ttl_s         INTEGER NOT NULL,"
        "  created_at    TEXT NOT NULL,"
        "  expires_ms    BIGINT NOT NULL,"
        "  state         TEXT NOT NULL CHECK (state IN ('active','released','expired')),"
        "  ended_at      TEXT"
        ");"
        "CREATE INDEX reservations_by_state ON reservations(state, board_id);",
        /* 5 */
        "CREATE TABLE audit ("
        "  id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        "  at      TEXT NOT NULL,"
        "  token   TEXT NOT NULL,"
        "  method  TEXT NOT NULL,"
        "  path    TEXT NOT NULL,"
        "  status  INTEGER NOT NULL"
        ");",
        /* 6 */
        "CREATE TABLE hosts ("
        "  name          TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,"
        "  api_url       TEXT NOT NULL DEFAULT '',"
        "  version       TEXT NOT NULL DEFAULT '',"
        "  started_at    TEXT NOT NULL,"
        "  heartbeat_at  TEXT NOT NULL,"
        "  heartbeat_ms  BIGINT NOT NULL"
        ");"
        "ALTER TABLE boards ADD COLUMN host TEXT NOT NULL DEFAULT '';",
        /* 7 */
        store_health_migration_pg,
        /* 8 */
        "ALTER TABLE firmware ADD COLUMN title TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE firmware ADD COLUMN version TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE firmware ADD COLUMN release_notes TEXT NOT NULL DEFAULT '';",
        /* 9, plus what only a shared database needs: reservation ids from one sequence (unique
         * farm-wide) and at most one active lease per board, enforced by the database (an older
         * duplicate, impossible from one host, is expired first). */
        "ALTER TABLE boards ADD COLUMN live_state TEXT;"
        "ALTER TABLE boards ADD COLUMN live_job BIGINT;"
        "ALTER TABLE hosts ADD COLUMN swept_ms BIGINT;"
        "CREATE SEQUENCE reservation_ids;"
        "SELECT setval('reservation_ids', (SELECT COALESCE(MAX(id), 0) + 1 FROM reservations), false);"
        "UPDATE reservations r SET state = 'expired', ended_at = COALESCE(ended_at, created_at)"
        " WHERE state = 'active' AND EXISTS (SELECT 1 FROM reservations q"
        "  WHERE q.board_id = r.board_id AND q.state = 'active' AND q.id > r.id);"
        "CREATE UNIQUE INDEX reservations_one_active ON reservations(board_id) WHERE state = 'active';",
        /* 10 */
        "CREATE TABLE firmware_blobs ("
        "  firmware_id TEXT COLLATE \"C\" NOT NULL REFERENCES firmware(id) ON DELETE CASCADE,"
        "  seq         INTEGER NOT NULL,"
        "  data        BYTEA NOT NULL,"
        "  PRIMARY KEY (firmware_id, seq)"
        ");",
        /* 11 */
        "ALTER TABLE jobs ADD COLUMN dispatch TEXT;"
        "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX jobs_dispatch_pending ON jobs(board_id) WHERE dispatch = 'pending';"
        "CREATE INDEX jobs_cancel_requested ON jobs(board_id) WHERE cancel_requested = 1;"
        "CREATE TABLE farm_events ("
        "  id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        "  host   TEXT NOT NULL,"
        "  type   TEXT NOT NULL,"
        "  data   TEXT NOT NULL,"
        "  at_ms  BIGINT NOT NULL"
        ");",
};

_Static_assert(sizeof(migrations_pg) == sizeof(migrations), "every schema step exists for both backends");

/* Key of the transaction-scoped advisory lock that serializes migrations between hosts. */
#define PG_MIGRATE_LOCK "1668248172"

static int pg_int(struct db *db, int64_t *ret, const char *sql, ...)
{
        struct db_stmt *st;
        va_list ap;
        va_start(ap, sql);
        int r = db_prepare_v(db, &st, sql, NULL, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r == 1)
                *ret = db_col_int64(st, 0);
        db_finalize(st);
        return r;
}

static int pg_fail(struct db *db, int r, char *msg, size_t msg_size, const char *what)
{
        snprintf(msg, msg_size, "%s: %s", what, db_errmsg(db));
        db_rollback(db);
        return r < 0 ? r : -EIO;
}

int store_schema_migrate_pg(struct db *db, int *ret_version, char *msg, size_t msg_size)
{
        const int latest = store_schema_latest();
        int64_t version = 0, tables = 0, have = 0;

        int r = db_begin(db, true);
        if (r >= 0)
                r = db_exec(db, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")");
        if (r >= 0)
                r = pg_int(db, &have, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                                      " AND tablename = 'schema_version'");
        if (r >= 0 && !have)
                r = pg_int(db, &tables, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()");
        if (r >= 0 && !have && tables > 0) {
                db_rollback(db);
                snprintf(msg, msg_size,
                         "the PostgreSQL database has tables but no corral schema_version: it belongs to another "
                         "application; refusing to touch it (give corral a database of its own)");
                return -EBADMSG;
        }
        if (r >= 0 && !have)
                r = db_exec(db, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
        if (r >= 0)
                r = pg_int(db, &version, "SELECT coalesce(max(version), 0) FROM schema_version");
        if (r >= 0)
                r = db_commit(db);
        if (r < 0)
                return pg_fail(db, r, msg, msg_size, "cannot read the schema version of the PostgreSQL store");
        if (version > latest) {
                snprintf(msg, msg_size,
                         "the PostgreSQL store has schema version %lld, newer than this corrald understands (%d); "
                         "refusing to use it: run a newer corrald",
                         (long long)version, latest);
                return -EPROTONOSUPPORT;
        }

        for (int step = (int)version + 1; step <= latest; step++) {
                int64_t now = 0;
                char what[96], insert[160], at[STORE_TIME_SIZE];
                store_now(at);
                r = db_begin(db, true);
                /* Another host may have migrated while we waited for the lock. */
                if (r >= 0)
                        r = db_exec(db, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")");
                if (r >= 0)
                        r = pg_int(db, &now, "SELECT coalesce(max(version), 0) FROM schema_version");
                if (r >= 0 && now < step) {
                        snprintf(insert, sizeof(insert), "INSERT INTO schema_version (version, applied_at) VALUES (%d, '%s')",
                                 step, at);
                        r = db_exec(db, migrations_pg[step - 1]);
                        if (r >= 0)
                                r = db_exec(db, insert);
                }
                if (r >= 0)
                        r = db_commit(db);
                if (r < 0) {
                        snprintf(what, sizeof(what), "migration to schema version %d failed for the PostgreSQL store", step);
                        return pg_fail(db, r, msg, msg_size, what);
                }
        }
        *ret_version = latest;
        return 0;
}
