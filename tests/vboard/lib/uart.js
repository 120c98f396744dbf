// The wire between a Board and its host connections: baud mismatch garbling, pacing at baud/10 bytes/s,
// per-response latency, a USB-serial bridge's baud limit, and the faults tests inject (unplug, hang, garbage).
import { EventEmitter } from "node:events";

// A UART receiver tolerates a few percent of clock error; beyond that every frame is garbage.
const BAUD_TOLERANCE = 0.03;

/** True if bytes sent at `fromBaud` arrive intact at a receiver running at `toBaud`. */
export function baudsMatch(fromBaud, toBaud) {
  if (!fromBaud || !toBaud) return true;
  return Math.abs(fromBaud - toBaud) / toBaud <= BAUD_TOLERANCE;
}

function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A bridge past its limit: the host asked for `hostBaud` but the bridge's UART cannot make it, so the
 * line runs at the bridge's best and every byte is garbled both ways (as a CP2102 asked for 3 Mbaud).
 * Returns the baud the wire really runs at for garbling purposes (null = no limit or within it).
 */
export function bridgeBaud(hostBaud, maxBaud) {
  if (!maxBaud || !hostBaud || hostBaud <= maxBaud * (1 + BAUD_TOLERANCE)) return null;
  return maxBaud;
}

/**
 * Deterministic garble: what a receiver at `toBaud` makes of bytes sent at `fromBaud`.
 * A slower receiver sees fewer frames (toBaud/fromBaud per byte); a faster one splits each slow frame into
 * at most two. Each output byte is a hash of the input byte, its position in the stream and the two bauds.
 * `st` ({acc, n}) carries the stream position between calls.
 */
export function garble(buf, fromBaud, toBaud, st = { acc: 0, n: 0 }) {
  const ratio = Math.min(2, toBaud / fromBaud);
  const out = [];
  for (const b of buf) {
    st.acc += ratio;
    while (st.acc >= 1) {
      st.acc -= 1;
      out.push(mix32((b + 1) * 0x9e3779b1 + st.n++ * 0x85ebca6b + fromBaud * 31 + toBaud) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Pseudo-random bytes for the `garbage` fault. */
export function noise(n, seed = Date.now()) {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = mix32(seed + i * 0x9e3779b1) & 0xff;
  return out;
}

/**
 * A byte queue drained to `sink` no faster than `rate()` bytes/s (Infinity = no pacing) and never before
 * each chunk's due time (latency). Order is always preserved.
 */
class Pacer {
  constructor(sink, rate) {
    this.sink = sink;
    this.rate = rate;
    this.q = []; // {buf, due}
    this.timer = null;
    this.lineAt = 0; // virtual time (ms) at which the line has sent everything handed to the sink
  }
  push(buf, due = 0) {
    if (!buf.length) return;
    const now = performance.now();
    if (!this.q.length) this.lineAt = Math.max(this.lineAt, now); // an idle line earns no credit
    const prev = this.q.length ? this.q[this.q.length - 1].due : 0;
    this.q.push({ buf, due: Math.max(due, prev) });
    this._drain();
  }
  clear() {
    this.q = [];
  }
  get pending() {
    let n = 0;
    for (const c of this.q) n += c.buf.length;
    return n;
  }
  close() {
    this.q = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
  _drain() {
    if (this.timer) return;
    const now = performance.now();
    const rate = this.rate();
    let wait = 0;
    while (this.q.length) {
      const head = this.q[0];
      if (head.due > now) {
        wait = head.due - now;
        break;
      }
      if (rate === Infinity) {
        this.sink(this.q.shift().buf);
        continue;
      }
      this.lineAt = Math.max(this.lineAt, head.due);
      const n = Math.min(head.buf.length, Math.floor(((now - this.lineAt) * rate) / 1000));
      if (n < 1) {
        wait = (1000 / rate) - (now - this.lineAt);
        break;
      }
      this.sink(head.buf.subarray(0, n));
      this.lineAt += (n * 1000) / rate;
      if (n === head.buf.length) this.q.shift();
      else head.buf = head.buf.subarray(n);
    }
    if (!this.q.length) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this._drain();
    }, Math.max(1, Math.ceil(wait)));
  }
}

/**
 * One host-side connection (an RFC 2217 client, a raw TCP client or the pty bridge).
 * Create with uart.attach({write, close, baud}); baud null = "whatever the board uses" (raw TCP, pty).
 */
class Link {
  constructor(uart, io) {
    this.uart = uart;
    this.io = io;
    this.baud = io.baud ?? null;
    this.dtr = false;
    this.rts = false;
    this.suspended = false;
    this.inGarble = { acc: 0, n: 0 };
    this.outGarble = { acc: 0, n: 0 };
    this.toHost = new Pacer(
      (b) => {
        if (!this.suspended) io.write(b);
      },
      () => (uart.pacing ? (uart.board.txBaud || 115200) / 10 : Infinity),
    );
    this.toBoard = new Pacer(
      (b) => uart._deliver(b),
      () => (uart.pacing ? (this.baud || uart.board.rxBaud || 115200) / 10 : Infinity),
    );
  }
  /** Bytes from the host. */
  rx(buf) {
    if (!this.uart.plugged || this.uart.hung || !buf.length) return;
    // Above the bridge's limit the bytes leave the bridge at its own (wrong) rate.
    const from = bridgeBaud(this.baud, this.uart.bridgeMaxBaud) ?? (this.baud || this.uart.board.rxBaud);
    const bytes = baudsMatch(from, this.uart.board.rxBaud) ? buf : garble(buf, from, this.uart.board.rxBaud, this.inGarble);
    this.toBoard.push(Buffer.from(bytes));
  }
  setBaud(baud) {
    this.baud = baud;
    this.uart.board.onHostBaud(baud);
  }
  setLines({ dtr, rts }, at) {
    this.dtr = dtr;
    this.rts = rts;
    if (this.uart.plugged) this.uart.board.onLines({ dtr, rts }, at);
  }
  setBreak(on) {
    if (this.uart.plugged) this.uart.board.onBreak(on);
  }
  /**
   * RFC 2217 PURGE-DATA, seen from the access server (the bridge): 1 = its receive buffer, what it
   * received from the serial device and has not sent to the client yet (board->host; pyserial's
   * reset_input_buffer sends 1); 2 = its transmit buffer, client bytes not yet sent to the device
   * (host->board; reset_output_buffer); 3 = both.
   */
  purge(which = 3) {
    if (which & 1) this.toHost.clear();
    if (which & 2) this.toBoard.clear();
    this.uart.board.onPurge();
  }
  suspend(on) {
    this.suspended = on;
  }
  _fromBoard(buf) {
    const to = bridgeBaud(this.baud, this.uart.bridgeMaxBaud) ?? (this.baud || this.uart.board.txBaud);
    const bytes = baudsMatch(this.uart.board.txBaud, to) ? buf : garble(buf, this.uart.board.txBaud, to, this.outGarble);
    this.toHost.push(Buffer.from(bytes), performance.now() + this.uart.latencyMs);
  }
  detach() {
    this.uart._detach(this);
  }
}

/**
 * Events: "unplug", "replug" (endpoints close/refuse and reopen their listeners).
 * opts: pacing (default true), latencyMs (default 0), bridgeMaxBaud (default 0: no limit), log(msg)
 */
export class Uart extends EventEmitter {
  constructor(board, opts = {}) {
    super();
    this.board = board;
    this.pacing = opts.pacing !== false;
    this.latencyMs = opts.latencyMs || 0;
    this.bridgeMaxBaud = opts.bridgeMaxBaud || 0;
    this.log = opts.log || (() => {});
    this.plugged = true;
    this.hung = false;
    this.links = new Set();
    this.stats = { toHost: 0, toBoard: 0, dropped: 0 };
    this._onTx = (buf) => this._fromBoard(buf);
    board.on("tx", this._onTx);
    board.txPending = () => {
      let n = 0;
      for (const l of this.links) n = Math.max(n, l.toHost.pending);
      return n;
    };
  }

  attach(io) {
    const link = new Link(this, io);
    this.links.add(link);
    return link;
  }

  _detach(link) {
    if (!this.links.delete(link)) return;
    link.toHost.close();
    link.toBoard.close();
    // A closed port drops DTR/RTS (HUPCL); tell the board if the lines were up.
    if ((link.dtr || link.rts) && this.plugged) this.board.onLines({ dtr: false, rts: false });
  }

  _deliver(buf) {
    if (!this.plugged || this.hung) return;
    this.stats.toBoard += buf.length;
    this.board.onRx(buf);
  }

  _fromBoard(buf) {
    if (!this.plugged || this.hung || this.links.size === 0) {
      this.stats.dropped += buf.length;
      return;
    }
    this.stats.toHost += buf.length;
    for (const l of this.links) l._fromBoard(buf);
  }

  unplug() {
    if (!this.plugged) return;
    this.plugged = false;
    this.hung = false; // a hang is the board's own state: losing power ends it (a power cycle recovers it)
    for (const l of [...this.links]) {
      l.io.close();
      this._detach(l);
    }
    this.emit("unplug");
    this.board.onPower(false);
  }

  replug() {
    if (this.plugged) return;
    this.plugged = true;
    this.emit("replug");
    this.board.onPower(true);
  }

  hang(on) {
    this.hung = on;
    if (on) for (const l of this.links) l.toHost.clear();
  }

  /** Emit n random-looking bytes to every host at once, without pacing. */
  garbage(n) {
    const buf = noise(n);
    if (!this.plugged) return 0;
    for (const l of this.links) l.io.write(buf);
    return this.links.size ? n : 0;
  }

  state() {
    return {
      plugged: this.plugged,
      hung: this.hung,
      pacing: this.pacing,
      latency_ms: this.latencyMs,
      bridge_max_baud: this.bridgeMaxBaud || null,
      clients: this.links.size,
      board_baud: this.board.txBaud,
      host_baud: [...this.links].map((l) => l.baud).find((b) => b) ?? null,
      dtr: [...this.links].some((l) => l.dtr),
      rts: [...this.links].some((l) => l.rts),
      bytes_to_host: this.stats.toHost,
      bytes_to_board: this.stats.toBoard,
    };
  }

  close() {
    this.board.off("tx", this._onTx);
    for (const l of [...this.links]) this._detach(l);
  }
}
