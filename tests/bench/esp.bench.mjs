// make bench: ESP flashing throughput of corrald vs esptool-js 0.7.0 on the same virtual boards
// (paced wire, one vboard process per board), as a percentage of the payload line rate
// (baud / 10 bytes/s), plus 8 boards flashed in parallel against one. Prints markdown tables.
// Figures are read from the tables, never asserted.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as E from "../integration/esp_lib.mjs";
import { startCorrald } from "../integration/lib.mjs";
import { Rfc2217SerialPort, makeLoader } from "../vboard/test/esptool_adapter.mjs";

const line = (baud) => (baud * 8) / 10 / 1000; // payload kbit/s of an 8N1 line
const pct = (kbps, baud) => `${((100 * kbps) / line(baud)).toFixed(0)} %`;
const out = (s) => process.stdout.write(s + "\n");
// esptool-js traces to the console: keep stdout for the tables.
console.log = console.debug = console.info = () => {};
const fmt = (x) => (x === null || x === undefined ? "–" : x.toFixed(1));

/** esptool-js ROM path (no stub) on a vboard endpoint: kbit/s of writeFlash (effective). */
async function esptoolJsRom(endpoint, kind, file, address, baud, compress) {
  const u = new URL(endpoint.replace(/^rfc2217:/, "http:"));
  const port = new Rfc2217SerialPort(u.hostname, Number(u.port));
  const { loader, transport } = makeLoader(port, { baudrate: baud, romBaudrate: 115200 });
  try {
    await loader.detectChip("default_reset");
    loader.FLASH_WRITE_SIZE = 0x400;
    let note = "";
    if (baud !== 115200) {
      if (kind === "esp8266") note = "ROM cannot change baud: 115200";
      else await loader.changeBaud();
    }
    if (kind === "esp8266") await loader.flashBegin(0, 0);
    else await loader.flashSpiAttach(0);
    const t0 = performance.now();
    await loader.writeFlash({ fileArray: [{ data: new Uint8Array(file.data), address }], flashMode: "keep",
      flashFreq: "keep", flashSize: "keep", eraseAll: false, compress });
    const s = (performance.now() - t0) / 1000;
    return { kbps: (file.data.length * 8) / 1000 / s, note };
  } catch (e) {
    return { kbps: null, note: `esptool-js: ${e.message.slice(0, 60)}` };
  } finally {
    await transport.disconnect().catch(() => {});
  }
}

/** esptool-js with its flasher stub (main(): stub upload + baud change), compressed. */
async function esptoolJsStub(endpoint, file, address, baud) {
  const u = new URL(endpoint.replace(/^rfc2217:/, "http:"));
  const port = new Rfc2217SerialPort(u.hostname, Number(u.port));
  const { loader, transport } = makeLoader(port, { baudrate: baud, romBaudrate: 115200 });
  try {
    await loader.main("default_reset");
    const t0 = performance.now();
    await loader.writeFlash({ fileArray: [{ data: new Uint8Array(file.data), address }], flashMode: "keep",
      flashFreq: "keep", flashSize: "keep", eraseAll: false, compress: true });
    const s = (performance.now() - t0) / 1000;
    return { kbps: (file.data.length * 8) / 1000 / s, note: "" };
  } catch (e) {
    return { kbps: null, note: `esptool-js: ${e.message.slice(0, 60)}` };
  } finally {
    await transport.disconnect().catch(() => {});
  }
}

async function corralFlash(base, id, file, address, params) {
  const q = await E.submitFlash(base, id, [{ offset: address, path: file.path, data: file.data }],
    { skip_unchanged: false, verify: "none", boot_check: false, ...params });
  const { job } = await E.watchJob(base, q.id, 300000);
  if (job.state !== "succeeded") return { kbps: null, note: `corral: ${job.error?.message?.slice(0, 80)}`, job };
  return { kbps: job.result.kbit_per_s, note: "", job };
}

async function throughput() {
  const dir = E.tmp("corral-bench-");
  // mkimage apps compress to about 60 %, like real firmware; written away from the boot offset
  // (esptool-js at 0x10000, corral at 0x200000).
  const img = (chip, size) => E.mkimage(chip, ["--size", size], dir);
  const s8266 = img("esp8266", "64k"), b8266 = img("esp8266", "384k");
  const s32 = img("esp32", "64k"), b32 = img("esp32", "384k");
  const rows = [
    // [chip, loader label, baud, file, corral params, esptool-js runner, baud really used]
    ["esp8266", "ROM", 115200, s8266, {}, (b) => esptoolJsRom(b.endpoint, "esp8266", s8266, 0x10000, 115200, false), 115200],
    ["esp8266", "ROM", 921600, s8266, { baud: 921600 }, (b) => esptoolJsRom(b.endpoint, "esp8266", s8266, 0x10000, 921600, false), 115200],
    // stub: true = run by a corrald started with --stub-dir (the stub is config, never a job's).
    ["esp8266", "stub, compressed", 921600, b8266, { baud: 921600, stub: true }, (b) => esptoolJsStub(b.endpoint, b8266, 0x10000, 921600), 921600],
    ["esp32", "ROM, compressed", 115200, s32, {}, (b) => esptoolJsRom(b.endpoint, "esp32", s32, 0x10000, 115200, true), 115200],
    ["esp32", "ROM, compressed", 921600, b32, { baud: 921600 }, (b) => esptoolJsRom(b.endpoint, "esp32", b32, 0x10000, 921600, true), 921600],
  ];
  const boards = { esp8266: await E.board("esp8266"), esp32: await E.board("esp32") };
  const results = [];
  try {
    // esptool-js first (the endpoint serves one client: corrald is not running yet) ...
    for (const r of rows) results.push({ js: await r[5](boards[r[0]]) });
    // ... then corrald on the same boards (one corrald at a time: each endpoint serves one client),
    // with --stub-dir for the stub rows.
    for (const stub of [false, true]) {
      const c = await E.corraldWith(boards, stub ? ["--stub-dir", E.STUB_DIR] : []);
      try {
        for (let i = 0; i < rows.length; i++) {
          const [chip, , baud, file, { stub: rowStub, ...params }] = rows[i];
          if (!!rowStub !== stub) continue;
          // A region esptool-js did not touch: the stub skips erasing blank sectors, so both start blank.
          const res = await corralFlash(c.url, chip, file, 0x200000, params);
          results[i].corral = res;
          if (chip === "esp8266" && !rowStub && baud !== 115200)
            results[i].corral.note = "the ESP8266 ROM cannot change baud: both stay at 115200";
          if (results[i].js.note.startsWith("ROM cannot")) results[i].js.note = "";
        }
      } finally {
        await c.stop();
      }
    }
  } finally {
    for (const b of Object.values(boards)) await b.stop();
  }
  out("\n### Flash throughput (effective = uncompressed bits / write time; % of the payload line rate, baud/10 bytes/s, of the baud really used)\n");
  out("| chip | loader | baud asked → used | image | corral kbit/s | corral % | esptool-js kbit/s | esptool-js % | notes |");
  out("|---|---|---|---:|---:|---:|---:|---:|---|");
  rows.forEach((r, i) => {
    const { corral, js } = results[i];
    const notes = [...new Set([corral.note, js.note].filter(Boolean))].join("; ");
    out(`| ${r[0]} | ${r[1]} | ${r[2]} → ${r[6]} | ${(r[3].data.length / 1024).toFixed(0)} KiB | ${fmt(corral.kbps)} | ` +
      `${corral.kbps ? pct(corral.kbps, r[6]) : "–"} | ${fmt(js.kbps)} | ${js.kbps ? pct(js.kbps, r[6]) : "–"} | ${notes} |`);
  });
}

async function parallel(n = 8) {
  const parts = E.multipart("esp32", { appSize: "64k" });
  const boards = {};
  (await Promise.all(Array.from({ length: n }, () => E.board("esp32")))).forEach((b, i) => { boards[`b${i}`] = b; });
  const c = await E.corraldWith(boards);
  const run = async (ids) => {
    const t0 = Date.now();
    const qs = await Promise.all(ids.map((id) => E.submitFlash(c.url, id, parts, { skip_unchanged: false, boot_check: false })));
    const jobs = await Promise.all(qs.map((q) => E.watchJob(c.url, q.id, 300000)));
    return { s: (Date.now() - t0) / 1000, ok: jobs.filter(({ job }) => job.state === "succeeded").length };
  };
  try {
    await run(["b0"]); // warm-up: first connection, compression cache
    const one = await run(["b1"]);
    const all = await run(Object.keys(boards));
    out("\n### Parallel flashing (ESP32 ROM, 115200 baud, paced; bootloader + partitions + 64 KiB app)\n");
    out("| boards | wall time s | succeeded | ratio to one board |");
    out("|---:|---:|---:|---:|");
    out(`| 1 | ${one.s.toFixed(2)} | ${one.ok}/1 | 1.00 |`);
    out(`| ${n} | ${all.s.toFixed(2)} | ${all.ok}/${n} | ${(all.s / one.s).toFixed(2)} (target ≤ 1.30) |`);
  } finally {
    await c.stop();
    await Promise.all(Object.values(boards).map((b) => b.stop()));
  }
}

/** esptool-js with its stub at `baud`, compressed, connect to verified (MD5 of the region), by phase. */
async function esptoolJsTimed(endpoint, file, address, baud) {
  const u = new URL(endpoint.replace(/^rfc2217:/, "http:"));
  const port = new Rfc2217SerialPort(u.hostname, Number(u.port));
  const { loader, transport } = makeLoader(port, { baudrate: baud, romBaudrate: 115200 });
  try {
    const t0 = performance.now();
    await loader.main("default_reset"); // connect, stub at 115200, baud change, flash id
    const t1 = performance.now();
    await loader.writeFlash({ fileArray: [{ data: new Uint8Array(file.data), address }], flashMode: "keep",
      flashFreq: "keep", flashSize: "keep", eraseAll: false, compress: true });
    const t2 = performance.now();
    const md5 = await loader.flashMd5sum(address, file.data.length);
    const t3 = performance.now();
    const want = createHash("md5").update(file.data).digest("hex");
    return { total: (t3 - t0) / 1000, phases: `connect+stub+baud ${((t1 - t0) / 1000).toFixed(2)}, write ${((t2 - t1) / 1000).toFixed(2)}, ` +
      `verify ${((t3 - t2) / 1000).toFixed(2)}`, note: String(md5).toLowerCase() !== want ? `MD5 mismatch (${md5})` : "verified (MD5)" };
  } catch (e) {
    return { total: null, phases: "", note: `esptool-js: ${e.message.slice(0, 60)}` };
  } finally {
    await transport.disconnect().catch(() => {});
  }
}

/** A flash job's phases (connect to verified; the final reset after it is listed apart). */
const phaseText = (p) => (p ? `connect ${p.connect_s.toFixed(2)}, stub ${p.stub_s.toFixed(2)}, baud ${p.baud_s.toFixed(2)}, ` +
  `compare ${p.compare_s.toFixed(2)}, write ${p.write_s.toFixed(2)}, verify ${p.verify_s.toFixed(2)} (then reset ${p.reset_s.toFixed(2)})` : "");

/** corrald as installed (make install staged by make bench: stubs next to it, no --stub-dir, no baud). */
async function installedRows() {
  const bin = process.env.CORRALD_INSTALLED;
  if (!bin || !existsSync(bin)) {
    out("\n(no CORRALD_INSTALLED: run `make bench` to measure corrald as installed)");
    return;
  }
  const dir = E.tmp("corral-bench-inst-");
  const img8266 = E.mkimage("esp8266", ["--size", "620k"], dir), img32 = E.mkimage("esp32", ["--size", "1024k"], dir);
  const bridge = ["--bridge-max-baud", "2000000"];
  const rows = [
    { chip: "esp8266", img: img8266, addr: 0x0, js: [460800] },
    { chip: "esp32", img: img32, addr: 0x10000, js: [921600, 2000000] },
  ];
  const table = [];
  for (const r of rows) {
    // corral first, on its own fresh board
    const b = await E.board(r.chip, bridge);
    const c = await startCorrald({ bin, args: ["--port", `${r.chip}=${b.endpoint},family=${E.FAMILY[r.chip]}`] });
    try {
      const q = await E.submitFlash(c.url, r.chip, [{ offset: r.addr, path: r.img.path, data: r.img.data }], { boot_check: false });
      const { job } = await E.watchJob(c.url, q.id, 600000);
      const p = job.result?.phases;
      table.push({ chip: r.chip, size: r.img.data.length, tool: "corrald as installed (no stub flag, no baud)",
        baud: job.result?.baud ? `auto → ${job.result.baud.used}` : "–", total: job.state === "succeeded" ? p.verified_s : null,
        phases: phaseText(p),
        note: job.state === "succeeded" ? `${job.result.loader}, verify ${job.result.verify}` : job.error?.message?.slice(0, 80) });
    } finally {
      await c.stop();
      await b.stop();
    }
    for (const baud of r.js) {
      const jb = await E.board(r.chip, bridge);
      try {
        const res = await esptoolJsTimed(jb.endpoint, r.img, r.addr, baud);
        table.push({ chip: r.chip, size: r.img.data.length, tool: `esptool-js 0.7.0, stub, compressed`, baud: String(baud),
          total: res.total, phases: res.phases, note: res.note });
      } finally {
        await jb.stop();
      }
    }
  }
  out("\n### As installed, connect to verified (fresh paced board per run, behind a bridge that holds 2 Mbaud)\n");
  out("| chip | image | tool | baud | connect→verified s | ratio corral / this | phases s | notes |");
  out("|---|---:|---|---|---:|---:|---|---|");
  for (const t of table) {
    const mine = table.find((x) => x.chip === t.chip && x.tool.startsWith("corrald"));
    const ratio = mine?.total && t.total && !t.tool.startsWith("corrald") ? (mine.total / t.total).toFixed(2) : "";
    out(`| ${t.chip} | ${(t.size / 1024).toFixed(0)} KiB | ${t.tool} | ${t.baud} | ${t.total ? t.total.toFixed(2) : "–"} | ${ratio} | ${t.phases} | ${t.note ?? ""} |`);
  }
}

/** Reflash after a small change: a 1.5 MiB app, then the same with one 4 KiB region changed
 * (corrald as installed, ESP32, bridge holding 2 Mbaud); the flash must read back as the new image. */
async function reflashRow() {
  const bin = process.env.CORRALD_INSTALLED;
  if (!bin || !existsSync(bin)) return;
  const d = Buffer.from(E.mkimage("esp32", ["--size", "1536k"], E.tmp("corral-bench-diff-")).data);
  d[0] = 0x00; // raw bytes at 0x10000: no image header rules apply
  const d2 = Buffer.from(d);
  for (let i = 0x80000; i < 0x81000; i++) d2[i] ^= 0x5a;
  const b = await E.board("esp32", ["--bridge-max-baud", "2000000", "--flash-size", "4MB"]);
  const c = await startCorrald({ bin, args: ["--port", `esp32=${b.endpoint},family=esp32`] });
  const rows = [];
  try {
    for (const [what, data] of [["full flash (no record)", d], ["one 4 KiB region changed", d2]]) {
      const q = await E.submitFlash(c.url, "esp32", [{ offset: 0x10000, data }], { boot_check: false });
      const { job } = await E.watchJob(c.url, q.id, 600000);
      const ok = job.state === "succeeded" && (await E.flashSha(b, 0x10000, data.length)) === E.sha256(data);
      const wall = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
      const p = job.result?.phases;
      // What any verified reflash of this region must spend before writing: the reset and sync, the stub,
      // and one MD5 of the whole region (the check that the board still holds the record).
      const floor = p ? p.connect_s + p.stub_s + p.baud_s + p.compare_s : undefined;
      rows.push({ what, total: p?.verified_s, withReset: p?.total_s, wall, bytes: job.result?.bytes_written,
        diff: job.result?.parts?.[0]?.diff, ok, floor, phases: phaseText(p) });
    }
  } finally {
    await c.stop();
    await b.stop();
  }
  out("\n### Reflash after a small change (ESP32, 1.5 MiB app at 0x10000, corrald as installed, 2 Mbaud bridge)\n");
  out("| flash | connect→verified s | % of the full flash | with the final reset s | % | job wall s | bytes written | diff | reads back as the new image | floor: connect + stub + region MD5 s (% of the full flash) | phases s |");
  out("|---|---:|---:|---:|---:|---:|---:|---|---|---|---|");
  const pc = (a, b) => (a && b ? ((100 * a) / b).toFixed(1) + " %" : "");
  for (const r of rows)
    out(`| ${r.what} | ${r.total?.toFixed(2) ?? "–"} | ${pc(r.total, rows[0].total)} | ${r.withReset?.toFixed(2) ?? "–"} | ` +
      `${pc(r.withReset, rows[0].withReset)} | ${r.wall.toFixed(2)} | ${r.bytes} | ${r.diff} | ${r.ok ? "yes" : "NO"} | ` +
      `${r.floor?.toFixed(2) ?? "–"} (${pc(r.floor, rows[0].total)}) | ${r.phases} |`);
}

/** A bridge limited to 460800 (corrald as installed, ESP32): corral steps down, succeeds, remembers,
 * and the second flash starts at the baud that held. */
async function bridgeRow() {
  const bin = process.env.CORRALD_INSTALLED;
  if (!bin || !existsSync(bin)) return;
  const dir = E.tmp("corral-bench-bridge-");
  const first = E.mkimage("esp32", ["--size", "256k"], dir).data;
  const second = Buffer.from(first); // another image: every sector differs, still firmware-like
  second[0] = 0x00; // raw bytes at 0x10000: no image header rules apply
  for (let i = 0; i < second.length; i += 4096) second[i + 1] ^= 0x5a;
  const b = await E.board("esp32", ["--bridge-max-baud", "460800"]);
  const c = await startCorrald({ bin, args: ["--port", `esp32=${b.endpoint},family=esp32`] });
  const rows = [];
  try {
    for (const [what, data] of [["first flash", first], ["second flash (another image)", second]]) {
      const q = await E.submitFlash(c.url, "esp32", [{ offset: 0x10000, data }], { boot_check: false });
      const { job } = await E.watchJob(c.url, q.id, 600000);
      const ok = job.state === "succeeded" && (await E.flashSha(b, 0x10000, data.length)) === E.sha256(data);
      const bd = job.result?.baud;
      rows.push({ what, ok, bd, p: job.result?.phases, err: job.error?.message });
    }
  } finally {
    await c.stop();
    await b.stop();
  }
  out("\n### A bridge limited to 460800 (ESP32, corrald as installed, no baud given)\n");
  out("| flash | succeeded, reads back | baud tried (ok?) | used | chosen by | connect→verified s | phases s |");
  out("|---|---|---|---:|---|---:|---|");
  for (const r of rows)
    out(`| ${r.what} | ${r.ok ? "yes" : `NO ${r.err ?? ""}`} | ${(r.bd?.tried ?? []).map((t) => `${t.baud} ${t.ok ? "ok" : "failed"}`).join(", ")} | ` +
      `${r.bd?.used ?? "–"} | ${r.bd?.chosen_by ?? "–"} | ${r.p?.verified_s?.toFixed(2) ?? "–"} | ${phaseText(r.p)} |`);
}

if (process.argv.includes("--bridge-only")) {
  await bridgeRow();
  process.exit(0);
}
if (process.argv.includes("--reflash-only")) {
  await reflashRow();
  process.exit(0);
}
if (process.argv.includes("--installed-only")) {
  await installedRows();
  await reflashRow();
  await bridgeRow();
  process.exit(0);
}
await installedRows();
await reflashRow();
await bridgeRow();
await throughput();
await parallel();
process.exit(0);
