// Cheap denial of service, written as the attack (loopback only, every loop bounded): idle and
// trickling connections cannot hold the front door or max_connections, a request head has a
// deadline from accept (not per byte), WebSocket connections count per address, and running out
// of file descriptors neither spins a thread nor outlives the attack.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, startCorrald, waitFor } from "./lib.mjs";

const sockets = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The client side needs ~1200 descriptors: raise the soft limit (to the hard one) if lower. */
function ensureNofile(want) {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const [soft, hard] = line.split(/\s+/).slice(3, 5).map((x) => (x === "unlimited" ? Infinity : Number(x)));
  if (soft >= want) return;
  const n = Math.max(want, hard === Infinity ? want : hard);
  execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${n}:${n}`]);
}

/** A raw connection from localAddress that records what the server says and when it closes. */
function rawConnect(port, localAddress) {
  const s = net.connect({ port, host: "127.0.0.1", localAddress });
  const rec = { s, data: "", connected: false, closed: false };
  sockets.add(s);
  s.on("connect", () => { rec.connected = true; });
  s.on("data", (d) => { rec.data += d.toString(); });
  s.on("error", () => {});
  s.on("close", () => { rec.closed = true; sockets.delete(s); });
  return rec;
}

function destroyAll() {
  for (const s of sockets) s.destroy();
  sockets.clear();
}

/** GET on a new connection from 127.0.0.1; {status, body, ms} (ms: connect to the end of the answer). */
function timedGet(port, target, extra = "") {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.1" });
    s.setTimeout(30000, () => s.destroy(new Error(`no answer to GET ${target} in 30 s`)));
    const chunks = [];
    s.on("data", (x) => chunks.push(x));
    s.on("error", reject);
    s.on("end", () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const text = Buffer.concat(chunks).toString();
      const split = text.indexOf("\r\n\r\n");
      const body = text.slice(split + 4);
      resolve({ status: Number(text.split(" ")[1]), body: body.startsWith("{") || body.startsWith("[") ? JSON.parse(body) : body, ms });
    });
    s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);
  });
}

async function metrics(url, headers = {}) {
  const text = (await api(url, "GET", "/metrics", undefined, headers)).body;
  const get = (name) => {
    const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\d+)$`, "m"));
    assert.ok(m, `no ${name} in /metrics:\n${text}`);
    return Number(m[1]);
  };
  return {
    refused: (reason) => get(`corral_connections_refused_total{reason="${reason}"}`),
    open: (kind) => get(`corral_connections{kind="${kind}"}`),
    pauses: () => get("corral_accept_pauses_total"),
  };
}

/** CPU share of pid over ms (utime + stime from /proc/PID/stat). */
async function cpuShare(pid, ms) {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]); // fields 14 and 15
  };
  const hz = Number(execFileSync("getconf", ["CLK_TCK"]).toString());
  const a = ticks(), t0 = Date.now();
  await sleep(ms);
  return (ticks() - a) / hz / ((Date.now() - t0) / 1000);
}

const wsOpen = (url, localAddress) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, { localAddress });
  ws.once("open", () => resolve({ open: true, ws }));
  ws.once("unexpected-response", (req, res) => {
    let body = "";
    res.on("data", (d) => { body += d; });
    res.on("end", () => resolve({ open: false, status: res.statusCode, body: JSON.parse(body) }));
  });
  ws.once("error", reject);
});

describe("denial of service at default limits (max_connections_per_address = 8)", () => {
  let d, dir, port;
  before(async () => {
    ensureNofile(4096);
    dir = mkdtempSync(path.join(tmpdir(), "corral-dos-"));
    writeFileSync(path.join(dir, "corrald.conf"), "max_connections_per_address = 8\n");
    d = await startCorrald({ args: ["--config", path.join(dir, "corrald.conf")] });
    port = Number(new URL(d.url).port);
  });
  after(async () => {
    destroyAll();
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-2000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("600 connections trickling a header byte each second from 127.0.0.2 do not stop a client on 127.0.0.1", async (t) => {
    const head = "GET /api/v1/boards HTTP/1.1\r\nHost: x\r\nX-Slow: " + "y".repeat(64);
    const recs = [];
    for (let i = 0; i < 600; i++) {
      recs.push(rawConnect(port, "127.0.0.2"));
      if (i % 100 === 99) await sleep(50);
    }
    let sent = 0;
    const trickle = setInterval(() => { // one byte per connection per second, never the end of the head
      for (const r of recs) if (r.connected && !r.closed) r.s.write(head[sent % head.length]);
      sent++;
    }, 1000);
    try {
      await waitFor(() => recs.every((r) => r.connected || r.closed), 20000, "all 600 connected or refused");
      await sleep(1500); // trickling in full swing
      const times = [];
      for (let k = 0; k < 5; k++) {
        const r = await timedGet(port, "/api/v1/boards");
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.ok(Array.isArray(r.body.boards ?? r.body), JSON.stringify(r.body));
        times.push(r.ms);
      }
      t.diagnostic(`GET /api/v1/boards from 127.0.0.1 during the attack: ${times.map((x) => x.toFixed(1)).join(", ")} ms`);
      const m = await metrics(d.url);
      // An address keeps its newest 16 undecided connections (max_pending_per_address); the
      // tricklers never reach max_connections.
      assert.ok(m.open("pending") <= 16, `pending ${m.open("pending")}`);
      assert.ok(m.open("http") <= 8, `http ${m.open("http")}`); // this client's, not 512 tricklers
      const evictions = m.refused("max_pending_per_address") + m.refused("pending_full");
      assert.ok(evictions >= 600 - 16, `evicted ${evictions}`);
      const evicted = recs.filter((r) => r.closed && /^HTTP\/1\.1 (429 [\s\S]*"too_many_pending"|503 [\s\S]*"pending_full")/.test(r.data));
      assert.ok(evicted.length >= 500, `${evicted.length} heard why they were closed`);
    } finally {
      clearInterval(trickle);
      destroyAll();
    }
  });

  test("100 idle connections from the client's own address do not delay a new client", async (t) => {
    const recs = [];
    for (let i = 0; i < 100; i++) recs.push(rawConnect(port, "127.0.0.1"));
    try {
      await waitFor(() => recs.every((r) => r.connected || r.closed), 10000, "100 idle connections");
      const r = await timedGet(port, "/api/v1/boards");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      t.diagnostic(`GET /api/v1/boards behind 100 idle connections: ${r.ms.toFixed(1)} ms`);
      await waitFor(() => recs.filter((x) => x.closed).length >= 100 - 16, 5000, "the oldest idle ones evicted");
    } finally {
      destroyAll();
    }
  });

  test("WebSocket connections count against max_connections_per_address", async () => {
    const ws = [];
    try {
      for (let i = 0; i < 8; i++) {
        const r = await wsOpen(d.url.replace(/^http/, "ws") + "/ws/v1/events", "127.0.0.4");
        assert.equal(r.open, true, JSON.stringify(r));
        ws.push(r.ws);
      }
      assert.equal((await metrics(d.url)).open("ws"), 8);
      const ninth = await wsOpen(d.url.replace(/^http/, "ws") + "/ws/v1/events", "127.0.0.4");
      assert.equal(ninth.open, false);
      assert.equal(ninth.status, 429);
      assert.equal(ninth.body.error.code, "too_many_connections_from_address");
      assert.equal(ninth.body.error.details.limit, 8);
      assert.equal((await timedGet(port, "/api/v1/boards")).status, 200); // other addresses unaffected
      assert.ok((await metrics(d.url)).refused("max_connections_per_address") >= 1);
    } finally {
      await Promise.all(ws.map((w) => new Promise((r) => { w.once("close", r); w.close(); })));
    }
    await waitFor(async () => (await metrics(d.url)).open("ws") === 0, 5000, "closed WebSockets given back");
  });
});

const SECRET = "dos-test-viewer-secret-0123456789";
const AUTH = { authorization: `Bearer ${SECRET}` };
const AUTH_LINE = `Authorization: Bearer ${SECRET}\r\n`;

/** Trickle one byte of text every 200 ms on r until the server closes it (at most 40 bytes). */
async function trickleUntilClosed(r, text) {
  let n = 0;
  while (!r.closed && n < 40) { // 40 bytes at 200 ms: 8 s, far past a 2 s deadline
    r.s.write(text[n % text.length]);
    n++;
    await sleep(200);
  }
  return n;
}

describe("denial of service at a low descriptor limit (nofile 256, head_timeout = 2, a token)", () => {
  let d, dir, port;
  before(async () => {
    ensureNofile(4096);
    dir = mkdtempSync(path.join(tmpdir(), "corral-dos-"));
    writeFileSync(path.join(dir, "corrald.conf"), `head_timeout = 2\n\n[token v]\nrole = viewer\nsecret = ${SECRET}\n`);
    d = await startCorrald({ wrapper: ["prlimit", "--nofile=256:256", "--"],
      args: ["--config", path.join(dir, "corrald.conf")] });
    port = Number(new URL(d.url).port);
  });
  after(async () => {
    destroyAll();
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-2000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a trickler is cut at the head deadline although it keeps sending", async () => {
    const r = rawConnect(port, "127.0.0.5");
    await waitFor(() => r.connected, 5000, "connected");
    const t0 = Date.now();
    const head = "GET /api/v1/boards HTTP/1.1\r\nHost: x\r\nX-Slow: " + "y".repeat(64);
    try {
      await trickleUntilClosed(r, head);
      const ms = Date.now() - t0;
      assert.equal(r.closed, true, "still open after 8 s of trickling");
      assert.ok(ms >= 1900, `cut after ${ms} ms, before the deadline`);
      assert.match(r.data, /^HTTP\/1\.1 408 /);
      const body = JSON.parse(r.data.slice(r.data.indexOf("\r\n\r\n") + 4));
      assert.equal(body.error.code, "request_timeout");
      assert.equal(body.error.details.head_timeout_ms, 2000);
      assert.ok((await metrics(d.url, AUTH)).refused("head_timeout") >= 1);
    } finally {
      destroyAll();
    }
  });

  test("a keep-alive connection's next request head gets the same deadline", async () => {
    const r = rawConnect(port, "127.0.0.7");
    try {
      await waitFor(() => r.connected, 5000, "connected");
      r.s.write(`GET /api/v1/boards HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}\r\n`);
      await waitFor(() => /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n[\s\S]*\n$/.test(r.data), 5000, "the first answer");
      const t0 = Date.now();
      await trickleUntilClosed(r, "GET /api/v1/boards HTTP/1.1\r\nHost: x\r\nX-Slow: " + "y".repeat(64));
      const ms = Date.now() - t0;
      assert.equal(r.closed, true, "the kept-alive trickler is still open after 8 s");
      assert.ok(ms >= 1900, `cut after ${ms} ms, before the deadline`);
      assert.ok((await metrics(d.url, AUTH)).refused("idle_timeout") >= 1);
    } finally {
      destroyAll();
    }
  });

  test("an unauthenticated request's body gets the head's deadline too", async () => {
    const r = rawConnect(port, "127.0.0.8");
    try {
      await waitFor(() => r.connected, 5000, "connected");
      r.s.write("PATCH /api/v1/boards/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
      const t0 = Date.now();
      await trickleUntilClosed(r, " ");
      const ms = Date.now() - t0;
      assert.equal(r.closed, true, "the body trickler is still open after 8 s");
      assert.ok(ms >= 1900, `cut after ${ms} ms, before the deadline`);
    } finally {
      destroyAll();
    }
  });

  test("1100 half-open /ws/ connections at nofile 256: no spinning thread, service once they close", async (t) => {
    const recs = [];
    const upgrade = "GET /ws/v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${AUTH_LINE}\r\n`;
    try {
      for (let i = 0; i < 1100; i++) {
        const r = rawConnect(port, "127.0.0.6");
        r.s.on("connect", () => r.s.write(upgrade)); // and then never read nor close
        recs.push(r);
        if (i % 100 === 99) await sleep(20);
      }
      // ~220 sessions fill corrald's 256 descriptors; the rest wait or are refused.
      await waitFor(() => recs.filter((r) => /^HTTP\/1\.1 101 /.test(r.data)).length >= 150, 20000, "150 sessions");
      await sleep(1000);
      const cpu = await cpuShare(d.proc.pid, 3000);
      t.diagnostic(`corrald CPU over 3 s at the fd limit: ${(cpu * 100).toFixed(1)} %`);
      assert.ok(cpu < 0.2, `corrald used ${(cpu * 100).toFixed(1)} % CPU at the fd limit`);
      assert.match(d.stderr(), /front door: out of file descriptors \(Too many open files\)/);
      const told = recs.filter((r) => /^HTTP\/1\.1 503 [\s\S]*"out_of_file_descriptors"/.test(r.data)).length;
      assert.ok(told >= 1, "no connection was refused with out_of_file_descriptors");
      t.diagnostic(`${told} connection(s) refused with 503 out_of_file_descriptors`);
    } finally {
      destroyAll();
    }
    const r = await waitFor(async () => {
      const x = await timedGet(port, "/api/v1/boards", AUTH_LINE).catch(() => null);
      return x && x.status === 200 && x;
    }, 20000, "service once the connections closed");
    assert.equal(r.status, 200);
    const m = await metrics(d.url, AUTH);
    assert.ok(m.refused("fd_limit") >= 1);
    assert.ok(m.pauses() >= 1);
    await waitFor(() => /front door: accepting again/.test(d.stderr()), 5000, "the recovery logged");
  });
});
