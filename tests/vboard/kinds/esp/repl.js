// The MicroPython side of a virtual ESP once it has booted its firmware. Prefers the shared micropython
// kind (tests/vboard/kinds/micropython.js) when it offers an embeddable REPL; otherwise a small
// fallback that prints the real banner, a prompt, echoes input and knows the control keys.
import { EventEmitter } from "node:events";

/**
 * Create the REPL for a booted board. Resolves to an object with onRx(buf), start(), stop() that emits
 * "tx" (Buffer). `info` = {banner, version, date, board, mcu}.
 *
 * Shared-kind contract we look for (first match wins), all optional:
 *   export class MicroPythonRepl / MicroPythonBoard   new X({banner, ...info, embedded: true}) -> Board-like
 *   export function createMicroPythonBoard(opts)      -> Board-like
 * Board-like = EventEmitter emitting "tx", with onRx(buf) and async start()/stop().
 */
export async function createRepl(info, { preferShared = true, log } = {}) {
  if (preferShared) {
    try {
      const mod = await import(new URL("../micropython.js", import.meta.url).href);
      const opts = { ...info, embedded: true };
      let inner = null;
      const Cls = mod.MicroPythonRepl || mod.MicroPythonBoard;
      if (typeof Cls === "function") inner = new Cls(opts);
      else if (typeof mod.createMicroPythonBoard === "function") inner = await mod.createMicroPythonBoard(opts);
      if (inner && typeof inner.on === "function" && typeof inner.onRx === "function") return new SharedRepl(inner);
    } catch (e) {
      if (e?.code !== "ERR_MODULE_NOT_FOUND") log?.(`esp: micropython kind unusable, using fallback REPL: ${e.message}`);
    }
  }
  return new FallbackRepl(info);
}

class SharedRepl extends EventEmitter {
  constructor(inner) {
    super();
    this.inner = inner;
    this.shared = true;
    this._fwd = (b) => this.emit("tx", Buffer.from(b));
    inner.on("tx", this._fwd);
  }
  onRx(buf) { this.inner.onRx(buf); }
  async start() { await this.inner.start?.(); }
  async stop() {
    this.inner.off?.("tx", this._fwd);
    await this.inner.stop?.();
  }
}

/** Minimal stand-in: banner, prompt, echo, Enter, backspace, Ctrl-A/B/C/D. Does not evaluate Python. */
export class FallbackRepl extends EventEmitter {
  constructor(info) {
    super();
    this.info = info;
    this.shared = false;
    this.line = "";
    this.raw = false;
    this.rawBuf = "";
  }
  out(s) { this.emit("tx", Buffer.from(s, "latin1")); }
  bannerText() { return `${this.info.banner}\r\nType "help()" for more information.\r\n`; }
  async start() { this.out(`${this.bannerText()}>>> `); }
  async stop() {}
  onRx(buf) {
    for (const b of buf) {
      if (this.raw) { this.rawKey(b); continue; }
      if (b === 0x01) { this.raw = true; this.rawBuf = ""; this.out("\r\nraw REPL; CTRL-B to exit\r\n>"); }
      else if (b === 0x02) { this.line = ""; this.out(`\r\n${this.bannerText()}>>> `); }
      else if (b === 0x03) { this.line = ""; this.out("\r\nKeyboardInterrupt\r\n>>> "); }
      else if (b === 0x04) { if (!this.line) { this.out(`\r\nMPY: soft reboot\r\n${this.bannerText()}>>> `); } }
      else if (b === 0x0d) { this.out("\r\n"); this.line = ""; this.out(">>> "); }
      else if (b === 0x08 || b === 0x7f) { if (this.line) { this.line = this.line.slice(0, -1); this.out("\b \b"); } }
      else if (b >= 0x20 && b < 0x7f) { this.line += String.fromCharCode(b); this.out(String.fromCharCode(b)); }
    }
  }
  rawKey(b) {
    if (b === 0x02) { this.raw = false; this.out(`\r\n${this.bannerText()}>>> `); }
    else if (b === 0x04) { this.rawBuf = ""; this.out("OK\x04\x04>"); }
    else if (b === 0x03) { this.rawBuf = ""; }
    else this.rawBuf += String.fromCharCode(b);
  }
}
