// esptool-js <-> virtual board adapters for tests (esp-rom.md §8.2): the Web Serial "SerialPort" duck type
// implemented (a) in-process over a UART pipe onto a Board object, and (b) over a real RFC 2217 TCP
// connection (a vboard endpoint). Both expose the same members, so tests can run against either.
import net from "node:net";
import { ESPLoader, Transport } from "esptool-js";

// ------------------------------------------------------------------------------------------------
// In-process UART pipe: wire time at the right baud, garbling when the two ends disagree on the baud.

function garble(buf, seed) {
  // A receiver at the wrong baud sees framing garbage; never a clean SLIP frame.
  const n = Math.max(1, Math.round(buf.length * 0.7));
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (((buf[i % buf.length] * 37) ^ (seed + i * 11)) & 0x7f) | 0x80;
  for (let i = 0; i < n; i++) if (out[i] === 0xc0 || out[i] === 0xdb) out[i] = 0xfe;
  return out;
}

export class UartPipe {
  /** @param board a Board; opts.pace: model wire time (default true) */
  constructor(board, { pace = true } = {}) {
    this.board = board;
    this.pace = pace;
    this.hostBaud = 115200;
    this.toHostAt = 0;
    this.toBoardAt = 0;
    this.onHostData = null; // (Buffer) => void
    this.log = []; // {dir, baud, ok, len}
    this._onTx = (b) => this._boardTx(b);
    board.on("tx", this._onTx);
  }
  close() {
    this.board.off("tx", this._onTx);
  }
  setHostBaud(baud) {
    this.hostBaud = baud;
    this.board.onHostBaud?.(baud);
  }
  _delay(bytes, baud, key) {
    const now = Date.now();
    if (!this.pace) return 0;
    this[key] = Math.max(now, this[key]) + (bytes * 10 * 1000) / baud;
    return this[key] - now;
  }
  _boardTx(b) {
    const baud = this.board.txBaud;
    const ok = baud === this.hostBaud;
    const data = ok ? b : garble(b, baud & 0xff);
    this.log.push({ dir: "rx", baud, ok, len: b.length });
    const d = this._delay(b.length, baud, "toHostAt");
    const deliver = () => this.onHostData?.(data);
    if (d <= 0) deliver(); else setTimeout(deliver, d);
  }
  hostWrite(b) {
    const d = this._delay(b.length, this.hostBaud, "toBoardAt");
    const deliver = () => {
      const ok = this.hostBaud === this.board.rxBaud || this.board.acceptsAnyBaud;
      if (ok && this.hostBaud !== this.board.rxBaud) this.board.onHostBaud?.(this.hostBaud);
      this.board.onRx(ok ? Buffer.from(b) : garble(b, this.hostBaud & 0xff));
    };
    if (d <= 0) setImmediate(deliver); else setTimeout(deliver, d);
  }
}

/** Web Serial SerialPort duck type over an in-process UartPipe. */
export class InProcessSerialPort {
  constructor(board, opts = {}) {
    this.board = board;
    this.pipe = new UartPipe(board, opts);
    this.readable = null;
    this.writable = null;
  }
  getInfo() {
    return {};
  }
  async open({ baudRate = 115200 } = {}) {
    this.pipe.setHostBaud(baudRate);
    let ctrl;
    this.readable = new ReadableStream({ start: (c) => { ctrl = c; }, cancel: () => { this.pipe.onHostData = null; } });
    this.pipe.onHostData = (d) => { try { ctrl.enqueue(new Uint8Array(d)); } catch { /* closed */ } };
    this.writable = new WritableStream({ write: (chunk) => { this.pipe.hostWrite(Buffer.from(chunk)); } });
  }
  async close() {
    this.pipe.onHostData = null;
    this.readable = null;
    this.writable = null;
  }
  async setSignals(s) {
    const lines = {};
    if (s.dataTerminalReady !== undefined) lines.dtr = !!s.dataTerminalReady;
    if (s.requestToSend !== undefined) lines.rts = !!s.requestToSend;
    this.board.onLines(lines);
  }
  async setBaudRate(baud) {
    this.pipe.setHostBaud(baud);
  }
  dispose() {
    this.pipe.close();
  }
}

// ------------------------------------------------------------------------------------------------
// RFC 2217 client (Telnet COM-PORT-OPTION): the way corral and esptool reach remote ports.

const IAC = 255, SB = 250, SE = 240, WILL = 251, WONT = 252, DO = 253, DONT = 254;
const COM_PORT = 44, BINARY = 0, SGA = 3;
const SET_BAUDRATE = 1, SET_DATASIZE = 2, SET_PARITY = 3, SET_STOPSIZE = 4, SET_CONTROL = 5;

export class Rfc2217SerialPort {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.sock = null;
    this.readable = null;
    this.writable = null;
    this.state = 0; // telnet parser
    this.sb = [];
  }
  getInfo() {
    return {};
  }
  _sb(cmd, payload) {
    const body = [];
    for (const b of payload) { body.push(b); if (b === IAC) body.push(IAC); }
    this.sock.write(Buffer.from([IAC, SB, COM_PORT, cmd, ...body, IAC, SE]));
  }
  async open({ baudRate = 115200 } = {}) {
    this.sock = await new Promise((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port }, () => resolve(s));
      s.once("error", reject);
    });
    this.sock.setNoDelay(true);
    let ctrl;
    this.readable = new ReadableStream({ start: (c) => { ctrl = c; }, cancel: () => {} });
    this.sock.on("data", (d) => {
      const data = this._telnetIn(d);
      if (data.length) { try { ctrl.enqueue(new Uint8Array(data)); } catch { /* closed */ } }
    });
    this.sock.on("error", () => {});
    this.writable = new WritableStream({
      write: (chunk) => new Promise((r) => {
        const out = [];
        for (const b of chunk) { out.push(b); if (b === IAC) out.push(IAC); }
        this.sock.write(Buffer.from(out), r);
      }),
    });
    this.sock.write(Buffer.from([IAC, WILL, COM_PORT, IAC, WILL, BINARY, IAC, DO, BINARY, IAC, WILL, SGA, IAC, DO, SGA]));
    await this.setBaudRate(baudRate);
    this._sb(SET_DATASIZE, [8]);
    this._sb(SET_PARITY, [1]);
    this._sb(SET_STOPSIZE, [1]);
  }
  _telnetIn(d) {
    const out = [];
    for (const b of d) {
      switch (this.state) {
        case 0: if (b === IAC) this.state = 1; else out.push(b); break;
        case 1:
          if (b === IAC) { out.push(IAC); this.state = 0; }
          else if (b === SB) { this.sb = []; this.state = 3; }
          else if (b >= WILL && b <= DONT) { this.neg = b; this.state = 2; }
          else this.state = 0;
          break;
        case 2: {
          const ok = [COM_PORT, BINARY, SGA].includes(b);
          if (this.neg === DO && !ok) this.sock.write(Buffer.from([IAC, WONT, b]));
          if (this.neg === WILL && !ok) this.sock.write(Buffer.from([IAC, DONT, b]));
          this.state = 0;
          break;
        }
        case 3: if (b === IAC) this.state = 4; else this.sb.push(b); break;
        case 4: if (b === SE) this.state = 0; else { this.sb.push(b); this.state = 3; } break;
      }
    }
    return Buffer.from(out);
  }
  async close() {
    this.sock?.destroy();
    this.sock = null;
    this.readable = null;
    this.writable = null;
  }
  async setSignals(s) {
    if (s.dataTerminalReady !== undefined) this._sb(SET_CONTROL, [s.dataTerminalReady ? 8 : 9]);
    if (s.requestToSend !== undefined) this._sb(SET_CONTROL, [s.requestToSend ? 11 : 12]);
    await new Promise((r) => setTimeout(r, 2)); // let the server apply it before the next step
  }
  async setBaudRate(baud) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(baud);
    this._sb(SET_BAUDRATE, [...b]);
  }
  dispose() {}
}

// ------------------------------------------------------------------------------------------------

/** An ESPLoader on a port, with its terminal output collected in `lines`. */
export function makeLoader(port, { baudrate = 115200, romBaudrate = 115200, debug = false } = {}) {
  const lines = [];
  let partial = "";
  const terminal = {
    clean() {},
    writeLine(s) { lines.push(partial + s); partial = ""; if (debug) console.log(s); },
    write(s) { partial += s; if (debug) process.stdout.write(s); },
  };
  const transport = new Transport(port, false);
  const loader = new ESPLoader({ transport, baudrate, romBaudrate, terminal, debugLogging: false });
  return { loader, transport, lines };
}
