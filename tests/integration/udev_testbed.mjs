// Hotplug helpers: drive build/tools/udev_testbed (a umockdev testbed with real uevents), start
// corrald under umockdev-wrapper on that testbed, and follow its event poll with arrival times.
import { spawn } from "node:child_process";
import path from "node:path";
import { api, ROOT, startCorrald, waitFor } from "./lib.mjs";

export const UDEV_TESTBED = process.env.UDEV_TESTBED || path.join(ROOT, "build/tools/udev_testbed");

const nowMs = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC on Linux

/**
 * Start the testbed driver. Returns {dir, add(name, spec), remove(name), renumber(name, tty), stop()}.
 * Each command resolves to the driver's JSON answer plus sentMs (when the command was written);
 * a {"ok":false} answer rejects. add() defaults to node=none (udev names /dev/ttyX, no file
 * exists): a mocked pty devnode can crash corrald inside umockdev's preload (thread race in its
 * stat wrapper, see tests/tools/udev_testbed.c); pass {node: "pty"} to get one anyway.
 */
export async function startTestbed() {
  const proc = spawn(UDEV_TESTBED, [], { stdio: ["pipe", "pipe", "pipe"] });
  let buf = "", err = "";
  const lines = [], waiters = [];
  proc.stderr.on("data", (d) => { err += d; });
  proc.stdout.on("data", (d) => {
    buf += d;
    for (let nl; (nl = buf.indexOf("\n")) >= 0;) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (waiters.length) waiters.shift()(line); else lines.push(line);
    }
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
  const nextLine = () => Promise.race([
    new Promise((resolve) => { if (lines.length) resolve(lines.shift()); else waiters.push(resolve); }),
    exited.then(({ code, sig }) => { throw new Error(`udev_testbed exited (${code ?? sig}):\n${err}`); }),
  ]);
  const { umockdev_dir: dir } = JSON.parse(await nextLine());
  let queue = Promise.resolve();
  const send = (line) => {
    const p = queue.then(async () => {
      const sentMs = nowMs();
      proc.stdin.write(line + "\n");
      const reply = JSON.parse(await nextLine());
      if (!reply.ok) throw new Error(`udev_testbed: ${line}: ${reply.error}`);
      return { ...reply, sentMs, ueventMs: reply.uevent_us / 1000 };
    });
    queue = p.catch(() => {});
    return p;
  };
  const kv = (spec) => Object.entries(spec).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(" ");
  return {
    dir,
    stderr: () => err,
    add: (name, spec) => send(`add ${name} ${kv({ node: "none", ...spec })}`),
    remove: (name) => send(`remove ${name}`),
    renumber: (name, tty) => send(`renumber ${name} tty=${tty}`),
    async stop() {
      if (proc.exitCode === null && !proc.signalCode) proc.stdin.end("quit\n");
      return exited;
    },
  };
}

/** corrald with USB discovery on, under umockdev-wrapper, seeing the testbed's sysfs and uevents. */
export function startHotplugCorrald(tb, opts = {}) {
  const asan = `${process.env.ASAN_OPTIONS || "detect_leaks=1"}:verify_asan_link_order=0`;
  return startCorrald({ ...opts, udev: true, wrapper: ["umockdev-wrapper"],
    env: { ...(opts.env || {}), UMOCKDEV_DIR: tb.dir, ASAN_OPTIONS: asan } });
}

/**
 * Follow GET /api/v1/events?since=N in a tight loop; every event gets arrivedMs (same clock as
 * the testbed's sentMs). waitEvent(pred, ms) resolves to the first matching event seen so far or later.
 */
export function watchEvents(base, intervalMs = 2) {
  const events = [];
  let since = 0, running = true, failure = null;
  const loop = (async () => {
    while (running) {
      try {
        const r = await api(base, "GET", `/api/v1/events?since=${since}`);
        const t = nowMs();
        for (const e of r.body.events) { events.push({ ...e, arrivedMs: t }); since = e.seq; }
      } catch (e) { failure = e; }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    events,
    lastSeq: () => since,
    waitEvent: (pred, ms = 5000, what = "event") =>
      waitFor(() => { if (failure) throw failure; return events.find(pred); }, ms, what),
    async stop() { running = false; await loop; },
  };
}

/** Predicate: an event of this type about a board whose hints.devnode is devnode, newer than seq. */
export const boardEvent = (type, devnode, afterSeq = 0) => (e) =>
  e.type === type && e.seq > afterSeq && e.data?.hints?.devnode === devnode;
