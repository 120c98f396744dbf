// Kind "micropython": the real MicroPython interpreter (wasm) as a board behind a UART.
// Main-thread side: owns the flash store, the reset logic (EN via DTR/RTS, Ctrl-D, machine.reset()) and
// Ctrl-C recovery; each interpreter boot runs in a fresh worker (micropython_worker.js).
import { Worker } from "node:worker_threads";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Board } from "../lib/board.js";
import { FlashStore } from "./micropython_fs.js";
import { SAB, STATE, PHASE, IC_UNKNOWN } from "./micropython_shared.js";

const RESET_CAUSE = { power: 1, hard: 2, soft: 5, interrupt: 5 };

/** mulberry32: a small seeded PRNG, so a lossy run is the same every time. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Validate a loss rate given as a fraction (0.01) or a percentage ("1%"). */
export function parseRate(v, what) {
  const s = String(v).trim();
  const n = s.endsWith("%") ? Number(s.slice(0, -1)) / 100 : Number(s);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${what}: a rate from 0 to 1 (or 0% to 100%), not ${v}`);
  return n;
}

/**
 * Byte loss on one direction of the UART. Host->board (rx): as on a UART without flow control
 * whose receiver overflows; board->host (tx): as on a noisy line or a host that reads too late.
 * Each byte is dropped with probability drop, else replaced by a random other byte with
 * probability corrupt. Seeded: the same seed and the same input lose the same bytes.
 */
export class RxLoss {
  constructor({ drop = 0, corrupt = 0, seed = 1 } = {}) {
    this.set({ drop, corrupt, seed });
  }
  set({ drop = 0, corrupt = 0, seed = 1 }) {
    this.drop = drop;
    this.corrupt = corrupt;
    this.seed = seed >>> 0;
    this.rand = prng(this.seed);
    this.stats = { seen: 0, dropped: 0, corrupted: 0 };
  }
  get active() {
    return this.drop > 0 || this.corrupt > 0;
  }
  /** The bytes of buf that reach the board. */
  apply(buf) {
    if (!this.active) return buf;
    const out = [];
    for (const b of buf) {
      this.stats.seen++;
      if (this.rand() < this.drop) {
        this.stats.dropped++;
        continue;
      }
      if (this.rand() < this.corrupt) {
        this.stats.corrupted++;
        out.push((b + 1 + Math.floor(this.rand() * 255)) & 0xff);
        continue;
      }
      out.push(b);
    }
    return Buffer.from(out);
  }
  describe() {
    return { drop: this.drop, corrupt: this.corrupt, seed: this.seed, ...this.stats };
  }
}

function loadUniqueId(opts) {
  if (opts.uniqueId) return String(opts.uniqueId).toLowerCase();
  if (opts.stateDir) {
    const f = path.join(opts.stateDir, "board.json");
    try {
      const j = JSON.parse(fs.readFileSync(f, "utf8"));
      if (j.unique_id) return j.unique_id;
    } catch {}
    const id = crypto.randomBytes(6).toString("hex");
    fs.mkdirSync(opts.stateDir, { recursive: true });
    fs.writeFileSync(f, JSON.stringify({ unique_id: id }) + "\n");
    return id;
  }
  if (opts.name) return crypto.createHash("sha256").update(`vboard:${opts.name}`).digest("hex").slice(0, 12);
  return crypto.randomBytes(6).toString("hex");
}

export class MicroPythonBoard extends Board {
  /**
   * opts: stateDir, uniqueId (hex), intrGraceMs (Ctrl-C: how long running code may take to notice before
   * the interpreter is replaced, default 300), enLowMs (EN must stay low this long to reset, default 2),
   * rawPaste (default true), window (raw-paste window, default 128), heapsize, freq, log,
   * rxDrop / rxCorrupt (host->board bytes lost / changed, rates 0..1, default 0), rxSeed (default 1),
   * txDrop / txCorrupt / txSeed (the same for board->host bytes)
   */
  constructor(opts = {}) {
    super(opts);
    this.log = opts.log || (() => {});
    this.store = new FlashStore(opts.stateDir ? path.join(opts.stateDir, "fs") : null);
    this.uniqueId = loadUniqueId(opts);
    this.intrGraceMs = opts.intrGraceMs ?? 300;
    this.enLowMs = opts.enLowMs ?? 2;
    this.w = null; // current boot: {worker, sab, ctl, ring, gen, ready}
    this.gen = 0;
    this.pending = []; // input that did not fit the ring
    this.raw = false;
    this.status = "off"; // off | booting | running | reset
    this.enLow = false;
    this.enTimer = null;
    this.intrTimer = null;
    this.banner = null;
    this.counts = { power: 0, hard: 0, soft: 0, interrupt: 0 };
    this.loss = new RxLoss({ drop: opts.rxDrop || 0, corrupt: opts.rxCorrupt || 0, seed: opts.rxSeed ?? 1 });
    this.txLoss = new RxLoss({ drop: opts.txDrop || 0, corrupt: opts.txCorrupt || 0, seed: opts.txSeed ?? 1 });
  }

  /** Power on; resolves once the first boot reached its prompt (or after 3 s, e.g. a main.py that loops). */
  async start() {
    this._boot("power");
    const t0 = Date.now();
    while (this.status === "booting" && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  }

  async stop() {
    clearTimeout(this.enTimer);
    await this._kill();
    this.status = "off";
  }

  // ---- lifecycle ----------------------------------------------------------------------------------
  _boot(kind, extra = {}) {
    const sab = new SharedArrayBuffer(SAB.TOTAL);
    const ctl = new Int32Array(sab, 0, SAB.CTL_WORDS);
    const ring = new Uint8Array(sab, SAB.RING_OFFSET, SAB.RING_SIZE);
    const oring = new Uint8Array(sab, SAB.OUT_OFFSET, SAB.OUT_SIZE);
    Atomics.store(ctl, SAB.IC, IC_UNKNOWN);
    Atomics.store(ctl, SAB.ARMED, 1);
    const gen = ++this.gen;
    this.counts[kind] = (this.counts[kind] || 0) + 1;
    const worker = new Worker(new URL("./micropython_worker.js", import.meta.url), {
      workerData: {
        sab,
        files: this.store.snapshot(),
        raw: this.raw,
        boot: kind,
        interrupted: extra.interrupted || null,
        uniqueId: this.uniqueId,
        resetCause: RESET_CAUSE[kind] || 1,
        rawPaste: this.opts.rawPaste !== false,
        window: this.opts.window || 128,
        heapsize: this.opts.heapsize,
        freq: this.opts.freq,
      },
      stdout: false,
      stderr: false,
    });
    const w = { worker, sab, ctl, ring, oring, gen, ready: false, drainTimer: null };
    this.w = w;
    this.status = "booting";
    const carry = [...(extra.carry || []), ...this.pending];
    this.pending = [];
    for (const b of carry) this._enqueue(b);
    worker.on("message", (m) => this._onMessage(w, m));
    worker.on("error", (e) => this.log(`interpreter worker error: ${e.stack || e}`));
    worker.on("exit", (code) => {
      if (this.w !== w) return;
      this.w = null;
      // A worker that dies on its own is a bug in this lab, not board behaviour: reboot once, then give up.
      if (w.ready && !this.crashed) {
        this.crashed = true;
        this.log(`interpreter worker exited unexpectedly (${code}); rebooting`);
        this._boot("hard");
      } else {
        this.status = "crashed";
        this.log(`interpreter worker exited (${code}) before it was ready; board is dead (see errors above)`);
      }
    });
  }

  /** Stop the current interpreter; returns its unconsumed input bytes (minus the one at ring position dropAt). */
  async _kill(dropAt = -1) {
    const w = this.w;
    this.w = null;
    clearTimeout(this.intrTimer);
    this.intrTimer = null;
    if (!w) return [];
    this._drainOut(w, true);
    clearTimeout(w.drainTimer);
    const r = Atomics.load(w.ctl, SAB.R);
    const wr = Atomics.load(w.ctl, SAB.W);
    const carry = [];
    for (let i = r; i < wr; i++) if (i !== dropAt) carry.push(w.ring[i % SAB.RING_SIZE]);
    carry.push(...this.pending);
    this.pending = [];
    await w.worker.terminate();
    return carry;
  }

  async _reboot(kind, { keepInput = false, interrupted = null, dropAt = -1 } = {}) {
    this.status = "rebooting";
    const carry = await this._kill(dropAt);
    if (this.status !== "rebooting") return; // powered off or held in reset meanwhile
    if (!keepInput) this.pending = [];
    if (kind === "hard" || kind === "power") this.raw = false; // a real reset clears the UART FIFO and REPL mode
    this._boot(kind, { carry: keepInput ? carry : [], interrupted });
  }

  _onMessage(w, m) {
    if (this.w !== w) return; // a stale boot
    switch (m.t) {
      case "kick":
        this._drainOut(w);
        return;
      case "fs":
        try {
          this.store.apply(m.ch);
        } catch (e) {
          this.log(`state dir: ${e.message}`);
        }
        return;
      case "banner":
        this.banner = m.text;
        return;
      case "ready":
        w.ready = true;
        this.status = "running";
        return;
      case "reset":
        this.raw = !!m.raw;
        if (m.kind === "hard") this._reboot("hard");
        else this._reboot("soft", { keepInput: true });
        return;
      case "fatal":
        this.log(`interpreter failed: ${m.error}`);
        w.worker.terminate();
        return;
    }
  }

  // ---- output: the worker's shared ring -> the UART -------------------------------------------------
  // Holds back while the wire still has more than ~1 KiB to send (pacing), so a chatty program blocks in
  // print() like on a real UART, and a Ctrl-C traceback is not queued behind seconds of old output.
  _drainOut(w, final = false) {
    const { ctl, oring } = w;
    for (;;) {
      if (!final && this.txPending() > 1024) {
        if (!w.drainTimer) w.drainTimer = setTimeout(() => ((w.drainTimer = null), this._drainOut(w)), 10);
        return;
      }
      const or = Atomics.load(ctl, SAB.OR);
      const ow = Atomics.load(ctl, SAB.OW);
      if (ow !== or) {
        const out = Buffer.alloc(ow - or);
        for (let i = or; i < ow; i++) out[i - or] = oring[i % SAB.OUT_SIZE];
        Atomics.store(ctl, SAB.OR, ow);
        Atomics.notify(ctl, SAB.OR);
        this.tx(this.txLoss.apply(out));
      }
      Atomics.store(ctl, SAB.ARMED, 1);
      if (Atomics.load(ctl, SAB.OW) === ow) return;
      Atomics.store(ctl, SAB.ARMED, 0);
    }
  }

  // ---- input --------------------------------------------------------------------------------------
  _enqueue(b) {
    const w = this.w;
    if (!w) return;
    if (this.pending.length) {
      this.pending.push(b);
      return this._drainPending();
    }
    const wr = Atomics.load(w.ctl, SAB.W);
    if (wr - Atomics.load(w.ctl, SAB.R) >= SAB.RING_SIZE) {
      this.pending.push(b);
      return this._drainPending();
    }
    w.ring[wr % SAB.RING_SIZE] = b;
    Atomics.store(w.ctl, SAB.W, wr + 1);
    Atomics.notify(w.ctl, SAB.W);
  }

  _drainPending() {
    if (this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      const p = this.pending;
      this.pending = [];
      for (const b of p) this._enqueue(b);
    }, 5);
  }

  onRx(buf) {
    buf = this.loss.apply(buf);
    if (!this.w) {
      // Between two interpreters input waits (as in a UART FIFO); in reset or unpowered it is lost.
      if (this.status === "rebooting") this.pending.push(...buf);
      return;
    }
    for (const b of buf) {
      if (b === 3) this._ctrlC();
      else this._enqueue(b);
    }
  }

  // Ctrl-C: while code runs it is an interrupt, at the REPL a character (see micropython_worker.js).
  _ctrlC() {
    const w = this.w;
    if (Atomics.load(w.ctl, SAB.INTR)) return this._enqueue(3); // one already pending: this one queues
    Atomics.store(w.ctl, SAB.INTR_POS, Atomics.load(w.ctl, SAB.W) + this.pending.length);
    Atomics.store(w.ctl, SAB.INTR, 1);
    Atomics.notify(w.ctl, SAB.W);
    Atomics.notify(w.ctl, SAB.INTR);
    this._armIntrWatchdog(w);
  }

  // Watchdog for a pending Ctrl-C, every intrGraceMs/2. Code that calls out to JS takes the interrupt within
  // milliseconds. If the interpreter makes no progress (consumes no input, clears no interrupt) for a
  // whole period while running, it is stuck in pure bytecode: replace it, as if the interrupt had been raised.
  _armIntrWatchdog(w) {
    if (this.intrTimer) return;
    let lastR = Atomics.load(w.ctl, SAB.R);
    let converted = -1; // ring position of a Ctrl-C handed over as a character
    const tick = () => {
      this.intrTimer = null;
      if (this.w !== w) return;
      const r = Atomics.load(w.ctl, SAB.R);
      const intr = Atomics.load(w.ctl, SAB.INTR) === 1;
      if (!intr && !(converted >= r)) return; // taken
      const state = Atomics.load(w.ctl, SAB.STATE);
      const progress = r !== lastR;
      lastR = r;
      if (intr && Atomics.load(w.ctl, SAB.IC) === -1) {
        // Interrupts disabled (at the REPL, or micropython.kbd_intr(-1)): deliver it as a character
        // at its own position. Appending it is only that when nothing was typed after it; else the
        // worker's next read of the REPL reaches INTR_POS and takes it there (nextByte), in order.
        // (Appending it behind later bytes turned Ctrl-C Ctrl-C Ctrl-B into a prompt after the
        // banner when the interpreter was slow to read, e.g. on a loaded machine.)
        if (Atomics.load(w.ctl, SAB.W) + this.pending.length === Atomics.load(w.ctl, SAB.INTR_POS)) {
          Atomics.store(w.ctl, SAB.INTR, 0);
          converted = Atomics.load(w.ctl, SAB.W) + this.pending.length;
          this._enqueue(3);
        }
      } else if (!progress && state === STATE.RUN) {
        const phase = Atomics.load(w.ctl, SAB.PHASE);
        this.raw = Atomics.load(w.ctl, SAB.RAW) === 1;
        this.log("Ctrl-C: the running code does not yield; restarting the interpreter (its variables are lost)");
        this._reboot("interrupt", { keepInput: true, interrupted: { phase, raw: this.raw }, dropAt: converted }).catch(() => {});
        return;
      }
      this.intrTimer = setTimeout(tick, this.intrGraceMs / 2);
    };
    this.intrTimer = setTimeout(tick, this.intrGraceMs / 2);
  }

  // ---- reset lines --------------------------------------------------------------------------------
  // Auto-reset circuit: EN low while RTS && !DTR; EN must stay low enLowMs (the RC on EN) to reset.
  onLines({ dtr, rts }) {
    const low = !!rts && !dtr;
    if (low === this.enLow) return;
    this.enLow = low;
    if (low) {
      clearTimeout(this.enTimer);
      this.enTimer = setTimeout(() => {
        this.enTimer = null;
        if (!this.enLow) return;
        this.status = "reset";
        this._kill();
      }, this.enLowMs);
    } else {
      clearTimeout(this.enTimer);
      this.enTimer = null;
      if (this.status === "reset") {
        this.raw = false;
        this._boot("hard");
      }
    }
  }

  onPower(on) {
    if (on) {
      if (this.status === "off") {
        this.raw = false;
        this._boot("power");
      }
    } else {
      this.status = "off";
      this._kill();
    }
  }

  onControl(cmd, args = []) {
    switch (cmd) {
      case "reset":
        if (this.status === "off") throw new Error("board is unpowered");
        this._reboot("hard");
        return { reset: "hard" };
      case "lossy":
      case "lossy-tx": {
        // lossy DROP [CORRUPT [SEED]] | lossy off: host->board; lossy-tx the same for board->host
        const loss = cmd === "lossy" ? this.loss : this.txLoss;
        if ((args[0] || "").toLowerCase() === "off") loss.set({});
        else {
          if (args[0] === undefined) throw new Error(`${cmd}: DROP [CORRUPT [SEED]] (rates 0..1 or N%), or off`);
          const seed = args[2] === undefined ? 1 : Number(args[2]);
          if (!Number.isInteger(seed) || seed < 0) throw new Error(`${cmd}: SEED must be a whole number, not ${args[2]}`);
          loss.set({ drop: parseRate(args[0], `${cmd} DROP`), corrupt: parseRate(args[1] ?? 0, `${cmd} CORRUPT`), seed });
        }
        return cmd === "lossy" ? { lossy: this.loss.describe() } : { lossy_tx: this.txLoss.describe() };
      }
      case "soft-reset":
        if (!this.w) throw new Error("board is not running");
        this._reboot("soft", { keepInput: true });
        return { reset: "soft" };
      default:
        return undefined;
    }
  }

  describe() {
    return {
      status: this.status,
      repl: this.raw ? "raw" : "friendly",
      banner: this.banner,
      unique_id: this.uniqueId,
      files: this.store.count,
      boots: this.counts,
      state_dir: this.opts.stateDir || null,
      raw_paste: this.opts.rawPaste !== false,
      lossy: this.loss.describe(),
      lossy_tx: this.txLoss.describe(),
    };
  }
}

export function createMicroPythonBoard(opts) {
  return new MicroPythonBoard(opts);
}
