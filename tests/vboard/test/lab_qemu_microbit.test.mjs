// Kind qemu-microbit: Debian's micro:bit MicroPython firmware in qemu-system-arm. Never skipped: if QEMU
// or the firmware is missing, these tests fail with vboard's message naming the cause.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startVboard, RawClient } from "./helpers.mjs";
import { hexToBin } from "../lib/ihex.js";
import { DEFAULT_HEX } from "../kinds/qemu_microbit.js";

test("qemu-microbit boots MicroPython and answers print(1+2) with 3", async () => {
  const vb = await startVboard(["qemu-microbit"]);
  try {
    assert.match(vb.endpoint, /^socket:\/\/127\.0\.0\.1:\d+$/);
    const c = await RawClient.connect(vb.endpoint);
    // Output before a client connects is dropped by QEMU: poke until the prompt answers, then sync on a marker.
    for (let i = 0; ; i++) {
      c.write("\r");
      try {
        await c.waitFor(">>> ", { timeoutMs: 2000 });
        break;
      } catch (e) {
        if (i === 9) throw e;
      }
    }
    c.write("print('sy' + 'nc')\r");
    await c.waitFor("sync\r\n>>> ");
    c.mark();
    c.write("print(1+2)\r");
    assert.equal(await c.waitFor(">>> "), "print(1+2)\r\n3\r\n>>> ");
    c.mark();
    c.write("\x04");
    assert.match(await c.waitFor(">>> "), /MicroPython v1\.9\.2.* with nRF51822\r\n/);
    c.close();
  } finally {
    assert.deepEqual(await vb.kill(), { code: 0, sig: null });
  }
});

test("the firmware image for QEMU leaves out the UICR records", () => {
  const { image, skipped } = hexToBin(fs.readFileSync(DEFAULT_HEX, "latin1"), { limit: 0x10001000 });
  assert.ok(skipped.length > 0 && skipped.every((a) => a >= 0x10001000));
  assert.ok(image.length < 256 * 1024); // fits the nRF51's 256 KiB flash
  assert.equal(image.readUInt32LE(0) >>> 24, 0x20); // initial stack pointer in RAM
});

test("Intel HEX records with a bad checksum are rejected", () => {
  assert.throws(() => hexToBin(":0100000000FE\n"), /checksum/);
});
