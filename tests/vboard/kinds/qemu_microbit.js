// Kind "qemu-microbit": Debian's micro:bit MicroPython firmware run by qemu-system-arm -M microbit.
// The UART is QEMU's own TCP chardev (socket://, one client at a time); no wire model in between.
// QMP on QEMU's stdio finds the listening port (port 0 = ephemeral) and serves the control commands.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { hexToBin } from "../lib/ihex.js";

export const DEFAULT_HEX = "/usr/share/firmware-microbit-micropython/firmware.hex";
const UICR = 0x10001000;

export function cacheDir() {
  const base = process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, "corral-vboard") : null;
  return base || path.join(os.tmpdir(), "corral-vboard-cache");
}

/** Flat binary for address 0 (UICR left out), cached by the hex's sha256. Returns its path. */
export function firmwareBin(hexPath) {
  let text;
  try {
    text = fs.readFileSync(hexPath, "latin1");
  } catch (e) {
    throw new Error(
      `cannot read the micro:bit firmware ${hexPath}: ${e.code || e.message}` +
        (hexPath === DEFAULT_HEX ? " (apt-get install firmware-microbit-micropython)" : ""),
    );
  }
  const sha = crypto.createHash("sha256").update(text).digest("hex");
  const dir = cacheDir();
  const bin = path.join(dir, `microbit-${sha.slice(0, 32)}.bin`);
  if (fs.existsSync(bin)) return bin;
  const { image } = hexToBin(text, { limit: UICR });
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, image);
  fs.renameSync(tmp, bin);
  return bin;
}

class Qmp {
  constructor(proc) {
    this.proc = proc;
    this.waiters = [];
    this.greeted = new Promise((resolve) => (this._greet = resolve));
    readline.createInterface({ input: proc.stdout }).on("line", (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      if (m.QMP) this._greet();
      else if ("return" in m || "error" in m) this.waiters.shift()?.(m);
    });
  }
  cmd(execute, args) {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => (m.error ? reject(new Error(`${execute}: ${m.error.desc}`)) : resolve(m.return)));
      this.proc.stdin.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + "\n");
    });
  }
}

/** Start QEMU. Resolves once the UART socket listens; rejects with the cause if QEMU cannot start. */
export async function startQemuMicrobit(opts = {}, log = () => {}) {
  const hex = opts.images?.[0]?.file || DEFAULT_HEX;
  const bin = firmwareBin(hex);
  const port = opts.port || 0;
  const args = [
    "-M", "microbit",
    "-display", "none",
    "-nodefaults",
    "-device", `loader,file=${bin},addr=0`,
    "-chardev", `socket,id=uart0,host=127.0.0.1,port=${port},server=on,wait=off`,
    "-serial", "chardev:uart0",
    "-qmp", "stdio",
  ];
  // setpriv --pdeathsig: QEMU dies with this vboard process even when it is SIGKILLed.
  const proc = spawn("setpriv", ["--pdeathsig", "KILL", "--", "qemu-system-arm", ...args],
                     { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
    for (const l of String(d).split("\n")) if (l.trim()) log(`qemu: ${l}`);
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
  const failed = new Promise((_, reject) => {
    proc.on("error", (e) =>
      reject(new Error(`cannot run qemu-system-arm: ${e.message} (apt-get install qemu-system-arm)`)),
    );
    exited.then(({ code, sig }) =>
      reject(new Error(`qemu-system-arm exited (${sig || code}) before the UART was up: ${stderr.trim() || "no message"}`)),
    );
  });
  const qmp = new Qmp(proc);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("qemu-system-arm: no QMP greeting within 20 s")), 20000));
  let uartPort;
  try {
    uartPort = await Promise.race([
      (async () => {
        await qmp.greeted;
        await qmp.cmd("qmp_capabilities");
        const devs = await qmp.cmd("query-chardev");
        const dev = devs.find((d) => d.label === "uart0");
        const m = /:(\d+),server/.exec(dev?.filename || "");
        if (!m) throw new Error(`qemu: cannot find the UART port in ${JSON.stringify(dev)}`);
        return Number(m[1]);
      })(),
      failed,
      timeout,
    ]);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  failed.catch(() => {});
  let stopping = false;
  exited.then(({ code, sig }) => {
    if (!stopping) log(`qemu-system-arm exited unexpectedly (${sig || code})`);
  });
  let resets = 0;
  return {
    endpoint: `socket://127.0.0.1:${uartPort}`,
    firmware: hex,
    describe: () => ({ pid: proc.pid, firmware: hex, image: bin, resets, running: proc.exitCode === null }),
    async onControl(cmd) {
      if (cmd === "reset") {
        await qmp.cmd("system_reset");
        resets++;
        return { reset: "hard" };
      }
      return undefined;
    },
    async stop() {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
