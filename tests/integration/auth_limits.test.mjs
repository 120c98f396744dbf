// Auth rough edges (issue 14, finding 4), written as the attacks: a login brute force meets 429
// (per address, then per token), failed logins are counted and logged, one token cannot evict
// the other tokens' sessions, the liveness probe needs no token and says only "up", and a
// WebSocket does not outlive its logout or its token's removal.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, startCorrald, waitFor } from "./lib.mjs";

const SECRETS = { view: "viewer-secret-limits-1", ops: "operator-secret-limits-2", boss: "admin-secret-limits-3" };
const sha = (s) => createHash("sha256").update(s).digest("hex");
const config = (names) => names.map((n) => `[token ${n}]\nrole = ${{ view: "viewer", ops: "operator", boss: "admin" }[n]}\n` +
  `secret = sha256:${sha(SECRETS[n])}\n`).join("\n");

/** POST /api/v1/login from a chosen local address (127.0.0.x). */
function loginFrom(base, token, localAddress = "127.0.0.1") {
  const u = new URL(base + "/api/v1/login");
  const body = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", localAddress,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let t = "";
      res.on("data", (d) => { t += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(t) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const cookieOf = (r) => r.headers["set-cookie"][0].split(";")[0];
const metric = (text, name) => Number((text.match(new RegExp(`^${name} (\\d+)$`, "m")) || [])[1]);

describe("auth limits", () => {
  let d, dir, cfgFile;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-authlim-"));
    cfgFile = path.join(dir, "corrald.conf");
    writeFileSync(cfgFile, config(["view", "ops", "boss"]));
    d = await startCorrald({ args: ["--config", cfgFile] });
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a login brute force from one address gets 429 with Retry-After; failures are counted and logged", async () => {
    const codes = [];
    let limited;
    for (let i = 0; i < 15; i++) {
      const r = await loginFrom(d.url, `wrong-guess-${i}-xxxxxxxx`);
      codes.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(codes, [...Array(10).fill(401), ...Array(5).fill(429)]);
    assert.equal(limited.body.error.code, "too_many_logins");
    const ra = Number(limited.headers["retry-after"]);
    assert.ok(ra >= 1 && ra <= 60, `Retry-After ${limited.headers["retry-after"]}`);
    // While limited, even the right secret is refused from that address: a guess tells nothing.
    assert.equal((await loginFrom(d.url, SECRETS.view)).status, 429);
    // Another address is not affected.
    const other = await loginFrom(d.url, SECRETS.view, "127.0.0.2");
    assert.equal(other.status, 200, JSON.stringify(other.body));
    const m = await api(d.url, "GET", "/metrics", undefined, { authorization: `Bearer ${SECRETS.view}` });
    assert.equal(metric(m.body, "corral_login_failures_total"), 10);
    assert.equal(metric(m.body, "corral_login_rate_limited_total"), 6);
    assert.match(d.stderr(), /login: wrong token from 127\.0\.0\.1/);
  });

  test("one token's logins end only its own oldest sessions, never another token's; then 429 per token", async () => {
    const viewer = cookieOf(await loginFrom(d.url, SECRETS.view, "127.0.0.3"));
    const ops = [];
    for (let i = 0; i < 20; i++) {
      const r = await loginFrom(d.url, SECRETS.ops, "127.0.0.3");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ops.push(cookieOf(r));
    }
    const who = (cookie) => api(d.url, "GET", "/api/v1/session", undefined, { cookie });
    assert.equal((await who(viewer)).status, 200, "the viewer's session survives 20 logins of another token");
    assert.equal((await who(ops[0])).status, 401, "ops' own oldest session made room (16 per token)");
    assert.equal((await who(ops[3])).status, 401);
    assert.equal((await who(ops[4])).status, 200);
    assert.equal((await who(ops[19])).status, 200);
    // 30 logins per token per minute, from any address.
    for (let i = 20; i < 30; i++) assert.equal((await loginFrom(d.url, SECRETS.ops, "127.0.0.4")).status, 200);
    const over = await loginFrom(d.url, SECRETS.ops, "127.0.0.5");
    assert.equal(over.status, 429, JSON.stringify(over.body));
    assert.ok(Number(over.headers["retry-after"]) >= 1);
  });

  test("/api/v1/health/live answers without a token and says only 'up'; /api/v1/health still needs one", async () => {
    const live = await api(d.url, "GET", "/api/v1/health/live");
    assert.equal(live.status, 200);
    assert.deepEqual(live.body, { status: "up" });
    assert.equal((await api(d.url, "GET", "/api/v1/health")).status, 401);
    const full = await api(d.url, "GET", "/api/v1/health", undefined, { authorization: `Bearer ${SECRETS.view}` });
    assert.equal(full.status, 200);
    assert.equal(full.body.audit.failures, 0);
    assert.equal((await api(d.url, "POST", "/api/v1/health/live")).status, 405);
  });

  const wsOpen = (p, headers) => new Promise((resolve, reject) => {
    const ws = new WebSocket(d.url.replace(/^http/, "ws") + p, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
  const closed = (ws) => new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));

  test("logout closes the WebSockets opened with that session, not the others", async () => {
    const mine = cookieOf(await loginFrom(d.url, SECRETS.boss, "127.0.0.6"));
    const theirs = cookieOf(await loginFrom(d.url, SECRETS.boss, "127.0.0.6"));
    const a = await wsOpen("/ws/v1/events", { cookie: mine });
    const b = await wsOpen("/ws/v1/events", { cookie: theirs });
    const aClosed = closed(a);
    let bClosed = false;
    b.once("close", () => { bClosed = true; });
    const out = await api(d.url, "POST", "/api/v1/logout", undefined, { cookie: mine });
    assert.equal(out.body.ended, true);
    const c = await aClosed;
    assert.equal(c.code, 1008);
    assert.match(c.reason, /session_ended/);
    // The other session's socket is still open and still works.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bClosed, false);
    assert.equal(b.readyState, WebSocket.OPEN);
    b.close();
  });

  test("removing a token (SIGHUP) closes the WebSockets opened with it", async () => {
    const ws = await wsOpen("/ws/v1/events", { authorization: `Bearer ${SECRETS.ops}` });
    const keep = await wsOpen("/ws/v1/events", { authorization: `Bearer ${SECRETS.view}` });
    const gone = closed(ws);
    writeFileSync(cfgFile, config(["view", "boss"]));
    d.proc.kill("SIGHUP");
    const c = await gone;
    assert.equal(c.code, 1008);
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/session", undefined,
      { authorization: `Bearer ${SECRETS.ops}` })).status === 401, 5000, "ops to be gone");
    assert.equal(keep.readyState, WebSocket.OPEN);
    keep.close();
  });
});
