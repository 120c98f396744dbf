// Queue a job on a board and wait for its end: the event feed says when, GET /jobs/{id} gives the
// result. A slow poll covers a feed that is reconnecting.
import { api, isFinal } from "./api.js";
import { jobs, subscribe } from "./store.js";

/** POST a job -> the queued job (throws ApiError with the daemon's message). */
export function queueJob(boardId, body) {
  return api("POST", `/api/v1/boards/${encodeURIComponent(boardId)}/jobs`, body);
}

/** -> the whole job (result, error) once it is final. */
export function awaitJob(id) {
  return new Promise((resolve, reject) => {
    let done = false, timer = null, unsub = null;
    const finish = async () => {
      if (done) return;
      done = true;
      unsub();
      clearInterval(timer);
      try { resolve(await api("GET", `/api/v1/jobs/${id}`)); } catch (e) { reject(e); }
    };
    unsub = subscribe((m) => { if (m.type === "job" && m.id === id && isFinal(jobs.get(id)?.state)) finish(); });
    timer = setInterval(async () => {
      try { if (isFinal((await api("GET", `/api/v1/jobs/${id}`)).state)) finish(); } catch { /* the next tick retries */ }
    }, 2000);
    if (isFinal(jobs.get(id)?.state)) finish();
  });
}

/** queueJob + awaitJob; onQueued(job) is called with the queued job. */
export async function runJob(boardId, body, onQueued) {
  const j = await queueJob(boardId, body);
  if (onQueued) onQueued(j);
  return awaitJob(j.id);
}

/** A failed job's message, or "" when it succeeded. */
export const jobError = (j) => (j.state === "succeeded" ? "" : (j.error && j.error.message) || `the job ${j.state}`);

/** bytes <-> base64 for fs_put / fs_get. */
export function toB64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
export function fromB64(b64) {
  const s = atob(b64 || "");
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
