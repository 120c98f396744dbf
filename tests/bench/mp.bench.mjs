// Benchmark: the time to run print(1) on the virtual MicroPython board through corrald (port
// already open) beside a fresh RFC 2217 connect done directly in Node (open, raw REPL, exec, leave).
//
// How corrald is timed: from just before the POST that queues the job to the arrival of its final
// job.state event on /ws/v1/events (one WebSocket opened beforehand), so no polling interval of the
// bench is added; the job's result (stdout) is checked afterwards, outside the timed part.
//   back-to-back: each job is queued as soon as the previous one ended (a CI series);
//   after idle:   each job is queued after IDLE_MS (+ 0..100 ms at random, so the POST does not
//                 fall in step with the port worker's 100 ms idle read slices) of quiet.
// Same board, one run; prints a markdown table, never fails on slowness. RUNS=N, IDLE_RUNS=N,
// IDLE_MS=N override the defaults.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { api, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { Rfc2217Client } from "../vboard/test/helpers.mjs";

const RUNS = Number(process.env.RUNS || 30);
const IDLE_RUNS = Number(process.env.IDLE_RUNS || 5);
const IDLE_MS = Number(process.env.IDLE_MS || 4000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, median: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1] };
}

/** One print(1) over a fresh connection: connect, Ctrl-C, raw REPL, exec, Ctrl-B, close. */
async function direct(endpoint) {
  const t0 = performance.now();
  const c = await Rfc2217Client.connect(endpoint);
  try {
    c.write("\r\x03\x03\x01");
    await c.waitFor("raw REPL; CTRL-B to exit\r\n>");
    c.write("print(1)\x04");
    const out = await c.waitFor("\x04>");
    if (!out.startsWith("OK1\r\n\x04")) throw new Error(`unexpected reply ${JSON.stringify(out)}`);
    c.write("\x02");
    await c.waitFor(">>> ");
  } finally {
    c.close();
  }
  return performance.now() - t0;
}

/** The event stream: resolves final job.state events by job id as they arrive. */
async function eventStream(url) {
  const ws = new WebSocket(url.replace(/^http/, "ws") + "/ws/v1/events");
  const waiting = new Map(), done = new Map();
  ws.on("message", (data, binary) => {
    if (binary) return;
    const m = JSON.parse(data.toString());
    if (m.type !== "job.state" || !FINAL.has(m.data.state)) return;
    const at = performance.now();
    const w = waiting.get(m.data.job);
    if (w) { waiting.delete(m.data.job); w({ at, state: m.data.state }); } else done.set(m.data.job, { at, state: m.data.state });
  });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  return {
    final(id) {
      const d = done.get(id);
      if (d) { done.delete(id); return Promise.resolve(d); }
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close() { ws.close(); },
  };
}

/** One print(1) job through corrald: POST to its final job.state event. */
async function viaCorrald(url, events) {
  const t0 = performance.now();
  const r = await api(url, "POST", "/api/v1/boards/mp/jobs", { kind: "run", script: "print(1)" });
  if (r.status !== 202) throw new Error(`POST: ${r.status} ${JSON.stringify(r.body)}`);
  const end = await events.final(r.body.id);
  const ms = end.at - t0;
  const j = (await api(url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
  if (j.state !== "succeeded" || j.result.stdout !== "1\r\n") throw new Error(`job ${j.id}: ${JSON.stringify(j)}`);
  return ms;
}

const vb = await startVboard("micropython");
let d, events;
try {
  // Direct first: the board's RFC 2217 endpoint serves one client at a time, and corrald keeps
  // its port open once started.
  await direct(vb.endpoint); // warm-up
  const directMs = [];
  for (let i = 0; i < RUNS; i++) directMs.push(await direct(vb.endpoint));

  d = await startCorrald({ args: ["--port", `mp=${vb.endpoint},family=micropython`] });
  await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/mp")).body.port?.open, 10000, "corrald to open the port");
  events = await eventStream(d.url);
  await viaCorrald(d.url, events); // warm-up (the first job interrupts and learns the board)
  const corraldMs = [];
  for (let i = 0; i < RUNS; i++) corraldMs.push(await viaCorrald(d.url, events));
  const idleMs = [];
  for (let i = 0; i < IDLE_RUNS; i++) {
    await sleep(IDLE_MS + Math.random() * 100);
    idleMs.push(await viaCorrald(d.url, events));
  }

  const fmt = (x) => x.toFixed(1);
  const row = (name, xs) => {
    const s = stats(xs);
    return `| ${name} | ${s.n} | ${fmt(s.median)} | ${fmt(s.p95)} | ${fmt(s.min)} | ${fmt(s.max)} |`;
  };
  console.log(`print(1) on the virtual MicroPython board (${vb.endpoint.split(":")[0]}), ${process.env.CORRALD ? "corrald " + process.env.CORRALD : "default corrald"}\n`);
  console.log("| path | runs | median ms | p95 ms | min ms | max ms |");
  console.log("|---|---|---|---|---|---|");
  console.log(row("corrald run job, back-to-back (port open; POST to final job.state event)", corraldMs));
  console.log(row(`corrald run job after ${IDLE_MS} ms idle (port open; POST to final job.state event)`, idleMs));
  console.log(row("Node direct (fresh RFC 2217 connect, raw REPL, exec, leave)", directMs));
} finally {
  events?.close();
  await d?.stop();
  await vb.stop();
}
