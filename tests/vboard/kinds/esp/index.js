// Virtual ESP8266 / ESP32 / ESP32-C3 / ESP32-S3 boards: the chip side of a USB-serial bridge with the
// two-transistor auto-reset circuit, ROM download mode, flasher stub, boot from flash, MicroPython REPL.
// Entry point for the vboard CLI: createEspBoard(kind, opts) -> Board (tests/vboard/lib/board.js).
import { Board } from "../../lib/board.js";
import { getChip, parseMac, defaultMac, macToString, FLASH_MODES, KINDS } from "./chips.js";
import { Flash, makeTiming } from "./flash.js";
import { Registers } from "./regs.js";
import { SlipDecoder, slipEncode } from "./slip.js";
import { RomLoader } from "./rom.js";
import { StubLoader } from "./stub.js";
import { planBoot, downloadBanner } from "./boot.js";
import { createRepl } from "./repl.js";
import { ScriptApp } from "./app.js";

export { KINDS };

const EVENTS_MAX = 1000;

/**
 * Options (all optional):
 *   flashSize "4MB" | moduleModes ["dio","dout"] (default all four) | images [{file|data, offset}] (fresh flash only,
 *   or always with reloadImages) | stateDir (flash.bin persisted there) | holdIo0 (always download mode) |
 *   mac "aa:bb:.." | fast (no erase/program delays) | timeScale | eraseMs (sector erase, 30) | blockEraseMs (150) |
 *   pageProgramMs (0.5) | chipEraseMsPerMB (1200) | md5MsPerMB (250) | bootDelayMs (5: EN release -> strap sample) |
 *   minResetMs (1: EN low time that resets) | bootLoopMs (400) | appStartMs | hostBaud (115200: assumed host baud
 *   until onHostBaud says otherwise) | unsupportedOpcode (0x00 | "echo") | requireSpiAttach (true) |
 *   useSharedRepl (true) | log(fn)
 */
export class EspBoard extends Board {
  constructor(kind, opts = {}) {
    const chip = getChip(kind);
    super({ ...opts, baud: chip.romBaud });
    this.kind = chip.kind;
    this.chip = chip;
    this.opts = opts;
    this.timing = makeTiming(opts);
    const images = (opts.images || []).map((im) => ({ ...im, offset: im.offset ?? chip.bootOffset }));
    this.flash = new Flash({ size: opts.flashSize ?? "4MB", stateDir: opts.stateDir, timing: this.timing, images, reloadImages: opts.reloadImages });
    this.macBytes = opts.mac ? parseMac(opts.mac) : defaultMac(chip, opts.stateDir || opts.name || "");
    this.mac = macToString(this.macBytes);
    this.regs = new Registers(chip, this.macBytes, this.flash, () => this.rxBaud);
    this.moduleModes = (opts.moduleModes ?? FLASH_MODES).map((m) => String(m).toLowerCase());
    this.hostBaud = opts.hostBaud ?? 115200;
    this.mode = "off"; // off | reset | rom | stub | booting | app | loop | silent
    this.lines = { dtr: false, rts: false };
    this.enLow = false;
    this.io0Low = false;
    this.decoder = new SlipDecoder();
    this.loader = null;
    this.repl = null;
    this.gen = 0;
    this.timers = new Set();
    this.txBusyUntil = 0;
    this.bootCount = 0;
    this.lastBoot = null;
    this.log = opts.log || (() => {});
    this.events = []; // ring of the last EVENTS_MAX line changes, resets, strap samples, boots (control "events")
  }

  /** Note an event in the ring (cheap, always on; read with the control command "events"). */
  _note(ev, extra) {
    if (this.events.length >= EVENTS_MAX) this.events.shift();
    this.events.push({ t: Math.round(performance.now() * 10) / 10, ev, mode: this.mode, ...extra });
  }

  // ---------------------------------------------------------------- Board hooks

  async start() {
    this.powerOn();
  }

  async stop() {
    this.stopped = true;
    this._disarm("_resetTimer");
    this._disarm("_bootTimer");
    const repl = this.repl;
    this._cancel();
    this.mode = "off";
    this.flash.close();
    await repl?.stop().catch(() => {});
  }

  /**
   * at: when the change reached the chip (performance.now() of the read that carried it). The
   * chip's own deadlines (EN capacitor, strap sample) run on that clock, not on when this code gets
   * the CPU: changes read together (corrald's DTR and RTS in one segment) are simultaneous even
   * if the process is preempted between applying them, and a deadline that passed before this
   * change arrived (a busy event loop runs I/O ahead of due timers) acts first, on the lines as
   * they were then.
   */
  onLines({ dtr, rts }, at = performance.now()) {
    if (this.stopped) return;
    this._catchUp(at);
    this._note("lines", { dtr, rts, at: Math.round(at * 10) / 10 });
    if (dtr !== undefined) this.lines.dtr = !!dtr;
    if (rts !== undefined) this.lines.rts = !!rts;
    const enLow = this.lines.rts && !this.lines.dtr;
    this.io0Low = this.lines.dtr && !this.lines.rts;
    if (enLow === this.enLow) return;
    this.enLow = enLow;
    if (enLow) {
      this._disarm("_bootTimer");
      // the EN capacitor: a glitch shorter than minResetMs does not reset the chip
      this._resetDue = at + (this.opts.minResetMs ?? 1);
      this._armAt("_resetTimer", this._resetDue, () => this._resetFires());
    } else if (this._resetTimer) {
      this._disarm("_resetTimer");
    } else if (this.mode === "reset") {
      // EN released: the chip samples its strap pin(s) after the RC delay
      this._bootDue = at + (this.opts.bootDelayMs ?? 5);
      this._armAt("_bootTimer", this._bootDue, () => this._strapSample());
    }
  }

  /** this[key] = a timer running fn at performance.now() >= due, never earlier (Node's timers count
   * from the loop's cached time, which lags behind a long or preempted callback). */
  _armAt(key, due, fn) {
    const tick = () => {
      const left = due - performance.now();
      if (left > 0) this[key] = setTimeout(tick, Math.ceil(left));
      else fn();
    };
    this[key] = setTimeout(tick, Math.max(0, Math.ceil(due - performance.now())));
  }

  _disarm(key) {
    clearTimeout(this[key]);
    this[key] = null;
  }

  _resetFires() {
    this._note("en-reset", { due: Math.round(this._resetDue * 10) / 10 });
    this._disarm("_resetTimer");
    this._enterReset();
  }

  _strapSample() {
    this._note("strap", { io0Low: this.io0Low, enLow: this.enLow, due: Math.round(this._bootDue * 10) / 10 });
    this._disarm("_bootTimer");
    if (this.enLow || this.mode !== "reset") return;
    if (this.io0Low || this.opts.holdIo0) this.enterDownload("en");
    else this.bootFromFlash("en");
  }

  /** Run the EN-capacitor reset and the strap sample that were due by `at` (they cannot both be pending). */
  _catchUp(at) {
    if (this._resetTimer && at >= this._resetDue) this._resetFires();
    if (this._bootTimer && at >= this._bootDue) this._strapSample();
  }

  onRx(buf) {
    if (this.mode === "rom" || this.mode === "stub") {
      for (const f of this.decoder.push(buf)) this.loader?.onFrame(f);
    } else if (this.mode === "app") {
      this.repl?.onRx(buf);
    }
  }

  onHostBaud(baud) {
    this.hostBaud = baud;
    if (this.acceptsAnyBaud && Date.now() >= this.txBusyUntil) this.setBaud(baud);
  }

  onPurge() {
    this._note("purge");
    this.decoder.reset();
  }

  /** USB power: off = silent and unresponsive; on = power-on boot (rst cause 1 / POWERON). */
  onPower(on) {
    if (on) {
      this.powerOn();
    } else {
      this._cancel();
      this.mode = "off";
      this.emit("mode", "off");
    }
  }

  /**
   * Control-port commands: "hold-io0 on|off" (the BOOT button); "flash-sha256 OFFSET LEN" and
   * "flash-read OFFSET LEN" (base64, at most 1 MiB) to inspect the flash; "events" (the ring of line
   * changes, resets, strap samples and boots). "reset" is left to the lab's EN pulse.
   */
  onControl(cmd, args = []) {
    if (cmd === "hold-io0") {
      const v = String(args[0] ?? "").toLowerCase();
      if (!["on", "off", "1", "0", "true", "false"].includes(v)) throw new Error("hold-io0: expected on or off");
      this.opts = { ...this.opts, holdIo0: ["on", "1", "true"].includes(v) };
      return { hold_io0: this.opts.holdIo0 };
    }
    if (cmd === "events") return { events: this.events };
    if (cmd === "flash-sha256" || cmd === "flash-read") {
      // Look at the virtual flash from tests: SHA-256 (hex) or the bytes (base64) of a region.
      const num = (s) => (/^(0x[0-9a-f]+|\d+)$/i.test(String(s ?? "")) ? Number(s) : NaN);
      const off = num(args[0]), len = num(args[1]);
      const max = cmd === "flash-read" ? 1 << 20 : this.flash.size;
      if (!Number.isInteger(off) || !Number.isInteger(len) || len < 0 || len > max || !this.flash.inRange(off, len))
        throw new Error(`${cmd}: expected OFFSET LEN inside the ${this.flash.size}-byte flash` +
          (cmd === "flash-read" ? " (LEN at most 1048576)" : ""));
      if (cmd === "flash-sha256") return { offset: off, length: len, sha256: this.flash.sha256(off, len) };
      return { offset: off, length: len, data: this.flash.read(off, len).toString("base64") };
    }
    return undefined;
  }

  describe() {
    const s = this.status();
    return {
      chip: this.chip.name, mode: s.mode, mac: s.mac, flash_size: s.flashSize, module_modes: s.moduleModes,
      hold_io0: !!this.opts.holdIo0, boot_count: s.bootCount, last_boot: s.lastBoot, flash_stats: s.flash,
    };
  }

  setBaud(baud) {
    if (baud === this.rxBaud && baud === this.txBaud) return;
    super.setBaud(baud);
    this.emit("baud", baud);
  }

  /** True while the ROM autobauds (download mode before CHANGE_BAUDRATE): any host baud is accepted. */
  get acceptsAnyBaud() {
    return this.mode === "rom" && !!this.loader?.autobaud;
  }

  // ---------------------------------------------------------------- power, reset, boot

  powerOn() {
    if (this.stopped) return;
    this._cancel();
    if (this.opts.holdIo0) this.enterDownload("poweron");
    else this.bootFromFlash("poweron");
  }

  _enterReset() {
    this._cancel();
    this.mode = "reset";
    this.emit("mode", "reset");
  }

  _cancel() {
    this.gen++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.loader?.kill();
    this.loader = null;
    if (this.repl) { const r = this.repl; this.repl = null; r.removeAllListeners("tx"); r.stop().catch(() => {}); }
    this.decoder.reset();
  }

  _schedule(ms, fn) {
    const gen = this.gen;
    const t = setTimeout(() => { this.timers.delete(t); if (gen === this.gen) fn(); }, Math.max(0, ms));
    this.timers.add(t);
    return t;
  }

  /** Transmit at the current TX baud, keeping track of when the UART will have drained. */
  _out(bytes) {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, "latin1");
    if (!b.length) return;
    const now = Date.now();
    this.txBusyUntil = Math.max(now, this.txBusyUntil) + (b.length * 10 * 1000) / this.txBaud;
    this.tx(b);
  }

  /** Run fn once everything transmitted so far has left the UART (plus a small margin). */
  afterDrain(fn, extraMs = 2) {
    this._schedule(Math.max(0, this.txBusyUntil - Date.now()) + extraMs, fn);
  }

  enterDownload(cause) {
    this._note("download", { cause, wall: Date.now() });
    this._cancel();
    this.setBaud(this.chip.romBaud);
    this._out(downloadBanner(this.chip, cause));
    this.loader = new RomLoader(this._ctx());
    this.mode = "rom";
    this.emit("mode", "rom");
    // the ROM autobauds on the host's SYNC: follow the host baud once the banner is out
    this.afterDrain(() => { if (this.acceptsAnyBaud) this.setBaud(this.hostBaud); }, 1);
  }

  bootFromFlash(cause) {
    this._note("boot", { cause });
    this._cancel();
    this.mode = "booting";
    this.emit("mode", "booting");
    this.setBaud(this.chip.romBaud);
    const plan = planBoot({ chip: this.chip, flash: this.flash, moduleModes: this.moduleModes, cause });
    this.bootCount++;
    this.lastBoot = { cause, outcome: plan.next.type, reason: plan.next.reason, banner: plan.next.marker?.banner, at: Date.now() };
    this.emit("boot", this.lastBoot);
    this._out(plan.rom);
    if (plan.app) this._out(plan.app); // ESP-IDF 2nd-stage output: 115200 like the ESP32-family ROM
    const next = plan.next;
    if (next.type === "loop") {
      this.mode = "loop";
      this._schedule(this.opts.bootLoopMs ?? 400, () => this.bootFromFlash(next.cause || "wdt"));
    } else if (next.type === "app") {
      const startMs = this.opts.appStartMs ?? (this.timing.scale === 0 ? 5 : 60);
      this.afterDrain(() => this._startApp(next.marker), startMs);
    } else {
      this.mode = "silent";
    }
  }

  async _startApp(marker) {
    const gen = this.gen;
    this.setBaud(this.chip.appBaud);
    if (marker.script) {
      // a scripted app (mkimage --app-script): prints, waits for input, may panic and reboot
      const app = new ScriptApp(marker.script);
      this.repl = app;
      app.txPending = () => this.txPending();
      app.on("tx", (b) => this._out(b));
      app.on("reboot", () => { if (gen === this.gen) this.afterDrain(() => this.bootFromFlash("sw")); });
      this.mode = "app";
      this.emit("mode", "app");
      app.start().catch((e) => this.log(`esp: app script: ${e.message}`));
      return;
    }
    const o = this.opts;
    const mpOpts = {
      stateDir: o.stateDir ?? undefined, name: o.name ?? undefined, rawPaste: o.rawPaste, window: o.window ?? undefined,
      intrGraceMs: o.intrGraceMs ?? undefined, uniqueId: o.uniqueId || this.macBytes.map((b) => b.toString(16).padStart(2, "0")).join(""),
    };
    const repl = await createRepl({ ...marker }, { preferShared: o.useSharedRepl !== false, mpOpts, log: this.log });
    if (gen !== this.gen) { repl.stop().catch(() => {}); return; }
    this.repl = repl;
    repl.txPending = () => this.txPending();
    repl.on("tx", (b) => this._out(b));
    this.mode = "app";
    this.emit("mode", "app");
    await repl.start();
  }

  // ---------------------------------------------------------------- loader context

  _ctx() {
    const board = this;
    return {
      chip: this.chip,
      flash: this.flash,
      regs: this.regs,
      opts: this.opts,
      timing: this.timing,
      log: this.log,
      send: (payload) => board._out(slipEncode(payload)),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      afterDrain: (fn) => board.afterDrain(fn),
      setBaud: (b) => board.setBaud(b),
      enterStub: () => {
        board.loader = new StubLoader(board._ctx());
        board.mode = "stub";
        board.emit("mode", "stub");
        // the stub needs a moment to start, then greets with the only unsolicited frame: "OHAI"
        board.afterDrain(() => board._out(slipEncode(Buffer.from("OHAI", "ascii"))), 3);
      },
      leaveLoader: () => board.afterDrain(() => board.bootFromFlash("sw")),
    };
  }

  /** Snapshot for tests and the CLI's status output. */
  status() {
    return {
      kind: this.kind, mode: this.mode, baud: this.txBaud, mac: this.mac, flashSize: this.flash.size,
      moduleModes: this.moduleModes, bootCount: this.bootCount, lastBoot: this.lastBoot, flash: { ...this.flash.stats },
    };
  }
}

/** Factory used by the vboard CLI. kind: "esp8266" | "esp32" | "esp32c3" | "esp32s3". */
export function createEspBoard(kind, opts = {}) {
  return new EspBoard(kind, opts);
}
