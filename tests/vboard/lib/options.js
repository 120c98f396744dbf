// Command-line and spec-file options of the vboard command, and its --help text.

export const KINDS = ["micropython", "esp8266", "esp32", "esp32s3", "esp32c3", "qemu-microbit"];

export const HELP = `usage: vboard KIND [options]
       vboard --spec FILE

Start virtual serial boards for corral's tests. For each board, print ONE JSON line on stdout once it
accepts connections, e.g.
  {"kind":"micropython","endpoint":"rfc2217://127.0.0.1:40123","control":"tcp://127.0.0.1:40124"}
then run until SIGTERM/SIGINT (exit 0). Logs go to stderr.

KIND: ${KINDS.join(", ")}

endpoint
  --port N               TCP port of the endpoint (0 or absent: ephemeral)
  --raw                  plain TCP endpoint (socket://) instead of RFC 2217 (rfc2217://)
  --pty [PATH]           also expose a pty (socat); its path is the JSON "pty" field
  --control-port N       TCP port of the control channel (0 or absent: ephemeral)
  --no-control           no control channel
  --name NAME            board name (JSON "name"; seeds the unique id when there is no state dir)

wire
  --baud N               the board's UART baud (default 115200)
  --no-pacing            deliver bytes at once instead of at baud/10 bytes per second
  --latency MS           delay every response from the board by MS milliseconds
  --bridge-max-baud N    the USB-serial bridge's highest baud: bytes at a higher host baud are garbled
                         both ways (as a bridge past its limit), default no limit
  --fault F              start with a fault: unplug | hang (clear it with replug / unhang on the control port)

board
  --state-dir DIR        persist the board (files, unique id, flash) in DIR across restarts
  --image FILE[@OFFSET]  preloaded image (repeatable); qemu-microbit: the firmware .hex
  --flash-size SIZE      flash size, e.g. 4MB (ESP kinds)
  --module-modes LIST    flash modes the module supports, e.g. dio,dout (ESP kinds)
  --hold-io0             start with the boot button (IO0) held (ESP kinds)
  --app-start MS         time from the ROM's hand-over to the firmware's first output (ESP kinds, default
                         60; a real MicroPython's first boot formats its filesystem: seconds)
  --unique-id HEX        machine.unique_id() (micropython)
  --no-raw-paste         answer raw-paste requests with R\\x00 like old firmware (micropython)
  --window N             raw-paste window size (micropython, default 128)
  --rx-drop RATE         drop host->board bytes at RATE (0..1 or N%), like a UART without flow control
                         whose receiver overflows; use with --no-raw-paste (micropython)
  --rx-corrupt RATE      replace host->board bytes by random ones at RATE (micropython)
  --rx-seed N            seed of the loss pattern (default 1): same seed, same bytes lost (micropython)
  --tx-drop RATE         drop board->host bytes at RATE (micropython)
  --tx-corrupt RATE      replace board->host bytes by random ones at RATE (micropython)
  --tx-seed N            seed of the board->host loss pattern (default 1) (micropython)
  --intr-grace MS        Ctrl-C: time running code gets to notice before the interpreter is replaced
                         (micropython, default 300)

many boards
  --spec FILE            JSON: [{"name": "a", "kind": "micropython", "port": 0, "state_dir": "...", ...}, ...]
                         or {"boards": [...]}; keys are the long options above (dashes or underscores).
                         Prints one JSON line per board, each with its "name".

control channel (line-based TCP; one JSON reply per line):
  state | unplug | replug | hang | unhang | garbage N | reset | pacing on|off | latency MS
  | hold-io0 on|off | flash-sha256 OFF LEN | flash-read OFF LEN (ESP kinds) | help
  | lossy DROP [CORRUPT [SEED]] | lossy off | lossy-tx DROP [CORRUPT [SEED]] | lossy-tx off (micropython)
  (kinds may add commands, e.g. soft-reset)

  -h, --help             this text
`;

const FLAGS = new Set(["raw", "no-pacing", "no-control", "hold-io0", "no-raw-paste", "help"]);
const VALUED = new Set([
  "port",
  "pty",
  "control-port",
  "name",
  "baud",
  "latency",
  "bridge-max-baud",
  "fault",
  "state-dir",
  "image",
  "flash-size",
  "module-modes",
  "unique-id",
  "window",
  "intr-grace",
  "rx-drop",
  "rx-corrupt",
  "rx-seed",
  "tx-drop",
  "tx-corrupt",
  "tx-seed",
  "app-start",
  "spec",
]);

/** Parse argv (without node and script) into {kind, raw: {"option": value}}; throws on bad usage. */
export function parseArgs(argv) {
  const raw = {};
  let kind = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      raw.help = true;
      continue;
    }
    if (!a.startsWith("--")) {
      if (kind) throw new Error(`unexpected argument: ${a}`);
      kind = a;
      continue;
    }
    let [name, val] = a.slice(2).split(/=(.*)/s);
    if (FLAGS.has(name) && val === undefined) {
      raw[name] = true;
      continue;
    }
    if (!VALUED.has(name)) throw new Error(`unknown option --${name} (see --help)`);
    if (val === undefined) {
      if (name === "pty" && (i + 1 >= argv.length || argv[i + 1].startsWith("--"))) val = true;
      else if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      else val = argv[++i];
    }
    if (name === "image") (raw.image ||= []).push(val);
    else raw[name] = val;
  }
  return { kind, raw };
}

function num(v, name) {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
  return n;
}

/** A rate 0..1, or a percentage "1%". */
function rate(v, name) {
  const s = String(v).trim();
  const n = s.endsWith("%") ? Number(s.slice(0, -1)) / 100 : Number(s);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--${name}: a rate from 0 to 1 (or 0% to 100%), not ${v}`);
  return n;
}

/** Parse "4MB" / "512KB" / "4194304" into bytes. */
export function parseSize(s) {
  const m = /^(\d+)\s*(k|kb|m|mb)?$/i.exec(String(s).trim());
  if (!m) throw new Error(`bad size: ${s}`);
  const mult = { k: 1024, kb: 1024, m: 1 << 20, mb: 1 << 20 }[(m[2] || "").toLowerCase()] || 1;
  return Number(m[1]) * mult;
}

/** "file.bin@0x1000" -> {file, offset}; offset null when absent. */
export function parseImage(s) {
  const m = /^(.*?)(?:@(0x[0-9a-f]+|\d+))?$/i.exec(s);
  return { file: m[1], offset: m[2] === undefined ? null : Number(m[2]) };
}

/** Normalise a raw option map (CLI or spec entry; "a-b" or "a_b" keys) into the opts handed to kinds. */
export function toOpts(rawIn) {
  const raw = {};
  for (const [k, v] of Object.entries(rawIn)) raw[k.replace(/_/g, "-")] = v;
  const images = raw.image === undefined ? [] : Array.isArray(raw.image) ? raw.image : [raw.image];
  const fault = raw.fault ? String(raw.fault) : null;
  if (fault && !["unplug", "hang"].includes(fault)) throw new Error(`--fault: unplug or hang, not ${fault}`);
  const opts = {
    name: raw.name ?? null,
    port: raw.port !== undefined ? num(raw.port, "port") : 0,
    raw: !!raw.raw,
    pty: raw.pty === undefined || raw.pty === false ? null : raw.pty === true ? true : String(raw.pty),
    controlPort: raw["control-port"] !== undefined ? num(raw["control-port"], "control-port") : 0,
    control: !raw["no-control"],
    baud: raw.baud !== undefined ? num(raw.baud, "baud") : 115200,
    pacing: !raw["no-pacing"] && raw.pacing !== false,
    latencyMs: raw.latency !== undefined ? num(raw.latency, "latency") : 0,
    bridgeMaxBaud: raw["bridge-max-baud"] !== undefined ? num(raw["bridge-max-baud"], "bridge-max-baud") : 0,
    fault,
    stateDir: raw["state-dir"] ?? null,
    images: images.map((s) => (typeof s === "string" ? parseImage(s) : s)),
    flashSize: raw["flash-size"] ?? null,
    flashSizeBytes: raw["flash-size"] ? parseSize(raw["flash-size"]) : null,
    moduleModes: raw["module-modes"]
      ? (Array.isArray(raw["module-modes"]) ? raw["module-modes"] : String(raw["module-modes"]).split(","))
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean)
      : null,
    holdIo0: !!raw["hold-io0"],
    uniqueId: raw["unique-id"] ?? null,
    rawPaste: !raw["no-raw-paste"],
    window: raw.window !== undefined ? num(raw.window, "window") : 128,
    intrGraceMs: raw["intr-grace"] !== undefined ? num(raw["intr-grace"], "intr-grace") : 300,
    rxDrop: raw["rx-drop"] !== undefined ? rate(raw["rx-drop"], "rx-drop") : 0,
    rxCorrupt: raw["rx-corrupt"] !== undefined ? rate(raw["rx-corrupt"], "rx-corrupt") : 0,
    rxSeed: raw["rx-seed"] !== undefined ? num(raw["rx-seed"], "rx-seed") : 1,
    txDrop: raw["tx-drop"] !== undefined ? rate(raw["tx-drop"], "tx-drop") : 0,
    txCorrupt: raw["tx-corrupt"] !== undefined ? rate(raw["tx-corrupt"], "tx-corrupt") : 0,
    txSeed: raw["tx-seed"] !== undefined ? num(raw["tx-seed"], "tx-seed") : 1,
    appStartMs: raw["app-start"] !== undefined ? num(raw["app-start"], "app-start") : undefined,
  };
  return opts;
}
