// The MicroPython side of a virtual ESP once it has booted its firmware. Prefers the shared micropython
// kind (tests/vboard/kinds/micropython.js) when it offers an embeddable REPL; otherwise a small
// fallback that prints the real banner, a prompt, echoes input and knows the control keys.
import { EventEmitter } from "node:events";

/**
 * Create the REPL for a booted board. Resolves to an EventEmitter emitting "tx" (Buffer) with onRx(buf),
 * async start()/stop(). `info` = {banner, version, date, board, mcu}; `mpOpts` = options for the shared kind
 * (stateDir, uniqueId, rawPaste, window, intrGraceMs, log).
 *
 * The shared kind is kinds/micropython.js: createMicroPythonBoard(opts) -> a Board running the real
 * interpreter (wasm). We embed it (its reset logic is not used: the ESP board owns EN/IO0) and rewrite its
 * banner line to the one found in flash. If it asks for opts.banner support later, we pass that too.
 */
export async function createRepl(info, { preferShared = true, mpOpts = {}, log } = {}) {
  if (preferShared) {
    try {
      const mod = await import(new URL("../micropython.js", import.meta.url).href);
      const opts = { ...mpOpts, banner: info.banner, embedded: true, log };
      let inner = null;
      if (typeof mod.createMicroPythonBoard === "function") inner = await mod.createMicroPythonBoard(opts);
      else if (typeof mod.MicroPythonBoard === "function") inner = new mod.MicroPythonBoard(opts);
      if (inner && typeof inner.on === "function" && typeof inner.onRx === "function") return new SharedRepl(inner, info);
    } catch (e) {
      if (e?.code !== "ERR_MODULE_NOT_FOUND") log?.(`esp: micropython kind unusable, using the fallback REPL: ${e.message}`);
    }
  }
  return new FallbackRepl(info);
}

const BANNER_RE = /MicroPython \S+ on \S+; [^\r\n]*/;
const PREFIX = "MicroPython ";

/** The shared interpreter, with its banner line replaced by the firmware's ("...; <board> with <mcu>"). */
class SharedRepl extends EventEmitter {
  constructor(inner, info) {
    super();
    this.inner = inner;
    this.info = info;
    this.shared = true;
    this.hold = "";
    this.timer = null;
    this._fwd = (b) => this._rewrite(Buffer.from(b).toString("latin1"));
    inner.on("tx", this._fwd);
  }
  set txPending(fn) {
    this.inner.txPending = fn;
  }
  _emit(s) {
    if (s) this.emit("tx", Buffer.from(s, "latin1"));
  }
  _rewrite(chunk) {
    clearTimeout(this.timer);
    let s = this.hold + chunk;
    this.hold = "";
    let out = "";
    for (;;) {
      const i = s.indexOf(PREFIX);
      if (i < 0) {
        // keep a tail that could be the start of a split "MicroPython "
        let keep = 0;
        for (let k = Math.min(PREFIX.length - 1, s.length); k > 0; k--) if (PREFIX.startsWith(s.slice(-k))) { keep = k; break; }
        out += s.slice(0, s.length - keep);
        this.hold = s.slice(s.length - keep);
        break;
      }
      const nl = s.indexOf("\r\n", i);
      if (nl < 0 && s.length - i < 256) { out += s.slice(0, i); this.hold = s.slice(i); break; }
      const end = nl < 0 ? s.length : nl;
      const line = s.slice(i, end);
      out += s.slice(0, i) + (BANNER_RE.test(line) ? this.info.banner : line);
      s = s.slice(end);
    }
    this._emit(out);
    // A held "MicroPython v<digit>..." is the banner line cut by the interpreter's output chunking
    // (chunks can be far apart on a loaded host): wait for its line end, never emit it unrewritten.
    // Anything else held (a bare "Micro" echoed at the prompt) goes out after a short pause.
    if (this.hold && !/^MicroPython v?\d/.test(this.hold))
      this.timer = setTimeout(() => { const h = this.hold; this.hold = ""; this._emit(h); }, 30);
  }
  onRx(buf) { this.inner.onRx(buf); }
  async start() { await this.inner.start?.(); }
  async stop() {
    clearTimeout(this.timer);
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
