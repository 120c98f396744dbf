// Runs one test program in its own process group with a whole-run timeout and an optional
// per-test timer; a timeout kills the whole group (vboards, corrald, QEMU started by the test).
import { spawn } from "node:child_process";
import fs from "node:fs";
import { StringDecoder } from "node:string_decoder";

const GRACE_MS = 3000; // SIGTERM, then SIGKILL this much later

function killGroup(pgid, sig) {
  try { process.kill(-pgid, sig); return true; } catch { return false; }
}

// Runs cmd in a new process group. Options:
//   env, cwd          as for spawn
//   timeoutMs         kill the group after this long (whole program)
//   log               path: stdout and stderr, interleaved as they arrive
//   armAtStart        { ms, what }: start the per-test timer at once
//   echo              also copy the output to our stdout/stderr
//   events            open a pipe as fd 3 for the program's structured events (stream "events")
//   onLine(stream, line, ctl)   called for each complete line ("stdout"/"stderr"/"events");
//                     ctl.armTest(ms, what) starts (or restarts) the per-test timer,
//                     ctl.disarmTest() stops it.
// Resolves { code, signal, timeout: null | { kind: "test"|"whole", ms, what }, leftovers }.
export function runGroup(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const logFd = opts.log ? fs.openSync(opts.log, "w") : null;
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["ignore", "pipe", "pipe", ...(opts.events ? ["pipe"] : [])] });
    const streams = { stdout: child.stdout, stderr: child.stderr, ...(opts.events ? { events: child.stdio[3] } : {}) };
    let timeout = null, testTimer = null, killTimer = null, exited = null, leftovers = false;
    const fire = (kind, ms, what) => {
      if (timeout || exited) return;
      timeout = { kind, ms, what };
      killGroup(child.pid, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), GRACE_MS);
    };
    const ctl = {
      armTest(ms, what) { clearTimeout(testTimer); if (ms > 0) testTimer = setTimeout(() => fire("test", ms, what), ms); },
      disarmTest() { clearTimeout(testTimer); testTimer = null; },
    };
    if (opts.armAtStart) ctl.armTest(opts.armAtStart.ms, opts.armAtStart.what);
    const whole = opts.timeoutMs > 0 ? setTimeout(() => fire("whole", opts.timeoutMs, null), opts.timeoutMs) : null;
    for (const [name, stream] of Object.entries(streams)) {
      let rest = "";
      const dec = new StringDecoder("utf8");
      stream.on("data", (buf) => {
        if (name !== "events") {
          if (logFd !== null) fs.writeSync(logFd, buf);
          if (opts.echo) (name === "stdout" ? process.stdout : process.stderr).write(buf);
        }
        if (!opts.onLine) return;
        const text = rest + dec.write(buf);
        const lines = text.split("\n");
        rest = lines.pop();
        for (const l of lines) opts.onLine(name, l.replace(/\r$/, ""), ctl);
      });
      stream.on("end", () => { if (rest && opts.onLine) opts.onLine(name, rest.replace(/\r$/, ""), ctl); rest = ""; });
    }
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      clearTimeout(whole); ctl.disarmTest();
      // Whatever the test left running in its group goes too (it would hold the pipes open
      // and leak into the next test).
      if (killGroup(child.pid, 0)) { leftovers = !timeout; killGroup(child.pid, "SIGKILL"); }
      // A process that left the group may still hold our pipes: stop waiting for them.
      setTimeout(() => { for (const s of Object.values(streams)) s.destroy(); }, GRACE_MS).unref();
    });
    child.on("close", () => {
      clearTimeout(killTimer);
      if (logFd !== null) fs.closeSync(logFd);
      resolve({ ...exited, timeout, leftovers });
    });
    child.on("error", (e) => {
      clearTimeout(whole); ctl.disarmTest();
      if (logFd !== null) fs.closeSync(logFd);
      resolve({ code: 127, signal: null, timeout: null, leftovers: false, error: e.message });
    });
  });
}

// "exit status 3", "signal SIGSEGV".
export function describeExit(r) {
  if (r.error) return `could not start: ${r.error}`;
  return r.signal ? `signal ${r.signal}` : `exit status ${r.code}`;
}

// Writes a section's tally (read by tests/tally/total.mjs) as JSON.
export function writeTally(path, t) {
  if (path) fs.writeFileSync(path, JSON.stringify(t, null, 1) + "\n");
}

// The closing line every runner prints: "label: N passed, N failed, N skipped".
export function tallyLine(label, t) {
  return `${label}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`;
}

// --name=value options and positional arguments.
export function parseArgs(argv) {
  const o = {}, rest = [];
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (m) o[m[1]] = m[2]; else rest.push(a);
  }
  return { o, rest };
}
