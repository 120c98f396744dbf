// The fleet page: one row per board, kept live from the store; select boards to flash or identify.
// In a farm (boards from more than one host) a Host column and a host filter appear, rows grouped
// by host.
import { api } from "./api.js";
import { fill, h, setText } from "./dom.js";
import { openFlashDialog } from "./flash.js";
import { bootDetail, bootText } from "./boot.js";
import { boards, fact, lastJob, liveState, subscribe, verdict } from "./store.js";

const selected = new Set();

export function renderFleet(root) {
  const rows = new Map(); // board id -> {tr, cells}
  const tbody = h("tbody");
  const empty = h("p.empty", {}, "No boards yet. Plug one in, or add a [port] to corrald.conf.");
  const filter = h("input.filter", { type: "search", placeholder: "Filter by name, label, family…", "aria-label": "Filter boards" });
  const hostSel = h("select.host-filter", { id: "host-filter", "aria-label": "Filter by host", hidden: true });
  const hostTh = h("th", { hidden: true }, "Host");
  const all = h("input", { type: "checkbox", "aria-label": "Select all boards" });
  const flashBtn = h("button.primary", { type: "button", id: "flash-selected" }, "Flash…");
  const identifyBtn = h("button", { type: "button", id: "identify-selected" }, "Identify");
  const count = h("span.muted");
  const message = h("p.message", { role: "status" });

  flashBtn.onclick = () => openFlashDialog([...selected].filter((id) => boards.has(id)));
  identifyBtn.onclick = async () => {
    const ids = [...selected];
    const errs = [];
    await Promise.all(ids.map((id) => api("POST", `/api/v1/boards/${encodeURIComponent(id)}/jobs`, { kind: "identify" })
      .catch((e) => errs.push(`${id}: ${e.message}`))));
    setText(message, errs.join(" "));
    message.classList.toggle("error", errs.length > 0);
  };
  all.onchange = () => {
    for (const id of visibleIds()) all.checked ? selected.add(id) : selected.delete(id);
    update();
  };
  filter.oninput = () => update();
  hostSel.onchange = () => update();

  fill(root,
    h("section.fleet", {},
      h("div.toolbar", {}, h("h1", {}, "Boards"), filter, hostSel, h("span.spacer"), count, identifyBtn, flashBtn),
      message,
      h("div.table-wrap", {},
        h("table.boards", {},
          h("thead", {}, h("tr", {},
            h("th.sel", {}, all), h("th", {}, "Name"), hostTh, h("th", {}, "State"), h("th", {}, "Health"), h("th", {}, "Family"), h("th", {}, "Chip"),
            h("th", {}, "MAC"), h("th", {}, "Firmware"), h("th", {}, "Labels"), h("th", {}, "Last job"))),
          tbody)),
      empty));

  function matches(b) {
    if (!hostSel.hidden && hostSel.value && (b.host || "") !== hostSel.value) return false;
    const q = filter.value.trim().toLowerCase();
    if (!q) return true;
    const hay = [b.id, b.name, b.host, b.family, b.chip, ...(b.labels || []), liveState(b).state, b.health?.state].join(" ").toLowerCase();
    return q.split(/\s+/).every((w) => hay.includes(w));
  }
  function visibleIds() {
    return [...boards.values()].filter(matches).map((b) => b.id);
  }

  function makeRow(id) {
    const check = h("input", { type: "checkbox", "aria-label": `Select ${id}` });
    check.onchange = () => { check.checked ? selected.add(id) : selected.delete(id); updateToolbar(); };
    const link = h("a", { href: `#/boards/${encodeURIComponent(id)}` });
    const cells = {
      check, link,
      state: h("span.badge"), reason: h("span.reason"),
      health: h("a.hbadge", { href: `#/boards/${encodeURIComponent(id)}/health` }), healthWhy: h("span.reason"),
      host: h("td.host", { "data-label": "Host", hidden: true }),
      family: h("td", { "data-label": "Family" }), chip: h("td", { "data-label": "Chip" }),
      mac: h("td.mono", { "data-label": "MAC" }), fw: h("td", { "data-label": "Firmware" }),
      labels: h("td.labels", { "data-label": "Labels" }),
      bar: h("div.bar", {}, h("div.fill")), job: h("span.job"),
    };
    const tr = h("tr", { dataset: { board: id } },
      h("td.sel", {}, check), h("td.name", { "data-label": "Name" }, link), cells.host,
      h("td.state", { "data-label": "State" }, cells.state, cells.reason),
      h("td.health", { "data-label": "Health" }, cells.health, cells.healthWhy),
      cells.family, cells.chip, cells.mac, cells.fw, cells.labels,
      h("td.last", { "data-label": "Last job" }, cells.bar, cells.job));
    return { tr, cells };
  }

  function updateRow(r, b, multiHost) {
    const c = r.cells;
    c.check.checked = selected.has(b.id);
    setText(c.link, b.name || b.id);
    c.host.hidden = !multiHost;
    setText(c.host, b.host || "");
    const { state, reason } = liveState(b);
    setText(c.state, state);
    c.state.className = `badge ${state}`;
    setText(c.reason, reason);
    r.tr.classList.toggle("offline", state === "offline");
    const hs = (b.health && b.health.state) || "good";
    setText(c.health, hs);
    c.health.className = `hbadge ${hs}`;
    c.health.title = (b.health && b.health.reason) || "";
    setText(c.healthWhy, hs === "good" ? "" : (b.health && b.health.reason) || "");
    r.tr.classList.toggle("quarantined", hs === "quarantined");
    setText(c.family, b.family || "");
    setText(c.chip, fact(b, "chip_description") || b.chip || fact(b, "chip") || "");
    setText(c.mac, fact(b, "mac") || "");
    setText(c.fw, firmwareText(b));
    c.fw.classList.toggle("boot-bad", !!bootText(fact(b, "boot")));
    c.fw.title = bootDetail(b);
    const labels = (b.labels || []).join(" ");
    if (c.labels.dataset.v !== labels) {
      c.labels.dataset.v = labels;
      fill(c.labels, (b.labels || []).map((l) => h("span.label", {}, l)));
    }
    const j = lastJob(b.id);
    const v = verdict(j);
    setText(c.job, j ? `${j.kind || "job"} #${j.id} · ${v.text}` : "");
    c.job.className = `job ${v.cls}`;
    c.bar.hidden = !j || j.state !== "running";
    c.bar.firstChild.style.width = `${(j && j.progress) || 0}%`;
  }

  function updateToolbar() {
    for (const id of [...selected]) if (!boards.has(id)) selected.delete(id);
    const n = selected.size;
    flashBtn.disabled = identifyBtn.disabled = n === 0;
    setText(flashBtn, n ? `Flash ${n} board${n > 1 ? "s" : ""}…` : "Flash…");
    const vis = visibleIds();
    all.checked = vis.length > 0 && vis.every((id) => selected.has(id));
    setText(count, `${boards.size} board${boards.size === 1 ? "" : "s"}`);
  }

  /** Show the host filter and column only when the boards come from more than one host; keep
   * the chosen host while it still has boards. Returns whether there are several hosts. */
  function updateHosts() {
    const hosts = hostsOf(boards.values());
    const multi = hosts.length > 1;
    const keys = hosts.join("\n");
    if (hostSel.dataset.v !== keys) {
      const keep = hosts.includes(hostSel.value) ? hostSel.value : "";
      hostSel.dataset.v = keys;
      fill(hostSel, [h("option", { value: "" }, "All hosts"), ...hosts.map((n) => h("option", { value: n }, n))]);
      hostSel.value = keep;
    }
    hostSel.hidden = hostTh.hidden = !multi;
    return multi;
  }

  function update() {
    const multi = updateHosts();
    const byName = (a, b) => (a.name || a.id).localeCompare(b.name || b.id);
    const sorted = [...boards.values()].sort((a, b) => (multi && (a.host || "").localeCompare(b.host || "")) || byName(a, b));
    for (const [id, r] of rows) if (!boards.has(id)) { r.tr.remove(); rows.delete(id); }
    let prev = null;
    for (const b of sorted) {
      let r = rows.get(b.id);
      if (!r) rows.set(b.id, (r = makeRow(b.id)));
      updateRow(r, b, multi);
      r.tr.hidden = !matches(b);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    empty.hidden = boards.size > 0;
    updateToolbar();
  }

  // Coalesce bursts (progress events come up to ten a second per board) into one frame.
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; update(); });
  };
  update();
  return subscribe((m) => { if (m.type === "boards" || m.type === "board" || m.type === "job") schedule(); });
}

/** The distinct hosts the boards are on, sorted (boards without a host left out). */
export function hostsOf(list) {
  return [...new Set([...list].map((b) => b.host).filter(Boolean))].sort();
}

/** What is known of a board's firmware: a boot loop first (see bootText), its MicroPython version,
 * else the firmware fact's name, else (once identified) that none was detected, never an empty cell. */
export function firmwareText(b) {
  const stuck = bootText(fact(b, "boot"));
  if (stuck) return stuck;
  const v = fact(b, "mp_version");
  if (v) return String(v);
  const f = fact(b, "firmware");
  if (f && typeof f === "object") return String(f.name || f.title || f.version || "unknown firmware");
  if (f) return String(f);
  if (fact(b, "chip") || fact(b, "mac")) return "none detected";
  return "";
}
