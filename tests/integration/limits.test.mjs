// Every user-controllable resource has a limit, set in the config file, and going over it gives
// a clear error: request body, firmware upload, console viewers per board, queued jobs per
// port, stored log lines per job, concurrent HTTP connections; bad values stop start-up with
// file:line.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, CORRALD, silentServer, startCorrald, waitFor, waitJob } from "./lib.mjs";

function wsTry(base, p) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + p);
    ws.once("open", () => resolve({ open: true, ws }));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ open: false, status: res.statusCode, body: JSON.parse(body) }));
    });
    ws.once("error", reject);
  });
}
/** GET on a new connection (fetch would reuse a pooled one, already admitted). */
function freshGet(port, target) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks = [];
    s.on("data", (x) => chunks.push(x));
    s.on("error", reject);
    s.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      const split = text.indexOf("\r\n\r\n");
      const head = text.slice(0, split);
      const body = text.slice(split + 4);
      resolve({ status: Number(head.split(" ")[1]), head, body: body.startsWith("{") ? JSON.parse(body) : body });
    });
    s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}
const wsClose = (ws) => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });

describe("limits", () => {
  let d, dir, q1, q2, q3;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-limits-"));
    writeFileSync(path.join(dir, "corrald.conf"), [
      "max_body = 1K", "max_upload = 4K", "max_viewers = 2", "max_queued_jobs = 1", "max_log_lines = 3",
      "max_connections = 6", ""].join("\n"));
    q1 = await silentServer(); q2 = await silentServer(); q3 = await silentServer();
    d = await startCorrald({ args: ["--config", path.join(dir, "corrald.conf"),
      "--port", `queue=socket://127.0.0.1:${q1.port},family=micropython`,
      "--port", `logs=socket://127.0.0.1:${q2.port},family=micropython`,
      "--port", `watched=socket://127.0.0.1:${q3.port},family=micropython`] });
  });
  after(async () => {
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-2000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    q1.close(); q2.close(); q3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a body over max_body is 413 body_too_large naming the limit", async () => {
    const r = await api(d.url, "PATCH", "/api/v1/boards/queue", JSON.stringify({ notes: "x".repeat(2048) }));
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "body_too_large");
    assert.equal(r.body.error.details.limit_bytes, 1024);
  });

  test("a firmware upload over max_upload is 413 upload_too_large", async () => {
    const r = await api(d.url, "POST", "/api/v1/firmware?filename=big.bin", Buffer.alloc(8192, 1),
      { "content-type": "application/octet-stream" });
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "upload_too_large");
  });

  test("a console over max_viewers refuses the upgrade with 429 too_many_viewers", async () => {
    const a = await wsTry(d.url, "/ws/v1/boards/watched/console");
    const b = await wsTry(d.url, "/ws/v1/boards/watched/console");
    assert.ok(a.open && b.open);
    const c = await wsTry(d.url, "/ws/v1/boards/watched/console");
    assert.equal(c.open, false);
    assert.equal(c.status, 429);
    assert.equal(c.body.error.code, "too_many_viewers");
    assert.match(c.body.error.message, /2 viewers.*max_viewers/);
    await wsClose(a.ws);
    const again = await waitFor(async () => { const t = await wsTry(d.url, "/ws/v1/boards/watched/console"); return t.open && t; },
      5000, "a free place after one left");
    await wsClose(again.ws);
    await wsClose(b.ws);
  });

  test("jobs beyond max_queued_jobs on a port are 429 queue_full", async () => {
    const ids = [];
    let full = null;
    for (let i = 0; i < 4 && !full; i++) {
      const r = await api(d.url, "POST", "/api/v1/boards/queue/jobs", { kind: "identify", timeout_s: 30 });
      if (r.status === 202) ids.push(r.body.id);
      else full = r;
    }
    assert.ok(full, "some job was refused");
    assert.equal(full.status, 429);
    assert.equal(full.body.error.code, "queue_full");
    assert.ok(ids.length >= 1 && ids.length <= 2, `accepted ${ids.length}`); // one running + one queued
    for (const id of ids) await api(d.url, "POST", `/api/v1/jobs/${id}/cancel`);
  });

  test("a job's log keeps max_log_lines lines and then one truncation marker", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/logs/jobs", { kind: "identify", timeout_s: 20 });
    assert.equal(r.status, 202);
    await waitJob(d.url, r.body.id, 60000);
    const job = (await api(d.url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
    assert.equal(job.log.length, 4, JSON.stringify(job.log));
    assert.match(job.log[3].line, /^… log truncated \(\d+ more lines?\)$/);
    assert.doesNotMatch(job.log[2].line, /log truncated/);
  });

  test("connections beyond max_connections get a 503 too_many_connections", async () => {
    const { port } = new URL(d.url);
    // Six connections that sent a request head and hold its body back (a head still arriving
    // stays in the front door, outside max_connections; WebSockets count too, hence six).
    const held = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect(Number(port), "127.0.0.1");
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      s.write("PATCH /api/v1/boards/queue HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
      held.push(s);
    }
    // Pooled keep-alive connections from earlier tests count too: held ones make sure of six.
    const r = await waitFor(async () => {
      const x = await freshGet(Number(port), "/api/v1/health").catch(() => null);
      return x && x.status === 503 && x;
    }, 5000, "a 503 once six connections are held");
    assert.equal(r.body.error.code, "too_many_connections");
    assert.equal(r.body.error.details.limit, 6);
    assert.match(r.head, /\r\nRetry-After: 1\r\n/);
    for (const s of held) s.destroy();
    await waitFor(async () => (await freshGet(Number(port), "/api/v1/health")).status === 200, 15000, "service again");
  });
});

describe("limit keys in the config file", () => {
  const bad = [
    ["max_viewers = 0", /:2: 'max_viewers' must be a whole number from 1 to 64, not '0'/],
    ["max_viewers = 65", /:2: 'max_viewers' must be a whole number from 1 to 64/],
    ["max_log_lines = many", /:2: 'max_log_lines' must be a whole number from 1 to 1000000, not 'many'/],
    ["max_connections = -1", /:2: 'max_connections' must be a whole number from 1 to 65536/],
    ["max_body = 0", /:2: 'max_body' must be a size/],
    ["head_timeout = 0", /:2: 'head_timeout' must be a whole number of seconds from 1 to 300, not '0'/],
    ["max_pending_per_address = 257", /:2: 'max_pending_per_address' must be a whole number from 1 to 256/],
    ["max_connections_per_address = x", /:2: 'max_connections_per_address' must be a whole number from 1 to 65536, not 'x'/],
  ];
  for (const [line, want] of bad) {
    test(`'${line}' stops start-up with file:line`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "corral-limits-"));
      const conf = path.join(dir, "corrald.conf");
      writeFileSync(conf, `# limits\n${line}\n`);
      const r = await new Promise((resolve) => {
        const p = spawn(CORRALD, ["--config", conf, "--listen", "127.0.0.1:0", "--state-dir", dir, "--no-udev"],
          { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        p.stderr.on("data", (x) => { err += x; });
        p.on("exit", (code) => resolve({ code, err }));
      });
      rmSync(dir, { recursive: true, force: true });
      assert.equal(r.code, 2);
      assert.match(r.err, new RegExp("corrald\\.conf" + want.source));
    });
  }
});
