// Tests of the test runners themselves (tests/tally): each way a test can get lost or hang is
// shown to end as a named failure, and skips, todos and stray summary-like output are counted
// right. The cmocka fixtures are built by `make check-build` (build/san/runner/).
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FX = path.join(ROOT, "tests/runner/fixtures");
const BIN = path.join(ROOT, "build/san/runner");
const CLOSING = /^(?:[A-Za-z][\w-]*: |make check: )?\d+ passed, \d+ failed(?:, \d+ skipped)?$/;

// Runs tests/tally/<kind>.mjs; resolves { code, out, tally, secs, dir }.
function runner(kind, args, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-test-"));
  const tallyFile = path.join(dir, "tally.json");
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, `tests/tally/${kind}.mjs`), `--tally=${tallyFile}`, `--log-dir=${dir}`, ...args],
      { cwd: ROOT, env: { ...process.env, TALLY_NODE_JOBS: "1", ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const tally = fs.existsSync(tallyFile) ? JSON.parse(fs.readFileSync(tallyFile, "utf8")) : null;
        resolve({ code: err ? err.code : 0, out: stdout + stderr, stdout, tally, secs: (Date.now() - started) / 1000, dir });
      });
  });
}

function fixtureBin(name) {
  const p = path.join(BIN, name);
  assert.ok(fs.existsSync(p), `${p} is missing: run make check-build`);
  return p;
}

function closingLine(r) {
  const lines = r.stdout.split("\n").filter((l) => l.trim());
  return lines[lines.length - 1];
}

function counts(r) {
  return { passed: r.tally.passed, failed: r.tally.failed, skipped: r.tally.skipped };
}

// The process is gone (or a zombie waiting for init) within a few seconds of the kill.
async function processGone(pidFile) {
  const pid = Number(fs.readFileSync(pidFile, "utf8"));
  assert.ok(pid > 0, "the fixture wrote its child's pid");
  for (let i = 0; i < 50; i++) {
    let stat;
    try { stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { return true; }
    if (/^\d+ \(.*\) [ZX] /.test(stat)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// ---- cmocka binaries ----

test("a cmocka test that calls exit(0) fails its binary, naming the test and the 10 that never ran", async () => {
  const r = await runner("cmocka", [fixtureBin("fx_exit0")]);
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 1, failed: 10, skipped: 0 });
  assert.match(r.out, /^FAIL  fx_exit0 /m);
  assert.match(r.out, /exited early \(exit status 0\) during 'calls_exit_0'; 1 of 11 declared tests finished, 10 never did/);
  assert.equal(closingLine(r), "unit: 1 passed, 10 failed, 0 skipped");
  assert.match(closingLine(r), CLOSING);
});

test("a UBSan abort in the middle of a cmocka binary fails it with the tests it lost", async () => {
  const r = await runner("cmocka", [fixtureBin("fx_ubsan")]);
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 2, failed: 3, skipped: 0 });
  assert.match(r.out, /died \(exit status 1\) during 'overflows'; 2 of 5 declared tests finished, 3 never did/);
  assert.match(fs.readFileSync(path.join(r.dir, "fx_ubsan.log"), "utf8"), /runtime error: signed integer overflow/);
});

test("an ASan report in the middle of a cmocka binary fails it with the tests it lost", async () => {
  const r = await runner("cmocka", [fixtureBin("fx_asan")]);
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 1, failed: 2, skipped: 0 });
  assert.match(r.out, /died \(exit status 1\) during 'overflows_the_heap'; 1 of 3 declared tests finished, 2 never did/);
  assert.match(fs.readFileSync(path.join(r.dir, "fx_asan.log"), "utf8"), /heap-buffer-overflow/);
});

test("summary-like lines printed by cmocka tests do not change the count; a skip is named with its reason", async () => {
  const r = await runner("cmocka", [fixtureBin("fx_fake")]);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(counts(r), { passed: 2, failed: 0, skipped: 1 });
  assert.deepEqual(r.tally.skips, [{ name: "fx_fake: skips_without_ipv6", reason: "no IPv6 loopback here" }]);
  assert.match(r.out, /^SKIP  fx_fake: skips_without_ipv6 \(no IPv6 loopback here\)$/m);
  assert.match(r.out, /^ok    fx_fake \(2 passed, 1 skipped\)$/m);
  assert.equal(closingLine(r), "unit: 2 passed, 0 failed, 1 skipped");
});

test("a hanging cmocka test is killed by the per-test timeout, with the process it started", async () => {
  const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tally-pid-")), "pid");
  const r = await runner("cmocka", ["--test-timeout=2", "--timeout=120", fixtureBin("fx_hang")], { FX_PIDFILE: pidFile });
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 1, failed: 2, skipped: 0 });
  assert.match(r.out, /hung: killed after the per-test timeout \(2s\) in 'hangs_with_a_child'; 1 of 3 declared tests finished, 2 never did/);
  assert.ok(r.secs < 60, `took ${r.secs}s`);
  assert.ok(await processGone(pidFile), "the test's child process was killed with it");
});

test("a cmocka binary that runs past the per-binary timeout is killed and named", async () => {
  const r = await runner("cmocka", ["--test-timeout=30", "--timeout=3", fixtureBin("fx_slow")]);
  assert.equal(r.code, 1);
  assert.equal(r.tally.passed + r.tally.failed, 6);
  assert.ok(r.tally.failed >= 1);
  assert.match(r.out, /fx_slow: hung: killed after the per-binary timeout \(3s\) during 'takes_a_second'/);
});

// ---- node test files ----

test("a node file that exits (status 0) after its first test fails, naming the tests that never finished", async () => {
  const r = await runner("node", [path.join(FX, "exit_after_first.fixture.mjs")]);
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 1, failed: 2, skipped: 0 });
  assert.match(r.out, /exited early \(exit status 0\) during 'second'; 1 of 3 declared tests finished; never finished: 'second', 'third'/);
  assert.equal(closingLine(r), "node: 1 passed, 2 failed, 0 skipped");
});

test("todo and skipped node tests are counted as skipped and each is printed with its reason", async () => {
  const r = await runner("node", [path.join(FX, "todo_skip.fixture.mjs")]);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(counts(r), { passed: 2, failed: 0, skipped: 3 });
  const f = path.join(FX, "todo_skip.fixture.mjs");
  assert.deepEqual(r.tally.skips, [
    { name: `${f}: not written yet`, reason: "todo: needs the v2 protocol (fails, as expected)" },
    { name: `${f}: needs hardware`, reason: "skipped: no USB board attached" },
    { name: `${f}: skips itself`, reason: "skipped: no reason given" },
  ]);
  for (const s of r.tally.skips) assert.ok(r.out.includes(`SKIP  ${s.name} (${s.reason})`), s.name);
  assert.equal(closingLine(r), "node: 2 passed, 0 failed, 3 skipped");
});

test("a hanging node test is killed by the per-test timeout, with the process it started", async () => {
  const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tally-pid-")), "pid");
  const r = await runner("node", ["--test-timeout=5", "--timeout=120", path.join(FX, "hang_test.fixture.mjs")], { FX_PIDFILE: pidFile });
  assert.equal(r.code, 1);
  assert.deepEqual(counts(r), { passed: 1, failed: 2, skipped: 0 });
  assert.match(r.out, /hung: killed after 5s without progress \(per-test timeout\) in 'hangs'; 1 of 3 declared tests finished; never finished: 'hangs', 'never runs'/);
  assert.ok(r.secs < 60, `took ${r.secs}s`);
  assert.ok(await processGone(pidFile), "the test's child process was killed with it");
});

test("a node file that runs past the per-file timeout is killed and named", async () => {
  const r = await runner("node", ["--test-timeout=30", "--timeout=4", path.join(FX, "hang_file.fixture.mjs")]);
  assert.equal(r.code, 1);
  assert.equal(r.tally.passed + r.tally.failed, 10);
  assert.ok(r.tally.passed < 10 && r.tally.failed >= 1);
  assert.match(r.out, /hang_file\.fixture\.mjs: hung: killed after the per-file timeout \(4s\) during 'step \d+'/);
});

test("'pass 99' and other summary-like output from a node test does not change the count", async () => {
  const r = await runner("node", [path.join(FX, "stdout_lies.fixture.mjs")]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^pass 99$/m); // it was printed...
  assert.deepEqual(counts(r), { passed: 2, failed: 0, skipped: 0 }); // ...and not counted
  assert.equal(closingLine(r), "node: 2 passed, 0 failed, 0 skipped");
});

test("a clean node file with nested suites counts its tests like node does", async () => {
  const r = await runner("node", [path.join(FX, "good.fixture.mjs")]);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(counts(r), { passed: 4, failed: 0, skipped: 0 });
  assert.match(r.out, /^ok    .*good\.fixture\.mjs \(4 passed, [\d.]+s\)$/m);
});

test("--jobs=3: the same tally as one at a time, failures in the order given, each file's output in one piece before its verdict", async () => {
  const fx = ["good", "exit_after_first", "todo_skip", "stdout_lies"].map((n) => path.join(FX, `${n}.fixture.mjs`));
  const one = await runner("node", fx);
  const three = await runner("node", ["--jobs=3", ...fx]);
  assert.equal(three.code, 1);
  assert.deepEqual(counts(three), { passed: 9, failed: 2, skipped: 3 });
  assert.deepEqual(counts(three), counts(one));
  assert.deepEqual(three.tally.failures, one.tally.failures);
  assert.deepEqual(three.tally.skips, one.tally.skips);
  assert.equal(closingLine(three), "node: 9 passed, 2 failed, 3 skipped");
  // Each file: "--- FILE", then only its own output, then its verdict line.
  const lines = three.stdout.split("\n");
  for (const f of fx) {
    const start = lines.indexOf(`--- ${f}`);
    assert.ok(start >= 0, `a header for ${f}`);
    const verdict = lines.findIndex((l, i) => i > start && /^(ok|FAIL) {2,4}/.test(l));
    assert.ok(lines[verdict].includes(f), `the first verdict after ${f}'s header is its own: ${lines[verdict]}`);
    const block = lines.slice(start + 1, verdict);
    assert.ok(!block.some((l) => l.startsWith("--- ")), `no other file's output inside ${f}'s`);
    const log = fs.readFileSync(path.join(three.dir, "node", `${f.replace(/[^A-Za-z0-9_.-]+/g, "_")}.log`), "utf8");
    assert.equal(block.filter((l) => !l.startsWith("SKIP  ")).join("\n"), log.replace(/\n$/, ""), `${f}: its whole log, as written`);
  }
  // Nothing else is printed: no live output outside the blocks, only their failure lines and the closing line.
  const outside = [];
  for (let i = 0, inBlock = false; i < lines.length; i++) {
    if (lines[i].startsWith("--- ")) inBlock = true;
    else if (/^(ok|FAIL) {2,4}/.test(lines[i])) inBlock = false;
    else if (!inBlock && !/^ {6}\S/.test(lines[i]) && lines[i] !== closingLine(three) && lines[i] !== "") outside.push(lines[i]);
  }
  assert.deepEqual(outside, []);
});

test("--jobs: a file marked \"// tally: run alone\" shares the machine with no other file", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-alone-"));
  const mark = path.join(dir, "marks");
  // Each file appends "start NAME" / "end NAME" around a 300 ms test.
  const mk = (name, alone) => {
    const f = path.join(dir, `${name}.fixture.mjs`);
    fs.writeFileSync(f, `${alone ? "// tally: run alone\n" : ""}import test from "node:test";
import fs from "node:fs";
test("${name}", async () => {
  fs.appendFileSync(${JSON.stringify(mark)}, "start ${name}\\n");
  await new Promise((r) => setTimeout(r, 300));
  fs.appendFileSync(${JSON.stringify(mark)}, "end ${name}\\n");
});
`);
    return f;
  };
  const r = await runner("node", ["--jobs=4", mk("a", false), mk("b", false), mk("solo", true), mk("c", false), mk("d", false)]);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(counts(r), { passed: 5, failed: 0, skipped: 0 });
  const marks = fs.readFileSync(mark, "utf8").trim().split("\n");
  const s = marks.indexOf("start solo");
  assert.equal(marks[s + 1], "end solo", `nothing ran beside the solo file: ${marks.join(", ")}`);
  assert.ok(marks.slice(0, s).every((m) => /[ab]$/.test(m)) && marks.slice(s + 2).every((m) => /[cd]$/.test(m)), marks.join(", "));
  // a and b did share the machine (the pool does run files at once).
  assert.deepEqual(marks.slice(0, 2).sort(), ["start a", "start b"]);
});

// ---- the closing line of make check ----

function total(sections) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, "tests/tally/total.mjs"), "--title=make check", ...sections.map((s) => `--section=${s}`)],
      (err, stdout) => resolve({ code: err ? err.code : 0, stdout, out: stdout }));
  });
}

test("the closing line adds the sections up; a section without a tally or with an unexplained exit status fails", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-total-"));
  const j = path.join(dir, "a.json");
  fs.writeFileSync(j, JSON.stringify({ passed: 5, failed: 0, skipped: 2, failures: [], skips: [{ name: "x: y", reason: "skipped: why" }] }));
  const txt = path.join(dir, "b.txt");
  fs.writeFileSync(txt, "ok    thing\n    pass 99\nfuzz: 3 passed, 0 failed, 0 skipped\n");
  const good = await total([`unit,0,${j}`, `fuzz,0,${txt}`]);
  assert.equal(good.code, 0);
  assert.match(good.stdout, /^  x: y \(skipped: why\)$/m);
  assert.equal(closingLine(good), "make check: 8 passed, 0 failed, 2 skipped");
  assert.match(closingLine(good), CLOSING);

  const junk = path.join(dir, "c.txt");
  fs.writeFileSync(junk, "fuzz: 3 passed, 0 failed\nSegmentation fault\n");
  const bad = await total([`unit,0,${j}`, `fuzz,0,${junk}`, `node,0,${path.join(dir, "missing.json")}`, `systemd,1,${txt}`]);
  assert.equal(bad.code, 1);
  assert.equal(closingLine(bad), "make check: 8 passed, 3 failed, 2 skipped");
  assert.match(bad.stdout, /fuzz: the section printed no tally/);
  assert.match(bad.stdout, /node: the section printed no tally/);
  assert.match(bad.stdout, /systemd: exit status 1 with no failure counted/);
});

// ---- the mutation check ----

test("the mutation check names a surviving mutant and a drifted snippet as failures, and counts the caught one", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-mut-"));
  const tallyFile = path.join(dir, "t.json");
  const src = path.join(ROOT, "daemon/engines/esp/slip.c");
  const before = { text: fs.readFileSync(src, "utf8"), mtime: fs.statSync(src).mtimeMs };
  const r = await new Promise((resolve) => {
    execFile(path.join(ROOT, "tests/mutation/run"), [`--tally=${tallyFile}`, `--mutants=${path.join(FX, "mutants.fixture.mjs")}`],
      { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout) => resolve({ code: err ? err.code : 0, stdout }));
  });
  assert.equal(r.code, 1, r.stdout);
  const t = JSON.parse(fs.readFileSync(tallyFile, "utf8"));
  assert.deepEqual({ passed: t.passed, failed: t.failed }, { passed: 1, failed: 2 }, r.stdout);
  assert.match(r.stdout, /^killed    caught: /m);
  assert.match(r.stdout, /^FAIL  harmless SURVIVED: changes only a comment/m);
  assert.match(r.stdout, /^FAIL  drifted: its snippet is found 0 times in daemon\/engines\/esp\/slip\.c \(want exactly 1\)/m);
  assert.equal(closingLine(r), "mutation: 1 passed, 2 failed, 0 skipped");
  // the work tree's source was never touched
  assert.deepEqual({ text: fs.readFileSync(src, "utf8"), mtime: fs.statSync(src).mtimeMs }, before);
});
