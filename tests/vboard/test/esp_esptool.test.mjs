// esptool-js 0.7.0 drives the virtual ESP boards: chip identification, flashing through the stub
// (compressed) and through the ROM only, checked byte for byte against the virtual flash. Runs in-process
// (UART pipe) and over a real RFC 2217 TCP connection to a vboard endpoint (lib/lab.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createEspBoard } from "../kinds/esp/index.js";
import { buildFirmware } from "../kinds/esp/image.js";
import { waitFor, sleep } from "../kinds/esp/testing.js";
import { InProcessSerialPort, Rfc2217SerialPort, makeLoader } from "./esptool_adapter.mjs";
// Static imports: a broken lab module fails this file by name instead of skipping the RFC 2217 test.
import * as lab from "../lib/lab.js";
import * as options from "../lib/options.js";

const sha = (b) => createHash("sha256").update(b).digest("hex");
const md5hex = (d) => createHash("md5").update(d).digest("hex");

const CHIP_LINE = {
  esp8266: /^Chip is ESP8266EX$/m,
  esp32: /^Chip is ESP32-D0WD-V3 \(revision 3\)$/m,
  esp32c3: /^Chip is ESP32-C3 \(QFN32\) \(revision v0\.4\)$/m,
  esp32s3: /^Chip is ESP32-S3 \(QFN56\) \(revision v0\.2\)$/m,
};

/** loader.main() (reset, sync, identify, stub upload, baud change, flash id) + compressed writeFlash. */
async function flashWithStub(port, kind, img, address, baudrate = 921600) {
  const { loader, transport, lines } = makeLoader(port, { baudrate, romBaudrate: 115200 });
  try {
    const desc = await loader.main("default_reset");
    await loader.writeFlash({
      fileArray: [{ data: new Uint8Array(img), address }], flashMode: "keep", flashFreq: "keep", flashSize: "keep",
      eraseAll: false, compress: true, calculateMD5Hash: md5hex,
    });
    return { desc, lines, loader };
  } finally {
    await transport.disconnect().catch(() => {});
  }
}

/** ROM only: detectChip + 1 KiB blocks + attach (FLASH_BEGIN(0,0) on ESP8266, like esptool) + plain writeFlash. */
async function flashRomOnly(port, kind, img, address) {
  const { loader, transport, lines } = makeLoader(port, { baudrate: 115200, romBaudrate: 115200 });
  try {
    await loader.detectChip("default_reset");
    assert.equal(loader.IS_STUB, false);
    loader.FLASH_WRITE_SIZE = 0x400;
    if (kind === "esp8266") await loader.flashBegin(0, 0);
    else await loader.flashSpiAttach(0);
    await loader.writeFlash({
      fileArray: [{ data: new Uint8Array(img), address }], flashMode: "keep", flashFreq: "keep", flashSize: "keep",
      eraseAll: false, compress: false,
    });
    return { lines, loader };
  } finally {
    await transport.disconnect().catch(() => {});
  }
}

function inProcess(kind, opts = {}) {
  const board = createEspBoard(kind, { fast: true, ...opts });
  const port = new InProcessSerialPort(board);
  return { board, port, async close() { port.dispose(); await board.stop(); } };
}

for (const kind of ["esp8266", "esp32", "esp32c3", "esp32s3"]) {
  test(`esptool-js identifies the virtual ${kind} and flashes it through the stub (compressed)`, async (t) => {
    const { board, port, close } = inProcess(kind);
    await board.start();
    try {
      const img = buildFirmware({ chip: kind, version: "1.22.0", size: 24000 });
      const at = board.chip.bootOffset;
      const { lines } = await flashWithStub(port, kind, img, at);
      const out = lines.join("\n");
      for (const l of lines.filter((x) => /^(Chip is|Features|Crystal|MAC|Flash ID|Stub running|Changing baud|Wrote|Hash of data)/.test(x))) t.diagnostic(l);
      assert.match(out, CHIP_LINE[kind]);
      assert.match(out, new RegExp(`^MAC: ${board.mac}$`, "m"));
      assert.match(out, /^Stub running\.\.\.$/m);
      assert.match(out, /^Flash ID: 1640ef$/m);
      assert.match(out, /^Hash of data verified\.$/m);
      assert.equal(board.mode, "stub");
      assert.equal(board.txBaud, 921600);
      assert.equal(board.flash.sha256(at, img.length), sha(img));
      if (kind === "esp8266") assert.match(out, /^Crystal is 26MHz$/m);
      else assert.match(out, /^Crystal is 40MHz$/m);
    } finally {
      await close();
    }
  });

  test(`esptool-js flashes the virtual ${kind} through the ROM only (1 KiB blocks, no stub)`, async (t) => {
    const { board, port, close } = inProcess(kind);
    await board.start();
    try {
      const img = buildFirmware({ chip: kind, version: "1.21.0", size: 9000 });
      const at = board.chip.bootOffset;
      const { lines } = await flashRomOnly(port, kind, img, at);
      for (const l of lines.filter((x) => /^(ESP|Wrote|Took)/.test(x))) t.diagnostic(l);
      assert.equal(board.mode, "rom");
      assert.ok(board.loader.trace.filter((op) => op === 0x03).length >= 9, "FLASH_DATA in 1 KiB blocks");
      assert.ok(!board.loader.trace.includes(0x06), "no MEM_END: the stub never ran");
      assert.equal(board.flash.sha256(at, img.length), sha(img));
    } finally {
      await close();
    }
  });
}

test("after flashing with esptool-js, an EN reset boots the new firmware: ROM lines at 74880, banner at 115200 (ESP8266)", async () => {
  const { board, port, close } = inProcess("esp8266");
  const chunks = [];
  board.on("tx", (b) => chunks.push({ baud: board.txBaud, s: b.toString("latin1") }));
  await board.start();
  try {
    const img = buildFirmware({ chip: "esp8266", version: "1.23.0", date: "2024-06-02", size: 8000 });
    await flashWithStub(port, "esp8266", img, 0);
    chunks.length = 0;
    // esptool-js's hard_reset never asserts RTS (§5.2); pulse EN like esptool (Python) does
    await port.setSignals({ dataTerminalReady: false, requestToSend: true });
    await sleep(100);
    await port.setSignals({ requestToSend: false });
    const text = (baud) => chunks.filter((c) => c.baud === baud).map((c) => c.s).join("");
    await waitFor(() => text(115200).includes(">>> "), { timeout: 10000, what: "REPL prompt" });
    assert.match(text(74880), /^\r\n ets Jan {2}8 2013,rst cause:2, boot mode:\(3,6\)\r\n\r\nload 0x40100000, len \d+, room 16 \r\n/);
    assert.match(text(74880), /csum 0x[0-9a-f]{2}\r\n$/);
    assert.ok(text(115200).startsWith("MicroPython v1.23.0 on 2024-06-02; ESP module with ESP8266\r\n"), text(115200));
  } finally {
    await close();
  }
});

// ------------------------------------------------------------------------------------------------
// Through a real RFC 2217 endpoint (lib/lab.js: board -> Uart wire model -> TCP RFC 2217 server)

async function labBoard(kind, extra = {}) {
  const opts = { ...options.toOpts({ name: `esptool-${kind}`, "no-control": true }), fast: true, ...extra };
  const r = await lab.startBoard(kind, opts);
  const m = /^rfc2217:\/\/([^:]+):(\d+)$/.exec(r.info.endpoint);
  return { ...r, host: m[1], port: Number(m[2]) };
}

test("over RFC 2217: esptool-js identifies and flashes a virtual ESP32 with the stub, and an ESP8266 through the ROM", async (t) => {
  const e32 = await labBoard("esp32");
  try {
    const img = buildFirmware({ chip: "esp32", version: "1.22.1", size: 16000 });
    const { lines } = await flashWithStub(new Rfc2217SerialPort(e32.host, e32.port), "esp32", img, 0x1000, 460800);
    for (const l of lines.filter((x) => /^(Chip is|MAC|Flash ID|Wrote|Hash)/.test(x))) t.diagnostic(`rfc2217 esp32: ${l}`);
    assert.match(lines.join("\n"), CHIP_LINE.esp32);
    assert.equal(e32.board.flash.sha256(0x1000, img.length), sha(img));
  } finally {
    await e32.stop();
  }
  const e8266 = await labBoard("esp8266");
  try {
    const img = buildFirmware({ chip: "esp8266", version: "1.22.1", size: 6000 });
    const { lines } = await flashRomOnly(new Rfc2217SerialPort(e8266.host, e8266.port), "esp8266", img, 0);
    for (const l of lines.filter((x) => /^(ESP|Wrote)/.test(x))) t.diagnostic(`rfc2217 esp8266: ${l}`);
    assert.equal(e8266.board.flash.sha256(0, img.length), sha(img));
  } finally {
    await e8266.stop();
  }
});
