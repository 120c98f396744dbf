// A board's serial console: xterm.js over /ws/v1/boards/{id}/console. Binary frames carry the
// board's bytes both ways; text frames carry the control protocol (hello, status, lock, dropped,
// reset, error in; take, release, interrupt, soft_reset, reset out). Reconnects with backoff.
import { wsUrl } from "./api.js";
import { h, setText } from "./dom.js";

const loaded = new Map();
function loadScript(src) {
  if (!loaded.has(src)) {
    loaded.set(src, new Promise((resolve, reject) => {
      const s = h("script", { src });
      s.onload = resolve;
      s.onerror = () => { loaded.delete(src); reject(new Error(`${src} is missing: run 'make web' to copy xterm.js into web/vendor/.`)); };
      document.head.append(s);
    }));
  }
  return loaded.get(src);
}

async function loadXterm() {
  if (!document.querySelector("link[data-xterm]"))
    document.head.append(h("link", { rel: "stylesheet", href: "vendor/xterm.css", dataset: { xterm: "1" } }));
  await loadScript("vendor/xterm.js");
  await loadScript("vendor/addon-fit.js");
  return { Terminal: globalThis.Terminal, FitAddon: globalThis.FitAddon.FitAddon };
}

const viewerName = () => {
  let n = sessionStorage.getItem("corral.viewer");
  if (!n) sessionStorage.setItem("corral.viewer", (n = "web-" + Math.random().toString(36).slice(2, 6)));
  return n;
};

/** Mount the console of boardId into root. Returns {dispose()}. */
export function mountConsole(root, boardId) {
  const btn = (label, title, onclick, id) => h("button", { type: "button", title, onclick, id }, label);
  const lockBtn = btn("Take write lock", "Type into the board (one person at a time)", () => toggleLock(), "console-lock");
  const ctrlC = btn("Ctrl-C", "Interrupt the running program (sends 0x03)", () => send({ type: "interrupt" }), "console-interrupt");
  const soft = btn("Soft reset", "Ctrl-D at the REPL: restart MicroPython, keep the files", () => send({ type: "soft_reset" }), "console-soft-reset");
  const hard = btn("Reset", "Pulse EN through RTS: a hard reset", () => send({ type: "reset" }), "console-reset");
  const copyBtn = btn("Copy", "Copy the selected text (also Ctrl-Shift-C)", () => copy(), "console-copy");
  const pasteBtn = btn("Paste", "Paste the clipboard into the board (also Ctrl-Shift-V)", () => paste(), "console-paste");
  const lockText = h("span.lock-text#console-lock-text", {}, "connecting…");
  const banner = h("div.banner#console-banner", { role: "status", hidden: true });
  const note = h("div.console-note#console-note", { role: "status" });
  // corrald's own explanation of the stream ("[corral] ESP8266 boot loop: ..."), kept in view while
  // the garbage it explains scrolls past.
  const explain = h("div.console-explain#console-explain", { role: "status", hidden: true },
    h("span.what"), h("span.rom.muted"));
  const termEl = h("div.term#console-term");
  root.append(h("section.console", {},
    h("div.toolbar", {}, lockBtn, ctrlC, soft, hard, h("span.spacer"), copyBtn, pasteBtn),
    h("div.lockline", {}, lockText), banner, explain, termEl, note));

  let term = null, fit = null, ws = null, disposed = false, backoff = 500, retry = null;
  let st = { online: false, busy: false, writer: false, holder: null, reason: "" };

  const say = (text, cls = "") => { setText(note, text); note.className = `console-note ${cls}`; };

  let tail = "";
  const dec = new TextDecoder("latin1");
  function scanAnnotations(bytes) {
    tail = (tail + dec.decode(bytes)).slice(-8192);
    let what = null, rom = null;
    for (const m of tail.matchAll(/\[corral\] ([^\x1b\r\n]+)(?=\x1b|\r|\n)/g)) {
      if (m[1].startsWith("the ROM log at ")) rom = m[1];
      else { what = m[1]; rom = null; }
    }
    if (!what) return;
    setText(explain.firstChild, what);
    setText(explain.lastChild, rom ? `Decoded: ${rom.replace(/^the ROM log at 74880 baud: /, "")}` : "");
    explain.hidden = false;
  }

  function render() {
    const canAct = st.online && !st.busy && ws && ws.readyState === WebSocket.OPEN;
    setText(lockBtn, st.writer ? "Release write lock" : "Take write lock");
    lockBtn.classList.toggle("primary", !st.writer);
    lockBtn.disabled = !canAct && !st.writer;
    for (const b of [ctrlC, soft, hard]) b.disabled = !canAct || !st.writer;
    pasteBtn.disabled = !canAct || !st.writer;
    setText(lockText, !ws || ws.readyState !== WebSocket.OPEN ? "not connected"
      : st.writer ? "You hold the write lock: what you type goes to the board."
      : st.holder ? `${st.holder.name || "someone"} holds the write lock; you are watching.`
      : "Watching. Take the write lock to type.");
    const ro = st.busy || !st.online;
    banner.hidden = !(ro || st.reason);
    banner.classList.toggle("readonly", st.busy);
    setText(banner, st.busy ? `Read-only: ${st.reason || "a job is using the port."}` : st.reason);
    root.classList.toggle("readonly", ro);
  }

  function send(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return say("Not connected to the console.", "error");
    ws.send(JSON.stringify(msg));
  }
  function toggleLock() { send({ type: st.writer ? "release" : "take" }); }

  async function copy() {
    const sel = term && term.getSelection();
    if (!sel) return say("Select text in the console first.");
    try {
      await navigator.clipboard.writeText(sel);
      say(`Copied ${sel.length} characters.`);
    } catch (e) {
      say(`The browser refused the clipboard (${e.message}); use the context menu.`, "error");
    }
  }
  async function paste() {
    try {
      const t = await navigator.clipboard.readText();
      if (t && term) term.paste(t);
    } catch (e) {
      say(`The browser refused the clipboard (${e.message}); use the context menu or middle click.`, "error");
    }
  }

  function onText(raw) {
    let m;
    try { m = JSON.parse(raw); } catch { return; }
    switch (m.type) {
      case "hello":
        term.reset(); // the replay that follows is the whole recent history
        tail = "";
        explain.hidden = true;
        st = { online: !!m.online, busy: !!m.busy, writer: !!m.writer, holder: m.holder || null, reason: m.reason || "" };
        say("");
        break;
      case "status":
        Object.assign(st, { online: !!m.online, busy: !!m.busy, reason: m.reason || "" });
        break;
      case "lock":
        st.writer = !!m.writer;
        st.holder = m.holder || null;
        if (m.reason) say(m.reason, "error"); // the lock was taken away (a lease), not released
        break;
      case "dropped":
        term.write(`\r\n\x1b[2m[${m.bytes} bytes lost: this view fell behind]\x1b[0m\r\n`);
        break;
      case "reset":
        say(m.message || (m.ok ? "Reset." : "Reset failed."), m.ok ? "" : "error");
        break;
      case "error":
        say(m.message || m.code, "error");
        break;
      default:
        break;
    }
    render();
  }

  function connect() {
    if (disposed) return;
    ws = new WebSocket(wsUrl(`/ws/v1/boards/${encodeURIComponent(boardId)}/console?name=${encodeURIComponent(viewerName())}`));
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => { opened = true; backoff = 500; render(); };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") onText(e.data);
      else {
        const bytes = new Uint8Array(e.data);
        term.write(bytes);
        if (bytes.includes(0x5b)) scanAnnotations(bytes); // '[': maybe one of corrald's lines
        else tail = (tail + dec.decode(bytes)).slice(-8192);
      }
    };
    ws.onclose = () => {
      if (disposed) return;
      st.writer = false;
      const ms = backoff * (0.8 + Math.random() * 0.4);
      backoff = Math.min(backoff * 2, 10000);
      say(`${opened ? "Console connection lost" : "Cannot reach the console"}; retrying in ${Math.ceil(ms / 1000)} s.`, "error");
      render();
      retry = setTimeout(connect, ms);
    };
  }

  loadXterm().then(({ Terminal, FitAddon }) => {
    if (disposed) return;
    term = new Terminal({
      cursorBlink: true, scrollback: 5000, fontSize: 13, convertEol: false,
      logLevel: "off", // a boot log at the wrong baud is line noise, not an error of the page
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace",
      theme: { background: "#14181f", foreground: "#d8dee9" },
    });
    fit = new FitAddon();
    term.loadAddon(fit);
    term.open(termEl);
    fit.fit();
    new ResizeObserver(() => { try { fit.fit(); } catch { /* detached */ } }).observe(termEl);
    const enc = new TextEncoder();
    term.onData((d) => {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
    });
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown") return true;
      const k = e.key.toLowerCase();
      if (e.ctrlKey && e.shiftKey && k === "c") { e.preventDefault(); copy(); return false; }
      if (e.ctrlKey && e.shiftKey && k === "v") { e.preventDefault(); paste(); return false; }
      // Ctrl-C with a selection copies, as in most terminals; without one it interrupts the board.
      if (e.ctrlKey && !e.shiftKey && k === "c" && term.hasSelection()) { e.preventDefault(); copy(); term.clearSelection(); return false; }
      return true;
    });
    connect();
  }).catch((e) => say(e.message, "error"));

  render();
  const NOTE_COLORS = { ok: "32", error: "31", warn: "33", "": "36" };
  return {
    focus: () => term && term.focus(),
    /** A line of the page's own (a run's exit status) in the stream, dim and coloured. */
    note(text, cls = "") {
      if (term) term.write(`\r\n\x1b[${NOTE_COLORS[cls] || "36"}m${text}\x1b[0m\r\n`);
    },
    dispose() {
      disposed = true;
      clearTimeout(retry);
      if (ws) { ws.onclose = null; ws.close(); }
      if (term) term.dispose();
    },
  };
}
