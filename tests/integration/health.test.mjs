// Fleet health: a virtual board whose link drops bytes (vboard --rx-drop) accumulates link errors
// in its health record until the quarantine rule fires; a quarantined board is skipped by a
// reservation that matches it; unquarantine re-checks first (a failing check keeps it out, a
// passing one releases it); events and the audit log show both; /metrics carries the per-board
// counters with a board label.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { STUB_DIR, control, flashSha, mkimage, sha256, uploadFirmware } from "./esp_lib.mjs";
import { api, eventsSince, runJob, silentServer, startCorrald, startVboard, waitFor } from "./lib.mjs";

const SICK = "sick", WELL = "well";

describe("health record, quarantine by policy, unquarantine after a check", () => {
  let d, sick, well;
  before(async () => {
    // Drop 1.5 % of the host->board bytes: with the plain raw REPL's small resent steps most
    // transfers get through damaged steps (link errors) or fail as link_corrupt.
    sick = await startVboard("micropython", ["--no-raw-paste", "--rx-drop", "1.5%", "--rx-seed", "2020", "--name", SICK]);
    well = await startVboard("micropython", ["--name", WELL]);
    const dir = mkdtempSync(path.join(tmpdir(), "corral-health-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, [
      "quarantine_after_infra_failures = 3",
      "quarantine_after_link_errors = 60",
      "health_check_interval = 0",
      `[port ${SICK}]`, `url = ${sick.endpoint}`, "family = micropython",
      `[port ${WELL}]`, `url = ${well.endpoint}`, "family = micropython", "",
    ].join("\n"));
    d = await startCorrald({ args: ["--config", conf] });
    for (const b of [SICK, WELL])
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, `${b} online`);
    for (const b of [SICK, WELL])
      assert.equal((await api(d.url, "PATCH", `/api/v1/boards/${b}`, { labels: ["pool"] })).status, 200);
  });
  after(async () => {
    await d?.stop();
    await sick?.stop();
    await well?.stop();
  });

  test("a healthy board: counters, good state, /metrics with a board label", async () => {
    const j = await runJob(d.url, WELL, { kind: "run", script: "print(6*7)" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    const h = (await api(d.url, "GET", `/api/v1/boards/${WELL}/health`)).body;
    assert.equal(h.state, "good");
    assert.equal(h.counters.jobs_succeeded, 1);
    assert.equal(h.counters.sync_count, 1);
    assert.ok(h.counters.sync_ms_total >= 0);
    assert.equal(h.history[0].kind, "job");
    assert.equal(h.history[0].ok, true);
    const b = (await api(d.url, "GET", `/api/v1/boards/${WELL}`)).body;
    assert.equal(b.health.state, "good");
    const m = await api(d.url, "GET", "/metrics");
    assert.match(m.body, /^# TYPE corral_board_jobs_succeeded_total counter$/m);
    assert.match(m.body, new RegExp(`^corral_board_jobs_succeeded_total\\{board="${WELL}"\\} 1$`, "m"));
    assert.match(m.body, new RegExp(`^corral_board_health\\{board="${WELL}",state="good"\\} 1$`, "m"));
    const r404 = await api(d.url, "GET", "/api/v1/boards/nope/health");
    assert.equal(r404.status, 404);
    assert.equal(r404.body.error.code, "board_not_found");
  });

  test("a lossy link accumulates link errors until the rule quarantines the board", async () => {
    const since = (await api(d.url, "GET", "/api/v1/events?since=0")).body.last_seq;
    let h, runs = 0;
    for (; runs < 12; runs++) {
      const script = Array.from({ length: 12 }, (_, k) => `x${k}=${k}*${runs + 3}`).join("\n") + "\nprint(x11)\n";
      await runJob(d.url, SICK, { kind: "run", script, timeout_s: 60 }, 90000);
      h = (await api(d.url, "GET", `/api/v1/boards/${SICK}/health`)).body;
      if (h.state === "quarantined") break;
    }
    console.log(`# quarantined after ${runs + 1} run jobs: ${JSON.stringify(h.counters)}; reason: ${h.reason}`);
    assert.equal(h.state, "quarantined", JSON.stringify(h.counters));
    assert.ok(h.counters.link_errors > 0, "link errors were counted");
    assert.ok(h.counters.resends > 0, "resends were counted");
    assert.match(h.reason, /rule: quarantine_after_(link_errors = 60|infra_failures = 3)/);
    assert.ok(h.evidence.counters.link_errors > 0, "the evidence carries the counters");
    assert.ok(Array.isArray(h.evidence.recent) && h.evidence.recent.length > 0, "and the recent history");
    assert.equal(h.history[0].kind, "quarantine");
    const q = (await eventsSince(d.url, 0)).filter((e) => e.type === "board.health" && e.data.board === SICK && e.data.state === "quarantined");
    assert.ok(q.length >= 1 && q.at(-1).seq > since, "a board.health event says quarantined");
    const audit = (await api(d.url, "GET", "/api/v1/audit?limit=50")).body;
    assert.ok(audit.entries.some((a) => a.method === "POLICY" && a.path === `/api/v1/boards/${SICK}/quarantine`),
      JSON.stringify(audit.entries.slice(0, 5)));
    const m = await api(d.url, "GET", "/metrics");
    assert.match(m.body, new RegExp(`^corral_board_link_errors_total\\{board="${SICK}"\\} ${h.counters.link_errors}$`, "m"));
    assert.match(m.body, new RegExp(`^corral_board_health\\{board="${SICK}",state="quarantined"\\} 1$`, "m"));
  });

  test("reservations skip the quarantined board", async () => {
    const only = await api(d.url, "POST", "/api/v1/reservations", { match: { board: SICK }, ttl_s: 60, owner: "ci" });
    assert.equal(only.status, 409);
    assert.equal(only.body.error.code, "board_quarantined");
    // Both boards match the label: the lease goes to the healthy one, every time.
    for (let i = 0; i < 2; i++) {
      const r = await api(d.url, "POST", "/api/v1/reservations", { match: { labels: ["pool"] }, ttl_s: 60, owner: "ci" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.board, WELL);
      const del = await api(d.url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined, { "x-corral-lease": r.body.token });
      assert.equal(del.status, 200, JSON.stringify(del.body));
    }
  });

  test("unquarantine runs a health check first: failing, it stays out; passing, it is released", async () => {
    const r1 = await api(d.url, "POST", `/api/v1/boards/${SICK}/unquarantine`);
    assert.equal(r1.status, 202, JSON.stringify(r1.body));
    assert.equal(r1.body.check_job.kind, "health_check");
    const c1 = await waitFor(async () => {
      const j = (await api(d.url, "GET", `/api/v1/jobs/${r1.body.check_job.id}`)).body;
      return ["queued", "running"].includes(j.state) ? null : j;
    }, 120000, "the first check");
    let h = (await api(d.url, "GET", `/api/v1/boards/${SICK}/health`)).body;
    console.log(`# check on the lossy link: ${c1.state} (${c1.error?.code}): ${JSON.stringify(c1.result?.checks)}`);
    assert.equal(c1.state, "failed");
    assert.equal(h.state, "quarantined");
    assert.equal(h.evidence.release_check.job, c1.id, "the failed release check is part of the evidence");

    await control(sick.control, "lossy off");
    const r2 = await api(d.url, "POST", `/api/v1/boards/${SICK}/unquarantine`);
    assert.equal(r2.status, 202);
    const c2 = await waitFor(async () => {
      const j = (await api(d.url, "GET", `/api/v1/jobs/${r2.body.check_job.id}`)).body;
      return ["queued", "running"].includes(j.state) ? null : j;
    }, 120000, "the second check");
    assert.equal(c2.state, "succeeded", JSON.stringify([c2.error, c2.result, c2.log]));
    assert.deepEqual(c2.result.checks.map((c) => [c.name, c.ok]), [["identify", true], ["loopback", true]]);
    h = (await api(d.url, "GET", `/api/v1/boards/${SICK}/health`)).body;
    assert.equal(h.state, "good");
    assert.equal(h.counters.infra_failures_in_row, 0);
    const rel = (await eventsSince(d.url, 0)).filter((e) => e.type === "board.health" && e.data.board === SICK && e.data.state === "good");
    assert.ok(rel.length >= 1, "a board.health event says good again");
    const audit = (await api(d.url, "GET", "/api/v1/audit?limit=50")).body.entries;
    assert.ok(audit.some((a) => a.method === "POST" && a.path === `/api/v1/boards/${SICK}/unquarantine`));
    assert.ok(audit.some((a) => a.method === "POLICY" && a.path === `/api/v1/boards/${SICK}/unquarantine`));
    const again = await api(d.url, "POST", `/api/v1/boards/${SICK}/unquarantine`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "not_quarantined");
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: SICK }, ttl_s: 60, owner: "ci" });
    assert.equal(r.status, 201, "released, it can be leased again");
  });
});

/** corrald with these config lines and static micropython ports {name: url}. */
async function corraldConf(lines, ports) {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-health-sched-"));
  const conf = path.join(dir, "corrald.conf");
  const portLines = Object.entries(ports).flatMap(([n, u]) => [`[port ${n}]`, `url = ${u}`, "family = micropython"]);
  writeFileSync(conf, [...lines, ...portLines, ""].join("\n"));
  return startCorrald({ args: ["--config", conf] });
}

describe("scheduled health checks on idle, unleased boards", () => {
  let d, idle, leased;
  before(async () => {
    idle = await startVboard("micropython", ["--name", "idle"]);
    leased = await startVboard("micropython", ["--name", "leased"]);
    d = await corraldConf(["health_check_interval = 2", "health_check_after_infra_failures = 0"],
      { idle: idle.endpoint, leased: leased.endpoint });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/idle")).body.state === "online", 10000, "online");
  });
  after(async () => {
    await d?.stop();
    await idle?.stop();
    await leased?.stop();
  });

  test("an idle board is checked on its interval, a leased one is not; results are recorded", async () => {
    const checks = async (b) => (await api(d.url, "GET", `/api/v1/boards/${b}/jobs`)).body.jobs.filter((j) => j.kind === "health_check");
    const lease = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "leased" }, ttl_s: 120, owner: "ci" });
    assert.equal(lease.status, 201);
    const done = await waitFor(async () => {
      const c = (await checks("idle")).filter((j) => j.state === "succeeded");
      return c.length >= 2 && c;
    }, 60000, "two scheduled checks on the idle board");
    assert.equal(done[0].params.requested_by, "corrald:scheduler");
    assert.equal(done[0].params.reason, "its interval is up");
    assert.deepEqual(done[0].result.checks.map((c) => c.name), ["identify", "loopback"]);
    assert.equal((await checks("leased")).length, 0, "the leased board was left alone");
    const h = (await api(d.url, "GET", "/api/v1/boards/idle/health")).body;
    assert.ok(h.counters.checks_passed >= 2);
    assert.ok(h.history.some((e) => e.kind === "check" && e.ok));
  });
});

describe("a health check after infrastructure failures", () => {
  let d, silent;
  before(async () => {
    silent = await silentServer();
    d = await corraldConf(["health_check_interval = 0", "health_check_after_infra_failures = 2",
      "quarantine_after_infra_failures = 0"], { mute: `socket://127.0.0.1:${silent.port}` });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/mute")).body.state === "online", 10000, "online");
  });
  after(async () => {
    await d?.stop();
    silent?.close();
  });

  test("two infrastructure failures in a row bring a check, and its failure quarantines with evidence", async () => {
    const checks = async () => (await api(d.url, "GET", "/api/v1/boards/mute/jobs")).body.jobs.filter((j) => j.kind === "health_check");
    const j1 = await runJob(d.url, "mute", { kind: "run", script: "print(1)", timeout_s: 20 }, 40000);
    assert.equal(j1.state, "failed");
    assert.equal((await api(d.url, "GET", "/api/v1/boards/mute/health")).body.state, "degraded");
    assert.equal((await checks()).length, 0, "one failure is not enough");
    const j2 = await runJob(d.url, "mute", { kind: "run", script: "print(1)", timeout_s: 20 }, 40000);
    assert.equal(j2.state, "failed");
    const c = await waitFor(async () => (await checks()).find((j) => !["queued", "running"].includes(j.state)),
      90000, "a check after the failures");
    assert.equal(c.params.reason, "infrastructure failures in a row");
    assert.equal(c.state, "failed");
    assert.equal(c.result.checks[0].name, "identify");
    assert.equal(c.result.checks[0].ok, false);
    const h = (await api(d.url, "GET", "/api/v1/boards/mute/health")).body;
    assert.equal(h.state, "quarantined");
    assert.match(h.reason, /^the health check failed: health_check job \d+ failed/);
    assert.equal(h.counters.infra_failures, 3, JSON.stringify(h.counters));
    assert.equal(h.evidence.counters.checks_failed, 1);
    assert.equal((await checks()).length, 1, "a quarantined board is not checked again on its own");
  });
});

describe("a health check of an ESP board with a known-good pin", () => {
  let d, eb;
  before(async () => {
    eb = await startVboard("esp8266", ["--name", "hk"]);
    d = await startCorrald({ args: ["--port", `hk=${eb.endpoint},family=esp8266`, "--stub-dir", STUB_DIR] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/hk")).body.state === "online", 10000, "hk online");
  });
  after(async () => {
    await d?.stop();
    await eb?.stop();
  });

  test("identify, then flash the family's pinned firmware and check that it boots (an ESP has no REPL loopback)", async () => {
    const img = mkimage("esp8266", ["--flash-mode", "dio"]);
    const id = await uploadFirmware(d.url, img.data, "known-good.bin");
    assert.equal((await api(d.url, "PUT", `/api/v1/firmware/${id}/known-good`, { family: "esp8266" })).status, 200);
    const before = await flashSha(eb, 0, img.data.length);
    assert.notEqual(before, sha256(img.data), "the board does not hold the pinned image yet");
    const j = await runJob(d.url, "hk", { kind: "health_check" }, 180000);
    const log = (await api(d.url, "GET", `/api/v1/jobs/${j.id}`)).body.log.map((l) => l.line);
    assert.equal(j.state, "succeeded", JSON.stringify([j.error, j.result, log.slice(-15)]));
    assert.deepEqual(j.result.checks.map((c) => [c.name, c.ok]), [["identify", true], ["known_good_flash", true]]);
    assert.match(j.result.checks[1].detail, new RegExp(`firmware ${id} flashed and booted`));
    assert.equal(await flashSha(eb, 0, img.data.length), sha256(img.data), "the pinned image is on the board");
    const h = (await api(d.url, "GET", "/api/v1/boards/hk/health")).body;
    assert.equal(h.counters.checks_passed, 1);
    assert.equal(h.counters.flash_succeeded, 1);
    assert.equal(h.counters.boot_checks_ok, 1, JSON.stringify(h.counters));
    assert.ok(h.history.some((e) => e.kind === "check" && e.ok));
  });
});
