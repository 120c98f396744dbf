// What the console knows about the fleet: boards and jobs from the REST API, kept current by
// bus events. Views subscribe and redraw what changed.
import { api, isFinal } from "./api.js";

export const boards = new Map(); // id -> board row as the API gives it
export const jobs = new Map();   // id -> job (summary; merged from REST and events)
const lastJobOf = new Map();     // board id -> newest job id
const listeners = new Set();

/** fn({type: "boards"|"board"|"job"|"log"|"output"|"conn", ...}); returns an unsubscribe function. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function emit(msg) {
  for (const fn of [...listeners]) {
    try { fn(msg); } catch (e) { console.error(e); }
  }
}

/** The connection to the daemon as the header shows it. */
export const conn = { mode: "connecting", detail: "" };
export function setConn(mode, detail = "") {
  if (conn.mode === mode && conn.detail === detail) return;
  conn.mode = mode;
  conn.detail = detail;
  emit({ type: "conn" });
}

export function lastJob(boardId) {
  const id = lastJobOf.get(boardId);
  return id ? jobs.get(id) : undefined;
}

export function mergeJob(j) {
  if (!j || typeof j.id !== "number") return;
  const merged = { ...(jobs.get(j.id) || {}), ...j };
  jobs.set(j.id, merged);
  if (merged.board && (lastJobOf.get(merged.board) || 0) <= j.id) lastJobOf.set(merged.board, j.id);
  emit({ type: "job", id: j.id, board: merged.board });
}

/**
 * State as people mean it: a board whose port is gone (unplugged, refused) is offline even when
 * the registry still lists it as a configured port. Returns {state, reason}.
 */
export function liveState(b) {
  if (!b) return { state: "unknown", reason: "" };
  const port = b.port;
  if (b.state === "offline") return { state: "offline", reason: (port && port.error) || "not plugged in" };
  if (port && port.open === false) {
    if (port.error) return { state: "offline", reason: port.error };
    return { state: "opening", reason: "opening the port" };
  }
  return { state: b.state || "unknown", reason: b.state === "busy" && b.running_job ? `job ${b.running_job}` : "" };
}

export const fact = (b, key) => {
  const f = b && b.facts && b.facts[key];
  return f && typeof f === "object" && "value" in f ? f.value : undefined;
};

/** Reload boards and recent jobs from the REST API (start-up, reconnects, missed events). */
export async function loadAll() {
  const [b, j] = await Promise.all([api("GET", "/api/v1/boards"), api("GET", "/api/v1/jobs?limit=200")]);
  boards.clear();
  for (const row of b.boards || []) boards.set(row.id, row);
  // newest first: the first job seen per board is its last one
  for (const job of [...(j.jobs || [])].reverse()) mergeJob(job);
  emit({ type: "boards" });
}

const fetching = new Set();
async function refreshJob(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const j = await api("GET", `/api/v1/jobs/${id}`);
    delete j.log; // logs are fetched by whoever shows them
    mergeJob(j);
  } catch (e) {
    console.warn(`job ${id}:`, e.message);
  } finally {
    fetching.delete(id);
  }
}

/** Apply one bus event ({seq, type, time, data}). */
export function applyEvent(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "board.online":
    case "board.offline":
    case "board.state":
    case "board.updated":
      if (d.id) {
        boards.set(d.id, d);
        emit({ type: "board", id: d.id });
      }
      break;
    case "board.fact": {
      const b = boards.get(d.board);
      if (!b) break;
      b.facts = { ...(b.facts || {}), [d.key]: { value: d.value, learned_at: ev.time, job: d.job ?? null } };
      if (d.key === "chip" && typeof d.value === "string") b.chip = d.value;
      emit({ type: "board", id: d.board });
      break;
    }
    case "board.health": {
      const b = boards.get(d.board);
      if (b) b.health = { ...(b.health || {}), state: d.state, reason: d.reason || "", since: ev.time };
      emit({ type: "health", id: d.board });
      if (b) emit({ type: "board", id: d.board });
      break;
    }
    case "job.state": {
      const j = { id: d.job, board: d.board, kind: d.kind, state: d.state };
      if (d.error) j.error = d.error;
      if (d.state === "running" && !jobs.get(d.job)?.started_at) j.started_at = ev.time;
      mergeJob(j);
      if (isFinal(d.state)) refreshJob(d.job); // result, final progress, timestamps
      break;
    }
    case "job.progress": {
      const j = { id: d.job, board: d.board, progress: d.progress, phase: d.phase };
      if (d.bytes_total !== undefined)
        j.progress_detail = { bytes_done: d.bytes_done, bytes_total: d.bytes_total, kbit_per_s: d.kbit_per_s };
      if (!jobs.get(d.job)?.state) j.state = "running";
      mergeJob(j);
      break;
    }
    case "job.log":
      emit({ type: "log", job: d.job, board: d.board, line: d.line, time: ev.time });
      break;
    case "job.output":
      emit({ type: "output", job: d.job, board: d.board, stream: d.stream, data: d.data });
      break;
    default:
      break;
  }
}

/** One line a person reads about how a job went (or is going); the daemon's words as they are. */
export function verdict(job) {
  if (!job) return { cls: "none", text: "" };
  const s = job.state;
  if (s === "queued") return { cls: "queued", text: "queued" };
  if (s === "running") return { cls: "running", text: `${job.phase || "running"} ${job.progress ?? 0} %` };
  if (s === "succeeded") {
    const r = job.result || {};
    if (typeof r.verdict === "string") return { cls: "ok", text: r.verdict };
    if (typeof r.summary === "string") return { cls: "ok", text: r.summary };
    if (job.kind === "flash" && typeof r.bytes_written === "number") {
      const skipped = r.bytes_skipped ? `, ${r.bytes_skipped} B unchanged` : "";
      const v = r.verify ? `, verify: ${r.verify}` : "";
      return { cls: "ok", text: `succeeded: wrote ${r.bytes_written} B${skipped}${v}` };
    }
    return { cls: "ok", text: "succeeded" };
  }
  const msg = job.error && job.error.message;
  return { cls: s === "failed" ? "bad" : "warn", text: msg ? `${s}: ${msg}` : s || "" };
}
