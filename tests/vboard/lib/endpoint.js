// Host-facing endpoints of a virtual board: an RFC 2217 or raw TCP listener on 127.0.0.1, and an optional
// pty (socat bridged to an internal raw listener). One client at a time per listener: a new client
// replaces the old one, as when a crashed program's successor reopens a serial port.
import net from "node:net";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Rfc2217Session } from "./rfc2217.js";

const HOST = "127.0.0.1";

function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onErr = (e) => reject(e);
    server.once("error", onErr);
    server.listen({ host: HOST, port, exclusive: true }, () => {
      server.off("error", onErr);
      resolve(server.address().port);
    });
  });
}

/**
 * A TCP listener feeding a Uart. protocol: "rfc2217" | "raw".
 * Follows uart "unplug"/"replug": closes the listener (connections are refused) and reopens it on the same port.
 */
export class TcpEndpoint {
  constructor(uart, { protocol = "rfc2217", port = 0, log = () => {}, signature } = {}) {
    this.uart = uart;
    this.protocol = protocol;
    this.wantPort = port || 0;
    this.port = 0;
    this.log = log;
    this.signature = signature;
    this.server = null;
    this.current = null; // {sock, link}
    this._onUnplug = () => this._closeListener();
    this.opening = Promise.resolve();
    this._onReplug = () => {
      this.opening = this._open().catch((e) =>
        this.log(`cannot reopen ${protocol} listener on port ${this.port}: ${e.message}`),
      );
    };
    uart.on("unplug", this._onUnplug);
    uart.on("replug", this._onReplug);
  }

  get url() {
    return `${this.protocol === "rfc2217" ? "rfc2217" : "socket"}://${HOST}:${this.port}`;
  }

  async start() {
    await this._open();
    return this;
  }

  async _open() {
    if (this.server) return;
    const server = net.createServer((sock) => this._accept(sock));
    this.port = await listen(server, this.port || this.wantPort);
    this.server = server;
  }

  _closeListener() {
    if (this.current) this.current.sock.destroy();
    this.current = null;
    if (this.server) this.server.close();
    this.server = null;
  }

  _accept(sock) {
    sock.setNoDelay(true);
    if (!this.uart.plugged) return sock.destroy();
    if (this.current) {
      this.log(`${this.protocol} client replaced by a new connection`);
      this.current.sock.destroy();
    }
    const io = {
      write: (b) => {
        if (!sock.destroyed) sock.write(session ? session.encodeData(b) : b);
      },
      close: () => sock.destroy(),
      baud: this.protocol === "rfc2217" ? this.uart.board.rxBaud : null,
    };
    const link = this.uart.attach(io);
    let session = null;
    if (this.protocol === "rfc2217") {
      session = new Rfc2217Session(
        {
          send: (b) => {
            if (!sock.destroyed) sock.write(b);
          },
          onData: (b) => link.rx(b),
          onBaud: (baud) => link.setBaud(baud),
          onLines: (l, at) => link.setLines(l, at),
          onBreak: (on) => link.setBreak(on),
          onPurge: (w) => link.purge(w),
          onSuspend: (on) => link.suspend(on),
        },
        { baud: io.baud, signature: this.signature },
      );
      session.start();
    }
    const cur = { sock, link };
    this.current = cur;
    // One arrival time per read: the SET-CONTROLs of one segment change the lines together, even
    // when this process is preempted between applying them (a loaded host).
    sock.on("data", (d) => (session ? session.feed(d, performance.now()) : link.rx(d)));
    const done = () => {
      link.detach();
      if (this.current === cur) this.current = null;
    };
    sock.on("close", done);
    sock.on("error", () => {});
  }

  async close() {
    this.uart.off("unplug", this._onUnplug);
    this.uart.off("replug", this._onReplug);
    this._closeListener();
  }
}

/**
 * A pty for tools that want a device node: socat links PTY <-> an internal raw TCP endpoint.
 * ptyPath: where the symlink goes (default: a fresh temp dir). No modem lines, no baud (never garbled).
 */
export class PtyEndpoint {
  constructor(uart, { ptyPath, log = () => {} } = {}) {
    this.uart = uart;
    this.log = log;
    this.raw = new TcpEndpoint(uart, { protocol: "raw", log });
    this.tmpDir = ptyPath ? null : fs.mkdtempSync(path.join(os.tmpdir(), "vboard-pty-"));
    this.path = ptyPath || path.join(this.tmpDir, "tty");
    this.proc = null;
    this.stopping = false;
  }

  async start() {
    await this.raw.start();
    await this._spawn();
    return this;
  }

  _spawn() {
    return new Promise((resolve, reject) => {
      try {
        fs.unlinkSync(this.path);
      } catch {}
      const args = [`PTY,link=${this.path},rawer`, `TCP:127.0.0.1:${this.raw.port}`];
      const p = spawn("socat", args, { stdio: ["ignore", "ignore", "pipe"] });
      this.proc = p;
      let err = "";
      p.stderr.on("data", (d) => (err += d));
      p.on("error", (e) => reject(new Error(`cannot run socat (apt-get install socat): ${e.message}`)));
      p.on("exit", (code) => {
        if (this.stopping) return;
        this.log(`socat exited (${code}) ${err.trim()}; restarting the pty`);
        setTimeout(() => this._spawn().catch((e) => this.log(e.message)), 200);
      });
      const t0 = Date.now();
      const poll = () => {
        if (fs.existsSync(this.path)) return resolve();
        if (Date.now() - t0 > 5000) return reject(new Error(`socat did not create ${this.path}: ${err.trim()}`));
        setTimeout(poll, 20);
      };
      poll();
    });
  }

  async close() {
    this.stopping = true;
    if (this.proc && this.proc.exitCode === null) {
      const gone = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      await gone;
    }
    await this.raw.close();
    if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}
