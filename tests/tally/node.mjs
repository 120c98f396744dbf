// The runner for the Node suites: runs each *.test.mjs file as its own node process (in its own
// process group) with the spec reporter on stdout and tests/tally/reporter.mjs sending structured
// test events over a pipe. Every test a file enqueued must finish; a file that dies, exits early,
// hangs or finishes fewer tests than it enqueued fails, by name. Stdout is never parsed.
//   node tests/tally/node.mjs [--jobs=N] [--timeout=S] [--test-timeout=S] [--tally=FILE] [--label=L] FILE...
// --timeout: whole-file limit; --test-timeout: longest time without any test starting or ending.
// --jobs: files run at once (default 1: output streams live). With more, each file's output is
// held in its log and printed in one piece when the file ends, followed by its verdict line; the
// tally is the same sum over files, failures listed in the order the files were given. A file
// whose source contains the line "// tally: run alone" never shares the machine with another file.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runGroup, describeExit, writeTally, tallyLine, parseArgs } from "./proc.mjs";

const { o, rest: files } = parseArgs(process.argv.slice(2));
const fileTimeout = Number(o.timeout ?? process.env.TALLY_NODE_FILE_TIMEOUT_S ?? 600) * 1000;
const testTimeout = Number(o["test-timeout"] ?? process.env.TALLY_NODE_TEST_TIMEOUT_S ?? 180) * 1000;
const label = o.label ?? "node";
const jobs = Math.max(1, Math.floor(Number(o.jobs ?? process.env.TALLY_NODE_JOBS ?? 1)) || 1);
const logDir = path.join(o["log-dir"] ?? process.env.LOG_DIR ?? "build/test-logs", label);
const reporter = fileURLToPath(new URL("./reporter.mjs", import.meta.url));
fs.mkdirSync(logDir, { recursive: true });

const key = (e) => `${e.nesting}\u0000${e.file}\u0000${e.line}\u0000${e.column}\u0000${e.name}`;

function newState() {
  return { enqueued: new Map(), running: [], done: new Map(), events: [], rootDone: false, rootCounts: {} };
}

function onEvent(st, line, ctl) {
  let e;
  try { e = JSON.parse(line); } catch { st.garbled = (st.garbled || 0) + 1; return; }
  st.events.push(e);
  const k = key(e);
  switch (e.type) {
    case "test:enqueue":
      st.enqueued.set(k, { name: e.name, nesting: e.nesting, n: (st.enqueued.get(k)?.n || 0) + 1 });
      break;
    case "test:dequeue":
      st.running.push({ k, name: e.name });
      break;
    case "test:pass":
    case "test:fail": {
      const i = st.running.findLastIndex((x) => x.k === k);
      if (i >= 0) st.running.splice(i, 1);
      const d = st.done.get(k) || [];
      d.push(e);
      st.done.set(k, d);
      break;
    }
    case "test:plan":
      if (e.nesting === 0 && e.file === undefined) st.rootDone = true;
      break;
    case "test:diagnostic": {
      const m = /^(tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(e.message || "");
      if (st.rootDone && e.nesting === 0 && m) st.rootCounts[m[1]] = Number(m[2]);
      break;
    }
  }
  if (/^test:(dequeue|pass|fail|plan)$/.test(e.type)) {
    const cur = st.running[st.running.length - 1];
    ctl.armTest(testTimeout, cur ? cur.name : st.rootDone ? "(exiting after its tests)" : "(between tests: a hook or the file's top level)");
  }
}

function judge(file, st, r) {
  const t = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
  const mine = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0 };
  let suiteFailed = false;
  for (const list of st.done.values()) {
    for (const e of list) {
      const suite = e.details?.type === "suite";
      const why = (v) => (typeof v === "string" && v ? v : "no reason given");
      if (suite) {
        if (e.type === "test:fail") { suiteFailed = true; t.failures.push(`${file}: suite '${e.name}': ${e.details?.error?.message || "failed"}`); }
        continue;
      }
      mine.tests++;
      if (e.todo !== undefined) {
        mine.todo++; t.skipped++;
        t.skips.push({ name: `${file}: ${e.name}`, reason: `todo: ${why(e.todo)}${e.type === "test:fail" ? " (fails, as expected)" : ""}` });
      } else if (e.skip !== undefined) {
        mine.skipped++; t.skipped++;
        t.skips.push({ name: `${file}: ${e.name}`, reason: `skipped: ${why(e.skip)}` });
      } else if (e.type === "test:pass") {
        mine.pass++; t.passed++;
      } else {
        mine.fail++; t.failed++;
        const err = e.details?.error || {};
        const what = err.failureType === "testTimeoutFailure" ? "timed out" : err.failureType === "cancelledByParent" ? "cancelled" : "failed";
        t.failures.push(`${file}: '${e.name}' ${what}: ${err.message || ""}`.trimEnd());
      }
    }
  }
  // Declared (enqueued) against finished, by test.
  const missing = [];
  for (const [k, q] of st.enqueued) {
    const n = (st.done.get(k) || []).length;
    for (let i = n; i < q.n; i++) missing.push(q.name);
  }
  const problems = [];
  const cur = st.running[st.running.length - 1];
  if (r.timeout) {
    problems.push(r.timeout.kind === "test"
      ? `hung: killed after ${r.timeout.ms / 1000}s without progress (per-test timeout) in '${r.timeout.what}'`
      : `hung: killed after the per-file timeout (${r.timeout.ms / 1000}s)${cur ? ` during '${cur.name}'` : ""}`);
  } else if (!st.rootDone) {
    const where = cur ? `during '${cur.name}'` : st.events.length ? "before its tests finished" : "before any test event (declares no tests, or failed or exited while loading)";
    problems.push(`${r.code === 0 && !r.signal ? "exited early" : "died"} (${describeExit(r)}) ${where}`);
  } else if (r.code !== 0 || r.signal) {
    if (!t.failed && !suiteFailed) problems.push(`${describeExit(r)} although its tests passed`);
  }
  if (st.rootDone && !r.timeout) {
    const c = st.rootCounts;
    const same = c.tests === mine.tests && c.pass === mine.pass && (c.fail ?? 0) + (c.cancelled ?? 0) === mine.fail &&
                 c.skipped === mine.skipped && c.todo === mine.todo;
    if (!same) problems.push(`node's own summary (${JSON.stringify(c)}) disagrees with the events seen (${JSON.stringify(mine)})`);
    if (mine.tests === 0 && !suiteFailed) problems.push("declares no tests");
  }
  if (st.garbled) problems.push(`${st.garbled} unreadable event lines`);
  if (missing.length) {
    const declared = [...st.enqueued.values()].reduce((a, q) => a + q.n, 0);
    problems.push(`${declared - missing.length} of ${declared} declared tests finished; never finished: ${[...new Set(missing)].slice(0, 5).map((n) => `'${n}'`).join(", ")}${missing.length > 5 ? ", ..." : ""}`);
  }
  if (problems.length || suiteFailed) {
    t.failed += Math.max(missing.length, t.failed ? 0 : 1);
    if (problems.length) t.failures.push(`${file}: ${problems.join("; ")}`);
  }
  return { t, problems };
}

// Runs one file; resolves its tally. jobs > 1: its output goes to its log only, and is printed,
// whole, before its verdict.
async function runFile(file) {
  const base = file.replace(/[^A-Za-z0-9_.-]+/g, "_");
  const log = path.join(logDir, `${base}.log`);
  const evlog = fs.openSync(path.join(logDir, `${base}.events.tsv`), "w");
  const st = newState();
  const started = Date.now();
  const r = await runGroup(process.execPath, [
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    `--test-reporter=${reporter}`, "--test-reporter-destination=stderr", file,
  ], {
    env: { ...process.env, TALLY_EVENTS_FD: "3" }, events: true, echo: jobs === 1, log, timeoutMs: fileTimeout,
    armAtStart: { ms: testTimeout, what: "(loading the file)" },
    onLine: (stream, line, ctl) => {
      if (stream !== "events") return;
      fs.writeSync(evlog, `${Date.now() - started}\t${line}\n`); // ms since the file started
      onEvent(st, line, ctl);
    },
  });
  fs.closeSync(evlog);
  const { t } = judge(file, st, r);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const out = [];
  for (const s of t.skips) out.push(`SKIP  ${s.name} (${s.reason})`);
  const counts = `${t.passed} passed${t.failed ? `, ${t.failed} failed` : ""}${t.skipped ? `, ${t.skipped} skipped` : ""}, ${secs}s`;
  if (t.failed) {
    out.push(`FAIL  ${file} (${counts}; log: ${log})`);
    for (const f of t.failures) out.push(`      ${f}`);
  } else {
    out.push(`ok    ${file} (${counts})${r.leftovers ? "; note: left processes running in its group (killed)" : ""}`);
  }
  if (jobs > 1) {
    let text = fs.readFileSync(log, "utf8");
    if (text && !text.endsWith("\n")) text += "\n";
    process.stdout.write(`--- ${file}\n${text}`);
  }
  process.stdout.write(out.join("\n") + "\n");
  return t;
}

const alone = (file) => { try { return /^\/\/ tally: run alone$/m.test(fs.readFileSync(file, "utf8")); } catch { return false; } };

// A simple pool: up to `jobs` files at once, in the order given; a "run alone" file waits until
// nothing else runs and holds the pool while it runs.
async function runAll() {
  const results = new Array(files.length);
  let next = 0, running = 0, soloRunning = false;
  await new Promise((done) => {
    const pump = () => {
      if (next >= files.length && running === 0) return done();
      while (next < files.length && !soloRunning && running < jobs) {
        const solo = jobs > 1 && alone(files[next]);
        if (solo && running > 0) break;
        const i = next++;
        running++; soloRunning = solo;
        runFile(files[i])
          .catch((e) => {
            console.log(`FAIL  ${files[i]}: the runner failed on it: ${e.message}`);
            return { passed: 0, failed: 1, skipped: 0, failures: [`${files[i]}: the runner failed on it: ${e.message}`], skips: [] };
          })
          .then((t) => { results[i] = t; running--; if (solo) soloRunning = false; pump(); });
      }
    };
    pump();
  });
  return results;
}

const total = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
for (const t of await runAll()) {
  for (const k of ["passed", "failed", "skipped"]) total[k] += t[k];
  total.failures.push(...t.failures);
  total.skips.push(...t.skips);
}
if (files.length === 0) { total.failed++; total.failures.push(`${label}: no test files given`); console.log(`FAIL  ${label}: no test files given`); }
writeTally(o.tally, { label, ...total });
console.log(tallyLine(label, total));
process.exitCode = total.failed ? 1 : 0;
