// corral web console: a hash router over three pages (the fleet, one board, a board's health), the live event feed
// and the connection indicator. No framework, no build step; xterm.js comes from vendor/.
import { setText } from "./js/dom.js";
import { renderBoard } from "./js/board.js";
import { startFeed } from "./js/feed.js";
import { renderFleet } from "./js/fleet.js";
import { renderHealth } from "./js/health.js";
import { conn, subscribe } from "./js/store.js";
import { installLogin } from "./js/login.js";

const view = document.getElementById("view");
const connEl = document.getElementById("conn");
let leave = null;

function route() {
  if (leave) leave();
  leave = null;
  const m = location.hash.match(/^#\/boards\/([^/]+)$/);
  const hm = location.hash.match(/^#\/boards\/([^/]+)\/health$/);
  if (hm) {
    const id = decodeURIComponent(hm[1]);
    document.title = `${id} health · corral`;
    leave = renderHealth(view, id);
  } else if (m) {
    const id = decodeURIComponent(m[1]);
    document.title = `${id} · corral`;
    leave = renderBoard(view, id);
  } else {
    document.title = "corral";
    leave = renderFleet(view);
  }
  window.scrollTo(0, 0);
}

function showConn() {
  const labels = { live: "live", polling: "polling", reconnecting: "offline", connecting: "connecting", error: "error" };
  setText(connEl, labels[conn.mode] || conn.mode);
  connEl.className = `conn ${conn.mode}`;
  connEl.title = conn.detail;
  connEl.dataset.mode = conn.mode;
}

installLogin();
subscribe((m) => { if (m.type === "conn") showConn(); });
showConn();
window.addEventListener("hashchange", route);
route();
startFeed({ forcePoll: new URLSearchParams(location.search).has("poll") });
