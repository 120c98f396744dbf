// The board page's program editor: CodeMirror (vendor/editor.js, bundled by make web), Run as a
// run job whose output streams into the console, Stop (cancels the job: corrald sends Ctrl-C),
// the exit status and exception at the end with the exception's line marked, Save / Save and
// reset to a file on the board. The buffer and its file name are kept per board in localStorage.
import { api } from "./api.js";
import { h, setText } from "./dom.js";
import { awaitJob, jobError, queueJob, runJob, toB64 } from "./jobwait.js";

const DEFAULT_PROGRAM = "# MicroPython: write here, press Run (Ctrl-Enter).\nprint('Hi, it is me')\n";
const key = (id) => `corral.editor.${id}`;

function loadBuffer(id) {
  try {
    const v = JSON.parse(localStorage.getItem(key(id)) || "null");
    if (v && typeof v.text === "string") return { text: v.text, path: typeof v.path === "string" ? v.path : "" };
  } catch { /* a damaged entry: start over */ }
  return { text: DEFAULT_PROGRAM, path: "" };
}

/** The line of the program an exception points at: the last frame in "<stdin>". */
export function exceptionLine(result) {
  const m = [...String(result.stderr || "").matchAll(/File "<stdin>", line (\d+)/g)];
  if (m.length) return Number(m[m.length - 1][1]);
  return typeof result.exception_line === "number" ? result.exception_line : null;
}

/**
 * mountEditor(root, boardId, {console, onFilesChanged}) -> {openFile(path, text), path(), dispose()}.
 * console: the mounted console (note(text, cls) writes a line into it).
 */
export function mountEditor(root, boardId, { console: con, onFilesChanged } = {}) {
  const saved = loadBuffer(boardId);
  const runBtn = h("button.primary#editor-run", { type: "button", title: "Run the program on the board (Ctrl-Enter)" }, "▶ Run");
  const stopBtn = h("button#editor-stop", { type: "button", title: "Interrupt the running program", disabled: true }, "■ Stop");
  const pathIn = h("input#editor-path", { type: "text", placeholder: "file on the board, e.g. /main.py", spellcheck: false, value: saved.path, "aria-label": "File on the board" });
  const saveBtn = h("button#editor-save", { type: "button", title: "Write the buffer to this file on the board" }, "Save");
  const saveResetBtn = h("button#editor-save-reset", { type: "button", title: "Save, then reset the board: main.py runs at boot and prints into the console" }, "Save and reset");
  const status = h("div.run-status#run-status", { role: "status", "aria-live": "polite" });
  const host = h("div.editor-host#editor");
  root.append(h("section.editor-panel", {},
    h("div.toolbar", {}, runBtn, stopBtn, h("span.spacer"), pathIn, saveBtn, saveResetBtn),
    host, status));

  let editor = null, running = null, disposed = false;
  let pending = saved.text;

  const persist = () => {
    try {
      localStorage.setItem(key(boardId), JSON.stringify({ text: editor ? editor.getText() : pending, path: pathIn.value.trim() }));
    } catch { /* storage full or disabled: the buffer lives on in the page */ }
  };
  pathIn.addEventListener("input", persist);

  const say = (text, cls = "") => { setText(status, text); status.className = `run-status ${cls}`; };

  async function run() {
    if (running || !editor) return;
    const script = editor.getText();
    editor.clearError();
    running = { id: null };
    runBtn.disabled = true;
    stopBtn.disabled = false;
    say("Queuing the program…", "running");
    try {
      const j = await queueJob(boardId, { kind: "run", script });
      running.id = j.id;
      say(`Running (job ${j.id})… output appears in the console below.`, "running");
      if (con) con.note(`── run (job ${j.id}) ──`);
      const done = await awaitJob(j.id);
      report(done);
    } catch (e) {
      say(e.message, "error");
    } finally {
      running = null;
      runBtn.disabled = false;
      stopBtn.disabled = true;
    }
  }

  function report(j) {
    const r = j.result || {};
    if (j.state !== "succeeded") {
      const msg = j.state === "cancelled" ? `Stopped (job ${j.id} cancelled; the program was interrupted).` : `The run failed: ${jobError(j)}`;
      say(msg, j.state === "cancelled" ? "warn" : "error");
      if (con) con.note(msg, j.state === "cancelled" ? "warn" : "error");
      return;
    }
    const ms = typeof r.duration_ms === "number" ? ` · ${r.duration_ms} ms` : "";
    let text = `Exit status ${r.exit_status}${ms}`;
    if (r.exit_status === 1 && r.exception_type) {
      const line = exceptionLine(r);
      text += ` · ${r.exception_type}${r.exception_message ? ": " + r.exception_message : ""}${line ? ` (line ${line})` : ""}`;
      if (line) editor.markError(line, `${r.exception_type}: ${r.exception_message || ""}`);
    } else if (r.exit_status === 124) {
      text += " · timed out: the program was interrupted";
    }
    say(text, r.exit_status === 0 ? "ok" : "error");
    if (con) con.note(text, r.exit_status === 0 ? "ok" : "error");
  }

  async function stop() {
    if (!running || running.id === null) return;
    stopBtn.disabled = true;
    say("Stopping…", "running");
    try { await api("POST", `/api/v1/jobs/${running.id}/cancel`); } catch (e) { say(e.message, "error"); }
  }

  async function save(reset) {
    const path = pathIn.value.trim();
    if (!path.startsWith("/")) return say("Name the file first, starting with / (e.g. /main.py).", "error");
    if (!editor) return;
    saveBtn.disabled = saveResetBtn.disabled = true;
    try {
      say(`Saving ${path}…`, "running");
      const bytes = new TextEncoder().encode(editor.getText());
      const j = await runJob(boardId, { kind: "fs_put", path, content_b64: toB64(bytes) });
      if (jobError(j)) throw new Error(jobError(j));
      // The listing first: a job after the reset would interrupt main.py at boot.
      if (onFilesChanged) await onFilesChanged();
      if (!reset) return say(`Saved ${path} (${bytes.length} bytes, verified).`, "ok");
      say(`Saved ${path}; resetting the board…`, "running");
      if (con) con.note(`── saved ${path}; reset: what the board prints at boot follows ──`);
      const r = await runJob(boardId, { kind: "reset" });
      if (jobError(r)) throw new Error(`Saved ${path}, but the reset failed: ${jobError(r)}`);
      say(`Saved ${path} and reset the board: its boot output is in the console.`, "ok");
    } catch (e) {
      say(e.message, "error");
    } finally {
      saveBtn.disabled = saveResetBtn.disabled = false;
    }
  }

  runBtn.onclick = run;
  stopBtn.onclick = stop;
  saveBtn.onclick = () => save(false);
  saveResetBtn.onclick = () => save(true);

  import("../vendor/editor.js").then(({ createEditor }) => {
    if (disposed) return;
    editor = createEditor({ parent: host, doc: pending, onChange: persist, onRun: run });
    host.dataset.ready = "1";
  }).catch((e) => say(`The editor did not load (${e.message}): run 'make web' to build web/vendor/editor.js.`, "error"));

  return {
    /** Put a file from the board into the editor. */
    openFile(path, text) {
      pathIn.value = path;
      if (editor) editor.setText(text); else pending = text;
      persist();
      say(`Opened ${path}.`);
    },
    path: () => pathIn.value.trim(),
    dispose() { disposed = true; if (editor) editor.destroy(); },
  };
}
