// One boot of the MicroPython interpreter (wasm), run in a worker_thread so the transport never blocks.
// Input arrives through a SharedArrayBuffer ring (blocking reads via Atomics.wait, no busy loops); output,
// file changes and reset requests go back to the main thread (kinds/micropython.js) by postMessage.
// Every reset (soft, hard, Ctrl-C recovery) is a fresh worker; files are restored from the main thread.
import { parentPort, workerData } from "node:worker_threads";
import { createRequire } from "node:module";
import { SAB, PHASE, STATE, IC_UNKNOWN } from "./micropython_shared.js";

const require = createRequire(import.meta.url);
const wd = workerData;
const ctl = new Int32Array(wd.sab, 0, SAB.CTL_WORDS);
const ring = new Uint8Array(wd.sab, SAB.RING_OFFSET, SAB.RING_SIZE);
const RING = ring.length;
const oring = new Uint8Array(wd.sab, SAB.OUT_OFFSET, SAB.OUT_SIZE);

let M = null; // the Emscripten module, for the two exports we call directly
let raw = wd.raw; // raw REPL active
let rawFresh = raw; // raw REPL line is empty (a raw-paste request is only recognised there)
let prevOut = 0;
let mute = false; // drop interpreter output (restores, raw-paste feeding)
let dropCount = 0; // drop the next n output bytes (the "OK" of a raw-paste exec)
let capture = null; // collects output of one call when non-null

// ---- output ----------------------------------------------------------------------------------------
// Output goes straight into a shared ring, so the main thread sees every byte even if the code then spins
// without ever returning to JS. A "kick" message wakes the main thread when it asked for one (ARMED).
function kick() {
  if (Atomics.exchange(ctl, SAB.ARMED, 0) === 1) parentPort.postMessage({ t: "kick" });
}

function putByte(b) {
  for (;;) {
    const ow = Atomics.load(ctl, SAB.OW);
    const or = Atomics.load(ctl, SAB.OR);
    if (ow - or < SAB.OUT_LIMIT) {
      oring[ow % SAB.OUT_SIZE] = b;
      Atomics.store(ctl, SAB.OW, ow + 1);
      return kick();
    }
    kick(); // full: like a UART TX FIFO, the writer waits for the line
    Atomics.wait(ctl, SAB.OR, or, 100);
  }
}

function flush() {} // kept as a marker of the places where output must be visible: it always is

/** Raw bytes to the UART, bypassing the newline translation (protocol bytes, synthetic text). */
function send(bytes) {
  for (const b of bytes) putByte(b);
}
const sendStr = (s) => send(Buffer.from(s, "latin1"));

function onOutByte(b) {
  if (capture) capture.push(b);
  checkIntr();
  if (mute) return;
  if (dropCount > 0) {
    dropCount--;
    return;
  }
  // A UART console sends CRLF: translate the interpreter's lone LF.
  if (b === 10 && prevOut !== 13) putByte(13);
  putByte(b);
  prevOut = b;
}

// ---- interrupt (Ctrl-C) ---------------------------------------------------------------------------
// The main thread raises INTR when Ctrl-C arrives while code runs. Whenever the interpreter calls out to
// JS (output, ticks, sleep, input) we schedule a real KeyboardInterrupt if the interrupt char is armed.
// Code that never calls out (while True: pass) is handled by the main thread: terminate + fresh boot.
function checkIntr() {
  if (!M) return false;
  const ic = M._mp_hal_get_interrupt_char();
  Atomics.store(ctl, SAB.IC, ic);
  if (Atomics.load(ctl, SAB.INTR) === 0 || ic === -1) return false;
  Atomics.store(ctl, SAB.INTR, 0);
  M._mp_sched_keyboard_interrupt();
  return true;
}

// Wrap the wasm imports the VM calls from loops (ticks, time) so those loops see Ctrl-C too.
const realInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = function (src, imports) {
  const env = imports?.env;
  if (env) {
    for (const name of ["mp_js_ticks_ms", "mp_js_time_ms"]) {
      const f = env[name];
      if (typeof f !== "function") continue;
      env[name] = function (...a) {
        checkIntr();
        return f.apply(this, a);
      };
    }
  }
  return realInstantiate.call(this, src, imports);
};

// ---- input ----------------------------------------------------------------------------------------
function takeByte() {
  const r = Atomics.load(ctl, SAB.R);
  const b = ring[r % RING];
  Atomics.store(ctl, SAB.R, r + 1);
  return b;
}

/** Next input byte for the REPL; blocks (no CPU) while idle. A pending interrupt nobody consumed becomes
 * an ordinary Ctrl-C at its position in the stream (at the REPL, Ctrl-C is a character, not an interrupt). */
function nextByte() {
  for (;;) {
    if (Atomics.load(ctl, SAB.INTR) && Atomics.load(ctl, SAB.R) >= Atomics.load(ctl, SAB.INTR_POS)) {
      Atomics.store(ctl, SAB.INTR, 0);
      Atomics.store(ctl, SAB.STATE, STATE.RUN);
      return 3;
    }
    const w = Atomics.load(ctl, SAB.W);
    if (Atomics.load(ctl, SAB.R) !== w) {
      Atomics.store(ctl, SAB.STATE, STATE.RUN);
      return takeByte();
    }
    Atomics.store(ctl, SAB.STATE, STATE.IDLE);
    flush();
    Atomics.wait(ctl, SAB.W, w, 1000);
  }
}

/** stdin for scripts (input()): a byte, or -1 when interrupted (the KeyboardInterrupt is then pending). */
function scriptGetc() {
  flush();
  Atomics.store(ctl, SAB.STATE, STATE.INPUT);
  try {
    for (;;) {
      if (checkIntr()) return -1;
      const w = Atomics.load(ctl, SAB.W);
      if (Atomics.load(ctl, SAB.R) !== w) return takeByte();
      if (Atomics.load(ctl, SAB.INTR)) Atomics.wait(ctl, SAB.SPARE, 0, 20); // disarmed: the main thread converts it
      else Atomics.wait(ctl, SAB.W, w, 1000);
    }
  } finally {
    Atomics.store(ctl, SAB.STATE, STATE.RUN);
  }
}

/** time.sleep*: a real sleep (Atomics.wait) that Ctrl-C cuts short with a KeyboardInterrupt. */
function sleepMs(ms) {
  flush();
  const end = performance.now() + Math.max(0, Number(ms) || 0);
  for (;;) {
    if (checkIntr()) return;
    const left = end - performance.now();
    if (left <= 0) return;
    if (Atomics.load(ctl, SAB.INTR)) Atomics.wait(ctl, SAB.SPARE, 0, Math.min(left, 20));
    else Atomics.wait(ctl, SAB.INTR, 0, left);
  }
}

function requestReset(kind) {
  flush();
  parentPort.postMessage({ t: "reset", kind, raw });
  for (;;) Atomics.wait(ctl, SAB.SPARE, 0); // the main thread terminates this worker
}

// ---- filesystem -----------------------------------------------------------------------------------
function normPath(p, cwd) {
  const parts = [];
  for (const seg of (p.startsWith("/") ? p : `${cwd}/${p}`).split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.length ? "/" + parts.join("/") : null;
}

function rmTree(FS, p) {
  let st;
  try {
    st = FS.lstat(p);
  } catch {
    return;
  }
  if (FS.isDir(st.mode)) {
    try {
      return FS.rmdir(p); // also the only way out for mount points such as /proc/self/fd
    } catch {}
    for (const n of FS.readdir(p)) if (n !== "." && n !== "..") rmTree(FS, `${p}/${n}`);
    try {
      FS.rmdir(p);
    } catch {}
  } else {
    try {
      FS.unlink(p);
    } catch {}
  }
}

function setupFs(FS) {
  // An empty flash root, like a board: drop Emscripten's /home /tmp /proc /dev (stdio streams stay open).
  for (const d of ["/home/web_user", "/home", "/tmp", "/proc/self/fd", "/proc/self", "/proc"]) {
    try {
      FS.rmdir(d);
    } catch {}
  }
  rmTree(FS, "/dev");
  for (const [p, e] of wd.files) {
    if (e.dir) FS.mkdirTree(p);
    else FS.writeFile(p, e.data);
  }
  const report = (ch) => parentPort.postMessage({ t: "fs", ch });
  const abs = (p) => normPath(String(p), FS.cwd());
  const wrap = (name, after) => {
    const orig = FS[name];
    FS[name] = function (...a) {
      const r = orig.apply(this, a);
      try {
        after(...a);
      } catch {}
      return r;
    };
  };
  // File contents are reported on close: data written but never closed is lost on reset, as on flash.
  wrap("close", (stream) => {
    if (!stream?.path || (stream.flags & 3) === 0) return;
    const p = abs(stream.path);
    if (p) report({ op: "write", path: p, data: FS.readFile(p) });
  });
  wrap("mkdir", (p) => report({ op: "mkdir", path: abs(p) }));
  wrap("unlink", (p) => report({ op: "unlink", path: abs(p) }));
  wrap("rmdir", (p) => report({ op: "rmdir", path: abs(p) }));
  wrap("rename", (a, b) => report({ op: "rename", path: abs(a), to: abs(b) }));
}

// ---- Python-side persona and shims ----------------------------------------------------------------
function shimSource(version) {
  return `
def _vb_setup():
    import sys, os, time, builtins, binascii, random, _vboard
    from collections import namedtuple
    def sleep(s):
        _vboard.sleep_ms(s * 1000)
    def sleep_ms(ms):
        _vboard.sleep_ms(ms)
    def sleep_us(us):
        _vboard.sleep_ms(us / 1000)
    time.sleep = sleep
    time.sleep_ms = sleep_ms
    time.sleep_us = sleep_us
    last = [0]
    def input(prompt=''):
        if prompt:
            sys.stdout.write(prompt)
        buf = bytearray()
        while True:
            c = _vboard.getc()
            if c < 0:
                continue
            if c == 10 and last[0] == 13:
                last[0] = 0
                continue
            last[0] = c
            if c == 13 or c == 10:
                sys.stdout.write('\\r\\n')
                return buf.decode()
            if c == 3:
                raise KeyboardInterrupt
            if c == 4 and not buf:
                raise EOFError
            if c == 8 or c == 127:
                if buf:
                    buf.pop()
                    sys.stdout.write('\\b \\b')
            elif c >= 32:
                buf.append(c)
                if c < 128:
                    sys.stdout.write(chr(c))
    builtins.input = input
    U = namedtuple('uname_result', ('sysname', 'nodename', 'release', 'version', 'machine'))
    un = U(sys.platform, sys.platform, '%d.%d.%d' % sys.implementation.version[:3], ${JSON.stringify(version)}, sys.implementation._machine)
    os.uname = lambda: un
    os.urandom = lambda n: bytes(random.getrandbits(8) for _ in range(n))
    class Pin:
        IN = 0
        OUT = 1
        OPEN_DRAIN = 2
        PULL_UP = 1
        PULL_DOWN = 2
        IRQ_RISING = 1
        IRQ_FALLING = 2
        def __init__(self, id, mode=-1, pull=-1, value=None):
            self._id = id
            self._v = 1 if value else 0
        def init(self, mode=-1, pull=-1, value=None):
            if value is not None:
                self._v = 1 if value else 0
        def value(self, v=None):
            if v is None:
                return self._v
            self._v = 1 if v else 0
        def __call__(self, v=None):
            return self.value(v)
        def on(self):
            self._v = 1
        def off(self):
            self._v = 0
        def irq(self, *a, **k):
            return None
        def __repr__(self):
            return 'Pin(%s)' % (self._id,)
    freq = [${Number(wd.freq) || 160000000}]
    class Machine:
        PWRON_RESET = 1
        HARD_RESET = 2
        WDT_RESET = 3
        DEEPSLEEP_RESET = 4
        SOFT_RESET = 5
        def __init__(self):
            self.Pin = Pin
        def unique_id(self):
            return binascii.unhexlify(_vboard.unique_id())
        def reset(self):
            _vboard.reset(1)
        def soft_reset(self):
            _vboard.reset(0)
        def reset_cause(self):
            return _vboard.reset_cause()
        def freq(self, f=None):
            if f is None:
                return freq[0]
            freq[0] = f
        def idle(self):
            _vboard.sleep_ms(1)
        def lightsleep(self, ms=None):
            _vboard.sleep_ms(ms if ms is not None else 1 << 30)
        def deepsleep(self, ms=None):
            if ms:
                _vboard.sleep_ms(ms)
            _vboard.reset(1)
        def __repr__(self):
            return "<module 'machine'>"
    sys.modules['machine'] = Machine()
_vb_setup()
del _vb_setup
`;
}

// Runs boot.py / main.py like pyexec_file: its own traceback, then carry on.
function runFileSource(fn) {
  return `
def _vb_runfile(fn):
    import sys, io, micropython
    try:
        src = open(fn).read()
    except OSError:
        return
    g = globals()
    try:
        micropython.kbd_intr(3)
        try:
            exec(compile(src, fn, 'exec'), g)
        finally:
            micropython.kbd_intr(-1)
    except SystemExit:
        pass
    except BaseException as e:
        s = io.StringIO()
        sys.print_exception(e, s)
        sys.stdout.write(''.join(l + '\\n' for l in s.getvalue().split('\\n') if l and 'in _vb_runfile' not in l))
_vb_runfile(${JSON.stringify(fn)})
del _vb_runfile
`;
}

function kbdTraceback(file) {
  return `Traceback (most recent call last):\r\n  File "${file}", line 1, in <module>\r\nKeyboardInterrupt: \r\n`;
}

// ---- REPL driving ---------------------------------------------------------------------------------
function feed(mp, c) {
  Atomics.store(ctl, SAB.IC, IC_UNKNOWN);
  const watch = c === 1 || c === 2;
  if (watch) capture = [];
  const ret = mp.replProcessChar(c);
  const text = watch ? Buffer.from(capture).toString("latin1") : "";
  capture = null;
  flush();
  if (c === 1 && text.includes("raw REPL; CTRL-B to exit")) setRaw(true);
  else if (c === 2 && text.includes('Type "help()"')) setRaw(false);
  if (raw) rawFresh = c === 1 || c === 3 || c === 4;
  if (ret & 0x100) requestReset("soft"); // PYEXEC_FORCED_EXIT: Ctrl-D on an empty line, sys.exit()
}

function setRaw(on) {
  raw = on;
  rawFresh = on;
  Atomics.store(ctl, SAB.RAW, on ? 1 : 0);
}

// Raw-paste (Ctrl-E 'A' Ctrl-A on an empty raw line), done here because the wasm REPL would spin waiting
// for stdin. Flow control as modern firmware: "R\x01", window (u16 LE), "\x01" per window consumed,
// host ends with "\x04", we acknowledge "\x04", then the code runs through the raw REPL.
function rawPaste(mp) {
  const a = nextByte();
  if (a !== 0x41) return feed(mp, a); // not a raw-paste request: drop the Ctrl-E
  const b = nextByte();
  if (b !== 0x01) {
    feed(mp, 0x41);
    return feed(mp, b);
  }
  if (!wd.rawPaste) {
    sendStr("R\x00"); // refuse, as older firmware does; the host falls back to the plain raw REPL
    return;
  }
  const win = wd.window;
  sendStr("R\x01");
  send([win & 0xff, win >> 8]);
  const code = [];
  let got = 0;
  for (;;) {
    const c = nextByte();
    if (c === 4) break;
    code.push(c);
    if (++got % win === 0) send([0x01]);
  }
  send([0x04]);
  mute = true;
  for (const c of code) if (c > 5) mp.replProcessChar(c);
  mute = false;
  dropCount = 2; // the raw REPL's "OK": raw-paste does not print it
  feed(mp, 4);
  dropCount = 0;
}

async function main() {
  const { loadMicroPython } = await import(
    require.resolve("@micropython/micropython-webassembly-pyscript/micropython.mjs")
  );
  const out = (bytes) => {
    for (const b of bytes) onOutByte(b);
  };
  const cfg = { linebuffer: false, stdout: out, stderr: out };
  if (wd.heapsize) cfg.heapsize = wd.heapsize; // an undefined key would override the package default
  const mp = await loadMicroPython(cfg);
  M = mp._module;
  setupFs(mp.FS);

  // The banner is printed by replInit; hold it back until boot.py/main.py have run, as a board does.
  mute = true;
  capture = [];
  mp.replInit();
  let banner = Buffer.from(capture).toString("latin1").replace(/^\r\n/, "");
  capture = null;
  mute = false;
  const ver = /^MicroPython (\S+ on \S+);/.exec(banner);
  parentPort.postMessage({ t: "banner", text: banner.split("\r\n")[0] });

  mp.registerJsModule("_vboard", {
    sleep_ms: sleepMs,
    getc: scriptGetc,
    unique_id: () => wd.uniqueId,
    reset: (hard) => requestReset(hard ? "hard" : "soft-machine"),
    reset_cause: () => wd.resetCause,
  });
  mute = true;
  mp.runPython(shimSource(ver ? ver[1] : "unknown"));
  mute = false;

  const intr = wd.boot === "interrupt" ? wd.interrupted : null;
  if (wd.boot === "soft") sendStr("MPY: soft reboot\r\n");
  if (intr && intr.phase !== PHASE.REPL) sendStr(kbdTraceback(intr.phase === PHASE.BOOT ? "boot.py" : "main.py"));

  const runScript = (fn, phase) => {
    Atomics.store(ctl, SAB.PHASE, phase);
    Atomics.store(ctl, SAB.STATE, STATE.RUN);
    try {
      mp.runPython(runFileSource(fn));
    } catch (e) {
      // Only an interrupt landing between the script and its handler gets here: report it like one.
      sendStr(kbdTraceback(fn).replace("KeyboardInterrupt: ", String(e.type || "KeyboardInterrupt") + ": "));
    }
    Atomics.store(ctl, SAB.PHASE, PHASE.REPL);
  };
  if (!intr || intr.phase === PHASE.REPL || intr.phase === PHASE.BOOT) {
    if (!intr) runScript("boot.py", PHASE.BOOT);
    if (!raw && !(intr && intr.phase === PHASE.REPL)) runScript("main.py", PHASE.MAIN);
  }

  if (intr && intr.phase === PHASE.REPL) {
    // Ctrl-C killed code started from the REPL: its traceback, then the prompt of the same mode.
    if (raw) {
      mute = true;
      mp.replProcessChar(1);
      mute = false;
      setRaw(true);
      sendStr("\x04" + kbdTraceback("<stdin>") + "\x04>");
    } else {
      sendStr(kbdTraceback("<stdin>") + ">>> ");
    }
  } else if (raw) {
    mute = true;
    mp.replProcessChar(1);
    mute = false;
    setRaw(true);
    sendStr("raw REPL; CTRL-B to exit\r\n>");
  } else {
    sendStr(banner);
  }
  prevOut = 0;
  Atomics.store(ctl, SAB.PHASE, PHASE.REPL);
  parentPort.postMessage({ t: "ready" });

  for (;;) {
    const c = nextByte();
    if (raw && rawFresh && c === 0x05) rawPaste(mp);
    else feed(mp, c);
  }
}

main().catch((e) => {
  flush();
  parentPort.postMessage({ t: "fatal", error: String(e?.stack || e) });
});
