// Hardware-in-the-loop for any firmware (issue 21): the expect job kind and `corral test --expect`
// against virtual ESP32s running scripted apps (mkimage --app-script): Unity output to JUnit, a
// panic mid-test, an expect that never matches, a fail_on pattern, send/echo with captures, the
// flash-first path, the boot's reset reason, a NUL byte in the output, and bad parameters refused
// with 400.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, api, runJob, startCorrald, startVboard, corral } from "./lib.mjs";
import { MKIMAGE } from "./esp_lib.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "corral-hil-"));

/** JUnit XML -> {suite, cases: [{name, classname, failure|error: {type, message, text}}]} through Python's parser. */
function parseJunit(file) {
  const py = `
import json, sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
def el(e):
    return None if e is None else {"type": e.get("type"), "message": e.get("message"), "text": e.text or ""}
print(json.dumps({"suite": {k: int(s.get(k)) for k in ("tests", "failures", "errors")},
  "cases": [{"name": c.get("name"), "classname": c.get("classname"), "failure": el(c.find("failure")),
             "error": el(c.find("error"))} for c in s.findall("testcase")]}))`;
  return new Promise((resolve, reject) =>
    execFile("python3", ["-c", py, file], (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(JSON.parse(out)))));
}

/** An ESP32 app image running script (see tests/vboard/kinds/esp/app.js). */
function appImage(name, script) {
  const js = path.join(dir, `${name}.json`), out = path.join(dir, `${name}.bin`);
  writeFileSync(js, JSON.stringify(script));
  execFileSync(MKIMAGE, ["--chip", "esp32", "--app-script", js, "-o", out], { stdio: "ignore" });
  return out;
}

const TESTS = [
  ["test_adds_numbers", 18, null],
  ["test_parses_header", 25, null],
  ["test_wifi_connects", 42, "Expected 1 Was 0"],
  ["test_reads_sensor", 57, null],
  ["test_sleeps", 66, null],
];

/** ESP-IDF Unity runner output for TESTS; panicAt: the index of the test that panics. */
function unityScript({ panicAt = -1 } = {}) {
  const steps = [{ print: "I (312) cpu_start: Starting scheduler on PRO CPU." }, { print: "" }];
  for (const [i, [name, line, fail]] of TESTS.entries()) {
    steps.push({ print: `Running ${name}...` }, { delay_ms: 20 });
    if (i === panicAt) {
      steps.push({ panic: { reason: "LoadProhibited", backtrace: ["0x400d1f2e:0x3ffb4e80", "0x400d2a11:0x3ffb4ea0"] } });
      break;
    }
    steps.push({ print: `/src/main/test_main.c:${line}:${name}:${fail ? `FAIL: ${fail}` : "PASS"}` });
  }
  steps.push({ print: "-----------------------" }, { print: "5 Tests 1 Failures 0 Ignored" }, { print: "FAIL" });
  return { line_delay_ms: 2, steps };
}

const SUMMARY_RE = "(?<tests>\\d+) Tests (?<failures>\\d+) Failures (?<ignored>\\d+) Ignored";

describe("expect jobs and corral test --expect on virtual ESP32 apps", () => {
  let d, unity, spare, fwPanic, fwFatal, fwConsole, fwNul;
  before(async () => {
    const img = appImage("unity", unityScript());
    fwPanic = appImage("panic", unityScript({ panicAt: 2 }));
    fwFatal = appImage("fatal", { steps: [{ print: "booting" }, { delay_ms: 100 }, { print: "FATAL: sensor init failed (-3)" },
      { repeat: 400, steps: [{ delay_ms: 25 }, { print: "still alive" }] }] });
    fwNul = appImage("nul", { steps: [{ print: "bin\u0000ary" }, { print: "after the NUL" }] });
    fwConsole = appImage("console", { steps: [{ print: "console ready" }, { write: "> " }, { wait_for: "\n" },
      { print: "token=7f3a" }, { write: "name? " }, { wait_for: "\n" }, { print: "hello board" }] });
    unity = await startVboard("esp32", ["--no-pacing", "--image", `${img}@0x1000`]);
    spare = await startVboard("esp32", ["--no-pacing"]);
    d = await startCorrald({ args: ["--port", `unity=${unity.endpoint},family=esp32`, "--port", `spare=${spare.endpoint},family=esp32`] });
  });
  after(async () => {
    await d?.stop();
    await unity?.stop();
    await spare?.stop();
  });

  test("Unity output, 5 tests 1 failure: exit 1 and JUnit with 5 testcases, the failure's file:line and message", async () => {
    const junit = path.join(dir, "unity.xml");
    const r = await corral(["test", "unity", "--expect-re", SUMMARY_RE, "--junit", junit], d.url);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /5 Tests 1 Failures 0 Ignored/); // the board's output streams
    const x = await parseJunit(junit);
    assert.deepEqual(x.suite, { tests: 5, failures: 1, errors: 0 });
    assert.deepEqual(x.cases.map((c) => c.name), TESTS.map((t) => t[0]));
    const failed = x.cases.filter((c) => c.failure);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].name, "test_wifi_connects");
    assert.equal(failed[0].failure.message, "/src/main/test_main.c:42: Expected 1 Was 0");
  });

  test("the job's result: captures by name, parsed tests, exit_status 1", async () => {
    const job = await runJob(d.url, "unity", { kind: "expect", steps: [{ expect: "cpu_start" }, { expect_re: SUMMARY_RE }] });
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(job.result.exit_status, 1);
    assert.deepEqual(job.result.captures, { tests: "5", failures: "1", ignored: "0" });
    assert.equal(job.result.tests.length, 5);
    assert.deepEqual(job.result.test_totals.unity_summary, { tests: 5, failures: 1, ignored: 0 });
    // the boot log's reset reason: the ROM line after the job's own reset (EN), named
    assert.deepEqual(job.result.boot_reset, { line: "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", cause: 1,
      reason: "POWERON_RESET", kind: "power-on", text: "power-on (rst:0x1 POWERON_RESET)" });
    assert.equal(job.result.unexpected_reset, undefined);
    const t = job.result.tests[2];
    assert.deepEqual([t.name, t.status, t.file, t.line, t.message], ["test_wifi_connects", "failed", "/src/main/test_main.c", 42, "Expected 1 Was 0"]);
  });

  test("the app panics in test 3: tests 1-2 passed, 3 error with the panic reason and backtrace lines", async () => {
    const junit = path.join(dir, "panic.xml");
    const r = await corral(["test", "spare", "--firmware", fwPanic, "--expect-re", SUMMARY_RE, "--timeout", "120", "--junit", junit], d.url);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /fail_on 'panic' matched/);
    assert.match(r.stderr, /Backtrace: 0x400d1f2e:0x3ffb4e80 0x400d2a11:0x3ffb4ea0/);
    const x = await parseJunit(junit);
    assert.deepEqual(x.cases.map((c) => [c.name, c.failure ? "failed" : c.error ? "error" : "passed"]),
      [["test_adds_numbers", "passed"], ["test_parses_header", "passed"], ["test_wifi_connects", "error"]]);
    const e = x.cases[2].error;
    assert.match(e.message, /Guru Meditation Error: Core {2}0 panic'ed \(LoadProhibited\)/);
    assert.match(e.text, /Backtrace: 0x400d1f2e:0x3ffb4e80 0x400d2a11:0x3ffb4ea0/);
    assert.match(e.text, /the test's boot: power-on \(rst:0x1 POWERON_RESET\)/);
    assert.match(r.stderr, /the board booted after a reset: power-on \(rst:0x1 POWERON_RESET\)/);
  });

  test("an expect that never matches: exit 124 with the transcript tail", async () => {
    const junit = path.join(dir, "timeout.xml");
    const r = await corral(["test", "unity", "--expect", "this is never printed", "--step-timeout", "1500", "--junit", junit], d.url);
    assert.equal(r.code, 124, r.stderr);
    assert.match(r.stderr, /no match for expect 'this is never printed' within 1500 ms/);
    assert.match(r.stderr, /the last \d+ lines from the board:[\s\S]*corral: {3}\| 5 Tests 1 Failures 0 Ignored/);
    const x = await parseJunit(junit);
    const run = x.cases.find((c) => c.name === "expect");
    assert.equal(run.error.type, "Timeout");
    assert.match(run.error.text, /5 Tests 1 Failures 0 Ignored/);
  });

  test("a fail_on pattern ends the job right after its line, not at the step's timeout", async () => {
    const up = await api(d.url, "POST", "/api/v1/firmware?filename=fatal.bin", readFileSync(fwFatal), { "content-type": "application/octet-stream" });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const job = await runJob(d.url, "spare", { kind: "expect", flash: { firmware: up.body.id },
      steps: [{ expect: "never printed", timeout_ms: 60000 }], fail_on: [{ literal: "FATAL:", name: "fatal" }] }, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const res = job.result;
    assert.equal(res.exit_status, 1);
    assert.equal(res.outcome, "fail_on");
    assert.equal(res.fail_on.name, "fatal");
    assert.equal(res.fail_on.line, "FATAL: sensor init failed (-3)");
    assert.equal(res.failed_step.index, 0);
    // the job's own clock: when the line arrived, when the engine decided, when the job stopped reading
    assert.ok(res.fail_on.at_ms >= 100, JSON.stringify(res.fail_on)); // the app waits 100 ms after booting to print it
    assert.ok(res.ended_ms === res.fail_on.at_ms, JSON.stringify(res));
    assert.ok(res.stopped_ms >= res.ended_ms, JSON.stringify(res));
    assert.ok(res.stopped_ms - res.fail_on.at_ms < 100, `stopped ${res.stopped_ms - res.fail_on.at_ms} ms after the line`);
    // nothing after the line was taken in: the app's "still alive" every 25 ms never reached the engine
    assert.equal(res.transcript.at(-1), "FATAL: sensor init failed (-3)");
    assert.ok(!res.transcript.includes("still alive"), JSON.stringify(res.transcript));
  });

  test("send and expect: a console app answers, captures from a regex", async () => {
    const up = await api(d.url, "POST", "/api/v1/firmware?filename=console.bin", readFileSync(fwConsole), { "content-type": "application/octet-stream" });
    const job = await runJob(d.url, "spare", { kind: "expect", flash: { firmware: up.body.id }, steps: [
      { expect: "> " }, { send: "help" }, { expect_re: "token=(?<token>[0-9a-f]+)" }, { expect: "name? " },
      { send: "corral" }, { expect: "hello board", name: "greeting" }] }, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(job.result.exit_status, 0, JSON.stringify(job.result));
    assert.equal(job.result.captures.token, "7f3a");
    assert.equal(job.result.steps_done, 6);
    assert.deepEqual(job.result.tests, []);
  });

  test("a NUL byte in the board's output: kept in the stored result, and the CLI reads it", async () => {
    const r = await corral(["test", "spare", "--firmware", fwNul, "--expect-re", "bin(?<blob>.)ary", "--expect", "after the NUL",
      "--timeout", "120", "--json"], d.url);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout); // the job as GET /api/v1/jobs/ID serves it from the store
    assert.deepEqual(out.result.captures, { blob: "\u0000" });
  });

  test("bad parameters are refused with 400 naming the problem", async () => {
    const cases = [
      [{ steps: [{ expect_re: "(unclosed" }] }, /steps\[0\]\.expect_re is not a valid regular expression: missing closing parenthesis at offset 9/],
      [{ steps: [] }, /'steps' must be a list of 1 to 256 steps/],
      [{}, /'steps' must be a list/],
      [{ steps: [{ expect: "a" }, { expekt: "b" }] }, /steps\[1\]: unknown step type 'expekt'/],
      [{ steps: [{ expect: "a", timeout_ms: 0 }] }, /steps\[0\]: 'timeout_ms' must be a whole number of milliseconds from 1 to 3600000/],
      [{ steps: [{ expect: "a", timeout_ms: 3600001 }] }, /from 1 to 3600000/],
      [{ steps: [{ wait_ms: -1 }] }, /steps\[0\]: 'wait_ms' must be a whole number of milliseconds from 0 to 3600000/],
      [{ steps: [{ send_hex: "abc" }] }, /steps\[0\]\.send_hex must be an even number of hex digits/],
      [{ steps: [{ expect: "" }] }, /steps\[0\]\.expect must be 1 to 1024 bytes/],
      [{ steps: [{ expect: "a" }], fail_on: [{ regex: "[" }] }, /fail_on\[0\] is not a valid regular expression/],
      [{ steps: [{ expect: "a" }], parse: "tap" }, /'parse' must be one of/],
      [{ steps: [{ expect: "a" }], flash: { firmware: "xyz" } }, /flash: 'firmware' must be a firmware id/],
    ];
    for (const [params, re] of cases) {
      const r = await api(d.url, "POST", "/api/v1/boards/unity/jobs", { kind: "expect", ...params });
      assert.equal(r.status, 400, `${JSON.stringify(params)} -> ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_params");
      assert.match(r.body.error.message, re, JSON.stringify(params));
    }
  });
});
