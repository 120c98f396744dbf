// Sector-diff flashing: corral records what it wrote to a board (flash_record fact: offset, length,
// MD5, a short SHA-256 per 4 KiB sector); the next flash of a changed image writes only the sectors
// that differ when the board still holds the record, and everything when it does not (another tool
// wrote in between) or when most sectors changed. Always verified; the flash must read back as the
// new image.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { api, startCorrald } from "./lib.mjs";
import * as E from "./esp_lib.mjs";
import { Rfc2217SerialPort, makeLoader } from "../vboard/test/esptool_adapter.mjs";

console.log = console.debug = console.info = () => {}; // esptool-js traces
let board, corrald;
const stateDir = mkdtempSync(path.join(tmpdir(), "corral-diff-"));
const start = () => startCorrald({ stateDir, keepState: true,
  args: ["--port", `esp32=${board.endpoint},family=esp32`, "--stub-dir", E.STUB_DIR] });

before(async () => {
  board = await E.board("esp32", ["--flash-size", "4MB"]);
  corrald = await start();
});
after(async () => {
  await corrald?.stop();
  await board?.stop();
});

const OFF = 0x10000;
// Firmware-like (compressible) bytes that are not an image header (no image checks apply).
const base = (size) => {
  const d = Buffer.from(E.mkimage("esp32", ["--size", size]).data);
  d[0] = 0x00;
  return d;
};
const changeSector = (d, at) => {
  const n = Buffer.from(d);
  for (let i = at; i < at + 4096; i++) n[i] ^= 0x5a;
  return n;
};
async function flash(data) {
  const { job } = await E.watchJob(corrald.url, (await E.submitFlash(corrald.url, "esp32", [{ offset: OFF, data }],
    { boot_check: false })).id, 300000);
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  assert.equal(job.result.verify, "md5");
  assert.equal(await E.flashSha(board, OFF, data.length), E.sha256(data), "the flash reads back as the new image");
  return job.result;
}

test("a 1.5 MiB app with one 4 KiB region changed: only that sector is written, and recorded", async () => {
  const a = base("1536k");
  const first = await flash(a);
  assert.equal(first.parts[0].diff, "no_record");
  assert.equal(first.bytes_written, a.length);
  const rec = (await api(corrald.url, "GET", "/api/v1/boards/esp32")).body.facts.flash_record.value;
  assert.deepEqual(rec.parts.map((p) => [p.offset, p.length]), [[OFF, a.length]]);
  assert.equal(rec.parts[0].sectors.length, Math.ceil(a.length / 4096) * 16);

  const b = changeSector(a, 0x80000);
  const second = await flash(b);
  assert.equal(second.parts[0].diff, "sectors", JSON.stringify(second.parts[0]));
  assert.equal(second.parts[0].sectors_written, 1);
  assert.equal(second.parts[0].sectors, Math.ceil(a.length / 4096));
  assert.equal(second.bytes_written, 4096);

  // Two separate regions: two runs, still only those sectors.
  const c = changeSector(changeSector(b, 0x1000), 0x120000);
  const third = await flash(c);
  assert.equal(third.parts[0].diff, "sectors");
  assert.equal(third.parts[0].sectors_written, 2);
  assert.equal(third.bytes_written, 8192);
});

test("the board was flashed by another tool in between: corral notices and writes all of it", async () => {
  const a = base("256k");
  await flash(a);
  // esptool-js writes one sector inside that region while corrald is stopped (one client per port).
  await corrald.stop();
  const u = new URL(board.endpoint.replace(/^rfc2217:/, "http:"));
  const { loader, transport } = makeLoader(new Rfc2217SerialPort(u.hostname, Number(u.port)));
  try {
    await loader.main("default_reset");
    await loader.writeFlash({ fileArray: [{ data: new Uint8Array(4096).fill(0x42), address: OFF + 0x8000 }],
      flashMode: "keep", flashFreq: "keep", flashSize: "keep", eraseAll: false, compress: true });
  } finally {
    await transport.disconnect().catch(() => {});
  }
  corrald = await start();
  const b = changeSector(a, 0x20000);
  const r = await flash(b);
  assert.equal(r.parts[0].diff, "changed", JSON.stringify(r.parts[0]));
  assert.equal(r.bytes_written, b.length, "written in full");
  // ... and recorded again: the next small change is a diff once more.
  const r2 = await flash(changeSector(b, 0x30000));
  assert.equal(r2.parts[0].diff, "sectors");
  assert.equal(r2.bytes_written, 4096);
});

test("most sectors changed: a full write (dense)", async () => {
  const a = base("64k");
  await flash(a);
  let b = a;
  for (let s = 0; s < 10; s++) b = changeSector(b, s * 4096);
  const r = await flash(b);
  assert.equal(r.parts[0].diff, "dense");
  assert.equal(r.bytes_written, b.length);
});
