// User auth against the real corrald: tokens with roles from the config file (viewer, operator,
// admin), Authorization: Bearer, the session cookie from /api/v1/login, WebSocket auth, the
// audit log, and the rule that a non-loopback listener needs tokens. Traffic only ever goes to
// 127.0.0.1.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, CORRALD, ROOT, silentServer, startCorrald, waitFor } from "./lib.mjs";
import { sharedPostgres } from "./pg.mjs";

const CORRAL = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");

const SECRETS = { view: "viewer-secret-7f3a9c21", ops: "operator-secret-5d8e2b44", boss: "admin-secret-9c1f7e03" };
const sha = (s) => createHash("sha256").update(s).digest("hex");
// The viewer's secret is configured pre-hashed, the others in plain text (hashed at load).
const CONFIG = `
[token view]
role = viewer
secret = sha256:${sha(SECRETS.view)}

[token ops]
role = operator
secret = ${SECRETS.ops}

[token boss]
role = admin
secret = ${SECRETS.boss}
`;
const bearer = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });

function writeConfig(text) {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-auth-"));
  const file = path.join(dir, "corrald.conf");
  writeFileSync(file, text);
  return { dir, file };
}

/** Try a WebSocket upgrade; resolves {open: true, ws} or {status, headers, body}. */
function wsTry(base, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + p, { headers });
    const msgs = [];
    ws.on("message", (data, isBinary) => { if (!isBinary) msgs.push(JSON.parse(data.toString())); });
    ws.once("open", () => resolve({ open: true, ws, msgs }));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ open: false, status: res.statusCode, headers: res.headers, body: JSON.parse(body) }));
    });
    ws.once("error", reject);
  });
}
const wsClose = (ws) => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });

/** Run corrald to its exit; resolves {code, stderr}. */
function runToExit(args, ms = 20000) {
  return new Promise((resolve, reject) => {
    const p = spawn(CORRALD, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    const t = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`corrald still running after ${ms} ms:\n${err}`)); }, ms);
    p.on("exit", (code) => { clearTimeout(t); resolve({ code, stderr: err }); });
  });
}

describe("listen address and tokens", () => {
  test("a non-loopback listen address without tokens refuses to start and says why", async () => {
    const state = mkdtempSync(path.join(tmpdir(), "corral-auth-"));
    const r = await runToExit(["--listen", "0.0.0.0:0", "--state-dir", state, "--no-udev"]);
    rmSync(state, { recursive: true, force: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0:0 without tokens/);
    assert.match(r.stderr, /\[token NAME\]/);
    assert.doesNotMatch(r.stderr, /listening on/);
  });

  test("a non-loopback listen address with tokens starts and enforces them", async () => {
    const cfg = writeConfig(CONFIG);
    const d = await startCorrald({ args: ["--config", cfg.file, "--listen", "0.0.0.0:0"] });
    try {
      assert.equal((await api(d.url, "GET", "/api/v1/boards")).status, 401); // reached over 127.0.0.1
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("view"))).status, 200);
    } finally { await d.stop(); rmSync(cfg.dir, { recursive: true, force: true }); }
  });

  test("loopback without tokens stays open and says auth is off", async () => {
    const d = await startCorrald();
    try {
      const r = await api(d.url, "GET", "/api/v1/session");
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { auth: false, name: "anonymous", role: "admin", via: "none" });
      assert.equal((await api(d.url, "POST", "/api/v1/login", { token: "whatever-token-123" })).body.error.code, "auth_disabled");
    } finally { await d.stop(); }
  });

  test("a malformed sha256 secret stops start-up with file:line", async () => {
    const cfg = writeConfig("[token t]\nrole = viewer\nsecret = sha256:abc\n");
    const r = await runToExit(["--config", cfg.file, "--listen", "127.0.0.1:0", "--state-dir", cfg.dir, "--no-udev"]);
    rmSync(cfg.dir, { recursive: true, force: true });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /corrald\.conf:3: 'secret = sha256:\.\.\.' wants 64 hex digits/);
  });
});

describe("tokens on loopback", () => {
  let d, cfg, quiet;
  before(async () => {
    cfg = writeConfig(CONFIG);
    quiet = await silentServer();
    d = await startCorrald({ args: ["--config", cfg.file, "--port", `quiet=socket://127.0.0.1:${quiet.port},family=micropython`] });
  });
  after(async () => {
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-2000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    quiet.close();
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  test("no token is 401 with WWW-Authenticate: Bearer", async () => {
    const r = await api(d.url, "GET", "/api/v1/boards");
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /^Bearer realm="corral"/);
    assert.equal(r.body.error.code, "unauthorized");
  });

  test("a wrong token is 401 invalid_token", async () => {
    const r = await api(d.url, "GET", "/api/v1/boards", undefined, { authorization: "Bearer not-a-real-token-000" });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token"/);
    assert.equal(r.body.error.code, "invalid_token");
  });

  test("another scheme than Bearer is 401", async () => {
    const basic = "Basic " + Buffer.from(`view:${SECRETS.view}`).toString("base64");
    assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { authorization: basic })).status, 401);
  });

  test("/metrics needs a token too", async () => {
    assert.equal((await api(d.url, "GET", "/metrics")).status, 401);
    assert.equal((await api(d.url, "GET", "/metrics", undefined, bearer("view"))).status, 200);
  });

  test("the web console's files are served without a token", async () => {
    const r = await fetch(`${d.url}/index.html`);
    assert.equal(r.status, 200);
  });

  test("a viewer can read", async () => {
    const r = await api(d.url, "GET", "/api/v1/boards/quiet", undefined, bearer("view"));
    assert.equal(r.status, 200);
    assert.equal(r.body.id, "quiet");
  });

  test("a viewer queueing a job gets 403 naming the operator role", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify" }, bearer("view"));
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
    assert.equal(r.body.error.details.required_role, "operator");
    assert.match(r.body.error.message, /operator role/);
  });

  test("an operator can queue a job and reserve a board", async () => {
    const j = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify", timeout_s: 5 }, bearer("ops"));
    assert.equal(j.status, 202, JSON.stringify(j.body));
    assert.equal((await api(d.url, "POST", `/api/v1/jobs/${j.body.id}/cancel`, undefined, bearer("ops"))).status < 300, true);
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "quiet" }, ttl_s: 60, owner: "auth-test" },
      bearer("ops"));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const rel = await api(d.url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined,
      { ...bearer("ops"), "x-corral-lease": r.body.token });
    assert.ok(rel.status < 300, JSON.stringify(rel.body));
  });

  test("an operator cannot read the audit log, an admin can", async () => {
    const o = await api(d.url, "GET", "/api/v1/audit", undefined, bearer("ops"));
    assert.equal(o.status, 403);
    assert.equal(o.body.error.details.required_role, "admin");
    const a = await api(d.url, "GET", "/api/v1/audit?limit=5", undefined, bearer("boss"));
    assert.equal(a.status, 200);
    assert.ok(Array.isArray(a.body.entries));
    assert.ok(a.body.entries.length <= 5);
  });

  test("the audit limit is checked", async () => {
    const r = await api(d.url, "GET", "/api/v1/audit?limit=0", undefined, bearer("boss"));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_query");
  });

  test("an admin lists the tokens by name and role, never their secrets", async () => {
    const r = await api(d.url, "GET", "/api/v1/tokens", undefined, bearer("boss"));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.tokens, [{ name: "view", role: "viewer" }, { name: "ops", role: "operator" },
      { name: "boss", role: "admin" }]);
  });

  test("deleting firmware needs the admin role", async () => {
    const bytes = Buffer.alloc(4096, 0x5a);
    const up = await api(d.url, "POST", "/api/v1/firmware?filename=auth-test.bin", bytes,
      { ...bearer("ops"), "content-type": "application/octet-stream" });
    assert.ok(up.status === 201 || up.status === 200, JSON.stringify(up.body));
    const byOps = await api(d.url, "DELETE", `/api/v1/firmware/${up.body.id}`, undefined, bearer("ops"));
    assert.equal(byOps.status, 403);
    assert.equal(byOps.body.error.details.required_role, "admin");
    const byBoss = await api(d.url, "DELETE", `/api/v1/firmware/${up.body.id}`, undefined, bearer("boss"));
    assert.ok(byBoss.status < 300, JSON.stringify(byBoss.body));
  });

  test("a viewer's firmware upload is refused with 403 and stores nothing", async () => {
    const bytes = Buffer.alloc(8192, 0x11);
    const r = await api(d.url, "POST", "/api/v1/firmware?filename=nope.bin", bytes,
      { ...bearer("view"), "content-type": "application/octet-stream" });
    assert.equal(r.status, 403);
    const list = await api(d.url, "GET", "/api/v1/firmware", undefined, bearer("view"));
    assert.ok(!list.body.firmware.some((f) => f.filename === "nope.bin"));
  });

  test("login sets an HttpOnly SameSite=Strict session cookie that authenticates", async () => {
    const r = await api(d.url, "POST", "/api/v1/login", { token: SECRETS.view });
    assert.equal(r.status, 200);
    assert.deepEqual({ name: r.body.name, role: r.body.role }, { name: "view", role: "viewer" });
    const sc = r.headers.get("set-cookie");
    assert.match(sc, /^corral_session=[0-9a-f]{64};/);
    assert.match(sc, /HttpOnly/);
    assert.match(sc, /SameSite=Strict/);
    assert.match(sc, /Path=\//);
    const cookie = sc.split(";")[0];
    const who = await api(d.url, "GET", "/api/v1/session", undefined, { cookie });
    assert.deepEqual(who.body, { auth: true, name: "view", role: "viewer", via: "session" });
  });

  test("login with a wrong token is 401 and sets no cookie", async () => {
    const r = await api(d.url, "POST", "/api/v1/login", { token: "wrong-token-0000000" });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("set-cookie"), null);
  });

  test("logout ends the session: the cookie no longer works", async () => {
    const cookie = (await api(d.url, "POST", "/api/v1/login", { token: SECRETS.ops })).headers.get("set-cookie").split(";")[0];
    assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { cookie })).status, 200);
    const out = await api(d.url, "POST", "/api/v1/logout", undefined, { cookie });
    assert.equal(out.status, 200);
    assert.equal(out.body.ended, true);
    assert.match(out.headers.get("set-cookie"), /corral_session=;.*Max-Age=0/);
    assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { cookie })).status, 401);
  });

  test("a made-up session cookie is 401", async () => {
    const cookie = `corral_session=${"ab".repeat(32)}`;
    assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { cookie })).status, 401);
  });

  test("WebSocket console and events without a token are refused with 401", async () => {
    for (const p of ["/ws/v1/events", "/ws/v1/boards/quiet/console"]) {
      const r = await wsTry(d.url, p);
      assert.equal(r.open, false, p);
      assert.equal(r.status, 401, p);
      assert.match(r.headers["www-authenticate"], /^Bearer/);
      assert.equal(r.body.error.code, "unauthorized");
    }
  });

  test("WebSocket with a bearer token opens", async () => {
    const r = await wsTry(d.url, "/ws/v1/events", bearer("view"));
    assert.equal(r.open, true);
    await wsClose(r.ws);
  });

  test("WebSocket with the session cookie opens", async () => {
    const cookie = (await api(d.url, "POST", "/api/v1/login", { token: SECRETS.view })).headers.get("set-cookie").split(";")[0];
    const r = await wsTry(d.url, "/ws/v1/boards/quiet/console", { cookie });
    assert.equal(r.open, true);
    await wsClose(r.ws);
  });

  test("a viewer watches the console but cannot take the write lock", async () => {
    const r = await wsTry(d.url, "/ws/v1/boards/quiet/console", bearer("view"));
    assert.equal(r.open, true);
    r.ws.send(JSON.stringify({ type: "take" }));
    const e = await waitFor(() => r.msgs.find((m) => m.type === "error"), 5000, "refusal");
    assert.equal(e.code, "forbidden");
    assert.match(e.message, /operator role/);
    await wsClose(r.ws);
  });

  test("an operator takes the console's write lock", async () => {
    const r = await wsTry(d.url, "/ws/v1/boards/quiet/console", bearer("ops"));
    r.ws.send(JSON.stringify({ type: "take" }));
    await waitFor(() => r.msgs.find((m) => m.type === "lock" && m.writer === true), 5000, "lock granted");
    await wsClose(r.ws);
  });

  test("the audit log records token, method, path and status of mutating requests, not GETs", async () => {
    const marker = `audit-${Date.now()}`;
    const p = await api(d.url, "PATCH", "/api/v1/boards/quiet", { notes: marker }, bearer("ops"));
    assert.equal(p.status, 200, JSON.stringify(p.body));
    await api(d.url, "GET", "/api/v1/boards/quiet", undefined, bearer("ops"));
    const denied = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify" }, bearer("view"));
    assert.equal(denied.status, 403);
    const { entries } = (await api(d.url, "GET", "/api/v1/audit?limit=1000", undefined, bearer("boss"))).body;
    const [newest, previous] = entries;
    assert.deepEqual({ token: newest.token, method: newest.method, path: newest.path, status: newest.status },
      { token: "view", method: "POST", path: "/api/v1/boards/quiet/jobs", status: 403 });
    assert.deepEqual({ token: previous.token, method: previous.method, path: previous.path, status: previous.status },
      { token: "ops", method: "PATCH", path: "/api/v1/boards/quiet", status: 200 });
    assert.match(newest.at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(!entries.some((e) => e.method === "GET" || e.method === "HEAD"), "no reads in the audit log");
    assert.ok(entries.some((e) => e.token === "view" && e.path === "/api/v1/login"), "logins are recorded");
  });

  test("the CLI sends CORRAL_TOKEN as a bearer token; without it corrald's 401 reaches the user", async () => {
    const run = (env) => spawnSync(CORRAL, ["--server", d.url, "--json", "boards"],
      { env: { ...process.env, CORRAL_TOKEN: "", ...env }, encoding: "utf8", timeout: 20000 });
    const ok = run({ CORRAL_TOKEN: SECRETS.view });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /"quiet"/);
    const no = run({});
    assert.notEqual(no.status, 0);
    assert.match(no.stderr, /token/i);
  });

  test("the plain secrets never reach the state directory", async () => {
    if (d.pgDb) { // the PostgreSQL store (CORRAL_TEST_STORE=pg): nor its database
      const dump = sharedPostgres().dump(d.pgDb);
      assert.ok(dump.includes("CREATE TABLE public.audit"));
      for (const [name, s] of Object.entries(SECRETS)) assert.equal(dump.indexOf(Buffer.from(s)), -1, `${name}'s secret in the database`);
      return;
    }
    const files = readdirSync(d.stateDir).filter((f) => f.startsWith("corral.db"));
    assert.ok(files.length > 0);
    for (const f of files) {
      const bytes = readFileSync(path.join(d.stateDir, f));
      for (const [name, s] of Object.entries(SECRETS))
        assert.equal(bytes.indexOf(Buffer.from(s)), -1, `${name}'s secret in ${f}`);
    }
  });
});
