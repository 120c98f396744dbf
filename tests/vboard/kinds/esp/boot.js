// What a virtual ESP prints when it comes out of reset, derived from what is in its flash
// (esp-rom.md §6). Pure: returns text plus what happens next; the board (index.js) does the timing.
import { parseImageAt, parsePartitionTable, findMarker as findMpMarker } from "./image.js";
import { findAppScript } from "./app.js";
import { FLASH_MODES } from "./chips.js";

const hex = (v, w = 8) => `0x${(v >>> 0).toString(16).padStart(w, "0")}`;
const hx = (v) => `0x${(v >>> 0).toString(16)}`;
// What runs after the ROM: MicroPython (its marker) or a scripted app (mkimage --app-script).
const findMarker = (buf) => findMpMarker(buf) ?? findAppScript(buf);
const CLOCK_DIV = { 0x0: 2, 0x1: 3, 0x2: 4, 0xf: 1 };

/** Reset-cause text per chip family. cause: "poweron" | "en" | "sw" | "wdt". */
function esp32RstLine(chip, cause, download) {
  const c3s3 = chip.kind !== "esp32";
  let rst;
  if (cause === "wdt") rst = c3s3 ? "0x7 (TG0WDT_SYS_RST)" : "0x10 (RTCWDT_RTC_RESET)";
  else if (cause === "sw") rst = c3s3 ? "0xc (RTC_SW_CPU_RST)" : "0xc (SW_CPU_RESET)";
  else rst = c3s3 ? "0x1 (POWERON)" : "0x1 (POWERON_RESET)"; // CHIP_EN is a power-on reset
  let boot;
  if (download) {
    boot = { esp32: "0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))", esp32c3: "0x5 (DOWNLOAD(USB/UART0/1))", esp32s3: "0x0 (DOWNLOAD(USB/UART0))" }[chip.kind];
  } else {
    boot = { esp32: "0x13 (SPI_FAST_FLASH_BOOT)", esp32c3: "0xc (SPI_FAST_FLASH_BOOT)", esp32s3: "0x8 (SPI_FAST_FLASH_BOOT)" }[chip.kind];
  }
  return `rst:${rst},boot:${boot}\r\n`;
}

function esp32Banner(chip, cause, download) {
  let s;
  if (chip.kind === "esp32") s = "ets Jul 29 2019 12:21:46\r\n\r\n";
  else if (chip.kind === "esp32c3") s = "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n";
  else s = "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n";
  s += esp32RstLine(chip, cause, download);
  if (chip.kind !== "esp32" && cause !== "poweron" && cause !== "en") s += `Saved PC:${hex(chip.kind === "esp32c3" ? 0x4004d1f8 : 0x40048de8)}\r\n`;
  return s;
}

function esp8266Banner(cause, download) {
  const n = { poweron: 1, en: 2, sw: 2, wdt: 4 }[cause] ?? 2;
  let s = `\r\n ets Jan  8 2013,rst cause:${n}, boot mode:(${download ? 1 : 3},6)\r\n\r\n`;
  if (n === 4) s += "wdt reset\r\n";
  return s;
}

/** The text the ROM prints when strapped into download mode. */
export function downloadBanner(chip, cause = "en") {
  if (chip.kind === "esp8266") return esp8266Banner(cause, true);
  return esp32Banner(chip, cause, true) + "waiting for download\r\n";
}

/**
 * Plan a boot from flash.
 * @returns {{rom: string, next: {type: "app", marker, image} | {type: "loop", reason} | {type: "halt", reason} |
 *           {type: "silent"}}}  rom = text at the ROM baud; for "app" the firmware then prints at the app baud.
 */
export function planBoot({ chip, flash, moduleModes, cause = "poweron" }) {
  const read = (o, n) => flash.read(o, n);
  const supported = (mode) => moduleModes.includes(FLASH_MODES[mode] ?? "?");
  if (chip.kind === "esp8266") return planEsp8266(chip, flash, read, supported, cause);
  return planEsp32(chip, flash, read, supported, cause);
}

function planEsp8266(chip, flash, read, supported, cause) {
  let s = esp8266Banner(cause, false);
  const img = parseImageAt(read, chip.bootOffset, chip.kind, flash.size);
  if (img.error === "blank" || img.error === "magic" || img.error === "segments" && img.segments.length === 0) {
    return { rom: s + "ets_main.c \r\n", next: { type: "loop", reason: img.error === "blank" ? "blank" : "bad-image", cause: "wdt" } };
  }
  const badMode = !supported(img.flashMode);
  // The ROM keeps a 16-byte read buffer: "room" = bytes left in it when a segment's data starts,
  // "tail" = bytes of the segment in its last buffer; "ho" appears when a header straddles buffers.
  let room = 16;
  let csum = 0xef;
  const segs = img.segments;
  for (let i = 0; i < img.segCount; i++) {
    let addr = 0, len = 0;
    if (i === 0 || !badMode) ({ addr, len } = segs[i] || { addr: 0, len: 0 });
    // wrong flash mode: the first header (read slowly by the ROM) is right, the data reads as zeros
    if (!badMode && segs[i]) for (const b of read(segs[i].flashOffset, segs[i].len)) csum ^= b;
    s += `load ${hex(addr)}, len ${len}, room ${room} \r\n`;
    const tail = len === 0 ? 0 : (((len - room) % 16) + 16) % 16;
    s += `tail ${tail}\r\nchksum ${fmt2(csum)}\r\n`;
    const after = len === 0 ? room : 16 - tail;
    if (i < img.segCount - 1 && len > 0 && after < 8) s += `ho 0 tail ${tail} room ${after}\r\n`;
    room = after - 8 >= 0 ? after - 8 : after + 8;
  }
  const stored = badMode ? 0xef : img.checksumStored;
  s += `csum ${fmt2(stored)}\r\n`;
  if (badMode || img.error === "checksum" || img.error === "segments") {
    return { rom: s + "csum err\r\nets_main.c \r\n", next: { type: "loop", reason: badMode ? "flash-mode" : "checksum", cause: "wdt" } };
  }
  const marker = findMarker(flash.read(chip.bootOffset, Math.min(flash.size, Math.max(img.length, 0x100000))));
  return { rom: s, next: marker ? { type: "app", marker, image: img } : { type: "silent" } };
}

function fmt2(v) {
  return `0x${v.toString(16).padStart(2, "0")}`;
}

function planEsp32(chip, flash, read, supported, cause) {
  let s = esp32Banner(chip, cause, false);
  const img = parseImageAt(read, chip.bootOffset, chip.kind, flash.size);
  if (img.error === "blank" || img.error === "magic") {
    s += `invalid header: ${hex(img.firstWord)}\r\n`.repeat(8);
    return { rom: s, next: { type: "loop", reason: img.error === "blank" ? "blank" : "bad-image", cause: "wdt" } };
  }
  if (chip.kind === "esp32") {
    s += `configsip: 0, SPIWP:${hx(img.wpPin)}\r\n`;
    s += "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n";
  } else {
    s += `SPIWP:${hx(img.wpPin)}\r\n`;
  }
  s += `mode:${img.flashModeName}, clock div:${CLOCK_DIV[img.sizeFreq & 0xf] ?? 2}\r\n`;
  const lenText = (n) => (chip.kind === "esp32" ? String(n) : hx(n));
  if (!supported(img.flashMode)) {
    // the ROM reads the first segment header, then the flash returns garbage and the chip stalls
    const seg = img.segments[0] || { addr: 0, len: 0 };
    s += `load:${hex(seg.addr)},len:${lenText(seg.len)}\r\n`;
    return { rom: s, next: { type: "loop", reason: "flash-mode", cause: "wdt" } };
  }
  for (const seg of img.segments) s += `load:${hex(seg.addr)},len:${lenText(seg.len)}\r\n`;
  if (img.error === "checksum" || img.error === "segments") {
    s += `Checksum failure. Calculated ${hx(img.checksumCalc ?? 0)} stored ${hx(img.checksumStored ?? 0xff)}\r\nets_main.c 329 \r\n`;
    return { rom: s, next: { type: "loop", reason: "checksum", cause: "wdt" } };
  }
  s += `entry ${hex(img.entry)}\r\n`;
  // A single image carrying the marker runs MicroPython directly; otherwise play the 2nd-stage bootloader.
  const own = findMarker(flash.read(chip.bootOffset, Math.min(img.length, 0x100000)));
  if (own) return { rom: s, next: { type: "app", marker: own, image: img } };
  return { rom: s, ...secondStage(chip, flash, read) };
}

/** ESP-IDF 2nd-stage bootloader (log level: errors only, as MicroPython builds it). */
function secondStage(chip, flash, read) {
  let t = 31;
  const e = (tag, msg) => `\x1b[0;31mE (${(t += 5)}) ${tag}: ${msg}\x1b[0m\r\n`;
  const pt = parsePartitionTable(read(0x8000, 0xc00));
  if (!pt.valid) {
    const magic = read(0x8000, 2).readUInt16LE(0);
    const text = e("flash_parts", `partition 0 invalid magic number ${hx(magic)}`) + e("boot", "Failed to verify partition table") + e("boot", "load partition table error!");
    return { app: text, next: { type: "loop", reason: "partition-table", cause: "sw" } };
  }
  const app = pt.entries.find((p) => p.type === 0 && p.subtype === 0) || pt.entries.find((p) => p.type === 0 && p.subtype === 0x10);
  const tail = () => e("boot", "Factory app partition is not bootable") + e("boot", "No bootable app partitions in the partition table");
  if (!app) return { app: tail(), next: { type: "loop", reason: "no-app", cause: "sw" } };
  const ai = parseImageAt(read, app.offset, chip.kind, app.size);
  let err = null;
  if (ai.error === "blank" || ai.error === "magic") err = e("esp_image", `image at ${hx(app.offset)} has invalid magic byte (nothing flashed here?)`);
  else if (ai.error === "checksum" || ai.error === "segments") err = e("esp_image", `Checksum failed. Calculated ${hx(ai.checksumCalc ?? 0)} read ${hx(ai.checksumStored ?? 0)}`);
  else if (ai.error === "sha256") err = e("esp_image", "Image hash failed - image is corrupt");
  if (err) return { app: err + tail(), next: { type: "loop", reason: "bad-app", cause: "sw" } };
  const marker = findMarker(read(app.offset, Math.min(ai.length, app.size)));
  return { next: marker ? { type: "app", marker, image: ai } : { type: "silent" } };
}
