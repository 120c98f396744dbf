// WebSocket endpoints of the real corrald on the same port as REST: the board console
// (/ws/v1/boards/{id}/console: viewers, write lock, read-only during jobs, 64 KB replay,
// per-viewer backpressure) and the event stream (/ws/v1/events). Boards here are local TCP
// peers attached as socket:// static ports, so every byte is under the test's control.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
  // Like a fast serial line: chunk by chunk. A viewer more than 64 KB behind loses bytes by
  // design, so a timer-paced burst is a race with the reading viewer's scheduling (on a loaded
  // machine the reader fell behind and lost bytes). With `reader` (a viewer and its byte count
  // at the start) the board sends the next chunk only once that viewer is at most `window`
  // bytes behind: the reader provably never falls 64 KB behind, whatever the machine's load.
  board.printPaced = async (data, { chunk = 8192, reader = null, window = 16384 } = {}) => {
    const buf = Buffer.from(data);
    for (let i = 0; i < buf.length; i += chunk) {
      if (reader) await waitFor(() => reader.viewer.nbytes - reader.base >= i - window, 30000, `reader at byte ${i - window}`);
      board.print(buf.subarray(i, i + chunk));
      await new Promise((r) => setImmediate(r));
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

/**
 * Bytes queued in the kernel on a loopback TCP connection whose client end has local port
 * `port`: the client's unread receive queue plus the server's unacknowledged send queue
 * (/proc/net/tcp and tcp6 list both ends).
 */
function socketQueues(port) {
  const q = { client_rx: 0, server_tx: 0 };
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(f, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const col = line.trim().split(/\s+/);
      if (col.length < 5) continue;
      const lport = parseInt(col[1].split(":")[1], 16), rport = parseInt(col[2].split(":")[1], 16);
      const [tx, rx] = col[4].split(":").map((h) => parseInt(h, 16));
      if (lport === port) q.client_rx += rx;
      if (rport === port) q.server_tx += tx;
    }
  }
  q.bytes = q.client_rx + q.server_tx;
  return q;
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
    const aHello = await a.msg((m) => m.type === "hello");
    await waitFor(() => a.nbytes === aHello.replay_bytes, 5000, "replay drained");
    let out = "";
    for (let i = 0; out.length < 100 * 1024; i++) out += `line ${String(i).padStart(6, "0")} ${"=".repeat(40)}\r\n`;
    await board.printPaced(out, { reader: { viewer: a, base: a.nbytes } });
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
    await board.printPaced(burst, { reader: { viewer: fast, base: fast0 } });
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
  // Byte counts, not rates: a timer-paced board streams 200 KB/s on an idle machine and 7 KB/s
  // at load 20, and neither "how fast" nor "how far behind the paused viewer gets" may depend on
  // that. The board prints a fixed BURST, paced by the fast viewer (never more than 32 KB ahead
  // of it, so it provably never lags 64 KB); the stalled viewer stops reading and must be told
  // it lost at least what could not sit in its socket buffers and the 64 KB ring.
  const BURST = 1024 * 1024;
  let d, board;
  before(async () => {
    board = await scriptedBoard();
    d = await startCorrald({ args: ["--port", `s=socket://127.0.0.1:${board.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/s")).body.state === "online", 10000, "online");
    await waitFor(() => board.connected(), 10000, "corrald connected to the board");
  });
  after(async () => { await stopClean(d); board.close(); });

  test("a viewer that never reads does not slow another viewer", async () => {
    const fast = await wsOpen(d.url, consolePath("s")).ready;
    fast.keep = false;
    await fast.msg((m) => m.type === "hello");
    const stalled = await wsOpen(d.url, consolePath("s")).ready;
    stalled.ws._socket.pause();
    // If the stalled viewer held corrald back, the fast one would stop getting bytes and the
    // paced board would wait for it in vain.
    await board.printPaced(Buffer.alloc(BURST, "x"), { chunk: 16384, window: 16384, reader: { viewer: fast, base: fast.nbytes } });
    await waitFor(() => fast.nbytes >= BURST, 30000, `the fast viewer got all ${BURST} bytes (has ${fast.nbytes})`);
    assert.equal(fast.nbytes, BURST, "the fast viewer got every byte, once");
    assert.deepEqual(fast.msgs.filter((m) => m.type === "dropped"), [], "the fast viewer lost nothing");
    // corrald has fed the whole burst (the fast viewer has it). What can sit between the ring and
    // the paused reader: the kernel queues now (corrald's SO_SNDBUF is 64 KB; the client's window
    // never grows while it does not read), what Node read into the paused socket's buffer before
    // it stopped reading, and one lws frame (WS_CHUNK, 8 KB, with slack for its header).
    const queued = { ...socketQueues(stalled.ws._socket.localPort), node: stalled.ws._socket.readableLength };
    const least = BURST - queued.bytes - queued.node - 65536 - 16384;
    assert.ok(least > 0, `the burst exceeds ring + socket buffers: ${JSON.stringify(queued)}`);
    stalled.ws._socket.resume();
    // Notices may come as the viewer falls behind and on resume; their running total covers it all.
    const dropped = await stalled.msg((m) => m.type === "dropped" && m.total >= least,
      `dropped notices totalling at least ${least} bytes (kernel queues before resume ${JSON.stringify(queued)})`,
      30000).catch((e) => {
      throw new Error(`${e.message}; got ${JSON.stringify(stalled.msgs.filter((m) => m.type === "dropped"))} and ` +
        `${stalled.nbytes} bytes`);
    });
    // Every byte the board printed is either received or reported dropped: nothing vanishes.
    const lost = () => stalled.msgs.filter((m) => m.type === "dropped").at(-1).total;
    await waitFor(() => stalled.nbytes + lost() >= BURST, 30000, `the stalled viewer caught up (${dropped.total} dropped)`);
    const total = lost();
    assert.equal(stalled.nbytes + total, BURST, `received ${stalled.nbytes} + dropped ${total}`);
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
