// A burst of WebSocket upgrades (a wall of dashboards reconnecting after a restart) arrives faster
// than corrald's WebSocket thread adopts sockets: every one of them must still get its session,
// none may be reset. Found by the load bench (tests/bench/load.bench.mjs).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { api, silentServer, startCorrald, waitFor } from "./lib.mjs";

const BURST = 200;
let board, d;

before(async () => {
  board = await silentServer();
  // 4 consoles so that the burst stays under the per-console viewer limit (64).
  const args = [1, 2, 3, 4].flatMap((i) => ["--port", `b${i}=socket://127.0.0.1:${board.port}`]);
  d = await startCorrald({ args });
  await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards")).body.boards.filter((b) => b.port?.open).length === 4,
    10000, "the ports to open");
});

after(async () => {
  await d?.stop();
  board?.close();
});

test("200 WebSocket upgrades sent at once all get their session", async () => {
  const base = d.url.replace(/^http/, "ws");
  const sockets = Array.from({ length: BURST }, (_, i) =>
    new WebSocket(i % 5 === 0 ? `${base}/ws/v1/events` : `${base}/ws/v1/boards/b${(i % 4) + 1}/console`));
  // Listeners before anything can arrive. Consoles greet with "hello": the session was set up,
  // not just the handshake.
  const outcomes = sockets.map((ws, i) => new Promise((resolve) => {
    ws.once("unexpected-response", (_req, res) => resolve(`HTTP ${res.statusCode}`));
    ws.once("error", (e) => resolve(e.message));
    ws.once("close", () => resolve("closed"));
    if (i % 5 === 0) ws.once("open", () => resolve("hello"));
    else ws.once("message", (m, bin) => resolve(bin ? "binary" : JSON.parse(m.toString()).type));
  }));
  let timer;
  const got = await Promise.race([Promise.all(outcomes), new Promise((r) => { timer = setTimeout(() => r(null), 20000); })]);
  clearTimeout(timer);
  for (const ws of sockets) ws.terminate();
  assert.ok(got, "every socket opened or failed within 20 s");
  const failed = got.filter((o) => o !== "hello");
  assert.deepEqual(failed, [], `${failed.length} of ${BURST} upgrades did not get their session`);
  assert.doesNotMatch(d.stderr(), /could not take a connection/);
});
