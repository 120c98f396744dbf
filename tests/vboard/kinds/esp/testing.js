// Test helpers for the virtual ESP boards: talk to a board at the frame level without a transport,
// and wait on its output with deadlines (robust on a loaded machine).
import { createEspBoard } from "./index.js";
import { SlipDecoder, slipEncode, buildRequest, parseResponse, espChecksum } from "./slip.js";
import { SYNC_PAYLOAD } from "./loader.js";

export { SYNC_PAYLOAD, buildRequest, parseResponse, espChecksum, slipEncode };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` until it returns a truthy value or the deadline passes. */
export async function waitFor(cond, { timeout = 5000, interval = 5, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(interval);
  }
}

/**
 * A board plus a host-side recorder: every transmitted chunk with the baud it left at, decoded SLIP
 * frames, and helpers to send commands straight into the board's RX.
 */
export class Harness {
  constructor(kind, opts = {}) {
    this.board = createEspBoard(kind, { fast: true, ...opts });
    this.chunks = []; // {baud, bytes, t}
    this.frames = [];
    this.dec = new SlipDecoder({ maxFrame: 1 << 20 });
    this.board.on("tx", (b) => {
      this.chunks.push({ baud: this.board.txBaud, bytes: b, t: Date.now() });
      for (const f of this.dec.push(b)) this.frames.push(f);
    });
  }
  async start() {
    await this.board.start();
    return this;
  }
  async stop() {
    await this.board.stop();
  }
  /** All output as text; optionally only what was sent at `baud`. */
  text(baud) {
    return Buffer.concat(this.chunks.filter((c) => baud === undefined || c.baud === baud).map((c) => c.bytes)).toString("latin1");
  }
  clear() {
    this.chunks = [];
    this.frames = [];
    this.dec.reset();
  }
  sendRaw(payload) {
    this.board.onRx(slipEncode(payload));
  }
  /** Send a command; resolves with the parsed response frames that arrived within `settleMs` after the first. */
  async command(op, data = Buffer.alloc(0), { checksum = 0, count = 1, timeout = 3000 } = {}) {
    const start = this.frames.length;
    this.sendRaw(buildRequest(op, Buffer.from(data), checksum));
    await waitFor(() => this.frames.length - start >= count, { timeout, what: `${count} response(s) to op 0x${op.toString(16)}` });
    await sleep(20);
    return this.frames.slice(start).map((f) => parseResponse(f) ?? { raw: f });
  }
  /** Pulse EN through the auto-reset circuit: (dtr, rts) = (F,T) for `holdMs`, then (dtr, F) with IO0 per `download`. */
  async reset({ download = false, holdMs = 20 } = {}) {
    this.board.onLines({ dtr: false, rts: true });
    await sleep(holdMs);
    this.board.onLines({ dtr: download, rts: false });
    await sleep(30);
    this.board.onLines({ dtr: false, rts: false });
  }
}

/** A FLASH_DATA/MEM_DATA payload: {len, seq, 0, 0} + data, and its checksum. */
export function dataBlock(seq, data) {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(data.length, 0);
  h.writeUInt32LE(seq, 4);
  return { payload: Buffer.concat([h, data]), checksum: espChecksum(data) };
}

export function words(...ws) {
  const b = Buffer.alloc(ws.length * 4);
  ws.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return b;
}
