// Assembles one virtual board: kind -> Board -> Uart (wire model) -> endpoints, plus the control channel.
// startBoard() resolves when the board accepts connections, with the JSON line contract in `info`.
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Uart } from "./uart.js";
import { TcpEndpoint, PtyEndpoint } from "./endpoint.js";
import { ControlServer } from "./control.js";
import { KINDS } from "./options.js";

const ESP_KINDS = new Set(["esp8266", "esp32", "esp32s3", "esp32c3"]);
const ESP_INDEX = new URL("../kinds/esp/index.js", import.meta.url);

async function createBoard(kind, opts) {
  if (kind === "micropython") {
    const { createMicroPythonBoard } = await import("../kinds/micropython.js");
    return createMicroPythonBoard(opts);
  }
  if (ESP_KINDS.has(kind)) {
    if (!fs.existsSync(fileURLToPath(ESP_INDEX)))
      throw new Error(`kind ${kind}: ${fileURLToPath(ESP_INDEX)} does not exist yet (the ESP kinds are not built)`);
    const mod = await import(ESP_INDEX);
    if (typeof mod.createEspBoard !== "function")
      throw new Error(`kind ${kind}: kinds/esp/index.js does not export createEspBoard(kind, opts)`);
    return mod.createEspBoard(kind, opts);
  }
  throw new Error(`unknown kind ${JSON.stringify(kind)} (one of: ${KINDS.join(", ")})`);
}

const CONTROL_HELP =
  "state | unplug | replug | hang | unhang | garbage N | reset | pacing on|off | latency MS | hold-io0 on|off | " +
  "flash-sha256 OFFSET LEN | flash-read OFFSET LEN | events | help";

function onOff(args, cmd) {
  const v = (args[0] || "").toLowerCase();
  if (v === "on" || v === "1" || v === "true") return true;
  if (v === "off" || v === "0" || v === "false") return false;
  throw new Error(`${cmd}: expected on or off`);
}

/**
 * Start one board. opts: see options.js toOpts(); opts.log(msg) for stderr logging.
 * Returns {info, stop()} where info is the object printed as the JSON line.
 */
export async function startBoard(kind, opts) {
  const log = opts.log || (() => {});
  if (kind === "qemu-microbit") return startQemu(opts, log);

  const board = await createBoard(kind, { ...opts, log });
  const uart = new Uart(board, { pacing: opts.pacing, latencyMs: opts.latencyMs, bridgeMaxBaud: opts.bridgeMaxBaud, log });
  const endpoint = new TcpEndpoint(uart, { protocol: opts.raw ? "raw" : "rfc2217", port: opts.port, log });
  await endpoint.start();
  const pty = opts.pty ? await new PtyEndpoint(uart, { ptyPath: opts.pty === true ? null : opts.pty, log }).start() : null;

  const handler = async (cmd, args) => {
    switch (cmd) {
      case "help":
        return { commands: CONTROL_HELP };
      case "state":
        return { state: { kind, name: opts.name, endpoint: endpoint.url, ...uart.state(), ...board.describe() } };
      case "unplug":
        uart.unplug();
        return {};
      case "replug":
        uart.replug();
        await endpoint.opening; // reply once connections are accepted again
        if (pty) await pty.raw.opening;
        return {};
      case "hang":
        uart.hang(true);
        return {};
      case "unhang":
        uart.hang(false);
        return {};
      case "garbage": {
        const n = Number(args[0] ?? 64);
        if (!Number.isInteger(n) || n < 0 || n > 1 << 20) throw new Error("garbage: N must be 0..1048576");
        return { sent: uart.garbage(n) };
      }
      case "pacing":
        uart.pacing = onOff(args, cmd);
        return {};
      case "latency": {
        const ms = Number(args[0]);
        if (!Number.isFinite(ms) || ms < 0) throw new Error("latency: MS must be >= 0");
        uart.latencyMs = ms;
        return {};
      }
      case "reset": {
        // Board-specific reset if the kind has one, else an EN pulse through the auto-reset circuit.
        const r = await board.onControl(cmd, args);
        if (r !== undefined) return r;
        board.onLines({ dtr: false, rts: true });
        await new Promise((res) => setTimeout(res, 100));
        board.onLines({ dtr: false, rts: false });
        return { reset: "en-pulse" };
      }
      default: {
        const r = await board.onControl(cmd, args);
        if (r === undefined) throw new Error(`unknown command ${cmd} (${CONTROL_HELP})`);
        return r;
      }
    }
  };
  const control = opts.control ? await new ControlServer(handler, { port: opts.controlPort, log }).start() : null;

  await board.start();
  if (opts.fault === "unplug") uart.unplug();
  if (opts.fault === "hang") uart.hang(true);

  const info = { kind, endpoint: endpoint.url };
  if (opts.name) info.name = opts.name;
  if (control) info.control = control.url;
  if (pty) info.pty = pty.path;
  return {
    info,
    board,
    uart,
    async stop() {
      if (control) await control.close();
      if (pty) await pty.close();
      await endpoint.close();
      uart.close();
      await board.stop();
    },
  };
}

async function startQemu(opts, log) {
  const { startQemuMicrobit } = await import("../kinds/qemu_microbit.js");
  const q = await startQemuMicrobit(opts, log);
  const handler = async (cmd, args) => {
    if (cmd === "help") return { commands: "state | reset | help (QEMU's socket: no wire faults)" };
    if (cmd === "state") return { state: { kind: "qemu-microbit", name: opts.name, endpoint: q.endpoint, ...q.describe() } };
    const r = await q.onControl(cmd, args);
    if (r === undefined) throw new Error(`${cmd}: not supported by qemu-microbit (state | reset)`);
    return r;
  };
  let control = null;
  try {
    control = opts.control ? await new ControlServer(handler, { port: opts.controlPort, log }).start() : null;
  } catch (e) {
    await q.stop();
    throw e;
  }
  const info = { kind: "qemu-microbit", endpoint: q.endpoint };
  if (opts.name) info.name = opts.name;
  if (control) info.control = control.url;
  return {
    info,
    async stop() {
      if (control) await control.close();
      await q.stop();
    },
  };
}
