// Adds up the sections of make check (tests/run-all) into its closing line. Each section is
// "--section=LABEL,STATUS,PATH": PATH is a runner's JSON tally (*.json) or a log whose last line
// is exactly "LABEL: N passed, N failed[, N skipped]". A missing tally, an unreadable last line or
// a non-zero STATUS with no failure counted is itself a failure, so nothing is lost silently.
//   node tests/tally/total.mjs [--title=make check] --section=... ...
import fs from "node:fs";

const title = (process.argv.find((a) => a.startsWith("--title=")) || "--title=make check").slice(8);
const sections = process.argv.filter((a) => a.startsWith("--section=")).map((a) => a.slice(10).split(","));
const LINE = /^([A-Za-z][\w-]*): (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/;

const total = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
for (const [label, status, file] of sections) {
  let t = null;
  try {
    if (file.endsWith(".json")) {
      t = JSON.parse(fs.readFileSync(file, "utf8"));
    } else {
      const last = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).pop() || "";
      const m = LINE.exec(last);
      if (m) t = { passed: +m[2], failed: +m[3], skipped: +(m[4] || 0), failures: +m[3] ? [`${label}: see ${file}`] : [], skips: [] };
    }
  } catch { t = null; }
  if (!t) t = { passed: 0, failed: 1, skipped: 0, failures: [`${label}: the section printed no tally (crashed?); see ${file}`], skips: [] };
  if (Number(status) !== 0 && !t.failed) { t.failed = 1; t.failures.push(`${label}: exit status ${status} with no failure counted`); }
  for (const k of ["passed", "failed", "skipped"]) total[k] += t[k];
  total.failures.push(...(t.failures || []));
  total.skips.push(...(t.skips || []));
}
if (sections.length === 0) { total.failed = 1; total.failures.push("no sections"); }

console.log();
if (total.skips.length) {
  console.log(`Skipped and todo (${total.skips.length}):`);
  for (const s of total.skips) console.log(`  ${s.name} (${s.reason})`);
}
if (total.failures.length) {
  console.log(`Failed:`);
  for (const f of total.failures) console.log(`  ${f}`);
}
console.log(`${title}: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed ? 1 : 0;
