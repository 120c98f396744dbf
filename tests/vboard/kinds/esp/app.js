// A scripted ESP application for the virtual ESP boards: an image built by mkimage --app-script carries
// a JSON script (lines to print with delays, inputs to wait for and echo, an optional ESP-IDF panic
// with a backtrace) that the board runs instead of MicroPython after the ROM boot. Deterministic
// stand-in for a C firmware (Unity tests, a console app, a crash) in the expect/HIL tests.
import { EventEmitter } from "node:events";
import { assembleImage, filler } from "./image.js";
import { getChip } from "./chips.js";

export const APP_MARKER = "CORRAL-APP-SCRIPT:";
const APP_RE = /CORRAL-APP-SCRIPT:([A-Za-z0-9+/=]+);/;

// Same load addresses as image.js's single images (one image at the boot offset).
const LAYOUT = {
  esp8266: { entry: 0x40100004, segs: [0x40100000, 0x3ffe8000, 0x3ffe8800] },
  esp32: { entry: 0x400805e4, segs: [0x3fff0030, 0x40078000, 0x40080400] },
  esp32c3: { entry: 0x403cc71a, segs: [0x3fcd5820, 0x403cc710, 0x403ce710] },
  esp32s3: { entry: 0x403c9880, segs: [0x3fce3818, 0x403c9700, 0x403cc700] },
};

const STEP_KEYS = ["print", "write", "delay_ms", "wait_for", "panic", "repeat"];
const PANIC_LAYOUTS = ["xtensa", "riscv", "esp8266", "zephyr", "cortex-m"];

/** Throws an Error naming the first problem of a script ({line_delay_ms?, steps: [...]}). */
export function validateScript(script) {
  if (!script || typeof script !== "object" || !Array.isArray(script.steps)) throw new Error("app script: expected {\"steps\": [...]}");
  const int = (v) => Number.isInteger(v) && v >= 0 && v <= 3600000;
  if (script.line_delay_ms !== undefined && !int(script.line_delay_ms)) throw new Error("app script: line_delay_ms must be 0..3600000");
  const walk = (steps, where) => steps.forEach((s, i) => {
    const w = `${where}[${i}]`;
    const keys = Object.keys(s || {}).filter((k) => STEP_KEYS.includes(k));
    if (keys.length !== 1) throw new Error(`app script: ${w} needs exactly one of ${STEP_KEYS.join(", ")}`);
    const k = keys[0];
    if ((k === "print" || k === "write" || k === "wait_for") && typeof s[k] !== "string") throw new Error(`app script: ${w}.${k} must be a string`);
    if (k === "delay_ms" && !int(s[k])) throw new Error(`app script: ${w}.delay_ms must be 0..3600000`);
    if (k === "repeat") {
      if (!int(s.repeat) || !Array.isArray(s.steps)) throw new Error(`app script: ${w} is {"repeat": N, "steps": [...]}`);
      walk(s.steps, `${w}.steps`);
    }
    if (k === "panic" && (typeof s.panic !== "object" || s.panic === null)) throw new Error(`app script: ${w}.panic must be an object`);
    if (k === "panic" && s.panic.layout !== undefined && !PANIC_LAYOUTS.includes(s.panic.layout)) {
      throw new Error(`app script: ${w}.panic.layout must be one of ${PANIC_LAYOUTS.join(", ")}`);
    }
  });
  walk(script.steps, "steps");
  return script;
}

/** A single image (flash it at the chip's boot offset) carrying the script instead of MicroPython. */
export function buildAppImage({ chip: chipName, script, flashMode = "dio", flashSize = "4MB", flashFreq = "40m" }) {
  const chip = getChip(chipName);
  validateScript(script);
  const lay = LAYOUT[chip.kind];
  let text = Buffer.from(`${APP_MARKER}${Buffer.from(JSON.stringify(script)).toString("base64")};\0`, "latin1");
  if (text.length % 4) text = Buffer.concat([text, Buffer.alloc(4 - (text.length % 4))]);
  const segments = [
    { addr: lay.segs[0], data: text },
    { addr: lay.segs[1], data: filler(2048, 5) },
    { addr: lay.segs[2], data: filler(1024, 11) },
  ];
  return assembleImage({ chip, segments, entry: lay.entry, flashMode, flashSize, flashFreq, sha256: !!chip.extHeader });
}

/** The script carried by an image (or flash contents), or null. Returns {script, banner: null}. */
export function findAppScript(buf) {
  const m = APP_RE.exec(buf.toString("latin1"));
  if (!m) return null;
  try {
    return { script: validateScript(JSON.parse(Buffer.from(m[1], "base64").toString("utf8"))), banner: null };
  } catch {
    return null;
  }
}

const hex8 = (v) => `0x${(Number(v) >>> 0).toString(16).padStart(8, "0")}`;

/** A crash's output in one of five layouts (p.layout): "xtensa" (the default: ESP-IDF on an ESP32:
 * register dump, Backtrace, ELF SHA, Rebooting), "riscv" (ESP-IDF on an ESP32-C3: MEPC/RA register
 * dump, Stack memory words), "esp8266" (the Arduino/NONOS core's "Exception (N):", epc1 and the
 * >>>stack>>> dump), "zephyr" (a Zephyr Cortex-M fatal error: r14/lr, Faulting instruction
 * address, ZEPHYR FATAL ERROR, Halting system) or "cortex-m" (a bare-metal HardFault handler's
 * "HardFault: PC=0x... LR=0x..."). */
export function panicText(p = {}) {
  const layout = p.layout ?? "xtensa";
  const core = p.core ?? 0;
  if (layout === "riscv") {
    const reason = p.reason ?? "Load access fault";
    const stack = p.stack ?? [];
    let s = `Guru Meditation Error: Core  ${core} panic'ed (${reason}). Exception was unhandled.\r\n\r\n`;
    s += `Core  ${core} register dump:\r\n`;
    s += `MEPC    : ${hex8(p.pc ?? 0x42000a1c)}  RA      : ${hex8(p.ra ?? 0x42000a10)}  SP      : 0x3fc8f2d0  GP      : 0x3fc8c000  \r\n`;
    s += "TP      : 0x3fc8f3b0  T0      : 0x4005890e  T1      : 0x3fc8f02c  T2      : 0x00000000  \r\n";
    s += "MSTATUS : 0x00001881  MTVEC   : 0x40380001  MCAUSE  : 0x00000005  MTVAL   : 0x00000000  \r\n";
    s += "MHARTID : 0x00000000  \r\n\r\nStack memory:\r\n";
    const words = [0, 0, ...stack, 0xa5a5a5a5, 0];
    for (let i = 0; i < words.length; i += 8) {
      s += `${(0x3fc8f2d0 + i * 4).toString(16)}: ${words.slice(i, i + 8).map(hex8).join(" ")}\r\n`;
    }
    s += "\r\n\r\nELF file SHA256: 6f2c0d1e8b7d6a5f\r\n\r\n";
    if ((p.then ?? "reboot") === "reboot") s += "Rebooting...\r\n";
    return s;
  }
  if (layout === "esp8266") {
    const h = (v) => (Number(v) >>> 0).toString(16).padStart(8, "0");
    let s = `\r\nException (${p.cause ?? 28}):\r\nepc1=${hex8(p.pc ?? 0x40201a3d)} epc2=0x00000000 epc3=0x00000000 `;
    s += "excvaddr=0x00000000 depc=0x00000000\r\n\r\n>>>stack>>>\r\n\r\nctx: cont\r\nsp: 3ffffe00 end: 3fffffc0 offset: 01a0\r\n";
    const words = [0x3fffdad0, 0, ...(p.stack ?? []), 0xfeefeffe];
    for (let i = 0; i < words.length; i += 4) {
      s += `${h(0x3ffffe40 + i * 4)}:  ${words.slice(i, i + 4).map(h).join(" ")}  \r\n`;
    }
    return `${s}<<<stack<<<\r\n`;
  }
  if (layout === "zephyr") {
    const e = "[00:00:00.010,000] <err> os: ";
    let s = `${e}***** HARD FAULT *****\r\n${e}  Fault escalation (see below)\r\n${e}***** BUS FAULT *****\r\n`;
    s += `${e}  Precise data bus error\r\n${e}  BFAR Address: 0x0\r\n`;
    s += `${e}r0/a1:  0x00000000  r1/a2:  0x00000001  r2/a3:  0x20000a3c\r\n`;
    s += `${e}r3/a4:  0x00000000 r12/ip:  0x00000000 r14/lr:  ${hex8(p.lr ?? 0x3d5)}\r\n`;
    s += `${e} xpsr:  0x61000000\r\n${e}Faulting instruction address (r15/pc): ${hex8(p.pc ?? 0x3c8)}\r\n`;
    s += `${e}>>> ZEPHYR FATAL ERROR 25: Unknown error on CPU 0\r\n${e}Current thread: 0x20000128 (unknown)\r\n`;
    s += `${e}Halting system\r\n`;
    return s;
  }
  if (layout === "cortex-m") {
    return `HardFault: PC=${hex8(p.pc ?? 0x0800123c)} LR=${hex8(p.lr ?? 0x08000f01)} PSR=0x21000000\r\nCPU halted.\r\n`;
  }
  const reason = p.reason ?? "LoadProhibited";
  const bt = p.backtrace ?? ["0x400d1f2e:0x3ffb4e80", "0x400d2a11:0x3ffb4ea0", "0x4008a1b5:0x3ffb4ec0"];
  const pc = (bt[0] || "0x400d1f2e").split(":")[0];
  let s = `Guru Meditation Error: Core  ${core} panic'ed (${reason}). Exception was unhandled.\r\n\r\n`;
  s += `Core  ${core} register dump:\r\n`;
  s += `PC      : ${pc}  PS      : 0x00060330  A0      : 0x800d2a14  A1      : 0x3ffb4e80  \r\n`;
  s += "A2      : 0x00000000  A3      : 0x3ffb4ebc  A4      : 0x00000001  A5      : 0x3ffb4ea0  \r\n";
  s += "EXCVADDR: 0x00000000  LBEG    : 0x4000c2e0  LEND    : 0x4000c2f6  LCOUNT  : 0x00000000  \r\n\r\n\r\n";
  s += `Backtrace: ${bt.join(" ")}\r\n\r\n\r\n\r\n`;
  s += "ELF file SHA256: 3f2a1c9e8b7d6a5f\r\n\r\n";
  if ((p.then ?? "reboot") === "reboot") s += "Rebooting...\r\n";
  return s;
}

/** Runs a script: emits "tx" (Buffer) and, after a panic that reboots, "reboot"; onRx(buf); start(); stop(). */
export class ScriptApp extends EventEmitter {
  constructor(script) {
    super();
    this.script = script;
    this.stopped = false;
    this.rx = "";
    this.waiter = null;
    this.timers = new Set();
  }

  onRx(buf) {
    if (this.stopped) return;
    const s = Buffer.from(buf).toString("latin1");
    if (this.waiter?.echo) this.emit("tx", Buffer.from(s.replace(/\r(?!\n)/g, "\r\n"), "latin1"));
    this.rx += s;
    if (this.rx.length > 65536) this.rx = this.rx.slice(-32768);
    this.waiter?.check();
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  _waitFor(text, echo) {
    return new Promise((resolve) => {
      this.waiter = {
        echo,
        check: () => {
          const i = this.rx.indexOf(text);
          if (i < 0) return;
          this.rx = this.rx.slice(i + text.length);
          this.waiter = null;
          resolve();
        },
      };
      this.waiter.check();
    });
  }

  async _run(steps) {
    const lineDelay = this.script.line_delay_ms ?? 0;
    for (const s of steps) {
      if (this.stopped) return false;
      if (s.print !== undefined) {
        this.emit("tx", Buffer.from(`${s.print}\r\n`, "utf8"));
        if (lineDelay) await this._sleep(lineDelay);
      } else if (s.write !== undefined) {
        this.emit("tx", Buffer.from(s.write, "utf8"));
      } else if (s.delay_ms !== undefined) {
        await this._sleep(s.delay_ms);
      } else if (s.wait_for !== undefined) {
        await this._waitFor(s.wait_for, s.echo !== false);
      } else if (s.repeat !== undefined) {
        for (let i = 0; i < s.repeat; i++) if (!(await this._run(s.steps))) return false;
      } else if (s.panic !== undefined) {
        this.emit("tx", Buffer.from(panicText(s.panic), "latin1"));
        const halts = s.panic.layout === "zephyr" || s.panic.layout === "cortex-m";
        if (!halts && (s.panic.then ?? "reboot") === "reboot") {
          await this._sleep(s.panic.reboot_ms ?? 50);
          if (!this.stopped) this.emit("reboot");
        }
        return false; // a panic ends the program
      }
    }
    return true;
  }

  async start() {
    await this._run(this.script.steps);
  }

  async stop() {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.waiter = null;
  }
}
