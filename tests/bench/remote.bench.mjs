// Remote-port bench: esptool-js flashing a virtual ESP32 through a lease's RFC 2217 remote port
// beside the same client straight to the board's own RFC 2217 endpoint (time and ratio), and the
// extra latency of one byte through corrald's remote port (a TCP echo board: straight vs through
// corrald, alternating sample by sample, p50/p99). Prints tables; nothing is asserted.
import { createHash } from "node:crypto";
import net from "node:net";
import { api, startCorrald, startVboard } from "../integration/lib.mjs";
import { Rfc2217SerialPort, makeLoader } from "../vboard/test/esptool_adapter.mjs";
import { buildFirmware } from "../vboard/kinds/esp/image.js";

const SAMPLES = Number(process.env.REMOTE_BENCH_SAMPLES || 500);
const FLASH_BAUD = 921600;
const FLASH_ROUNDS = Number(process.env.REMOTE_BENCH_FLASH_ROUNDS || 3);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

async function lease(base, board) {
  const r = await api(base, "POST", "/api/v1/reservations", { match: { board }, owner: "bench", expose: ["rfc2217"] });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return { ...r.body, port: Number(new URL(r.body.remote.rfc2217.replace("rfc2217:", "http:")).port) };
}

async function release(base, l) {
  await api(base, "DELETE", `/api/v1/reservations/${l.id}`, undefined, { "X-Corral-Lease": l.token });
}

async function flashOnce(host, port, img) {
  const { loader, transport } = makeLoader(new Rfc2217SerialPort(host, port), { baudrate: FLASH_BAUD, romBaudrate: 115200 });
  const t0 = performance.now();
  try {
    await loader.main("default_reset");
    await loader.writeFlash({
      fileArray: [{ data: new Uint8Array(img), address: 0x10000 }], flashMode: "keep", flashFreq: "keep", flashSize: "keep",
      eraseAll: false, compress: true, calculateMD5Hash: (d) => createHash("md5").update(d).digest("hex"),
    });
  } finally {
    await transport.disconnect().catch(() => {});
  }
  return (performance.now() - t0) / 1000;
}

/** Alternating rounds (through corrald, then straight), so load drifts hit both alike; medians. */
async function flashBench() {
  const b = await startVboard("esp32");
  const img = buildFirmware({ chip: "esp32", version: "1.22.1", size: 512 * 1024 });
  const m = /^rfc2217:\/\/([^:]+):(\d+)$/.exec(b.endpoint);
  const through = [], straight = [];
  try {
    for (let round = 0; round < FLASH_ROUNDS; round++) {
      // The board's endpoint serves one client (a new one replaces corrald's), so corrald is
      // stopped before each straight run.
      const d = await startCorrald({ args: ["--port", `esp32=${b.endpoint},family=esp32`] });
      try {
        const l = await lease(d.url, "esp32");
        through.push(await flashOnce("127.0.0.1", l.port, img));
        await release(d.url, l);
      } finally {
        await d.stop();
      }
      straight.push(await flashOnce(m[1], Number(m[2]), img));
    }
    const med = (xs) => pct(xs, 50);
    const all = (xs) => xs.map((x) => x.toFixed(2)).join(" ");
    console.log(`| esptool-js write_flash, 512 KiB at ${FLASH_BAUD}, ${FLASH_ROUNDS} alternating rounds | median s | each |`);
    console.log(`| straight to the board's RFC 2217 endpoint       | ${med(straight).toFixed(2).padStart(7)} | ${all(straight)} |`);
    console.log(`| through corrald's remote port                   | ${med(through).toFixed(2).padStart(7)} | ${all(through)} |`);
    console.log(`| ratio (through / straight, medians)             | ${(med(through) / med(straight)).toFixed(2).padStart(7)} | |`);
  } finally {
    await b.stop();
  }
}

/** A minimal RFC 2217 client socket: counts data bytes (Telnet commands stripped). */
async function telnetCounter(port) {
  const s = net.connect(port, "127.0.0.1");
  s.setNoDelay(true);
  await new Promise((r, j) => { s.once("connect", r); s.once("error", j); });
  const c = { s, n: 0, st: 0, waiters: [] };
  s.on("data", (buf) => {
    for (const b of buf) {
      if (c.st === 0) { if (b === 255) c.st = 1; else c.n++; }
      else if (c.st === 1) { if (b === 255) { c.n++; c.st = 0; } else if (b === 250) c.st = 3; else if (b >= 251) c.st = 2; else c.st = 0; }
      else if (c.st === 2) c.st = 0;
      else if (c.st === 3) { if (b === 255) c.st = 4; }
      else if (c.st === 4) c.st = b === 240 ? 0 : 3;
    }
    for (const w of c.waiters.splice(0)) w();
  });
  s.write(Buffer.from([255, 251, 44, 255, 251, 0, 255, 253, 0]));
  return c;
}

/** One byte's round trip on c, in ms. */
async function roundTrip(c) {
  const want = c.n + 1;
  const t0 = process.hrtime.bigint();
  c.s.write("a");
  while (c.n < want) await new Promise((r) => c.waiters.push(r));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** SAMPLES round trips on each, alternating (a load spike hits both alike), after a warm-up. */
async function roundTrips(a, b) {
  const ta = [], tb = [];
  for (let i = 0; i < 50; i++) { await roundTrip(a); await roundTrip(b); }
  for (let i = 0; i < SAMPLES; i++) {
    ta.push(await roundTrip(a));
    tb.push(await roundTrip(b));
  }
  return [ta, tb];
}

async function latencyBench() {
  const echo = net.createServer((s) => { s.setNoDelay(true); s.on("error", () => {}); s.pipe(s); });
  await new Promise((r) => echo.listen(0, "127.0.0.1", r));
  const port = echo.address().port;
  const d = await startCorrald({ args: ["--port", `echo=socket://127.0.0.1:${port}`] });
  try {
    const direct = net.connect(port, "127.0.0.1");
    direct.setNoDelay(true);
    await new Promise((r) => direct.once("connect", r));
    const dc = { s: direct, n: 0, waiters: [] };
    direct.on("data", (b) => { dc.n += b.length; for (const w of dc.waiters.splice(0)) w(); });
    const l = await lease(d.url, "echo");
    const c = await telnetCounter(l.port);
    await new Promise((r) => setTimeout(r, 300));
    const [straight, through] = await roundTrips(dc, c);
    direct.destroy();
    c.s.destroy();
    await release(d.url, l);
    console.log(`| one byte's round trip (${SAMPLES} samples), ms | p50 | p99 |`);
    console.log(`| straight to the echo board                  | ${pct(straight, 50).toFixed(3)} | ${pct(straight, 99).toFixed(3)} |`);
    console.log(`| through corrald's remote port (RFC 2217)    | ${pct(through, 50).toFixed(3)} | ${pct(through, 99).toFixed(3)} |`);
    console.log(`| extra latency through corrald               | ${(pct(through, 50) - pct(straight, 50)).toFixed(3)} | ${(pct(through, 99) - pct(straight, 99)).toFixed(3)} |`);
  } finally {
    await d.stop();
    echo.close();
  }
}

await latencyBench();
await flashBench();
