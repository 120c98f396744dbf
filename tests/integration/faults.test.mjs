// Fault injection against the real (sanitized) corrald: boards unplugged in the middle of a flash,
// a run or a console session, a board that hangs, a garbage flood, the daemon killed mid-flash,
// and a full disk during a firmware upload. Every test ends by stopping its corrald and failing
// unless it exited 0 with no sanitizer report. The virtual boards (tests/vboard) are shared by
// the file and always left plugged in and answering.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import * as E from "./esp_lib.mjs";
import { api, runJob, silentServer, startCorrald, startVboard, waitFor, waitJob } from "./lib.mjs";

let mp, esp;

before(async () => {
  // MicroPython in the ESP's flash at 0: identify's REPL probe after the ROM answers at once
  // (on a blank flash it climbs the whole recovery ladder, ~13 s).
  const img = E.mkimage("esp8266", ["--flash-mode", "dio"]);
  [mp, esp] = await Promise.all([startVboard("micropython", ["--no-pacing"]),
    E.board("esp8266", ["--no-pacing", "--image", `${img.path}@0x0`])]);
});

after(async () => {
  await mp?.stop();
  await esp?.stop();
});

/** Stop corrald and fail unless it exited 0 and no sanitizer spoke. */
async function stopClean(d) {
  const { code, sig } = await d.stop();
  const err = d.stderr();
  assert.equal(code, 0, `corrald exit ${code ?? sig}; stderr tail:\n${err.slice(-3000)}`);
  assert.doesNotMatch(err, /ERROR: AddressSanitizer|LeakSanitizer|runtime error:/, err.slice(-6000));
}

/** corrald with the shared boards as static ports "mp" and "esp"; waits until both are online. */
async function corrald(opts = {}) {
  const d = await startCorrald({ ...opts, args: ["--port", `mp=${mp.endpoint},family=micropython`,
    "--port", `esp=${esp.endpoint},family=esp8266`, ...(opts.args || [])] });
  for (const b of ["mp", "esp"]) await boardState(d, b, "online");
  return d;
}

const boardState = (d, id, want, ms = 15000) =>
  waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${id}`)).body.state === want, ms, `${id} ${want}`);

async function submit(d, board, body) {
  const r = await api(d.url, "POST", `/api/v1/boards/${board}/jobs`, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}

const job = async (d, id) => (await api(d.url, "GET", `/api/v1/jobs/${id}`)).body;

/** Wait until a flash job is writing and has sent some data. */
const writing = (d, id) => waitFor(async () => {
  const j = await job(d, id);
  assert.ok(["queued", "running"].includes(j.state), `flash ended early: ${JSON.stringify(j.error)}`);
  return j.phase === "writing" && j.progress_detail?.bytes_done > 0;
}, 30000, "the flash to be writing");

async function healthy(d) {
  const r = await api(d.url, "GET", "/api/v1/health");
  assert.equal(r.status, 200);
}

/** A flash of incompressible data that takes seconds: the board is paced at its baud meanwhile. */
async function slowFlash(d) {
  await E.control(esp.control, "pacing on");
  const f = E.randomFile(192 * 1024);
  const fw = await E.uploadFirmware(d.url, f.data, "random.bin");
  return submit(d, "esp", { kind: "flash", parts: [{ offset: 0x100000, firmware: fw }], compress: "off" });
}

test("a board unplugged during a flash fails the job as board_gone naming the offset; after replug it identifies", async () => {
  const d = await corrald();
  try {
    const id = await slowFlash(d);
    await writing(d, id);
    await E.control(esp.control, "unplug");
    const j = await waitJob(d.url, id, 20000);
    assert.equal(j.state, "failed");
    assert.equal(j.error.code, "board_gone", j.error.message);
    assert.match(j.error.message, /0x[0-9a-f]{4,}/i, "the message names where the write stopped");
    await healthy(d);
    await E.control(esp.control, "pacing off");
    await E.control(esp.control, "replug");
    await boardState(d, "esp", "online");
    const idf = await runJob(d.url, "esp", { kind: "identify" }, 30000);
    assert.equal(idf.state, "succeeded", JSON.stringify(idf.error));
  } finally {
    await E.control(esp.control, "pacing off").catch(() => {});
    await E.control(esp.control, "replug").catch(() => {});
    await stopClean(d);
  }
});

test("a board unplugged during a run fails the job as board_gone; after replug the next run works", async () => {
  const d = await corrald();
  try {
    const id = await submit(d, "mp", { kind: "run", script: "import time\nwhile True:\n time.sleep(0.1)\n print(1)\n", timeout_s: 60 });
    await waitFor(async () => (await job(d, id)).state === "running", 10000, "the run to start");
    await new Promise((r) => setTimeout(r, 1000));
    await E.control(mp.control, "unplug");
    const j = await waitJob(d.url, id, 15000);
    assert.equal(j.state, "failed");
    assert.equal(j.error.code, "board_gone", j.error.message);
    await healthy(d);
    await E.control(mp.control, "replug");
    await boardState(d, "mp", "online");
    const next = await runJob(d.url, "mp", { kind: "run", script: "print(6*7)" }, 30000);
    assert.equal(next.state, "succeeded", JSON.stringify(next.error));
    assert.equal(next.result.stdout, "42\r\n");
  } finally {
    await E.control(mp.control, "replug").catch(() => {});
    await stopClean(d);
  }
});

/** A console viewer collecting JSON messages. */
async function consoleViewer(d, board) {
  const ws = new WebSocket(`${d.url.replace(/^http/, "ws")}/ws/v1/boards/${board}/console`);
  const v = { ws, msgs: [] };
  ws.on("message", (data, binary) => { if (!binary) v.msgs.push(JSON.parse(data.toString())); });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  v.after = (n, pred, what) => waitFor(() => v.msgs.slice(n).find(pred), 15000, what);
  v.close = () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once("close", r); ws.close(); });
  return v;
}

test("a board unplugged under an open console: the viewer is told it is offline, then online again after replug", async () => {
  const d = await corrald();
  try {
    const v = await consoleViewer(d, "mp");
    const hello = await v.after(0, (m) => m.type === "hello", "hello");
    assert.equal(hello.online, true);
    const n = v.msgs.length;
    await E.control(mp.control, "unplug");
    await v.after(n, (m) => m.type === "status" && m.online === false, "an offline status");
    assert.notEqual((await api(d.url, "GET", "/api/v1/boards/mp")).body.state, "online");
    await healthy(d);
    const m = v.msgs.length;
    await E.control(mp.control, "replug");
    await v.after(m, (x) => x.type === "status" && x.online === true, "an online status after replug");
    assert.equal(v.ws.readyState, WebSocket.OPEN, "the viewer's socket survived");
    await v.close();
  } finally {
    await E.control(mp.control, "replug").catch(() => {});
    await stopClean(d);
  }
});

test("a hung board fails a run within its timeout with a diagnosis; after unhang the next run works", async () => {
  const d = await corrald();
  try {
    await E.control(mp.control, "hang");
    const t0 = Date.now();
    const j = await runJob(d.url, "mp", { kind: "run", script: "print(1)", timeout_s: 4 }, 30000);
    const took = Date.now() - t0;
    assert.equal(j.state, "failed", JSON.stringify(j.result));
    assert.equal(j.error.code, "board_silent", j.error.message);
    assert.match(j.error.message, /sent nothing at all/);
    // The connect ladder stops climbing at the job's deadline; one step's own wait may overrun it.
    assert.ok(took < 4000 + 5000, `the job ended ${took} ms after submission`);
    await E.control(mp.control, "unhang");
    const next = await runJob(d.url, "mp", { kind: "run", script: "print(6*7)" }, 30000);
    assert.equal(next.state, "succeeded", JSON.stringify(next.error));
    assert.equal(next.result.stdout, "42\r\n");
  } finally {
    await E.control(mp.control, "unhang").catch(() => {});
    await stopClean(d);
  }
});

test("a garbage flood from a board leaves the API responsive and the queued run finishes", async () => {
  const d = await corrald();
  try {
    const id = await submit(d, "mp", { kind: "run", script: "import time\ntime.sleep(1)\nprint('done')", timeout_s: 20 });
    await waitFor(async () => (await job(d, id)).state === "running", 10000, "the run to start");
    const flood = E.control(mp.control, "garbage 200000");
    const times = [];
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      const t = Date.now();
      await healthy(d);
      times.push(Date.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await flood).sent, 200000, "the flood reached corrald");
    times.sort((a, b) => a - b);
    const p99 = times[Math.min(times.length - 1, Math.floor(times.length * 0.99))];
    assert.ok(times.length >= 10 && p99 < 2000, `health p99 ${p99} ms over ${times.length} requests`);
    const j = await waitJob(d.url, id, 30000);
    assert.ok(["succeeded", "failed"].includes(j.state), j.state);
  } finally {
    await stopClean(d);
  }
});

test("corrald killed during a flash: after a restart the job reads interrupted and the board identifies", async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), "corral-fault-kill-"));
  try {
    const d1 = await corrald({ stateDir });
    const id = await slowFlash(d1);
    await writing(d1, id);
    const { sig } = await d1.stop("SIGKILL");
    assert.equal(sig, "SIGKILL");
    await E.control(esp.control, "pacing off");
    const d2 = await corrald({ stateDir });
    try {
      const j = await job(d2, id);
      assert.equal(j.state, "interrupted");
      const idf = await runJob(d2.url, "esp", { kind: "identify" }, 30000);
      assert.equal(idf.state, "succeeded", JSON.stringify(idf.error));
    } finally {
      await stopClean(d2);
    }
  } finally {
    await E.control(esp.control, "pacing off").catch(() => {});
    rmSync(stateDir, { recursive: true, force: true });
  }
});

/** A 2 MiB tmpfs as a state dir. make check runs as root (README), so a mount that fails is a
 *  named failure of the test, never a skip that would count as a pass. */
function smallDisk() {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-fault-disk-"));
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]);
  if (m.status === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  assert.fail(`precondition: a 2 MiB tmpfs must be mountable (make check runs as root; uid ${process.getuid()}): ` +
    `mount said ${String(m.stderr || m.error).trim()}`);
}

function dropDisk(dir) {
  spawnSync("umount", [dir]);
  rmSync(dir, { recursive: true, force: true });
}

/** Fill the rest of a small disk; returns the filler's path (remove it to free the space). */
function fillDisk(dir) {
  const p = path.join(dir, "filler");
  try { writeFileSync(p, Buffer.alloc(4 * 1024 * 1024)); } catch (e) { assert.equal(e.code, "ENOSPC"); }
  return p;
}

test("a full disk during a firmware upload gives 507 and corrupts nothing", async (t) => {
  const stateDir = smallDisk();
  const quiet = await silentServer();
  let d;
  try {
    const start = () => startCorrald({ stateDir, args: ["--port", `quiet=socket://127.0.0.1:${quiet.port}`] });
    d = await start();
    const small = E.randomFile(64 * 1024).data;
    const up = (data, name) => api(d.url, "POST", `/api/v1/firmware?filename=${name}`, data,
      { "content-type": "application/octet-stream" });
    const first = await up(small, "small.bin");
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const earlier = await runJob(d.url, "quiet", { kind: "reset" }, 20000);

    const big = await up(E.randomFile(4 * 1024 * 1024).data, "big.bin");
    // 4 MiB is far under max_upload (16M): only the full disk can refuse it, and that is 507.
    assert.equal(big.status, 507, JSON.stringify(big.body));
    assert.equal(big.body.error.code, "disk_full");
    assert.match(big.body.error.message, /is full: the upload was refused and nothing was kept/);
    const fwDir = path.join(stateDir, "firmware");
    assert.deepEqual(readdirSync(fwDir), [first.body.id], "only the earlier firmware is left, no temp files");
    await healthy(d);
    await stopClean(d);

    d = await start(); // the database still opens, with what it had
    try {
      const fw = await api(d.url, "GET", `/api/v1/firmware/${first.body.id}`);
      assert.equal(fw.status, 200);
      const dl = await fetch(`${d.url}/api/v1/firmware/${first.body.id}?download=1`);
      assert.equal(E.sha256(Buffer.from(await dl.arrayBuffer())), first.body.id);
      const j = await job(d, earlier.id);
      assert.equal(j.state, earlier.state);
      assert.equal(j.kind, "reset");
    } finally {
      await stopClean(d);
    }
  } finally {
    await d?.stop(); // after a failed assertion: let go of the disk so the failure is what is reported
    quiet.close();
    dropDisk(stateDir);
  }
});

test("a job submitted while the disk is full is refused with 507 disk_full; with space again jobs are taken", async (t) => {
  const stateDir = smallDisk();
  const quiet = await silentServer();
  try {
    const d = await startCorrald({ stateDir, args: ["--port", `quiet=socket://127.0.0.1:${quiet.port}`] });
    try {
      await boardState(d, "quiet", "online");
      const filler = fillDisk(stateDir);
      const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "reset" });
      assert.equal(r.status, 507, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "disk_full");
      assert.match(r.body.error.message, /disk is full/);
      await healthy(d);
      rmSync(filler);
      const later = await runJob(d.url, "quiet", { kind: "reset" }, 20000);
      assert.ok(["succeeded", "failed"].includes(later.state), later.state);
    } finally {
      await stopClean(d);
    }
  } finally {
    quiet.close();
    dropDisk(stateDir);
  }
});

test("a job that ends while the disk is full is recorded with its real outcome once there is space", async (t) => {
  const stateDir = smallDisk();
  try {
    const d = await corrald({ stateDir });
    try {
      const id = await submit(d, "mp", { kind: "run", script: "import time\ntime.sleep(1.5)\nprint('ok')" });
      await waitFor(async () => (await job(d, id)).state === "running", 10000, "the run to start");
      const filler = fillDisk(stateDir);
      await boardState(d, "mp", "online"); // the run ended; the store could not say so
      rmSync(filler);
      const j = await waitJob(d.url, id, 10000);
      assert.equal(j.state, "succeeded", JSON.stringify(j.error));
      assert.equal(j.result.stdout, "ok\r\n");
    } finally {
      await stopClean(d);
    }
  } finally {
    dropDisk(stateDir);
  }
});
