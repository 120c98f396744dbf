// One board's page (#/boards/{id}): identity and facts, the program editor (Run, Stop, Save), the
// live console, the board's files, job history (verdict, duration, log on click), and the
// inventory fields people edit (name, labels, notes).
import { api, isFinal } from "./api.js";
import { fill, fmtTime, h, setText } from "./dom.js";
import { mountConsole } from "./console.js";
import { mountEditor } from "./editor_panel.js";
import { mountFiles } from "./files.js";
import { openFlashDialog } from "./flash.js";
import { bootDetail, bootText } from "./boot.js";
import { firmwareText } from "./fleet.js";
import { boards, fact, liveState, subscribe, verdict } from "./store.js";

export function renderBoard(root, id) {
  const title = h("h1");
  const badge = h("span.badge");
  const reason = h("span.reason");
  const health = h("a.hbadge#board-health", { href: `#/boards/${encodeURIComponent(id)}/health` });
  const ident = h("dl.ident");
  const msg = h("p.message", { role: "status" });
  const act = (label, body) => h("button", { type: "button", onclick: () => post(body) }, label);
  const flashBtn = h("button", { type: "button", onclick: () => openFlashDialog([id]) }, "Flash…");
  const consoleBox = h("div.console-box");
  const editorBox = h("div.editor-box");
  const filesBox = h("div.files-box#board-files");
  const jobsBox = h("div.jobs#board-jobs");
  const factsBox = h("div.facts");
  const inv = inventoryForm(id);

  fill(root, h("section.board-page", { dataset: { board: id } },
    h("div.crumbs", {}, h("a", { href: "#/" }, "← Boards")),
    h("header.board-head", {},
      h("div.title", {}, title, badge, health, reason),
      h("div.actions", {}, act("Identify", { kind: "identify" }), act("Reset", { kind: "reset" }),
        act("Health check", { kind: "health_check" }), flashBtn)),
    msg, ident,
    h("div.board-grid", {},
      h("div.main-col", {}, h("h2", {}, "Program"), editorBox, h("h2", {}, "Console"), consoleBox),
      h("div.side-col", {},
        h("h2", {}, "Files"), filesBox,
        h("h2", {}, "Inventory"), inv.el,
        h("h2", {}, "Facts"), factsBox)),
    h("h2", {}, "Jobs"), jobsBox));

  async function post(body) {
    setText(msg, "");
    try {
      const j = await api("POST", `/api/v1/boards/${encodeURIComponent(id)}/jobs`, body);
      msg.classList.remove("error");
      setText(msg, `Job ${j.id} (${j.kind}) queued.`);
      loadJobs();
    } catch (e) {
      msg.classList.add("error");
      setText(msg, e.message);
    }
  }

  function renderHead() {
    const b = boards.get(id);
    if (!b) {
      setText(title, id);
      setText(badge, "unknown");
      badge.className = "badge unknown";
      return;
    }
    setText(title, b.name || b.id);
    const s = liveState(b);
    setText(badge, s.state);
    badge.className = `badge ${s.state}`;
    setText(reason, s.reason);
    const hs = (b.health && b.health.state) || "good";
    setText(health, `health: ${hs}`);
    health.className = `hbadge ${hs}`;
    health.title = (b.health && b.health.reason) || "";
    const items = [
      ["id", b.id], ["family", b.family], ["chip", fact(b, "chip_description") || b.chip],
      ["MAC", fact(b, "mac")], ["flash", fact(b, "flash_size")], ["firmware", firmwareText(b)],
      ["boot", bootDetail(b)], ["port", b.port && b.port.url], ["labels", (b.labels || []).join(", ")],
    ].filter(([, v]) => v);
    const stuck = !!bootText(fact(b, "boot"));
    fill(ident, items.map(([k, v]) => [h("dt", {}, k),
      h("dd", { class: (k === "boot" || k === "firmware") && stuck ? "boot-bad" : null, dataset: { k } }, String(v))]));
    const facts = Object.entries(b.facts || {}).sort(([a], [c]) => a.localeCompare(c));
    fill(factsBox, facts.length
      ? h("table.facts", {}, h("tbody", {}, facts.map(([k, f]) => h("tr", {},
          h("th", {}, k), h("td", {}, factValue(f.value)),
          h("td.muted", { title: f.learned_at || "" }, fmtTime(f.learned_at))))))
      : h("p.muted", {}, "Nothing learned yet: run Identify."));
    inv.load(b);
  }

  // Jobs: the list from REST, refreshed when this board's jobs change; logs on demand.
  const open = new Map(); // job id -> <pre> of its log while expanded
  const loadJobs = debounce(async () => {
    try {
      const r = await api("GET", `/api/v1/boards/${encodeURIComponent(id)}/jobs?limit=50`);
      renderJobs(r.jobs || []);
    } catch (e) {
      fill(jobsBox, h("p.message.error", {}, e.message));
    }
  }, 250);

  function renderJobs(list) {
    if (!list.length) return fill(jobsBox, h("p.muted", {}, "No jobs yet."));
    const keep = new Map([...jobsBox.querySelectorAll("details[data-job]")].map((d) => [Number(d.dataset.job), d]));
    fill(jobsBox, list.map((j) => {
      const v = verdict(j);
      let d = keep.get(j.id);
      const summary = h("summary", {},
        h("span.jid", {}, `#${j.id}`), h("span.kind", {}, j.kind),
        h(`span.jstate.${j.state}`, {}, j.state),
        j.state === "running" ? h("div.bar", {}, h("div.fill", { style: `width:${j.progress || 0}%` })) : null,
        h(`span.verdict.${v.cls}`, {}, isFinal(j.state) ? (v.text === j.state ? "" : v.text) : j.phase || ""),
        h("span.dur.muted", {}, duration(j)),
        h("span.when.muted", {}, fmtTime(j.finished_at || j.started_at || j.created_at)));
      if (d) {
        d.replaceChild(summary, d.querySelector("summary"));
        if (d.open && isFinal(j.state) && d.dataset.state !== j.state) loadLog(j.id, d); // its result is in
        d.dataset.state = j.state;
        return d;
      }
      d = h("details", { dataset: { job: j.id, state: j.state } }, summary, h("div.job-detail"));
      d.addEventListener("toggle", () => { if (d.open) loadLog(j.id, d); else open.delete(j.id); });
      return d;
    }));
  }

  async function loadLog(jobId, d) {
    const box = d.querySelector(".job-detail");
    try {
      const j = await api("GET", `/api/v1/jobs/${jobId}`);
      const lines = (j.log || []).map((l) => `${fmtTime(l.t)}  ${l.line}\n`);
      const pre = h("pre.log", {}, lines.length ? lines : j.state === "running" ? "" : "(no log lines)\n");
      open.set(jobId, pre);
      fill(box,
        j.error ? h("p.message.error", {}, j.error.message) : null,
        h("div.kv", {}, `params ${JSON.stringify(j.params || {})}`),
        pre,
        j.result ? h("details.result", {}, h("summary", {}, "result"), h("pre", {}, JSON.stringify(j.result, null, 2))) : null);
    } catch (e) {
      fill(box, h("p.message.error", {}, e.message));
    }
  }

  const con = mountConsole(consoleBox, id);
  let files = null;
  const ed = mountEditor(editorBox, id, { console: con, onFilesChanged: () => files && files.refresh() }); // -> a promise
  // Listing files is a job on the port: only when asked (on a shared farm, a page view queues
  // nothing, and the console stays writable).
  files = mountFiles(filesBox, id, { onOpen: (path, text) => ed.openFile(path, text), autoload: false });
  renderHead();
  loadJobs();
  const unsub = subscribe((m) => {
    if ((m.type === "board" && m.id === id) || m.type === "boards") renderHead();
    if (m.type === "job" && m.board === id) loadJobs();
    if (m.type === "log" && open.has(m.job)) open.get(m.job).append(`${fmtTime(m.time)}  ${m.line}\n`);
  });
  return () => { unsub(); con.dispose(); ed.dispose(); files.dispose(); };
}

/** A fact's value for people: scalars as text, lists as lists, objects as "key: value" lines. */
function factValue(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.length ? h("ul.fact-list", {}, v.map((x) => h("li", {}, factValue(x)))) : "(none)";
  if (typeof v === "object") {
    return h("dl.fact-obj", {}, Object.entries(v).map(([k, x]) => [h("dt", {}, k), h("dd", {}, factValue(x))]));
  }
  return String(v);
}

/** "1.2 s" / "3 min 4 s" from a job's start to its end (or now while it runs). */
function duration(j) {
  if (!j.started_at) return "";
  const end = j.finished_at ? Date.parse(j.finished_at) : isFinal(j.state) ? NaN : Date.now();
  const ms = end - Date.parse(j.started_at);
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function inventoryForm(id) {
  const name = h("input#inv-name", { type: "text", maxLength: 64, required: true });
  const labels = h("input#inv-labels", { type: "text", placeholder: "comma separated: bench-2, wifi" });
  const notes = h("textarea#inv-notes", { rows: 3, maxLength: 4096 });
  const status = h("p.message#inv-status", { role: "status" });
  const save = h("button.primary", { type: "submit" }, "Save");
  let dirty = false;
  const el = h("form.inventory", {},
    h("label", {}, "Name", name), h("label", {}, "Labels", labels), h("label", {}, "Notes", notes),
    h("div.buttons", {}, status, save));
  for (const x of [name, labels, notes]) x.addEventListener("input", () => { dirty = true; });
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const body = {
        name: name.value.trim(),
        labels: labels.value.split(",").map((s) => s.trim()).filter(Boolean),
        notes: notes.value,
      };
      const b = await api("PATCH", `/api/v1/boards/${encodeURIComponent(id)}`, body);
      dirty = false;
      boards.set(b.id, { ...(boards.get(b.id) || {}), ...b });
      load(b, true);
      status.classList.remove("error");
      setText(status, "Saved.");
    } catch (err) {
      status.classList.add("error");
      setText(status, err.message);
    } finally {
      save.disabled = false;
    }
  });
  function load(b, force = false) {
    if (dirty && !force) return; // never overwrite what someone is typing
    name.value = b.name || "";
    labels.value = (b.labels || []).join(", ");
    notes.value = b.notes || "";
  }
  return { el, load };
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
