// USB hotplug against the real corrald: a umockdev testbed (build/tools/udev_testbed) plugs and
// unplugs mocked USB serial boards with real uevents; corrald runs under umockdev-wrapper with USB
// discovery on and is observed only through its REST API (boards and the event poll).
// The mocked ttys have no devnode file (node=none, see udev_testbed.mjs: a mocked pty can crash
// corrald inside umockdev's preload, and corrald could not open it anyway: TIOCEXCL gives ENOTTY),
// so nothing here depends on the port being open.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { api, waitFor } from "./lib.mjs";
import { boardEvent, startHotplugCorrald, startTestbed, watchEvents } from "./udev_testbed.mjs";

const ADD_BOUND_MS = 2000; // generous: the 100 ms target is measured by tests/bench/hotplug.bench.mjs

const board = async (base, id) => (await api(base, "GET", `/api/v1/boards/${encodeURIComponent(id)}`)).body;

describe("USB hotplug under umockdev", () => {
  let tb, d, ev;
  let ttyN = 1, portN = 2; // ttyUSB0 / port 1-1 belong to the board present at start
  const nextTty = () => `ttyUSB${ttyN++}`;
  const nextPort = () => `1-${portN++}`;

  // Plug a board and resolve to its board.online event.
  async function plug(name, spec) {
    const since = ev.lastSeq();
    const r = await tb.add(name, spec);
    return ev.waitEvent(boardEvent("board.online", r.devnode, since), 5000, `board.online for ${name}`);
  }
  async function unplug(name, devnode) {
    const since = ev.lastSeq();
    const r = await tb.remove(name);
    const e = await ev.waitEvent(boardEvent("board.offline", devnode, since), 5000, `board.offline for ${name}`);
    return { ...e, sentMs: r.sentMs };
  }

  before(async () => {
    tb = await startTestbed();
    await tb.add("early", { vid: "10c4", pid: "ea60", serial: "0001", busport: "1-1", tty: "ttyUSB0" });
    d = await startHotplugCorrald(tb);
    ev = watchEvents(d.url);
  });
  after(async () => {
    await ev?.stop();
    const exit = await d?.stop();
    await tb?.stop();
    assert.deepEqual(exit, { code: 0, sig: null }, `corrald exit status; stderr:\n${d?.stderr()}`);
  });

  test("a board present at start is listed online with its USB hints and known bridge", async () => {
    const list = (await api(d.url, "GET", "/api/v1/boards")).body.boards;
    const b = list.find((x) => x.hints?.devnode === "/dev/ttyUSB0");
    assert.ok(b, `board on /dev/ttyUSB0 listed: ${JSON.stringify(list)}`);
    assert.equal(b.state, "online");
    assert.equal(b.hints.source, "udev");
    assert.equal(b.hints.vid, "10c4");
    assert.equal(b.hints.pid, "ea60");
    assert.equal(b.hints.serial, "0001");
    assert.equal(b.hints.bridge, "CP210x");
    assert.equal(b.family, "esp");
    // the USB path, from which `power = uhubctl` learns the hub and port
    assert.match(b.hints.syspath, /^\/sys\/devices\/.*ttyUSB0$/);
  });

  test("a hotplugged board is published as board.online and listed online within 2 s", async (t) => {
    const tty = nextTty();
    const since = ev.lastSeq();
    const r = await tb.add("hot", { vid: "0403", pid: "6001", serial: "HOT001", busport: nextPort(), tty });
    const e = await ev.waitEvent(boardEvent("board.online", r.devnode, since), ADD_BOUND_MS + 3000, "board.online");
    const ms = e.arrivedMs - r.sentMs;
    t.diagnostic(`add command → board.online seen over the event poll: ${ms.toFixed(1)} ms ` +
      `(uevent sent → seen: ${(e.arrivedMs - r.ueventMs).toFixed(1)} ms)`);
    assert.ok(ms < ADD_BOUND_MS, `board.online after ${ms.toFixed(0)} ms`);
    assert.equal(e.data.hints.serial, "HOT001");
    assert.equal(e.data.hints.bridge, "FT232R");
    assert.equal((await board(d.url, e.data.id)).state, "online");
  });

  test("an unplugged board is published as board.offline and listed offline", async (t) => {
    const on = await plug("gone", { vid: "0403", pid: "6015", serial: "GONE01", busport: nextPort(), tty: nextTty() });
    const off = await unplug("gone", on.data.hints.devnode);
    t.diagnostic(`remove command → board.offline seen over the event poll: ${(off.arrivedMs - off.sentMs).toFixed(1)} ms`);
    assert.equal(off.data.id, on.data.id);
    assert.equal(off.data.state, "offline");
    assert.equal((await board(d.url, on.data.id)).state, "offline");
  });

  test("a board renumbered to another ttyUSB keeps its id and its labels", async () => {
    const tty0 = nextTty(), tty1 = nextTty();
    const on = await plug("renum", { vid: "2e8a", pid: "000a", serial: "E6613852", busport: nextPort(), tty: tty0 });
    const id = on.data.id;
    const p = await api(d.url, "PATCH", `/api/v1/boards/${id}`, { labels: ["bench-3", "rp2"] });
    assert.equal(p.status, 200);
    const since = ev.lastSeq();
    await tb.renumber("renum", tty1);
    const again = await ev.waitEvent(boardEvent("board.online", `/dev/${tty1}`, since), 5000, "board.online on the new tty");
    assert.equal(again.data.id, id);
    const b = await board(d.url, id);
    assert.equal(b.state, "online");
    assert.equal(b.port.url, `/dev/${tty1}`);
    assert.deepEqual(b.labels, ["bench-3", "rp2"]);
  });

  test("two identical boards with different serial numbers are two boards", async () => {
    const spec = { vid: "1a86", pid: "55d4" };
    const a = await plug("twin-a", { ...spec, serial: "5678ABCD01", busport: nextPort(), tty: nextTty() });
    const b = await plug("twin-b", { ...spec, serial: "5678ABCD02", busport: nextPort(), tty: nextTty() });
    assert.notEqual(a.data.id, b.data.id);
    assert.equal((await board(d.url, a.data.id)).state, "online");
    assert.equal((await board(d.url, b.data.id)).state, "online");
  });

  test("two identical CH340 boards without serial numbers on different USB ports are two boards", async () => {
    const spec = { vid: "1a86", pid: "7523" };
    const a = await plug("ch-a", { ...spec, busport: nextPort(), tty: nextTty() });
    const b = await plug("ch-b", { ...spec, busport: nextPort(), tty: nextTty() });
    assert.notEqual(a.data.id, b.data.id);
    assert.equal(a.data.hints.serial, "");
    assert.equal((await board(d.url, a.data.id)).state, "online");
    assert.equal((await board(d.url, b.data.id)).state, "online");
  });

  test("CH340 boards without serial numbers keep their ids when replugged on the same ports", async () => {
    const spec = { vid: "1a86", pid: "7523" };
    const pa = nextPort(), pb = nextPort(), ta = nextTty(), tb2 = nextTty();
    const a = await plug("re-a", { ...spec, busport: pa, tty: ta });
    const b = await plug("re-b", { ...spec, busport: pb, tty: tb2 });
    await unplug("re-a", `/dev/${ta}`);
    await unplug("re-b", `/dev/${tb2}`);
    // back in the other order, so each gets the other's old tty: only the port path identifies them
    const b2 = await plug("re-b", { ...spec, busport: pb, tty: ta });
    const a2 = await plug("re-a", { ...spec, busport: pa, tty: tb2 });
    assert.equal(a2.data.id, a.data.id);
    assert.equal(b2.data.id, b.data.id);
  });

  test("a board with an unknown VID:PID is listed as an unknown serial device", async () => {
    const on = await plug("odd", { vid: "1234", pid: "abcd", serial: "XYZ", busport: nextPort(), tty: nextTty() });
    const b = await board(d.url, on.data.id);
    assert.equal(b.state, "online");
    assert.equal(b.hints.bridge, "unknown serial device");
    assert.equal(b.family, "unknown");
  });
});

describe("USB hotplug: start-up enumeration", () => {
  let tb, d;
  after(async () => {
    await d?.stop();
    await tb?.stop();
  });

  test("every board plugged before start is online as soon as corrald listens", async () => {
    tb = await startTestbed();
    for (let i = 0; i < 24; i++)
      await tb.add(`s${i}`, { vid: "0403", pid: "6001", serial: `START${i}`, busport: `1-${i + 1}`, tty: `ttyUSB${i}` });
    d = await startHotplugCorrald(tb);
    const list = (await api(d.url, "GET", "/api/v1/boards")).body.boards;
    assert.equal(list.filter((b) => b.state === "online").length, 24);
  });
});

describe("USB hotplug: udev_deny in the config file", () => {
  let tb, d, ev, dir;
  before(async () => {
    tb = await startTestbed();
    dir = mkdtempSync(path.join(tmpdir(), "corral-hotplug-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, "udev_deny = 1a86:7523\n");
    d = await startHotplugCorrald(tb, { args: ["--config", conf] });
    ev = watchEvents(d.url);
  });
  after(async () => {
    await ev?.stop();
    const exit = await d?.stop();
    await tb?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(exit, { code: 0, sig: null }, `corrald exit status; stderr:\n${d?.stderr()}`);
  });

  test("a denied VID:PID is not listed while an allowed board plugged after it is", async () => {
    await tb.add("denied", { vid: "1a86", pid: "7523", busport: "1-2", tty: "ttyUSB0" });
    const r = await tb.add("allowed", { vid: "0403", pid: "6001", serial: "OK0001", busport: "1-3", tty: "ttyUSB1" });
    // uevents are handled in order: once the later board is online, the denied one was seen and dropped
    await ev.waitEvent(boardEvent("board.online", r.devnode), 5000, "board.online for the allowed board");
    const list = (await api(d.url, "GET", "/api/v1/boards")).body.boards;
    assert.deepEqual(list.map((b) => b.hints?.vid), ["0403"]);
    assert.equal(ev.events.filter((e) => e.data?.hints?.vid === "1a86").length, 0);
  });
});

describe("USB hotplug: board ids across a corrald restart", () => {
  let tb, stateDir;
  before(async () => {
    tb = await startTestbed();
    stateDir = mkdtempSync(path.join(tmpdir(), "corral-hotplug-state-"));
  });
  after(async () => {
    await tb?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  // Start corrald on the shared state dir and return the board on devnode once it is listed.
  async function boardAfterStart(devnode) {
    const d = await startHotplugCorrald(tb, { stateDir });
    try {
      return await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards")).body.boards
        .find((b) => b.hints?.devnode === devnode), 5000, `board on ${devnode}`);
    } finally {
      assert.deepEqual(await d.stop(), { code: 0, sig: null });
    }
  }

  test("a board present at start keeps its id across a restart", async () => {
    await tb.add("stay", { vid: "0403", pid: "6001", serial: "KEEP01", busport: "1-2", tty: "ttyUSB0" });
    const first = await boardAfterStart("/dev/ttyUSB0");
    const second = await boardAfterStart("/dev/ttyUSB0");
    assert.equal(second.id, first.id);
    assert.equal(second.state, "online");
  });

  test("a board unplugged while corrald was down is listed offline after the restart", async () => {
    await tb.add("left", { vid: "303a", pid: "1001", serial: "F4:12:FA:00:11:22", busport: "1-3", tty: "ttyACM0" });
    const before = await boardAfterStart("/dev/ttyACM0");
    assert.equal(before.state, "online");
    await tb.remove("left");
    const afterRestart = await boardAfterStart("/dev/ttyACM0");
    assert.equal(afterRestart.id, before.id);
    assert.equal(afterRestart.state, "offline");
  });
});
