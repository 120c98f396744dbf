// The scripted app's crash layouts (tests/vboard/kinds/esp/app.js panicText): each prints the lines
// the crash scanner in daemon/engines/expect/backtrace.c reads, with the addresses given; unknown
// layouts are refused by the script check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { panicText, validateScript } from "../kinds/esp/app.js";

test("xtensa (the default): Guru Meditation, PC, Backtrace pairs, Rebooting", () => {
  const s = panicText({ reason: "LoadProhibited", backtrace: ["0x400d1006:0x3ffb4e80", "0x400d1019:0x3ffb4ea0"] });
  assert.match(s, /^Guru Meditation Error: Core {2}0 panic'ed \(LoadProhibited\)\. Exception was unhandled\.\r\n/);
  assert.match(s, /\r\nPC {6}: 0x400d1006 {2}PS/);
  assert.match(s, /\r\nBacktrace: 0x400d1006:0x3ffb4e80 0x400d1019:0x3ffb4ea0\r\n/);
  assert.match(s, /Rebooting\.\.\.\r\n$/);
});

test("riscv: MEPC and RA on one line, the stack words 8 to a line after 'Stack memory:'", () => {
  const s = panicText({ layout: "riscv", pc: 0x42000004, ra: 0x42000010, stack: [0x42000020] });
  assert.match(s, /\r\nMEPC {4}: 0x42000004 {2}RA {6}: 0x42000010 {2}SP/);
  assert.match(s, /\r\nStack memory:\r\n3fc8f2d0: 0x00000000 0x00000000 0x42000020 0xa5a5a5a5 0x00000000\r\n/);
});

test("esp8266: Exception (N), epc1, the >>>stack>>> words 4 to a line without 0x, <<<stack<<<", () => {
  const s = panicText({ layout: "esp8266", pc: 0x40201a3d, stack: [0x40201a54, 0x3ffee7ec] });
  assert.equal(s, "\r\nException (28):\r\nepc1=0x40201a3d epc2=0x00000000 epc3=0x00000000 excvaddr=0x00000000 depc=0x00000000\r\n" +
    "\r\n>>>stack>>>\r\n\r\nctx: cont\r\nsp: 3ffffe00 end: 3fffffc0 offset: 01a0\r\n" +
    "3ffffe40:  3fffdad0 00000000 40201a54 3ffee7ec  \r\n3ffffe50:  feefeffe  \r\n<<<stack<<<\r\n");
});

test("zephyr and cortex-m: faulting PC and LR", () => {
  assert.match(panicText({ layout: "zephyr", pc: 0x3c8, lr: 0x3d5 }), /r14\/lr: {2}0x000003d5\r\n[\s\S]*Faulting instruction address \(r15\/pc\): 0x000003c8\r\n/);
  assert.equal(panicText({ layout: "cortex-m", pc: 0x0800123c, lr: 0x08000f01 }), "HardFault: PC=0x0800123c LR=0x08000f01 PSR=0x21000000\r\nCPU halted.\r\n");
});

test("an unknown layout is refused naming the choices", () => {
  assert.throws(() => validateScript({ steps: [{ panic: { layout: "mips" } }] }),
    /steps\[0\]\.panic\.layout must be one of xtensa, riscv, esp8266, zephyr, cortex-m/);
});
