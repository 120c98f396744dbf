// sd_notify against a real notification socket (build/tools/notify_listen stands in for systemd):
// READY=1 once the API answers, WATCHDOG=1 pings when WATCHDOG_USEC is set (none when it is not),
// RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP (also when the new file is refused),
// STOPPING=1 on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { api, ROOT, startCorrald, waitFor } from "./lib.mjs";

const NOTIFY_LISTEN = process.env.NOTIFY_LISTEN || path.join(ROOT, "build/tools/notify_listen");
const monoUs = () => Number(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC on Linux

// Every listener a test starts, stopped after it whether it passed or failed (a listener left
// running keeps node's event loop alive and the file never ends).
const listeners = [];

/** Start notify_listen on dir/notify.sock; .messages fills with {mono_us, msg, fields}. */
async function notifySocket(dir) {
  const sock = path.join(dir, "notify.sock");
  const proc = spawn(NOTIFY_LISTEN, [sock], { stdio: ["pipe", "pipe", "pipe"] });
  const messages = [];
  let out = "", err = "", listening = false;
  proc.stderr.on("data", (d) => { err += d; });
  proc.stdout.on("data", (d) => {
    out += d;
    let nl;
    while ((nl = out.indexOf("\n")) >= 0) {
      const o = JSON.parse(out.slice(0, nl));
      out = out.slice(nl + 1);
      if (o.listening) { listening = true; continue; }
      const fields = Object.fromEntries(o.msg.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
      messages.push({ ...o, fields });
    }
  });
  const exited = new Promise((r) => proc.on("exit", r));
  await Promise.race([waitFor(() => listening, 10000, "notify_listen to bind"),
    exited.then((c) => { throw new Error(`notify_listen exited (${c}): ${err}`); })]);
  const n = { sock, messages, stop: () => { proc.stdin.end(); return exited; } };
  listeners.push(n);
  return n;
}

/** Index of the first message at or after `from` that has field=value. */
const find = (msgs, from, field, value) => msgs.findIndex((m, i) => i >= from && m.fields[field] === value);

describe("sd_notify", () => {
  let dir;
  before(() => { dir = mkdtempSync(path.join(tmpdir(), "corral-notify-")); });
  afterEach(async () => { for (const n of listeners.splice(0)) await n.stop(); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("READY=1 with a STATUS naming the address, once the API answers; STOPPING=1 on SIGTERM", async () => {
    const n = await notifySocket(dir);
    const d = await startCorrald({ env: { NOTIFY_SOCKET: n.sock } });
    try {
      await waitFor(() => find(n.messages, 0, "READY", "1") >= 0, 10000, "READY=1");
      const ready = n.messages[find(n.messages, 0, "READY", "1")];
      const port = new URL(d.url).port;
      assert.equal(ready.fields.STATUS, `Serving on 127.0.0.1:${port}`);
      assert.equal(find(n.messages, 0, "READY", "1"), 0, "READY=1 is the first message");
      assert.equal((await api(d.url, "GET", "/api/v1/health")).status, 200);
      assert.equal(find(n.messages, 0, "WATCHDOG", "1"), -1, "no watchdog pings without WATCHDOG_USEC");
    } finally {
      const { code } = await d.stop();
      assert.equal(code, 0, d.stderr().slice(-2000));
    }
    await waitFor(() => find(n.messages, 0, "STOPPING", "1") >= 0, 5000, "STOPPING=1");
    assert.equal(find(n.messages, 0, "WATCHDOG", "1"), -1, "no watchdog pings without WATCHDOG_USEC");
  });

  test("WATCHDOG_USEC set: WATCHDOG=1 pings keep coming after READY=1", async () => {
    const n = await notifySocket(dir);
    // 400 ms: corrald pings every half of it; five pings are proof it keeps pinging.
    const d = await startCorrald({ env: { NOTIFY_SOCKET: n.sock, WATCHDOG_USEC: "400000" } });
    try {
      await waitFor(() => n.messages.filter((m) => m.fields.WATCHDOG === "1").length >= 5, 20000, "five WATCHDOG=1");
      const first = find(n.messages, 0, "WATCHDOG", "1");
      assert.ok(find(n.messages, 0, "READY", "1") < first, "READY=1 comes before the first ping");
    } finally {
      const { code } = await d.stop();
      assert.equal(code, 0, d.stderr().slice(-2000));
    }
  });

  test("WATCHDOG_PID naming another process: no pings (the watchdog is not ours)", async () => {
    const n = await notifySocket(dir);
    const d = await startCorrald({ env: { NOTIFY_SOCKET: n.sock, WATCHDOG_USEC: "400000", WATCHDOG_PID: "1" } });
    try {
      await waitFor(() => find(n.messages, 0, "READY", "1") >= 0, 10000, "READY=1");
      // A SIGHUP wakes the main loop, where pings are sent: the reload's READY=1 marks the moment
      // a ping would have gone out.
      d.proc.kill("SIGHUP");
      await waitFor(() => find(n.messages, 1, "READY", "1") >= 0, 10000, "READY=1 after the reload");
      assert.equal(find(n.messages, 0, "WATCHDOG", "1"), -1, JSON.stringify(n.messages));
    } finally {
      await d.stop();
    }
  });

  test("SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1; a refused file still ends in READY=1", async () => {
    const n = await notifySocket(dir);
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "max_body = 4K\n");
    const d = await startCorrald({ env: { NOTIFY_SOCKET: n.sock }, args: ["--config", conf] });
    try {
      await waitFor(() => find(n.messages, 0, "READY", "1") >= 0, 10000, "READY=1");
      const base = n.messages.length;
      const before = monoUs();
      d.proc.kill("SIGHUP");
      await waitFor(() => find(n.messages, base, "READY", "1") >= 0, 10000, "READY=1 after the reload");
      const after = monoUs();
      const rl = find(n.messages, base, "RELOADING", "1");
      assert.ok(rl >= base && rl < find(n.messages, base, "READY", "1"), JSON.stringify(n.messages.slice(base)));
      const t = Number(n.messages[rl].fields.MONOTONIC_USEC);
      assert.ok(t >= before && t <= after, `MONOTONIC_USEC ${t} within [${before}, ${after}]`);
      await waitFor(() => /configuration reloaded/.test(d.stderr()), 5000, "the reload logged");

      // A bad file: refused, logged with file:line, and the service still says READY=1.
      writeFileSync(conf, "max_body = 4K\nmax_body = lots\n");
      const base2 = n.messages.length;
      d.proc.kill("SIGHUP");
      await waitFor(() => find(n.messages, base2, "READY", "1") >= 0, 10000, "READY=1 after the refused reload");
      assert.ok(find(n.messages, base2, "RELOADING", "1") >= base2);
      assert.match(d.stderr(), /reload refused, keeping the running configuration: .*corrald\.conf:2: 'max_body' must be a size/);
    } finally {
      const { code } = await d.stop();
      assert.equal(code, 0, d.stderr().slice(-2000));
    }
  });
});
