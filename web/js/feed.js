// The event feed: /ws/v1/events when the WebSocket works, else polling GET /api/v1/events?since=N.
// Reconnects with backoff (a restarted daemon is picked up) and reloads the fleet each time it
// (re)connects, since events sent while it was away are lost.
import { api, wsUrl } from "./api.js";
import { applyEvent, loadAll, setConn } from "./store.js";

const BACKOFF_MIN = 500, BACKOFF_MAX = 10000, POLL_MS = 1000;
const WS_TRIES_BEFORE_POLLING = 2, POLLS_BEFORE_WS_RETRY = 30;

export function startFeed({ forcePoll = false } = {}) {
  let backoff = BACKOFF_MIN, wsFailures = 0, seq = 0, timer = null;

  const later = (fn, ms) => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  const nextBackoff = () => {
    const ms = backoff * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    return ms;
  };

  // Events that arrive while a reload is in flight are applied after it, in order.
  let reloading = null, queued = [];
  function deliver(ev) {
    if (typeof ev.seq === "number") seq = ev.seq;
    if (reloading) queued.push(ev);
    else applyEvent(ev);
  }
  async function reload() {
    queued = [];
    const p = (reloading = loadAll());
    try {
      await p;
    } finally {
      reloading = null;
      const q = queued;
      queued = [];
      for (const ev of q) applyEvent(ev);
    }
  }

  function connectWs() {
    let opened = false, ws;
    try {
      ws = new WebSocket(wsUrl("/ws/v1/events"));
    } catch {
      wsFailures = WS_TRIES_BEFORE_POLLING;
      return poll(true);
    }
    ws.onopen = () => {
      opened = true;
      wsFailures = 0;
      backoff = BACKOFF_MIN;
      setConn("live", "WebSocket");
      reload().catch((e) => setConn("error", e.message));
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.type === "dropped") { // we fell behind: what we show may be stale
        reload().catch(() => {});
        return;
      }
      deliver(ev);
    };
    ws.onclose = async () => {
      // A WebSocket that fails while the daemon does not answer HTTP either (it is restarting) says
      // nothing about WebSockets: only failures with the daemon up lead to polling, else a restarted
      // daemon would be followed by polling until the next WebSocket retry (30 polls) instead of live.
      const up = opened || await api("GET", "/api/v1/health").then(() => true, (e) => e.status !== 0);
      if (!opened && up && ++wsFailures >= WS_TRIES_BEFORE_POLLING) return poll(true);
      const ms = nextBackoff();
      setConn("reconnecting", `daemon unreachable; retrying in ${Math.ceil(ms / 1000)} s`);
      later(connectWs, ms);
    };
  }

  // Polling: entering it resyncs (since = the daemon's last seq, then a full reload).
  let polls = 0;
  async function poll(enter) {
    try {
      if (enter) {
        polls = 0;
        const r = await api("GET", `/api/v1/events?since=${seq}`);
        seq = r.last_seq || 0;
        await reload();
      } else {
        const r = await api("GET", `/api/v1/events?since=${seq}`);
        if ((r.last_seq || 0) < seq) { // a new daemon: its numbering restarted
          seq = r.last_seq || 0;
          await reload();
        } else {
          for (const ev of r.events || []) deliver(ev);
          if (typeof r.last_seq === "number") seq = r.last_seq;
        }
      }
      backoff = BACKOFF_MIN;
      setConn("polling", forcePoll ? "polling (forced)" : "WebSocket unavailable; polling");
      if (!forcePoll && ++polls >= POLLS_BEFORE_WS_RETRY) {
        wsFailures = 0;
        return later(connectWs, 0);
      }
      later(() => poll(false), POLL_MS);
    } catch (e) {
      const ms = nextBackoff();
      setConn("reconnecting", `${e.message} Retrying in ${Math.ceil(ms / 1000)} s`);
      later(() => poll(true), ms);
    }
  }

  if (forcePoll || typeof WebSocket === "undefined") poll(true);
  else connectWs();
}
