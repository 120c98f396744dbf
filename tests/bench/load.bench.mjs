// Load bench (issue 9 item 6): 32 virtual boards, 200 WebSocket viewers, a trickle of console
// output and jobs, and wrk hammering the REST API for LOAD_SECONDS (default 60); reports wrk's
// numbers, what the viewers got, job outcomes and corrald's RSS/threads/fds. Then a shorter run
// against the ASan+UBSan build that checks corrald's stderr for sanitizer reports at shutdown.
// Everything runs on 127.0.0.1 and is stopped at the end, also on errors. Nothing is asserted.
//
// Knobs: LOAD_SECONDS (60), LOAD_BOARDS (32), LOAD_VIEWERS (200), LOAD_SAN (1: also the ASan run;
// 0: skip), LOAD_SAN_SECONDS (15), LOAD_SAN_BOARDS (8), LOAD_SAN_VIEWERS (40), LOAD_NO_PACING (1:
// boards deliver bytes at once instead of at 115200 baud), LOAD_BOARDS_PER_PROCESS (8), WRK_THREADS (2),
// WRK_CONNECTIONS (32).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { ROOT, VBOARD, api, startCorrald, waitFor } from "../integration/lib.mjs";

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== "" ? Number(process.env[k]) : d);
const SECONDS = env("LOAD_SECONDS", 60);
const MKIMAGE = path.join(ROOT, "tests/vboard/mkimage");
const BOARDS_PER_PROCESS = env("LOAD_BOARDS_PER_PROCESS", 8); // 1: one vboard process per board
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- everything we start, stopped on every way out ----
const started = new Set(); // child processes (vboard, wrk); corrald is tracked by lib.mjs too
const cleanups = [];
function track(proc) {
  started.add(proc);
  proc.on("exit", () => started.delete(proc));
  return proc;
}
function killAll() {
  for (const p of started) try { p.kill("SIGKILL"); } catch {}
  for (const f of cleanups.splice(0)) try { f(); } catch {}
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { killAll(); process.exit(130); });

// ---- /proc ----
function procSample(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k) => Number((st.match(new RegExp(`^${k}:\\s+(\\d+)`, "m")) || [])[1] || 0);
    return { rss: kb("VmRSS"), hwm: kb("VmHWM"), threads: kb("Threads"), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch { return null; }
}
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch { return 0; }
}
/** Sum of f(pid) over a process and all its descendants (vboard's node may sit under a wrapper). */
function treeSum(pid, f) {
  let total = 0;
  const walk = (p) => {
    total += f(p);
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
        for (const k of kids ? kids.split(/\s+/) : []) walk(Number(k));
      }
    } catch {}
  };
  walk(pid);
  return total;
}
const treeRssKb = (pid) => treeSum(pid, (p) => procSample(p)?.rss || 0);
const mb = (kb) => (kb / 1024).toFixed(1);

// ---- boards ----
/** Kinds by index: half MicroPython, a quarter ESP8266, a quarter ESP32 (both boot MicroPython). */
function boardPlan(n, dir) {
  const e8 = path.join(dir, "esp8266.bin"), e32 = path.join(dir, "esp32.bin");
  execFileSync(MKIMAGE, ["--chip", "esp8266", "--version", "1.24.1", "-o", e8], { stdio: "ignore" });
  execFileSync(MKIMAGE, ["--chip", "esp32", "--version", "1.24.1", "-o", e32], { stdio: "ignore" });
  const pacing = process.env.LOAD_NO_PACING === "1" ? { no_pacing: true } : {};
  return Array.from({ length: n }, (_, i) => {
    const k = ["micropython", "micropython", "esp8266", "esp32"][i % 4];
    const name = `${k === "micropython" ? "mp" : k === "esp8266" ? "e8" : "e32"}-${String(i + 1).padStart(2, "0")}`;
    const family = k === "micropython" ? "micropython" : k;
    const spec = { name, kind: k, state_dir: path.join(dir, name), ...pacing };
    if (k === "esp8266") spec.image = [`${e8}@0x0`];
    if (k === "esp32") spec.image = [`${e32}@0x1000`];
    return { name, kind: k, family, spec };
  });
}

/** One vboard process per BOARDS_PER_PROCESS boards; resolves when every board printed its line. */
async function startBoards(plan, dir) {
  const groups = [];
  for (let i = 0; i < plan.length; i += BOARDS_PER_PROCESS) groups.push(plan.slice(i, i + BOARDS_PER_PROCESS));
  const procs = await Promise.all(groups.map(async (g, gi) => {
    const file = path.join(dir, `spec${gi}.json`);
    writeFileSync(file, JSON.stringify(g.map((b) => b.spec)));
    const proc = track(spawn(VBOARD, ["--spec", file], { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "", err = "";
    proc.stdout.on("data", (d) => { out += d; });
    proc.stderr.on("data", (d) => { err = (err + d).slice(-8000); });
    const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
    const lines = await Promise.race([
      waitFor(() => { const l = out.split("\n").filter(Boolean); return l.length >= g.length && l; }, 120000, `vboard group ${gi}`),
      exited.then(({ code, sig }) => { throw new Error(`vboard group ${gi} exited (${code ?? sig}):\n${err}`); }),
    ]);
    for (const l of lines) {
      const info = JSON.parse(l);
      Object.assign(plan.find((b) => b.name === info.name), { endpoint: info.endpoint, control: info.control });
    }
    return { proc, exited, stderr: () => err };
  }));
  return {
    procs,
    rssKb: () => procs.reduce((a, p) => a + treeRssKb(p.proc.pid), 0),
    cpu: () => procs.reduce((a, p) => a + treeSum(p.proc.pid, cpuSeconds), 0),
    async stop() {
      for (const p of procs) if (p.proc.exitCode === null && !p.proc.signalCode) p.proc.kill("SIGTERM");
      await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(15000)]);
      for (const p of procs) if (p.proc.exitCode === null && !p.proc.signalCode) p.proc.kill("SIGKILL");
    },
  };
}

// ---- viewers ----
function openViewer(base, p) {
  const v = { path: p, msgs: 0, bytes: 0, dropNotices: 0, droppedUnits: 0, errors: [], opened: false, closedByUs: false, unexpectedClose: null, status: null };
  const ws = new WebSocket(base.replace(/^http/, "ws") + p);
  v.ws = ws;
  v.open = new Promise((resolve) => {
    ws.on("open", () => { v.opened = true; resolve(); });
    ws.on("unexpected-response", (req, res) => { v.status = res.statusCode; v.errors.push(`HTTP ${res.statusCode}`); res.resume(); resolve(); });
    ws.on("error", (e) => { v.errors.push(e.message); resolve(); });
  });
  ws.on("message", (d, bin) => {
    v.msgs++;
    v.bytes += d.length;
    if (bin) return;
    let m;
    try { m = JSON.parse(d.toString()); } catch { v.errors.push("non-JSON text frame"); return; }
    if (v.types && m.type) v.types[m.type] = (v.types[m.type] || 0) + 1;
    if (m.type === "dropped") { v.dropNotices++; v.droppedUnits += m.bytes ?? m.events ?? 0; }
    if (m.type === "error") v.errors.push(`error message ${m.code}`);
  });
  ws.on("close", (code) => { if (v.opened && !v.closedByUs) v.unexpectedClose = code; });
  return v;
}

async function closeViewers(vs) {
  await Promise.all(vs.map((v) => new Promise((r) => {
    v.closedByUs = true;
    if (v.ws.readyState === WebSocket.CLOSED) return r();
    v.ws.once("close", r);
    try { v.ws.close(); } catch { r(); }
    setTimeout(() => { try { v.ws.terminate(); } catch {} r(); }, 3000);
  })));
}

// ---- jobs ----
async function postJob(url, board, body) {
  const r = await api(url, "POST", `/api/v1/boards/${board}/jobs`, body);
  if (r.status !== 202) throw new Error(`POST ${board} ${body.kind}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body.id;
}
async function finished(url, id, ms) {
  return waitFor(async () => {
    const j = (await api(url, "GET", `/api/v1/jobs/${id}`)).body;
    return ["queued", "running"].includes(j.state) ? null : j;
  }, ms, `job ${id}`);
}

/** Jobs in a loop on one board until stop(): identify, then run print(1), and again. */
function jobLoop(url, board, stats) {
  let stopping = false;
  const done = (async () => {
    for (let i = 0; !stopping; i++) {
      const body = i % 2 ? { kind: "run", script: "print(1)", timeout_s: 30 } : { kind: "identify" };
      const key = `${body.kind} on ${board.family}`;
      const s = (stats[key] ??= { ok: 0, failed: 0, other: 0, ms: [], errors: [] });
      const t0 = Date.now();
      try {
        const j = await finished(url, await postJob(url, board.name, body), 90000);
        const good = j.state === "succeeded" && (body.kind !== "run" || j.result?.stdout === "1\r\n");
        if (good) { s.ok++; s.ms.push(Date.now() - t0); }
        else { s.failed++; s.errors.push(`job ${j.id} ${j.state}: ${(j.error?.message || JSON.stringify(j.result)).slice(0, 200)}`); }
      } catch (e) { s.other++; s.errors.push(e.message.slice(0, 200)); await sleep(500); }
    }
  })();
  return { stop() { stopping = true; return done; } };
}

const TRICKLE = "import time\ni = 0\nwhile True:\n    print('tick %d ' % i + 'abcdefghij' * 6)\n    i += 1\n    time.sleep(0.1)\n";

// ---- wrk ----
function runWrk(url, seconds, dir) {
  const lua = path.join(dir, "rotate.lua");
  writeFileSync(lua, `local paths = {"/api/v1/boards", "/api/v1/health", "/api/v1/jobs?limit=20"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
`);
  const args = [`-t${env("WRK_THREADS", 2)}`, `-c${env("WRK_CONNECTIONS", 32)}`, `-d${seconds}s`, "--latency", "-s", lua, url + "/"];
  const proc = track(spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] }));
  let out = "";
  proc.stdout.on("data", (d) => { out += d; });
  proc.stderr.on("data", (d) => { out += d; });
  const done = new Promise((resolve) => proc.on("exit", (code) => resolve({ code, out, args })));
  return { done, proc };
}
function parseWrk(out) {
  const g = (re) => (out.match(re) || [])[1];
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: Number(g(/(\d+) requests in/) || 0),
    rps: g(/Requests\/sec:\s+([\d.]+)/) || "?",
    p50: g(/^\s+50%\s+(\S+)/m) || "?", p90: g(/^\s+90%\s+(\S+)/m) || "?", p99: g(/^\s+99%\s+(\S+)/m) || "?",
    max: g(/Latency\s+\S+\s+\S+\s+(\S+)/) || "?",
    non2xx: Number(g(/Non-2xx or 3xx responses: (\d+)/) || 0),
    sockErr: sock ? `connect ${sock[1]}, read ${sock[2]}, write ${sock[3]}, timeout ${sock[4]}` : "none",
  };
}

// ---- one run ----
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0; };

async function loadRun({ title, bin, seconds, nBoards, nViewers, sanitizer }) {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-load-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const out = [];
  const samples = [];
  let boards, d, wrk;
  const viewers = [];
  try {
    const plan = boardPlan(nBoards, dir);
    const tBoards = Date.now();
    boards = await startBoards(plan, dir);
    const boardsUpMs = Date.now() - tBoards;
    const vboardRssStart = boards.rssKb();

    const args = plan.flatMap((b) => ["--port", `${b.name}=${b.endpoint},family=${b.family}`]);
    d = await startCorrald({ bin, args, env: sanitizer ? { ASAN_OPTIONS: "detect_leaks=1", UBSAN_OPTIONS: "print_stacktrace=1" } : {} });
    const pid = d.proc.pid;
    const sample = (when) => { const s = procSample(pid); if (s) samples.push({ when, ...s }); return s; };
    sample("start (listening)");
    const tOpen = Date.now();
    await waitFor(async () => {
      const r = await api(d.url, "GET", "/api/v1/boards");
      const list = Array.isArray(r.body) ? r.body : r.body.boards || [];
      return list.filter((b) => b.port?.open).length >= plan.length;
    }, 120000, "every board's port to open");
    const portsOpenMs = Date.now() - tOpen;
    await sleep(1000);
    sample("boards connected");

    // Viewers: most on the consoles, round-robin over the boards; a tenth on the event stream.
    const nEvents = Math.max(1, Math.round(nViewers / 10));
    const tView = Date.now();
    for (let i = 0; i < nViewers; i++) {
      const p = i < nEvents ? "/ws/v1/events" : `/ws/v1/boards/${plan[(i - nEvents) % plan.length].name}/console?name=load${i}`;
      viewers.push(openViewer(d.url, p));
    }
    viewers[0].types = {}; // event types as seen by one event viewer
    await Promise.race([Promise.all(viewers.map((v) => v.open)), sleep(30000)]);
    const viewersOpenMs = Date.now() - tView;

    // Console trickle on every 8th board (offset 1); job loops on half the boards (offsets 2, 3, 4, 7 mod 8).
    const trickleBoards = plan.filter((_, i) => i % 8 === 1);
    const loopBoards = plan.filter((_, i) => i % 8 === 2 || i % 8 === 3 || i % 8 === 4 || i % 8 === 7);
    const trickleIds = [];
    for (const b of trickleBoards)
      trickleIds.push({ board: b, id: await postJob(d.url, b.name, { kind: "run", script: TRICKLE, timeout_s: seconds + 120 }) });
    const jobStats = {};
    const loops = loopBoards.map((b) => jobLoop(d.url, b, jobStats));
    sample("viewers + jobs started");

    const cpu0 = { corrald: cpuSeconds(pid), vboards: boards.cpu(), self: process.cpuUsage() };
    wrk = runWrk(d.url, seconds, dir);
    const t0 = Date.now();
    const every = Math.max(1000, Math.floor((seconds * 1000) / 6));
    const ticker = setInterval(() => sample(`load +${Math.round((Date.now() - t0) / 1000)} s`), every);
    let vboardRssPeak = 0;
    const vt = setInterval(() => { vboardRssPeak = Math.max(vboardRssPeak, boards.rssKb()); }, 2000);
    const w = await wrk.done;
    clearInterval(ticker);
    clearInterval(vt);
    vboardRssPeak = Math.max(vboardRssPeak, boards.rssKb());
    sample("end of load (viewers open)");
    const wall = (Date.now() - t0) / 1000, su = process.cpuUsage(cpu0.self);
    const cpuPct = { corrald: (cpuSeconds(pid) - cpu0.corrald) / wall * 100, vboards: (boards.cpu() - cpu0.vboards) / wall * 100,
      bench: (su.user + su.system) / 1e6 / wall * 100 };
    // Each path alone, sequentially, now that the job history holds everything the run queued.
    const probe = {};
    for (const p of ["/api/v1/boards", "/api/v1/health", "/api/v1/jobs?limit=20"]) {
      const t = [];
      for (let i = 0; i < 30; i++) { const a = performance.now(); await api(d.url, "GET", p); t.push(performance.now() - a); }
      probe[p] = pct(t, 0.5).toFixed(2);
    }

    // Wind down: stop the loops, cancel the trickles, close the viewers.
    await Promise.all(loops.map((l) => l.stop()));
    const trickleStates = [];
    for (const t of trickleIds) {
      await api(d.url, "POST", `/api/v1/jobs/${t.id}/cancel`);
      const j = await finished(d.url, t.id, 30000).catch((e) => ({ state: e.message }));
      trickleStates.push(`${t.board.name}: ${j.state}`);
    }
    await closeViewers(viewers);
    await sleep(2000);
    sample("viewers closed, jobs ended");
    await sleep(5000); // past the bench's HTTP keep-alive (4 s): its idle connections close too
    sample("+5 s idle");
    const dbKb = ["corral.db", "corral.db-wal"].map((f) => { try { return statSync(path.join(d.stateDir, f)).size / 1024; } catch { return 0; } });
    const nJobs = await api(d.url, "GET", "/api/v1/jobs?limit=1").then((r) => r.body.jobs?.[0]?.id ?? "?").catch(() => "?");
    const health = await api(d.url, "GET", "/api/v1/health").then((r) => r.status).catch((e) => e.message);

    const tStop = Date.now();
    const ex = await Promise.race([d.stop("SIGTERM"), sleep(20000).then(() => ({ code: "still running after 20 s" }))]);
    const stopMs = Date.now() - tStop;
    const stderr = d.stderr();

    // ---- report ----
    const kinds = {};
    for (const b of plan) kinds[b.kind] = (kinds[b.kind] || 0) + 1;
    out.push(`### ${title}`, "");
    out.push(`${plan.length} boards (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ")}; ${boards.procs.length} vboard processes` +
      `${process.env.LOAD_NO_PACING === "1" ? ", no pacing" : ", paced at 115200 baud"}), ${nViewers} WebSocket viewers ` +
      `(${nViewers - nEvents} on consoles, ${nEvents} on /ws/v1/events), run-job trickle on ${trickleBoards.length} boards ` +
      `(a 70-byte line every 100 ms), identify / run print(1) loops on ${loopBoards.length} boards, ` +
      `\`wrk ${w.args.slice(0, 4).join(" ")}\` rotating GET /api/v1/boards, /api/v1/health, /api/v1/jobs?limit=20. corrald: \`${path.relative(ROOT, bin) || bin}\`.`, "");
    out.push(`Start-up: vboards up in ${boardsUpMs} ms, every port open ${portsOpenMs} ms after corrald listened, ` +
      `${viewers.filter((v) => v.opened).length} viewers connected in ${viewersOpenMs} ms.`, "");

    const p = parseWrk(w.out);
    out.push("| wrk | requests | req/s | p50 | p90 | p99 | max | non-2xx | socket errors |", "|---|---|---|---|---|---|---|---|---|");
    out.push(`| ${seconds} s, exit ${w.code} | ${p.requests} | ${p.rps} | ${p.p50} | ${p.p90} | ${p.p99} | ${p.max} | ${p.non2xx} | ${p.sockErr} |`, "");
    if (w.code !== 0 || !p.requests) out.push("```", w.out.trim(), "```", "");
    out.push(`CPU during the load (100 % = one core of ${cpus().length}): corrald ${cpuPct.corrald.toFixed(0)} %, ` +
      `vboards ${cpuPct.vboards.toFixed(0)} %, this bench (viewers, job loops) ${cpuPct.bench.toFixed(0)} %, wrk the rest. ` +
      `After the load, one request at a time (median of 30): ${Object.entries(probe).map(([k, v]) => `${k} ${v} ms`).join(", ")}.`, "");

    out.push("| viewers | count | opened | refused / failed | closed by server | messages per connected viewer min / median / max | KB per viewer (median) | dropped notices (viewers with any) | dropped bytes / events |",
      "|---|---|---|---|---|---|---|---|---|");
    for (const [label, vs] of [["console", viewers.filter((v) => v.path.includes("/console"))], ["events", viewers.filter((v) => v.path === "/ws/v1/events")]]) {
      if (!vs.length) continue;
      const ok = vs.filter((v) => v.opened), m = ok.length ? ok.map((v) => v.msgs) : [0];
      out.push(`| ${label} | ${vs.length} | ${vs.filter((v) => v.opened).length} | ${vs.filter((v) => !v.opened).length} | ` +
        `${vs.filter((v) => v.unexpectedClose !== null).length} | ${Math.min(...m)} / ${pct(m, 0.5)} / ${Math.max(...m)} | ` +
        `${(pct(ok.map((v) => v.bytes), 0.5) / 1024).toFixed(1)} | ${vs.reduce((a, v) => a + v.dropNotices, 0)} (${vs.filter((v) => v.dropNotices).length}) | ` +
        `${vs.reduce((a, v) => a + v.droppedUnits, 0)} |`);
    }
    const types = Object.entries(viewers[0].types || {}).sort((a, b) => b[1] - a[1]);
    if (types.length) out.push("", `Event types seen by one events viewer: ${types.map(([t, n]) => `${t} ${n}`).join(", ")}.`);
    const verr = viewers.flatMap((v) => v.errors.map((e) => `${v.path}: ${e}`));
    if (verr.length) out.push("", `Viewer errors (${verr.length}): ${[...new Set(verr)].slice(0, 8).join("; ")}`);
    out.push("");

    out.push("| jobs | succeeded | failed | errors | median ms | p95 ms |", "|---|---|---|---|---|---|");
    for (const [k, s] of Object.entries(jobStats).sort())
      out.push(`| ${k} | ${s.ok} | ${s.failed} | ${s.other} | ${pct(s.ms, 0.5)} | ${pct(s.ms, 0.95)} |`);
    out.push(`| trickle run jobs (cancelled at the end) | ${trickleStates.join(", ")} | | | | |`, "");
    const jerr = Object.values(jobStats).flatMap((s) => s.errors);
    if (jerr.length) out.push(`Job failures: ${jerr.slice(0, 6).join("; ")}`, "");

    out.push("| corrald | VmRSS MB | VmHWM MB | threads | open fds |", "|---|---|---|---|---|");
    for (const s of samples) out.push(`| ${s.when} | ${mb(s.rss)} | ${mb(s.hwm)} | ${s.threads} | ${s.fds} |`);
    out.push("");
    out.push(`vboard processes: ${mb(vboardRssStart)} MB RSS after start, ${mb(vboardRssPeak)} MB peak under load ` +
      `(${mb(vboardRssPeak / plan.length * 1)} MB per board). GET /api/v1/health after the run: ${health}. ` +
      `Job history: ${nJobs} jobs; database ${mb(dbKb[0])} MB + WAL ${mb(dbKb[1])} MB. ` +
      `SIGTERM: exit ${ex.code ?? ex.sig} in ${stopMs} ms.`);
    const warn = stderr.split("\n").filter((l) => /^<[0-4]>/.test(l)); // syslog levels emerg..warning
    if (warn.length) {
      const uniq = [...new Set(warn.map((l) => l.replace(/\d+/g, "N")))];
      out.push("", `corrald logged ${warn.length} warning/error lines; distinct (digits as N): ${uniq.slice(0, 8).map((l) => "`" + l.slice(0, 160) + "`").join("; ")}`);
    }
    if (sanitizer) {
      const idx = stderr.search(/==\d+==ERROR: |runtime error:|SUMMARY: (Address|Leak|Undefined)/);
      out.push("", idx < 0 && ex.code === 0 ? `Sanitizers (ASan+UBSan, detect_leaks=1): clean (exit ${ex.code}).`
        : `Sanitizers: NOT clean (exit ${ex.code ?? ex.sig}):\n\n\`\`\`\n${(idx < 0 ? stderr.slice(-4000) : stderr.slice(idx, idx + 12000)).trim()}\n\`\`\``);
    }
    out.push("");
    return out.join("\n");
  } finally {
    for (const v of viewers) try { v.closedByUs = true; v.ws.terminate(); } catch {}
    if (wrk && wrk.proc.exitCode === null) wrk.proc.kill("SIGKILL");
    if (d) await d.stop("SIGTERM").catch(() => {});
    if (boards) await boards.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

let status = 0;
try {
  const rel = process.env.CORRALD || path.join(ROOT, "build/corrald");
  console.log(await loadRun({ title: `Full load, ${SECONDS} s (release build)`, bin: rel, seconds: SECONDS,
    nBoards: env("LOAD_BOARDS", 32), nViewers: env("LOAD_VIEWERS", 200), sanitizer: false }));
  const san = path.join(ROOT, "build/san/corrald");
  if (process.env.LOAD_SAN === "0") console.log("(ASan run skipped: LOAD_SAN=0)");
  else if (!existsSync(san)) console.log(`(ASan run skipped: ${san} not built; make check-build builds it)`);
  else {
    const s = env("LOAD_SAN_SECONDS", Math.min(15, SECONDS));
    console.log(await loadRun({ title: `Short load, ${s} s (ASan+UBSan build)`, bin: san, seconds: s,
      nBoards: env("LOAD_SAN_BOARDS", 8), nViewers: env("LOAD_SAN_VIEWERS", 40), sanitizer: true }));
  }
} catch (e) {
  console.error(`load bench failed: ${e.stack || e}`);
  status = 1;
}
killAll();
process.exit(status);
