// Register file of a virtual ESP chip as seen through READ_REG/WRITE_REG: detection magic, eFuse words,
// UART_CLKDIV tracking the live baud, and the SPI flash user-command engine (esp-rom.md §3.2, §3.4).
import { initialRegisters } from "./chips.js";

const SPI_CMD_USR = 1 << 18;

export class Registers {
  /**
   * @param chip   chip definition (chips.js)
   * @param mac    6 MAC bytes
   * @param flash  Flash instance (flash.js)
   * @param getBaud function returning the UART baud the chip currently runs at
   */
  constructor(chip, mac, flash, getBaud) {
    this.chip = chip;
    this.flash = flash;
    this.getBaud = getBaud;
    this.mem = initialRegisters(chip, mac);
    this.spiLog = []; // executed SPI flash commands (for tests): {cmd, addr, miso}
  }

  read(addr) {
    addr >>>= 0;
    if (this.chip.clkdivRegs.includes(addr)) {
      return Math.round(this.chip.uartClk / this.getBaud()) & 0xfffff;
    }
    const s = this.chip.spi;
    if (addr === s.base) return (this.mem.get(addr) ?? 0) & ~SPI_CMD_USR; // commands complete at once
    return this.mem.get(addr) ?? 0;
  }

  /** Masked write `(value & mask) | (old & ~mask)`; a write of SPI_CMD with bit 18 runs the command. */
  write(addr, value, mask = 0xffffffff) {
    addr >>>= 0;
    const old = this.mem.get(addr) ?? 0;
    const v = ((value & mask) | (old & ~mask)) >>> 0;
    const s = this.chip.spi;
    if (addr === s.base) {
      // esptool-js on ESP8266 writes (bits-1) here (SPI_MOSI_DLEN_OFFS = 0): no bit 18, ignore it.
      if (v & SPI_CMD_USR) this._execute();
      return;
    }
    this.mem.set(addr, v);
  }

  _execute() {
    const s = this.chip.spi;
    const r = (off) => this.mem.get(s.base + off) ?? 0;
    const usr = r(s.usr);
    const usr1 = r(s.usr1);
    const usr2 = r(s.usr2);
    const cmd = usr2 & 0xff;
    let addrLen = 0;
    if (usr & (1 << 30)) addrLen = ((usr1 >>> 26) & 0x3f) + 1;
    let addr = r(4);
    if (addrLen && s.addrMsb) addr = addrLen >= 32 ? addr : addr >>> (32 - addrLen);
    let mosiBits = 0;
    if (usr & (1 << 27)) mosiBits = s.mosiDlen == null ? ((usr1 >>> 17) & 0x1ff) + 1 : (r(s.mosiDlen) & 0xffffff) + 1;
    const mosi = [];
    for (let i = 0; i < Math.ceil(mosiBits / 8); i++) mosi.push((r(s.w0 + (i & ~3)) >>> ((i & 3) * 8)) & 0xff);
    const miso = this._flashCommand(cmd, addrLen ? addr : null, mosi);
    if (usr & (1 << 28)) {
      const out = Buffer.alloc(64, 0);
      Buffer.from(miso).copy(out);
      for (let i = 0; i < 16; i++) this.mem.set(s.base + s.w0 + 4 * i, out.readUInt32LE(4 * i));
    }
    this.spiLog.push({ cmd, addr: addrLen ? addr : null, mosi, miso });
  }

  /** What the flash chip shifts out on MISO for a command (LSB of W0 = first byte). */
  _flashCommand(cmd, addr, mosi) {
    const f = this.flash;
    const id = f.jedecId;
    switch (cmd) {
      case 0x9f: return [id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff];
      case 0x90: return [f.mfr, ((id >>> 16) & 0xff) - 1];
      case 0xab: return [((id >>> 16) & 0xff) - 1];
      case 0x5a: return Array.from({ length: 8 }, (_, i) => f.sfdpByte((addr ?? 0) + i));
      case 0x05: return [f.status[0]];
      case 0x35: return [f.status[1]];
      case 0x15: return [f.status[2]];
      case 0x06: f.status[0] |= 0x02; return [];
      case 0x04: f.status[0] &= ~0x02; return [];
      case 0x50: return [];
      case 0x01:
        if (mosi.length > 0) f.status[0] = mosi[0] & 0xfc;
        if (mosi.length > 1) f.status[1] = mosi[1];
        f.status[0] &= ~0x02;
        return [];
      case 0x31: if (mosi.length) f.status[1] = mosi[0]; return [];
      case 0x11: if (mosi.length) f.status[2] = mosi[0]; return [];
      case 0x03: case 0x0b: return [...f.read(addr ?? 0, 64)];
      case 0x66: case 0x99: f.status[0] &= ~0x02; return [];
      default: return [];
    }
  }
}
