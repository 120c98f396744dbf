// RFC 2217 (Telnet COM-PORT-OPTION) server side: a pure byte codec, no sockets.
// feed() takes bytes from the client; data, baud, modem lines, BREAK and purge come out as callbacks;
// encodeData() escapes board bytes for the wire. Server replies use the client code + 100 (RFC 2217 §2).

export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const NOP = 241;
export const SE = 240;

export const OPT_BINARY = 0;
export const OPT_ECHO = 1;
export const OPT_SGA = 3;
export const OPT_COM_PORT = 44;

// COM-PORT-OPTION sub-commands, client -> server; the server answers with code + SERVER_OFFSET.
export const CPO = Object.freeze({
  SIGNATURE: 0,
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  NOTIFY_LINESTATE: 6,
  NOTIFY_MODEMSTATE: 7,
  FLOWCONTROL_SUSPEND: 8,
  FLOWCONTROL_RESUME: 9,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
});
export const SERVER_OFFSET = 100;

// SET-CONTROL values (RFC 2217 §3).
export const CTL = Object.freeze({
  FLOW_REQUEST: 0,
  FLOW_NONE: 1,
  BREAK_REQUEST: 4,
  BREAK_ON: 5,
  BREAK_OFF: 6,
  DTR_REQUEST: 7,
  DTR_ON: 8,
  DTR_OFF: 9,
  RTS_REQUEST: 10,
  RTS_ON: 11,
  RTS_OFF: 12,
  INFLOW_REQUEST: 13,
  INFLOW_NONE: 14,
});

// Modem state we report: CTS, DSR and CD asserted (a bridge with a board attached).
const MODEM_STATE = 0x10 | 0x20 | 0x80;

// Options we agree to enable on our side (WILL) and on the client's side (DO).
const OURS_OK = new Set([OPT_BINARY, OPT_SGA, OPT_COM_PORT]);
const THEIRS_OK = new Set([OPT_BINARY, OPT_SGA, OPT_COM_PORT]);

/** Double every IAC byte of board data for the Telnet wire. */
export function escapeIac(buf) {
  let n = 0;
  for (const b of buf) if (b === IAC) n++;
  if (n === 0) return Buffer.from(buf);
  const out = Buffer.alloc(buf.length + n);
  let j = 0;
  for (const b of buf) {
    out[j++] = b;
    if (b === IAC) out[j++] = IAC;
  }
  return out;
}

const u32be = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

/**
 * One client connection's Telnet + COM-PORT-OPTION state.
 * handlers: send(buf) [required], onData(buf), onBaud(baud), onDataSize(n), onParity(p), onStopSize(s),
 *           onLines({dtr, rts}, at), onBreak(on), onPurge(which: 1 rx | 2 tx | 3 both), onSuspend(bool)
 * opts: baud (initial line baud reported on query), signature (string)
 */
export class Rfc2217Session {
  constructor(handlers, opts = {}) {
    this.h = handlers;
    this.signature = opts.signature || "corral-vboard";
    this.baud = opts.baud || 115200;
    this.dataSize = 8;
    this.parity = 1; // NONE
    this.stopSize = 1;
    this.dtr = false;
    this.rts = false;
    this.brk = false;
    this.lineMask = 0;
    this.modemMask = 0xff;
    this.ours = new Map(); // option -> "yes" | "no" | "want" (we sent WILL and await DO)
    this.theirs = new Map(); // option -> "yes" | "no" | "want" (we sent DO and await WILL)
    this.state = "data";
    this.cmd = 0;
    this.sb = [];
    this.data = [];
  }

  /** Send our opening negotiation (optional: clients negotiate too; loops are prevented either way). */
  start() {
    this._ask(WILL, OPT_BINARY);
    this._ask(DO, OPT_BINARY);
    this._ask(WILL, OPT_SGA);
    this._ask(DO, OPT_SGA);
    this._ask(DO, OPT_COM_PORT);
  }

  /** Whether the client agreed to COM-PORT-OPTION (WILL COM-PORT-OPTION). */
  get comPortActive() {
    return this.theirs.get(OPT_COM_PORT) === "yes";
  }

  encodeData(buf) {
    return escapeIac(buf);
  }

  /** Bytes from the client; at = when they arrived (performance.now()), passed on with line changes. */
  feed(buf, at = performance.now()) {
    this.at = at;
    for (const b of buf) this._byte(b);
    this._flushData();
  }

  _flushData() {
    if (this.data.length) {
      const d = Buffer.from(this.data);
      this.data = [];
      this.h.onData?.(d);
    }
  }

  _byte(b) {
    switch (this.state) {
      case "data":
        if (b === IAC) this.state = "iac";
        else this.data.push(b);
        return;
      case "iac":
        if (b === IAC) {
          this.data.push(IAC);
          this.state = "data";
        } else if (b === WILL || b === WONT || b === DO || b === DONT) {
          this.cmd = b;
          this.state = "opt";
        } else if (b === SB) {
          this.sb = [];
          this.state = "sb";
        } else {
          this.state = "data"; // NOP, AYT, GA, ...: ignored
        }
        return;
      case "opt":
        this.state = "data";
        this._flushData(); // keep data and control in arrival order
        this._negotiate(this.cmd, b);
        return;
      case "sb":
        if (b === IAC) this.state = "sb_iac";
        else this.sb.push(b);
        return;
      case "sb_iac":
        if (b === IAC) {
          this.sb.push(IAC);
          this.state = "sb";
        } else if (b === SE) {
          this.state = "data";
          this._flushData();
          this._subnegotiation(Buffer.from(this.sb));
        } else {
          this.state = "data"; // malformed: drop the subnegotiation
        }
        return;
    }
  }

  _send(...bytes) {
    this.h.send(Buffer.from(bytes));
  }

  _ask(cmd, opt) {
    const table = cmd === WILL ? this.ours : this.theirs;
    if (table.get(opt) === "yes" || table.get(opt) === "want") return;
    table.set(opt, "want");
    this._send(IAC, cmd, opt);
  }

  // RFC 1143-style: answer only requests that change state, so two peers never loop.
  _negotiate(cmd, opt) {
    if (cmd === WILL || cmd === WONT) {
      const prev = this.theirs.get(opt);
      if (cmd === WILL) {
        if (!THEIRS_OK.has(opt)) {
          this._send(IAC, DONT, opt);
          this.theirs.set(opt, "no");
        } else if (prev !== "yes") {
          if (prev !== "want") this._send(IAC, DO, opt);
          this.theirs.set(opt, "yes");
        }
      } else {
        if (prev === "yes") this._send(IAC, DONT, opt);
        this.theirs.set(opt, "no");
      }
    } else {
      const prev = this.ours.get(opt);
      if (cmd === DO) {
        if (!OURS_OK.has(opt)) {
          this._send(IAC, WONT, opt);
          this.ours.set(opt, "no");
        } else if (prev !== "yes") {
          if (prev !== "want") this._send(IAC, WILL, opt);
          this.ours.set(opt, "yes");
        }
      } else {
        if (prev === "yes") this._send(IAC, WONT, opt);
        this.ours.set(opt, "no");
      }
    }
  }

  _reply(code, payload) {
    const body = Buffer.concat([Buffer.from([OPT_COM_PORT, code + SERVER_OFFSET]), Buffer.from(payload)]);
    this.h.send(Buffer.concat([Buffer.from([IAC, SB]), escapeIac(body), Buffer.from([IAC, SE])]));
  }

  _subnegotiation(sb) {
    if (sb.length < 2 || sb[0] !== OPT_COM_PORT) return;
    const code = sb[1];
    const arg = sb.subarray(2);
    switch (code) {
      case CPO.SIGNATURE:
        if (arg.length === 0) this._reply(code, Buffer.from(this.signature));
        return;
      case CPO.SET_BAUDRATE: {
        if (arg.length < 4) return;
        const baud = arg.readUInt32BE(0);
        if (baud !== 0) {
          this.baud = baud;
          this.h.onBaud?.(baud);
        }
        this._reply(code, u32be(this.baud));
        return;
      }
      case CPO.SET_DATASIZE:
        if (arg[0]) {
          this.dataSize = arg[0];
          this.h.onDataSize?.(arg[0]);
        }
        this._reply(code, [this.dataSize]);
        return;
      case CPO.SET_PARITY:
        if (arg[0]) {
          this.parity = arg[0];
          this.h.onParity?.(arg[0]);
        }
        this._reply(code, [this.parity]);
        return;
      case CPO.SET_STOPSIZE:
        if (arg[0]) {
          this.stopSize = arg[0];
          this.h.onStopSize?.(arg[0]);
        }
        this._reply(code, [this.stopSize]);
        return;
      case CPO.SET_CONTROL:
        this._setControl(arg[0] ?? 0);
        return;
      case CPO.NOTIFY_MODEMSTATE:
        this._reply(code, [MODEM_STATE & this.modemMask]);
        return;
      case CPO.NOTIFY_LINESTATE:
        this._reply(code, [0]);
        return;
      case CPO.FLOWCONTROL_SUSPEND:
        this.h.onSuspend?.(true);
        return;
      case CPO.FLOWCONTROL_RESUME:
        this.h.onSuspend?.(false);
        return;
      case CPO.SET_LINESTATE_MASK:
        this.lineMask = arg[0] ?? 0;
        this._reply(code, [this.lineMask]);
        return;
      case CPO.SET_MODEMSTATE_MASK:
        this.modemMask = arg[0] ?? 0;
        this._reply(code, [this.modemMask]);
        return;
      case CPO.PURGE_DATA:
        this.h.onPurge?.(arg[0] ?? 3);
        this._reply(code, [arg[0] ?? 3]);
        return;
      default:
        return; // unknown: RFC 2217 says ignore
    }
  }

  _setControl(v) {
    const code = CPO.SET_CONTROL;
    const lines = () => this.h.onLines?.({ dtr: this.dtr, rts: this.rts }, this.at);
    switch (v) {
      case CTL.FLOW_REQUEST:
        return this._reply(code, [CTL.FLOW_NONE]);
      case CTL.BREAK_REQUEST:
        return this._reply(code, [this.brk ? CTL.BREAK_ON : CTL.BREAK_OFF]);
      case CTL.BREAK_ON:
      case CTL.BREAK_OFF:
        this.brk = v === CTL.BREAK_ON;
        this.h.onBreak?.(this.brk);
        return this._reply(code, [v]);
      case CTL.DTR_REQUEST:
        return this._reply(code, [this.dtr ? CTL.DTR_ON : CTL.DTR_OFF]);
      case CTL.DTR_ON:
      case CTL.DTR_OFF:
        this.dtr = v === CTL.DTR_ON;
        this._reply(code, [v]);
        return lines();
      case CTL.RTS_REQUEST:
        return this._reply(code, [this.rts ? CTL.RTS_ON : CTL.RTS_OFF]);
      case CTL.RTS_ON:
      case CTL.RTS_OFF:
        this.rts = v === CTL.RTS_ON;
        this._reply(code, [v]);
        return lines();
      case CTL.INFLOW_REQUEST:
        return this._reply(code, [CTL.INFLOW_NONE]);
      default:
        return this._reply(code, [v]); // flow-control settings: accepted as asked (no flow control modelled)
    }
  }
}
