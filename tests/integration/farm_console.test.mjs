// Consoles across the farm: three corrald on one private PostgreSQL (pg.mjs), tokens on, one
// farm_secret. /ws/v1/boards/{id}/console opened on host A for a MicroPython board attached to
// host B is relayed by A to B (A checks the viewer's token, B trusts A's farm credential and the
// identity it vouches for): a writer on A types print(6*7) and sees 42, a read-only viewer on C
// sees it too and is refused typing by B, the write lock and leases hold across hosts; an upgrade
// to B with a wrong farm credential is refused by B (401); host C frozen (SIGSTOP) or B killed
// (SIGKILL) closes A's relayed viewer with "host unreachable".
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { events, startFarm } from "./farm_lib.mjs";
import { ROOT, api, startCorrald, waitFor } from "./lib.mjs";

const STALE_S = 3;
const FARM_SECRET = "farm-secret-3b9d0e6a41f2c857";
const SECRETS = { view: "viewer-secret-7f3a9c21", ops: "operator-secret-5d8e2b44", boss: "admin-secret-9c1f7e03" };
const sha = (s) => createHash("sha256").update(s).digest("hex");
const TOKENS = `\n[token view]\nrole = viewer\nsecret = sha256:${sha(SECRETS.view)}\n\n[token ops]\nrole = operator\n`
  + `secret = ${SECRETS.ops}\n\n[token boss]\nrole = admin\nsecret = ${SECRETS.boss}\n`;
const bearer = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });
const CORRAL = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");
const LAYOUT = { "rack-a": ["a1"], "rack-b": ["b1"], "rack-c": ["c1"] };

/** A console socket: JSON messages in msgs, binary bytes in bytes; closed: {code, reason}. */
function wsOpen(base, p, headers = {}) {
  const ws = new WebSocket(base.replace(/^http/, "ws") + p, { headers });
  const c = { ws, msgs: [], bytes: Buffer.alloc(0), closed: null };
  ws.on("message", (data, isBinary) => {
    if (isBinary) c.bytes = Buffer.concat([c.bytes, data]);
    else c.msgs.push(JSON.parse(data.toString()));
  });
  c.closedP = new Promise((resolve) => ws.on("close", (code, reason) => { c.closed = { code, reason: reason.toString() }; resolve(c.closed); }));
  c.ready = new Promise((resolve, reject) => {
    ws.once("open", () => resolve(c));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => { const e = new Error(`HTTP ${res.statusCode} ${body}`); e.status = res.statusCode; e.body = body; reject(e); });
    });
    ws.once("error", reject);
  });
  c.send = (obj) => ws.send(JSON.stringify(obj));
  c.msg = (pred, what) => waitFor(() => c.msgs.find(pred), 15000, what);
  c.text = () => c.bytes.toString("latin1");
  return c;
}

describe("consoles across the farm: relayed host to host", () => {
  let farm, url, dir, hosts;
  const open = [];
  /** Open board's console on host h as who, once h routes it (its table refreshes every STALE_S/3 s). */
  const consoleOn = async (h, board, who, name) => {
    let c;
    await waitFor(async () => {
      c = wsOpen(h.url, `/ws/v1/boards/${board}/console?name=${name}`, bearer(who));
      try {
        await c.ready;
        return true;
      } catch (e) {
        if (e.status !== 404) throw e;
        return false;
      }
    }, 10000, `${board}'s console open on ${h.url}`);
    open.push(c);
    await c.msg((m) => m.type === "hello", `hello on ${name}`);
    return c;
  };

  before(async () => {
    farm = await startFarm(LAYOUT, { db: "farm_console", staleS: STALE_S, conf: `farm_secret = ${FARM_SECRET}\n${TOKENS}`,
      headers: bearer("view") });
    ({ url, dir, hosts } = farm);
  });
  after(async () => {
    for (const c of open) c.ws.terminate();
    await farm?.stop();
  });

  test("a writer on A types into B's board and sees 42; a read-only viewer on C sees it too and may not type", async () => {
    const writer = await consoleOn(hosts["rack-a"], "b1", "ops", "alice");
    const watcher = await consoleOn(hosts["rack-c"], "b1", "view", "carol");
    const hello = writer.msgs.find((m) => m.type === "hello");
    assert.equal(hello.board, "b1");
    assert.equal(hello.online, true, JSON.stringify(hello));
    // the viewer counts and names are B's: both relayed viewers joined B's console
    assert.notEqual(hello.viewer, watcher.msgs.find((m) => m.type === "hello").viewer);

    writer.send({ type: "take" });
    await writer.msg((m) => m.type === "lock" && m.writer === true, "the write lock, through the relay");
    const lock = await watcher.msg((m) => m.type === "lock" && m.holder?.name === "alice", "C told that alice holds the lock");
    assert.equal(lock.writer, false);
    const w0 = writer.bytes.length, v0 = watcher.bytes.length;
    writer.ws.send(Buffer.from("print(6*7)\r"));
    await waitFor(() => /\r\n42\r\n/.test(writer.bytes.subarray(w0).toString("latin1")), 15000, "42 on A's writer");
    await waitFor(() => /\r\n42\r\n/.test(watcher.bytes.subarray(v0).toString("latin1")), 15000, "42 on C's viewer");

    // the viewer role is enforced by B on the identity C vouched for: nothing reaches the board
    const v1 = watcher.bytes.length;
    watcher.ws.send(Buffer.from("print(1000+337)\r"));
    watcher.send({ type: "take" });
    const refused = await watcher.msg((m) => m.type === "error" && m.code === "forbidden", "forbidden for a viewer");
    assert.match(refused.message, /token 'view' has the viewer role/);
    // an operator on C is still refused the lock alice holds through A
    const second = await consoleOn(hosts["rack-c"], "b1", "ops", "dave");
    second.send({ type: "take" });
    await second.msg((m) => m.type === "error" && m.code === "lock_held", "lock_held for a second writer on another host");
    writer.ws.send(Buffer.from("print(5*5)\r"));
    await waitFor(() => /\r\n25\r\n/.test(watcher.bytes.subarray(v1).toString("latin1")), 15000, "25 on C's viewer");
    assert.doesNotMatch(watcher.bytes.subarray(v1).toString("latin1"), /1337/, "the viewer's bytes never reached the board");
    // output larger than a relay read (frames of up to 8 KB arrive in pieces, forwarded as fragments)
    const w2 = writer.bytes.length, v2 = watcher.bytes.length;
    writer.ws.send(Buffer.from("print('y' * 30000 + 'Z')\r"));
    const burst = new RegExp(`\r\ny{30000}Z\r\n`);
    await waitFor(() => burst.test(writer.bytes.subarray(w2).toString("latin1")), 20000, "30000 bytes of output on A");
    await waitFor(() => burst.test(watcher.bytes.subarray(v2).toString("latin1")), 20000, "30000 bytes of output on C");
    writer.send({ type: "release" });
    await writer.msg((m) => m.type === "lock" && m.holder === null, "released");
    second.ws.close();
  });

  test("a lease taken through host C binds the writer on host A: without it nothing is sent, with it the lock is had", async () => {
    const onB = events(hosts["rack-b"].url, bearer("view")); // the board's host: it enforces the lease
    await onB.ready;
    const r = await api(hosts["rack-c"].url, "POST", "/api/v1/reservations", { match: { board: "b1" }, ttl_s: 60, owner: "ci" },
      bearer("ops"));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    try {
      const w = await consoleOn(hosts["rack-a"], "b1", "ops", "erin");
      w.send({ type: "take" });
      const e = await w.msg((m) => m.type === "error", "take refused on the reserved board");
      assert.equal(e.code, "board_reserved", JSON.stringify(e));
      w.send({ type: "take", lease: r.body.token });
      await w.msg((m) => m.type === "lock" && m.writer === true, "the lease holder's take, through the relay");
      const b0 = w.bytes.length;
      w.ws.send(Buffer.from("print(7*6)\r"));
      await waitFor(() => /\r\n42\r\n/.test(w.bytes.subarray(b0).toString("latin1")), 15000, "42 with the lease");
      w.ws.close();
    } finally {
      await api(hosts["rack-a"].url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined,
        { ...bearer("ops"), "X-Corral-Lease": r.body.token });
      // released through A: once B's stream shows it, B enforces it (the next test types freely)
      await waitFor(() => onB.msgs.some((m) => m.type === "reservation.released" && m.data?.id === r.body.id), 15000,
        "the release on rack-b's event stream");
      await onB.close();
    }
  });

  test("the board's host enforces a lease granted or released on other hosts from the moment its event stream shows it", async () => {
    const b = hosts["rack-b"];
    const onB = events(b.url, bearer("view"));
    await onB.ready;
    const w = await consoleOn(b, "b1", "ops", "frank"); // straight to B: no relay hop for B to catch up in
    const seen = (type, id) => onB.msgs.some((m) => m.type === type && m.data?.id === id);
    const newMsg = (n, pred, what) => waitFor(() => w.msgs.slice(n).find(pred), 15000, what);
    let n = w.msgs.length, b0 = 0;
    w.send({ type: "take" });
    assert.equal((await newMsg(n, (m) => m.type === "lock" || m.type === "error", "the take")).writer, true);
    const r = await api(hosts["rack-c"].url, "POST", "/api/v1/reservations", { match: { board: "b1" }, ttl_s: 60, owner: "ci" },
      bearer("ops"));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    try {
      await waitFor(() => seen("reservation.created", r.body.id), 15000, "the lease made on C, on B's stream");
      // B took the lock from frank as a grant on B itself would, and his bytes no longer reach the board
      const revoked = await newMsg(n, (m) => m.type === "lock" && m.writer === false, "frank's lock revoked on B");
      assert.equal(revoked.code, "lease_granted", JSON.stringify(revoked));
      n = w.msgs.length;
      b0 = w.bytes.length;
      w.ws.send(Buffer.from("print(11*11)\r"));
      const refused = await newMsg(n, (m) => m.type === "error", "B refusing frank's bytes");
      assert.ok(["read_only", "board_reserved", "not_writer"].includes(refused.code), JSON.stringify(refused));
    } finally {
      await api(hosts["rack-a"].url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined,
        { ...bearer("ops"), "X-Corral-Lease": r.body.token });
    }
    await waitFor(() => seen("reservation.released", r.body.id), 15000, "the release made on A, on B's stream");
    n = w.msgs.length;
    w.send({ type: "take" });
    const again = await newMsg(n, (m) => m.type === "lock" || m.type === "error", "the take after the release");
    assert.equal(again.writer, true, JSON.stringify(again));
    const b1 = w.bytes.length;
    w.ws.send(Buffer.from("print(12*12)\r"));
    await waitFor(() => /\r\n144\r\n/.test(w.bytes.subarray(b1).toString("latin1")) || w.msgs.slice(n).find((m) => m.type === "error"),
      15000, "144, or B's refusal");
    assert.deepEqual(w.msgs.slice(n).filter((m) => m.type === "error"), [], "B refused the writer after the release");
    // 144 came back after 11*11 was refused: had those bytes reached the board, 121 would be before it
    assert.doesNotMatch(w.bytes.subarray(b0).toString("latin1"), /121/, "bytes reached the board while leased on C");
    w.send({ type: "release" });
    await onB.close();
  });

  test("the corral CLI, unchanged: `corral console b1` against host A types into B's board", async () => {
    const p = spawn(CORRAL, ["console", "b1"], { env: { ...process.env, CORRAL_URL: hosts["rack-a"].url, CORRAL_TOKEN: SECRETS.ops,
      CORRAL_LEASE: "" }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    const done = new Promise((resolve) => p.on("exit", (code) => resolve(code)));
    p.stdin.end("print('re' + 'layed', 6 * 7)\r");
    const code = await Promise.race([done, new Promise((r) => setTimeout(() => { p.kill(); r("timeout"); }, 20000))]);
    assert.equal(code, 0, `exit ${code}: ${stderr}`);
    assert.match(stdout, /relayed 42\r\n/, JSON.stringify(stdout));
  });

  test("a browser's session on A relays too, and logging out on A closes the relayed socket (session_ended)", async () => {
    const a = hosts["rack-a"];
    const cookie = (await api(a.url, "POST", "/api/v1/login", { token: SECRETS.ops })).headers.get("set-cookie").split(";")[0];
    const c = wsOpen(a.url, "/ws/v1/boards/b1/console?name=web", { cookie });
    await c.ready;
    open.push(c);
    await c.msg((m) => m.type === "hello" && m.board === "b1" && m.online === true, "hello from b1 through the cookie's session");
    c.send({ type: "take" });
    await c.msg((m) => m.type === "lock" && m.writer === true, "the lock, as the session's operator");
    c.send({ type: "release" });
    assert.equal((await api(a.url, "POST", "/api/v1/logout", undefined, { cookie })).status, 200);
    const closed = await Promise.race([c.closedP, new Promise((r) => setTimeout(() => r(null), 10000))]);
    assert.deepEqual(closed, { code: 1008, reason: "session_ended: logged out or the token was removed" });
  });

  test("host B refuses a relay without the farm credential; no host logs the secret", async () => {
    const b = hosts["rack-b"];
    const id = { "x-corral-farm-user": "mallory", "x-corral-farm-role": "admin", "x-corral-farm-host": "rack-x" };
    for (const farm of ["wrong-secret-0000000000", "", FARM_SECRET.slice(0, -1)]) {
      const c = wsOpen(b.url, "/ws/v1/boards/b1/console", { ...id, "x-corral-farm": farm });
      const e = await c.ready.then(() => null, (err) => err);
      assert.ok(e, `a relay with farm credential '${farm}' was accepted`);
      assert.equal(e.status, 401, e.message);
      assert.equal(JSON.parse(e.body).error.code, "invalid_token");
    }
    // the right credential without an identity to vouch for is refused too
    const noUser = wsOpen(b.url, "/ws/v1/boards/b1/console", { "x-corral-farm": FARM_SECRET, "x-corral-farm-role": "admin" });
    assert.equal((await noUser.ready.then(() => null, (err) => err))?.status, 401);
    // and the right one is what A sends (the positive case): B serves its own board's console
    const ok = wsOpen(b.url, "/ws/v1/boards/b1/console", { ...id, "x-corral-farm-role": "viewer", "x-corral-farm": FARM_SECRET });
    await ok.ready;
    open.push(ok);
    await ok.msg((m) => m.type === "hello", "hello to a vouched-for viewer");
    ok.ws.close();
    assert.match(b.stderr(), /refused a console relay from host 'rack-x'/);
    for (const h of Object.values(hosts)) assert.ok(!h.stderr().includes(FARM_SECRET.slice(-16)), "the farm secret in a log");
  });

  test("a host without farm_secret does not relay: the viewer's socket closes saying what to set", async () => {
    const conf = path.join(dir, "rack-d.conf");
    writeFileSync(conf, `store = ${url}\nhost_name = rack-d\nhost_stale_s = ${STALE_S}\n${TOKENS}`);
    const d = await startCorrald({ args: ["--config", conf] });
    try {
      for (let i = 0; i < 3; i++) { // the same refusal each time, the host unharmed
        const c = await waitFor(async () => {
          const x = wsOpen(d.url, "/ws/v1/boards/b1/console", bearer("ops"));
          return x.ready.then(() => x, (e) => { if (e.status !== 404) throw e; return null; });
        }, 10000, "b1's console on rack-d");
        const closed = await c.closedP;
        assert.deepEqual(closed, { code: 1008, reason: "board on host rack-b: set farm_secret on every host to relay it" });
      }
      assert.equal((await api(d.url, "GET", "/api/v1/boards", undefined, bearer("view"))).status, 200);
    } finally {
      const { code } = await d.stop();
      assert.equal(code, 0);
      assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    }
  });

  test("a host with another farm_secret is refused by the board's host: the viewer is told, HTTP 401", async () => {
    const conf = path.join(dir, "rack-e.conf");
    writeFileSync(conf, `store = ${url}\nhost_name = rack-e\nhost_stale_s = ${STALE_S}\nfarm_secret = not-the-farm-secret-000\n${TOKENS}`);
    const e = await startCorrald({ args: ["--config", conf] });
    try {
      const c = await waitFor(async () => {
        const x = wsOpen(e.url, "/ws/v1/boards/b1/console", bearer("ops"));
        return x.ready.then(() => x, (err) => { if (err.status !== 404) throw err; return null; });
      }, 10000, "b1's console on rack-e");
      assert.deepEqual(await c.closedP, { code: 1014, reason: "host rack-b refused the console relay (HTTP 401)" });
      assert.match(hosts["rack-b"].stderr(), /refused a console relay from host 'rack-e'/);
    } finally {
      const { code } = await e.stop();
      assert.equal(code, 0);
      assert.doesNotMatch(e.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    }
  });

  test("C frozen (SIGSTOP, its sockets open but silent): A's relayed viewer is closed within the bound, host unreachable", async () => {
    const c = hosts["rack-c"];
    const viewer = await consoleOn(hosts["rack-a"], "c1", "view", "hank");
    const t0 = Date.now();
    c.proc.kill("SIGSTOP");
    try {
      const closed = await Promise.race([viewer.closedP, new Promise((r) => setTimeout(() => r(null), 15000))]);
      assert.ok(closed, "A's viewer still open 15 s after C froze");
      assert.equal(closed.code, 1014);
      assert.equal(closed.reason, "host unreachable: rack-c: connection lost");
      const ms = Date.now() - t0;
      assert.ok(ms >= (STALE_S - 1) * 1000, `closed after ${ms} ms: before C could have missed a PING`);
      process.stderr.write(`# farm_console: frozen host given up after ${ms} ms (host_stale_s ${STALE_S})\n`);
    } finally {
      c.proc.kill("SIGCONT");
    }
    // back: C's board is relayed again once C beats again
    await waitFor(async () => (await api(hosts["rack-a"].url, "GET", "/api/v1/boards/c1", undefined, bearer("view"))).body.state
      === "online", 20000, "c1 online again as A sees it");
    const again = await consoleOn(hosts["rack-a"], "c1", "view", "ivy");
    assert.equal(again.msgs.find((m) => m.type === "hello").online, true);
    again.ws.close();
  });

  test("B killed: A's relayed viewer is closed with the reason host unreachable; a new one is refused the same way", async () => {
    const viewer = await consoleOn(hosts["rack-a"], "b1", "view", "frank");
    await hosts["rack-b"].stop("SIGKILL");
    const closed = await Promise.race([viewer.closedP, new Promise((r) => setTimeout(() => r(null), 15000))]);
    assert.ok(closed, "A's viewer still open 15 s after B died");
    assert.equal(closed.code, 1014);
    assert.equal(closed.reason, "host unreachable: rack-b: connection lost");
    const again = wsOpen(hosts["rack-a"].url, "/ws/v1/boards/b1/console", bearer("view"));
    await again.ready;
    const c2 = await again.closedP;
    assert.equal(c2.code, 1014);
    assert.match(c2.reason, /^host unreachable: rack-b \(/);
    // A's own board is untouched
    const local = await consoleOn(hosts["rack-a"], "a1", "view", "gina");
    assert.equal(local.msgs.find((m) => m.type === "hello").board, "a1");
    local.ws.close();
  });

  test("every remaining host stops cleanly: exit 0, no sanitizer report", async () => {
    for (const c of open) c.ws.terminate();
    for (const name of ["rack-a", "rack-c"]) {
      const { code, sig } = await hosts[name].stop();
      assert.equal(code, 0, `${name} exited ${code ?? sig}`);
      assert.doesNotMatch(hosts[name].stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/, name);
    }
  });
});
