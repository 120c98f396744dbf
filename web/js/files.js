// The board page's Files panel: the MicroPython filesystem as a tree (fs_ls), open a file into the
// editor (fs_get), upload from the computer and create files (fs_put, verified by corrald),
// download, delete (fs_rm / fs_rmdir), new folders (fs_mkdir). main.py and boot.py are marked:
// they run at boot.
import { fill, fmtBytes, h, setText } from "./dom.js";
import { fromB64, jobError, runJob, toB64 } from "./jobwait.js";

const BOOT_FILES = { "/boot.py": "runs first at boot", "/main.py": "runs at boot, after boot.py" };
const join = (dir, name) => (name.startsWith("/") ? name : (dir === "/" ? "" : dir) + "/" + name).replace(/\/+/g, "/");
const parent = (p) => p.slice(0, p.lastIndexOf("/")) || "/";

/** mountFiles(root, boardId, {onOpen(path, text), autoload}) -> {refresh(), dispose()}. */
export function mountFiles(root, boardId, { onOpen, autoload = true } = {}) {
  const refreshBtn = h("button#fs-refresh", { type: "button", title: "List the board's files (a job on its port)" }, "List files");
  const nameIn = h("input#fs-new-name", { type: "text", placeholder: "name, e.g. main.py", spellcheck: false, "aria-label": "New file or folder name" });
  const newFile = h("button#fs-new-file", { type: "button" }, "New file");
  const newDir = h("button#fs-new-folder", { type: "button" }, "New folder");
  const upload = h("input#fs-upload-input", { type: "file", multiple: true, hidden: true });
  const uploadBtn = h("button#fs-upload", { type: "button", title: "Upload files from this computer into the current folder" }, "Upload…");
  const cwdEl = h("span.fs-cwd#fs-cwd", {}, "/");
  const tree = h("ul.fs-tree#fs-tree");
  const status = h("p.message#fs-status", { role: "status" });
  root.append(h("section.files-panel", {},
    h("div.toolbar", {}, refreshBtn, uploadBtn, upload),
    h("div.toolbar.fs-new", {}, nameIn, newFile, newDir),
    h("div.fs-where", {}, "Folder: ", cwdEl),
    tree, status));

  let cwd = "/", busy = 0, disposed = false;
  const say = (text, cls = "") => { setText(status, text); status.className = `message ${cls}`; };
  const setCwd = (d) => { cwd = d; setText(cwdEl, d); for (const li of tree.querySelectorAll("li.dir")) li.classList.toggle("cwd", li.dataset.path === d); };

  /** Run one fs job; throws the daemon's message. */
  async function fsJob(body, what) {
    busy++;
    root.classList.add("busy");
    try {
      say(`${what}…`, "running");
      const j = await runJob(boardId, body);
      const err = jobError(j);
      if (err) throw new Error(err);
      return j.result || {};
    } finally {
      if (--busy === 0) root.classList.remove("busy");
    }
  }

  async function refresh() {
    try {
      const r = await fsJob({ kind: "fs_ls", path: "/", recursive: true }, "Listing files");
      if (disposed) return;
      setText(refreshBtn, "↻ Refresh");
      render(r.entries || []);
      say("");
    } catch (e) {
      fill(tree);
      say(e.message, "error");
    }
  }

  function render(entries) {
    entries = [...entries].sort((a, b) => a.path.localeCompare(b.path));
    if (!entries.length) return fill(tree, h("li.muted", {}, "No files yet. Create main.py: it runs at boot."));
    fill(tree, entries.map((e) => {
      const depth = e.path.split("/").length - 2;
      const name = e.path.slice(e.path.lastIndexOf("/") + 1);
      const isDir = e.type === "dir";
      const del = h("button.fs-delete", { type: "button", title: `Delete ${e.path}` }, "Delete");
      del.onclick = () => {
        if (!del.classList.contains("confirm")) { // a second click deletes
          del.classList.add("confirm");
          setText(del, "Really?");
          setTimeout(() => { del.classList.remove("confirm"); setText(del, "Delete"); }, 4000);
          return;
        }
        remove(e.path, isDir);
      };
      const label = h("a.fs-name", { href: "#", title: isDir ? "Make this the current folder" : "Open in the editor" }, isDir ? `${name}/` : name);
      label.onclick = (ev) => { ev.preventDefault(); if (isDir) setCwd(e.path); else open(e.path); };
      return h(`li.fs-entry.${isDir ? "dir" : "file"}`, { dataset: { path: e.path }, style: `padding-left:${depth * 1.1}rem` },
        h("span.fs-icon", { "aria-hidden": "true" }, isDir ? "📁" : "📄"), label,
        BOOT_FILES[e.path] ? h("span.fs-boot", { title: BOOT_FILES[e.path] }, "runs at boot") : null,
        isDir ? null : h("span.fs-size.muted", {}, fmtBytes(e.size)),
        h("span.spacer"),
        isDir ? null : h("button.fs-download", { type: "button", title: `Download ${e.path}`, onclick: () => download(e.path) }, "Download"),
        del);
    }));
    setCwd(entries.some((e) => e.path === cwd && e.type === "dir") ? cwd : "/");
  }

  async function read(path) {
    const r = await fsJob({ kind: "fs_get", path }, `Reading ${path}`);
    return fromB64(r.content_b64);
  }

  async function open(path) {
    try {
      const bytes = await read(path);
      if (onOpen) onOpen(path, new TextDecoder().decode(bytes));
      say(`Opened ${path} in the editor.`);
    } catch (e) { say(e.message, "error"); }
  }

  async function download(path) {
    try {
      const bytes = await read(path);
      const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
      const a = h("a", { href: url, download: path.slice(path.lastIndexOf("/") + 1) });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      say(`Downloaded ${path} (${bytes.length} bytes).`, "ok");
    } catch (e) { say(e.message, "error"); }
  }

  async function remove(path, isDir) {
    try {
      await fsJob({ kind: isDir ? "fs_rmdir" : "fs_rm", path }, `Deleting ${path}`);
      if (cwd === path) setCwd(parent(path));
      await refresh();
      say(`Deleted ${path}.`, "ok");
    } catch (e) { say(e.message, "error"); }
  }

  async function create(dir) {
    const n = nameIn.value.trim();
    if (!n || n === "/" || /(^|\/)\.\.?(\/|$)/.test(n)) return say("Type a name first (e.g. main.py).", "error");
    const path = join(cwd, n);
    try {
      if (dir) await fsJob({ kind: "fs_mkdir", path }, `Creating ${path}/`);
      else await fsJob({ kind: "fs_put", path, content_b64: "" }, `Creating ${path}`);
      nameIn.value = "";
      await refresh();
      if (dir) setCwd(path);
      else if (onOpen) onOpen(path, "");
      say(dir ? `Created ${path}/.` : `Created ${path}: it is open in the editor.`, "ok");
    } catch (e) { say(e.message, "error"); }
  }

  async function uploadFiles(files) {
    try {
      for (const f of files) {
        const path = join(cwd, f.name);
        const bytes = new Uint8Array(await f.arrayBuffer());
        await fsJob({ kind: "fs_put", path, content_b64: toB64(bytes) }, `Uploading ${path} (${fmtBytes(bytes.length)})`);
      }
      await refresh();
      say(`Uploaded ${files.map((f) => f.name).join(", ")}.`, "ok");
    } catch (e) { say(e.message, "error"); }
  }

  refreshBtn.onclick = refresh;
  newFile.onclick = () => create(false);
  newDir.onclick = () => create(true);
  nameIn.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); create(false); } });
  uploadBtn.onclick = () => upload.click();
  upload.onchange = () => { const fs = [...upload.files]; upload.value = ""; if (fs.length) uploadFiles(fs); };

  if (autoload) refresh();
  else fill(tree, h("li.muted", {}, "Press “List files” to see the board's files (a MicroPython board)."));
  return { refresh, dispose() { disposed = true; } };
}
