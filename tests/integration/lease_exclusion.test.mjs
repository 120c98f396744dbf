// Issue 14, finding 2, written as the attack: a lease must exclude everyone but its holder (and an
// admin). Mallory, an operator, holds a board's console write lock when Alice leases the board: she
// loses it at once and is told why, her typed bytes are refused and never reach the board, and
// Alice's take succeeds (even over an admin writing without the lease). On the leased board
// Mallory can neither queue nor cancel jobs nor PATCH it (labels drive reservation matching);
// Alice with the lease and an admin without it can. Without tokens (loopback, one user) leases
// still exclude.
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, listenTracked, startCorrald, startVboard, waitFor } from "./lib.mjs";

const SECRETS = { alice: "alice-secret-0a1b2c3d", mallory: "mallory-secret-4e5f6a7b", boss: "boss-secret-8c9d0e1f" };
const bearer = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });

/** A board that records what corrald writes to it. */
async function recordingBoard() {
  const socks = new Set();
  const board = { received: Buffer.alloc(0) };
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
    s.on("data", (d) => { board.received = Buffer.concat([board.received, d]); });
  });
  const { port, close } = await listenTracked(srv, socks);
  board.port = port;
  board.connected = () => socks.size > 0;
  board.text = () => board.received.toString("latin1");
  board.close = close;
  return board;
}

/** A console WebSocket as `who` (null: no token): JSON messages collected, send helpers. */
async function consoleAs(base, board, who) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws/v1/boards/${board}/console?name=${who ?? "anon"}`,
    { headers: who ? bearer(who) : {} });
  const c = { ws, msgs: [] };
  ws.on("message", (data, isBinary) => { if (!isBinary) c.msgs.push(JSON.parse(data.toString())); });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  c.send = (obj) => ws.send(JSON.stringify(obj));
  c.type = (text) => ws.send(Buffer.from(text), { binary: true });
  /** The first message after index `from` matching pred. */
  c.next = (pred, what, from = 0) => waitFor(() => c.msgs.slice(from).find(pred), 10000, what);
  c.close = () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });
  await c.next((m) => m.type === "hello", "hello");
  return c;
}

describe("with tokens: leases exclude non-holders", () => {
  let d, dir, board, mp, lease, leaseId, mpLease;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-lease-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, Object.entries({ alice: "operator", mallory: "operator", boss: "admin" })
      .map(([n, role]) => `[token ${n}]\nrole = ${role}\nsecret = ${SECRETS[n]}\n`).join("\n"));
    board = await recordingBoard();
    mp = await startVboard("micropython");
    d = await startCorrald({ args: ["--config", conf, "--port", `b=socket://127.0.0.1:${board.port}`,
      "--port", `mp=${mp.endpoint},family=micropython`] });
    await waitFor(() => board.connected(), 10000, "corrald connected to the board");
  });
  after(async () => {
    const r = await d.stop();
    assert.equal(r.code, 0, d.stderr().slice(-3000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    board.close();
    await mp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reserve = async (who, boardId, owner) => {
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: boardId }, ttl_s: 300, owner }, bearer(who));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };

  test("a writer without the lease loses the lock when the board is leased, is told why, and types into the void", async () => {
    const m = await consoleAs(d.url, "b", "mallory");
    m.send({ type: "take" });
    await m.next((x) => x.type === "lock" && x.writer === true, "mallory's lock");
    m.type("mallory-before-lease\n");
    await waitFor(() => board.text().includes("mallory-before-lease"), 5000, "a writer types before any lease");

    const from = m.msgs.length;
    const r = await reserve("alice", "b", "alice-ci");
    lease = r.token;
    leaseId = r.id;
    // Revoked before the grant was answered: the lock message is already queued for her.
    const revoked = await m.next((x) => x.type === "lock" && x.writer === false, "the revocation", from);
    assert.equal(revoked.code, "lease_granted");
    assert.match(revoked.reason, new RegExp(`reserved by alice-ci \\(reservation ${leaseId}\\)`));
    assert.equal(revoked.holder, null);

    // Her bytes, typed or as control messages, are refused, never queued.
    let at = m.msgs.length;
    m.type("MALLORY-1");
    assert.equal((await m.next((x) => x.type === "error", "refusal of typed bytes", at)).code, "board_reserved");
    at = m.msgs.length;
    m.send({ type: "input", data: "MALLORY-2" });
    assert.equal((await m.next((x) => x.type === "error", "refusal of input", at)).code, "board_reserved");
    at = m.msgs.length;
    m.send({ type: "take" });
    assert.equal((await m.next((x) => x.type === "error", "refusal of take", at)).code, "board_reserved");
    at = m.msgs.length;
    m.send({ type: "take", lease: "cl-999-" + "0".repeat(64) });
    assert.equal((await m.next((x) => x.type === "error", "a forged lease", at)).code, "lease_unknown");

    // The holder takes the lock and types; only her bytes arrive, after Mallory's refusals.
    const a = await consoleAs(d.url, "b", "alice");
    a.send({ type: "take", lease });
    await a.next((x) => x.type === "lock" && x.writer === true, "alice's lock");
    a.type("HOLDER-MARK\n");
    await waitFor(() => board.text().includes("HOLDER-MARK"), 5000, "the holder's bytes reach the board");
    assert.doesNotMatch(board.text(), /MALLORY/);
    a.send({ type: "release" });
    await a.next((x) => x.type === "lock" && x.writer === false, "released");
    await a.close();
    await m.close();
  });

  test("the holder's take succeeds even while an admin writes without the lease", async () => {
    const boss = await consoleAs(d.url, "b", "boss");
    boss.send({ type: "take" });
    await boss.next((x) => x.type === "lock" && x.writer === true, "the admin's lock (no lease needed)");
    boss.type("ADMIN-BYTES\n");
    await waitFor(() => board.text().includes("ADMIN-BYTES"), 5000, "an admin may write to a leased board");
    const a = await consoleAs(d.url, "b", "alice");
    const from = boss.msgs.length;
    a.send({ type: "take", lease });
    await a.next((x) => x.type === "lock" && x.writer === true, "the holder's lock");
    const lost = await boss.next((x) => x.type === "lock" && x.writer === false, "the admin told", from);
    assert.equal(lost.code, "lease_holder_took");
    assert.match(lost.reason, /with the board's lease/);
    await a.close();
    await boss.close();
  });

  test("a non-holder cannot queue, cancel or PATCH; the holder with the lease and an admin can", async () => {
    mpLease = (await reserve("alice", "mp", "alice-ci")).token;
    const withLease = { ...bearer("alice"), "x-corral-lease": mpLease };
    const job = (who, headers, body) => api(d.url, "POST", "/api/v1/boards/mp/jobs", body, headers ?? bearer(who));

    let r = await job("mallory", null, { kind: "run", script: "print(1)" });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "board_reserved");
    r = await job("alice", bearer("alice"), { kind: "run", script: "print(1)" });
    assert.equal(r.status, 409, "the holder's token without the lease is not the lease");

    const long = await job("alice", withLease, { kind: "run", script: "import time\ntime.sleep(60)", timeout_s: 120 });
    assert.equal(long.status, 202, JSON.stringify(long.body));
    const next = await job("alice", withLease, { kind: "run", script: "print(6*7)" });
    assert.equal(next.status, 202, JSON.stringify(next.body));
    const state = async (id) => (await api(d.url, "GET", `/api/v1/jobs/${id}`, undefined, bearer("mallory"))).body.state;
    await waitFor(async () => (await state(long.body.id)) === "running", 20000, "the long job to run");

    for (const id of [long.body.id, next.body.id]) {
      r = await api(d.url, "POST", `/api/v1/jobs/${id}/cancel`, undefined, bearer("mallory"));
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "board_reserved");
    }
    assert.equal(await state(long.body.id), "running");
    assert.equal(await state(next.body.id), "queued");

    const labels0 = (await api(d.url, "GET", "/api/v1/boards/mp", undefined, bearer("mallory"))).body.labels;
    r = await api(d.url, "PATCH", "/api/v1/boards/mp", { labels: ["ci-mp"] }, bearer("mallory"));
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "board_reserved");
    assert.deepEqual((await api(d.url, "GET", "/api/v1/boards/mp", undefined, bearer("mallory"))).body.labels, labels0);
    r = await api(d.url, "PATCH", "/api/v1/boards/mp", { labels: ["alice-lab"] }, withLease);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.labels, ["alice-lab"]);
    r = await api(d.url, "PATCH", "/api/v1/boards/mp", { notes: "checked by an admin" }, bearer("boss"));
    assert.equal(r.status, 200, JSON.stringify(r.body));

    // The admin cancels the long job without the lease; the holder's next job then runs.
    r = await api(d.url, "POST", `/api/v1/jobs/${long.body.id}/cancel`, undefined, bearer("boss"));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const done = await waitFor(async () => {
      const j = (await api(d.url, "GET", `/api/v1/jobs/${next.body.id}`, undefined, bearer("alice"))).body;
      return ["queued", "running"].includes(j.state) ? null : j;
    }, 60000, "the holder's next job");
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    assert.equal(done.result.stdout.trim(), "42");
    r = await job("boss", null, { kind: "run", script: "print(1)" });
    assert.equal(r.status, 202, `an admin queues without the lease: ${JSON.stringify(r.body)}`);
    // After release, anyone may edit again.
    r = await api(d.url, "DELETE", `/api/v1/reservations/${mpLease.split("-")[1]}`, undefined, withLease);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r = await api(d.url, "PATCH", "/api/v1/boards/mp", { labels: [] }, bearer("mallory"));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
});

describe("without tokens (loopback, one user): leases still exclude", () => {
  test("PATCH, jobs, cancel and the console need the lease", async () => {
    const board = await recordingBoard();
    const d = await startCorrald({ args: ["--port", `b=socket://127.0.0.1:${board.port}`] });
    try {
      await waitFor(() => board.connected(), 10000, "corrald connected");
      const c = await consoleAs(d.url, "b", null);
      c.send({ type: "take" });
      await c.next((x) => x.type === "lock" && x.writer === true, "lock");
      const from = c.msgs.length;
      const res = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "b" }, ttl_s: 60, owner: "ci" });
      assert.equal(res.status, 201);
      assert.equal((await c.next((x) => x.type === "lock" && x.writer === false, "revoked", from)).code, "lease_granted");
      let r = await api(d.url, "PATCH", "/api/v1/boards/b", { labels: ["x"] });
      assert.equal(r.status, 409);
      r = await api(d.url, "POST", "/api/v1/boards/b/jobs", { kind: "reset" });
      assert.equal(r.status, 409);
      r = await api(d.url, "PATCH", "/api/v1/boards/b", { labels: ["x"] }, { "x-corral-lease": res.body.token });
      assert.equal(r.status, 200);
      await c.close();
    } finally {
      await d.stop();
      board.close();
    }
  });
});
