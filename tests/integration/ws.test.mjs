// WebSocket endpoints of the real corrald on the same port as REST: the board console
// (/ws/v1/boards/{id}/console: viewers, write lock, read-only during jobs, 64 KB replay,
// per-viewer backpressure) and the event stream (/ws/v1/events). Boards here are local TCP
// peers attached as socket:// static ports, so every byte is under the test's control.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, CORRALD, silentServer, startCorrald, startVboard, waitFor, waitJob } from "./lib.mjs";

/** A board the test drives: print() sends bytes to corrald, received holds what corrald wrote. */
async function scriptedBoard({ echo = false } = {}) {
  const socks = new Set();
  const board = { received: Buffer.alloc(0), print(data) { for (const s of socks) s.write(data); } };
  // Like a fast serial line: chunk by chunk (a burst far beyond 64 KB at memory speed would
  // outrun every viewer, which the console answers with drops by design).
  board.printPaced = async (data, chunk = 8192, everyMs = 4) => {
    const buf = Buffer.from(data);
    for (let i = 0; i < buf.length; i += chunk) {
      board.print(buf.subarray(i, i + chunk));
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    s.on("close", () => socks.delete(s));
    s.on("data", (d) => { board.received = Buffer.concat([board.received, d]); if (echo) s.write(d); });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  board.port = srv.address().port;
  board.connected = () => socks.size > 0;
  board.close = () => { for (const s of socks) s.destroy(); srv.close(); };
  return board;
}

/** A board printing `chunk` every `everyMs` for as long as corrald is connected. */
async function streamingBoard(chunk, everyMs) {
  const timers = new Set();
  const board = { sent: 0 };
  const srv = net.createServer((s) => {
    s.on("error", () => {});
    const t = setInterval(() => { s.write(chunk); board.sent += chunk.length; }, everyMs);
    timers.add(t);
    s.on("close", () => { clearInterval(t); timers.delete(t); });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  board.port = srv.address().port;
  board.close = () => { for (const t of timers) clearInterval(t); srv.close(); };
  return board;
}

/** Open a console or events socket; collects JSON messages and binary bytes. */
function wsOpen(base, p, headers = {}) {
  const ws = new WebSocket(base.replace(/^http/, "ws") + p, { headers });
  const c = { ws, msgs: [], bytes: Buffer.alloc(0), nbytes: 0, keep: true };
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      c.nbytes += data.length;
      if (c.keep) c.bytes = Buffer.concat([c.bytes, data]);
    } else c.msgs.push(JSON.parse(data.toString()));
  });
  c.ready = new Promise((resolve, reject) => {
    ws.once("open", () => resolve(c));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => { const e = new Error(`HTTP ${res.statusCode}`); e.status = res.statusCode; e.body = body; reject(e); });
    });
    ws.once("error", reject);
  });
  c.send = (obj) => ws.send(JSON.stringify(obj));
  c.msg = (pred, what = "message", ms = 10000) => waitFor(() => c.msgs.find(pred), ms, what);
  c.close = () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });
  return c;
}

function httpGet(url, agent) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, body }));
    }).on("error", reject);
  });
}

/** Stop corrald and fail when it did not exit cleanly or a sanitizer spoke. */
async function stopClean(d) {
  const { code } = await d.stop();
  assert.equal(code, 0, `corrald exit code; stderr tail:\n${d.stderr().slice(-3000)}`);
  assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
}

const consolePath = (id, q = "") => `/ws/v1/boards/${id}/console${q}`;
const text = (c) => c.bytes.toString("latin1");

describe("board console over WebSocket", () => {
  let d, board, quiet;
  before(async () => {
    board = await scriptedBoard();
    quiet = await silentServer();
    d = await startCorrald({ args: ["--port", `b=socket://127.0.0.1:${board.port}`,
      "--port", `quiet=socket://127.0.0.1:${quiet.port},family=micropython`] });
    await waitFor(() => board.connected(), 10000, "corrald connected to the board");
  });
  after(async () => { await stopClean(d); board.close(); quiet.close(); });

  test("hello names the board, says nobody writes and the board is online", async () => {
    const v = await wsOpen(d.url, consolePath("b", "?name=alice")).ready;
    const hello = await v.msg((m) => m.type === "hello");
    assert.equal(hello.board, "b");
    assert.equal(hello.writer, false);
    assert.equal(hello.holder, null);
    assert.equal(hello.online, true);
    assert.equal(hello.busy, false);
    await v.close();
  });

  test("two viewers see the same bytes the board prints", async () => {
    const a = await wsOpen(d.url, consolePath("b")).ready, b = await wsOpen(d.url, consolePath("b")).ready;
    await a.msg((m) => m.type === "hello");
    await b.msg((m) => m.type === "hello");
    const skipA = a.bytes.length, skipB = b.bytes.length;
    board.print("boot: two viewers\r\n>>> ");
    await waitFor(() => text(a).slice(skipA).includes(">>> ") && text(b).slice(skipB).includes(">>> "), 5000, "both see it");
    assert.equal(text(a).slice(skipA), "boot: two viewers\r\n>>> ");
    assert.equal(text(b).slice(skipB), "boot: two viewers\r\n>>> ");
    await a.close(); await b.close();
  });

  test("the writer's binary frames reach the board byte for byte", async () => {
    const w = await wsOpen(d.url, consolePath("b")).ready;
    w.send({ type: "take" });
    await w.msg((m) => m.type === "lock" && m.writer === true, "lock granted");
    const before = board.received.length;
    w.ws.send(Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x41]));
    await waitFor(() => board.received.length >= before + 5, 5000, "bytes at the board");
    assert.deepEqual([...board.received.subarray(before)], [0x00, 0xff, 0x0d, 0x0a, 0x41]);
    await w.close();
  });

  test("interrupt sends Ctrl-C and soft_reset sends Ctrl-D to the board", async () => {
    const w = await wsOpen(d.url, consolePath("b")).ready;
    w.send({ type: "take" });
    await w.msg((m) => m.type === "lock" && m.writer === true, "lock granted");
    const before = board.received.length;
    w.send({ type: "interrupt" });
    w.send({ type: "soft_reset" });
    await waitFor(() => board.received.length >= before + 2, 5000, "control bytes at the board");
    assert.deepEqual([...board.received.subarray(before)], [0x03, 0x04]);
    await w.close();
  });

  test("a second writer is refused, naming the holder, until the first releases", async () => {
    const a = await wsOpen(d.url, consolePath("b", "?name=alice")).ready;
    const b = await wsOpen(d.url, consolePath("b", "?name=bob")).ready;
    a.send({ type: "take" });
    await a.msg((m) => m.type === "lock" && m.writer === true, "alice holds the lock");
    const seen = await b.msg((m) => m.type === "lock" && m.holder?.name === "alice", "bob told who writes");
    assert.equal(seen.writer, false);
    b.send({ type: "take" });
    const refused = await b.msg((m) => m.type === "error", "refusal");
    assert.equal(refused.code, "lock_held");
    assert.match(refused.message, /alice/);
    const before = board.received.length;
    b.ws.send(Buffer.from("rm -rf\n"));
    const notWriter = await b.msg((m) => m.type === "error" && m.code === "not_writer", "input refused");
    assert.match(notWriter.message, /write lock/);
    a.send({ type: "release" });
    await b.msg((m) => m.type === "lock" && m.holder === null, "lock free");
    b.send({ type: "take" });
    await b.msg((m) => m.type === "lock" && m.writer === true, "bob holds the lock");
    assert.equal(board.received.length, before, "the refused input never reached the board");
    await a.close(); await b.close();
  });

  test("the write lock is freed when its holder disconnects", async () => {
    const a = await wsOpen(d.url, consolePath("b")).ready, b = await wsOpen(d.url, consolePath("b")).ready;
    a.send({ type: "take" });
    await b.msg((m) => m.type === "lock" && m.holder !== null, "a holds it");
    await a.close();
    await b.msg((m) => m.type === "lock" && m.holder === null, "freed on disconnect");
    b.send({ type: "take" });
    await b.msg((m) => m.type === "lock" && m.writer === true, "b takes it");
    await b.close();
  });

  test("the console is read-only while a job runs and says which job", async () => {
    const v = await wsOpen(d.url, consolePath("quiet")).ready;
    v.send({ type: "take" });
    await v.msg((m) => m.type === "lock" && m.writer === true, "lock");
    const job = (await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify", timeout_s: 60 })).body;
    const busy = await v.msg((m) => m.type === "status" && m.busy === true, "busy status");
    assert.equal(busy.job, job.id);
    assert.equal(busy.kind, "identify");
    assert.match(busy.reason, new RegExp(`Job ${job.id} \\(identify\\).*read-only`));
    v.ws.send(Buffer.from("typed during the job\r"));
    const refused = await v.msg((m) => m.type === "error", "input refused");
    assert.equal(refused.code, "read_only");
    assert.match(refused.message, new RegExp(`Job ${job.id} \\(identify\\)`));
    await api(d.url, "POST", `/api/v1/jobs/${job.id}/cancel`);
    await waitJob(d.url, job.id, 20000);
    await v.msg((m) => m.type === "status" && m.busy === false, "idle again");
    await v.close();
  });

  test("a viewer joining later is replayed the last 64 KB a previous viewer saw", async () => {
    const a = await wsOpen(d.url, consolePath("b")).ready;
    await a.msg((m) => m.type === "hello");
    let out = "";
    for (let i = 0; out.length < 100 * 1024; i++) out += `line ${String(i).padStart(6, "0")} ${"=".repeat(40)}\r\n`;
    await board.printPaced(out);
    await waitFor(() => text(a).endsWith(out), 10000, "first viewer got everything");
    assert.equal(a.msgs.filter((m) => m.type === "dropped").length, 0, "nothing dropped");
    const b = await wsOpen(d.url, consolePath("b")).ready;
    const hello = await b.msg((m) => m.type === "hello");
    assert.equal(hello.replay_bytes, 65536);
    await waitFor(() => b.bytes.length >= 65536, 5000, "replay complete");
    assert.equal(b.bytes.length, 65536);
    assert.ok(a.bytes.subarray(-65536).equals(b.bytes), "replay = the last 64 KB the first viewer saw");
    await a.close(); await b.close();
  });

  test("a viewer that falls more than 64 KB behind loses the oldest bytes and is told how many", async () => {
    const slow = await wsOpen(d.url, consolePath("b")).ready, fast = await wsOpen(d.url, consolePath("b")).ready;
    slow.keep = fast.keep = false;
    const hello = await slow.msg((m) => m.type === "hello");
    const fastHello = await fast.msg((m) => m.type === "hello");
    await waitFor(() => slow.nbytes === hello.replay_bytes && fast.nbytes === fastHello.replay_bytes, 5000, "replays drained");
    const fast0 = fast.nbytes;
    slow.ws._socket.pause();
    const burst = Buffer.alloc(1024 * 1024, "y");
    // Paced by the reading viewer, not by the clock: it never lags 32 KB, so it must lose nothing
    // however slow corrald runs (TSan, a loaded machine); the paused one falls far behind.
    for (let i = 0; i < burst.length; i += 8192) {
      board.print(burst.subarray(i, i + 8192));
      await waitFor(() => fast.nbytes - fast0 >= i + 8192 - 32768, 30000, "the reading viewer to keep up");
    }
    await waitFor(() => fast.nbytes - fast0 >= burst.length, 30000, "the reading viewer got the whole burst");
    slow.ws._socket.resume();
    const expected = hello.replay_bytes + burst.length;
    const drops = () => slow.msgs.filter((m) => m.type === "dropped");
    await waitFor(() => drops().length && slow.nbytes + drops().at(-1).total === expected, 10000, "slow viewer settles");
    const lost = drops().reduce((n, m) => n + m.bytes, 0);
    assert.ok(lost > 0, "bytes were dropped");
    assert.equal(lost, drops().at(-1).total, "the running total adds up");
    assert.equal(fast.nbytes - fast0, burst.length, "the reading viewer lost nothing");
    await slow.close(); await fast.close();
  });

  test("an unknown board's console is refused with 404 before the handshake", async () => {
    const e = await wsOpen(d.url, consolePath("no-such-board")).ready.catch((x) => x);
    assert.equal(e.status, 404);
    assert.equal(JSON.parse(e.body).error.code, "board_not_found");
  });

  test("an unknown WebSocket path is 404", async () => {
    const e = await wsOpen(d.url, "/ws/v1/nothing").ready.catch((x) => x);
    assert.equal(e.status, 404);
    assert.equal(JSON.parse(e.body).error.code, "not_found");
  });

  test("a plain GET on /ws/ opening its connection is 426 Upgrade Required", async () => {
    const r = await httpGet(d.url + "/ws/v1/events", new http.Agent({ keepAlive: false }));
    assert.equal(r.status, 426);
    assert.equal(JSON.parse(r.body).error.code, "upgrade_required");
  });

  test("/ws/ on a connection that already carried REST requests is a clear 400", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await httpGet(d.url + "/api/v1/health", agent)).status, 200);
    const r = await httpGet(d.url + "/ws/v1/events", agent);
    agent.destroy();
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.code, "websocket_on_reused_connection");
  });

  test("a foreign Origin is refused with 403; no Origin and the server's own origin are accepted", async () => {
    const e = await wsOpen(d.url, consolePath("b"), { Origin: "http://evil.example" }).ready.catch((x) => x);
    assert.equal(e.status, 403);
    assert.equal(JSON.parse(e.body).error.code, "origin_not_allowed");
    const own = await wsOpen(d.url, consolePath("b"), { Origin: d.url }).ready;
    await own.close();
    const none = await wsOpen(d.url, consolePath("b")).ready;
    await none.close();
  });

  test("the REST API still answers on the same port while consoles are open", async () => {
    const v = await wsOpen(d.url, consolePath("b")).ready;
    const r = await api(d.url, "GET", "/api/v1/boards/b");
    assert.equal(r.status, 200);
    assert.equal(r.body.id, "b");
    await v.close();
  });
});

describe("console backpressure", () => {
  // 400 bytes every 2 ms = 200 KB/s: far above a serial board, steady enough to measure, and
  // enough to overrun a stalled viewer's socket buffers plus its 64 KB within the test.
  const CHUNK = Buffer.alloc(400, "x"), EVERY_MS = 2;
  let d, src;
  before(async () => {
    src = await streamingBoard(CHUNK, EVERY_MS);
    d = await startCorrald({ args: ["--port", `s=socket://127.0.0.1:${src.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/s")).body.state === "online", 10000, "online");
  });
  after(async () => { await stopClean(d); src.close(); });

  // Bytes/s the viewer received, and that as a share of what the board printed meanwhile (the
  // share is what must not change: the board's own pace varies with machine load).
  async function rate(c, ms) {
    const n0 = c.nbytes, s0 = src.sent, t0 = Date.now();
    await new Promise((r) => setTimeout(r, ms));
    const got = c.nbytes - n0;
    return { bps: got / ((Date.now() - t0) / 1000), share: got / (src.sent - s0) };
  }

  test("a viewer that never reads does not slow another viewer", async () => {
    const fast = await wsOpen(d.url, consolePath("s")).ready;
    fast.keep = false;
    await fast.msg((m) => m.type === "hello");
    await new Promise((r) => setTimeout(r, 1000)); // past the replay burst
    const alone = await rate(fast, 3000);
    const stalled = await wsOpen(d.url, consolePath("s")).ready;
    stalled.ws._socket.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const withStalled = await rate(fast, 3000);
    const what = `alone ${alone.bps.toFixed(0)} B/s (${(alone.share * 100).toFixed(1)} % of the board's output), ` +
      `beside a stalled viewer ${withStalled.bps.toFixed(0)} B/s (${(withStalled.share * 100).toFixed(1)} %)`;
    assert.ok(alone.bps > 10000, `the source streams: ${what}`);
    assert.ok(Math.abs(withStalled.share - alone.share) / alone.share < 0.10, what);
    stalled.ws._socket.resume();
    await stalled.msg((m) => m.type === "dropped", "the stalled viewer really fell behind (dropped notice)");
    stalled.ws.terminate();
    await fast.close();
  });
});

describe("event stream over WebSocket", () => {
  let d, quiet;
  before(async () => {
    quiet = await silentServer();
    d = await startCorrald({ args: ["--port", `q=socket://127.0.0.1:${quiet.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/q")).body.state === "online", 10000, "online");
  });
  after(async () => { await stopClean(d); quiet.close(); });

  test("?since=0 replays the history, including board.online", async () => {
    const e = await wsOpen(d.url, "/ws/v1/events?since=0").ready;
    const online = await e.msg((m) => m.type === "board.online" && m.data.id === "q", "board.online");
    assert.ok(online.seq >= 1);
    assert.ok(online.time);
    await e.close();
  });

  test("live job.state events arrive as the job runs, in sequence order", async () => {
    const e = await wsOpen(d.url, "/ws/v1/events").ready;
    await new Promise((r) => setTimeout(r, 200));
    const job = (await api(d.url, "POST", "/api/v1/boards/q/jobs", { kind: "reset" })).body;
    const done = await e.msg((m) => m.type === "job.state" && m.data.job === job.id && m.data.state === "failed", "job failed");
    const running = e.msgs.find((m) => m.type === "job.state" && m.data.job === job.id && m.data.state === "running");
    assert.ok(running, "running came first");
    assert.ok(running.seq < done.seq);
    const seqs = e.msgs.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    await e.close();
  });

  test("corrald stops cleanly while WebSocket clients are still connected", async () => {
    // Left open on purpose: the after hook's clean-exit check covers the shutdown path.
    const e = await wsOpen(d.url, "/ws/v1/events").ready;
    const v = await wsOpen(d.url, consolePath("q")).ready;
    await v.msg((m) => m.type === "hello");
    assert.equal(e.ws.readyState, WebSocket.OPEN);
  });

  test("a bad since is 400", async () => {
    const e = await wsOpen(d.url, "/ws/v1/events?since=abc").ready.catch((x) => x);
    assert.equal(e.status, 400);
  });
});

describe("ws_origins", () => {
  test("a malformed ws_origins stops start-up naming file, line and key", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "# origins\nws_origins = https://ok.example, farm.example/path\n");
    const r = spawnSync(CORRALD, ["--config", conf, "--state-dir", dir, "--no-udev"], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /corrald\.conf:2: 'ws_origins' must be a comma-separated list of origins/);
  });

  test("an origin listed in ws_origins is accepted, others still refused", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "ws_origins = https://farm.example, http://10.1.2.3:7070\n");
    const d = await startCorrald({ args: ["--config", conf] });
    try {
      const ok = await wsOpen(d.url, "/ws/v1/events", { Origin: "https://farm.example" }).ready;
      await ok.close();
      const bad = await wsOpen(d.url, "/ws/v1/events", { Origin: "https://farm.example.evil" }).ready.catch((x) => x);
      assert.equal(bad.status, 403);
    } finally { await d.stop(); }
  });
});

describe("console of a MicroPython board (virtual)", () => {
  let d, vb;
  before(async () => {
    vb = await startVboard("micropython");
    d = await startCorrald({ args: ["--port", `mp=${vb.endpoint},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/mp")).body.state === "online", 10000, "online");
  });
  after(async () => { await stopClean(d); await vb?.stop(); });

  test("typing at the REPL through the console echoes and evaluates", async () => {
    const v = await wsOpen(d.url, consolePath("mp")).ready;
    v.send({ type: "take" });
    await v.msg((m) => m.type === "lock" && m.writer === true, "lock");
    const skip = v.bytes.length;
    v.ws.send(Buffer.from("\r"));
    await waitFor(() => text(v).slice(skip).includes(">>> "), 10000, "prompt");
    const at = v.bytes.length;
    v.ws.send(Buffer.from("6*7\r"));
    await waitFor(() => /6\*7\r\n42\r\n>>> /.test(text(v).slice(at)), 10000, "6*7 = 42");
    await v.close();
  });

  test("a run job's output reaches console viewers", async () => {
    const v = await wsOpen(d.url, consolePath("mp")).ready;
    await v.msg((m) => m.type === "hello");
    const skip = v.bytes.length;
    const job = (await api(d.url, "POST", "/api/v1/boards/mp/jobs", { kind: "run", script: "print('from the job', 6*7)" })).body;
    await waitFor(() => text(v).slice(skip).includes("from the job 42"), 20000, "job output on the console");
    assert.equal((await waitJob(d.url, job.id)).state, "succeeded");
    await v.close();
  });
});
