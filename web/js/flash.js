// The Flash dialog: one firmware per chip family among the selected boards (from the library, an
// upload, or a file on corrald's host), shared options, then one flash job per board with its
// progress bar and verdict side by side.
import { api, isFinal } from "./api.js";
import { fill, fmtBytes, h, setText } from "./dom.js";
import { fwEditor } from "./fwedit.js";
import { boards, fact, jobs, subscribe, verdict } from "./store.js";

const MODE_HINT =
  "Auto writes ESP8266 images as DIO and leaves other chips' images as built. Many ESP8266 modules " +
  "(NodeMCU v3, ESP-01 clones) wire their flash for DIO/DOUT only: a QIO image there loads its first " +
  "segment and then fails its checksum (\"csum err\") in a boot loop. DIO boots on every ESP8266 module " +
  "at a small speed cost. ESP32-family images carry a mode their 2nd-stage bootloader expects, so keep it.";

/** The chip's boot offset, where a single image goes. */
function bootOffset(b) {
  const chip = String(fact(b, "chip") || b.chip || "").toUpperCase();
  if (chip) return chip === "ESP32" ? 0x1000 : 0;
  return b.family === "esp32" ? 0x1000 : 0;
}

const chipKey = (b) => (b.family || "unknown").toLowerCase();
const hex = (n) => "0x" + n.toString(16);

let dialog = null;

async function loadLibrary() {
  try {
    return { ok: true, list: (await api("GET", "/api/v1/firmware")).firmware || [] };
  } catch (e) {
    return { ok: false, why: e.status === 404 ? "this corrald has no firmware library" : e.message };
  }
}

/** "MicroPython 1.25.0 for ESP8266 (known good)" for a catalogue entry; else what the bytes say. */
function fwLabel(f, fam) {
  const good = fam && (f.known_good_for || []).includes(fam) ? " (known good)" : "";
  if (f.title) return `${f.title}${good}`;
  const v = (f.micropython && f.micropython.version) || f.mp_version || f.version;
  const bits = [f.name || f.filename || f.id.slice(0, 12), f.chip, v && `v${v}`, fmtBytes(f.size)].filter(Boolean);
  return bits.join(" · ") + good;
}

/** Open the dialog for these board ids. */
export async function openFlashDialog(ids) {
  if (!ids.length) return;
  if (dialog) dialog.remove();
  const chosen = ids.map((id) => boards.get(id)).filter(Boolean);
  const groups = new Map(); // family -> boards
  for (const b of chosen) {
    const k = chipKey(b);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(b);
  }
  const lib = await loadLibrary();

  const err = h("p.message.error", { role: "alert" });
  const mode = h("select#flash-mode", { name: "flash_mode" },
    h("option", { value: "auto" }, "auto (ESP8266: dio, others: keep)"),
    ["keep", "dio", "qio", "dout", "qout"].map((m) => h("option", { value: m }, m)));
  const erase = h("input#flash-erase", { type: "checkbox", name: "erase" });
  const verify = h("select#flash-verify", { name: "verify" },
    h("option", { value: "md5" }, "md5 (fast, default)"),
    h("option", { value: "readback" }, "read back (slow, thorough)"),
    h("option", { value: "none" }, "none"));

  const groupUis = [...groups].map(([fam, list]) => groupUi(fam, list, lib));
  const progress = h("div.flash-progress");
  const summary = h("p.hint.flash-summary");
  const rows = new Map(); // board id -> {bar, fill, pct, verdict, job}
  for (const b of chosen) {
    const bar = h("div.bar", {}, h("div.fill"));
    const row = {
      bar, pct: h("span.pct", {}, "—"), phase: h("span.phase", {}, "not started"), verdict: h("span.verdict"), job: null,
    };
    rows.set(b.id, row);
    progress.append(h("div.flash-row", { dataset: { board: b.id } },
      h("span.name", {}, b.name || b.id), bar, row.pct, row.phase, row.verdict));
  }

  const start = h("button.primary#flash-start", { type: "submit" }, `Flash ${chosen.length} board${chosen.length > 1 ? "s" : ""}`);
  const close = h("button", { type: "button", onclick: () => dialog.close() }, "Close");
  const form = h("form", { method: "dialog" },
    h("h2", {}, "Flash firmware"),
    lib.ok ? null : h("p.hint", {}, `Firmware library unavailable (${lib.why}): nothing can be flashed until it is back.`),
    groupUis.map((g) => g.el),
    h("fieldset.options", {}, h("legend", {}, "Options"),
      h("label", {}, "Flash mode ", mode), h("p.hint", {}, MODE_HINT),
      h("label.check", {}, erase, " Erase the whole flash first"),
      h("p.hint", {}, "Off by default: only the image's sectors are erased, which is faster and keeps the " +
        "filesystem and settings. Turn it on for a clean start or when an old firmware's data confuses the new one."),
      h("label", {}, "Verify ", verify)),
    summary, err, progress,
    h("div.buttons", {}, close, start));

  let unsub = null;
  dialog = h("dialog#flash-dialog", { "aria-label": "Flash firmware" }, form);
  dialog.addEventListener("close", () => { if (unsub) unsub(); dialog.remove(); dialog = null; });
  document.body.append(dialog);
  dialog.showModal();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText(err, "");
    start.disabled = true;
    for (const g of groupUis) g.setDisabled(true);
    mode.disabled = erase.disabled = verify.disabled = true;
    try {
      await run();
    } catch (e) {
      setText(err, e.message);
      start.disabled = false;
      for (const g of groupUis) g.setDisabled(false);
      mode.disabled = erase.disabled = verify.disabled = false;
    }
  });

  async function run() {
    const sources = [];
    for (const g of groupUis) sources.push(await g.resolve()); // throws with the daemon's message
    unsub = subscribe((m) => { if (m.type === "job") refresh(); });
    // From here on the dialog is about progress: fold the settings into one line.
    const modeText = mode.value === "auto" ? "auto (ESP8266: dio, others: keep)" : mode.value;
    setText(summary, `Flash mode ${modeText}, erase ${erase.checked ? "on" : "off"}, verify ${verify.value}; ` +
      groupUis.map((g) => `${g.family}: ${g.describe()}`).join("; "));
    form.classList.add("started");
    await Promise.all(groupUis.map((g, i) => Promise.all(g.boards.map((b) => submit(b, sources[i], g)))));
    refresh();
  }

  async function submit(b, src, g) {
    const row = rows.get(b.id);
    const m = mode.value === "auto" ? (b.family === "esp8266" ? "dio" : "keep") : mode.value;
    const params = { kind: "flash", flash_mode: m, erase: erase.checked, verify: verify.value, ...src };
    if (g.explicitOffset() !== null) params.offset = g.explicitOffset();
    setText(row.phase, "submitting");
    try {
      const job = await api("POST", `/api/v1/boards/${encodeURIComponent(b.id)}/jobs`, params);
      row.job = job.id;
      if (!jobs.has(job.id)) jobs.set(job.id, job);
    } catch (e) {
      setText(row.phase, "not queued");
      setText(row.verdict, e.message);
      row.verdict.className = "verdict bad";
    }
  }

  function refresh() {
    for (const row of rows.values()) {
      if (!row.job) continue;
      const j = jobs.get(row.job);
      if (!j) continue;
      const pct = j.progress ?? 0;
      row.bar.firstChild.style.width = `${pct}%`;
      row.bar.classList.toggle("done", isFinal(j.state));
      setText(row.pct, `${pct} %`);
      setText(row.phase, j.state === "running" ? j.phase || "running" : j.state);
      const v = verdict(j);
      setText(row.verdict, isFinal(j.state) ? v.text : "");
      row.verdict.className = `verdict ${v.cls}`;
      row.bar.dataset.state = j.state;
    }
  }
}

/** The firmware chooser for one chip family. */
function groupUi(fam, list, lib) {
  const names = list.map((b) => b.name || b.id).join(", ");
  const src = h("select.fw-source", { "aria-label": `Firmware for ${fam}`, dataset: { family: fam } });
  const matching = lib.ok ? lib.list.filter((f) => !f.family || !f.chip || f.family === fam || f.chip === fam) : [];
  // The family's known-good firmware first (chosen by default), then the newest.
  const good = (f) => ((f.known_good_for || []).includes(fam) ? 0 : 1);
  matching.sort((a, b) => good(a) - good(b));
  for (const f of matching)
    src.append(h("option", { value: "lib:" + f.id, title: f.release_notes || "" }, fwLabel(f, fam)));
  src.append(h("option", { value: "upload" }, "Upload a file…"));
  const file = h("input.fw-file", { type: "file", accept: ".bin,.uf2,.hex" });
  const offsets = [...new Set(list.map(bootOffset))];
  const offset = h("input.fw-offset", {
    type: "text", placeholder: `auto (${offsets.map(hex).join(" / ")}, the boot offset)`, spellcheck: false,
  });
  // Firmware comes from the library or is uploaded to it: corrald never reads a path the browser
  // names on its host.
  const fileRow = h("label", {}, "File ", file);
  const notes = h("p.hint.fw-notes");
  const byId = new Map(matching.map((f) => [f.id, f]));
  // Edit the chosen library entry's catalogue fields in place; the labels follow (a new known-good
  // pin moves "(known good)" from one entry to another, so every entry is read again).
  const editor = fwEditor(fam, async () => {
    const again = await loadLibrary();
    if (!again.ok) return;
    for (const f of again.list) {
      if (!byId.has(f.id)) continue;
      byId.set(f.id, f);
      const o = [...src.options].find((x) => x.value === "lib:" + f.id);
      if (o) { setText(o, fwLabel(f, fam)); o.title = f.release_notes || ""; }
    }
    sync();
  });
  const editBtn = h("button.fw-edit-open", { type: "button", title: "Edit the title, version, notes and known-good pin of this entry",
    onclick: () => { const f = byId.get(src.value.slice(4)); if (f) editor.open(f); } }, "Edit…");
  const sync = () => {
    fileRow.hidden = src.value !== "upload";
    const f = byId.get(src.value.slice(4));
    setText(notes, f && f.release_notes ? f.release_notes : "");
    editBtn.hidden = !f;
    if (!f) editor.el.hidden = true;
  };
  src.onchange = () => { editor.el.hidden = true; sync(); };
  sync();
  const el = h("fieldset.fw-group", { dataset: { family: fam } },
    h("legend", {}, `${fam} · ${names}`),
    h("div.fw-pick", {}, h("label", {}, "Firmware ", src), editBtn), notes, editor.el, fileRow,
    h("label", {}, "Offset ", offset));

  function explicitOffset() {
    const t = offset.value.trim();
    if (!t || t === "auto") return null;
    const n = Number(t);
    if (!Number.isInteger(n) || n < 0) throw new Error(`Offset '${t}' is not a number (e.g. 0x1000).`);
    return n;
  }
  return {
    el, boards: list, explicitOffset, family: fam,
    describe: () => (src.value.startsWith("lib:") ? src.selectedOptions[0].textContent
      : `upload ${file.files?.[0]?.name || ""}`),
    offsetFor: (b) => explicitOffset() ?? bootOffset(b),
    setDisabled(d) { for (const x of [src, file, offset, editBtn]) x.disabled = d; if (d) editor.el.hidden = true; },
    /** -> the job parameters naming the firmware; uploads first when asked. */
    async resolve() {
      explicitOffset(); // validate before anything is sent
      if (src.value.startsWith("lib:")) return { firmware: src.value.slice(4) };
      const f = file.files && file.files[0];
      if (!f) throw new Error(`Choose a file to upload for ${fam}.`);
      const row = await api("POST", `/api/v1/firmware?filename=${encodeURIComponent(f.name)}`, f);
      return { firmware: row.id };
    },
  };
}
