// The lab's stand-in uhubctl (tests/vboard/uhubctl): uhubctl's command line and output, with the
// hub ports being virtual boards (VBOARD_UHUBCTL_MAP): off / on / cycle switch the board's power
// (its unplug / replug, which also ends a hang), status lines say what real uhubctl says, and an
// unknown hub or a bad option fails the way uhubctl does.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startVboard, controlCmd } from "./helpers.mjs";

const UHUBCTL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "uhubctl");

function uhubctl(args, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [UHUBCTL, ...args], { env: { ...process.env, ...env } }, (err, stdout) =>
      resolve({ code: err ? err.code : 0, out: stdout }));
  });
}

describe("stand-in uhubctl", () => {
  let vb, env;
  before(async () => {
    vb = await startVboard(["micropython", "--name", "hubbed"]);
    const dir = mkdtempSync(path.join(tmpdir(), "vboard-uhubctl-"));
    const map = path.join(dir, "hubs.json");
    writeFileSync(map, JSON.stringify({ "1-1": { "2": vb.control } }));
    env = { VBOARD_UHUBCTL_MAP: map };
  });
  after(async () => {
    await vb?.kill();
  });

  test("status, off and on switch the virtual board's power", async () => {
    const st = await uhubctl(["-l", "1-1", "-p", "2"], env);
    assert.equal(st.code, 0);
    assert.match(st.out, /^Current status for hub 1-1 \[.*ppps\]\n  Port 2: 0103 power enable connect/);
    await controlCmd(vb.control, "hang");
    const off = await uhubctl(["-l", "1-1", "-p", "2", "-a", "off"], env);
    assert.equal(off.code, 0);
    assert.match(off.out, /Sent power off request\nNew status for hub 1-1 .*\n  Port 2: 0000 off\n$/);
    let s = (await controlCmd(vb.control, "state")).state;
    assert.equal(s.plugged, false);
    assert.equal(s.hung, false, "losing power ends a hang");
    const on = await uhubctl(["-l", "1-1", "-p", "2", "-a", "1"], env);
    assert.match(on.out, /Sent power on request\nNew status .*\n  Port 2: 0103 power/);
    s = (await controlCmd(vb.control, "state")).state;
    assert.equal(s.plugged, true);
  });

  test("cycle switches off, waits the delay, switches on", async () => {
    const t0 = Date.now();
    const r = await uhubctl(["-l", "1-1", "-p", "2", "-a", "cycle", "-d", "0.2"], env);
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 >= 200);
    assert.match(r.out, /Sent power off request[\s\S]*Port 2: 0000 off[\s\S]*Sent power on request[\s\S]*Port 2: 0103 power/);
    assert.equal((await controlCmd(vb.control, "state")).state.plugged, true);
  });

  test("an unknown hub, a bad action, no map", async () => {
    const r = await uhubctl(["-l", "3-9", "-p", "1", "-a", "off"], env);
    assert.equal(r.code, 1);
    assert.match(r.out, /No compatible devices detected at location 3-9!/);
    assert.equal((await uhubctl(["-l", "1-1", "-p", "2", "-a", "sideways"], env)).code, 1);
    const none = await uhubctl(["-a", "off"], { VBOARD_UHUBCTL_MAP: "" });
    assert.equal(none.code, 1);
    assert.match(none.out, /No compatible devices detected/);
  });
});
