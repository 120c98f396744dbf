// SIGHUP against the real corrald: limits and tokens apply live, a bad file is refused whole and
// the running config kept, keys that need a restart keep their running value (and the log says
// so), and a storm of reloads while HTTP and WebSocket clients hammer the daemon (the SIGHUP
// reload-under-load run of `make tsan`) answers every request from one whole config or the other.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, silentServer, startCorrald, waitFor } from "./lib.mjs";

const SECRETS = { ops: "operator-secret-5d8e2b44", alpha: "alpha-secret-71c0d2e9aa", beta: "beta-secret-3f9b8e11cc" };
const sha = (s) => createHash("sha256").update(s).digest("hex");
const bearer = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });
const token = (name, role = "operator") => `[token ${name}]\nrole = ${role}\nsecret = sha256:${sha(SECRETS[name])}\n`;

/** Replace the file in one step (rename), so corrald never reads half of it. */
function writeConf(file, text) {
  writeFileSync(file + ".tmp", text);
  renameSync(file + ".tmp", file);
}

/** Outcomes of reloads so far (each SIGHUP logs exactly one of the two). */
const reloads = (d) => (d.stderr().match(/configuration reloaded|reload refused/g) || []).length;

/** SIGHUP and wait until corrald has logged the outcome of that reload; returns "applied" or "refused". */
async function hup(d) {
  const n = reloads(d);
  d.proc.kill("SIGHUP");
  await waitFor(() => reloads(d) > n, 20000, "the reload to be logged");
  const all = d.stderr().match(/configuration reloaded|reload refused/g);
  return all[all.length - 1] === "reload refused" ? "refused" : "applied";
}

function wsTry(base, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + p, { headers });
    ws.once("open", () => resolve({ open: true, ws }));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (x) => { body += x; });
      res.on("end", () => resolve({ open: false, status: res.statusCode, body: JSON.parse(body) }));
    });
    ws.once("error", reject);
  });
}
const wsClose = (ws) => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });

const patchNotes = (d, n, who = "ops") =>
  api(d.url, "PATCH", "/api/v1/boards/b", JSON.stringify({ notes: "x".repeat(n) }), who ? bearer(who) : {});
const upload = (d, n) => api(d.url, "POST", "/api/v1/firmware?filename=blob.bin", Buffer.alloc(n, 7),
  { "content-type": "application/octet-stream", ...bearer("ops") });

describe("SIGHUP reload", () => {
  let d, dir, conf, board;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-reload-"));
    conf = path.join(dir, "corrald.conf");
    board = await silentServer();
  });
  after(() => { board.close(); rmSync(dir, { recursive: true, force: true }); });

  const port = () => `[port b]\nurl = socket://127.0.0.1:${board.port}\nfamily = micropython\n`;
  async function start(text) {
    writeConf(conf, text);
    d = await startCorrald({ args: ["--config", conf] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer("ops"))).body.state === "online",
      15000, "board b online");
  }
  async function stop() {
    const { code } = await d.stop();
    assert.equal(code, 0, d.stderr().slice(-3000));
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:/);
  }

  test("max_body, max_upload and max_viewers apply live, in both directions", async () => {
    await start(`max_body = 4K\nmax_upload = 8K\nmax_viewers = 2\n${token("ops")}${port()}`);
    try {
      assert.equal((await patchNotes(d, 2000)).status, 200);
      const up = await upload(d, 6000);
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const v1 = await wsTry(d.url, "/ws/v1/boards/b/console", bearer("ops"));
      const v2 = await wsTry(d.url, "/ws/v1/boards/b/console", bearer("ops"));
      assert.ok(v1.open && v2.open, "two viewers under max_viewers = 2");
      await wsClose(v2.ws);

      writeConf(conf, `max_body = 1K\nmax_upload = 4K\nmax_viewers = 1\n${token("ops")}${port()}`);
      assert.equal(await hup(d), "applied");
      const small = await patchNotes(d, 2000);
      assert.equal(small.status, 413);
      assert.equal(small.body.error.code, "body_too_large");
      assert.equal(small.body.error.details.limit_bytes, 1024);
      const big = await upload(d, 6000);
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, "upload_too_large");
      const v3 = await wsTry(d.url, "/ws/v1/boards/b/console", bearer("ops"));
      assert.equal(v3.open, false, "v1 holds the only place now");
      assert.equal(v3.status, 429);
      assert.match(v3.body.error.message, /1 viewers.*max_viewers/);
      await wsClose(v1.ws);

      writeConf(conf, `max_body = 4K\nmax_upload = 8K\nmax_viewers = 2\n${token("ops")}${port()}`);
      assert.equal(await hup(d), "applied");
      assert.equal((await patchNotes(d, 2000)).status, 200, "raised again");
    } finally {
      await stop();
    }
  });

  test("max_queued_jobs applies live to a board already online", async () => {
    await start(`max_queued_jobs = 1\n${token("ops")}${port()}`);
    const submit = () => api(d.url, "POST", "/api/v1/boards/b/jobs", { kind: "identify", timeout_s: 60 }, bearer("ops"));
    const ids = [];
    /** Submit until a 429; returns how many were accepted. */
    async function fill() {
      for (let i = 0; i < 8; i++) {
        const r = await submit();
        if (r.status === 429) { assert.equal(r.body.error.code, "queue_full"); return i; }
        assert.equal(r.status, 202, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      assert.fail("no 429 after 8 jobs");
    }
    try {
      const before = await fill();
      assert.ok(before >= 1 && before <= 2, `accepted ${before} with max_queued_jobs = 1`); // one running + one queued
      writeConf(conf, `max_queued_jobs = 3\n${token("ops")}${port()}`);
      assert.equal(await hup(d), "applied");
      const more = await fill();
      assert.ok(more >= 2 && more <= 3, `accepted ${more} more with max_queued_jobs = 3`);
    } finally {
      for (const id of ids) await api(d.url, "POST", `/api/v1/jobs/${id}/cancel`, undefined, bearer("ops"));
      await stop();
    }
  });

  test("tokens apply live: an added token works, a removed one gets 401, its sessions end", async () => {
    await start(`${token("ops")}${token("alpha")}${port()}`);
    try {
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("alpha"))).status, 200);
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("beta"))).status, 401);
      const login = await api(d.url, "POST", "/api/v1/login", { token: SECRETS.alpha });
      assert.equal(login.status, 200);
      const cookie = login.headers.get("set-cookie").split(";")[0];
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { cookie })).status, 200);

      writeConf(conf, `${token("ops")}${token("beta")}${port()}`);
      assert.equal(await hup(d), "applied");
      assert.match(d.stderr(), /configuration reloaded: 1 static port\(s\), 2 token\(s\)/);
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("beta"))).status, 200);
      const gone = await api(d.url, "GET", "/api/v1/boards", undefined, bearer("alpha"));
      assert.equal(gone.status, 401);
      assert.equal(gone.body.error.code, "invalid_token");
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, { cookie })).status, 401, "alpha's session ended");
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("ops"))).status, 200, "ops unchanged");
      const wsBeta = await wsTry(d.url, "/ws/v1/events", bearer("beta"));
      assert.ok(wsBeta.open, "beta opens WebSockets");
      await wsClose(wsBeta.ws);
      const wsAlpha = await wsTry(d.url, "/ws/v1/events", bearer("alpha"));
      assert.equal(wsAlpha.status, 401);
    } finally {
      await stop();
    }
  });

  test("a bad file on reload is refused whole: limits, tokens and ports stay as they run", async () => {
    const s2 = await silentServer();
    let started = false;
    try {
      await start(`max_body = 1K\n${token("ops")}${port()}`);
      started = true;
      // Valid changes first, then one bad line: nothing of it applies.
      writeConf(conf, `max_body = 4K\n${token("ops")}${token("beta")}${port()}` +
        `[port c]\nurl = socket://127.0.0.1:${s2.port}\nmax_viewers = lots\n`);
      assert.equal(await hup(d), "refused");
      assert.match(d.stderr(), /reload refused, keeping the running configuration: .*corrald\.conf:\d+: unknown key 'max_viewers' in a \[port\] section/);
      assert.equal((await patchNotes(d, 2000)).status, 413, "max_body stays 1K");
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("beta"))).status, 401, "beta not added");
      assert.equal((await api(d.url, "GET", "/api/v1/boards/c", undefined, bearer("ops"))).status, 404, "port c not added");

      // Well-formed lines that fail the checks across keys: refused too.
      writeConf(conf, `max_body = 4K\n${token("ops")}[token twin]\nrole = viewer\nsecret = sha256:${sha(SECRETS.ops)}\n${port()}`);
      assert.equal(await hup(d), "refused");
      assert.match(d.stderr(), /reload refused, keeping the running configuration: tokens 'ops' and 'twin' have the same secret/);
      assert.equal((await patchNotes(d, 2000)).status, 413, "max_body still 1K");

      // A missing file: refused, still running.
      rmSync(conf);
      assert.equal(await hup(d), "refused");
      assert.match(d.stderr(), /reload refused, keeping the running configuration: .*corrald\.conf: No such file or directory/);
      assert.equal((await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer("ops"))).body.state, "online");
    } finally {
      s2.close(); // first: a failing stop() must not leave it holding the event loop
      if (started) await stop();
    }
  });

  test("on a public address a reload that removes every token is refused whole", async () => {
    writeConf(conf, `max_body = 1K\n${token("ops")}${port()}`);
    // A later --listen wins over lib's 127.0.0.1:0; requests still go to 127.0.0.1.
    d = await startCorrald({ args: ["--config", conf, "--listen", "0.0.0.0:0"] });
    try {
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer("ops"))).body.state === "online",
        15000, "board b online");
      writeConf(conf, `max_body = 4K\n${port()}`);
      assert.equal(await hup(d), "refused");
      assert.match(d.stderr(), /reload refused, keeping the running configuration: refusing to listen on 0\.0\.0\.0:0 without tokens/);
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("ops"))).status, 200, "ops still valid");
      assert.equal((await api(d.url, "GET", "/api/v1/boards")).status, 401, "still closed to anonymous callers");
      assert.equal((await patchNotes(d, 2000)).status, 413, "max_body of the refused file not applied");
    } finally {
      await stop();
    }
  });

  test("keys that need a restart keep their running value and the log names them; the rest applies", async () => {
    await start(`max_body = 1K\n${token("ops")}${port()}`);
    try {
      // (listen and web_root come from flags here, which override the file.)
      writeConf(conf, `stub_dir = /srv/stubs\nws_origins = https://farm.example\nmax_body = 4K\n${token("ops")}${port()}`);
      assert.equal(await hup(d), "applied");
      assert.match(d.stderr(), /reload: stub_dir, ws_origins changed in the file; that takes a restart, the running value stays/);
      assert.equal((await patchNotes(d, 2000)).status, 200, "max_body applied");
      const t = await wsTry(d.url, "/ws/v1/events", { ...bearer("ops"), origin: "https://farm.example" });
      assert.equal(t.status, 403, "ws_origins as at start");
      assert.equal(t.body.error.code, "origin_not_allowed");
    } finally {
      await stop();
    }
  });

  test("a storm of reloads under HTTP and WebSocket load: every answer comes from one whole config", async () => {
    const s2 = await silentServer();
    // Two configs that differ in a limit, a token, a static port and a viewer limit.
    const A = `max_body = 1K\nmax_viewers = 64\n${token("ops")}${token("alpha")}${port()}`;
    const B = `max_body = 4K\nmax_viewers = 64\n${token("ops")}${token("beta")}${port()}` +
      `[port extra]\nurl = socket://127.0.0.1:${s2.port}\n`;
    const bad = [];
    let stopLoad = false, served = 0, wsOpened = 0;
    const check = (what, ok, detail) => { served++; if (!ok) bad.push(`${what}: ${JSON.stringify(detail).slice(0, 300)}`); };
    const loops = [
      async () => { // ops always works
        while (!stopLoad) {
          const r = await api(d.url, "GET", "/api/v1/boards", undefined, bearer("ops"));
          check("GET boards as ops", r.status === 200, r);
        }
      },
      async () => { // a body between the two limits: 200 (B) or 413 naming A's limit
        while (!stopLoad) {
          const r = await patchNotes(d, 2000);
          check("PATCH 2000 bytes", r.status === 200 || (r.status === 413 && r.body.error.details.limit_bytes === 1024), r);
        }
      },
      async () => { // alpha and beta come and go: 200 or 401, never anything else
        while (!stopLoad) {
          const who = served % 2 ? "alpha" : "beta";
          const r = await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer(who));
          check(`GET board b as ${who}`, r.status === 200 || (r.status === 401 && r.body.error.code === "invalid_token"), r);
        }
      },
      async () => { // event stream sockets as ops always open
        while (!stopLoad) {
          const t = await wsTry(d.url, "/ws/v1/events", bearer("ops"));
          check("WS events as ops", t.open, t.status && t.body);
          if (t.open) { wsOpened++; await wsClose(t.ws); }
        }
      },
      async () => { // consoles of the board that stays
        while (!stopLoad) {
          const t = await wsTry(d.url, "/ws/v1/boards/b/console", bearer("ops"));
          check("WS console b as ops", t.open, t.status && t.body);
          if (t.open) { wsOpened++; await wsClose(t.ws); }
        }
      },
    ];
    let applied = 0, started = false;
    try {
      await start(A);
      started = true;
      // Each loop settles to null, or to the transport error (reset, refused) that ended it early.
      const running = loops.map((f) => f().then(() => null, (e) => e));
      try {
        for (let i = 0; i < 60; i++) {
          writeConf(conf, i % 2 ? A : B);
          if ((await hup(d)) === "applied") applied++;
        }
      } finally {
        stopLoad = true;
        for (const e of await Promise.all(running))
          if (e) bad.push(`a client loop failed: ${e.cause?.code || e}`);
      }
      assert.deepEqual(bad, [], `${bad.length} wrong answers of ${served}`);
      assert.equal(applied, 60, "every reload applied");
      assert.ok(served > 60 && wsOpened > 0, `load ran alongside: ${served} answers, ${wsOpened} sockets`);
      // The last file written was A (i = 59): alpha works, beta does not, the limit is 1K.
      assert.equal((await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer("alpha"))).status, 200);
      assert.equal((await api(d.url, "GET", "/api/v1/boards/b", undefined, bearer("beta"))).status, 401);
      assert.equal((await patchNotes(d, 2000)).status, 413);
    } finally {
      s2.close(); // first: a failing stop() must not leave it holding the event loop
      if (started) await stop();
    }
  });
});
