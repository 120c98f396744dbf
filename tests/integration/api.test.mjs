// REST API v1 against the real corrald: every endpoint, its errors, and the daemon's lifecycle
// (config errors, SIGHUP reload, SIGTERM, SIGKILL + restart). Boards here are static ports to
// local TCP peers; the virtual-board tests live in boards.test.mjs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { api, CORRALD, silentServer, startCorrald, waitFor, waitJob } from "./lib.mjs";

describe("REST API v1", () => {
  let d, silent;
  before(async () => {
    silent = await silentServer();
    d = await startCorrald({ args: ["--port", `quiet=socket://127.0.0.1:${silent.port},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/quiet")).body.state === "online", 10000, "board online");
  });
  after(async () => { await d.stop(); silent.close(); });

  test("health reports ok, the version and the schema version", async () => {
    const r = await api(d.url, "GET", "/api/v1/health");
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "ok");
    assert.ok(r.body.schema_version >= 1);
    assert.equal(r.body.boards.online + r.body.boards.busy, 1);
  });

  test("boards lists a static port with its state, family and port", async () => {
    const r = await api(d.url, "GET", "/api/v1/boards");
    assert.equal(r.status, 200);
    const b = r.body.boards.find((x) => x.id === "quiet");
    assert.ok(b, "static board listed");
    assert.equal(b.family, "micropython");
    assert.equal(b.port.url, `socket://127.0.0.1:${silent.port}`);
    assert.ok(["online", "busy"].includes(b.state));
  });

  test("boards filters by state and family, and rejects an unknown state", async () => {
    assert.equal((await api(d.url, "GET", "/api/v1/boards?state=offline")).body.boards.length, 0);
    assert.equal((await api(d.url, "GET", "/api/v1/boards?family=esp32")).body.boards.length, 0);
    assert.equal((await api(d.url, "GET", "/api/v1/boards?family=micropython")).body.boards.length, 1);
    const bad = await api(d.url, "GET", "/api/v1/boards?state=sleepy");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid_filter");
  });

  test("an unknown board is 404 with a JSON error naming it", async () => {
    const r = await api(d.url, "GET", "/api/v1/boards/no-such-board");
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, "board_not_found");
    assert.match(r.body.error.message, /no-such-board/);
    assert.equal(r.body.error.details.board, "no-such-board");
  });

  test("PATCH edits name, labels and notes, and the label filter finds it", async () => {
    const r = await api(d.url, "PATCH", "/api/v1/boards/quiet", { name: "Quiet one", labels: ["shelf-a", "mp"], notes: "top shelf" });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, "Quiet one");
    assert.deepEqual(r.body.labels, ["shelf-a", "mp"]);
    assert.equal(r.body.notes, "top shelf");
    assert.equal((await api(d.url, "GET", "/api/v1/boards?label=shelf-a")).body.boards.length, 1);
    assert.equal((await api(d.url, "GET", "/api/v1/boards?label=nope")).body.boards.length, 0);
  });

  test("PATCH refuses unknown fields, bad types and malformed JSON", async () => {
    const unk = await api(d.url, "PATCH", "/api/v1/boards/quiet", { chip: "ESP32" });
    assert.equal(unk.status, 400);
    assert.equal(unk.body.error.code, "unknown_field");
    const typ = await api(d.url, "PATCH", "/api/v1/boards/quiet", { labels: "not-a-list" });
    assert.equal(typ.status, 400);
    assert.equal(typ.body.error.details.field, "labels");
    const mal = await api(d.url, "PATCH", "/api/v1/boards/quiet", '{"name": "x",');
    assert.equal(mal.status, 400);
    assert.equal(mal.body.error.code, "malformed_json");
    const missing = await api(d.url, "PATCH", "/api/v1/boards/nope", { name: "x" });
    assert.equal(missing.status, 404);
  });

  test("POST jobs: malformed JSON is 400", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", "{kind: identify}");
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "malformed_json");
  });

  test("POST jobs: an unknown kind is 400 naming the kinds allowed", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "dance" });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "unknown_kind");
    assert.match(r.body.error.message, /dance/);
    assert.match(r.body.error.details.allowed, /identify/);
    assert.match(r.body.error.details.allowed, /reset/);
    const none = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { timeout_s: 5 });
    assert.equal(none.body.error.code, "missing_kind");
  });

  test("POST jobs: an unknown board is 404", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/ghost/jobs", { kind: "identify" });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, "board_not_found");
  });

  test("POST jobs: an oversize body is 413 with the limit", async () => {
    const big = JSON.stringify({ kind: "identify", pad: "x".repeat(2 * 1024 * 1024) });
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", big);
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "body_too_large");
    assert.equal(r.body.error.details.limit_bytes, 1024 * 1024);
    assert.equal((await api(d.url, "GET", "/api/v1/health")).status, 200, "daemon still serves");
  });

  test("POST jobs: bad parameters are 400 naming the field", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "reset", hold_ms: "long" });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /hold_ms/);
    const t = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "reset", timeout_s: -3 });
    assert.equal(t.status, 400);
    assert.equal(t.body.error.details.field, "timeout_s");
  });

  test("a queued job answers 202 with a Location, and fails in plain words where it cannot work", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "reset" });
    assert.equal(r.status, 202);
    assert.equal(r.headers.get("location"), `/api/v1/jobs/${r.body.id}`);
    assert.equal(r.body.kind, "reset");
    assert.equal(r.body.board, "quiet");
    const job = await waitJob(d.url, r.body.id);
    assert.equal(job.state, "failed");
    assert.equal(job.error.code, "no_reset_lines");
    assert.match(job.error.message, /carries no DTR\/RTS lines/);
  });

  test("jobs list filters by board and state, and rejects bad filters and ids", async () => {
    const all = await api(d.url, "GET", "/api/v1/jobs?board=quiet");
    assert.equal(all.status, 200);
    assert.ok(all.body.jobs.length >= 1);
    assert.ok(all.body.jobs.every((j) => j.board === "quiet"));
    const failed = await api(d.url, "GET", "/api/v1/jobs?state=failed");
    assert.ok(failed.body.jobs.every((j) => j.state === "failed"));
    assert.equal((await api(d.url, "GET", "/api/v1/jobs?state=bogus")).status, 400);
    assert.equal((await api(d.url, "GET", "/api/v1/jobs/abc")).status, 400);
    const nf = await api(d.url, "GET", "/api/v1/jobs/999999");
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.code, "job_not_found");
    const per = await api(d.url, "GET", "/api/v1/boards/quiet/jobs");
    assert.equal(per.status, 200);
    assert.ok(per.body.jobs.length >= 1);
  });

  test("cancel: a queued job is cancelled at once, the running one soon, a finished one is 409", async () => {
    const running = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify", timeout_s: 60 });
    const queued = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify" });
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/jobs/${running.body.id}`)).body.state === "running", 10000, "running");
    const c1 = await api(d.url, "POST", `/api/v1/jobs/${queued.body.id}/cancel`);
    assert.equal(c1.status, 202);
    assert.equal((await waitJob(d.url, queued.body.id)).state, "cancelled");
    const c2 = await api(d.url, "POST", `/api/v1/jobs/${running.body.id}/cancel`);
    assert.equal(c2.status, 202);
    const j = await waitJob(d.url, running.body.id, 15000);
    assert.equal(j.state, "cancelled");
    const again = await api(d.url, "POST", `/api/v1/jobs/${running.body.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "job_finished");
  });

  test("a job's log and progress are readable", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "identify", timeout_s: 60 });
    const j = await waitJob(d.url, r.body.id, 60000);
    assert.equal(j.state, "failed");
    assert.equal(j.error.code, "board_silent");
    assert.ok(Array.isArray(j.log) && j.log.length > 0, "job log has the recovery steps");
    assert.ok(j.started_at && j.finished_at);
  });

  test("metrics speaks Prometheus text with boards and jobs", async () => {
    const r = await api(d.url, "GET", "/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /text\/plain/);
    assert.match(r.body, /^corral_boards\{state="online"\} \d+$/m);
    assert.match(r.body, /^corral_jobs\{kind="reset",state="failed"\} [1-9]\d*$/m);
    assert.match(r.body, /^corral_job_duration_seconds_count\{kind="reset",state="failed"\} \d+$/m);
  });

  test("events can be polled and include the board coming online and job states", async () => {
    const r = await api(d.url, "GET", "/api/v1/events?since=0");
    assert.equal(r.status, 200);
    const types = r.body.events.map((e) => e.type);
    assert.ok(types.includes("board.online"));
    assert.ok(types.includes("job.state"));
    const later = await api(d.url, "GET", `/api/v1/events?since=${r.body.last_seq}`);
    assert.ok(later.body.events.every((e) => e.seq > r.body.last_seq));
    assert.equal((await api(d.url, "GET", "/api/v1/events?since=abc")).status, 400);
  });

  test("unknown paths and wrong methods are JSON errors", async () => {
    const p = await api(d.url, "GET", "/api/v2/boards");
    assert.equal(p.status, 404);
    assert.equal(p.body.error.code, "not_found");
    const m = await api(d.url, "DELETE", "/api/v1/boards");
    assert.equal(m.status, 405);
    assert.equal(m.body.error.code, "method_not_allowed");
  });
});

describe("corrald lifecycle", () => {
  test("a config file with an unknown key stops start-up naming file, line and key", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "listen = 127.0.0.1:0\n# comment\nlisen = 1.2.3.4:5\n");
    const r = spawnSync(CORRALD, ["--config", conf, "--state-dir", dir, "--no-udev"], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${conf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3: unknown key 'lisen'`));
  });

  test("a bad value in a [port] section is refused with its line", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "[port a]\nurl = telnet://x\n");
    const r = spawnSync(CORRALD, ["--config", conf, "--state-dir", dir, "--no-udev"], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /corrald\.conf:2: 'url' must be rfc2217:\/\/HOST:PORT/);
  });

  test("SIGHUP reloads static ports: a new one comes online, a removed one goes offline", async () => {
    const s1 = await silentServer(), s2 = await silentServer();
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, `[port one]\nurl = socket://127.0.0.1:${s1.port}\n`);
    const d = await startCorrald({ args: ["--config", conf] });
    try {
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/one")).body.state === "online", 10000, "one online");
      writeFileSync(conf, `[port two]\nurl = socket://127.0.0.1:${s2.port}\n`);
      d.proc.kill("SIGHUP");
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/two")).body.state === "online", 10000, "two online");
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/one")).body.state === "offline", 10000, "one offline");
      writeFileSync(conf, "[port two]\nbaud = fast\n");
      d.proc.kill("SIGHUP");
      await waitFor(() => /reload refused/.test(d.stderr()), 10000, "refusal logged");
      assert.equal((await api(d.url, "GET", "/api/v1/boards/two")).body.state, "online", "bad reload keeps the running config");
    } finally {
      await d.stop(); s1.close(); s2.close();
    }
  });

  test("SIGTERM during a job exits cleanly within 5 s and the job reads interrupted", async () => {
    const s = await silentServer();
    const d = await startCorrald({ keepState: true, args: ["--port", `q=socket://127.0.0.1:${s.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/q")).body.state === "online", 10000, "online");
    const r = await api(d.url, "POST", "/api/v1/boards/q/jobs", { kind: "identify", timeout_s: 120 });
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/jobs/${r.body.id}`)).body.state === "running", 10000, "running");
    const t0 = Date.now();
    const { code } = await d.stop("SIGTERM");
    assert.equal(code, 0, `clean exit; stderr:\n${d.stderr().slice(-2000)}`);
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
    const d2 = await startCorrald({ stateDir: d.stateDir, args: ["--port", `q=socket://127.0.0.1:${s.port}`] });
    try {
      const j = (await api(d2.url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
      assert.equal(j.state, "interrupted");
    } finally { await d2.stop(); s.close(); }
  });

  test("SIGKILL mid-job: after restart the inventory and history are intact and the job reads interrupted", async () => {
    const s = await silentServer();
    const portArg = ["--port", `k=socket://127.0.0.1:${s.port}`];
    const d = await startCorrald({ args: portArg });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/k")).body.state === "online", 10000, "online");
    await api(d.url, "PATCH", "/api/v1/boards/k", { labels: ["keep-me"], notes: "survives" });
    const done = await api(d.url, "POST", "/api/v1/boards/k/jobs", { kind: "reset" });
    await waitJob(d.url, done.body.id);
    const r = await api(d.url, "POST", "/api/v1/boards/k/jobs", { kind: "identify", timeout_s: 120 });
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/jobs/${r.body.id}`)).body.state === "running", 10000, "running");
    await d.stop("SIGKILL");
    const d2 = await startCorrald({ stateDir: d.stateDir, args: portArg });
    try {
      const b = (await api(d2.url, "GET", "/api/v1/boards/k")).body;
      assert.deepEqual(b.labels, ["keep-me"]);
      assert.equal(b.notes, "survives");
      const j = (await api(d2.url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
      assert.equal(j.state, "interrupted");
      assert.equal(j.error.code, "interrupted");
      const prev = (await api(d2.url, "GET", `/api/v1/jobs/${done.body.id}`)).body;
      assert.equal(prev.state, "failed", "finished history kept as it was");
      assert.match(d2.stderr(), /marked interrupted/);
    } finally { await d2.stop(); s.close(); }
  });
});
