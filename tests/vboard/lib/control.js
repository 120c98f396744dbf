// The control port: a line-based TCP service on 127.0.0.1 for injecting faults and reading state.
// One command per line ("garbage 64\n"); one JSON object per line in reply ({"ok":true,...} or
// {"ok":false,"error":"..."}). Several clients may be connected at once.
import net from "node:net";
import readline from "node:readline";

/**
 * handler(cmd, args) -> object | Promise<object>; throw to reply an error.
 */
export class ControlServer {
  constructor(handler, { port = 0, log = () => {} } = {}) {
    this.handler = handler;
    this.wantPort = port;
    this.log = log;
    this.server = null;
    this.port = 0;
    this.socks = new Set();
  }

  get url() {
    return `tcp://127.0.0.1:${this.port}`;
  }

  async start() {
    this.server = net.createServer((sock) => this._accept(sock));
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: "127.0.0.1", port: this.wantPort }, resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  _accept(sock) {
    this.socks.add(sock);
    sock.on("close", () => this.socks.delete(sock));
    sock.on("error", () => {});
    const rl = readline.createInterface({ input: sock, crlfDelay: Infinity });
    // Replies go out in command order even when a handler is async.
    let chain = Promise.resolve();
    rl.on("line", (line) => {
      const words = line.trim().split(/\s+/).filter(Boolean);
      if (!words.length) return;
      const [cmd, ...args] = words;
      chain = chain.then(async () => {
        let reply;
        try {
          reply = { ok: true, ...((await this.handler(cmd.toLowerCase(), args)) || {}) };
        } catch (e) {
          reply = { ok: false, error: e.message };
        }
        if (!sock.destroyed) sock.write(JSON.stringify(reply) + "\n");
      });
    });
  }

  async close() {
    for (const s of this.socks) s.destroy();
    if (this.server) await new Promise((r) => this.server.close(() => r()));
  }
}
