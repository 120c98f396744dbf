// Test helpers for the virtual board lab: start a vboard process and talk to its endpoints.
//   startVboard(args)        -> {info, infos, endpoint, control, proc, stderr(), kill()}
//   Rfc2217Client.connect(u) -> minimal RFC 2217 client (Telnet negotiation, IAC escaping, baud, DTR/RTS)
//   RawClient.connect(u)     -> plain TCP (socket://)
//   controlCmd(url, line)    -> one control command, its JSON reply
// Waiting is by content with generous deadlines, never by fixed sleeps.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const VBOARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "vboard");

/** Deadline helper: multiply timeouts on slow machines with VBOARD_TIMEOUT_SCALE. */
export const T = (ms) => ms * Number(process.env.VBOARD_TIMEOUT_SCALE || 1);

/**
 * Start `vboard ARGS...`; resolves after `lines` JSON lines (default 1) were printed.
 * Rejects (with vboard's stderr) if it exits first or takes longer than timeoutMs.
 */
export function startVboard(args, { lines = 1, timeoutMs = T(20000), env } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [VBOARD, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let err = "";
    let out = "";
    const infos = [];
    proc.stderr.on("data", (d) => {
      err += d;
      if (process.env.VBOARD_DEBUG) process.stderr.write(d);
    });
    const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`vboard ${args.join(" ")}: no JSON line within ${timeoutMs} ms; stderr:\n${err}`));
    }, timeoutMs);
    proc.on("exit", (code, sig) => {
      clearTimeout(timer);
      if (infos.length < lines) reject(new Error(`vboard ${args.join(" ")} exited (${sig || code}) before its JSON line; stderr:\n${err}`));
    });
    proc.stdout.on("data", (d) => {
      out += d;
      let i;
      while ((i = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        infos.push(JSON.parse(line));
        if (infos.length === lines) {
          clearTimeout(timer);
          resolve({
            info: infos[0],
            infos,
            endpoint: infos[0].endpoint,
            control: infos[0].control,
            proc,
            stdoutRest: () => out,
            stderr: () => err,
            exited,
            /** SIGTERM (default); resolves with {code, sig}. */
            async kill(signal = "SIGTERM") {
              if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
              const t = setTimeout(() => proc.kill("SIGKILL"), T(10000));
              const r = await exited;
              clearTimeout(t);
              return r;
            },
          });
        }
      }
    });
  });
}

function hostPort(url) {
  const m = /^[a-z0-9]+:\/\/([^:/]+):(\d+)/.exec(url);
  if (!m) throw new Error(`bad endpoint url ${url}`);
  return { host: m[1], port: Number(m[2]) };
}

/** Accumulates received bytes; waitFor() looks for a string/regex/predicate after a cursor. */
class Receiver {
  constructor() {
    this.data = Buffer.alloc(0);
    this.cursor = 0;
    this.closed = false;
    this.waiters = new Set();
  }
  _push(buf) {
    this.data = Buffer.concat([this.data, buf]);
    this._wake();
  }
  _wake() {
    for (const w of [...this.waiters]) w();
  }
  /** Text received since the cursor (latin1, byte-exact). */
  get text() {
    return this.data.subarray(this.cursor).toString("latin1");
  }
  /** Forget what was received so far (waitFor looks only at newer bytes). */
  mark() {
    this.cursor = this.data.length;
  }
  /**
   * Wait until the bytes after the cursor match. pattern: string | RegExp | (text) => boolean.
   * Resolves with the text after the cursor; consume=true moves the cursor past the match.
   */
  waitFor(pattern, { timeoutMs = T(10000), consume = true } = {}) {
    const test = (t) => {
      if (typeof pattern === "string") {
        const i = t.indexOf(pattern);
        return i < 0 ? -1 : i + pattern.length;
      }
      if (pattern instanceof RegExp) {
        const m = pattern.exec(t);
        return m ? m.index + m[0].length : -1;
      }
      return pattern(t) ? t.length : -1;
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        const t = this.text;
        const end = test(t);
        if (end >= 0) {
          done();
          if (consume) this.cursor += end;
          resolve(t.slice(0, end));
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed while waiting for ${pattern}; got ${JSON.stringify(t)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout (${timeoutMs} ms) waiting for ${pattern}; got ${JSON.stringify(this.text)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
  /** Wait until at least n bytes arrived after the cursor. */
  waitBytes(n, opts) {
    return this.waitFor((t) => t.length >= n, opts);
  }
  /** Resolves when the peer closes the connection (rejects after timeoutMs). */
  waitClosed({ timeoutMs = T(10000) } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`connection still open after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

function connectSocket(url, timeoutMs) {
  const { host, port } = hostPort(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${url}: timeout`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export class RawClient extends Receiver {
  static async connect(url, { timeoutMs = T(10000) } = {}) {
    const c = new RawClient();
    c.sock = await connectSocket(url, timeoutMs);
    c.sock.on("data", (d) => c._push(d));
    c.sock.on("close", () => {
      c.closed = true;
      c._wake();
    });
    c.sock.on("error", () => {});
    return c;
  }
  write(data) {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data));
  }
  close() {
    this.sock.destroy();
  }
}

// Telnet / RFC 2217 constants (client side: requests use the base codes, replies come back +100).
const IAC = 255, WILL = 251, WONT = 252, DO = 253, DONT = 254, SB = 250, SE = 240;
const BINARY = 0, SGA = 3, COM_PORT = 44;
const SET_BAUDRATE = 1, SET_CONTROL = 5, PURGE_DATA = 12;

export class Rfc2217Client extends Receiver {
  /** Connect and negotiate BINARY, SGA and COM-PORT-OPTION; resolves once the server agreed to COM-PORT. */
  static async connect(url, { timeoutMs = T(10000) } = {}) {
    const c = new Rfc2217Client();
    c.sock = await connectSocket(url, timeoutMs);
    c.replies = []; // [{code, value: Buffer}] COM-PORT-OPTION answers from the server
    c.negotiation = []; // [[cmd, opt]] received
    c.replyWaiters = [];
    c.state = "data";
    c.sb = [];
    c.sock.on("data", (d) => c._feed(d));
    c.sock.on("close", () => {
      c.closed = true;
      c._wake();
      for (const w of c.replyWaiters) w(null);
    });
    c.sock.on("error", () => {});
    c.sent = { [`${WILL},${BINARY}`]: 1, [`${DO},${BINARY}`]: 1, [`${WILL},${SGA}`]: 1, [`${DO},${SGA}`]: 1, [`${WILL},${COM_PORT}`]: 1 };
    c.sock.write(Buffer.from([IAC, WILL, BINARY, IAC, DO, BINARY, IAC, WILL, SGA, IAC, DO, SGA, IAC, WILL, COM_PORT]));
    await c._waitNeg(DO, COM_PORT, timeoutMs);
    return c;
  }

  _waitNeg(cmd, opt, timeoutMs) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.negotiation.some(([c, o]) => c === cmd && o === opt)) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`server did not send ${cmd}/${opt} (got ${JSON.stringify(this.negotiation)})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  _feed(buf) {
    const data = [];
    for (const b of buf) {
      switch (this.state) {
        case "data":
          if (b === IAC) this.state = "iac";
          else data.push(b);
          break;
        case "iac":
          if (b === IAC) {
            data.push(IAC);
            this.state = "data";
          } else if (b >= WILL && b <= DONT) {
            this.cmd = b;
            this.state = "opt";
          } else if (b === SB) {
            this.sb = [];
            this.state = "sb";
          } else this.state = "data";
          break;
        case "opt":
          this._negotiate(this.cmd, b);
          this.state = "data";
          break;
        case "sb":
          if (b === IAC) this.state = "sbiac";
          else this.sb.push(b);
          break;
        case "sbiac":
          if (b === IAC) {
            this.sb.push(IAC);
            this.state = "sb";
          } else {
            if (this.sb[0] === COM_PORT) {
              const r = { code: this.sb[1], value: Buffer.from(this.sb.slice(2)) };
              this.replies.push(r);
              const w = this.replyWaiters.find((x) => x.code === r.code);
              if (w) {
                this.replyWaiters.splice(this.replyWaiters.indexOf(w), 1);
                w(r);
              }
            }
            this.state = "data";
          }
          break;
      }
    }
    if (data.length) this._push(Buffer.from(data));
    this._wake();
  }

  _negotiate(cmd, opt) {
    this.negotiation.push([cmd, opt]);
    const ok = opt === BINARY || opt === SGA || opt === COM_PORT;
    // Answer only what we did not ask for ourselves (no negotiation loops).
    const answer = cmd === WILL ? (ok ? DO : DONT) : cmd === DO ? (ok ? WILL : WONT) : null;
    if (answer === null) return;
    const key = `${answer},${opt}`;
    if (this.sent[key]) return;
    this.sent[key] = 1;
    this.sock.write(Buffer.from([IAC, answer, opt]));
  }

  /** Send a COM-PORT-OPTION request; resolves with the server's reply {code (= request + 100), value}. */
  request(code, value, { timeoutMs = T(5000) } = {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to COM-PORT-OPTION ${code}`)), timeoutMs);
      const w = (r) => {
        clearTimeout(timer);
        if (r) resolve(r);
        else reject(new Error("connection closed"));
      };
      w.code = code + 100;
      this.replyWaiters.push(w);
      const body = [];
      for (const b of [COM_PORT, code, ...value]) {
        body.push(b);
        if (b === IAC) body.push(IAC);
      }
      this.sock.write(Buffer.from([IAC, SB, ...body, IAC, SE]));
    });
  }

  async setBaud(baud) {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(baud);
    const r = await this.request(SET_BAUDRATE, [...v]);
    return r.value.readUInt32BE(0);
  }
  setDtr(on) {
    return this.request(SET_CONTROL, [on ? 8 : 9]);
  }
  setRts(on) {
    return this.request(SET_CONTROL, [on ? 11 : 12]);
  }
  purge(which = 3) {
    return this.request(PURGE_DATA, [which]);
  }
  /** Send data, doubling IAC bytes. */
  write(data) {
    const buf = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
    const out = [];
    for (const b of buf) {
      out.push(b);
      if (b === IAC) out.push(IAC);
    }
    this.sock.write(Buffer.from(out));
  }
  close() {
    this.sock.destroy();
  }
}

/** Send one control command; resolves with the parsed JSON reply. */
export async function controlCmd(url, line, { timeoutMs = T(10000) } = {}) {
  const c = await RawClient.connect(url, { timeoutMs });
  try {
    c.write(line + "\n");
    const t = await c.waitFor("\n", { timeoutMs });
    return JSON.parse(t);
  } finally {
    c.close();
  }
}

/**
 * Bring a MicroPython board (over any client) to a fresh friendly prompt: Ctrl-C twice, then Ctrl-B, whose
 * banner (the last thing it prints) marks the point after which all output is new.
 */
let syncSeq = 0;
export async function friendlyPrompt(c, { timeoutMs = T(10000) } = {}) {
  c.write("\x03\x03\x02");
  await c.waitFor(/Type "help\(\)" for more information\.\r\n>>> $/, { timeoutMs });
  // A board that was still booting may print a second banner: sync on a marker only this call can produce.
  const n = ++syncSeq;
  c.write(`print('sync%d' % ${n})\r`);
  await c.waitFor(`sync${n}\r\n>>> `, { timeoutMs });
  c.mark();
}

/** Enter the raw REPL from anywhere; leaves the cursor after the raw prompt. */
export async function rawRepl(c, { timeoutMs = T(10000) } = {}) {
  c.write("\r\x03\x03\x01");
  await c.waitFor("raw REPL; CTRL-B to exit\r\n>", { timeoutMs });
  c.mark();
}
