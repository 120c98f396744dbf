// Byte-level behaviour of the virtual ESP ROM loader and flasher stub (esp-rom.md §1-§3).
import { test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { Harness, SYNC_PAYLOAD, dataBlock, words, waitFor, sleep, slipEncode } from "../kinds/esp/testing.js";
import { SlipDecoder, buildRequest } from "../kinds/esp/slip.js";
import { esp8266HostEraseSize, esp8266RomEraseRange } from "../kinds/esp/flash.js";

const hex = (b) => Buffer.from(b).toString("hex");

async function rom(kind, opts = {}) {
  const h = new Harness(kind, { holdIo0: true, ...opts });
  await h.start();
  await waitFor(() => h.board.mode === "rom", { what: "download mode" });
  await sleep(15); // banner drained, ROM follows the host baud
  h.clear();
  return h;
}

async function stub(kind, opts = {}) {
  const h = await rom(kind, opts);
  await h.command(0x05, words(16, 1, 16, 0x40090000));
  const d = dataBlock(0, Buffer.alloc(16, 0x11));
  await h.command(0x07, d.payload, { checksum: d.checksum });
  h.clear();
  h.sendRaw(buildRequest(0x06, words(0, 0x40090004)));
  await waitFor(() => h.frames.length >= 2, { what: "MEM_END ack + OHAI" });
  assert.equal(h.frames[1].toString("latin1"), "OHAI");
  h.clear();
  return h;
}

test("SLIP escapes C0 and DB and the decoder ignores bytes between frames", () => {
  assert.equal(hex(slipEncode(Buffer.from([0x01, 0xc0, 0xdb, 0x02]))), "c001dbdcdbdd02c0");
  const d = new SlipDecoder();
  const frames = d.push(Buffer.concat([Buffer.from("boot noise"), slipEncode(Buffer.from([0xc0, 1])), Buffer.from([0xc0, 0xc0]), slipEncode(Buffer.from([2]))]));
  assert.deepEqual(frames.map(hex), ["c001", "02"]);
});

test("ESP8266 ROM answers SYNC 8 times with 2 status bytes and the echoed sync word", async () => {
  const h = await rom("esp8266");
  h.sendRaw(buildRequest(0x08, SYNC_PAYLOAD));
  await waitFor(() => h.frames.length >= 8);
  await sleep(20);
  assert.equal(h.frames.length, 8);
  for (const f of h.frames) assert.equal(hex(f), "0108020007071220" + "0000");
  const wire = h.chunks.map((c) => c.bytes.toString("hex")).join("");
  assert.equal(wire, "c0010802000707122000 00c0".replace(" ", "").repeat(8));
  await h.stop();
});

test("ESP32 ROM READ_REG returns the magic with 4 status bytes and the value stays sticky", async () => {
  const h = await rom("esp32");
  let [r] = await h.command(0x0a, words(0x40001000));
  assert.equal(r.value, 0x00f01d83);
  assert.equal(hex(r.data), "00000000");
  [r] = await h.command(0x09, words(0x3ff42080, 0, 0xffffffff, 0)); // WRITE_REG carries the last value
  assert.equal(r.value, 0x00f01d83);
  assert.equal(hex(r.data), "00000000");
  await h.stop();
});

test("unsupported opcode: ROM sends 8 'invalid message' replies with a different opcode", async () => {
  const h = await rom("esp32");
  const rs = await h.command(0x14, Buffer.alloc(0), { count: 8 });
  assert.equal(rs.length, 8);
  for (const r of rs) {
    assert.notEqual(r.op, 0x14);
    assert.equal(hex(r.data), "01050000");
  }
  await h.stop();
  const h2 = await rom("esp8266", { unsupportedOpcode: "echo" });
  const rs2 = await h2.command(0x0f, words(460800, 0), { count: 8 });
  assert.equal(rs2.length, 8);
  for (const r of rs2) { assert.equal(r.op, 0x0f); assert.equal(hex(r.data), "0105"); }
  await h2.stop();
});

test("C3/S3 ROMs answer GET_SECURITY_INFO with their chip id", async () => {
  for (const [kind, id] of [["esp32c3", 5], ["esp32s3", 9]]) {
    const h = await rom(kind);
    const [r] = await h.command(0x14);
    assert.equal(r.op, 0x14);
    assert.equal(r.data.length, 24);
    assert.equal(r.data.readUInt32LE(12), id);
    assert.equal(hex(r.data.subarray(20)), "00000000");
    await h.stop();
  }
});

test("UART_CLKDIV follows the baud the ROM autobauded to", async () => {
  const h = await rom("esp8266");
  let [r] = await h.command(0x0a, words(0x60000014));
  assert.equal(r.value, Math.round(52e6 / 115200));
  h.board.onHostBaud(230400);
  [r] = await h.command(0x0a, words(0x60000014));
  assert.equal(r.value, Math.round(52e6 / 230400));
  await h.stop();
});

test("SPI user command RDID returns the JEDEC id for the flash size; CMD writes without bit 18 are ignored", async () => {
  const h = await rom("esp8266", { flashSize: "1MB" });
  const base = 0x60000200;
  await h.command(0x09, words(base, 0x17, 0xffffffff, 0)); // esptool-js quirk: (bits-1) into SPI_CMD
  await h.command(0x09, words(base + 0x20, (23 << 8), 0xffffffff, 0));
  await h.command(0x09, words(base + 0x1c, (1 << 31) | (1 << 28), 0xffffffff, 0));
  await h.command(0x09, words(base + 0x24, (7 << 28) | 0x9f, 0xffffffff, 0));
  await h.command(0x09, words(base + 0x40, 0, 0xffffffff, 0));
  assert.equal(h.board.regs.spiLog.length, 0);
  await h.command(0x09, words(base, 1 << 18, 0xffffffff, 0));
  let [r] = await h.command(0x0a, words(base));
  assert.equal(r.value & (1 << 18), 0);
  [r] = await h.command(0x0a, words(base + 0x40));
  assert.equal(r.value & 0xffffff, 0x1440ef);
  await h.stop();
});

test("ROM FLASH_BEGIN accepts 16 or 20 bytes; FLASH_DATA checksum error is 0x07; NOR program without erase fails 0x08", async () => {
  const h = await rom("esp32");
  let [r] = await h.command(0x02, words(0x1000, 1, 0x400, 0x10000));
  assert.equal(hex(r.data), "01060000", "ESP32 ROM refuses flash ops before SPI_ATTACH");
  [r] = await h.command(0x0d, words(0, 0));
  assert.equal(hex(r.data), "00000000");
  [r] = await h.command(0x02, words(0x1000, 1, 0x400, 0x10000, 0));
  assert.equal(hex(r.data), "00000000");
  const data = Buffer.alloc(0x400, 0x5a);
  const blk = dataBlock(0, data);
  [r] = await h.command(0x03, blk.payload, { checksum: blk.checksum ^ 1 });
  assert.equal(hex(r.data), "01070000");
  [r] = await h.command(0x03, blk.payload, { checksum: blk.checksum });
  assert.equal(hex(r.data), "00000000");
  assert.equal(hex(h.board.flash.read(0x10000, 4)), "5a5a5a5a");
  // program different bits over non-erased flash, without an erase: the ROM's read-back verify fails
  h.board.flash.load(0x20000, Buffer.alloc(0x400, 0x00));
  [r] = await h.command(0x02, words(0, 1, 0x400, 0x20000));
  const blk2 = dataBlock(0, Buffer.alloc(0x400, 0x0f));
  h.board.flash.load(0x20000, Buffer.alloc(0x400, 0x00));
  [r] = await h.command(0x03, blk2.payload, { checksum: blk2.checksum });
  assert.equal(hex(r.data), "01080000");
  await h.stop();
});

test("ESP8266 ROM erase-size bug: the buggy erase plus esptool's workaround erases exactly the region", async () => {
  assert.equal(esp8266HostEraseSize(0, 0x40000), 0x30000);
  assert.deepEqual(esp8266RomEraseRange(0, 0x30000), [0, 0x40000]);
  assert.equal(esp8266HostEraseSize(0x1000, 0x39c00), 0x2b000);
  const h = await rom("esp8266");
  h.board.flash.load(0, Buffer.alloc(0x80000, 0x00));
  // without the workaround (plain size, as esptool-js sends it) the ROM erases more than asked
  const [r] = await h.command(0x02, words(0x20000, 0x80, 0x400, 0, 0));
  assert.equal(hex(r.data), "0000");
  assert.ok(h.board.flash.isErased(0, 0x30000));
  assert.ok(!h.board.flash.isErased(0x30000, 0x1000));
  await h.stop();
});

test("ROM FLASH_DEFL (ESP32) inflates one zlib stream across blocks; MD5 is 32 hex chars; READ_FLASH_SLOW gives 64 bytes", async () => {
  const h = await rom("esp32");
  await h.command(0x0d, words(0, 0));
  const img = Buffer.alloc(5000);
  for (let i = 0; i < img.length; i++) img[i] = (i * 7) & 0xff;
  const z = zlib.deflateSync(img, { level: 9 });
  const blocks = [z.subarray(0, 0x400), z.subarray(0x400)];
  let [r] = await h.command(0x10, words(0x1400, blocks.length, 0x400, 0x3000));
  assert.equal(hex(r.data), "00000000");
  for (let i = 0; i < blocks.length; i++) {
    const b = dataBlock(i, blocks[i]);
    [r] = await h.command(0x11, b.payload, { checksum: b.checksum });
    assert.equal(hex(r.data), "00000000");
  }
  assert.ok(h.board.flash.read(0x3000, img.length).equals(img));
  [r] = await h.command(0x13, words(0x3000, img.length, 0, 0));
  assert.equal(r.data.length, 36);
  assert.equal(r.data.subarray(0, 32).toString("ascii"), createHash("md5").update(img).digest("hex"));
  [r] = await h.command(0x0e, words(0x3000, 16));
  assert.equal(r.data.length, 68);
  assert.ok(r.data.subarray(0, 16).equals(img.subarray(0, 16)));
  await h.stop();
});

test("CHANGE_BAUDRATE: the ACK leaves at the old baud, then the board switches", async () => {
  const h = await rom("esp32");
  const [r] = await h.command(0x0f, words(921600, 0));
  assert.equal(hex(r.data), "00000000");
  assert.equal(h.chunks.at(-1).baud, 115200);
  await waitFor(() => h.board.txBaud === 921600, { what: "baud switch" });
  assert.equal(h.board.acceptsAnyBaud, false);
  await h.stop();
});

test("MEM_END with an entry point starts the stub: ACK then OHAI; stub SYNC is 8x value 0 with 2 status bytes", async () => {
  const h = await stub("esp32");
  assert.equal(h.board.mode, "stub");
  const rs = await h.command(0x08, SYNC_PAYLOAD, { count: 8 });
  assert.equal(rs.length, 8);
  for (const r of rs) { assert.equal(r.value, 0); assert.equal(hex(r.data), "0000"); }
  const [r] = await h.command(0x0a, words(0x40001000));
  assert.equal(r.value, 0x00f01d83);
  assert.equal(hex(r.data), "0000");
  const [s] = await h.command(0x14);
  assert.equal(hex(s.data), "ff00", "ESP32 stub: GET_SECURITY_INFO not implemented");
  await h.stop();
});

test("stub: 16 KiB blocks ACKed first, lazy erase, FLASH_END checks the size, MD5 is 16 raw bytes", async () => {
  const h = await stub("esp8266");
  h.board.flash.load(0x10000, Buffer.alloc(0x8000, 0x00));
  const img = Buffer.alloc(0x5000);
  for (let i = 0; i < img.length; i++) img[i] = (i * 13 + 5) & 0xff;
  let [r] = await h.command(0x02, words(img.length, 2, 0x4000, 0x10000));
  assert.equal(hex(r.data), "0000");
  const b0 = dataBlock(0, img.subarray(0, 0x4000));
  [r] = await h.command(0x03, b0.payload, { checksum: b0.checksum });
  assert.equal(hex(r.data), "0000");
  [r] = await h.command(0x04, words(1));
  assert.equal(hex(r.data), "c000", "FLASH_END before all bytes arrived");
  const last = Buffer.alloc(0x4000, 0xff);
  img.subarray(0x4000).copy(last);
  const b1 = dataBlock(1, last);
  [r] = await h.command(0x03, b1.payload, { checksum: b1.checksum });
  [r] = await h.command(0x04, words(1));
  assert.equal(hex(r.data), "0000");
  assert.ok(h.board.flash.read(0x10000, img.length).equals(img));
  assert.equal(hex(h.board.flash.read(0x15000, 4)), "00000000", "lazy erase touches only the written sectors");
  [r] = await h.command(0x13, words(0x10000, img.length, 0, 0));
  assert.equal(r.data.length, 18);
  assert.ok(r.data.subarray(0, 16).equals(createHash("md5").update(img).digest()));
  await h.stop();
});

test("stub: a bad deflate stream is reported on the next command, which is not executed", async () => {
  const h = await stub("esp32");
  let [r] = await h.command(0x10, words(0x1000, 1, 0x4000, 0x20000));
  const junk = Buffer.from("this is not a zlib stream at all");
  const b = dataBlock(0, junk);
  [r] = await h.command(0x11, b.payload, { checksum: b.checksum });
  assert.equal(hex(r.data), "0000", "ACK before inflating");
  await sleep(20);
  [r] = await h.command(0x0a, words(0x40001000));
  assert.equal(r.op, 0x0a);
  assert.equal(hex(r.data), "c700");
  assert.equal(r.value, 0);
  [r] = await h.command(0x0a, words(0x40001000));
  assert.equal(hex(r.data), "0000");
  await h.stop();
});

test("stub READ_FLASH streams packets, waits for acks, ends with the MD5; ERASE_REGION needs 4 KiB alignment", async () => {
  const h = await stub("esp32s3");
  const data = Buffer.alloc(0x2800);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  h.board.flash.load(0x30000, data);
  h.sendRaw(buildRequest(0xd2, words(0x30000, data.length, 0x1000, 64)));
  const got = [];
  await waitFor(() => h.frames.length >= 1);
  assert.equal(hex(h.frames[0].subarray(8)), "0000");
  let seen = 1;
  while (got.reduce((a, b) => a + b.length, 0) < data.length) {
    await waitFor(() => h.frames.length > seen, { what: "data packet" });
    got.push(h.frames[seen++]);
    await sleep(5);
    assert.equal(h.frames.length, seen, "one packet in flight");
    h.sendRaw(words(got.reduce((a, b) => a + b.length, 0)));
  }
  await waitFor(() => h.frames.length > seen, { what: "md5" });
  assert.ok(Buffer.concat(got).equals(data));
  assert.ok(h.frames[seen].equals(createHash("md5").update(data).digest()));
  let [r] = await h.command(0xd1, words(0x30000, 0x800));
  assert.equal(hex(r.data), "c000");
  [r] = await h.command(0xd1, words(0x30000, 0x1000));
  assert.equal(hex(r.data), "0000");
  assert.ok(h.board.flash.isErased(0x30000, 0x1000));
  await h.stop();
});
