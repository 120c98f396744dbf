// Shared machinery of the ROM loader and flasher-stub personalities: request queue, response building,
// register commands, RAM download, streaming inflate, flash write sessions (esp-rom.md §1-§2).
import zlib from "node:zlib";
import { buildResponse, parseRequest, espChecksum } from "./slip.js";

export const OP = {
  FLASH_BEGIN: 0x02, FLASH_DATA: 0x03, FLASH_END: 0x04, MEM_BEGIN: 0x05, MEM_END: 0x06, MEM_DATA: 0x07,
  SYNC: 0x08, WRITE_REG: 0x09, READ_REG: 0x0a, SPI_SET_PARAMS: 0x0b, SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e, CHANGE_BAUDRATE: 0x0f, FLASH_DEFL_BEGIN: 0x10, FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12, SPI_FLASH_MD5: 0x13, GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0, ERASE_REGION: 0xd1, READ_FLASH: 0xd2, RUN_USER_CODE: 0xd3,
};

export const SYNC_PAYLOAD = Buffer.from([0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)]);

export class LoaderError extends Error {
  constructor(code, msg) {
    super(msg || `loader error 0x${code.toString(16)}`);
    this.code = code;
  }
}

/** zlib stream inflated incrementally as FLASH_DEFL_DATA blocks arrive (one stream across blocks). */
export class StreamInflater {
  constructor() {
    this.z = zlib.createInflate();
    this.chunks = [];
    this.error = null;
    this.z.on("data", (d) => this.chunks.push(d));
    this.z.on("error", (e) => { this.error = e; this._wake?.(); });
  }
  /** Feed compressed bytes; resolves with the newly inflated bytes. Throws on a bad stream. */
  async push(chunk) {
    if (this.error) throw this.error;
    await new Promise((resolve) => {
      this._wake = resolve;
      this.z.write(chunk);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, resolve);
    });
    this._wake = null;
    if (this.error) throw this.error;
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
  close() {
    try { this.z.close(); } catch { /* already closed */ }
  }
}

/**
 * Base class. `ctx` is the board: { chip, flash, regs, opts, timing, send(payload), sleep(ms),
 * afterDrain(fn), setBaud(b), enterStub(), leaveLoader(how), log(msg) }.
 */
export class LoaderBase {
  constructor(ctx) {
    this.ctx = ctx;
    this.chip = ctx.chip;
    this.flash = ctx.flash;
    this.regs = ctx.regs;
    this.queue = [];
    this.busy = false;
    this.dead = false;
    this.mem = null; // RAM download session
    this.session = null; // flash write session
    this.trace = []; // ops handled (for tests and debugging)
    this.rawWaiter = null; // stub READ_FLASH: waiting for a host ack frame
  }

  /** Stop processing (board reset or personality change). */
  kill() {
    this.dead = true;
    this.queue = [];
    this.session?.inflater?.close();
    if (this.rawWaiter) { const w = this.rawWaiter; this.rawWaiter = null; w(null); }
  }

  /** A complete SLIP frame arrived from the host. */
  onFrame(payload) {
    if (this.dead) return;
    if (this.rawWaiter) { const w = this.rawWaiter; this.rawWaiter = null; w(payload); return; }
    this.queue.push(payload);
    if (!this.busy) this._pump();
  }

  async _pump() {
    this.busy = true;
    try {
      while (this.queue.length && !this.dead) {
        const p = this.queue.shift();
        const req = parseRequest(p);
        if (!req) continue;
        try {
          await this.handle(req);
        } catch (e) {
          if (!this.dead) this.ctx.log?.(`esp loader: ${e.stack || e}`);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  send(payload) {
    if (!this.dead) this.ctx.send(payload);
  }

  /** Response with data and status (status layout decided by the subclass). */
  reply(op, data = Buffer.alloc(0), err = null, value = null) {
    this.send(buildResponse(op, value ?? this.responseValue(op), Buffer.concat([Buffer.from(data), this.status(err)])));
  }

  async sleep(ms) {
    if (ms > 0) await this.ctx.sleep(ms);
    else await new Promise((r) => setImmediate(r));
  }

  // ---- shared command bodies; they throw LoaderError(code) on failure ----

  doReadReg(data) {
    if (data.length < 4) throw new LoaderError(this.E.BAD_LEN);
    return this.regs.read(data.readUInt32LE(0));
  }

  async doWriteReg(data) {
    if (data.length === 0 || data.length % 16) throw new LoaderError(this.E.BAD_LEN);
    for (let i = 0; i < data.length; i += 16) {
      const [addr, value, mask, delayUs] = [0, 4, 8, 12].map((o) => data.readUInt32LE(i + o));
      if (delayUs >= 1000) await this.sleep(Math.min(delayUs / 1000, 200));
      this.regs.write(addr, value, mask);
    }
  }

  memBegin(data) {
    if (data.length < 16) throw new LoaderError(this.E.BAD_LEN);
    const [size, blocks, blockSize, addr] = [0, 4, 8, 12].map((o) => data.readUInt32LE(o));
    this.mem = { size, blocks, blockSize, addr, received: 0, nextSeq: 0 };
  }

  memData(req) {
    const { data } = req;
    if (!this.mem) throw new LoaderError(this.E.NOT_IN_MODE);
    const { len, seq, body } = this.dataHeader(data);
    if (espChecksum(body) !== (req.checksum & 0xff)) throw new LoaderError(this.E.CHECKSUM);
    if (this.mem.received + len > this.mem.size) throw new LoaderError(this.E.TOO_MUCH);
    this.mem.received += len;
    this.mem.nextSeq = seq + 1;
  }

  /** Split `{len, seq, 0, 0} + payload` and check the len word against the payload. */
  dataHeader(data) {
    if (data.length < 16) throw new LoaderError(this.E.NOT_ENOUGH);
    const len = data.readUInt32LE(0);
    const seq = data.readUInt32LE(4);
    const body = data.subarray(16);
    if (len !== body.length) throw new LoaderError(this.E.TOO_MUCH);
    return { len, seq, body };
  }

  md5(data) {
    if (data.length < 8) throw new LoaderError(this.E.BAD_LEN);
    const addr = data.readUInt32LE(0);
    const size = data.readUInt32LE(4);
    if (!this.flash.inRange(addr, size)) throw new LoaderError(this.E.BAD_PARAM);
    return { digest: this.flash.md5(addr, size), ms: (size / (1 << 20)) * (this.ctx.opts.md5MsPerMB ?? 250) * this.ctx.timing.scale };
  }

  securityInfo() {
    const b = Buffer.alloc(20);
    b.writeUInt32LE(0, 0); // flags: no secure boot, no secure download mode
    b[4] = 0; // flash_crypt_cnt
    b.writeUInt32LE(this.chip.imageChipId >>> 0, 12);
    b.writeUInt32LE(this.chip.securityApiVersion ?? 0, 16);
    return b;
  }

  /** Begin a (possibly compressed) flash write. eraseUpFront: ROM behaviour. */
  beginFlash({ size, blocks, blockSize, offset, compressed, eraseRange }) {
    this.session?.inflater?.close();
    this.session = {
      size, blocks, blockSize, offset, compressed, written: 0, received: 0,
      inflater: compressed ? new StreamInflater() : null, erased: new Set(), eraseRange,
    };
    return this.session;
  }
}
