// A farm for tests: a private PostgreSQL (pg.mjs) with one database, a virtual board per board id
// and one corrald per host on that store, each attaching its own boards; and a /ws/v1/events client.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { api, startCorrald, startVboard, waitFor } from "./lib.mjs";
import { startPostgres } from "./pg.mjs";

const asFn = (v) => (typeof v === "function" ? v : () => v);

/**
 * Start a farm. layout: {host: [board id, ...]}, hosts started in that order. opts:
 *   db: the database name (required); staleS: host_stale_s (omitted when undefined);
 *   conf: extra conf lines, a string or (host) => string; args: (host) => extra corrald args;
 *   board: async (id) => a started board (default: a micropython vboard); family: a family or
 *   (id) => family; stateDirs: each host keeps its state in dir/<host> (across restarts);
 *   start: the hosts to start now (default: all; startHost starts the others);
 *   boards: how many boards every host lists once all are online (default: those of the hosts
 *   started); headers: for the API calls of the wait.
 * Waits until every host started lists every board online. Returns {pg, url, dir, boards, hosts,
 * startHost(host, {stateDir, conf}), online(h), stop()}: startHost (re)starts a host (conf: extra
 * lines for this start instead of opts.conf); online(h) waits for every board online as h sees it
 * and returns them by id; stop() stops every host, board and the server.
 */
export async function startFarm(layout, opts = {}) {
  const boardOf = opts.board || (() => startVboard("micropython"));
  const family = asFn(opts.family || "micropython");
  const confOf = asFn(opts.conf || "");
  // every board of the hosts started so far, unless opts.boards says how many
  const expect = () => opts.boards ?? Object.keys(farm.hosts).flatMap((h) => layout[h]).length;
  const farm = { boards: {}, hosts: {} };
  farm.stop = async () => {
    for (const h of Object.values(farm.hosts)) await h.stop();
    for (const b of Object.values(farm.boards)) await b.stop();
    await farm.pg?.stop();
    if (farm.dir) rmSync(farm.dir, { recursive: true, force: true });
  };
  farm.startHost = async (name, { stateDir, conf = confOf(name) } = {}) => {
    const file = path.join(farm.dir, `${name}.conf`);
    const stale = opts.staleS === undefined ? "" : `host_stale_s = ${opts.staleS}\n`;
    writeFileSync(file, `store = ${farm.url}\nhost_name = ${name}\n${stale}${conf}`);
    if (!stateDir && opts.stateDirs) mkdirSync(stateDir = path.join(farm.dir, name), { recursive: true });
    const ports = layout[name].flatMap((id) => ["--port", `${id}=${farm.boards[id].endpoint},family=${family(id)}`]);
    const extra = opts.args ? opts.args(name) : [];
    farm.hosts[name] = await startCorrald({ args: ["--config", file, ...ports, ...extra], ...(stateDir ? { stateDir } : {}) });
    return farm.hosts[name];
  };
  farm.online = (h) => waitFor(async () => {
    const r = await api(h.url, "GET", "/api/v1/boards", undefined, opts.headers);
    return r.status === 200 && r.body.boards.length === expect() && r.body.boards.every((b) => b.state === "online")
      && Object.fromEntries(r.body.boards.map((b) => [b.id, b]));
  }, 30000, `every board online as ${h.url} sees it`);
  try {
    farm.pg = startPostgres();
    farm.url = farm.pg.createDb(opts.db);
    farm.dir = mkdtempSync(path.join(tmpdir(), `corral-farm-${opts.db}-`));
    for (const ids of Object.values(layout))
      for (const id of ids) farm.boards[id] = await boardOf(id);
    for (const name of opts.start || Object.keys(layout)) await farm.startHost(name);
    for (const h of Object.values(farm.hosts)) await farm.online(h);
  } catch (e) {
    await farm.stop().catch(() => {});
    throw e;
  }
  return farm;
}

/** A /ws/v1/events socket (headers: e.g. authorization) collecting the JSON messages in msgs;
 * await .ready, then .close(). */
export function events(base, headers = {}) {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws/v1/events", { headers });
  const c = { ws, msgs: [] };
  ws.on("message", (data, bin) => { if (!bin) c.msgs.push(JSON.parse(data.toString())); });
  c.ready = new Promise((resolve, reject) => { ws.once("open", () => resolve(c)); ws.once("error", reject); });
  c.close = () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });
  return c;
}
