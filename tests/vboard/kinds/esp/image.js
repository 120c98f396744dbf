// ESP firmware images: build test images carrying a MicroPython marker (for tests/vboard/mkimage) and
// parse images/partition tables found in virtual flash (esp-rom.md §4).
import { createHash } from "node:crypto";
import { getChip, FLASH_MODES, FREQ_CODES } from "./chips.js";

export const IMAGE_MAGIC = 0xe9;
export const MARKER_RE = /MicroPython (v\d+\.\d+\.\d+[^\s]*) on (\d{4}-\d{2}-\d{2}); ([^\0\r\n]{1,80}?) with ([A-Za-z0-9-]{3,16})/;

// Segment load addresses modelled on real builds (second-stage bootloader / app / ESP8266 firmware).
const LAYOUT = {
  esp8266: { single: { entry: 0x40100004, segs: [0x40100000, 0x3ffe8000, 0x3ffe8800] } },
  esp32: {
    single: { entry: 0x400805e4, segs: [0x3fff0030, 0x40078000, 0x40080400] },
    app: { entry: 0x40081000, segs: [0x3f400020, 0x3ffbdb60, 0x40080000, 0x400d0020] },
    maxRev: 399,
  },
  esp32c3: {
    single: { entry: 0x403cc71a, segs: [0x3fcd5820, 0x403cc710, 0x403ce710] },
    app: { entry: 0x40380080, segs: [0x3c0c0020, 0x3fc8f000, 0x40380000, 0x42000020] },
    maxRev: 199,
  },
  esp32s3: {
    single: { entry: 0x403c9880, segs: [0x3fce3818, 0x403c9700, 0x403cc700] },
    app: { entry: 0x40375000, segs: [0x3c0e0020, 0x3fc9f200, 0x40374000, 0x42000020] },
    maxRev: 99,
  },
};

/** Deterministic, moderately compressible filler (like code/rodata: ~1.7x with zlib -9). */
export function filler(len, seed = 1) {
  const out = Buffer.alloc(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = (x & 0xe0) === 0xe0 ? (x >>> 8) & 0xff : [0x00, 0x20, 0x40, 0x3f, 0xc0, 0x11, 0x06, 0x0e][x & 7];
  }
  return out;
}

export function markerString({ version, date, board, mcu }) {
  return `MicroPython v${String(version).replace(/^v/, "")} on ${date}; ${board} with ${mcu}`;
}

/**
 * Assemble an image: 8-byte header (+16-byte extended header for ESP32-family), segments, zero padding to
 * 16n-1, checksum byte, optional SHA-256 over everything before it.
 */
export function assembleImage({ chip, segments, entry, flashMode = "dio", flashSize = "4MB", flashFreq = "40m", sha256 = false }) {
  const c = typeof chip === "string" ? getChip(chip) : chip;
  const mode = FLASH_MODES.indexOf(String(flashMode).toLowerCase());
  if (mode < 0) throw new Error(`bad flash mode ${flashMode}`);
  const sizeCode = c.sizeCodes[flashSize];
  if (sizeCode === undefined) throw new Error(`flash size ${flashSize} not valid for ${c.name}`);
  const freq = FREQ_CODES[flashFreq];
  if (freq === undefined) throw new Error(`bad flash freq ${flashFreq}`);
  const hdr = Buffer.alloc(8);
  hdr[0] = IMAGE_MAGIC;
  hdr[1] = segments.length;
  hdr[2] = mode;
  hdr[3] = (sizeCode << 4) | freq;
  hdr.writeUInt32LE(entry >>> 0, 4);
  const parts = [hdr];
  if (c.extHeader) {
    const ext = Buffer.alloc(16);
    ext[0] = 0xee; // WP pin: disabled
    ext.writeUInt16LE(c.imageChipId, 4);
    ext[6] = 0; // min_rev (deprecated)
    ext.writeUInt16LE(0, 7); // min_rev_full
    ext.writeUInt16LE(LAYOUT[c.kind].maxRev, 9); // max_rev_full
    ext[15] = sha256 ? 1 : 0;
    parts.push(ext);
  } else if (sha256) {
    throw new Error("ESP8266 images carry no SHA-256 digest");
  }
  let csum = 0xef;
  for (const s of segments) {
    const data = Buffer.from(s.data);
    if (data.length % 4) throw new Error("segment length must be a multiple of 4");
    const sh = Buffer.alloc(8);
    sh.writeUInt32LE(s.addr >>> 0, 0);
    sh.writeUInt32LE(data.length, 4);
    parts.push(sh, data);
    for (const b of data) csum ^= b;
  }
  let body = Buffer.concat(parts);
  const pad = 15 - (body.length % 16);
  body = Buffer.concat([body, Buffer.alloc(pad), Buffer.from([csum])]);
  if (sha256) body = Buffer.concat([body, createHash("sha256").update(body).digest()]);
  return body;
}

function align4(buf) {
  const n = (4 - (buf.length % 4)) % 4;
  return n ? Buffer.concat([buf, Buffer.alloc(n)]) : buf;
}

function rodata(text, extra = 0, seed = 7) {
  return align4(Buffer.concat([Buffer.from(`${text}\0`, "latin1"), filler(extra, seed)]));
}

/** Apply a corruption to a built image: "checksum" (default), "magic", "sha", "segment". */
export function corruptImage(img, how = "checksum", chipKind = "esp32") {
  const b = Buffer.from(img);
  const info = parseImageBuffer(b, chipKind);
  switch (how === true ? "checksum" : how) {
    case "magic": b[0] = 0x47; break;
    case "sha":
      if (!info.hashAppended) throw new Error("--corrupt sha needs --sha256");
      b[info.checksumOffset + 1 + 5] ^= 0x55;
      break;
    case "segment": b[info.segments[0].fileOffset + 3] ^= 0x01; break; // data no longer matches checksum
    case "checksum":
    default: b[info.checksumOffset] ^= 0xa5; break;
  }
  return b;
}

/**
 * Build a test firmware. role "single": one image at the chip's boot offset carrying the marker
 * (ESP8266 firmware / ESP32-family bootloader-style image); role "app": an ESP32-family app image;
 * role "bootloader": an ESP32-family 2nd-stage bootloader without the marker.
 */
export function buildFirmware(o) {
  const chip = getChip(o.chip);
  const role = o.role || "single";
  const version = String(o.version || "1.24.1").replace(/^v/, "");
  const date = o.date || "2024-11-29";
  const board = o.board || chip.board;
  const marker = markerString({ version, date, board, mcu: chip.mcu });
  const lay = role === "app" ? LAYOUT[chip.kind].app : LAYOUT[chip.kind].single;
  if (!lay) throw new Error(`${chip.name} has no ${role} layout`);
  const text = role === "bootloader" ? `ESP-IDF v5.2.2 2nd stage bootloader` : marker;
  const segs = [
    { addr: lay.segs[0], data: rodata(text, role === "app" ? 1024 : 256, 3) },
    { addr: lay.segs[1], data: filler(role === "bootloader" ? 3000 : 2048, 5).subarray(0, role === "bootloader" ? 3000 : 2048) },
    { addr: lay.segs[2], data: filler(1024, 11) },
  ];
  // ESP32 app: an IROM segment; others: code grows the last segment.
  if (role === "app") segs.push({ addr: lay.segs[3], data: filler(4096, 13) });
  const sha = o.sha256 ?? (role === "app");
  let img = assembleImage({ chip, segments: segs, entry: lay.entry, flashMode: o.flashMode, flashSize: o.flashSize, flashFreq: o.flashFreq, sha256: sha && chip.extHeader });
  const target = o.size ? Number(o.size) : 0;
  if (target > img.length) {
    if (role === "app") {
      // grow the IROM segment so the image really is that big
      const grow = target - img.length;
      segs[3] = { addr: lay.segs[3], data: filler(4096 + Math.floor(grow / 4) * 4, 13) };
      img = assembleImage({ chip, segments: segs, entry: lay.entry, flashMode: o.flashMode, flashSize: o.flashSize, flashFreq: o.flashFreq, sha256: sha && chip.extHeader });
    } else {
      // ESP8266 firmware: irom0 text follows the image; ESP32-family single images: appended payload
      img = Buffer.concat([img, filler(target - img.length, 17)]);
    }
  }
  if (o.corrupt) img = corruptImage(img, o.corrupt, chip.kind);
  return img;
}

/** An ESP-IDF partition table (0xC00 bytes): entries + MD5 row + 0xFF. */
export function buildPartitionTable(entries) {
  const rows = [];
  for (const e of entries) {
    const r = Buffer.alloc(32);
    r[0] = 0xaa; r[1] = 0x50;
    r[2] = e.type; r[3] = e.subtype;
    r.writeUInt32LE(e.offset, 4);
    r.writeUInt32LE(e.size, 8);
    r.write(e.label.slice(0, 16), 12, "latin1");
    r.writeUInt32LE(e.flags || 0, 28);
    rows.push(r);
  }
  const body = Buffer.concat(rows);
  const md5row = Buffer.alloc(32, 0xff);
  md5row[0] = 0xeb; md5row[1] = 0xeb;
  createHash("md5").update(body).digest().copy(md5row, 16);
  const out = Buffer.alloc(0xc00, 0xff);
  Buffer.concat([body, md5row]).copy(out);
  return out;
}

export function parsePartitionTable(buf) {
  const entries = [];
  let md5ok = null;
  for (let off = 0; off + 32 <= buf.length; off += 32) {
    const r = buf.subarray(off, off + 32);
    if (r[0] === 0xaa && r[1] === 0x50) {
      entries.push({
        type: r[2], subtype: r[3], offset: r.readUInt32LE(4), size: r.readUInt32LE(8),
        label: r.subarray(12, 28).toString("latin1").replace(/\0.*$/s, ""), flags: r.readUInt32LE(28),
      });
    } else if (r[0] === 0xeb && r[1] === 0xeb) {
      md5ok = createHash("md5").update(buf.subarray(0, off)).digest().equals(r.subarray(16, 32));
      break;
    } else break;
  }
  return { entries, md5ok, valid: entries.length > 0 && md5ok !== false };
}

/** Multi-part ESP32-family layout: bootloader, partition table at 0x8000, factory app at 0x10000. */
export function buildMultipart(o) {
  const chip = getChip(o.chip);
  if (!chip.extHeader) throw new Error("--multipart is for ESP32-family chips");
  const flashBytes = parseInt(o.flashSize || "4MB", 10) * 1024 * 1024;
  const bootloader = buildFirmware({ ...o, role: "bootloader", corrupt: undefined, size: undefined, sha256: false });
  const app = buildFirmware({ ...o, role: "app" });
  const appSize = Math.max(0x100000, Math.ceil(app.length / 0x10000) * 0x10000);
  const partitions = buildPartitionTable([
    { label: "nvs", type: 1, subtype: 2, offset: 0x9000, size: 0x6000 },
    { label: "phy_init", type: 1, subtype: 1, offset: 0xf000, size: 0x1000 },
    { label: "factory", type: 0, subtype: 0, offset: 0x10000, size: Math.min(appSize, flashBytes - 0x10000) },
  ]);
  const files = [
    { name: "bootloader.bin", offset: chip.bootOffset, data: bootloader },
    { name: "partitions.bin", offset: 0x8000, data: partitions },
    { name: "app.bin", offset: 0x10000, data: app },
  ];
  return { files, manifest: manifestFor(chip, o, files) };
}

export function manifestFor(chip, o, files) {
  return {
    chip: chip.kind,
    version: String(o.version || "1.24.1").replace(/^v/, ""),
    flash_mode: o.flashMode || "dio",
    flash_size: o.flashSize || "4MB",
    flash_freq: o.flashFreq || "40m",
    parts: files.map((f) => ({
      file: f.name, offset: f.offset, offset_hex: `0x${f.offset.toString(16)}`, size: f.data.length,
      sha256: createHash("sha256").update(f.data).digest("hex"),
    })),
  };
}

/** Parse an image from a buffer (a file, or flash contents starting at the image). */
export function parseImageBuffer(buf, chipKind) {
  return parseImageAt((off, len) => {
    const out = Buffer.alloc(len, 0xff);
    if (off < buf.length) buf.copy(out, 0, off, Math.min(buf.length, off + len));
    return out;
  }, 0, chipKind, buf.length);
}

/**
 * Parse the image at `base` through read(offset, len). Returns header fields, segments (with flash
 * offsets), checksum (stored/calculated), SHA-256 validity, and `error` ("blank" | "magic" | "segments" |
 * "checksum" | "sha256") if the ROM/bootloader would reject it.
 */
export function parseImageAt(read, base, chipKind, limit = 1 << 24) {
  const chip = getChip(chipKind);
  const h = read(base, 24);
  const info = { base, magic: h[0], firstWord: h.readUInt32LE(0), segCount: h[1], flashMode: h[2], sizeFreq: h[3], entry: h.readUInt32LE(4), segments: [] };
  info.flashModeName = (FLASH_MODES[info.flashMode] || "unknown").toUpperCase();
  if (info.firstWord === 0xffffffff) return { ...info, error: "blank" };
  if (h[0] !== IMAGE_MAGIC) return { ...info, error: "magic" };
  let off = base + 8;
  if (chip.extHeader) {
    info.wpPin = h[8];
    info.drv = [h[9], h[10], h[11]];
    info.chipId = h.readUInt16LE(12);
    info.hashAppended = h[23] === 1;
    off += 16;
  }
  if (info.segCount === 0 || info.segCount > 16) return { ...info, error: "segments" };
  let csum = 0xef;
  for (let i = 0; i < info.segCount; i++) {
    const sh = read(off, 8);
    const addr = sh.readUInt32LE(0);
    const len = sh.readUInt32LE(4);
    if (len > 0x1000000 || off + 8 + len - base > limit) {
      info.segments.push({ addr, len, fileOffset: off + 8 - base, truncated: true });
      return { ...info, error: "segments" };
    }
    const data = read(off + 8, len);
    for (const b of data) csum ^= b;
    info.segments.push({ addr, len, fileOffset: off + 8 - base, flashOffset: off + 8, checksumAfter: csum });
    off += 8 + len;
  }
  const ckOff = off + (15 - ((off - base) % 16));
  info.checksumOffset = ckOff - base;
  info.checksumStored = read(ckOff, 1)[0];
  info.checksumCalc = csum;
  info.length = ckOff + 1 - base;
  if (info.hashAppended) {
    const body = read(base, info.length);
    const digest = read(ckOff + 1, 32);
    info.shaOk = createHash("sha256").update(body).digest().equals(digest);
    info.length += 32;
  }
  if (info.checksumStored !== info.checksumCalc) return { ...info, error: "checksum" };
  if (info.hashAppended && !info.shaOk) return { ...info, error: "sha256" };
  return info;
}

/** Find the MicroPython marker in a buffer; returns {version, date, board, mcu, banner} or null. */
export function findMarker(buf) {
  const s = buf.toString("latin1");
  const m = MARKER_RE.exec(s);
  if (!m) return null;
  return { version: m[1], date: m[2], board: m[3], mcu: m[4], banner: m[0] };
}
