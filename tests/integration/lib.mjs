// Helpers for black-box tests: start the real corrald (sanitized build under make check) and
// virtual boards as child processes, talk to corrald over its real HTTP API.
import { spawn } from "node:child_process";
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dbNameFor, sharedPostgres } from "./pg.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CORRALD = process.env.CORRALD || path.join(ROOT, "build/san/corrald");
export const VBOARD = path.join(ROOT, "tests/vboard/vboard");

const children = new Set();
process.on("exit", () => { for (const c of children) try { c.kill("SIGKILL"); } catch {} });

// A failed setup (PostgreSQL that cannot start, a corrald that does not come up) leaves what the
// hook started before it (a silent server, a vboard) running with nobody to stop it, and the file
// would hang to the runner's limit. So once the file's suites are over (a root `after`, which runs
// after every suite's hooks), whatever is still running stops holding the process open (unref);
// stop() holds it again while it waits, and the exit handler above kills leftover children.
const servers = new Set(); // {release()} of the servers started here that are still open
let released = false;
const unref = (h) => { try { h?.unref(); } catch {} };
const ref = (h) => { try { h?.ref(); } catch {} };
function releaseChild(c) { unref(c); unref(c.stdout); unref(c.stderr); }
function holdChild(c) { ref(c); ref(c.stdout); ref(c.stderr); }
function releaseLeftovers() {
  released = true;
  for (const c of children) releaseChild(c);
  for (const s of servers) s.release();
}
if (/\.test\.mjs$/.test(process.argv[1] ?? "")) after(releaseLeftovers); // not in benches and demos

/** Wait until pred() returns a truthy value (async allowed) or throw after ms. */
export async function waitFor(pred, ms = 10000, what = "condition") {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await pred(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}` + (last instanceof Error ? `: ${last.message}` : ""));
}

/**
 * Start corrald. Returns {url, stateDir, proc, stderr(), stop(signal), restart()}.
 * opts.args: extra flags; opts.stateDir: reuse a state dir; opts.keepState: don't delete it.
 * opts.udev: true = leave USB discovery on (omit --no-udev).
 * opts.autoIdentify: true = identify boards that appear (omit --no-auto-identify).
 * opts.wrapper: command prefix, e.g. ["umockdev-wrapper"]: runs `wrapper... corrald args...`.
 * CORRAL_TEST_STORE=pg: the store is a database (one per state dir) on a private PostgreSQL.
 */
export async function startCorrald(opts = {}) {
  const stateDir = opts.stateDir || mkdtempSync(path.join(tmpdir(), "corral-test-"));
  // Boards that appear are identified on their own (auto_identify) only where a test asks for it:
  // the other suites count and order their own jobs.
  const args = ["--listen", "127.0.0.1:0", "--state-dir", stateDir, ...(opts.udev ? [] : ["--no-udev"]),
    ...(opts.autoIdentify ? [] : ["--no-auto-identify"]),
    "--web-root", process.env.CORRAL_WEB_ROOT || path.join(ROOT, "web"), ...(opts.args || [])];
  const pgDb = process.env.CORRAL_TEST_STORE === "pg" && !args.includes("--store") ? dbNameFor(stateDir) : null;
  if (pgDb) args.push("--store", sharedPostgres().createDb(pgDb));
  const wrap = opts.wrapper || [];
  const cmd = wrap.length ? wrap[0] : opts.bin || CORRALD;
  const argv = wrap.length ? [...wrap.slice(1), opts.bin || CORRALD, ...args] : args;
  const proc = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS || "detect_leaks=1", ...(opts.env || {}) } });
  children.add(proc);
  let err = "";
  proc.stderr.on("data", (d) => { err += d.toString(); if (process.env.CORRAL_TEST_VERBOSE) process.stderr.write(d); });
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => { children.delete(proc); resolve({ code, sig }); }));
  const port = await Promise.race([
    waitFor(() => { const m = err.match(/listening on http:\/\/[^:]+:(\d+)\//); return m && Number(m[1]); }, 20000, "corrald to listen"),
    exited.then(({ code, sig }) => { throw new Error(`corrald exited (${code ?? sig}) before listening:\n${err}`); }),
  ]).catch((e) => { proc.kill("SIGKILL"); throw e; }); // nobody else holds this corrald
  const url = `http://127.0.0.1:${port}`;
  return {
    url, stateDir, pgDb, proc, exited,
    stderr: () => err,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode) return exited;
      holdChild(proc);
      proc.kill(signal);
      const r = await exited;
      if (!opts.keepState && !opts.stateDir && signal !== "SIGKILL") rmSync(stateDir, { recursive: true, force: true });
      return r;
    },
  };
}

export const CORRAL_CLI = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");

/**
 * Run the corral CLI against a corrald: resolves {code, stdout, stderr}. Called as
 * corral(args, server, env) or corral(args, {server, env, cwd}); CORRAL_LEASE is cleared unless env sets it.
 */
export function corral(args, server, env = {}) {
  let cwd;
  if (server && typeof server === "object") ({ server, env = {}, cwd } = server);
  return new Promise((resolve) => {
    const p = spawn(CORRAL_CLI, args, { cwd, env: { ...process.env, CORRAL_LEASE: "", ...env, CORRAL_URL: server }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** fetch + JSON; returns {status, headers, body} (body parsed when JSON). */
export async function api(base, method, p, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers["content-type"] ??= "application/json";
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let parsed = text;
  if ((res.headers.get("content-type") || "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Poll a job until it leaves queued/running. */
export async function waitJob(base, id, ms = 60000) {
  return waitFor(async () => {
    const r = await api(base, "GET", `/api/v1/jobs/${id}`);
    return ["queued", "running"].includes(r.body.state) ? null : r.body;
  }, ms, `job ${id} to finish`);
}

/** Start a virtual board: `tests/vboard/vboard KIND ...args`; resolves to its JSON line + stop(). */
export async function startVboard(kind, args = []) {
  const proc = spawn(VBOARD, [kind, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let out = "", err = "";
  proc.stderr.on("data", (d) => { err += d; });
  proc.stdout.on("data", (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => { children.delete(proc); resolve({ code, sig }); }));
  const info = await Promise.race([
    waitFor(() => { const nl = out.indexOf("\n"); return nl >= 0 && JSON.parse(out.slice(0, nl)); }, 60000, `vboard ${kind}`),
    exited.then(({ code, sig }) => { throw new Error(`vboard ${kind} exited (${code ?? sig}):\n${err}`); }),
  ]).catch((e) => { proc.kill("SIGKILL"); throw e; }); // nobody else holds this vboard
  return { ...info, proc, stderr: () => err, async stop() { if (proc.exitCode === null && !proc.signalCode) { holdChild(proc); proc.kill("SIGTERM"); } return exited; } };
}

/** A TCP server that accepts connections and never says a word (a silent board). */
export async function silentServer() {
  const socks = new Set();
  const srv = net.createServer((s) => {
    socks.add(s);
    if (released) s.unref();
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
  });
  return listenTracked(srv, socks);
}

/**
 * A TCP server that answers every byte it receives with pseudo-random non-text bytes (a board at
 * the wrong baud rate). Deterministic: the same input gives the same noise.
 */
export async function garbageServer() {
  const socks = new Set();
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
    if (released) s.unref();
    s.on("data", (d) => {
      const out = Buffer.alloc(d.length * 4 + 8);
      for (let i = 0; i < out.length; i++) out[i] = 0x80 | ((next() >>> 16) & 0x7f); // never ASCII text
      s.write(out);
    });
  });
  return listenTracked(srv, socks);
}

/**
 * Listen with a test's own net.Server on a loopback port; socks: the Set its connection handler
 * keeps its sockets in. Returns {port, close()}; until closed, a failed setup does not leave it
 * holding the test file open (releaseLeftovers()).
 */
export async function listenTracked(srv, socks) {
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const handle = { release() { srv.unref(); for (const s of socks) s.unref(); } };
  servers.add(handle);
  if (released) handle.release();
  return { port: srv.address().port, close: () => { servers.delete(handle); for (const s of socks) s.destroy(); srv.close(); } };
}

/** POST a job to a board and wait until it finishes; returns the finished job. Throws unless 202. */
export async function runJob(base, board, body, ms = 60000) {
  const r = await api(base, "POST", `/api/v1/boards/${encodeURIComponent(board)}/jobs`, body);
  if (r.status !== 202) throw new Error(`POST ${board} jobs ${JSON.stringify(body).slice(0, 200)}: ${r.status} ${JSON.stringify(r.body)}`);
  return waitJob(base, r.body.id, ms);
}

/** Events of the /api/v1/events stream after seq `since` (at most the last 1024 are kept). */
export async function eventsSince(base, since = 0) {
  return (await api(base, "GET", `/api/v1/events?since=${since}`)).body.events;
}
