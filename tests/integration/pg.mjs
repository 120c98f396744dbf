// A private PostgreSQL server for tests: Debian's postgresql binaries (initdb, pg_ctl), a data
// directory in a temp dir owned by an unprivileged user (nobody when the tests run as root: the
// server refuses to run as root), listening only on a unix socket in that temp dir, trust auth
// for the one role "corral". Stopped (pg_ctl stop -m fast) by stop(), and on every exit path of
// the test process (exit, also after an uncaught error; SIGINT, SIGTERM, SIGHUP).
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const PG_PORT = 5432; // only names the socket file: no TCP listener (listen_addresses='')

/**
 * The newest /usr/lib/postgresql/N/bin, or null when Debian's postgresql is not installed.
 * CORRAL_TEST_PG_BIN names another directory holding initdb, pg_ctl, psql (a lab knob: e.g. one
 * whose initdb fails, to check that a failed start fails fast).
 */
export function pgBinDir() {
  if (process.env.CORRAL_TEST_PG_BIN) return process.env.CORRAL_TEST_PG_BIN;
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(path.join(base, v, "bin/initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(base, versions[0], "bin") : null;
}

const isRoot = process.getuid && process.getuid() === 0;
const UNPRIV = { user: "nobody", uid: 65534, gid: 65534 };

// Run a server-side binary as the unprivileged owner of the data dir.
function asOwner(bin, args, opts = {}) {
  const [cmd, argv] = isRoot ? ["runuser", ["-u", UNPRIV.user, "--", bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", ...opts });
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${path.basename(bin)} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r;
}

const servers = new Set();
function stopAllSync() {
  for (const s of servers) s.stopSync();
}
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on("exit", stopAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.once(sig, () => { stopAllSync(); process.kill(process.pid, sig); });
}

/**
 * Start a private server. Returns {dir, bin, url(db), createDb(db), psql(db, sql), restart(), stop()}.
 * url(db): "postgresql:///DB?host=DIR&port=5432&user=corral" for corrald --store.
 */
export function startPostgres() {
  const bin = pgBinDir();
  if (!bin) throw new Error("Debian's postgresql is not installed (make deps installs it)");
  const dir = mkdtempSync(path.join(tmpdir(), "corral-pg-"));
  const data = path.join(dir, "data");
  chmodSync(dir, 0o755);
  if (isRoot) chownSync(dir, UNPRIV.uid, UNPRIV.gid);
  const pgctl = path.join(bin, "pg_ctl");
  const opts = `-k ${dir} -p ${PG_PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off`
    + " -c synchronous_commit=off -c max_connections=200";
  const start = () => asOwner(pgctl, ["-D", data, "-o", opts, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"]);
  try {
    asOwner(path.join(bin, "initdb"), ["-D", data, "-U", "corral", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"]);
    start();
  } catch (e) { // nothing runs: leave no data dir behind
    asOwner(pgctl, ["-D", data, "-m", "immediate", "-w", "stop"], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let running = true;
  const server = {
    dir, bin,
    url: (db) => `postgresql:///${db}?host=${encodeURIComponent(dir)}&port=${PG_PORT}&user=corral`,
    /** psql -c sql as the test's user over the socket; returns stdout. */
    psql(db, sql) {
      return execFileSync(path.join(bin, "psql"), ["-h", dir, "-p", String(PG_PORT), "-U", "corral", "-d", db,
        "-v", "ON_ERROR_STOP=1", "-qAtc", sql], { encoding: "utf8" });
    },
    /** pg_dump of database db (plain SQL, every row), as a Buffer. */
    dump(db) {
      return execFileSync(path.join(bin, "pg_dump"), ["-h", dir, "-p", String(PG_PORT), "-U", "corral", db]);
    },
    /** Create database db unless it exists. */
    createDb(db) {
      const have = server.psql("postgres", `SELECT 1 FROM pg_database WHERE datname = '${db}'`).trim();
      if (!have) server.psql("postgres", `CREATE DATABASE "${db}"`);
      return server.url(db);
    },
    /** pg_ctl restart -m fast: every connection is cut, the server is back when this returns. */
    restart() {
      asOwner(pgctl, ["-D", data, "-o", opts, "-l", path.join(dir, "log"), "-m", "fast", "-w", "-t", "60", "restart"]);
    },
    /** Stop without starting again (a test of an unreachable store); start() brings it back. */
    stopServer() {
      asOwner(pgctl, ["-D", data, "-m", "fast", "-w", "stop"]);
    },
    start,
    stopSync() {
      if (!running) return;
      running = false;
      servers.delete(server);
      asOwner(pgctl, ["-D", data, "-m", "fast", "-w", "stop"], { allowFail: true });
      rmSync(dir, { recursive: true, force: true });
    },
    async stop() { server.stopSync(); },
  };
  servers.add(server);
  hookExit();
  return server;
}

// One server per test process, started on first use (lib.mjs, CORRAL_TEST_STORE=pg). A server
// that could not start is not tried again: every later start fails at once with the same error.
let shared = null, sharedError = null;
export function sharedPostgres() {
  if (sharedError) throw sharedError;
  try {
    if (!shared) shared = startPostgres();
  } catch (e) {
    sharedError = e;
    throw e;
  }
  return shared;
}

/** A database name for a corrald state dir: the same dir gets the same database (restarts). */
export function dbNameFor(stateDir) {
  return "corral_" + path.basename(stateDir).replace(/[^A-Za-z0-9]/g, "_").toLowerCase();
}
