// Helpers for the ESP flash tests and bench: virtual ESP boards behind corrald, firmware made with
// mkimage, the vboard control channel, and the bytes a correct flasher leaves in flash, computed
// here in JS from the esp-rom.md rules (header patch, SHA-256 rehash), independently of the C code.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, api, startCorrald, startVboard, waitFor } from "./lib.mjs";

export const MKIMAGE = path.join(ROOT, "tests/vboard/mkimage");
export const STUB_DIR = path.join(ROOT, "node_modules/esptool-js/lib/targets/stub_flasher");
export const BOOT_OFFSET = { esp8266: 0x0, esp32: 0x1000, esp32c3: 0x0, esp32s3: 0x0 };
export const FAMILY = { esp8266: "esp8266", esp32: "esp32", esp32c3: "esp32", esp32s3: "esp32" };
const MODES = { qio: 0, qout: 1, dio: 2, dout: 3 };

export const sha256 = (b) => createHash("sha256").update(b).digest("hex");
export const tmp = (p = "corral-esp-") => mkdtempSync(path.join(tmpdir(), p));

/** One control-channel command ("flash-sha256 0 4096") -> its JSON reply; throws on ok:false. */
export function control(url, line, ms = 10000) {
  const { port } = new URL(url.replace(/^tcp:/, "http:"));
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port: Number(port) });
    let buf = "";
    const t = setTimeout(() => { s.destroy(); reject(new Error(`control ${line}: no reply in ${ms} ms`)); }, ms);
    s.on("error", (e) => { clearTimeout(t); reject(e); });
    s.on("connect", () => s.write(line + "\n"));
    s.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(t);
      s.destroy();
      const r = JSON.parse(buf.slice(0, nl));
      if (!r.ok) reject(new Error(`control ${line}: ${r.error}`));
      else resolve(r);
    });
  });
}

/** SHA-256 of a flash region of a virtual board. */
export async function flashSha(board, offset, len) {
  return (await control(board.control, `flash-sha256 ${offset} ${len}`)).sha256;
}

/** Bytes of a flash region of a virtual board (at most 1 MiB). */
export async function flashRead(board, offset, len) {
  return Buffer.from((await control(board.control, `flash-read ${offset} ${len}`)).data, "base64");
}

/** mkimage single image -> Buffer. args e.g. ["--flash-mode", "qio", "--sha256"]. */
export function mkimage(chip, args = [], dir = tmp()) {
  const out = path.join(dir, `${chip}-${sha256(args.join(" ")).slice(0, 8)}.bin`);
  execFileSync(MKIMAGE, ["--chip", chip, "--version", "1.24.1", ...args, "-o", out], { stdio: "ignore" });
  return { path: out, data: readFileSync(out) };
}

/**
 * A multi-part firmware for chip, as files in dir: [{offset, path, data}].
 * ESP32 family: bootloader (QIO, SHA-256 appended) at the chip's bootloader offset, the partition
 * table at 0x8000 and the app at 0x10000 (from mkimage --multipart). ESP8266: the image (QIO) at 0
 * and a data blob at 0x80000. appSize pads the app/image (e.g. "256k").
 */
export function multipart(chip, { appSize, dir = tmp(), seed = 1 } = {}) {
  if (chip === "esp8266") {
    const img = mkimage(chip, ["--flash-mode", "qio", ...(appSize ? ["--size", appSize] : [])], dir);
    const blob = Buffer.alloc(6000);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 131 + seed * 7) & 0xff;
    const blobPath = path.join(dir, "blob.bin");
    writeFileSync(blobPath, blob);
    return [{ offset: 0, path: img.path, data: img.data }, { offset: 0x80000, path: blobPath, data: blob }];
  }
  const mp = path.join(dir, "mp");
  execFileSync(MKIMAGE, ["--chip", chip, "--version", "1.24.1", "--flash-mode", "qio", "--multipart", mp,
    ...(appSize ? ["--size", appSize] : [])], { stdio: "ignore" });
  const boot = mkimage(chip, ["--flash-mode", "qio", "--sha256"], dir);
  const f = (n) => path.join(mp, n);
  return [
    { offset: BOOT_OFFSET[chip], path: boot.path, data: boot.data },
    { offset: 0x8000, path: f("partitions.bin"), data: readFileSync(f("partitions.bin")) },
    { offset: 0x10000, path: f("app.bin"), data: readFileSync(f("app.bin")) },
  ];
}

/** A file of n random bytes (incompressible), for payload-rate measurements. */
export function randomFile(n, dir = tmp()) {
  const p = path.join(dir, `random-${n}.bin`);
  const data = randomBytes(n);
  writeFileSync(p, data);
  return { path: p, data };
}

/**
 * The end of an image's data (just after the checksum byte) from its header and segments
 * (esp-rom.md §4.1): 8-byte header, 16 more on the ESP32 family, segments {addr, len, data},
 * zero padding so that the checksum byte ends a 16-byte line.
 */
export function imageDataLength(img, extended) {
  let off = extended ? 24 : 8;
  for (let i = 0; i < img[1]; i++) off += 8 + img.readUInt32LE(off + 4);
  return off + (15 - (off % 16)) + 1;
}

/**
 * What esptool's rules (§4.3) make of a part written at offset with flash_mode `mode`: byte 2 patched
 * only at the chip's bootloader offset on an 0xE9 image; when an ESP32-family image has byte 23 == 1
 * its SHA-256 (over everything before the digest) is recomputed.
 */
export function expectedPart(chip, part, mode) {
  const b = Buffer.from(part.data);
  if (!mode || part.offset !== BOOT_OFFSET[chip] || b[0] !== 0xe9) return b;
  b[2] = MODES[mode];
  const extended = chip !== "esp8266";
  if (extended && b[23] === 1) {
    const n = imageDataLength(b, true);
    createHash("sha256").update(b.subarray(0, n)).digest().copy(b, n);
  }
  return b;
}

/** The first `len` bytes of a blank (0xFF) flash after writing parts (with mode as above). */
export function expectedFlash(chip, parts, mode, len) {
  const f = Buffer.alloc(len, 0xff);
  for (const p of parts) expectedPart(chip, p, mode).copy(f, p.offset);
  return f;
}

/** Parts whose flash region differs from what they should have become (by SHA-256); [] = all good. */
export async function partsDiffering(board, chip, parts, mode) {
  const bad = [];
  for (const p of parts) {
    const want = expectedPart(chip, p, mode);
    if ((await flashSha(board, p.offset, want.length)) !== sha256(want)) bad.push(`0x${p.offset.toString(16)}`);
  }
  return bad;
}

/** Round up to the next 4 KiB sector past the last part. */
export function extent(parts) {
  const end = Math.max(...parts.map((p) => p.offset + p.data.length));
  return Math.ceil(end / 0x1000) * 0x1000 + 0x1000;
}

/** Start a vboard of kind; extra args e.g. ["--no-pacing"]. */
export function board(kind, args = []) {
  return startVboard(kind, args);
}

/** Start corrald with these boards as static rfc2217 ports named after their keys. extra: more
 * flags, e.g. ["--stub-dir", STUB_DIR] (the flasher stub is corrald's config, never a job's). */
export async function corraldWith(boards, extra = []) {
  const args = [];
  for (const [name, b] of Object.entries(boards)) args.push("--port", `${name}=${b.endpoint},family=${FAMILY[b.kind]}`);
  return startCorrald({ args: [...args, ...extra] });
}

/** Upload bytes to corrald's firmware library (what every client does: corrald never reads a
 * client's path); returns the firmware id. headers: e.g. a bearer token. */
export async function uploadFirmware(base, data, filename = "part.bin", headers = {}) {
  const r = await api(base, "POST", `/api/v1/firmware?filename=${encodeURIComponent(filename)}`, new Uint8Array(data),
    { "content-type": "application/octet-stream", ...headers });
  if (r.status !== 200 && r.status !== 201) throw new Error(`upload ${filename}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** POST a flash job of parts ({offset, data, path}): each part is uploaded to the library first and
 * flashed by id. Returns the 202 body (the queued job) or throws with the answer. */
export async function submitFlash(base, boardId, parts, params = {}) {
  const ids = [];
  for (const p of parts) ids.push(await uploadFirmware(base, p.data, p.path ? path.basename(p.path) : "part.bin"));
  const r = await api(base, "POST", `/api/v1/boards/${boardId}/jobs`,
    { kind: "flash", parts: parts.map((p, i) => ({ offset: p.offset, firmware: ids[i] })), ...params });
  if (r.status !== 202) throw new Error(`flash on ${boardId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Poll a job until it is final (20 ms steps, to see progress); returns {job, seen[]}. */
export async function watchJob(base, id, ms = 120000) {
  const seen = [];
  const job = await waitFor(async () => {
    const j = (await api(base, "GET", `/api/v1/jobs/${id}`)).body;
    seen.push({ state: j.state, progress: j.progress, phase: j.phase, detail: j.progress_detail ?? null });
    return ["queued", "running"].includes(j.state) ? null : j;
  }, ms, `job ${id}`);
  return { job, seen };
}
