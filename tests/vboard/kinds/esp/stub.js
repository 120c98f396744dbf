// Flasher-stub personality of a virtual ESP (esp-rom.md §1.4-§1.5, §2): 2-byte status, value 0,
// 16 KiB blocks ACKed before they are written (errors surface on the next command), lazy erase that
// skips blank sectors, FLASH_DEFL on every chip, ERASE_FLASH/ERASE_REGION, streaming READ_FLASH, raw MD5.
// We cannot execute the uploaded Xtensa/RISC-V code: this is a model of what the real stub does.
import { LoaderBase, LoaderError, OP, SYNC_PAYLOAD } from "./loader.js";
import { STUB_OPS } from "./chips.js";
import { espChecksum } from "./slip.js";
import { SECTOR } from "./flash.js";

const E = {
  BAD_LEN: 0xc0, BAD_DATA_LEN: 0xc0, CHECKSUM: 0xc1, BAD_BLOCKSIZE: 0xc2, INVALID_COMMAND: 0xc3, SPI: 0xc4,
  NOT_IN_MODE: 0xc6, INFLATE: 0xc7, NOT_ENOUGH: 0xc8, TOO_MUCH: 0xc9, NOT_IMPLEMENTED: 0xff, BAD_PARAM: 0xc0,
};

export class StubLoader extends LoaderBase {
  constructor(ctx) {
    super(ctx);
    this.E = E;
    this.kindName = "stub";
    this.deferred = null; // error of a post-processed command, reported on the next one (§1.5)
  }

  responseValue() {
    return 0;
  }

  status(err) {
    return Buffer.from(err === null || err === undefined ? [0x00, 0x00] : [err & 0xff, 0x00]);
  }

  async handle(req) {
    const { op, data } = req;
    this.trace.push(op);
    if (req.direction !== 0x00) return this.reply(op, [], E.INVALID_COMMAND);
    if (this.deferred !== null) {
      const code = this.deferred;
      this.deferred = null;
      return this.reply(op, [], code); // and the command is not executed
    }
    if (!STUB_OPS.has(op)) return this.reply(op, [], E.INVALID_COMMAND);
    if (req.size !== data.length) return this.reply(op, [], E.BAD_DATA_LEN);
    try {
      await this.dispatch(op, req);
    } catch (e) {
      if (!(e instanceof LoaderError)) throw e;
      this.reply(op, [], e.code);
    }
  }

  /** ACK now, run `work` afterwards; a failure becomes the status of the next command. */
  async postProcess(op, work) {
    this.reply(op);
    try {
      await work();
    } catch (e) {
      if (!(e instanceof LoaderError)) throw e;
      this.deferred = e.code;
    }
  }

  async dispatch(op, req) {
    const { data } = req;
    const ctx = this.ctx;
    switch (op) {
      case OP.SYNC:
        if (!data.equals(SYNC_PAYLOAD)) throw new LoaderError(E.BAD_DATA_LEN);
        for (let i = 0; i < 8; i++) this.reply(op);
        return;
      case OP.READ_REG:
        return this.reply(op, [], null, this.doReadReg(data));
      case OP.WRITE_REG:
        await this.doWriteReg(data);
        return this.reply(op);
      case OP.MEM_BEGIN:
        this.memBegin(data);
        return this.reply(op);
      case OP.MEM_DATA:
        this.memData(req);
        return this.reply(op);
      case OP.MEM_END:
        if (data.length < 8) throw new LoaderError(E.BAD_LEN);
        return this.postProcess(op, async () => {}); // running RAM code from the stub: not modelled
      case OP.SPI_ATTACH:
        if (data.length !== 4) throw new LoaderError(E.BAD_DATA_LEN);
        return this.reply(op);
      case OP.SPI_SET_PARAMS:
        if (data.length !== 24) throw new LoaderError(E.BAD_DATA_LEN);
        this.flashParams = { id: data.readUInt32LE(0), totalSize: data.readUInt32LE(4) };
        return this.reply(op);
      case OP.CHANGE_BAUDRATE: {
        if (data.length !== 8) throw new LoaderError(E.BAD_DATA_LEN);
        const baud = data.readUInt32LE(0);
        this.reply(op);
        ctx.afterDrain(() => ctx.setBaud(baud));
        return;
      }
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN: {
        if (data.length !== 16 && data.length !== 20) throw new LoaderError(E.BAD_DATA_LEN);
        const [size, blocks, blockSize, offset] = [0, 4, 8, 12].map((o) => data.readUInt32LE(o));
        if (blockSize > 0x4000) throw new LoaderError(E.BAD_BLOCKSIZE);
        if (!this.flash.inRange(offset, size)) throw new LoaderError(E.SPI);
        const s = this.beginFlash({ size, blocks, blockSize, offset, compressed: op === OP.FLASH_DEFL_BEGIN });
        s.remaining = size; // bytes still to be written
        return this.reply(op);
      }
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA: {
        const s = this.session;
        const compressed = op === OP.FLASH_DEFL_DATA;
        if (!s || s.compressed !== compressed) throw new LoaderError(E.NOT_IN_MODE);
        const { body } = this.dataHeader(data);
        if (espChecksum(body) !== (req.checksum & 0xff)) throw new LoaderError(E.CHECKSUM);
        return this.postProcess(op, async () => {
          let out = body;
          if (compressed) {
            try { out = await s.inflater.push(body); } catch { throw new LoaderError(E.INFLATE); }
            if (out.length > s.remaining) throw new LoaderError(E.TOO_MUCH);
          } else {
            out = body.subarray(0, Math.min(body.length, s.remaining)); // 0xFF padding dropped
          }
          await this.writeLazy(s, out);
        });
      }
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        if (data.length < 4) throw new LoaderError(E.BAD_LEN);
        if (!this.session) throw new LoaderError(E.NOT_IN_MODE);
        if (this.session.remaining > 0) throw new LoaderError(E.BAD_DATA_LEN);
        this.session.inflater?.close();
        this.session = null;
        return this.reply(op); // the new stub ignores the reboot flag
      case OP.SPI_FLASH_MD5: {
        const { digest, ms } = this.md5(data);
        await this.sleep(ms);
        return this.reply(op, digest);
      }
      case OP.GET_SECURITY_INFO:
        if (!this.chip.stubSecurityInfo) throw new LoaderError(E.NOT_IMPLEMENTED);
        return this.reply(op, this.securityInfo());
      case OP.ERASE_FLASH: {
        const ms = this.flash.eraseChip();
        await this.sleep(ms);
        return this.reply(op);
      }
      case OP.ERASE_REGION: {
        if (data.length !== 8) throw new LoaderError(E.BAD_DATA_LEN);
        const offset = data.readUInt32LE(0);
        const size = data.readUInt32LE(4);
        if (offset % SECTOR || size % SECTOR) throw new LoaderError(E.BAD_DATA_LEN);
        if (!this.flash.inRange(offset, size)) throw new LoaderError(E.SPI);
        await this.sleep(this.flash.erase(offset, size));
        return this.reply(op);
      }
      case OP.READ_FLASH:
        return this.readFlash(data);
      case OP.RUN_USER_CODE:
        this.kill();
        ctx.leaveLoader("run");
        return; // no response
      default:
        throw new LoaderError(E.INVALID_COMMAND);
    }
  }

  /** Write inflated/plain data at the session cursor, erasing each not-yet-blank sector on first touch. */
  async writeLazy(s, out) {
    if (!out.length) return;
    const at = s.offset + s.written;
    let ms = 0;
    for (let a = Math.floor(at / SECTOR) * SECTOR; a < at + out.length; a += SECTOR) {
      if (s.erased.has(a)) continue;
      s.erased.add(a);
      if (!this.flash.isErased(a, SECTOR)) ms += this.flash.erase(a, SECTOR);
    }
    const r = this.flash.program(at, out);
    s.written += out.length;
    s.remaining -= out.length;
    await this.sleep(ms + r.ms);
    if (!r.ok) throw new LoaderError(E.SPI);
  }

  /** READ_FLASH: ACK, then packets of packet_size, each acknowledged by the host, then a 16-byte MD5. */
  async readFlash(data) {
    if (data.length !== 16) throw new LoaderError(E.BAD_DATA_LEN);
    const [offset, length, packetSize] = [0, 4, 8].map((o) => data.readUInt32LE(o));
    if (!this.flash.inRange(offset, length) || packetSize === 0) throw new LoaderError(E.BAD_DATA_LEN);
    this.reply(OP.READ_FLASH);
    let sent = 0;
    const waitAck = () => new Promise((resolve) => {
      this.rawWaiter = resolve;
      setTimeout(() => { if (this.rawWaiter === resolve) { this.rawWaiter = null; resolve(null); } }, 5000).unref?.();
    });
    while (sent < length && !this.dead) {
      const n = Math.min(packetSize, length - sent);
      this.send(this.flash.read(offset + sent, n));
      sent += n;
      const ack = await waitAck(); // the new stub keeps one packet in flight
      if (!ack || ack.length < 4 || ack.readUInt32LE(0) !== sent) return; // host gave up
    }
    if (!this.dead) this.send(this.flash.md5(offset, length));
  }
}
