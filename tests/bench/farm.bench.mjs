// Farm bench (issue 16): N corrald hosts × M virtual boards each on this machine, one private
// PostgreSQL (tests/integration/pg.mjs). Measures GET /api/v1/boards latency for all N×M boards from
// every host, reservation throughput under contention (grants/s, 409s, double holders checked both
// by the clients and in the database), PostgreSQL load at idle and under load (statements/s from
// pg_stat_statements when it loads, transactions/s from pg_stat_database, NOTIFY/s), and each
// corrald's RSS, and cross-host job dispatch: latency from a job POSTed on one host to its running
// event on the board's host (and relayed back), cross-host cancel, NOTIFY/s meanwhile. Boards are silent TCP servers (socket://, family micropython):
// the cheapest kind that stays online. Prints a markdown table; nothing is asserted.
//
// Knobs: FARM_HOSTS (5), FARM_BOARDS (32 per host), FARM_SECONDS (10: each load/idle window),
// FARM_LIST_REQS (40 per host, at least; the list window lasts FARM_SECONDS), FARM_CLIENTS (50 reserve/release clients), FARM_POOL (5 boards
// labelled "pool", spread over the hosts, that every client competes for), FARM_HOLD_MS (20: how
// long a client holds each lease before releasing it), FARM_DISPATCH_SAMPLES (50 cross-host jobs).
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { api, silentServer, startCorrald, waitFor } from "../integration/lib.mjs";
import { startPostgres } from "../integration/pg.mjs";

const env = (k, d) => (process.env[k] ? Number(process.env[k]) : d);
const HOSTS = env("FARM_HOSTS", 5), BOARDS = env("FARM_BOARDS", 32), SECONDS = env("FARM_SECONDS", 10);
const LIST_REQS = env("FARM_LIST_REQS", 40), CLIENTS = env("FARM_CLIENTS", 50), POOL = env("FARM_POOL", 5);
const HOLD_MS = env("FARM_HOLD_MS", 20), DISPATCH_SAMPLES = env("FARM_DISPATCH_SAMPLES", 50);
const TOTAL = HOSTS * BOARDS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hostName = (h) => `host-${h + 1}`;
const boardId = (h, b) => `h${h + 1}-b${String(b + 1).padStart(2, "0")}`;

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}
function rssKb(pid) {
  try { return Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m)[1]); } catch { return 0; }
}

// ---- PostgreSQL counters ----
/** pg_stat_statements in shared_preload_libraries (ALTER SYSTEM + restart); false when it cannot load. */
function enableStatements(pg) {
  try {
    pg.psql("postgres", "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    pg.restart();
    pg.psql("farm", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    return true;
  } catch (e) {
    console.error(`farm bench: pg_stat_statements unavailable (${e.message.split("\n")[0]}); statements/s not measured`);
    return false;
  }
}
/** Counters for database farm: transactions, statements (if tracked), NOTIFYs, time. */
function pgCounters(pg, stmts) {
  const [commit, rollback] = pg.psql("farm", "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = 'farm'")
    .trim().split("|").map(Number);
  let calls = NaN, notifies = NaN;
  if (stmts) {
    const r = pg.psql("farm", "SELECT coalesce(sum(calls), 0), coalesce(sum(calls) FILTER (WHERE query ILIKE '%notify%'), 0)"
      + " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'farm'");
    [calls, notifies] = r.trim().split("|").map(Number);
  }
  return { t: Date.now(), xacts: commit + rollback, calls, notifies };
}
/** The statements that ran most since the last pg_stat_statements_reset(): [[calls, query]], at most n. */
function topStatements(pg, stmts, n = 6) {
  if (!stmts) return [];
  return pg.psql("farm", "SELECT s.calls, regexp_replace(left(s.query, 110), '\\s+', ' ', 'g') FROM pg_stat_statements s"
    + ` JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'farm' ORDER BY s.calls DESC LIMIT ${n}`)
    .trim().split("\n").filter(Boolean).map((l) => { const i = l.indexOf("|"); return [Number(l.slice(0, i)), l.slice(i + 1)]; });
}
function resetStatements(pg, stmts) {
  if (stmts) pg.psql("farm", "SELECT pg_stat_statements_reset()");
}
function rate(a, b) {
  const s = (b.t - a.t) / 1000;
  // the sampling queries themselves (2 per sample, each its own transaction) are subtracted
  return { xacts: (b.xacts - a.xacts - 2) / s, calls: (b.calls - a.calls - 2) / s, notifies: (b.notifies - a.notifies) / s };
}

// ---- the farm ----
async function startFarm(pg, url, dir) {
  const silents = [], hosts = [];
  for (let h = 0; h < HOSTS; h++) {
    const ports = [];
    for (let b = 0; b < BOARDS; b++) {
      const s = await silentServer();
      silents.push(s);
      ports.push("--port", `${boardId(h, b)}=socket://127.0.0.1:${s.port},family=micropython`);
    }
    const conf = path.join(dir, `${hostName(h)}.conf`);
    writeFileSync(conf, `store = ${url}\nhost_name = ${hostName(h)}\n`);
    hosts.push(await startCorrald({ args: ["--config", conf, ...ports] }));
  }
  const t0 = Date.now();
  for (const h of hosts)
    await waitFor(async () => {
      const r = await api(h.url, "GET", "/api/v1/boards");
      return r.status === 200 && r.body.boards.length === TOTAL && r.body.boards.every((x) => x.state === "online");
    }, 120000, `all ${TOTAL} boards online as ${h.url} sees them`);
  return { silents, hosts, onlineMs: Date.now() - t0 };
}

/** One sequential client per host, GET /api/v1/boards for SECONDS (at least LIST_REQS each); every reply must list all boards. */
async function listLatency(hosts) {
  const per = [], all = [];
  let bad = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(hosts.map(async (h) => {
    const xs = [];
    for (let i = 0; i < LIST_REQS || Date.now() < end; i++) {
      const t = performance.now();
      const r = await api(h.url, "GET", "/api/v1/boards");
      xs.push(performance.now() - t);
      if (r.status !== 200 || r.body.boards.length !== TOTAL) bad++;
    }
    per.push(xs);
    all.push(...xs);
  }));
  return { per, all, bad };
}

/** CLIENTS loops of reserve(pool) → release through random hosts for SECONDS. */
async function contention(pg, hosts) {
  const held = new Map(); // board → client holding it, as the clients see it
  const st = { grants: 0, refused: 0, other: 0, doubles: 0, dbDoubles: 0, grantMs: [], otherSamples: [] };
  const end = Date.now() + SECONDS * 1000;
  const pick = () => hosts[Math.floor(Math.random() * hosts.length)];
  const client = async (c) => {
    while (Date.now() < end) {
      const t = performance.now();
      const r = await api(pick().url, "POST", "/api/v1/reservations", { match: { labels: ["pool"] }, ttl_s: 60, owner: `c${c}` });
      if (r.status === 409) { st.refused++; continue; }
      if (r.status !== 201) { st.other++; if (st.otherSamples.length < 3) st.otherSamples.push([r.status, r.body]); await sleep(50); continue; }
      st.grants++;
      st.grantMs.push(performance.now() - t);
      if (held.has(r.body.board)) st.doubles++;
      held.set(r.body.board, c);
      await sleep(HOLD_MS); // a grant for this board meanwhile is a double holder
      held.delete(r.body.board); // before the release goes out: the next grant may come at once
      const d = await api(pick().url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined, { "X-Corral-Lease": r.body.token });
      if (d.status !== 200) { st.other++; if (st.otherSamples.length < 3) st.otherSamples.push([d.status, d.body]); }
    }
  };
  const watch = (async () => { // the database's view: never two active leases on one board
    while (Date.now() < end) {
      st.dbDoubles += Number(pg.psql("farm", "SELECT count(*) FROM (SELECT board_id FROM reservations WHERE state = 'active'"
        + " GROUP BY board_id HAVING count(*) > 1) d").trim());
      await sleep(500);
    }
  })();
  const t0 = Date.now();
  await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), watch]);
  st.seconds = (Date.now() - t0) / 1000;
  return st;
}

/** A /ws/v1/events socket; each JSON message is kept with its arrival time. */
async function eventSocket(base) {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws/v1/events");
  const c = { ws, msgs: [] };
  ws.on("message", (data, bin) => { if (!bin) c.msgs.push({ at: performance.now(), m: JSON.parse(data.toString()) }); });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  c.when = (job, pred, what) => waitFor(() => c.msgs.find((x) => x.m.data?.job === job && pred(x.m))?.at, 15000, what);
  c.close = () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });
  return c;
}

/**
 * Cross-host dispatch, DISPATCH_SAMPLES times one after the other: a run job POSTed on one host for
 * a silent board of another; dispatch = POST sent → job.state running on the board host's own event
 * stream; relay = POST sent → that running event back on the posting host's stream (through
 * farm_events); cancel = cancel POSTed on the posting host → job.state cancelled on the board host.
 */
async function crossDispatch(pg, stmts, hosts) {
  if (hosts.length < 2) return { note: "not measured: needs 2 hosts" };
  const socks = await Promise.all(hosts.map((h) => eventSocket(h.url)));
  const st = { dispatch: [], relay: [], cancel: [], refused: [] };
  const a = pgCounters(pg, stmts);
  for (let i = 0; i < DISPATCH_SAMPLES; i++) {
    const from = i % HOSTS, to = (from + 1 + (Math.floor(i / HOSTS) % (HOSTS - 1))) % HOSTS;
    const board = boardId(to, BOARDS - 1 - (Math.floor(i / HOSTS) % BOARDS));
    const t0 = performance.now();
    const r = await api(hosts[from].url, "POST", `/api/v1/boards/${board}/jobs`, { kind: "run", script: "print(1)\n", timeout_s: 60 });
    if (r.status !== 202) { st.refused.push([r.status, r.body?.error?.code]); continue; }
    const id = r.body.id;
    const running = (x) => x.type === "job.state" && x.data.state === "running";
    st.dispatch.push((await socks[to].when(id, running, `job ${id} running on ${hostName(to)}`)) - t0);
    st.relay.push((await socks[from].when(id, running, `job ${id} running, relayed to ${hostName(from)}`)) - t0);
    const t1 = performance.now();
    const c = await api(hosts[from].url, "POST", `/api/v1/jobs/${id}/cancel`);
    const ended = (x) => x.type === "job.state" && !["queued", "running"].includes(x.data.state);
    const at = await socks[to].when(id, ended, `job ${id} to end on ${hostName(to)}`);
    if (c.status === 202 || c.status === 200) st.cancel.push(at - t1);
  }
  const b = pgCounters(pg, stmts);
  for (const s of socks) await s.close();
  st.load = rate(a, b);
  return st;
}

async function main() {
  const pg = startPostgres();
  const url = pg.createDb("farm");
  const stmts = enableStatements(pg);
  const dir = mkdtempSync(path.join(tmpdir(), "corral-farm-bench-"));
  let farm = null;
  try {
    farm = await startFarm(pg, url, dir);
    const { hosts } = farm;
    const rss0 = hosts.map((h) => rssKb(h.proc.pid));
    resetStatements(pg, stmts);
    let a = pgCounters(pg, stmts);
    await sleep(SECONDS * 1000);
    let b = pgCounters(pg, stmts);
    const idle = rate(a, b);
    const idleTop = topStatements(pg, stmts);

    resetStatements(pg, stmts);
    a = pgCounters(pg, stmts);
    const list = await listLatency(hosts);
    b = pgCounters(pg, stmts);
    const listLoad = rate(a, b);
    const listTop = topStatements(pg, stmts);

    for (let k = 0; k < POOL; k++) { // pool boards spread over the hosts, labelled through any host
      const id = boardId(k % HOSTS, Math.floor(k / HOSTS));
      const r = await api(hosts[(k + 1) % HOSTS].url, "PATCH", `/api/v1/boards/${id}`, { labels: ["pool"] });
      if (r.status !== 200) throw new Error(`labelling ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    a = pgCounters(pg, stmts);
    const res = await contention(pg, hosts);
    b = pgCounters(pg, stmts);
    const resLoad = rate(a, b);
    const rss1 = hosts.map((h) => rssKb(h.proc.pid));
    const cross = await crossDispatch(pg, stmts, hosts);
    report({ farm, idle, list, listLoad, res, resLoad, rss0, rss1, cross, stmts });
    printTop(`most frequent statements at idle (${SECONDS} s)`, idleTop);
    printTop(`most frequent statements under GET /boards (${list.all.length} requests)`, listTop);
  } finally {
    if (farm) {
      for (const h of farm.hosts) await h.stop();
      for (const s of farm.silents) s.close();
    }
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTop(title, rows) {
  if (!rows.length) return;
  console.log("");
  console.log(`| ${title} | calls |`);
  console.log("|---|---|");
  for (const [calls, q] of rows) console.log(`| \`${q.replace(/\|/g, "\\|")}\` | ${calls} |`);
}

function report({ farm, idle, list, listLoad, res, resLoad, rss0, rss1, cross, stmts }) {
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
  const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
  const load = (name, r) => `| PostgreSQL ${name} | ${f1(r.calls)} statements/s (${f3(r.calls / TOTAL)}/board), `
    + `${f1(r.xacts)} transactions/s (${f3(r.xacts / TOTAL)}/board), ${f1(r.notifies)} NOTIFY/s |`;
  console.log(`farm: ${HOSTS} hosts × ${BOARDS} silent socket boards = ${TOTAL} boards, one PostgreSQL; `
    + `${process.env.CORRALD || "build/san/corrald"}; windows of ${SECONDS} s; all online everywhere ${farm.onlineMs} ms after the last host started`);
  console.log("");
  console.log("| measure | result |");
  console.log("|---|---|");
  const ls = (xs) => `p50 ${f1(pct(xs, 50))} ms, p99 ${f1(pct(xs, 99))} ms`;
  console.log(`| GET /api/v1/boards (${TOTAL} boards), all hosts | ${ls(list.all)} (${list.all.length} requests, ${list.bad} incomplete) |`);
  list.per.forEach((xs, h) => console.log(`| … from ${hostName(h)} | ${ls(xs)} |`));
  console.log(`| reservations under contention (${CLIENTS} clients, ${POOL} pool boards on ${Math.min(POOL, HOSTS)} hosts, reserve→hold ${HOLD_MS} ms→release via random hosts) | `
    + `${f1(res.grants / res.seconds)} grants/s (${res.grants} in ${res.seconds.toFixed(1)} s), ${res.refused} 409s `
    + `(${f1(res.refused / res.seconds)}/s), ${res.other} other replies, grant p50 ${f1(pct(res.grantMs, 50))} ms p99 ${f1(pct(res.grantMs, 99))} ms |`);
  console.log(`| double holders | ${res.doubles} seen by clients, ${res.dbDoubles} in the database (sampled every 0.5 s) |`);
  if (res.otherSamples.length) console.log(`| other replies (first) | ${JSON.stringify(res.otherSamples).slice(0, 300)} |`);
  console.log(load("idle", idle));
  console.log(load(`under GET /boards (${HOSTS} sequential clients)`, listLoad).replace(/ \|$/,
    `; ${f1(listLoad.calls * SECONDS / list.all.length)} statements per GET |`));
  console.log(load(`under reservation contention`, resLoad));
  if (!stmts) console.log("| statements/s | not measured: pg_stat_statements did not load |");
  console.log(`| corrald RSS at idle | ${rss0.map((k) => (k / 1024).toFixed(1)).join(", ")} MB |`);
  console.log(`| corrald RSS after the load | ${rss1.map((k) => (k / 1024).toFixed(1)).join(", ")} MB |`);
  if (cross.note) return console.log(`| cross-host dispatch latency (POST on one host → running on another) | ${cross.note} |`);
  console.log(`| cross-host dispatch latency (POST on one host → job.state running on the board's host; ${cross.dispatch.length} jobs, one at a time) | ${ls(cross.dispatch)}${cross.refused.length ? `; refused: ${JSON.stringify(cross.refused.slice(0, 3))}` : ""} |`);
  console.log(`| … that running event relayed back to the posting host's /ws/v1/events | ${ls(cross.relay)} |`);
  console.log(`| cross-host cancel (POST cancel on the posting host → job.state cancelled on the board's host) | ${ls(cross.cancel)} (${cross.cancel.length} cancels) |`);
  console.log(load("during cross-host dispatch", cross.load));
}

main().catch((e) => { console.error(e); process.exit(1); });
