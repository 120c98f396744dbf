// NOR SPI flash model for the virtual ESP boards: erase -> 0xFF, program ANDs bits, JEDEC id and SFDP
// derived from the size, optional persistence to <stateDir>/flash.bin, and erase/program timing
// (esp-rom.md §2.5, §2.6, §3.4/3.5, §7).
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";

export const SECTOR = 0x1000;
export const BLOCK = 0x10000;

/** "4MB" / "512KB" / 4194304 -> bytes. */
export function parseSize(s) {
  if (typeof s === "number") return s;
  const m = /^(\d+)\s*(KB|MB|K|M)?$/i.exec(String(s).trim());
  if (!m) throw new Error(`bad flash size ${s}`);
  const n = parseInt(m[1], 10);
  const u = (m[2] || "").toUpperCase();
  return u.startsWith("M") ? n * 1024 * 1024 : u.startsWith("K") ? n * 1024 : n;
}

export function sizeName(bytes) {
  return bytes >= 1 << 20 ? `${bytes >> 20}MB` : `${bytes >> 10}KB`;
}

/**
 * Timing model (milliseconds). Defaults follow §7: ROM sector erase ~30 ms, 64 KiB block erase ~150 ms,
 * page (256 B) program ~0.5 ms, chip erase ~1.2 s per MB. `scale` multiplies all of them (0 = instant).
 */
export function makeTiming(opts = {}) {
  const scale = opts.fast ? 0 : opts.timeScale ?? 1;
  return {
    scale,
    sectorEraseMs: (opts.eraseMs ?? 30) * scale,
    blockEraseMs: (opts.blockEraseMs ?? 150) * scale,
    pageProgramMs: (opts.pageProgramMs ?? 0.5) * scale,
    chipEraseMsPerMB: (opts.chipEraseMsPerMB ?? 1200) * scale,
  };
}

export class Flash {
  /**
   * @param {object} o  size (bytes or "4MB"), stateDir (optional), timing (from makeTiming), mfr (JEDEC
   *                    manufacturer byte, default 0xEF Winbond), images [{file|data, offset}] for a fresh flash
   */
  constructor(o = {}) {
    this.size = parseSize(o.size ?? "4MB");
    this.timing = o.timing || makeTiming({});
    this.mfr = o.mfr ?? 0xef;
    this.memType = o.memType ?? 0x40;
    this.file = o.stateDir ? path.join(o.stateDir, "flash.bin") : null;
    this.data = Buffer.alloc(this.size, 0xff);
    this.status = [0x00, 0x02, 0x60]; // SR1, SR2 (QE set, as on most ESP modules), SR3
    this.stats = { sectorErases: 0, blockErases: 0, chipErases: 0, programmedBytes: 0, badPrograms: 0 };
    let loaded = false;
    if (this.file && fs.existsSync(this.file) && !o.reloadImages) {
      const b = fs.readFileSync(this.file);
      b.copy(this.data, 0, 0, Math.min(b.length, this.size));
      loaded = true;
    }
    if (!loaded) for (const img of o.images || []) this.load(img.offset ?? 0, img.data ?? fs.readFileSync(img.file));
    this._saveTimer = null;
    this.dirty = !loaded && (o.images || []).length > 0;
  }

  /** JEDEC RDID as read into W0: mfr | type<<8 | capacity<<16 (capacity = log2(size)). */
  get jedecId() {
    const cap = Math.round(Math.log2(this.size));
    return (this.mfr | (this.memType << 8) | (cap << 16)) >>> 0;
  }

  /** SFDP table bytes at addr (only the header matters to flashers: "SFDP" signature). */
  sfdpByte(addr) {
    const tbl = [0x53, 0x46, 0x44, 0x50, 0x06, 0x01, 0x00, 0xff, 0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xff,
      this.mfr, 0x00, 0x01, 0x03, 0x60, 0x00, 0x00, 0xff];
    return addr < tbl.length ? tbl[addr] : 0xff;
  }

  /** Copy raw bytes (preload, no NOR semantics, no timing). */
  load(offset, data) {
    if (offset + data.length > this.size) throw new Error(`image at 0x${offset.toString(16)} does not fit in flash`);
    Buffer.from(data).copy(this.data, offset);
    this.dirty = true;
  }

  read(offset, len) {
    const out = Buffer.alloc(len, 0xff);
    if (offset < this.size) this.data.copy(out, 0, offset, Math.min(this.size, offset + len));
    return out;
  }

  inRange(offset, len) {
    return offset >= 0 && len >= 0 && offset + len <= this.size;
  }

  isErased(offset, len) {
    for (let i = offset; i < offset + len && i < this.size; i++) if (this.data[i] !== 0xff) return false;
    return true;
  }

  /** Erase [offset, offset+len) rounded out to sectors; returns the time the erase takes (ms). */
  erase(offset, len) {
    if (len <= 0) return 0;
    let a = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + len) / SECTOR) * SECTOR);
    let ms = 0;
    while (a < end) {
      if (a % BLOCK === 0 && a + BLOCK <= end) {
        this.data.fill(0xff, a, a + BLOCK);
        this.stats.blockErases++;
        ms += this.timing.blockEraseMs;
        a += BLOCK;
      } else {
        this.data.fill(0xff, a, a + SECTOR);
        this.stats.sectorErases++;
        ms += this.timing.sectorEraseMs;
        a += SECTOR;
      }
    }
    this.touch();
    return ms;
  }

  eraseChip() {
    this.data.fill(0xff);
    this.stats.chipErases++;
    this.touch();
    return (this.timing.chipEraseMsPerMB * this.size) / (1 << 20);
  }

  /**
   * NOR program: new = old & data. Returns {ms, ok} where ok=false if some bit would have had to go
   * 0 -> 1 (the block was not erased), which a ROM read-back verify reports as a flash write error.
   */
  program(offset, data) {
    let ok = true;
    const n = Math.min(data.length, this.size - offset);
    for (let i = 0; i < n; i++) {
      const v = this.data[offset + i] & data[i];
      if (v !== data[i] && data[i] !== 0xff) ok = false; // verify ignores 0xFF padding
      this.data[offset + i] = v;
    }
    if (!ok) this.stats.badPrograms++;
    this.stats.programmedBytes += n;
    this.touch();
    return { ok: ok && n === data.length, ms: Math.ceil(n / 256) * this.timing.pageProgramMs };
  }

  md5(offset, len) {
    return createHash("md5").update(this.read(offset, len)).digest();
  }

  sha256(offset, len) {
    return createHash("sha256").update(this.read(offset, len)).digest("hex");
  }

  touch() {
    this.dirty = true;
    if (!this.file || this._saveTimer) return;
    this._saveTimer = setTimeout(() => { this._saveTimer = null; this.save(); }, 500);
    this._saveTimer.unref?.();
  }

  save() {
    if (!this.file || !this.dirty) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, this.data);
    fs.renameSync(tmp, this.file);
    this.dirty = false;
  }

  close() {
    if (this._saveTimer) clearTimeout(this._saveTimer);
    this._saveTimer = null;
    this.save();
  }
}

/**
 * ESP8266 ROM FLASH_BEGIN erase model (§2.6, inferred): with n = ceil(erase_size/4096) and
 * head = min(16 - start_sector%16, n), the buggy ROM erases head + n sectors from start_sector.
 * Returns [offset, length] of what it erases.
 */
export function esp8266RomEraseRange(offset, eraseSize) {
  const n = Math.ceil(eraseSize / SECTOR);
  if (n === 0) return [offset, 0];
  const start = Math.floor(offset / SECTOR);
  const head = Math.min(16 - (start % 16), n);
  return [start * SECTOR, (head + n) * SECTOR];
}

/** What esptool sends as erase_size to the ESP8266 ROM (§2.6), for tests. */
export function esp8266HostEraseSize(offset, size) {
  const numSectors = Math.ceil(size / SECTOR);
  const startSector = Math.floor(offset / SECTOR);
  let head = 16 - (startSector % 16);
  if (numSectors < head) head = numSectors;
  if (numSectors < 2 * head) return Math.floor((numSectors + 1) / 2) * SECTOR;
  return (numSectors - head) * SECTOR;
}
