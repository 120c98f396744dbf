// node:test reporter for tests/tally/node.mjs: writes every test event as one JSON line, at once
// and synchronously, to file descriptor TALLY_EVENTS_FD (a pipe to the runner) or to the file
// TALLY_EVENTS; it yields nothing to its own destination. Events still queued when a test calls
// process.exit() are lost: the runner then fails the file as exited early, whatever it saw.
import fs from "node:fs";

const fd = process.env.TALLY_EVENTS_FD ? Number(process.env.TALLY_EVENTS_FD) : fs.openSync(process.env.TALLY_EVENTS, "a");

function plainError(e) {
  if (!e || typeof e !== "object") return e === undefined ? undefined : { message: String(e) };
  const cause = e.cause && typeof e.cause === "object" ? e.cause : null;
  return {
    failureType: e.failureType,
    code: e.code,
    message: String((cause && cause.message) || e.message || "").split("\n")[0].slice(0, 300),
  };
}

function write(ev) {
  if (ev.type === "test:stdout" || ev.type === "test:stderr" || ev.type === "test:coverage") return;
  const d = ev.data || {};
  const out = { type: ev.type, name: d.name, nesting: d.nesting, file: d.file, line: d.line, column: d.column };
  if (d.skip !== undefined) out.skip = d.skip;
  if (d.todo !== undefined) out.todo = d.todo;
  if (d.count !== undefined) out.count = d.count;
  if (d.message !== undefined) out.message = d.message;
  if (d.details) out.details = { type: d.details.type, duration_ms: d.details.duration_ms, error: plainError(d.details.error) };
  fs.writeSync(fd, JSON.stringify(out) + "\n");
}

export default async function* tallyReporter(source) {
  for await (const ev of source) write(ev);
}
