// SLIP framing and ESP serial-protocol packet helpers (esp-rom.md §1).
// Pure functions: no I/O, no timers. Used by the ROM/stub personalities and by the tests.

export const END = 0xc0;
export const ESC = 0xdb;
export const ESC_END = 0xdc;
export const ESC_ESC = 0xdd;

/** Wrap a payload in a SLIP frame: C0 + escaped payload + C0. */
export function slipEncode(payload) {
  const out = [END];
  for (const b of payload) {
    if (b === END) out.push(ESC, ESC_END);
    else if (b === ESC) out.push(ESC, ESC_ESC);
    else out.push(b);
  }
  out.push(END);
  return Buffer.from(out);
}

/**
 * Incremental SLIP decoder. Bytes outside a frame are ignored (the ROM does the same; it is how
 * boot-log noise and garbled bytes are dropped). A bad escape drops the frame being decoded.
 * Empty frames (C0 C0) are skipped: the second C0 starts a new frame.
 */
export class SlipDecoder {
  constructor({ maxFrame = 0x4000 + 64 } = {}) {
    this.maxFrame = maxFrame;
    this.reset();
  }
  reset() {
    this.inFrame = false;
    this.escaping = false;
    this.buf = [];
    this.dropped = 0; // frames dropped because of bad escapes or overflow
    this.overflow = false;
  }
  /** Feed bytes; returns an array of complete frames (Buffers). */
  push(bytes) {
    const frames = [];
    for (const b of bytes) {
      if (!this.inFrame) {
        if (b === END) {
          this.inFrame = true;
          this.buf = [];
          this.escaping = false;
          this.overflow = false;
        }
        continue;
      }
      if (this.escaping) {
        this.escaping = false;
        if (b === ESC_END) this._put(END);
        else if (b === ESC_ESC) this._put(ESC);
        else {
          // invalid escape: drop this frame and resync on the next C0
          this.inFrame = false;
          this.dropped++;
          if (b === END) { this.inFrame = true; this.buf = []; }
        }
        continue;
      }
      if (b === ESC) { this.escaping = true; continue; }
      if (b === END) {
        if (this.buf.length === 0) continue; // C0 C0: treat the second C0 as a new start
        if (this.overflow) this.dropped++;
        else frames.push(Buffer.from(this.buf));
        this.buf = [];
        this.inFrame = true; // a closing C0 may also open the next frame; junk between frames then
        continue; // forms a short frame that callers discard because it is not a valid request
      }
      this._put(b);
    }
    return frames;
  }
  _put(b) {
    if (this.buf.length >= this.maxFrame) { this.overflow = true; return; }
    this.buf.push(b);
  }
}

/** Parse a request payload (host -> chip). Returns null if it is not a request. */
export function parseRequest(p) {
  if (!p || p.length < 8) return null;
  return {
    direction: p[0],
    op: p[1],
    size: p.readUInt16LE(2),
    checksum: p.readUInt32LE(4),
    data: p.subarray(8),
  };
}

/** Build a request payload (used by tests). */
export function buildRequest(op, data = Buffer.alloc(0), checksum = 0) {
  const h = Buffer.alloc(8);
  h[0] = 0x00;
  h[1] = op;
  h.writeUInt16LE(data.length, 2);
  h.writeUInt32LE(checksum >>> 0, 4);
  return Buffer.concat([h, Buffer.from(data)]);
}

/** Build a response payload: 01 op size value data... (size includes the status bytes). */
export function buildResponse(op, value, body = Buffer.alloc(0)) {
  const h = Buffer.alloc(8);
  h[0] = 0x01;
  h[1] = op;
  h.writeUInt16LE(body.length, 2);
  h.writeUInt32LE(value >>> 0, 4);
  return Buffer.concat([h, Buffer.from(body)]);
}

/** Parse a response payload (used by tests and adapters). */
export function parseResponse(p) {
  if (!p || p.length < 8 || p[0] !== 0x01) return null;
  return { op: p[1], size: p.readUInt16LE(2), value: p.readUInt32LE(4), data: p.subarray(8) };
}

/** The data checksum of §1.2: 0xEF xor every byte. */
export function espChecksum(data, seed = 0xef) {
  let c = seed;
  for (const b of data) c ^= b;
  return c & 0xff;
}
