// The reservations API (/api/v1/reservations) against the real corrald: validation (400), unknown
// ids and matches (404), who holds what (409), the lease token on renew/release (401/403), the
// console's write lock behind the lease, events, and leases surviving a restart. The boards are
// silent TCP servers: a lease needs a present board, not a talking one.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, eventsSince, silentServer, startCorrald, waitFor } from "./lib.mjs";

describe("reservations API", () => {
  let d, s1, s2;
  before(async () => {
    s1 = await silentServer();
    s2 = await silentServer();
    d = await startCorrald({ keepState: true, args: [
      "--port", `b1=socket://127.0.0.1:${s1.port},family=esp32`,
      "--port", `b2=socket://127.0.0.1:${s2.port},family=esp32`,
    ] });
    for (const b of ["b1", "b2"]) {
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, `${b} online`);
      await api(d.url, "PATCH", `/api/v1/boards/${b}`, { labels: ["lab", b] });
    }
  });
  after(async () => {
    await d?.stop();
    if (d) rmSync(d.stateDir, { recursive: true, force: true });
    s1?.close();
    s2?.close();
  });

  const post = (body) => api(d.url, "POST", "/api/v1/reservations", body);
  const lease = (token) => ({ "X-Corral-Lease": token });
  const give = async (r) => api(d.url, "DELETE", `/api/v1/reservations/${r.id}`, undefined, lease(r.token));

  test("a body without match is 400 invalid_match", async () => {
    const r = await post({ ttl_s: 60 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_match");
  });

  test("a match with an unknown key is 400 naming the key", async () => {
    const r = await post({ match: { colour: "red" } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.details.field, "colour");
  });

  test("a ttl_s of 0 is 400 invalid_field ttl_s", async () => {
    const r = await post({ match: {}, ttl_s: 0 });
    assert.equal(r.status, 400);
    assert.deepEqual([r.body.error.code, r.body.error.details.field], ["invalid_field", "ttl_s"]);
  });

  test("a wait_s over 300 is 400", async () => {
    const r = await post({ match: {}, wait_s: 301 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.details.field, "wait_s");
  });

  test("a match no board satisfies is 404 no_matching_board", async () => {
    const r = await post({ match: { labels: ["nowhere"] } });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, "no_matching_board");
  });

  test("an unknown reservation id is 404, a malformed one 400", async () => {
    assert.equal((await api(d.url, "GET", "/api/v1/reservations/999")).status, 404);
    assert.equal((await api(d.url, "GET", "/api/v1/reservations/abc")).status, 400);
  });

  test("201 grants the board with a token, a Location and an expiry; GET never shows the token", async () => {
    const r = await post({ match: { labels: ["b1"] }, ttl_s: 120, owner: "ci-job-123" });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("location"), `/api/v1/reservations/${r.body.id}`);
    assert.equal(r.body.board, "b1");
    assert.equal(r.body.owner, "ci-job-123");
    assert.match(r.body.token, /^cl-\d+-[0-9a-f]{64}$/);
    assert.ok(Date.parse(r.body.expires_at) - Date.now() > 100000);
    const g = await api(d.url, "GET", `/api/v1/reservations/${r.body.id}`);
    assert.equal(g.body.state, "active");
    assert.equal(g.body.token, undefined);
    assert.ok(!JSON.stringify((await api(d.url, "GET", "/api/v1/reservations")).body).includes(r.body.token));
    assert.equal((await give(r.body)).status, 200);
  });

  test("409 board_reserved names the holder, the board and until when", async () => {
    const a = (await post({ match: { board: "b1" }, ttl_s: 120, owner: "alice" })).body;
    const r = await post({ match: { board: "b1" }, owner: "bob" });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "board_reserved");
    assert.deepEqual([r.body.error.details.holder, r.body.error.details.board, r.body.error.details.expires_at],
      ["alice", "b1", a.expires_at]);
    await give(a);
  });

  test("a match with one free board left gets that board", async () => {
    const a = (await post({ match: { labels: ["lab"] } })).body;
    const b = await post({ match: { labels: ["lab"] } });
    assert.equal(b.status, 201);
    assert.notEqual(b.body.board, a.board);
    await give(a);
    await give(b.body);
  });

  test("release without the lease header is 401 lease_required", async () => {
    const a = (await post({ match: { board: "b2" } })).body;
    const r = await api(d.url, "DELETE", `/api/v1/reservations/${a.id}`);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "lease_required");
    await give(a);
  });

  test("release with another lease's token is 403 lease_mismatch", async () => {
    const a = (await post({ match: { board: "b1" } })).body;
    const b = (await post({ match: { board: "b2" } })).body;
    const r = await api(d.url, "DELETE", `/api/v1/reservations/${a.id}`, undefined, lease(b.token));
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "lease_mismatch");
    await give(a);
    await give(b);
  });

  test("release frees the board; releasing again is 409 reservation_ended", async () => {
    const a = (await post({ match: { board: "b1" } })).body;
    const r = await give(a);
    assert.equal(r.status, 200);
    assert.equal(r.body.state, "released");
    const again = await post({ match: { board: "b1" } });
    assert.equal(again.status, 201);
    assert.equal((await give(a)).body.error.code, "reservation_ended");
    await give(again.body);
  });

  test("renew without the lease header is 401", async () => {
    const a = (await post({ match: { board: "b2" }, ttl_s: 60 })).body;
    const r = await api(d.url, "POST", `/api/v1/reservations/${a.id}/renew`, { ttl_s: 600 });
    assert.equal(r.status, 401);
    await give(a);
  });

  test("renew with the lease moves the expiry", async () => {
    const a = (await post({ match: { board: "b2" }, ttl_s: 60 })).body;
    const r = await api(d.url, "POST", `/api/v1/reservations/${a.id}/renew`, { ttl_s: 600 }, lease(a.token));
    assert.equal(r.status, 200);
    assert.equal(r.body.ttl_s, 600);
    assert.ok(Date.parse(r.body.expires_at) - Date.now() > 500000);
    await give(a);
  });

  test("created, renewed and released leases are announced as events", async () => {
    const since = (await api(d.url, "GET", "/api/v1/events")).body.last_seq;
    const a = (await post({ match: { board: "b1" }, owner: "evt" })).body;
    await api(d.url, "POST", `/api/v1/reservations/${a.id}/renew`, { ttl_s: 60 }, lease(a.token));
    await give(a);
    const types = (await eventsSince(d.url, since)).filter((e) => e.type.startsWith("reservation.") && e.data.id === a.id)
      .map((e) => e.type);
    assert.deepEqual(types, ["reservation.created", "reservation.renewed", "reservation.released"]);
  });

  test("a queued job on a reserved board needs the lease: 409 without, 202 with", async () => {
    const a = (await post({ match: { board: "b1" }, owner: "jobs" })).body;
    const job = { kind: "reset" };
    const no = await api(d.url, "POST", "/api/v1/boards/b1/jobs", job);
    assert.equal(no.status, 409);
    assert.equal(no.body.error.details.holder, "jobs");
    const yes = await api(d.url, "POST", "/api/v1/boards/b1/jobs", job, lease(a.token));
    assert.equal(yes.status, 202);
    await give(a);
  });

  /** Open the console of board, send take (with lease when given); resolves to the first lock or error reply. */
  async function takeConsole(board, token) {
    const ws = new WebSocket(`${d.url.replace("http", "ws")}/ws/v1/boards/${board}/console`);
    const reply = new Promise((resolve, reject) => {
      ws.on("message", (data, binary) => {
        if (binary) return;
        const m = JSON.parse(data.toString());
        if (m.type === "error" || (m.type === "lock" && m.holder)) resolve(m);
      });
      ws.on("error", reject);
    });
    await new Promise((r) => ws.on("open", r));
    ws.send(JSON.stringify(token ? { type: "take", lease: token } : { type: "take" }));
    const m = await reply;
    ws.close();
    return m;
  }

  test("the console write lock of a reserved board is refused without the lease", async () => {
    const a = (await post({ match: { board: "b2" }, owner: "console-user" })).body;
    const m = await takeConsole("b2");
    assert.equal(m.type, "error");
    assert.equal(m.code, "board_reserved");
    assert.match(m.message, /console-user/);
    await give(a);
  });

  test("the console write lock of a reserved board is given with the lease", async () => {
    const a = (await post({ match: { board: "b2" } })).body;
    const m = await takeConsole("b2", a.token);
    assert.equal(m.type, "lock");
    assert.equal(m.writer, true);
    await give(a);
  });

  test("an active lease survives a restart of corrald", async () => {
    const a = (await post({ match: { board: "b2" }, ttl_s: 600, owner: "persistent" })).body;
    await d.stop();
    d = await startCorrald({ stateDir: d.stateDir, args: [
      "--port", `b1=socket://127.0.0.1:${s1.port},family=esp32`,
      "--port", `b2=socket://127.0.0.1:${s2.port},family=esp32`,
    ] });
    const r = await post({ match: { board: "b2" } });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.details.holder, "persistent");
    assert.equal((await give(a)).status, 200);
  });
});
