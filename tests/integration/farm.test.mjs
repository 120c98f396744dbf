// A farm of three corrald on loopback sharing one private PostgreSQL (pg.mjs), each with its own
// virtual boards: any host lists every host's boards with their host and state; 50 concurrent
// reservations for 5 matching boards spread over the hosts, sent to all three hosts, give exactly
// 5 leases on 5 distinct boards and 45 clean 409 board_reserved, with reservation ids unique in the
// farm; a host killed with SIGKILL has its boards read offline ("host unreachable") on the others
// within the bound and its running job interrupted by exactly one survivor; restarted, its boards
// are online again everywhere; PostgreSQL restarted, every host answers again and leases still
// exclude.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFarm } from "./farm_lib.mjs";
import { api, waitFor, corral } from "./lib.mjs";

const STALE_S = 3; // host_stale_s: the bound after which a silent host is dead to the farm
const LAYOUT = { "rack-a": ["a1", "a2"], "rack-b": ["b1", "b2"], "rack-c": ["c1", "c2"] };
const MATCHING = ["a1", "a2", "b1", "b2", "c1"]; // labelled "pool": 5 boards over 3 hosts

describe("a farm of three hosts on one PostgreSQL", () => {
  let farm, pg, hosts, vboards;
  const boardsOn = async (h) => {
    const r = await api(h.url, "GET", "/api/v1/boards");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return Object.fromEntries(r.body.boards.map((b) => [b.id, b]));
  };

  before(async () => {
    farm = await startFarm(LAYOUT, { db: "farm", staleS: STALE_S });
    ({ pg, hosts, boards: vboards } = farm);
  });
  after(async () => { await farm?.stop(); });

  test("every host lists every host's boards, each with its host and its state", async () => {
    for (const [name, h] of Object.entries(hosts)) {
      const b = await farm.online(h);
      for (const [owner, ids] of Object.entries(LAYOUT))
        for (const id of ids) assert.equal(b[id].host, owner, `${id} as ${name} sees it`);
      assert.equal(Object.keys(b).length, 6);
      // a filter on state applies to the farm-wide state
      const online = (await api(h.url, "GET", "/api/v1/boards?state=online")).body.boards.map((x) => x.id).sort();
      assert.deepEqual(online, Object.keys(vboards).sort());
    }
    const one = (await api(hosts["rack-a"].url, "GET", "/api/v1/boards/c1")).body;
    assert.equal(one.host, "rack-c");
    assert.equal(one.state, "online");
  });

  test("50 concurrent reservations for 5 matching boards on 3 hosts: exactly 5 leases, 45 clean 409s, no double holder", async () => {
    const names = Object.keys(hosts);
    for (const [k, id] of MATCHING.entries()) { // labels set through any host land in the shared inventory
      const r = await api(hosts[names[k % 3]].url, "PATCH", `/api/v1/boards/${id}`, { labels: ["pool"] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      api(hosts[names[i % 3]].url, "POST", "/api/v1/reservations", { match: { labels: ["pool"] }, ttl_s: 300, owner: `ci-${i}` })));
    const granted = replies.filter((r) => r.status === 201).map((r) => r.body);
    const refused = replies.filter((r) => r.status === 409);
    assert.equal(granted.length, 5, JSON.stringify(replies.filter((r) => r.status !== 409).map((r) => [r.status, r.body])));
    assert.equal(refused.length, 45);
    for (const r of refused) assert.equal(r.body.error.code, "board_reserved", JSON.stringify(r.body));
    assert.deepEqual(granted.map((g) => g.board).sort(), [...MATCHING].sort(), "5 distinct boards");
    assert.equal(new Set(granted.map((g) => g.id)).size, 5, "reservation ids unique in the farm");
    // the database agrees: one active lease per board, five in all
    assert.equal(pg.psql("farm", "SELECT count(*) FROM reservations WHERE state = 'active'").trim(), "5");
    assert.equal(pg.psql("farm", "SELECT count(*) FROM (SELECT board_id FROM reservations WHERE state = 'active'"
      + " GROUP BY board_id HAVING count(*) > 1) d").trim(), "0");
    // every host sees the five leases, and a lease granted by one host is released through another
    for (const h of Object.values(hosts))
      assert.equal((await api(h.url, "GET", "/api/v1/reservations")).body.reservations.length, 5);
    for (const [k, g] of granted.entries()) {
      const r = await api(hosts[names[(k + 1) % 3]].url, "DELETE", `/api/v1/reservations/${g.id}`, undefined,
        { "X-Corral-Lease": g.token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.equal(pg.psql("farm", "SELECT count(*) FROM reservations WHERE state = 'active'").trim(), "0");
    const again = await api(hosts["rack-b"].url, "POST", "/api/v1/reservations", { match: { board: "c1" }, ttl_s: 5 });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.ok(again.body.id > Math.max(...granted.map((g) => g.id)), "ids come from one farm-wide sequence");
    // a request waiting (wait_s) on rack-a gets the board as soon as its lease ends through rack-c
    const waiting = api(hosts["rack-a"].url, "POST", "/api/v1/reservations", { match: { board: "c1" }, ttl_s: 5, wait_s: 30 });
    await new Promise((r) => setTimeout(r, 500));
    const gone = await api(hosts["rack-c"].url, "DELETE", `/api/v1/reservations/${again.body.id}`, undefined,
      { "X-Corral-Lease": again.body.token });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    const got = await waiting;
    assert.equal(got.status, 201, JSON.stringify(got.body));
    assert.equal(got.body.board, "c1");
    await api(hosts["rack-b"].url, "DELETE", `/api/v1/reservations/${got.body.id}`, undefined, { "X-Corral-Lease": got.body.token });

    // the CLI, unchanged: `corral reserve --label` against rack-a leases rack-c's board
    assert.equal((await api(hosts["rack-b"].url, "PATCH", "/api/v1/boards/c2", { labels: ["cli-only"] })).status, 200);
    const cli = await corral(["reserve", "--label", "cli-only", "--ttl", "60", "--owner", "cli"], hosts["rack-a"].url);
    assert.equal(cli.code, 0, cli.stderr);
    const held = (await api(hosts["rack-b"].url, "GET", "/api/v1/reservations")).body.reservations;
    assert.deepEqual(held.map((r) => [r.board, r.owner]), [["c2", "cli"]]);
    const rel = await corral(["release"], hosts["rack-c"].url, { CORRAL_LEASE: cli.stdout.trim() });
    assert.equal(rel.code, 0, rel.stderr);
    assert.equal((await api(hosts["rack-a"].url, "GET", "/api/v1/reservations")).body.reservations.length, 0);
  });

  test("a host killed with SIGKILL: its boards read offline elsewhere within the bound, its running job interrupted by one survivor; restarted, online again", async () => {
    const c = hosts["rack-c"];
    const job = await api(c.url, "POST", "/api/v1/boards/c2/jobs", { kind: "run", script: "import time\ntime.sleep(120)\n" });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    await waitFor(async () => (await api(hosts["rack-a"].url, "GET", `/api/v1/jobs/${job.body.id}`)).body.state === "running",
      20000, "the job running, as rack-a sees it");
    await waitFor(async () => (await boardsOn(hosts["rack-b"])).c2.state === "busy", 10000, "c2 busy as rack-b sees it");

    const t0 = Date.now();
    await c.stop("SIGKILL");
    for (const name of ["rack-a", "rack-b"]) {
      await waitFor(async () => {
        const b = await boardsOn(hosts[name]);
        return ["c1", "c2"].every((id) => b[id].state === "offline" && b[id].offline_reason === "host unreachable");
      }, 15000, `rack-c's boards offline as ${name} sees them`);
    }
    const seenOffline = Date.now() - t0;
    const a = await boardsOn(hosts["rack-a"]);
    for (const id of ["a1", "a2", "b1", "b2"]) assert.equal(a[id].state, "online", `${id} stays online`);
    const j = await waitFor(async () => {
      const r = (await api(hosts["rack-b"].url, "GET", `/api/v1/jobs/${job.body.id}`)).body;
      return r.state !== "running" && r;
    }, 15000, "the dead host's job to end");
    const interrupted = Date.now() - t0;
    assert.equal(j.state, "interrupted");
    assert.match(j.error.message, /^host rack-c stopped answering .* host rack-(a|b) marked it interrupted$/);
    const claims = ["rack-a", "rack-b"].map((n) => (hosts[n].stderr().match(/farm: host rack-c has not beaten/g) || []).length);
    assert.equal(claims[0] + claims[1], 1, `exactly one survivor claims rack-c (claims ${claims})`);
    const hostRow = (await api(hosts["rack-a"].url, "GET", "/api/v1/hosts")).body.hosts.find((h) => h.name === "rack-c");
    assert.equal(hostRow.alive, false);

    await farm.startHost("rack-c", { stateDir: c.stateDir });
    for (const name of ["rack-a", "rack-b"]) await farm.online(hosts[name]);
    const back = Date.now() - t0;
    assert.equal((await api(hosts["rack-a"].url, "GET", `/api/v1/jobs/${job.body.id}`)).body.state, "interrupted");
    process.stderr.write(`# farm: bound ${STALE_S} s; boards offline elsewhere after ${seenOffline} ms, job interrupted `
      + `after ${interrupted} ms, online again ${back} ms after the kill (restart included)\n`);
  });

  test("PostgreSQL restarted: every host answers for the whole farm again and leases still exclude", async () => {
    pg.restart();
    for (const h of Object.values(hosts)) {
      // a 503 store_unavailable while a host reconnects is "not yet"; every board comes back online
      await waitFor(async () => {
        const r = await api(h.url, "GET", "/api/v1/boards");
        if (r.status === 503) return assert.equal(r.body.error.code, "store_unavailable") && false;
        return r.status === 200 && r.body.boards.length === 6 && r.body.boards.every((b) => b.state === "online");
      }, 30000, `${h.url} answering for the farm after the restart`);
    }
    const names = Object.keys(hosts);
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      api(hosts[names[i % 3]].url, "POST", "/api/v1/reservations", { match: { labels: ["pool"] }, ttl_s: 60 })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [...Array(5).fill(201), ...Array(7).fill(409)]);
    for (const r of replies.filter((x) => x.status === 201))
      await api(hosts["rack-a"].url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined, { "X-Corral-Lease": r.body.token });
  });

  test("every host stops cleanly: exit 0, no sanitizer report", async () => {
    for (const [name, h] of Object.entries(hosts)) {
      const { code, sig } = await h.stop();
      assert.equal(code, 0, `${name} exited ${code ?? sig}`);
      assert.doesNotMatch(h.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/, name);
    }
  });
});

