// ROM serial-loader personality of a virtual ESP (esp-rom.md §1.3-§1.6, §2): per-chip opcode matrix,
// 2- or 4-byte status, sticky `value`, 8x SYNC, 8x "invalid message" for unsupported opcodes,
// up-front erase (with the ESP8266 erase-size bug), 0x400..0x4000 blocks written before the ACK.
import { LoaderBase, LoaderError, OP, SYNC_PAYLOAD } from "./loader.js";
import { esp8266RomEraseRange, SECTOR } from "./flash.js";
import { espChecksum } from "./slip.js";
import { buildResponse } from "./slip.js";

const E = { BAD_PARAM: 0x01, BAD_LEN: 0x05, NOT_ENOUGH: 0x05, TOO_MUCH: 0x05, NOT_IN_MODE: 0x06, RUN: 0x06, CHECKSUM: 0x07, WRITE: 0x08, READ_LEN: 0x0a, INFLATE: 0x0b, ADLER: 0x0c };

export class RomLoader extends LoaderBase {
  constructor(ctx) {
    super(ctx);
    this.E = E;
    this.kindName = "rom";
    this.statusLen = this.chip.romStatusLen;
    this.lastValue = 0; // the ROM never clears it (§1.3)
    this.attached = this.chip.kind === "esp8266" || ctx.opts.requireSpiAttach === false;
    this.autobaud = true; // until CHANGE_BAUDRATE the ROM follows the host's baud
  }

  responseValue() {
    return this.lastValue;
  }

  status(err) {
    const s = Buffer.alloc(this.statusLen, 0);
    if (err !== null && err !== undefined) { s[0] = 0x01; s[1] = err; }
    return s;
  }

  /** 8 identical "invalid message" replies carrying a different opcode (configurable, §1.6). */
  unsupported(op) {
    const mode = this.ctx.opts.unsupportedOpcode ?? 0x00;
    const rop = mode === "echo" ? op : Number(mode) & 0xff;
    const frame = buildResponse(rop, this.lastValue, this.status(0x05));
    for (let i = 0; i < 8; i++) this.send(frame);
  }

  async handle(req) {
    if (req.direction !== 0x00) return;
    const { op, data } = req;
    this.trace.push(op);
    if (!this.chip.romOps.has(op)) return this.unsupported(op);
    if (req.size !== data.length) return this.reply(op, [], E.BAD_LEN);
    try {
      await this.dispatch(op, req);
    } catch (e) {
      if (!(e instanceof LoaderError)) throw e;
      this.reply(op, [], e.code);
    }
  }

  async dispatch(op, req) {
    const { data } = req;
    const ctx = this.ctx;
    switch (op) {
      case OP.SYNC: {
        if (!data.equals(SYNC_PAYLOAD)) return; // not a clean SYNC: the ROM stays silent
        this.lastValue = data.readUInt32LE(0);
        for (let i = 0; i < 8; i++) this.reply(op);
        return;
      }
      case OP.READ_REG:
        this.lastValue = this.doReadReg(data);
        return this.reply(op);
      case OP.WRITE_REG:
        await this.doWriteReg(data);
        return this.reply(op);
      case OP.MEM_BEGIN:
        this.memBegin(data);
        return this.reply(op);
      case OP.MEM_DATA:
        this.memData(req);
        return this.reply(op);
      case OP.MEM_END: {
        if (data.length < 8) throw new LoaderError(E.BAD_LEN);
        const flag = data.readUInt32LE(0);
        const entry = data.readUInt32LE(4);
        this.reply(op);
        if (flag === 0 && entry !== 0) {
          // We cannot run the uploaded code: treat any jump as "the flasher stub starts" (README).
          this.kill();
          ctx.enterStub({ entry, bytes: this.mem?.received ?? 0 });
        }
        return;
      }
      case OP.SPI_ATTACH:
        if (data.length !== 4 && data.length !== 8) throw new LoaderError(E.BAD_LEN);
        this.attached = true;
        return this.reply(op);
      case OP.SPI_SET_PARAMS:
        if (data.length !== 24) throw new LoaderError(E.BAD_LEN);
        this.flashParams = { id: data.readUInt32LE(0), totalSize: data.readUInt32LE(4) };
        return this.reply(op);
      case OP.CHANGE_BAUDRATE: {
        if (data.length !== 8) throw new LoaderError(E.BAD_LEN);
        const baud = data.readUInt32LE(0);
        if (baud < 300 || baud > 5000000) throw new LoaderError(E.BAD_PARAM);
        this.reply(op); // at the old baud
        this.autobaud = false;
        ctx.afterDrain(() => ctx.setBaud(baud));
        return;
      }
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.flashBegin(op, data);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.flashData(op, req);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END: {
        if (data.length < 4) throw new LoaderError(E.BAD_LEN);
        if (!this.session && op === OP.FLASH_DEFL_END) throw new LoaderError(E.NOT_IN_MODE);
        const flag = data.readUInt32LE(0);
        this.reply(op);
        // To a ROM, *_END leaves the loader: 0 = reboot, 1 = run user code (§2.5). Both boot from flash.
        this.kill();
        ctx.leaveLoader(flag === 0 ? "reboot" : "run");
        return;
      }
      case OP.SPI_FLASH_MD5: {
        this.requireAttach();
        const { digest, ms } = this.md5(data);
        await this.sleep(ms);
        return this.reply(op, Buffer.from(digest.toString("hex"), "ascii"));
      }
      case OP.READ_FLASH_SLOW: {
        this.requireAttach();
        if (data.length < 8) throw new LoaderError(E.BAD_LEN);
        const offset = data.readUInt32LE(0);
        const len = data.readUInt32LE(4);
        if (len > 64) throw new LoaderError(E.READ_LEN);
        const out = this.flash.read(offset, 64);
        await this.sleep(ctx.timing.scale * 0.2);
        return this.reply(op, out);
      }
      case OP.GET_SECURITY_INFO:
        return this.reply(op, this.securityInfo());
      default:
        return this.unsupported(op);
    }
  }

  requireAttach() {
    // ESP32-family ROMs need SPI_ATTACH before touching flash (§2.8) [inferred failure mode: error 0x06]
    if (!this.attached) throw new LoaderError(E.RUN);
  }

  async flashBegin(op, data) {
    if (data.length !== 16 && data.length !== 20) throw new LoaderError(E.BAD_LEN);
    const [size, blocks, blockSize, offset] = [0, 4, 8, 12].map((o) => data.readUInt32LE(o));
    const compressed = op === OP.FLASH_DEFL_BEGIN;
    if (this.chip.kind === "esp8266" && size === 0 && blocks === 0) {
      this.attached = true; // esptool's "attach" on ESP8266: FLASH_BEGIN(0, 0)
      this.session = null;
      return this.reply(op);
    }
    this.requireAttach();
    if (blockSize === 0 || blockSize > 0x4000) throw new LoaderError(E.BAD_PARAM);
    if (offset % SECTOR) throw new LoaderError(E.BAD_PARAM);
    let [eOff, eLen] = [offset, size];
    if (this.chip.kind === "esp8266") [eOff, eLen] = esp8266RomEraseRange(offset, size);
    if (!this.flash.inRange(offset, size)) throw new LoaderError(E.BAD_PARAM);
    eLen = Math.min(eLen, this.flash.size - eOff);
    const ms = this.flash.erase(eOff, eLen);
    await this.sleep(ms);
    // The ROM writes `blocks` blocks of `blockSize`; for compressed writes `size` is the erase size.
    this.beginFlash({ size: compressed ? size : blocks * blockSize, blocks, blockSize, offset, compressed });
    return this.reply(op);
  }

  async flashData(op, req) {
    const s = this.session;
    const compressed = op === OP.FLASH_DEFL_DATA;
    if (!s || s.compressed !== compressed) throw new LoaderError(E.NOT_IN_MODE);
    const { seq, body } = this.dataHeader(req.data);
    if (espChecksum(body) !== (req.checksum & 0xff)) throw new LoaderError(E.CHECKSUM);
    if (body.length > s.blockSize || seq >= s.blocks) throw new LoaderError(E.BAD_PARAM);
    let out;
    let at;
    if (compressed) {
      try {
        out = await s.inflater.push(body);
      } catch (e) {
        throw new LoaderError(/check/i.test(e.message) ? E.ADLER : E.INFLATE);
      }
      at = s.offset + s.written;
      if (s.written + out.length > s.size) throw new LoaderError(E.INFLATE);
    } else {
      out = body;
      at = s.offset + seq * s.blockSize;
    }
    const r = this.flash.program(at, out);
    s.written += out.length;
    await this.sleep(r.ms); // the ROM writes and verifies before it ACKs
    if (!r.ok) throw new LoaderError(E.WRITE);
    return this.reply(op);
  }
}
