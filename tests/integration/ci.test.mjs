// CI hardware-in-the-loop through the corral CLI (build/corral) against the sanitized corrald and
// virtual boards: reserve by label, flash (ESP8266 board), run scripts with their exit codes, run a
// test directory to JUnit XML, release; other clients refused while the lease is held; leases
// that expire or are lost; the farm-error exit code for an unreachable daemon and a board unplugged
// mid-run.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, api, eventsSince, startCorrald, startVboard, waitFor, corral } from "./lib.mjs";
import { control, flashRead, MKIMAGE } from "./esp_lib.mjs";

const FARM = 3; // the documented farm-error exit code

/** JUnit XML -> {suite: {tests, failures, errors}, cases: [{name, failure: {type, message}|null, out}]} via Python's parser. */
function parseJunit(file) {
  const py = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
s = root.find("testsuite")
cases = []
for c in s.findall("testcase"):
    f = c.find("failure")
    cases.append({"name": c.get("name"), "failure": None if f is None else {"type": f.get("type"), "message": f.get("message")},
                  "error": c.find("error") is not None, "out": (c.findtext("system-out") or "")})
print(json.dumps({"suite": {k: int(s.get(k)) for k in ("tests", "failures", "errors")}, "cases": cases}))`;
  return new Promise((resolve, reject) =>
    execFile("python3", ["-c", py, file], (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(JSON.parse(out)))));
}

const dir = mkdtempSync(path.join(tmpdir(), "corral-ci-"));
const file = (name, text) => { const p = path.join(dir, name); writeFileSync(p, text); return p; };
const testsDir = path.join(dir, "tests");
const scripts = {
  ok: file("ok.py", "for i in range(3):\n    print('tick', i)\n"),
  raises: file("raises.py", "print('before')\nraise ValueError('bad value 7')\n"),
  loops: file("loops.py", "print('start')\nwhile True:\n    pass\n"),
};

describe("a CI job drives the farm with the corral CLI", () => {
  let d, mp, esp;
  before(async () => {
    mp = await startVboard("micropython");
    esp = await startVboard("esp8266", ["--no-pacing"]);
    d = await startCorrald({ args: ["--port", `mp=${mp.endpoint},family=micropython`, "--port", `esp=${esp.endpoint},family=esp8266`] });
    for (const [b, label] of [["mp", "ci-mp"], ["esp", "ci-esp"]]) {
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, `${b} online`);
      assert.equal((await api(d.url, "PATCH", `/api/v1/boards/${b}`, { labels: [label] })).status, 200);
    }
    mkdirSync(testsDir);
    file("tests/test_a_passes.py", "print('all good')\nassert 1 + 1 == 2\n");
    file("tests/test_b_fails.py", "print('checking')\nassert 1 + 1 == 3, 'arithmetic is broken'\n");
  });
  after(async () => {
    await d?.stop();
    await mp?.stop();
    await esp?.stop();
  });

  const reserve = async (args) => {
    const r = await corral(["reserve", ...args], { server: d.url });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const release = (lease) => corral(["release"], { server: d.url, env: { CORRAL_LEASE: lease } });

  describe("while a lease on the MicroPython board is held", () => {
    let lease;
    before(async () => { lease = await reserve(["--label", "ci-mp", "--ttl", "300", "--owner", "ci-job-123"]); });
    after(async () => { await release(lease); });
    const as = (args) => corral(args, { server: d.url, env: { CORRAL_LEASE: lease } });

    test("reserve prints a lease token for the board with that label", async () => {
      assert.match(lease, /^cl-\d+-[0-9a-f]{64}$/);
      const list = (await api(d.url, "GET", "/api/v1/reservations")).body.reservations;
      assert.deepEqual(list.map((r) => [r.board, r.owner]), [["mp", "ci-job-123"]]);
    });

    test("a second client queuing a job on the board gets 409 naming the holder", async () => {
      const r = await api(d.url, "POST", "/api/v1/boards/mp/jobs", { kind: "run", script: "print(1)" });
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, "board_reserved");
      assert.equal(r.body.error.details.holder, "ci-job-123");
      assert.equal(r.body.error.details.board, "mp");
      const cli = await corral(["run", "mp", scripts.ok], { server: d.url });
      assert.equal(cli.code, FARM);
      assert.match(cli.stderr, /reserved by ci-job-123/);
    });

    test("a second client reserving the same label is refused naming the holder", async () => {
      const r = await corral(["reserve", "--label", "ci-mp", "--owner", "other"], { server: d.url });
      assert.equal(r.code, FARM);
      assert.match(r.stderr, /ci-job-123 holds mp until/);
    });

    test("run exits 0 and streams the script's output", async () => {
      const r = await as(["run", "mp", scripts.ok]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "tick 0\ntick 1\ntick 2\n");
    });

    test("run exits 1 when the script raises, naming the exception", async () => {
      const r = await as(["run", "mp", scripts.raises]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "before\n");
      assert.match(r.stderr, /ValueError: bad value 7/);
    });

    test("run exits 124 when the script outlives --timeout", async () => {
      const r = await as(["run", "mp", scripts.loops, "--timeout", "2"]);
      assert.equal(r.code, 124, r.stderr);
      assert.equal(r.stdout, "start\n");
    });

    test("test writes JUnit XML with one passing and exactly one failing testcase, and exits 1", async () => {
      const out = path.join(dir, "junit.xml");
      const r = await as(["test", "mp", testsDir, "--junit", out]);
      assert.equal(r.code, 1, r.stderr);
      const x = await parseJunit(out);
      assert.deepEqual(x.suite, { tests: 2, failures: 1, errors: 0 });
      assert.deepEqual(x.cases.map((c) => c.name), ["test_a_passes", "test_b_fails"]);
      assert.equal(x.cases[0].failure, null);
      assert.equal(x.cases[0].out, "all good\n");
      assert.deepEqual(x.cases[1].failure, { type: "AssertionError", message: "arithmetic is broken" });
      assert.equal(x.cases[1].out, "checking\n");
    });
  });

  test("flash uploads the firmware and flashes the reserved ESP8266 with --mode dio", async () => {
    const fw = path.join(dir, "fw.bin");
    await new Promise((res, rej) => execFile(MKIMAGE, ["--chip", "esp8266", "--version", "1.25.0", "-o", fw], (e) => (e ? rej(e) : res())));
    const leaseFile = path.join(dir, "esp.lease");
    await reserve(["--label", "ci-esp", "--lease-file", leaseFile, "--ttl", "120"]);
    const r = await corral(["flash", "esp", fw, "--mode", "dio", "--lease-file", leaseFile], { server: d.url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /flashed esp: \d+ bytes written/);
    assert.equal((await flashRead(esp, 0, 4))[2], 2, "flash mode byte patched to DIO");
    const rel = await corral(["release", "--lease-file", leaseFile], { server: d.url });
    assert.equal(rel.code, 0, rel.stderr);
    assert.deepEqual((await api(d.url, "GET", "/api/v1/reservations")).body.reservations, []);
  });

  test("release frees the board for anyone", async () => {
    const lease = await reserve(["--board", "mp", "--ttl", "60"]);
    assert.equal((await release(lease)).code, 0);
    const r = await corral(["run", "mp", scripts.ok], { server: d.url });
    assert.equal(r.code, 0, r.stderr);
  });

  test("a lease released by another client is lost: run exits with the farm-error code", async () => {
    const lease = await reserve(["--board", "mp", "--ttl", "60"]);
    const id = lease.split("-")[1];
    assert.equal((await api(d.url, "DELETE", `/api/v1/reservations/${id}`, undefined, { "X-Corral-Lease": lease })).status, 200);
    const r = await corral(["run", "mp", scripts.ok], { server: d.url, env: { CORRAL_LEASE: lease } });
    assert.equal(r.code, FARM);
    assert.match(r.stderr, /no longer valid: it was released\. \(lease_lost/);
  });

  test("an expired lease frees the board and is announced", async () => {
    const since = (await api(d.url, "GET", "/api/v1/events")).body.last_seq;
    await reserve(["--board", "mp", "--ttl", "1", "--owner", "short"]);
    await waitFor(async () => (await eventsSince(d.url, since)).some((e) => e.type === "reservation.expired" && e.data.owner === "short"),
      5000, "reservation.expired");
    const r = await corral(["run", "mp", scripts.ok], { server: d.url });
    assert.equal(r.code, 0, r.stderr);
  });

  test("reserve --wait gets the board once its holder releases it", async () => {
    const first = await reserve(["--board", "mp", "--ttl", "60", "--owner", "first"]);
    const t0 = Date.now();
    const waiting = corral(["reserve", "--board", "mp", "--wait", "20", "--owner", "second"], { server: d.url });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await release(first)).code, 0);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 < 10000, "woken by the release, not by the deadline");
    assert.equal((await release(r.stdout.trim())).code, 0);
  });

  test("renew extends the lease to --ttl from now", async () => {
    const lease = await reserve(["--board", "mp", "--ttl", "5"]);
    const r = await corral(["renew", "--ttl", "600"], { server: d.url, env: { CORRAL_LEASE: lease } });
    assert.equal(r.code, 0, r.stderr);
    const [l] = (await api(d.url, "GET", "/api/v1/reservations")).body.reservations;
    assert.ok(l.expires_in_s > 500, `expires in ${l.expires_in_s} s`);
    assert.equal((await release(lease)).code, 0);
  });

  test("a usage error exits 2", async () => {
    assert.equal((await corral(["run", "mp"], { server: d.url })).code, 2);
    assert.equal((await corral(["run", "mp", scripts.ok, "--mode", "dio"], { server: d.url })).code, 2);
  });

  test("an unreachable daemon is a farm error", async () => {
    const r = await corral(["run", "mp", scripts.ok], { server: "http://127.0.0.1:1" });
    assert.equal(r.code, FARM);
    assert.match(r.stderr, /cannot reach corrald/);
  });

  test("a board unplugged during a run is a farm error", async () => {
    const since = (await api(d.url, "GET", "/api/v1/events")).body.last_seq;
    const running = corral(["run", "mp", scripts.loops, "--timeout", "60"], { server: d.url });
    let done = null;
    running.then((r) => { done = r; });
    await waitFor(async () => {
      if (done) throw new Error(`corral run ended early (${done.code}): ${done.stderr}`);
      const out = (await eventsSince(d.url, since)).filter((e) => e.type === "job.output").map((e) => e.data.data);
      return out.join("").includes("start"); // output arrives in arbitrary pieces
    }, 15000, "the script to start");
    await control(mp.control, "unplug");
    const r = await running;
    assert.equal(r.code, FARM, r.stderr);
    assert.match(r.stderr, /\(board_gone\)/);
    await control(mp.control, "replug");
  });
});
