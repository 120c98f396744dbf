// Farm-wide events for everything in a farm of two corrald on one private PostgreSQL (pg.mjs):
// rack-b's start-up board.online events (published before its dispatcher ran) reach rack-a; the
// board, lease and health events host rack-b originates (board.updated, board.fact,
// board.state, reservation.created / expired / released, board.health of a board quarantined
// after a silent run) reach rack-a's
// /ws/v1/events through the store's farm_events, each exactly once and in rack-b's order; a lease
// that expires while both hosts hold it in memory is announced once, by the host that ended it;
// a lease ended on rack-a is seen once on rack-b.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { events, startFarm } from "./farm_lib.mjs";
import { api, silentServer, waitFor, waitJob } from "./lib.mjs";

const LAYOUT = { "rack-a": ["a1"], "rack-b": ["b1"] };

/** JSON with object keys sorted (the store keeps a relayed event's data as jsonb: keys reordered). */
const canon = (v) => JSON.stringify(v, (k, x) => x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x);
/** The events about boards bs (by "board" or, for board rows, "id"), as comparable strings. */
const about = (c, ...bs) => c.msgs.filter((m) => bs.includes(m.data?.board ?? m.data?.id))
  .map((m) => `${m.type} ${canon(m.data)}`);
const count = (list, type, pred = () => true) =>
  list.filter((s) => s.startsWith(type + " ") && pred(JSON.parse(s.slice(type.length + 1)))).length;

describe("farm-wide events: every event once on every host", () => {
  let farm, hosts, silent;

  before(async () => {
    silent = await silentServer(); // rack-b's "mute": every job fails (an infrastructure failure)
    farm = await startFarm(LAYOUT, { db: "farm_events", boards: 3,
      conf: "auto_identify = false\nhealth_check_interval = 0\nquarantine_after_infra_failures = 1\n",
      args: (name) => (name === "rack-b" ? ["--port", `mute=socket://127.0.0.1:${silent.port},family=micropython`] : []) });
    hosts = farm.hosts;
    // rack-b's start-up events relayed to rack-a before any test opens its sockets.
    await waitFor(async () => {
      const evs = (await api(hosts["rack-a"].url, "GET", "/api/v1/events?since=0")).body.events ?? [];
      return ["b1", "mute"].every((id) => evs.some((e) => e.type === "board.online" && e.data?.id === id));
    }, 15000, "rack-b's boards online in rack-a's events");
  });
  after(async () => {
    await farm?.stop();
    silent?.close();
  });

  test("rack-b's board fact, label change, lease grant/expiry and a quarantine show once, in order, on rack-a", async () => {
    const B = hosts["rack-b"].url, A = hosts["rack-a"].url;
    // rack-b's socket first: rack-a's stream must then be a tail of rack-b's, nothing twice.
    const onB = await events(B).ready;
    const onA = await events(A).ready;
    try {
      assert.equal((await api(B, "PATCH", "/api/v1/boards/b1", { labels: ["pool", "farm-ev"] })).status, 200);
      const ident = await api(B, "POST", "/api/v1/boards/b1/jobs", { kind: "identify" });
      assert.equal(ident.status, 202, JSON.stringify(ident.body));
      assert.equal((await waitJob(B, ident.body.id, 30000)).state, "succeeded");
      const lease = await api(B, "POST", "/api/v1/reservations", { match: { board: "b1" }, ttl_s: 1, owner: "ev-test" });
      assert.equal(lease.status, 201, JSON.stringify(lease.body));
      const lid = lease.body.id ?? lease.body.reservation?.id;
      // Both hosts hold the lease in memory; it expires on both clocks: announced once.
      await waitFor(() => count(about(onA, "b1"), "reservation.expired", (d) => d.id === lid) >= 1, 15000,
        "the expiry on rack-a's stream");
      // A run on a board that never answers is an infrastructure failure:
      // quarantine_after_infra_failures = 1.
      const mute = await api(B, "POST", "/api/v1/boards/mute/jobs", { kind: "run", script: "print(1)" });
      assert.equal(mute.status, 202, JSON.stringify(mute.body));
      const ended = await waitJob(A, mute.body.id, 60000);
      assert.equal(ended.state, "failed", JSON.stringify(ended));
      await waitFor(async () => (await api(A, "GET", "/api/v1/boards/mute/health")).body.state === "quarantined", 15000,
        "mute quarantined as rack-a reads it");
      // The last of rack-b's events: a label change, then rack-a has everything.
      assert.equal((await api(B, "PATCH", "/api/v1/boards/b1", { labels: ["pool"] })).status, 200);
      const last = (c) => about(c, "b1").some((s) => s.startsWith("board.updated ") && JSON.parse(s.slice(14)).labels?.length === 1);
      await waitFor(() => last(onA) && last(onB), 15000, "the last label change on both hosts");
      await new Promise((r) => setTimeout(r, 1500)); // a late duplicate would land now

      const a = about(onA, "b1", "mute"), b = about(onB, "b1", "mute");
      console.log(`# rack-b's board events: ${b.length} on rack-b, ${a.length} on rack-a`);
      assert.ok(a.length > 0 && a.length <= b.length, `${a.length} on rack-a, ${b.length} on rack-b`);
      assert.deepEqual(a, b.slice(b.length - a.length), "rack-a's events about them are rack-b's, once each, in order");
      assert.equal(count(a, "board.updated"), 2);
      assert.ok(count(a, "board.fact", (d) => d.job === ident.body.id) >= 1, "identify's facts");
      assert.equal(new Set(a.filter((s) => s.startsWith("board.fact "))).size, count(a, "board.fact"), "no fact twice");
      assert.equal(count(a, "reservation.created", (d) => d.id === lid), 1);
      assert.equal(count(a, "reservation.expired", (d) => d.id === lid), 1);
      assert.equal(count(b, "reservation.expired", (d) => d.id === lid), 1);
      assert.equal(count(a, "board.health", (d) => d.board === "mute" && d.state === "quarantined"), 1);
      assert.equal(count(a, "job.state", (d) => d.job === mute.body.id && d.state === "failed"), 1);
      assert.ok(count(a, "board.state") >= 2, "busy, then online again");
    } finally {
      await onA.close();
      await onB.close();
    }
  });

  test("a lease granted on rack-b and released on rack-a: created and released once on each host", async () => {
    const B = hosts["rack-b"].url, A = hosts["rack-a"].url;
    const onB = await events(B).ready;
    const onA = await events(A).ready;
    try {
      const lease = await api(B, "POST", "/api/v1/reservations", { match: { board: "a1" }, ttl_s: 300, owner: "ev-test" });
      assert.equal(lease.status, 201, JSON.stringify(lease.body));
      const lid = lease.body.id ?? lease.body.reservation?.id;
      const rel = await api(A, "DELETE", `/api/v1/reservations/${lid}`, undefined,
        { "X-Corral-Lease": lease.body.token });
      assert.equal(rel.status, 200, JSON.stringify(rel.body));
      const done = (c, type) => count(about(c, "a1"), type, (d) => d.id === lid);
      await waitFor(() => done(onA, "reservation.released") && done(onB, "reservation.released"), 15000,
        "the release on both hosts");
      await new Promise((r) => setTimeout(r, 1500));
      for (const c of [onA, onB])
        for (const type of ["reservation.created", "reservation.released"]) assert.equal(done(c, type), 1, type);
    } finally {
      await onA.close();
      await onB.close();
    }
  });
});
