// Issue 15: no lock held across disk I/O on the paths an API read or a WebSocket upgrade takes.
// Another process holds the SQLite write lock, so corrald's next write (a PATCH) sits in its busy
// wait holding the store's write lock. Meanwhile GET /api/v1/boards (the store's read connection)
// and a console upgrade plus a take with a lease (reservations decided from memory) must answer,
// and the PATCH must still be waiting when they do: an order, not a time. Then the other process
// lets go, the PATCH commits and the next GET sees it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, silentServer, startCorrald, waitFor } from "./lib.mjs";

const PG = process.env.CORRAL_TEST_STORE === "pg";

/** Another process' write transaction on the SQLite file, held until release(). */
async function holdWriteLock(dbFile) {
  const py = [
    "import sqlite3, sys",
    "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)",
    "db.execute('BEGIN IMMEDIATE')",
    "db.execute(\"UPDATE boards SET notes = 'uncommitted'\")",
    "print('locked', flush=True)",
    "sys.stdin.read()",
    "db.execute('ROLLBACK')",
  ].join("\n");
  const proc = spawn("python3", ["-c", py, dbFile], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "", err = "";
  proc.stdout.on("data", (d) => { out += d; });
  proc.stderr.on("data", (d) => { err += d; });
  const exited = new Promise((r) => proc.on("exit", r));
  await waitFor(() => { if (proc.exitCode !== null) throw new Error(err); return out.includes("locked"); }, 10000, "the write lock");
  return { async release() { proc.stdin.end(); assert.equal(await exited, 0, err); } };
}

/** Open a console socket; resolves once open, collecting its JSON messages. */
function consoleOpen(base, board) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws/v1/boards/${board}/console`);
  const c = { ws, msgs: [] };
  ws.on("message", (data, isBinary) => { if (!isBinary) c.msgs.push(JSON.parse(data.toString())); });
  c.msg = (pred, what) => waitFor(() => c.msgs.find(pred), 10000, what);
  c.close = () => new Promise((r) => { ws.once("close", r); ws.close(); });
  return new Promise((resolve, reject) => { ws.once("open", () => resolve(c)); ws.once("error", reject); });
}

describe("reads while the store's writer waits for the disk", { skip: PG && "the held lock is SQLite's" }, () => {
  let d, b, q;
  before(async () => {
    b = await silentServer();
    q = await silentServer();
    d = await startCorrald({ args: ["--port", `b=socket://127.0.0.1:${b.port}`, "--port", `q=socket://127.0.0.1:${q.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards")).body.boards?.length === 2, 10000, "two boards");
  });
  after(async () => {
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-3000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    b.close();
    q.close();
  });

  test("GET /api/v1/boards and a leased console take answer while a PATCH waits", async () => {
    const lease = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "b" }, ttl_s: 300, owner: "ci" });
    assert.equal(lease.status, 201, JSON.stringify(lease.body));

    const held = await holdWriteLock(path.join(d.stateDir, "corral.db"));
    let patched = null;
    const patch = api(d.url, "PATCH", "/api/v1/boards/q", { notes: "after the wait" }).then((r) => { patched = r; return r; });

    // The PATCH reaches the store's write lock at some point in this second and stays there:
    // every read in it must answer regardless.
    const until = Date.now() + 1000;
    let reads = 0;
    while (Date.now() < until) {
      const r = await api(d.url, "GET", "/api/v1/boards");
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.boards.map((x) => x.notes ?? ""), ["", ""], "committed data only");
      assert.equal(patched, null, `read ${reads} answered only after the PATCH did (${JSON.stringify(patched?.body)})`);
      reads++;
    }
    const c = await consoleOpen(d.url, "b");
    await c.msg((m) => m.type === "hello", "hello");
    c.ws.send(JSON.stringify({ type: "take", lease: lease.body.token }));
    await c.msg((m) => m.type === "lock" && m.writer === true, "the lock, with the lease");
    assert.equal(patched, null, "the console answered only after the PATCH did");

    await held.release();
    const r = await patch;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const after = await api(d.url, "GET", "/api/v1/boards/q");
    assert.equal(after.body.notes, "after the wait");
    await c.close();
  });
});
