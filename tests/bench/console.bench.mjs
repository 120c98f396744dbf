// Console bench: keystroke-to-echo latency through corrald's WebSocket console beside the same
// round trip straight to the board's endpoint (a TCP echo server as socket://, and the virtual
// MicroPython board's friendly REPL over RFC 2217), then console throughput to 10 viewers.
// Prints tables; nothing is asserted.
import net from "node:net";
import WebSocket from "ws";
import { api, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { friendlyPrompt, Rfc2217Client } from "../vboard/test/helpers.mjs";

const SAMPLES = Number(process.env.CONSOLE_BENCH_SAMPLES || 300);
const VIEWERS = 10, THROUGHPUT_MS = 5000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => { const s = xs.map(Number).sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
const ms = (ns) => (Number(ns) / 1e6).toFixed(3);

/** Time `n` round trips: send(i) then wait until got() has grown by one echo. */
async function roundTrips(n, send, waitEcho) {
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    send(i);
    await waitEcho(i);
    t.push(process.hrtime.bigint() - t0);
  }
  return t;
}

/** Resolve when pred() is true, re-checked on every arrival (no polling delay). */
function arrival(emitter, event, pred) {
  return new Promise((resolve) => {
    if (pred()) return resolve();
    const on = () => { if (pred()) { emitter.off(event, on); resolve(); } };
    emitter.on(event, on);
  });
}

async function echoServer() {
  const srv = net.createServer((s) => { s.setNoDelay(true); s.on("error", () => {}); s.pipe(s); });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { port: srv.address().port, close: () => srv.close() };
}

/** A board that prints 4 KB every everyMs, or as fast as TCP lets it (everyMs = 0). */
async function printingBoard(everyMs) {
  const chunk = Buffer.alloc(4096, "z");
  const socks = new Set();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    if (everyMs) {
      const t = setInterval(() => s.write(chunk), everyMs);
      s.on("close", () => { clearInterval(t); socks.delete(s); });
      return;
    }
    s.on("close", () => socks.delete(s));
    const pump = () => { while (!s.destroyed && s.write(chunk)); };
    s.on("drain", pump);
    pump();
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { port: srv.address().port, close: () => { for (const s of socks) s.destroy(); srv.close(); } };
}

function consoleSocket(base, id) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws/v1/boards/${id}/console`);
  const c = { ws, n: 0, text: "", msgs: [], dropped: 0 };
  ws.on("message", (d, bin) => {
    if (bin) { c.n += d.length; if (c.keepText) c.text += d.toString("latin1"); return; }
    const m = JSON.parse(d.toString());
    c.msgs.push(m);
    if (m.type === "dropped") c.dropped += m.bytes;
  });
  c.open = new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
  return c;
}

async function takeLock(c) {
  await c.open;
  c.ws.send(JSON.stringify({ type: "take" }));
  await waitFor(() => c.msgs.some((m) => m.type === "lock" && m.writer), 5000, "write lock");
}

function row(name, t) {
  return `| ${name.padEnd(48)} | ${ms(pct(t, 50)).padStart(8)} | ${ms(pct(t, 99)).padStart(8)} |`;
}

async function latencyEcho() {
  const echo = await echoServer();
  const rows = [];
  // Straight to the echo server.
  const sock = net.connect(echo.port, "127.0.0.1");
  sock.setNoDelay(true);
  await new Promise((r) => sock.once("connect", r));
  let got = 0;
  sock.on("data", (d) => { got += d.length; });
  rows.push(row("TCP echo, direct", await roundTrips(SAMPLES, () => sock.write("a"), (i) => arrival(sock, "data", () => got >= i + 1))));
  sock.destroy();
  // Through corrald.
  const d = await startCorrald({ args: ["--port", `echo=socket://127.0.0.1:${echo.port}`] });
  try {
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/echo")).body.port?.open, 10000, "port open");
    const c = consoleSocket(d.url, "echo");
    await takeLock(c);
    await sleep(300);
    const base = c.n;
    rows.push(row("TCP echo, through corrald WebSocket", await roundTrips(SAMPLES, () => c.ws.send(Buffer.from("a")),
      (i) => arrival(c.ws, "message", () => c.n - base >= i + 1))));
    c.ws.close();
  } finally { await d.stop(); echo.close(); }
  return rows;
}

async function latencyMicroPython() {
  const vb = await startVboard("micropython");
  const rows = [];
  try {
    // Type 'a' and wait for its echo; a backspace after each keeps the REPL line short.
    const direct = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(direct);
    const t = [];
    for (let i = 0; i < SAMPLES; i++) {
      direct.mark();
      const t0 = process.hrtime.bigint();
      direct.write("a");
      await direct.waitFor("a");
      t.push(process.hrtime.bigint() - t0);
      direct.write("\b");
      await direct.waitFor("\b");
    }
    rows.push(row("MicroPython REPL echo, direct (RFC 2217)", t));
    direct.close();
    await sleep(300);
    const d = await startCorrald({ args: ["--port", `mp=${vb.endpoint},family=micropython`] });
    try {
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/mp")).body.port?.open, 10000, "port open");
      const c = consoleSocket(d.url, "mp");
      c.keepText = true;
      await takeLock(c);
      c.ws.send(Buffer.from("\r"));
      await waitFor(() => c.text.endsWith(">>> "), 10000, "prompt");
      const w = [];
      for (let i = 0; i < SAMPLES; i++) {
        const at = c.text.length;
        const t0 = process.hrtime.bigint();
        c.ws.send(Buffer.from("a"));
        await arrival(c.ws, "message", () => c.text.length > at);
        w.push(process.hrtime.bigint() - t0);
        const at2 = c.text.length;
        c.ws.send(Buffer.from("\b"));
        await arrival(c.ws, "message", () => c.text.slice(at2).includes("\b"));
      }
      rows.push(row("MicroPython REPL echo, through corrald WebSocket", w));
      c.ws.close();
    } finally { await d.stop(); }
  } finally { await vb.stop(); }
  return rows;
}

async function throughput(everyMs) {
  const src = await printingBoard(everyMs);
  const d = await startCorrald({ args: ["--port", `p=socket://127.0.0.1:${src.port}`] });
  try {
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/p")).body.port?.open, 10000, "port open");
    const vs = Array.from({ length: VIEWERS }, () => consoleSocket(d.url, "p"));
    await Promise.all(vs.map((v) => v.open));
    await sleep(1000);
    const n0 = vs.map((v) => v.n), d0 = vs.map((v) => v.dropped), t0 = Date.now();
    await sleep(THROUGHPUT_MS);
    const secs = (Date.now() - t0) / 1000;
    const rates = vs.map((v, i) => (v.n - n0[i]) / secs), drops = vs.map((v, i) => (v.dropped - d0[i]) / secs);
    for (const v of vs) v.ws.terminate();
    const f = (x) => `${(x / 1e6).toFixed(2)} MB/s`;
    const what = everyMs ? `${(4096 / everyMs / 1000).toFixed(2)} MB/s` : "flat out";
    return `| ${what.padEnd(10)} | ${String(VIEWERS).padEnd(7)} | ${f(Math.min(...rates)).padEnd(14)} | ${f(pct(rates, 50)).padEnd(17)} | ${f(Math.max(...rates)).padEnd(14)} | ${f(pct(drops, 50)).padEnd(19)} |`;
  } finally { await d.stop(); src.close(); }
}

const head = [`| round trip (${SAMPLES} keystrokes)`.padEnd(50) + " | p50 ms   | p99 ms   |", `|${"-".repeat(50)}|----------|----------|`];
console.log("Keystroke-to-echo latency");
console.log([...head, ...(await latencyEcho()), ...(await latencyMicroPython())].join("\n"));
console.log("\nConsole throughput to 10 viewers, every viewer reading (bytes/s each)");
console.log(["| board      | viewers | min per viewer | median per viewer | max per viewer | dropped (median)    |",
  "|------------|---------|----------------|-------------------|----------------|---------------------|",
  await throughput(4), await throughput(0)].join("\n"));
process.exit(0);
