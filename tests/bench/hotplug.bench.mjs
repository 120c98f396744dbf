// Hotplug latency: plug and unplug one mocked USB board ~20 times under umockdev and time, over the
// real event poll, add → board.online and remove → board.offline. Prints a markdown table; the
// 100 ms target is read from it, never asserted.
import { existsSync } from "node:fs";
import { startHotplugCorrald, startTestbed, UDEV_TESTBED, watchEvents, boardEvent } from "../integration/udev_testbed.mjs";

const CYCLES = Number(process.env.HOTPLUG_CYCLES || 20);
const TARGET_MS = 100;

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const pct = (p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  return { p50: pct(50), p95: pct(95), max: s[s.length - 1] };
}

async function main() {
  if (!existsSync(UDEV_TESTBED)) {
    console.error(`hotplug bench: ${UDEV_TESTBED} is missing; build it with make build/tools/udev_testbed`);
    process.exit(1);
  }
  const tb = await startTestbed();
  const d = await startHotplugCorrald(tb);
  const ev = watchEvents(d.url, 1);
  const spec = { vid: "10c4", pid: "ea60", serial: "BENCH01", busport: "1-2", tty: "ttyUSB0" };
  const rows = { add: [], addUevent: [], remove: [], removeUevent: [] };
  try {
    for (let i = 0; i < CYCLES; i++) {
      let since = ev.lastSeq();
      const a = await tb.add("b", spec);
      const on = await ev.waitEvent(boardEvent("board.online", a.devnode, since), 5000, "board.online");
      rows.add.push(on.arrivedMs - a.sentMs);
      rows.addUevent.push(on.arrivedMs - a.ueventMs);
      since = ev.lastSeq();
      const r = await tb.remove("b");
      const off = await ev.waitEvent(boardEvent("board.offline", r.devnode, since), 5000, "board.offline");
      rows.remove.push(off.arrivedMs - r.sentMs);
      rows.removeUevent.push(off.arrivedMs - r.ueventMs);
    }
  } finally {
    await ev.stop();
    await d.stop();
    await tb.stop();
  }
  const line = (name, xs) => {
    const s = stats(xs);
    const f = (x) => x.toFixed(1);
    return `| ${name} | ${xs.length} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.max)} | ${s.p95 <= TARGET_MS ? "yes" : "NO"} |`;
  };
  console.log(`corrald: ${process.env.CORRALD || "build/san/corrald"} under umockdev-wrapper; event poll every ~1 ms`);
  console.log("");
  console.log(`| hotplug latency (ms) | n | p50 | p95 | max | p95 ≤ ${TARGET_MS} ms |`);
  console.log("|---|---|---|---|---|---|");
  console.log(line("add command → board.online seen", rows.add));
  console.log(line("add uevent sent → board.online seen", rows.addUevent));
  console.log(line("remove command → board.offline seen", rows.remove));
  console.log(line("remove uevent sent → board.offline seen", rows.removeUevent));
}

main().catch((e) => { console.error(e); process.exit(1); });
