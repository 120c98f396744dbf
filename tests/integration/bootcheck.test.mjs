// The flash job's boot check over the real API, on virtual ESP8266 boards: a DIO-only NodeMCU v3
// that boot-loops on a QIO image (re-flashed as DIO), a corrupt image rolled back to the pinned
// known-good firmware, blank flash, a board that goes silent, a board held in download mode, and
// a firmware for the wrong chip refused at submission. Each ends with its own verdict sentence.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { api, eventsSince, runJob, startCorrald } from "./lib.mjs";
import * as E from "./esp_lib.mjs";

const dir = E.tmp("corral-bootcheck-");
const boards = {};
let corrald, tap;

/** mkimage for the ESP8266 with a MicroPython marker of that version. */
function image(version, args = []) {
  const out = path.join(dir, `esp8266-${version}-${args.join("")}.bin`);
  execFileSync(E.MKIMAGE, ["--chip", "esp8266", "--version", version, ...args, "-o", out], { stdio: "ignore" });
  return readFileSync(out);
}

async function upload(bytes, filename) {
  const r = await api(corrald.url, "POST", `/api/v1/firmware?filename=${filename}`, new Uint8Array(bytes),
    { "content-type": "application/octet-stream" });
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
  return r.body.id;
}

const logText = (job) => (job.log || []).map((l) => l.line).join("\n");

/**
 * An RFC 2217 tap between corrald and a virtual board: bytes pass both ways until the host asks for
 * 74880 baud (SET-BAUDRATE, which only the boot check does on an ESP8266); then the board is hung
 * (control `hang`) before that request reaches it, so from the reset on it says nothing.
 */
async function silencingTap(board) {
  const up = new URL(board.endpoint.replace(/^rfc2217:/, "http:"));
  const want = Buffer.from([0xff, 0xfa, 0x2c, 0x01, 0x00, 0x01, 0x24, 0x80]); // SET-BAUDRATE 74880
  // Armed by the flash job's first SYNC (a SLIP frame c0 00 08): before that, corrald's console may
  // switch the idle board to 74880 baud on its own (to decode a ROM log shown at the wrong baud),
  // which must not hang it; the boot check's switch after the write is the one that does.
  const sync = Buffer.from([0xc0, 0x00, 0x08]);
  const srv = net.createServer((client) => {
    const upstream = net.connect({ host: up.hostname, port: Number(up.port) });
    let fired = false, armed = false, seen = Buffer.alloc(0), chain = Promise.resolve();
    client.on("data", (d) => {
      chain = chain.then(async () => {
        seen = Buffer.concat([seen, d]).subarray(-64);
        if (!armed && seen.includes(sync)) {
          armed = true;
          seen = Buffer.alloc(0); // a 74880 switch before the SYNC does not count
        }
        if (armed && !fired && seen.includes(want)) {
          fired = true;
          await E.control(board.control, "hang");
        }
        upstream.write(d);
      });
    });
    upstream.on("data", (d) => client.write(d));
    for (const s of [client, upstream]) s.on("error", () => {});
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { endpoint: `rfc2217://127.0.0.1:${srv.address().port}`, close: () => srv.close() };
}

before(async () => {
  boards.nodemcu = await E.board("esp8266", ["--no-pacing", "--module-modes", "dio,dout"]);
  boards.blank = await E.board("esp8266", ["--no-pacing", "--flash-size", "1MB"]);
  boards.quiet = await E.board("esp8266", ["--no-pacing"]);
  boards.stuck = await E.board("esp8266", ["--no-pacing"]);
  // MicroPython's banner 4 s after the ROM's last line (a first boot formatting its filesystem, or
  // the lab's wasm MicroPython starting on a loaded host): longer than every quiet window.
  boards.slow = await E.board("esp32", ["--no-pacing", "--app-start", "4000"]);
  tap = await silencingTap(boards.quiet);
  const ports = Object.entries(boards).map(([n, b]) =>
    ["--port", `${n}=${n === "quiet" ? tap.endpoint : b.endpoint},family=${n === "slow" ? "esp32" : "esp8266"}`]);
  // Images the library refuses (a corrupt checksum) come as files on corrald's host: only from a
  // configured firmware directory (loopback without tokens: the one user is admin). The flasher
  // stub (for erase) is config too, never a job parameter.
  const conf = path.join(E.tmp("corral-bootcheck-conf-"), "corrald.conf");
  writeFileSync(conf, `firmware_dirs = ${dir}\nstub_dir = ${E.STUB_DIR}\n`);
  corrald = await startCorrald({ args: ["--config", conf, ...ports.flat()] });
});

after(async () => {
  const r = await corrald?.stop();
  assert.equal(r?.code, 0, `corrald exited with ${JSON.stringify(r)} (sanitizers?):\n${corrald?.stderr().slice(-4000)}`);
  tap?.close();
  for (const b of Object.values(boards)) await b.stop();
});

async function flash(board, body, ms = 90000) {
  return runJob(corrald.url, board, { kind: "flash", ...body }, ms);
}

test("a QIO image on a DIO-only NodeMCU boot-loops, is re-flashed as DIO, boots and answers", async (t) => {
  const id = await upload(image("1.25.0", ["--flash-mode", "qio"]), "ESP8266_GENERIC-20250415-v1.25.0.bin");
  const since = (await eventsSince(corrald.url)).at(-1)?.seq ?? 0;
  const job = await flash("nodemcu", { firmware: id, flash_mode: "keep" });
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  assert.equal(job.result.remediation, "flash mode DIO");
  assert.equal(job.result.attempts[0].boot.class, "boot_loop");
  assert.equal(job.result.attempts[0].flash_mode, "qio");
  assert.equal(job.result.attempts[1].step, "reflash_dio");
  assert.equal(job.result.boot.class, "booted");
  assert.equal(job.result.boot.version, "1.25.0");
  assert.match(job.result.verdict, /^Flashed MicroPython v1\.25\.0, but the board boot-looped with flash mode QIO \(csum err; rst cause [24], boot mode \(3,6\), \d+ resets\); re-flashed with DIO and it booted: MicroPython v1\.25\.0 on ESP8266 with 4MB flash\.$/);
  const log = logText(job);
  const loop = log.slice(log.indexOf("Boot check 1"), log.indexOf("Boot check 2"));
  assert.match(loop, /boot_loop/);
  assert.match(loop, /\| ets Jan {2}8 2013,rst cause:2, boot mode:\(3,6\)/);
  assert.match(loop, /\| load 0x00000000, len 0/);
  assert.match(loop, /\| csum err/);
  assert.equal((await E.flashRead(boards.nodemcu, 0, 4))[2], 2, "the header now says DIO");
  const run = await runJob(corrald.url, "nodemcu", { kind: "run", script: "print(6*7)" });
  assert.equal(run.state, "succeeded", JSON.stringify(run.error));
  assert.equal(run.result.stdout.trim(), "42");
  const pin = await api(corrald.url, "GET", "/api/v1/firmware/known-good/esp8266");
  assert.equal(pin.body.firmware_id ?? pin.body.firmware?.id, id);
  const facts = (await api(corrald.url, "GET", "/api/v1/boards/nodemcu")).body.facts;
  assert.equal(facts.mp_version.value, "1.25.0");
  assert.deepEqual({ id: facts.known_good_firmware.value.id, mode: facts.known_good_firmware.value.flash_mode }, { id, mode: "dio" });
  const done = (await eventsSince(corrald.url, since)).find((e) => e.type === "job.state" && e.data.job === job.id &&
    e.data.state === "succeeded");
  assert.equal(done?.data.verdict, job.result.verdict);
});

test("a corrupt new image is rolled back to the known-good firmware; the job fails naming both", async (t) => {
  // The library refuses a broken image, so it comes as a file.
  const bad = path.join(dir, "ESP8266_GENERIC-20251209-v1.26.0.bin");
  writeFileSync(bad, image("1.26.0", ["--flash-mode", "dio", "--corrupt", "checksum"]));
  const job = await flash("nodemcu", { image_path: bad, offset: 0 });
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  assert.equal(job.state, "failed");
  assert.equal(job.error.code, "rolled_back");
  assert.equal(job.error.message, job.result.verdict);
  assert.match(job.error.message, /^Flashed MicroPython v1\.26\.0, but the board's ROM rejected the image written as DIO \(csum err; rst cause [24], boot mode \(3,6\)\); rolled back to the known-good firmware MicroPython v1\.25\.0, which booted: MicroPython v1\.25\.0 on ESP8266/);
  assert.deepEqual(job.result.attempts.map((a) => [a.step, a.boot?.class]), [["flash", "bad_image"], ["rollback", "booted"]]);
  assert.equal(job.result.attempts[1].flash_mode, "dio", "rolled back as DIO, as the board needs");
  const good = image("1.25.0", ["--flash-mode", "qio"]);
  good[2] = 2; // what the first test left: the known-good image, as DIO
  assert.equal(await E.flashSha(boards.nodemcu, 0, good.length), E.sha256(good));
  const facts = (await api(corrald.url, "GET", "/api/v1/boards/nodemcu")).body.facts;
  assert.equal(facts.mp_version.value, "1.25.0");
  const run = await runJob(corrald.url, "nodemcu", { kind: "run", script: "print(6*7)" });
  assert.equal(run.result.stdout.trim(), "42");
});

test("erase, then only data written: blank flash, no rollback of firmware the job never touched", async (t) => {
  const blob = path.join(dir, "data.bin");
  writeFileSync(blob, Buffer.alloc(4096, 0x5a));
  const job = await flash("blank", { parts: [{ offset: 0x80000, path: blob }], erase: true });
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  assert.equal(job.state, "failed");
  assert.equal(job.error.code, "blank_flash");
  assert.match(job.error.message, /^Wrote 4096 bytes at 0x80000, but the board has no firmware to boot: the ROM found blank flash \(ets_main\.c; rst cause [24], boot mode \(3,6\)\)\.$/);
  assert.equal(job.result.attempts.length, 1);
  assert.match(logText(job), /Next: give_up \(this flash wrote nothing at the boot offset/);
});

test("a board that goes quiet after the write is reset the other way, then called silent", async (t) => {
  const img = path.join(dir, "good.bin");
  writeFileSync(img, image("1.25.0", ["--flash-mode", "dio"]));
  const job = await flash("quiet", { image_path: img, offset: 0 });
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  assert.equal(job.state, "failed");
  assert.equal(job.error.code, "silent");
  assert.equal(job.error.message, "Flashed MicroPython v1.25.0, but the board printed nothing after a hard reset " +
    "(listening at 74880 and 115200 baud), nor after a second, longer reset (listening at 115200 baud): check the USB " +
    "cable, the board's power and that RTS reaches EN.");
  assert.deepEqual(job.result.attempts.map((a) => a.step), ["flash", "recheck"]);
  await E.control(boards.quiet.control, "unhang");
});

test("a board held in download mode gets its own verdict", async (t) => {
  await E.control(boards.stuck.control, "hold-io0 on");
  const img = path.join(dir, "good.bin");
  const job = await flash("stuck", { image_path: img, offset: 0 });
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  await E.control(boards.stuck.control, "hold-io0 off");
  assert.equal(job.state, "failed");
  assert.equal(job.error.code, "download_mode");
  assert.match(job.error.message, /^Flashed MicroPython v1\.25\.0, but after the reset the board came up in serial download mode \(rst cause 2, boot mode \(1,[67]\)\): GPIO0 is held low, so release the BOOT\/FLASH button \(or whatever pulls GPIO0 down\) and reset it\.$/);
  assert.equal(job.result.boot.class, "download_mode");
});

test("a MicroPython that shows its banner seconds after the ROM log is still seen booting", async (t) => {
  const parts = E.multipart("esp32", { dir: E.tmp("corral-bootcheck-slow-") });
  const q = await E.submitFlash(corrald.url, "slow", parts);
  const { job } = await E.watchJob(corrald.url, q.id, 90000);
  t.diagnostic(job.result?.verdict ?? JSON.stringify(job.error));
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  assert.match(job.result.verdict, / and it booted: MicroPython v1\.24\.1/);
  assert.equal(job.result.boot.class, "booted");
  assert.equal(job.result.boot.prompt, true);
});

test("the four failure verdicts are distinct sentences", async () => {
  const jobs = (await api(corrald.url, "GET", "/api/v1/jobs?kind=flash")).body.jobs ?? [];
  const codes = new Map(jobs.filter((j) => j.state === "failed").map((j) => [j.error.code, j.error.message]));
  for (const c of ["rolled_back", "blank_flash", "silent", "download_mode"]) assert.ok(codes.has(c), `no ${c} job`);
  assert.equal(new Set(codes.values()).size, codes.size);
});

test("a library firmware for another chip is refused at submission, naming both chips", async () => {
  execFileSync(E.MKIMAGE, ["--chip", "esp32", "--version", "1.25.0", "-o", path.join(dir, "esp32.bin")], { stdio: "ignore" });
  const id = await upload(readFileSync(path.join(dir, "esp32.bin")), "ESP32_GENERIC-20250415-v1.25.0.bin");
  const r = await api(corrald.url, "POST", "/api/v1/boards/nodemcu/jobs", { kind: "flash", firmware: id });
  assert.equal(r.status, 422);
  assert.match(r.body.error.message, /is an ESP32 image, but this board is an ESP8266/);
});
