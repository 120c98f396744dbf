// udev_allow / udev_deny from the config file against the real corrald under umockdev (see
// hotplug.test.mjs): boards plugged before start and hotplugged later are listed or not by VID:PID.
// uevents are handled in order on one thread, so every filtered-out board is plugged BEFORE a board
// that must appear; once that one is online, the earlier ones were seen and dropped, and their
// absence is asserted on the full board list and the event log (no race with a slow daemon).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { api } from "./lib.mjs";
import { boardEvent, startHotplugCorrald, startTestbed, watchEvents } from "./udev_testbed.mjs";

const usbId = (b) => `${b.hints?.vid}:${b.hints?.pid}`;
const listed = async (base) => (await api(base, "GET", "/api/v1/boards")).body.boards;

/** A testbed with the `present` boards plugged, then corrald started with conf as its config file. */
function filtered(conf, present) {
  const s = { ttyN: 0, portN: 1 };
  before(async () => {
    s.tb = await startTestbed();
    for (const [name, spec] of present) await s.tb.add(name, { ...spec, ...s.next() });
    s.dir = mkdtempSync(path.join(tmpdir(), "corral-udev-filter-"));
    const file = path.join(s.dir, "corrald.conf");
    writeFileSync(file, conf);
    s.d = await startHotplugCorrald(s.tb, { args: ["--config", file] });
    s.ev = watchEvents(s.d.url);
  });
  after(async () => {
    await s.ev?.stop();
    const exit = await s.d?.stop();
    await s.tb?.stop();
    if (s.dir) rmSync(s.dir, { recursive: true, force: true });
    assert.deepEqual(exit, { code: 0, sig: null }, `corrald exit status; stderr:\n${s.d?.stderr()}`);
  });
  s.next = () => ({ busport: `1-${s.portN++}`, tty: `ttyUSB${s.ttyN++}` });
  /** Plug boards in order; the last one must come online. Resolves to its board.online event. */
  s.plugThen = async (boards) => {
    const since = s.ev.lastSeq();
    let r;
    for (const [name, spec] of boards) r = await s.tb.add(name, { ...spec, ...s.next() });
    return s.ev.waitEvent(boardEvent("board.online", r.devnode, since), 5000, `board.online for ${boards.at(-1)[0]}`);
  };
  return s;
}

describe("udev_allow = one VID:PID", () => {
  const s = filtered("udev_allow = 0403:6001\n", [
    ["start-other", { vid: "10c4", pid: "ea60", serial: "S-OTHER" }],
    ["start-allowed", { vid: "0403", pid: "6001", serial: "S-OK" }],
  ]);

  test("at start only the allowed VID:PID is listed", async () => {
    const list = await listed(s.d.url);
    assert.deepEqual(list.map((b) => [usbId(b), b.hints?.serial, b.state]), [["0403:6001", "S-OK", "online"]]);
  });

  test("hotplugged: the allowed VID:PID appears, another vendor and another PID of the same vendor do not", async () => {
    const on = await s.plugThen([
      ["hot-other-vendor", { vid: "2e8a", pid: "000a", serial: "H-VENDOR" }],
      ["hot-other-pid", { vid: "0403", pid: "6015", serial: "H-PID" }],
      ["hot-allowed", { vid: "0403", pid: "6001", serial: "H-OK" }],
    ]);
    assert.equal(on.data.hints.serial, "H-OK");
    const list = await listed(s.d.url);
    assert.deepEqual(list.map((b) => `${usbId(b)} ${b.hints?.serial}`).sort(), ["0403:6001 H-OK", "0403:6001 S-OK"]);
    const leaked = s.ev.events.filter((e) => e.data?.hints && usbId(e.data) !== "0403:6001");
    assert.deepEqual(leaked, [], "no event about a board outside udev_allow");
  });
});

describe("udev_allow and udev_deny together: lists add up, VID:* matches a vendor, deny wins", () => {
  const conf = [
    "udev_allow = 1a86:*",
    "# a second line adds to the list",
    "udev_allow = 303a:1001, 0403:6001",
    "udev_deny = 1a86:55d4 0403:6001",
    "",
  ].join("\n");
  const s = filtered(conf, [
    ["start-denied", { vid: "1a86", pid: "55d4", serial: "S-DENY" }],
    ["start-wild", { vid: "1a86", pid: "7523" }],
  ]);

  test("at start: a PID under the allowed vendor is listed, a denied one under it is not", async () => {
    const list = await listed(s.d.url);
    assert.deepEqual(list.map(usbId), ["1a86:7523"]);
  });

  test("hotplugged: allowed by either line appears; denied or not allowed does not", async () => {
    const on = await s.plugThen([
      ["hot-allowed-and-denied", { vid: "0403", pid: "6001", serial: "H-BOTH" }],
      ["hot-denied-under-wildcard", { vid: "1a86", pid: "55d4", serial: "H-DENY" }],
      ["hot-not-allowed", { vid: "10c4", pid: "ea60", serial: "H-NOT" }],
      ["hot-wild", { vid: "1a86", pid: "7522", serial: "H-WILD" }],
      ["hot-second-line", { vid: "303a", pid: "1001", serial: "H-LINE2" }],
    ]);
    assert.equal(on.data.hints.serial, "H-LINE2");
    const list = await listed(s.d.url);
    assert.deepEqual(list.map(usbId).sort(), ["1a86:7522", "1a86:7523", "303a:1001"]);
    const serials = new Set(s.ev.events.map((e) => e.data?.hints?.serial).filter(Boolean));
    for (const gone of ["H-BOTH", "H-DENY", "H-NOT", "S-DENY"])
      assert.ok(!serials.has(gone), `an event names the filtered board ${gone}: ${JSON.stringify(s.ev.events)}`);
  });
});
