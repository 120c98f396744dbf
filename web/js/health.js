// A board's health page (#/boards/{id}/health): its state (good / degraded / quarantined) with the
// reason and the evidence behind it, the counters, recent history as small uPlot charts (link
// errors, time to sync, flash rate per job) and the list, and "Re-check and release" for a
// quarantined board. uPlot comes from vendor/ (make web).
import { api } from "./api.js";
import { fill, fmtTime, h, setText } from "./dom.js";
import { subscribe } from "./store.js";

let uplotLoad = null;
function loadUplot() {
  if (!uplotLoad) {
    if (!document.querySelector("link[data-uplot]"))
      document.head.append(h("link", { rel: "stylesheet", href: "vendor/uPlot.min.css", dataset: { uplot: "1" } }));
    uplotLoad = new Promise((resolve, reject) => {
      const s = h("script", { src: "vendor/uPlot.iife.min.js" });
      s.onload = () => resolve(globalThis.uPlot);
      s.onerror = () => { uplotLoad = null; reject(new Error("vendor/uPlot.iife.min.js is missing: run 'make web'.")); };
      document.head.append(s);
    });
  }
  return uplotLoad;
}

/** The charts: one series each, over the jobs of the history (oldest first). */
const CHARTS = [
  { key: "link_errors", title: "Link errors per job", color: "#c0392b" },
  { key: "sync_ms_total", title: "Time to sync (ms)", color: "#2c6fbb" },
  { key: "flash_kbit_per_s", title: "Flash rate (kbit/s)", color: "#1e8449" },
];

export function renderHealth(root, id) {
  const title = h("h1", {}, `${id}: health`);
  const badge = h("span.hbadge#health-state");
  const reason = h("p.health-reason#health-reason");
  const msg = h("p.message#health-message", { role: "status" });
  const release = h("button.primary#unquarantine", { type: "button", hidden: true }, "Re-check and release");
  const evidence = h("div.evidence#health-evidence");
  const counters = h("div.counters#health-counters");
  const charts = h("div.charts#health-charts");
  const history = h("div.history#health-history");
  fill(root, h("section.health-page", { dataset: { board: id } },
    h("div.crumbs", {}, h("a", { href: "#/" }, "← Boards"), " · ",
      h("a", { href: `#/boards/${encodeURIComponent(id)}` }, id)),
    h("header.board-head", {}, h("div.title", {}, title, badge), h("div.actions", {}, release)),
    reason, msg,
    h("h2", {}, "Evidence"), evidence,
    h("h2", {}, "Recent history"), charts, history,
    h("h2", {}, "Counters"), counters));

  release.onclick = async () => {
    release.disabled = true;
    try {
      const r = await api("POST", `/api/v1/boards/${encodeURIComponent(id)}/unquarantine`);
      msg.classList.remove("error");
      setText(msg, `Health check job ${r.check_job.id} queued: the board is released when it passes.`);
    } catch (e) {
      msg.classList.add("error");
      setText(msg, e.message);
    } finally {
      release.disabled = false;
    }
  };

  let plots = [];
  async function load() {
    let hr;
    try {
      hr = await api("GET", `/api/v1/boards/${encodeURIComponent(id)}/health?history=100`);
    } catch (e) {
      msg.classList.add("error");
      return setText(msg, e.message);
    }
    setText(badge, hr.state);
    badge.className = `hbadge ${hr.state}`;
    setText(reason, hr.reason ? `${hr.reason}${hr.since ? ` (since ${fmtTime(hr.since)})` : ""}` : "");
    release.hidden = hr.state !== "quarantined";
    renderEvidence(hr.evidence);
    renderCounters(hr.counters || {}, hr.rates || {});
    renderHistory(hr.history || []);
    renderCharts(hr.history || []);
  }

  function renderEvidence(ev) {
    if (!ev) return fill(evidence, h("p.muted", {}, "Nothing: the board is in rotation."));
    const parts = [];
    const c = ev.counters || ev.previous?.counters;
    if (ev.release_check)
      parts.push(h("p.message.error", {}, `Release refused: ${ev.release_check.summary}`));
    if (ev.check_job) parts.push(h("p", {}, `Released after check job #${ev.check_job}: ${ev.summary || ""}`));
    if (c) parts.push(h("table.kv", {}, h("tbody", {}, Object.entries(c).sort().map(([k, v]) =>
      h("tr", {}, h("th", {}, k), h("td", {}, String(v)))))));
    const recent = ev.recent || ev.previous?.recent;
    if (recent && recent.length)
      parts.push(h("ul.recent", {}, recent.map((e) =>
        h(`li.${e.ok ? "ok" : "bad"}`, {}, h("span.muted", {}, fmtTime(e.at)), " ", e.summary))));
    fill(evidence, parts.length ? parts : h("pre", {}, JSON.stringify(ev, null, 2)));
  }

  function renderCounters(c, rates) {
    const rows = Object.entries(c).sort(([a], [b]) => a.localeCompare(b));
    if (rates.flash_kbit_per_s) rows.push(["flash rate (kbit/s)", rates.flash_kbit_per_s.toFixed(1)]);
    if (rates.sync_ms_avg !== null && rates.sync_ms_avg !== undefined) rows.push(["time to sync, average (ms)", rates.sync_ms_avg.toFixed(0)]);
    fill(counters, rows.length
      ? h("table.kv", {}, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, String(v))))))
      : h("p.muted", {}, "No jobs yet."));
  }

  function renderHistory(list) {
    fill(history, list.length
      ? h("ul.recent", {}, list.slice(0, 30).map((e) => h(`li.${e.ok ? "ok" : "bad"}`, { dataset: { kind: e.kind } },
          h("span.muted", {}, fmtTime(e.at)), " ", h("span.kind", {}, e.kind), " ", e.summary)))
      : h("p.muted", {}, "No history yet."));
  }

  async function renderCharts(list) {
    for (const p of plots) p.destroy();
    plots = [];
    const jobs = list.filter((e) => e.kind === "job" || e.kind === "check").slice().reverse();
    const xs = jobs.map((_, i) => i + 1); // the jobs in order; their ids label the axis
    let uPlot;
    try {
      uPlot = await loadUplot();
    } catch (e) {
      return fill(charts, h("p.message.error", {}, e.message));
    }
    fill(charts);
    for (const c of CHARTS) {
      const ys = jobs.map((e) => (e.detail && typeof e.detail[c.key] === "number" ? e.detail[c.key] : (c.key === "link_errors" ? 0 : null)));
      const box = h("div.chart", { dataset: { chart: c.key } }, h("div.chart-title", {}, c.title));
      charts.append(box);
      if (!ys.some((v) => v !== null)) {
        box.append(h("p.muted", {}, "no data yet"));
        continue;
      }
      plots.push(new uPlot({
        width: 300, height: 130, legend: { show: false }, cursor: { show: false },
        scales: { x: { time: false, range: (u, lo, hi) => [Math.max(0, lo - 0.5), hi + 0.5] } },
        axes: [{ size: 30, font: "10px sans-serif", incrs: [1, 2, 5, 10, 20, 50],
                 values: (u, vals) => vals.map((v) => (Number.isInteger(v) && jobs[v - 1] ? `#${jobs[v - 1].detail?.job ?? ""}` : "")) },
               { size: 40, font: "10px sans-serif" }],
        series: [{}, { stroke: c.color, width: 2, points: { show: true, size: 5 }, spanGaps: true }],
      }, [xs, ys], box));
    }
  }

  let timer = null;
  const reload = () => { clearTimeout(timer); timer = setTimeout(load, 400); };
  load();
  const unsub = subscribe((m) => {
    if ((m.type === "health" && m.id === id) || (m.type === "job" && m.board === id)) reload();
  });
  return () => { unsub(); clearTimeout(timer); for (const p of plots) p.destroy(); };
}
