// Crashes decoded (issue 21): virtual ESP boards run scripted apps that crash in each layout corral
// reads (ESP-IDF Xtensa on an ESP32, ESP-IDF RISC-V on an ESP32-C3, an ESP8266 exception, a Zephyr
// Cortex-M fatal error, a bare-metal HardFault handler) at addresses of real ELFs built here
// (tests/unit/elf/build: Xtensa, RISC-V and ARM); `corral test --elf` must name the function and
// file:line in the JUnit error and the job's result; the boot log's reset reason is named (the
// job's own reset and a reset during the test); without the ELF the addresses are still reported,
// undecoded.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, api, runJob, startCorrald, startVboard, corral } from "./lib.mjs";
import { MKIMAGE } from "./esp_lib.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "corral-hilbt-"));
const elfDir = path.join(dir, "elf");

/** JUnit XML -> [{name, error: {type, message, text}}] through Python's parser. */
function parseJunit(file) {
  const py = `
import json, sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
def el(e):
    return None if e is None else {"type": e.get("type"), "message": e.get("message"), "text": e.text or ""}
print(json.dumps([{"name": c.get("name"), "error": el(c.find("error")), "failure": el(c.find("failure"))} for c in s.findall("testcase")]))`;
  return new Promise((resolve, reject) =>
    execFile("python3", ["-c", py, file], (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(JSON.parse(out)))));
}

/** {name: start} of an ELF's functions from the nm -S listing the build wrote (Thumb bit cleared). */
function symbols(elf) {
  const out = {};
  for (const l of readFileSync(path.join(elfDir, `${elf}.syms`), "utf8").split("\n")) {
    const m = /^([0-9a-f]+) [0-9a-f]+ T (\w+)$/.exec(l);
    if (m) out[m[2]] = parseInt(m[1], 16) & ~1;
  }
  return out;
}

const hex = (v) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

function appImage(name, chip, script) {
  const js = path.join(dir, `${name}.json`), out = path.join(dir, `${name}.bin`);
  writeFileSync(js, JSON.stringify(script));
  execFileSync(MKIMAGE, ["--chip", chip, "--app-script", js, "-o", out], { stdio: "ignore" });
  return out;
}

/** The first lines of a test run, then the crash. */
const crashing = (announce, panic) => ({ line_delay_ms: 2, steps: [{ print: "app starting" }, { print: announce }, { delay_ms: 20 }, { panic }] });

// Every address inside a function of test_app.c has the function's line (see tests/unit/elf/test_app.c).
const LINES = { read_sensor: 5, test_three: 6, app_main: 7 };
const at = (fn) => new RegExp(`at ${fn} \\(\\S*/?test_app\\.c:${LINES[fn]}\\)`);

describe("crash backtraces decoded with the app's ELF", () => {
  let d;
  const boards = {};
  const syms = {};
  before(async () => {
    execFileSync(path.join(ROOT, "tests/unit/elf/build"), [elfDir], { stdio: "inherit" });
    for (const e of ["xtensa", "riscv", "arm"]) syms[e] = symbols(e);
    const x = syms.xtensa, r = syms.riscv, a = syms.arm;
    const images = {
      xtensa: ["esp32", 0x1000, crashing("Running test_three...", { reason: "LoadProhibited",
        backtrace: [`${hex(x.read_sensor + 6)}:0x3ffb4e80`, `${hex(x.test_three + 9)}:0x3ffb4ea0`, `${hex(x.app_main + 6)}:0x3ffb4ec0`] })],
      riscv: ["esp32c3", 0x0, crashing("Running test_three...", { layout: "riscv", pc: r.read_sensor + 4, ra: r.test_three + 8,
        stack: [0x3fc8f300, r.app_main + 6, 0x3fc80000] })],
      zephyr: ["esp32", 0x1000, crashing("START - test_three", { layout: "zephyr", pc: a.read_sensor + 4, lr: (a.test_three + 6) | 1 })],
      cortexm: ["esp32", 0x1000, crashing("Running test_three...", { layout: "cortex-m", pc: a.read_sensor + 2, lr: (a.app_main + 6) | 1 })],
      esp8266: ["esp8266", 0x0, crashing("Running test_three...", { layout: "esp8266", pc: x.read_sensor + 6,
        stack: [0x3ffee7ec, x.test_three + 9, 0x3ffe8000, x.app_main + 6] })],
      reboot: ["esp32", 0x1000, crashing("Running test_three...", { reason: "IllegalInstruction",
        backtrace: [`${hex(x.read_sensor + 6)}:0x3ffb4e80`] })],
      reset: ["esp32", 0x1000, { line_delay_ms: 2, steps: [{ print: "Running test_sleeps..." }, { delay_ms: 20 },
        { print: " ets Jan  8 2013,rst cause:4, boot mode:(3,6)" }, { print: "" }, { print: "load 0x40100000, len 2408" }] }],
    };
    const ports = [];
    for (const [name, [chip, off, script]] of Object.entries(images)) {
      boards[name] = await startVboard(chip, ["--no-pacing", "--image", `${appImage(name, chip, script)}@0x${off.toString(16)}`]);
      ports.push("--port", `${name}=${boards[name].endpoint},family=${chip}`);
    }
    d = await startCorrald({ args: ports });
  });
  after(async () => {
    await d?.stop();
    for (const b of Object.values(boards)) await b.stop();
  });

  /** corral test BOARD --elf ELF: exit 1, and the JUnit's one testcase (test_three) an error naming where. */
  async function crashTest(board, elf, first, also) {
    const junit = path.join(dir, `${board}.xml`);
    const r = await corral(["test", board, "--elf", path.join(elfDir, `${elf}.elf`), "--expect", "never printed",
      "--timeout", "60", "--junit", junit], d.url);
    assert.equal(r.code, 1, r.stderr);
    const cases = await parseJunit(junit);
    assert.equal(cases.length, 1, JSON.stringify(cases));
    assert.equal(cases[0].name, "test_three");
    const e = cases[0].error;
    assert.ok(e, JSON.stringify(cases[0]));
    assert.match(e.message, at(first));
    assert.match(e.text, /Backtrace decoded:/);
    for (const fn of also) assert.match(e.text, new RegExp(`: ${fn} at \\S*test_app\\.c:${LINES[fn]} `));
    assert.match(r.stderr, new RegExp(`${first} at \\S*test_app\\.c:${LINES[first]}`)); // the CLI's summary
    return r;
  }

  test("ESP32 (Xtensa): PC and Backtrace frames -> read_sensor, test_three, app_main with file:line", async () => {
    await crashTest("xtensa", "xtensa", "read_sensor", ["read_sensor", "test_three", "app_main"]);
  });

  test("ESP32-C3 (RISC-V): MEPC, RA and the stack dump's code words (data words dropped)", async () => {
    await crashTest("riscv", "riscv", "read_sensor", ["read_sensor", "test_three", "app_main"]);
    const job = await runJob(d.url, "riscv", { kind: "expect", steps: [{ expect: "never printed" }],
      elf: (await api(d.url, "POST", "/api/v1/firmware?filename=riscv.elf", readFileSync(path.join(elfDir, "riscv.elf")),
        { "content-type": "application/octet-stream" })).body.id });
    const bt = job.result.backtrace;
    assert.equal(bt.machine, "RISC-V");
    assert.deepEqual(bt.frames.map((f) => [f.role, f.function, f.line]),
      [["pc", "read_sensor", 5], ["return", "test_three", 6], ["stack", "app_main", 7]]);
    assert.equal(bt.frames[0].addr, hex(syms.riscv.read_sensor + 4));
  });

  test("ESP8266 (Xtensa lx106, binutils-xtensa-lx106's ELF): epc1 and the >>>stack>>> dump's code words", async () => {
    await crashTest("esp8266", "xtensa", "read_sensor", ["read_sensor", "test_three", "app_main"]);
  });

  test("Zephyr fatal error on a Cortex-M: faulting PC and r14/lr (Thumb) decoded; the default fail_on ends it", async () => {
    const r = await crashTest("zephyr", "arm", "read_sensor", ["read_sensor", "test_three"]);
    assert.match(r.stderr, /fail_on 'fatal_error' matched/);
  });

  test("a Cortex-M HardFault handler's PC and LR", async () => {
    await crashTest("cortexm", "arm", "read_sensor", ["read_sensor", "app_main"]);
  });

  test("without the ELF the addresses are reported undecoded, with how to decode them", async () => {
    const job = await runJob(d.url, "xtensa", { kind: "expect", steps: [{ expect: "never printed" }] });
    const bt = job.result.backtrace;
    assert.deepEqual(bt.frames.map((f) => [f.addr, f.role, f.function]),
      [[hex(syms.xtensa.read_sensor + 6), "pc", undefined], [hex(syms.xtensa.test_three + 9), "frame", undefined],
        [hex(syms.xtensa.app_main + 6), "frame", undefined]]);
    assert.match(bt.note, /give the app's ELF/);
  });

  test("the boot log's reset reason is named: the job's own reset (power-on), and the reboot after a panic (SW_CPU_RESET)", async () => {
    // default fail_on off: the panic does not end the run, the board reboots, and the app panics again
    const job = await runJob(d.url, "reboot", { kind: "expect", default_fail_on: false,
      steps: [{ expect: "never printed", timeout_ms: 1500 }] });
    assert.equal(job.result.exit_status, 124, JSON.stringify(job.result));
    assert.deepEqual(job.result.boot_reset, { line: "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", cause: 1,
      reason: "POWERON_RESET", kind: "power-on", text: "power-on (rst:0x1 POWERON_RESET)" });
    assert.deepEqual(job.result.unexpected_reset, { line: "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", cause: 12,
      reason: "SW_CPU_RESET", kind: "software restart", text: "the board reset during the test: software restart (rst:0xc SW_CPU_RESET)" });
    assert.match(job.result.reason, /no match for expect 'never printed'.*; the board reset during the test: software restart \(rst:0xc SW_CPU_RESET\)/);
    assert.ok(job.result.backtrace.crashes >= 2, JSON.stringify(job.result.backtrace)); // one per boot
    assert.equal(job.result.backtrace.frames[0].addr, hex(syms.xtensa.read_sensor + 6));
    // an ESP32-C3's ROM names its reset differently
    const c3 = await runJob(d.url, "riscv", { kind: "expect", steps: [{ expect: "never printed" }] });
    assert.deepEqual([c3.result.boot_reset.reason, c3.result.boot_reset.kind], ["POWERON", "power-on"]);
    // an ESP8266's ROM prints its reset line at 74880 baud: at the app's 115200 it is noise, and no
    // reset reason is made up from it (the crashes are still there, one per boot)
    const e8266 = await runJob(d.url, "esp8266", { kind: "expect", default_fail_on: false, steps: [{ expect: "never printed", timeout_ms: 1500 }] });
    assert.equal(e8266.state, "succeeded", JSON.stringify([e8266.error, e8266.log]));
    assert.ok(e8266.result, JSON.stringify(e8266).slice(0, 4000));
    assert.equal(e8266.result.exit_status, 124, JSON.stringify(e8266.result));
    assert.deepEqual([e8266.result.boot_reset, e8266.result.unexpected_reset], [undefined, undefined]);
    assert.ok(e8266.result.backtrace.crashes >= 2, JSON.stringify(e8266.result.backtrace));
  });

  test("the CLI and the JUnit error name the boot's reset", async () => {
    const junit = path.join(dir, "boot.xml");
    const r = await corral(["test", "xtensa", "--expect", "never printed", "--timeout", "60", "--junit", junit], d.url);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the board booted after a reset: power-on \(rst:0x1 POWERON_RESET\)/);
    const [tc] = await parseJunit(junit);
    assert.match(tc.error.text, /the test's boot: power-on \(rst:0x1 POWERON_RESET\)/);
  });

  test("a ROM reset line during the test is named: watchdog (rst cause 4)", async () => {
    const job = await runJob(d.url, "reset", { kind: "expect", steps: [{ expect: "never printed" }] });
    assert.equal(job.result.exit_status, 1);
    assert.equal(job.result.fail_on.name, "watchdog");
    assert.match(job.result.reason, /the board reset during the test: watchdog \(rst cause 4\)/);
    assert.deepEqual([job.result.unexpected_reset.cause, job.result.unexpected_reset.kind], [4, "watchdog"]);
    assert.equal(job.result.tests[0].name, "test_sleeps");
    assert.match(job.result.tests[0].message, /the board reset during the test: watchdog \(rst cause 4\)/);
  });

  test("elf parameters are checked: a bad id (400), an unknown id (422), a host path without host-file rights (403)", async () => {
    const post = (body) => api(d.url, "POST", "/api/v1/boards/xtensa/jobs", { kind: "expect", steps: [{ expect: "x" }], ...body });
    let r = await post({ elf: "nope" });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /'elf' must be the firmware id/);
    r = await post({ elf: "a".repeat(64) });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /unknown firmware id a{64} for 'elf'/);
    r = await post({ elf: "a".repeat(64), elf_path: "/x.elf" });
    assert.equal(r.status, 400);
    r = await post({ elf_path: "/etc/passwd" });
    assert.equal(r.status, 403, JSON.stringify(r.body));
  });
});
