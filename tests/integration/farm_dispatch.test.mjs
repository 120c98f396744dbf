// Cross-host jobs in a farm of three corrald on one private PostgreSQL (pg.mjs): a run job posted
// on host A for a board attached to host C is queued in the store, C is woken (NOTIFY) and runs it
// exactly once, and its progress, output and result are seen from host B through REST and
// /ws/v1/events (job events travel through the store's farm_events); a lease taken on one host
// still guards the board when the job comes from another; a job is cancelled from a host that
// does not have its board (running, queued on its host, or still waiting for its host to claim
// it); PostgreSQL restarted while jobs run and wait: every accepted job ends
// succeeded and each ran exactly once (each run appends its tag to a file on the virtual board's
// flash, read back at the end).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { events, startFarm } from "./farm_lib.mjs";
import { api, waitFor, waitJob } from "./lib.mjs";

const LAYOUT = { "rack-a": ["a1"], "rack-b": ["b1"], "rack-c": ["c1", "c2"] };

/** Python that appends tag to runs.txt on the board's flash, then sleeps. */
const tagged = (tag, sleep_s = 0) =>
  `f = open('runs.txt', 'a')\nf.write('${tag}\\n')\nf.close()\nimport time\ntime.sleep(${sleep_s})\nprint('ran ${tag}')\n`;

describe("cross-host jobs in a farm of three hosts on one PostgreSQL", () => {
  let farm, pg, hosts;

  before(async () => {
    farm = await startFarm(LAYOUT, { db: "farm_dispatch", staleS: 6 });
    ({ pg, hosts } = farm);
  });
  after(async () => { await farm?.stop(); });

  test("a run job posted on rack-a for rack-c's board runs on rack-c; output and result seen from rack-b (REST and /ws/v1/events)", async () => {
    const viewer = await events(hosts["rack-b"].url).ready;
    const onC = await events(hosts["rack-c"].url).ready;
    const posted = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c1/jobs",
      { kind: "run", script: "for i in range(3):\n    print('line', i * 7)\n" });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.equal(posted.body.board, "c1");
    assert.ok(["queued", "running"].includes(posted.body.state), JSON.stringify(posted.body));
    const id = posted.body.id;
    const done = await waitJob(hosts["rack-b"].url, id, 30000);
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    assert.match(JSON.stringify(done.result), /line 14/);
    const fromA = (await api(hosts["rack-a"].url, "GET", `/api/v1/jobs/${id}`)).body;
    assert.equal(fromA.state, "succeeded");
    const mine = () => viewer.msgs.filter((m) => m.data?.job === id);
    await waitFor(() => mine().some((m) => m.type === "job.state" && m.data.state === "succeeded"), 10000,
      "job.state succeeded on rack-b's event stream");
    const states = mine().filter((m) => m.type === "job.state").map((m) => m.data.state);
    assert.deepEqual(states, ["queued", "running", "succeeded"], JSON.stringify(mine()));
    const output = mine().filter((m) => m.type === "job.output").map((m) => m.data.data).join("");
    assert.match(output, /line 0[\s\S]*line 7[\s\S]*line 14/);
    await viewer.close();
    await waitFor(() => onC.msgs.some((m) => m.data?.job === id && m.data.state === "succeeded"), 10000, "succeeded on rack-c");
    const onCStates = onC.msgs.filter((m) => m.type === "job.state" && m.data.job === id).map((m) => m.data.state);
    assert.deepEqual(onCStates, ["queued", "running", "succeeded"], "the same order on the board's host");
    await onC.close();
    // rack-c (the only host with c1's port) claimed it
    assert.match(pg.psql("farm_dispatch", `SELECT dispatch FROM jobs WHERE id = ${id}`).trim(), /^claimed rack-c /);
  });

  test("a lease taken through one host guards the board for jobs posted on another", async () => {
    const lease = await api(hosts["rack-b"].url, "POST", "/api/v1/reservations", { match: { board: "c2" }, ttl_s: 60 });
    assert.equal(lease.status, 201, JSON.stringify(lease.body));
    const refused = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c2/jobs", { kind: "run", script: "print(1)" });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "board_reserved");
    const ok = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c2/jobs", { kind: "run", script: "print(2)" },
      { "X-Corral-Lease": lease.body.token });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.equal((await waitJob(hosts["rack-a"].url, ok.body.id, 30000)).state, "succeeded");
    const rel = await api(hosts["rack-a"].url, "DELETE", `/api/v1/reservations/${lease.body.id}`, undefined,
      { "X-Corral-Lease": lease.body.token });
    assert.equal(rel.status, 200, JSON.stringify(rel.body));
  });

  test("a job running on rack-c is cancelled from rack-a, and one queued behind it from rack-b", async () => {
    const viewer = await events(hosts["rack-a"].url).ready;
    const long = await api(hosts["rack-b"].url, "POST", "/api/v1/boards/c2/jobs",
      { kind: "run", script: "import time\ntime.sleep(120)\n" });
    assert.equal(long.status, 202, JSON.stringify(long.body));
    const behind = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c2/jobs", { kind: "run", script: "print('never')" });
    assert.equal(behind.status, 202, JSON.stringify(behind.body));
    await waitFor(async () => (await api(hosts["rack-a"].url, "GET", `/api/v1/jobs/${long.body.id}`)).body.state === "running",
      30000, "the long job running");
    const c1 = await api(hosts["rack-b"].url, "POST", `/api/v1/jobs/${behind.body.id}/cancel`);
    assert.ok([200, 202].includes(c1.status), JSON.stringify(c1.body));
    const c2 = await api(hosts["rack-a"].url, "POST", `/api/v1/jobs/${long.body.id}/cancel`);
    assert.ok([200, 202].includes(c2.status), JSON.stringify(c2.body));
    const t0 = Date.now();
    const a = await waitJob(hosts["rack-a"].url, long.body.id, 20000);
    const b = await waitJob(hosts["rack-b"].url, behind.body.id, 20000);
    assert.equal(a.state, "cancelled", JSON.stringify(a));
    assert.equal(b.state, "cancelled", JSON.stringify(b));
    assert.equal(b.started_at, null, "the queued job never started");
    await waitFor(() => viewer.msgs.some((m) => m.type === "job.state" && m.data.job === long.body.id && m.data.state === "cancelled"),
      10000, "rack-c's cancelled event on rack-a's stream");
    process.stderr.write(`# farm_dispatch: cross-host cancel took ${Date.now() - t0} ms\n`);
    const again = await api(hosts["rack-b"].url, "POST", `/api/v1/jobs/${long.body.id}/cancel`);
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body.error.code, "job_finished");
    await viewer.close();
  });

  test("a job still waiting for its host (rack-c paused) is cancelled from rack-b at once and never runs", async () => {
    const c = hosts["rack-c"];
    c.proc.kill("SIGSTOP"); // well within host_stale_s: rack-c is alive to the farm but claims nothing
    let posted, cancelled;
    try {
      posted = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c1/jobs", { kind: "run", script: tagged("paused", 0) });
      cancelled = await api(hosts["rack-b"].url, "POST", `/api/v1/jobs/${posted.body.id}/cancel`);
    } finally {
      c.proc.kill("SIGCONT");
    }
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.state, "cancelled", "ended by rack-b: rack-c never claimed it");
    assert.equal(cancelled.body.started_at, null);
    // rack-c, awake again, runs what comes next and not the cancelled job
    const next = await api(hosts["rack-a"].url, "POST", "/api/v1/boards/c1/jobs",
      { kind: "run", script: "import os\nprint('files:', 'runs.txt' in os.listdir() and open('runs.txt').read().count('paused'))" });
    assert.equal(next.status, 202, JSON.stringify(next.body));
    const r = await waitJob(hosts["rack-b"].url, next.body.id, 30000);
    assert.equal(r.state, "succeeded", JSON.stringify(r));
    assert.match(JSON.stringify(r.result), /files: (False|0)/);
    assert.equal((await api(hosts["rack-c"].url, "GET", `/api/v1/jobs/${posted.body.id}`)).body.state, "cancelled");
  });

  test("PostgreSQL restarted while cross-host jobs run and wait: none lost, none run twice", async () => {
    const names = Object.keys(hosts);
    const accepted = [];
    for (let i = 0; i < 6; i++) {
      const board = i % 2 ? "c2" : "c1";
      const r = await api(hosts[names[i % 2]].url, "POST", `/api/v1/boards/${board}/jobs`,
        { kind: "run", script: tagged(`t${i}`, 1) });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      accepted.push({ id: r.body.id, board, tag: `t${i}` });
    }
    await waitFor(async () => (await api(hosts["rack-c"].url, "GET", `/api/v1/jobs/${accepted[0].id}`)).body.state === "running",
      30000, "the first job running");
    pg.restart();
    // posts during the reconnect either succeed (202) or are refused cleanly (503): never half-done
    for (let i = 6; i < 10; i++) {
      const board = i % 2 ? "c2" : "c1";
      const r = await waitFor(async () => {
        const x = await api(hosts["rack-a"].url, "POST", `/api/v1/boards/${board}/jobs`, { kind: "run", script: tagged(`t${i}`, 0) });
        if (x.status === 503) return assert.equal(x.body.error.code, "store_unavailable") && false;
        return x;
      }, 30000, "a post after the restart");
      assert.equal(r.status, 202, JSON.stringify(r.body));
      accepted.push({ id: r.body.id, board, tag: `t${i}` });
    }
    for (const j of accepted) {
      const done = await waitFor(async () => {
        const r = await api(hosts["rack-b"].url, "GET", `/api/v1/jobs/${j.id}`);
        return r.status === 200 && !["queued", "running"].includes(r.body.state) && r.body;
      }, 60000, `job ${j.id} (${j.tag}) to finish`);
      assert.equal(done.state, "succeeded", JSON.stringify(done));
    }
    for (const board of ["c1", "c2"]) {
      const read = await api(hosts["rack-b"].url, "POST", `/api/v1/boards/${board}/jobs`,
        { kind: "run", script: "print(open('runs.txt').read())" });
      assert.equal(read.status, 202, JSON.stringify(read.body));
      const r = await waitJob(hosts["rack-b"].url, read.body.id, 30000);
      assert.equal(r.state, "succeeded", JSON.stringify(r));
      const ran = JSON.stringify(r.result).match(/t\d+/g) || [];
      const want = accepted.filter((j) => j.board === board).map((j) => j.tag);
      assert.deepEqual([...ran].sort(), [...want].sort(), `each job on ${board} ran exactly once`);
    }
    assert.equal(pg.psql("farm_dispatch", "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')").trim(), "0");
  });

  test("job events went through the store; every host stops cleanly", async () => {
    assert.ok(Number(pg.psql("farm_dispatch", "SELECT count(*) FROM farm_events").trim()) > 0, "events went through the store");
    for (const [name, h] of Object.entries(hosts)) {
      const { code, sig } = await h.stop();
      assert.equal(code, 0, `${name} exited ${code ?? sig}`);
      assert.doesNotMatch(h.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/, name);
    }
  });
});
