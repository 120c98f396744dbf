// Benchmark: the time to run print(1) on the virtual MicroPython board, through corrald (port
// already open; from POST to the finished job) beside a fresh RFC 2217 connect done directly in
// Node (open, raw REPL, exec, leave). Same board, one run; prints a markdown table, never fails
// on slowness. RUNS=N overrides the number of runs.
import { performance } from "node:perf_hooks";
import { api, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { Rfc2217Client } from "../vboard/test/helpers.mjs";

const RUNS = Number(process.env.RUNS || 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/** One print(1) job through corrald, from POST to the job's final state (polled every 2 ms). */
async function viaCorrald(url) {
  const t0 = performance.now();
  const r = await api(url, "POST", "/api/v1/boards/mp/jobs", { kind: "run", script: "print(1)" });
  if (r.status !== 202) throw new Error(`POST: ${r.status} ${JSON.stringify(r.body)}`);
  for (;;) {
    const j = (await api(url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
    if (!["queued", "running"].includes(j.state)) {
      if (j.state !== "succeeded" || j.result.stdout !== "1\r\n") throw new Error(`job ${j.id}: ${JSON.stringify(j)}`);
      return performance.now() - t0;
    }
    await sleep(2);
  }
}

const vb = await startVboard("micropython");
let d;
try {
  // Direct first: the board's RFC 2217 endpoint serves one client at a time, and corrald keeps
  // its port open once started.
  await direct(vb.endpoint); // warm-up
  const directMs = [];
  for (let i = 0; i < RUNS; i++) directMs.push(await direct(vb.endpoint));

  d = await startCorrald({ args: ["--port", `mp=${vb.endpoint},family=micropython`] });
  await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/mp")).body.port?.open, 10000, "corrald to open the port");
  await viaCorrald(d.url); // warm-up
  const corraldMs = [];
  for (let i = 0; i < RUNS; i++) corraldMs.push(await viaCorrald(d.url));

  const fmt = (x) => x.toFixed(1);
  const row = (name, xs) => {
    const s = stats(xs);
    return `| ${name} | ${s.n} | ${fmt(s.median)} | ${fmt(s.p95)} | ${fmt(s.min)} | ${fmt(s.max)} |`;
  };
  console.log(`print(1) on the virtual MicroPython board (${vb.endpoint.split(":")[0]}), ${process.env.CORRALD ? "corrald " + process.env.CORRALD : "default corrald"}\n`);
  console.log("| path | runs | median ms | p95 ms | min ms | max ms |");
  console.log("|---|---|---|---|---|---|");
  console.log(row("corrald run job (port open; POST to finished job)", corraldMs));
  console.log(row("Node direct (fresh RFC 2217 connect, raw REPL, exec, leave)", directMs));
} finally {
  await d?.stop();
  await vb.stop();
}
