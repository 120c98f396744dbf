// Per-chip facts for the virtual ESP boards: ROM personality, register map, boot text, image codes
// (esp-rom.md §2.1, §3, §4.2, §6). Data only, plus the MAC -> eFuse word encoders.
import { createHash } from "node:crypto";

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// SPI user-command register maps (§3.4).
const SPI_ESP8266 = { base: 0x60000200, usr: 0x1c, usr1: 0x20, usr2: 0x24, mosiDlen: null, misoDlen: null, w0: 0x40, addrMsb: true };
const SPI_ESP32 = { base: 0x3ff42000, usr: 0x1c, usr1: 0x20, usr2: 0x24, mosiDlen: 0x28, misoDlen: 0x2c, w0: 0x80, addrMsb: true };
const SPI_S3C3 = { base: 0x60002000, usr: 0x18, usr1: 0x1c, usr2: 0x20, mosiDlen: 0x24, misoDlen: 0x28, w0: 0x58, addrMsb: false };

export const FLASH_MODES = ["qio", "qout", "dio", "dout"];

export const SIZE_CODES = {
  esp8266: { "512KB": 0x0, "256KB": 0x1, "1MB": 0x2, "2MB": 0x3, "4MB": 0x4, "2MB-c1": 0x5, "4MB-c1": 0x6, "8MB": 0x8, "16MB": 0x9 },
  esp32: { "1MB": 0x0, "2MB": 0x1, "4MB": 0x2, "8MB": 0x3, "16MB": 0x4, "32MB": 0x5, "64MB": 0x6, "128MB": 0x7 },
};
export const FREQ_CODES = { "40m": 0x0, "26m": 0x1, "20m": 0x2, "80m": 0xf };

const CHIPS = {
  esp8266: {
    kind: "esp8266",
    name: "ESP8266",
    mcu: "ESP8266",
    board: "ESP module",
    romStatusLen: 2,
    romBaud: 74880, // 115200 * 26/40: what the ROM prints at with a 26 MHz crystal
    appBaud: 115200,
    bootOffset: 0x0,
    magic: 0xfff0c101,
    imageChipId: null,
    extHeader: false,
    sizeCodes: SIZE_CODES.esp8266,
    romOps: new Set(range(0x02, 0x0a)),
    stubSecurityInfo: false,
    spi: SPI_ESP8266,
    clkdivRegs: [0x60000014],
    uartClk: 52e6, // esptool: xtal = baud*div/1e6/2 -> 26 MHz
    uartDateReg: 0x60000078,
    defaultOui: [0xac, 0xd0, 0x74],
  },
  esp32: {
    kind: "esp32",
    name: "ESP32",
    mcu: "ESP32",
    board: "Generic ESP32 module",
    romStatusLen: 4,
    romBaud: 115200,
    appBaud: 115200,
    bootOffset: 0x1000,
    magic: 0x00f01d83,
    imageChipId: 0,
    extHeader: true,
    sizeCodes: SIZE_CODES.esp32,
    romOps: new Set([...range(0x02, 0x0b), 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13]),
    stubSecurityInfo: false,
    spi: SPI_ESP32,
    clkdivRegs: [0x3ff40014],
    uartClk: 40e6,
    uartDateReg: 0x60000078,
    defaultOui: [0x24, 0x0a, 0xc4],
  },
  esp32c3: {
    kind: "esp32c3",
    name: "ESP32-C3",
    mcu: "ESP32C3",
    board: "ESP32C3 module",
    romStatusLen: 4,
    romBaud: 115200,
    appBaud: 115200,
    bootOffset: 0x0,
    magic: 0x1b31506f,
    imageChipId: 5,
    securityApiVersion: 1,
    extHeader: true,
    sizeCodes: SIZE_CODES.esp32,
    romOps: new Set([...range(0x02, 0x0b), 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14]),
    stubSecurityInfo: true,
    spi: SPI_S3C3,
    clkdivRegs: [0x60000014, 0x3ff40014],
    uartClk: 40e6,
    uartDateReg: 0x6000007c,
    defaultOui: [0x34, 0x85, 0x18],
  },
  esp32s3: {
    kind: "esp32s3",
    name: "ESP32-S3",
    mcu: "ESP32S3",
    board: "Generic ESP32S3 module",
    romStatusLen: 4,
    romBaud: 115200,
    appBaud: 115200,
    bootOffset: 0x0,
    magic: 0x00000009,
    imageChipId: 9,
    securityApiVersion: 0,
    extHeader: true,
    sizeCodes: SIZE_CODES.esp32,
    romOps: new Set([...range(0x02, 0x0b), 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14]),
    stubSecurityInfo: true,
    spi: SPI_S3C3,
    clkdivRegs: [0x60000014],
    uartClk: 40e6,
    uartDateReg: 0x60000080,
    defaultOui: [0xf4, 0x12, 0xfa],
  },
};

// Opcodes a (new) flasher stub answers (§2.1): everything but READ_FLASH_SLOW and PIN_READ.
export const STUB_OPS = new Set([...range(0x02, 0x0b), 0x0d, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0xd0, 0xd1, 0xd2, 0xd3]);

export const KINDS = Object.keys(CHIPS);

export function getChip(kind) {
  const c = CHIPS[String(kind || "").toLowerCase()];
  if (!c) throw new Error(`unknown ESP kind ${kind} (expected one of ${KINDS.join(", ")})`);
  return c;
}

/** Parse "aa:bb:cc:dd:ee:ff" (or a 6-byte Buffer) into 6 bytes. */
export function parseMac(mac) {
  if (Buffer.isBuffer(mac) && mac.length === 6) return [...mac];
  const parts = String(mac).split(/[:-]/).map((x) => parseInt(x, 16));
  if (parts.length !== 6 || parts.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad MAC ${mac}`);
  return parts;
}

/** A stable default MAC for a board: chip OUI + 3 bytes hashed from a seed (stateDir, name). */
export function defaultMac(chip, seed = "") {
  const h = createHash("sha256").update(`${chip.kind}:${seed}`).digest();
  return [...chip.defaultOui, h[0], h[1], h[2]];
}

export function macToString(m) {
  return m.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Initial register file for a chip: detection magic, eFuse words encoding the MAC and silicon revision,
 * APB_CTL_DATE, UART_DATE. UART_CLKDIV and the SPI engine are computed live (see regs.js).
 */
export function initialRegisters(chip, mac) {
  const r = new Map();
  r.set(0x40001000, chip.magic);
  const [m0, m1, m2, m3, m4, m5] = mac;
  switch (chip.kind) {
    case "esp8266": {
      // MAC0 (0x3ff00050): bits 31:24 = MAC byte 5; MAC1 (0x3ff00054): 23:16 OUI select, 15:0 bytes 3..4;
      // MAC3 (0x3ff0005c): explicit OUI when it is not one of the two legacy ones.
      let sel = 2;
      if (m0 === 0x18 && m1 === 0xfe && m2 === 0x34) sel = 0;
      else if (m0 === 0xac && m1 === 0xd0 && m2 === 0x74) sel = 1;
      r.set(0x3ff00050, ((m5 << 24) | 0x00a5a5) >>> 0);
      r.set(0x3ff00054, (((sel === 2 ? 0 : sel) << 16) | (m3 << 8) | m4) >>> 0);
      r.set(0x3ff00058, 0x00000000);
      r.set(0x3ff0005c, sel === 2 ? ((m0 << 16) | (m1 << 8) | m2) >>> 0 : 0);
      break;
    }
    case "esp32": {
      // ESP32-D0WD-V3 (revision 3): pkg version 1 (word3 bits 11:9), rev bit0 = word3 bit15,
      // rev bit1 = word5 bit20, rev bit2 = APB_CTL_DATE bit31.
      const base = 0x3ff5a000;
      r.set(base + 0x00, 0);
      r.set(base + 0x04, ((m2 << 24) | (m3 << 16) | (m4 << 8) | m5) >>> 0);
      r.set(base + 0x08, ((crc8(mac) << 16) | (m0 << 8) | m1) >>> 0);
      r.set(base + 0x0c, ((1 << 9) | (1 << 15) | (1 << 13)) >>> 0);
      r.set(base + 0x10, 0x00000000);
      r.set(base + 0x14, (1 << 20) >>> 0);
      r.set(base + 0x18, 0);
      r.set(0x3ff6607c, 0x96042000 >>> 0);
      break;
    }
    case "esp32c3":
    case "esp32s3": {
      const blk1 = chip.kind === "esp32c3" ? 0x60008844 : 0x60007044;
      r.set(blk1 + 0x00, ((m2 << 24) | (m3 << 16) | (m4 << 8) | m5) >>> 0);
      r.set(blk1 + 0x04, ((m0 << 8) | m1) >>> 0);
      // minor revision (word3 bits 20:18): C3 v0.4, S3 v0.2; major (word5 bits 25:24) 0
      r.set(blk1 + 0x0c, ((chip.kind === "esp32c3" ? 4 : 2) << 18) >>> 0);
      r.set(blk1 + 0x14, 0);
      break;
    }
  }
  return r;
}

function crc8(bytes) {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** Chip revision text used by boot banners. */
export function revisionText(chip) {
  return { esp8266: "", esp32: "v3.0", esp32c3: "v0.4", esp32s3: "v0.2" }[chip.kind];
}
