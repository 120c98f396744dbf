// Boot behaviour of the virtual ESP boards (esp-rom.md §5, §6) and the mkimage test-firmware generator.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { Harness, waitFor, sleep } from "../kinds/esp/testing.js";
import { buildFirmware, buildMultipart, parseImageBuffer, findMarker } from "../kinds/esp/image.js";
import { createEspBoard } from "../kinds/esp/index.js";
import { Uart } from "../lib/uart.js";
import { TcpEndpoint } from "../lib/endpoint.js";
import { IAC, SB, SE, OPT_COM_PORT, CPO, CTL } from "../lib/rfc2217.js";

const MKIMAGE = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "mkimage");
const count = (s, sub) => s.split(sub).length - 1;

async function board(kind, opts) {
  const h = new Harness(kind, opts);
  await h.start();
  return h;
}

test("ESP8266 reset into flash: ROM lines at 74880, then the MicroPython banner at 115200", async () => {
  const img = buildFirmware({ chip: "esp8266", version: "1.22.0", date: "2024-01-05" });
  const h = await board("esp8266", { images: [{ data: img, offset: 0 }] });
  await waitFor(() => h.text(115200).includes(">>> "), { what: "power-on prompt" });
  assert.match(h.text(74880), /^\r\n ets Jan {2}8 2013,rst cause:1, boot mode:\(3,6\)\r\n/);
  h.clear();
  await h.reset();
  await waitFor(() => h.text(115200).includes(">>> "), { what: "prompt after reset" });
  const rom = h.text(74880);
  assert.match(rom, /rst cause:2, boot mode:\(3,6\)/);
  const info = parseImageBuffer(img, "esp8266");
  assert.match(rom, new RegExp(`load 0x40100000, len ${info.segments[0].len}, room 16 \\r\\ntail \\d+\\r\\nchksum 0x[0-9a-f]{2}\\r\\n`));
  assert.match(rom, /load 0x3ffe8000, len 2048, room \d+ /);
  assert.ok(rom.endsWith(`csum 0x${info.checksumStored.toString(16).padStart(2, "0")}\r\n`), rom);
  const app = h.text(115200);
  assert.ok(app.startsWith("MicroPython v1.22.0 on 2024-01-05; ESP module with ESP8266\r\n"), app);
  assert.ok(app.includes('Type "help()" for more information.\r\n>>> '));
  // the REPL is alive: it echoes
  h.clear();
  h.board.onRx(Buffer.from("1+1"));
  await waitFor(() => h.text(115200).includes("1+1"), { what: "echo" });
  await h.stop();
});

test("DIO-only module with a QIO image: ESP8266 boot loop (csum err / ets_main.c), at least 3 cycles", async () => {
  const img = buildFirmware({ chip: "esp8266", version: "1.22.0", flashMode: "qio" });
  const h = await board("esp8266", { images: [{ data: img, offset: 0 }], moduleModes: ["dio", "dout"], bootLoopMs: 150 });
  await waitFor(() => count(h.text(74880), "ets Jan  8 2013") >= 3, { timeout: 8000, what: "3 boot cycles" });
  const t = h.text(74880);
  assert.ok(count(t, "csum err\r\nets_main.c \r\n") >= 3, t);
  assert.match(t, /load 0x40100000, len \d+, room 16 \r\ntail \d+\r\nchksum 0xef\r\n(ho 0 tail \d+ room \d+\r\n)?load 0x00000000, len 0, room \d+ \r\ntail 0\r\n/);
  assert.match(t, /rst cause:4, boot mode:\(3,6\)\r\n\r\nwdt reset\r\n/);
  assert.equal(h.text(115200), "", "never reaches MicroPython");
  assert.equal(h.board.lastBoot.reason, "flash-mode");
  await h.stop();
  // the same image on a QIO-capable module boots
  const ok = await board("esp8266", { images: [{ data: img, offset: 0 }] });
  await waitFor(() => ok.text(115200).includes(">>> "), { what: "prompt on QIO module" });
  await ok.stop();
});

test("blank flash: ESP32 prints the invalid-header / RTCWDT loop; ESP8266 ends in ets_main.c", async () => {
  const h = await board("esp32", { bootLoopMs: 100 });
  await waitFor(() => count(h.text(), "ets Jul 29 2019 12:21:46") >= 3, { timeout: 8000, what: "3 blank-flash cycles" });
  const t = h.text(115200);
  assert.ok(t.startsWith("ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n" + "invalid header: 0xffffffff\r\n".repeat(8)), t);
  assert.ok(t.includes("rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n"));
  await h.stop();
  const c3 = await board("esp32c3", { bootLoopMs: 100 });
  await waitFor(() => count(c3.text(), "ESP-ROM:esp32c3-api1-20210207") >= 2, { timeout: 8000 });
  assert.match(c3.text(), /rst:0x7 \(TG0WDT_SYS_RST\),boot:0xc \(SPI_FAST_FLASH_BOOT\)\r\nSaved PC:0x[0-9a-f]{8}\r\ninvalid header: 0xffffffff\r\n/);
  await c3.stop();
  const e = await board("esp8266", { bootLoopMs: 100 });
  await waitFor(() => count(e.text(74880), "ets_main.c") >= 2, { timeout: 8000 });
  assert.ok(e.text(74880).startsWith("\r\n ets Jan  8 2013,rst cause:1, boot mode:(3,6)\r\n\r\nets_main.c \r\n"));
  await e.stop();
});

test("corrupt images: checksum failure messages instead of a banner", async () => {
  const s3img = buildFirmware({ chip: "esp32s3", version: "1.23.0", corrupt: "checksum" });
  const s3 = await board("esp32s3", { images: [{ data: s3img, offset: 0 }], bootLoopMs: 100 });
  await waitFor(() => count(s3.text(), "Checksum failure") >= 2, { timeout: 8000 });
  assert.match(s3.text(), /load:0x3fce3818,len:0x[0-9a-f]+\r\n.*Checksum failure\. Calculated 0x[0-9a-f]+ stored 0x[0-9a-f]+\r\nets_main\.c 329 \r\n/s);
  assert.ok(!s3.text().includes("MicroPython"));
  await s3.stop();
  const e = await board("esp8266", { images: [{ data: buildFirmware({ chip: "esp8266", version: "1.22.0", corrupt: "checksum" }), offset: 0 }], bootLoopMs: 100 });
  await waitFor(() => e.text(74880).includes("csum err\r\nets_main.c"), { timeout: 8000 });
  await e.stop();
  const m = await board("esp32", { images: [{ data: buildFirmware({ chip: "esp32", version: "1.22.0", corrupt: "magic" }), offset: 0x1000 }], bootLoopMs: 100 });
  await waitFor(() => m.text().includes("invalid header: 0x"), { timeout: 8000 });
  assert.ok(!m.text().includes("invalid header: 0xffffffff"));
  await m.stop();
});

test("ESP32 multi-part layout boots the factory app from the partition table; a corrupt app loops", async () => {
  const { files } = buildMultipart({ chip: "esp32", version: "1.23.0", date: "2024-06-02", flashFreq: "80m" });
  const images = files.map((f) => ({ data: f.data, offset: f.offset }));
  const h = await board("esp32", { images });
  await waitFor(() => h.text().includes(">>> "), { what: "prompt" });
  const t = h.text();
  const bl = parseImageBuffer(files[0].data, "esp32");
  assert.ok(t.includes("configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\nmode:DIO, clock div:1\r\n"), t);
  for (const s of bl.segments) assert.ok(t.includes(`load:0x${s.addr.toString(16).padStart(8, "0")},len:${s.len}\r\n`));
  assert.ok(t.includes(`entry 0x${bl.entry.toString(16).padStart(8, "0")}\r\nMicroPython v1.23.0 on 2024-06-02; Generic ESP32 module with ESP32\r\n`), t);
  await h.stop();
  const bad = buildMultipart({ chip: "esp32", version: "1.23.0", corrupt: "sha" }).files.map((f) => ({ data: f.data, offset: f.offset }));
  const b = await board("esp32", { images: bad, bootLoopMs: 100 });
  await waitFor(() => count(b.text(), "Image hash failed") >= 2, { timeout: 8000 });
  assert.match(b.text(), /rst:0xc \(SW_CPU_RESET\)/);
  await b.stop();
});

test("auto-reset circuit: IO0 low at EN release gives download mode; short EN glitches are ignored; holdIo0 always downloads", async () => {
  const img = buildFirmware({ chip: "esp32", version: "1.22.0" });
  const h = await board("esp32", { images: [{ data: img, offset: 0x1000 }] });
  await waitFor(() => h.board.mode === "app");
  h.board.onLines({ dtr: false, rts: true });
  h.board.onLines({ dtr: false, rts: false }); // < 1 ms: the EN capacitor keeps the chip running
  await sleep(20);
  assert.equal(h.board.mode, "app");
  h.clear();
  await h.reset({ download: true });
  await waitFor(() => h.board.mode === "rom");
  assert.equal(h.text(), "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n");
  await h.stop();
  const e = await board("esp8266", { holdIo0: true, images: [{ data: buildFirmware({ chip: "esp8266", version: "1.2.3" }), offset: 0 }] });
  await waitFor(() => e.board.mode === "rom");
  await e.reset();
  await waitFor(() => e.board.mode === "rom" && e.text(74880).includes("boot mode:(1,6)"));
  assert.match(e.text(74880), /rst cause:2, boot mode:\(1,6\)/);
  await e.stop();
});

// The event loop stalled (a loaded host): the next line change is read before the due timer runs.
function stall(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test("a stalled event loop does not move the chip's deadlines: EN held past minResetMs resets, IO0 low at the strap sample downloads", async () => {
  const img = buildFirmware({ chip: "esp32", version: "1.22.0" });
  const h = await board("esp32", { images: [{ data: img, offset: 0x1000 }] });
  try {
    await waitFor(() => h.board.mode === "app");
    // esptool's classic reset as corrald performs it: EN low, then released with IO0 low, IO0 held
    // 50 ms. The loop sleeps through both deadlines; the chip still reset and sampled IO0 low.
    h.board.onLines({ dtr: false, rts: true });
    stall(30);
    h.board.onLines({ dtr: true, rts: true });
    h.board.onLines({ dtr: true, rts: false });
    stall(50);
    h.board.onLines({ dtr: false, rts: false });
    assert.equal(h.board.mode, "rom");
    await sleep(20);
    assert.equal(h.board.mode, "rom");
    // the same with IO0 high at the sample (esptool's hard reset): the firmware boots
    h.board.onLines({ dtr: false, rts: true });
    stall(30);
    h.board.onLines({ dtr: false, rts: false });
    stall(20);
    h.board.onLines({ dtr: true, rts: false }); // IO0 low only after the sample: too late
    assert.notEqual(h.board.mode, "rom");
    assert.notEqual(h.board.mode, "reset");
    h.board.onLines({ dtr: false, rts: false });
  } finally {
    await h.stop();
  }
});

// corrald's release into the loader over RFC 2217: DTR on and RTS off in one TCP segment. The lab
// applies them one after the other; a loaded host can preempt it in between (here: a 20 ms stall
// after the first). The two changes arrived together, so the chip sees no (T,T) phase of 20 ms:
// its strap sample (5 ms after EN rises) finds IO0 low. Before the fix the stall counted as chip
// time and the sample found IO0 high: the firmware booted (the remote_port esp32 flake).
test("line changes that arrive in one segment are simultaneous for the chip, even when the lab is preempted between applying them", async () => {
  const board = createEspBoard("esp32", { fast: true });
  const uart = new Uart(board, {});
  const ep = await new TcpEndpoint(uart, { protocol: "rfc2217" }).start();
  await board.start();
  const onLines = board.onLines.bind(board);
  board.onLines = (l, at) => {
    onLines(l, at);
    if (l.dtr && l.rts) stall(20); // preempted right after (T,T): EN high, IO0 still high
  };
  const ctl = (...vs) => Buffer.from(vs.flatMap((v) => [IAC, SB, OPT_COM_PORT, CPO.SET_CONTROL, v, IAC, SE]));
  const sock = net.connect({ host: "127.0.0.1", port: ep.port });
  sock.on("data", () => {});
  try {
    await new Promise((r, j) => { sock.once("connect", r); sock.once("error", j); });
    sock.write(ctl(CTL.DTR_OFF, CTL.RTS_ON)); // EN low
    await waitFor(() => board.mode === "reset", { what: "EN low to reset the chip" });
    await sleep(30);
    sock.write(ctl(CTL.DTR_ON, CTL.RTS_OFF)); // EN released with IO0 low, in one segment
    await waitFor(() => board.mode !== "reset", { what: "the strap sample" });
    assert.equal(board.mode, "rom", JSON.stringify(board.events.slice(-6)));
    sock.write(ctl(CTL.DTR_OFF, CTL.RTS_OFF)); // IO0 released 50 ms later, as corrald does
    await sleep(50);
    assert.equal(board.mode, "rom");
  } finally {
    sock.destroy();
    await ep.close();
    await board.stop();
  }
});

test("flash persists in stateDir/flash.bin across board instances", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vesp-"));
  const img = buildFirmware({ chip: "esp32c3", version: "1.24.0" });
  const a = await board("esp32c3", { stateDir: dir, images: [{ data: img, offset: 0 }] });
  await a.stop();
  assert.ok(fs.existsSync(path.join(dir, "flash.bin")));
  const b = await board("esp32c3", { stateDir: dir });
  await waitFor(() => b.text().includes("MicroPython v1.24.0"), { what: "banner from persisted flash" });
  await b.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("mkimage: single images, --info, --multipart manifest, --corrupt, --size", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mkimage-"));
  const out = path.join(dir, "fw.bin");
  execFileSync(MKIMAGE, ["--chip", "esp32s3", "--version", "1.25.0", "--flash-mode", "qio", "--flash-size", "8MB", "--flash-freq", "80m", "--board", "TestBoard", "--size", "64k", "--sha256", "-o", out]);
  const img = fs.readFileSync(out);
  assert.ok(img.length >= 65536);
  const info = parseImageBuffer(img, "esp32s3");
  assert.equal(info.error, undefined);
  assert.equal(info.flashMode, 0);
  assert.equal(info.sizeFreq, 0x3f);
  assert.equal(info.chipId, 9);
  assert.equal(info.shaOk, true);
  assert.equal(findMarker(img).banner, "MicroPython v1.25.0 on 2024-11-29; TestBoard with ESP32S3");
  const j = JSON.parse(execFileSync(MKIMAGE, ["--chip", "esp32s3", "--info", out]).toString());
  assert.equal(j.marker, "MicroPython v1.25.0 on 2024-11-29; TestBoard with ESP32S3");
  execFileSync(MKIMAGE, ["--chip", "esp32", "--version", "1.22.2", "--multipart", path.join(dir, "mp")]);
  const man = JSON.parse(fs.readFileSync(path.join(dir, "mp", "manifest.json")));
  assert.deepEqual(man.parts.map((p) => [p.file, p.offset]), [["bootloader.bin", 0x1000], ["partitions.bin", 0x8000], ["app.bin", 0x10000]]);
  execFileSync(MKIMAGE, ["--chip", "esp8266", "--version", "1.22.2", "--corrupt", "-o", out]);
  assert.equal(parseImageBuffer(fs.readFileSync(out), "esp8266").error, "checksum");
  assert.throws(() => execFileSync(MKIMAGE, ["--chip", "esp8266", "--info", out], { stdio: "pipe" }));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("ESP8266 load lines: room/tail/ho bookkeeping matches published boot logs", async () => {
  const { assembleImage } = await import("../kinds/esp/image.js");
  const { planBoot } = await import("../kinds/esp/boot.js");
  const { Flash } = await import("../kinds/esp/flash.js");
  const { getChip } = await import("../kinds/esp/chips.js");
  const cases = [
    // esp8266/Arduino#2414
    [[2408, 776, 632], "room 16 |tail 8|room 0 |tail 8|room 0 |tail 8"],
    // esptool docs sample (boot-mode-selection.rst)
    [[24236, 3008, 4816], "room 16 |tail 12|ho 0 tail 12 room 4|room 12 |tail 4|room 4 |tail 12"],
    // bbs.espressif.com t=1896
    [[816, 788, 288], "room 16 |tail 0|room 8 |tail 12|ho 0 tail 12 room 4|room 12 |tail 4"],
  ];
  for (const [lens, want] of cases) {
    const addrs = [0x40100000, 0x3ffe8000, 0x3ffe8310];
    const img = assembleImage({ chip: "esp8266", entry: 0x40100004, segments: lens.map((n, i) => ({ addr: addrs[i], data: Buffer.alloc(n, i + 1) })) });
    const flash = new Flash({ size: "1MB" });
    flash.load(0, img);
    const { rom } = planBoot({ chip: getChip("esp8266"), flash, moduleModes: ["dio"], cause: "en" });
    const got = rom.split("\r\n").map((l) => l.replace(/^load 0x[0-9a-f]+, len \d+, /, "")).filter((l) => /^(room|tail|ho)/.test(l)).join("|");
    assert.equal(got, want);
  }
});
