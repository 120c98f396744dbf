// The cmocka runner behind tests/run-unit: runs each binary in its own process group, follows
// cmocka's per-test lines on stdout, and checks them against the "Running N" each group declares.
// A binary that dies, exits early, hangs or runs fewer tests than declared fails, by name.
//   node tests/tally/cmocka.mjs [--timeout=S] [--test-timeout=S] [--tally=FILE] [--log-dir=DIR] BIN...
import path from "node:path";
import fs from "node:fs";
import { runGroup, describeExit, writeTally, tallyLine, parseArgs } from "./proc.mjs";

const { o, rest: bins } = parseArgs(process.argv.slice(2));
const binTimeout = Number(o.timeout ?? process.env.TALLY_UNIT_TIMEOUT_S ?? 300) * 1000;
const testTimeout = Number(o["test-timeout"] ?? process.env.TALLY_UNIT_TEST_TIMEOUT_S ?? 60) * 1000;
const logDir = o["log-dir"] ?? process.env.LOG_DIR ?? "build/test-logs";
const label = o.label ?? "unit";
fs.mkdirSync(logDir, { recursive: true });

// cmocka 1.1's standard output, stdout only (its summary goes to stderr and is not used: a test
// can print anything, so only a result line naming the test that is running counts).
const RE = {
  running: /^\[==========\] Running (\d+) test\(s\)\.$/,
  run: /^\[ RUN      \] (.+)$/,
  ok: /^\[       OK \] (.+)$/,
  failed: /^\[  FAILED  \] (.+)$/,
  error: /^\[  ERROR   \] (.+)$/,
  skipped: /^\[  SKIPPED \] (.+)$/,
  done: /^\[==========\] (\d+) test\(s\) run\.$/,
};

// Parser state for one binary: groups of { declared, tests: [{ name, result, out }], closed }.
function newParser() {
  return { groups: [], cur: null, test: null, lastOut: [] };
}

function feed(p, stream, line, ctl) {
  if (stream === "stdout") {
    let m;
    if ((m = RE.running.exec(line)) && !p.test) {
      p.cur = { declared: Number(m[1]), tests: [], closed: false };
      p.groups.push(p.cur);
      return;
    }
    if (p.cur && (m = RE.run.exec(line))) {
      p.test = { name: m[1], result: null, out: [] };
      p.cur.tests.push(p.test);
      p.cur.closed = false; // a "N test(s) run." printed by a test is not the end
      ctl.armTest(testTimeout, m[1]);
      return;
    }
    if (p.test) {
      for (const r of ["ok", "failed", "error", "skipped"]) {
        if ((m = RE[r].exec(line)) && m[1] === p.test.name) {
          p.test.result = r === "error" ? "failed" : r; // the last result line printed for it wins
          ctl.disarmTest();
          return;
        }
      }
    }
    if (p.cur && (m = RE.done.exec(line)) && (!p.test || p.test.result)) {
      p.cur.closed = true;
      p.test = null;
      return;
    }
  }
  // Other output: kept per test, so a skip can show the reason the test printed. stdout and
  // stderr come through two pipes, so a stderr line may arrive after the next test's RUN line
  // (seen: an earlier test's stderr became a skip's reason): the reason is taken from stdout, the
  // stream that carries the RUN lines in order, and from stderr only when stdout had none.
  if (p.test && !p.test.result && line.trim()) p.test.out.push({ stream, line: line.trim() });
}

function judge(name, p, r, log) {
  const t = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
  let declared = 0, finished = 0;
  const current = p.groups.flatMap((g) => g.tests).find((x) => !x.result);
  for (const g of p.groups) {
    declared += g.declared;
    for (const x of g.tests) {
      if (x.result === "ok") t.passed++;
      else if (x.result === "failed") { t.failed++; t.failures.push(`${name}: ${x.name}`); }
      else if (x.result === "skipped") {
        t.skipped++;
        const said = x.out.filter((o) => o.stream === "stdout");
        const from = said.length ? said : x.out;
        const why = from.length ? from[from.length - 1].line : "no reason printed (cmocka skip() takes none)";
        t.skips.push({ name: `${name}: ${x.name}`, reason: why });
      }
      if (x.result) finished++;
    }
  }
  const complete = p.groups.length > 0 && p.groups.every((g) => g.closed && g.tests.filter((x) => x.result).length === g.declared);
  const problems = [];
  if (r.timeout) {
    problems.push(r.timeout.kind === "test"
      ? `hung: killed after the per-test timeout (${r.timeout.ms / 1000}s) in '${r.timeout.what}'`
      : `hung: killed after the per-binary timeout (${r.timeout.ms / 1000}s)${current ? ` during '${current.name}'` : ""}`);
  } else if (!complete || r.code !== 0 || r.signal) {
    if (!complete) {
      const where = current ? `during '${current.name}'` : p.groups.length ? "between tests" : "before declaring any test";
      problems.push(`${r.code === 0 && !r.signal ? "exited early" : "died"} (${describeExit(r)}) ${where}`);
    } else {
      problems.push(`${describeExit(r)} after its tests (a sanitizer or leak report?)`);
    }
  }
  const missing = Math.max(0, declared - finished);
  if (problems.length) {
    if (declared) problems.push(`${finished} of ${declared} declared tests finished, ${missing} never did`);
    if (current) t.failures.push(`${name}: ${current.name} (did not finish)`);
    t.failed += Math.max(missing, t.failed ? 0 : 1);
    t.failures.push(`${name}: ${problems.join("; ")}`);
  }
  if (r.leftovers) problems.push("left processes running in its group (killed)");
  return { t, problems, complete: problems.length === 0 };
}

const total = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
for (const bin of bins) {
  const name = path.basename(bin);
  const log = path.join(logDir, `${name}.log`);
  const env = { ...process.env };
  env.ASAN_OPTIONS ??= "detect_leaks=1:abort_on_error=0";
  env.UBSAN_OPTIONS ??= "print_stacktrace=1:halt_on_error=1";
  let cmd = bin, args = [];
  if (name.startsWith("test_udev_")) {
    env.ASAN_OPTIONS = "verify_asan_link_order=0:detect_leaks=0";
    cmd = "umockdev-wrapper"; args = [bin];
  }
  const p = newParser();
  const r = await runGroup(cmd, args, { env, log, timeoutMs: binTimeout, onLine: (s, l, ctl) => feed(p, s, l, ctl) });
  const { t, problems } = judge(name, p, r, log);
  for (const s of t.skips) console.log(`SKIP  ${s.name} (${s.reason})`);
  const counts = `${t.passed} passed${t.failed ? `, ${t.failed} failed` : ""}${t.skipped ? `, ${t.skipped} skipped` : ""}`;
  if (t.failed || problems.some((x) => !x.startsWith("left processes"))) {
    console.log(`FAIL  ${name} (${counts}; log: ${log})`);
    for (const f of t.failures) console.log(`      ${f}`);
    const tail = fs.readFileSync(log, "utf8").split("\n").slice(-30).join("\n");
    console.log(tail.replace(/^/gm, "    "));
  } else {
    console.log(`ok    ${name} (${counts})${problems.length ? `; note: ${problems.join("; ")}` : ""}`);
  }
  for (const k of ["passed", "failed", "skipped"]) total[k] += t[k];
  total.failures.push(...t.failures);
  total.skips.push(...t.skips);
}
if (bins.length === 0) { total.failed++; total.failures.push(`${label}: no test binaries given`); console.log(`FAIL  ${label}: no test binaries given`); }
writeTally(o.tally, { label, ...total });
console.log(tallyLine(label, total));
process.exitCode = total.failed ? 1 : 0;
