// README promises that had no test: the fs_mkdir / fs_rmdir and deploy jobs on the virtual
// MicroPython board, the erase job on a virtual ESP32, a reservation whose wait_s runs out, the
// job_timeout setting, and the CLI's console command (with and without tokens). Each checks
// states, codes and contents.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as E from "./esp_lib.mjs";
import { ROOT, api, runJob, startCorrald, startVboard, waitFor } from "./lib.mjs";

const CORRAL = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");
const b64 = (s) => Buffer.from(s).toString("base64");

/** Start build/corral (env: extra variables, e.g. CORRAL_TOKEN); returns {proc, done} where done resolves {code, stdout, stderr}. */
function corralStart(server, args, ms = 30000, env = {}) {
  const p = spawn(CORRAL, ["--server", server, ...args], { env: { ...process.env, CORRAL_LEASE: "", CORRAL_TOKEN: "", ...env } });
  const r = { stdout: "", stderr: "" };
  p.stdout.on("data", (d) => { r.stdout += d.toString("latin1"); });
  p.stderr.on("data", (d) => { r.stderr += d; });
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`corral ${args.join(" ")} still running after ${ms} ms: ${JSON.stringify(r)}`)); }, ms);
    p.on("exit", (code) => { clearTimeout(timer); resolve({ code, ...r }); });
  });
  return { proc: p, out: r, done };
}

/** Run build/corral with stdin text (then end of input). */
function corral(server, args, input = "", env = {}) {
  const c = corralStart(server, args, 30000, env);
  if (input) c.proc.stdin.write(input);
  c.proc.stdin.end();
  return c.done;
}

describe("MicroPython board: fs_mkdir, fs_rmdir, deploy, console", () => {
  const MP = "mp";
  let d, vb;
  before(async () => {
    vb = await startVboard("micropython");
    d = await startCorrald({ args: ["--port", `${MP}=${vb.endpoint},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${MP}`)).body.state === "online", 10000, "board online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
  });
  const job = (body, ms = 60000) => runJob(d.url, MP, body, ms);
  const ls = async (p) => {
    const j = await job({ kind: "fs_ls", path: p });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    return j.result.entries;
  };

  test("fs_mkdir creates a directory that fs_ls shows and that takes files", async () => {
    const mk = await job({ kind: "fs_mkdir", path: "/made" });
    assert.equal(mk.state, "succeeded", JSON.stringify(mk.error));
    assert.equal(mk.result.path, "/made");
    const entry = (await ls("/")).find((e) => e.path === "/made");
    assert.equal(entry?.type, "dir", JSON.stringify(await ls("/")));
    const put = await job({ kind: "fs_put", path: "/made/a.txt", content_b64: b64("inside\n") });
    assert.equal(put.state, "succeeded", JSON.stringify(put.error));
    assert.deepEqual(await ls("/made"), [{ path: "/made/a.txt", type: "file", size: 7 }]);
  });

  test("fs_mkdir of an existing directory fails and names it", async () => {
    const again = await job({ kind: "fs_mkdir", path: "/made" });
    assert.equal(again.state, "failed");
    assert.equal(again.error.code, "exists", JSON.stringify(again.error));
    assert.match(again.error.message, /\/made/);
  });

  test("fs_rmdir refuses a directory that is not empty and leaves it and its file", async () => {
    const rm = await job({ kind: "fs_rmdir", path: "/made" });
    assert.equal(rm.state, "failed");
    assert.equal(rm.error.code, "not_empty", JSON.stringify(rm.error));
    assert.deepEqual(await ls("/made"), [{ path: "/made/a.txt", type: "file", size: 7 }]);
  });

  test("fs_rmdir removes an empty directory: gone from fs_ls, and a second fs_rmdir is not_found", async () => {
    assert.equal((await job({ kind: "fs_rm", path: "/made/a.txt" })).state, "succeeded");
    const rm = await job({ kind: "fs_rmdir", path: "/made" });
    assert.equal(rm.state, "succeeded", JSON.stringify(rm.error));
    assert.equal(rm.result.path, "/made");
    assert.equal((await ls("/")).find((e) => e.path === "/made"), undefined);
    const again = await job({ kind: "fs_rmdir", path: "/made" });
    assert.equal(again.state, "failed");
    assert.equal(again.error.code, "not_found", JSON.stringify(again.error));
  });

  test("deploy puts a tree of files and soft-resets: main.py runs and its output is the job's boot_output", async () => {
    const main = "import deployed_lib\nprint('deployed', deployed_lib.v * 6)\n";
    const lib = "v = 7\n";
    const j = await job({ kind: "deploy", files: [
      { path: "/main.py", content_b64: b64(main) },
      { path: "/lib/deployed_lib.py", content_b64: b64(lib) },
    ] }, 90000);
    try {
      assert.equal(j.state, "succeeded", JSON.stringify(j.error));
      assert.equal(j.result.files, 2);
      assert.match(j.result.boot_output, /deployed 42\r\n/);
      assert.ok(j.log.some((l) => /soft reset done; boot\.py and main\.py run/.test(l.line)), JSON.stringify(j.log));
      const got = await job({ kind: "fs_get", path: "/lib/deployed_lib.py" });
      assert.equal(Buffer.from(got.result.content_b64, "base64").toString(), lib);
      // soft_reset false: files only, nothing runs, no boot output.
      const quiet = await job({ kind: "deploy", soft_reset: false, files: [{ path: "/main.py", content_b64: b64("print('second')\n") }] });
      assert.equal(quiet.state, "succeeded", JSON.stringify(quiet.error));
      assert.equal(quiet.result.boot_output, undefined);
      const again = await job({ kind: "fs_get", path: "/main.py" });
      assert.equal(Buffer.from(again.result.content_b64, "base64").toString(), "print('second')\n");
    } finally {
      await job({ kind: "fs_rm", path: "/main.py" });
      await job({ kind: "fs_rm", path: "/lib/deployed_lib.py" });
    }
  });

  test("deploy without files is refused with 400 before it is queued", async () => {
    const r = await api(d.url, "POST", `/api/v1/boards/${MP}/jobs`, { kind: "deploy", files: [] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_params");
    assert.match(r.body.error.message, /'files' must be a non-empty list/);
  });

  test("corral console: typed input reaches the board, its output arrives, end of input leaves with 0", async () => {
    const r = await corral(d.url, ["console", MP], "print('con' + 'sole', 6 * 7)\r");
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stdout, /console 42\r\n/, JSON.stringify(r.stdout));
    assert.match(r.stderr, /Ctrl-\] leaves/);
  });

  test("corral console: Ctrl-] leaves with 0 while input is still open, and what came before it was sent", async () => {
    const c = corralStart(d.url, ["console", MP], 20000);
    c.proc.stdin.write("print('be' + 'fore')\r");
    await waitFor(() => c.out.stdout.includes("before\r\n"), 15000, "the board's answer on the console");
    const t0 = Date.now();
    c.proc.stdin.write("\x1d"); // stdin stays open: only Ctrl-] can end it
    const r = await c.done;
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    assert.ok(Date.now() - t0 < 5000, `left ${Date.now() - t0} ms after Ctrl-]`);
  });

  test("corral console of a board that does not exist exits 3 saying there is no such board", async () => {
    const r = await corral(d.url, ["console", "no-such-board"]);
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, "[corral] no board 'no-such-board' (corral boards lists them)\n");
    assert.equal(r.stdout, "");
  });
});

describe("corral console against a corrald with tokens", () => {
  const MP = "mp";
  const SECRET = "console-operator-secret-0123456789";
  let d, vb, dir;
  before(async () => {
    vb = await startVboard("micropython");
    dir = mkdtempSync(path.join(tmpdir(), "corral-readme-console-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, `[token ci]\nrole = operator\nsecret = ${SECRET}\n`);
    d = await startCorrald({ args: ["--config", conf, "--port", `${MP}=${vb.endpoint},family=micropython`] });
    const auth = { authorization: `Bearer ${SECRET}` };
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${MP}`, undefined, auth)).body.state === "online",
      10000, "board online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("without CORRAL_TOKEN: exits 3 saying a token is needed", async () => {
    const r = await corral(d.url, ["console", MP]);
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, `[corral] cannot open the console of '${MP}': corrald wants a valid token (set CORRAL_TOKEN)\n`);
    assert.equal(r.stdout, "");
  });

  test("with a wrong CORRAL_TOKEN: exits 3 saying the token was refused", async () => {
    const r = await corral(d.url, ["console", MP], "", { CORRAL_TOKEN: "not-the-secret-0123456789" });
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /corrald wants a valid token \(the one in CORRAL_TOKEN was refused\)/);
  });

  test("with the right CORRAL_TOKEN: the token is sent, typed input reaches the board and its output arrives", async () => {
    const r = await corral(d.url, ["console", MP], "print('to' + 'ken', 6 * 7)\r", { CORRAL_TOKEN: SECRET });
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stdout, /token 42\r\n/, JSON.stringify(r.stdout));
    assert.match(r.stderr, /you have the write lock/);
  });

  test("with the right CORRAL_TOKEN, a board that does not exist is still named as such", async () => {
    const r = await corral(d.url, ["console", "no-such-board"], "", { CORRAL_TOKEN: SECRET });
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, "[corral] no board 'no-such-board' (corral boards lists them)\n");
  });
});

describe("erase on a virtual ESP32", () => {
  let d, esp;
  before(async () => {
    esp = await E.board("esp32", ["--no-pacing"]);
    d = await E.corraldWith({ esp32: esp });
  });
  after(async () => {
    await d?.stop();
    await esp?.stop();
  });

  test("a region erase leaves 0xFF in exactly that region; a whole erase leaves the whole flash 0xFF", async () => {
    const part = E.randomFile(0x4000);
    const q = await E.submitFlash(d.url, "esp32", [{ offset: 0x20000, path: part.path, data: part.data }], { boot_check: false });
    const fl = await waitFor(async () => { const j = (await api(d.url, "GET", `/api/v1/jobs/${q.id}`)).body; return ["succeeded", "failed"].includes(j.state) && j; }, 90000, "flash");
    assert.equal(fl.state, "succeeded", JSON.stringify(fl.error));
    assert.ok((await E.flashRead(esp, 0x20000, 0x4000)).equals(part.data), "the part is in flash before the erase");

    const r = await runJob(d.url, "esp32", { kind: "erase", offset: 0x21000, size: 0x1000 }, 60000);
    assert.equal(r.state, "succeeded", JSON.stringify(r.error));
    assert.equal(r.result.erased, "region");
    assert.ok(r.log.some((l) => l.line.includes("Erased 0x21000..0x22000")), JSON.stringify(r.log));
    const now = await E.flashRead(esp, 0x20000, 0x4000);
    assert.ok(now.subarray(0, 0x1000).equals(part.data.subarray(0, 0x1000)), "the sector before is untouched");
    assert.ok(now.subarray(0x1000, 0x2000).every((b) => b === 0xff), "the region is erased");
    assert.ok(now.subarray(0x2000).equals(part.data.subarray(0x2000)), "the sectors after are untouched");

    const all = await runJob(d.url, "esp32", { kind: "erase" }, 120000);
    assert.equal(all.state, "succeeded", JSON.stringify(all.error));
    assert.equal(all.result.erased, "all");
    const size = 4 * 1024 * 1024;
    assert.ok(all.log.some((l) => /Erased the whole flash \(4096 KiB\)/.test(l.line)), JSON.stringify(all.log));
    const ff = Buffer.alloc(0x100000, 0xff);
    for (let off = 0; off < size; off += ff.length)
      assert.equal(await E.flashSha(esp, off, ff.length), E.sha256(ff), `0x${off.toString(16)}: not erased`);
  });

  test("an erase region that is not sector-aligned, or half given, is refused with 400 before it is queued", async () => {
    for (const body of [{ offset: 0x21000 }, { offset: 0x21001, size: 0x1000 }, { offset: 0, size: 100 }]) {
      const r = await api(d.url, "POST", "/api/v1/boards/esp32/jobs", { kind: "erase", ...body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, "invalid_params");
    }
  });
});

describe("reservations: wait_s", () => {
  let d, vb;
  before(async () => {
    vb = await startVboard("micropython");
    d = await startCorrald({ args: ["--port", `w1=${vb.endpoint},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/w1")).body.state === "online", 10000, "board online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
  });

  test("a request whose wait_s runs out while the board stays leased is answered at its deadline with 409 board_reserved", async () => {
    const first = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "w1" }, ttl_s: 60, owner: "holder" });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const t0 = Date.now();
    const second = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "w1" }, ttl_s: 60, owner: "waiter", wait_s: 2 });
    const waited = Date.now() - t0;
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body.error.code, "board_reserved");
    assert.equal(second.body.error.details.holder, "holder");
    assert.ok(waited >= 1900, `answered after ${waited} ms, before the 2 s deadline`);
    assert.ok(waited < 6000, `answered after ${waited} ms, long after the 2 s deadline`);
    const list = (await api(d.url, "GET", "/api/v1/reservations")).body;
    const active = (list.reservations ?? list).filter((x) => x.board === "w1");
    assert.equal(active.length, 1, JSON.stringify(list));
    assert.equal(active[0].owner, "holder");
  });
});

describe("job_timeout from the config file", () => {
  let d, vb, dir;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-jobtimeout-"));
    writeFileSync(path.join(dir, "corrald.conf"), "job_timeout = 4\n");
    vb = await startVboard("micropython");
    d = await startCorrald({ args: ["--config", path.join(dir, "corrald.conf"), "--port", `t1=${vb.endpoint},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/t1")).body.state === "online", 10000, "board online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a job without timeout_s gets job_timeout: a script still running then is interrupted (exit 124)", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/t1/jobs", { kind: "run", script: "print('spin')\nwhile True:\n pass\n" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.timeout_s, 4, "the job carries the configured timeout");
    const j = await waitFor(async () => { const x = (await api(d.url, "GET", `/api/v1/jobs/${r.body.id}`)).body; return !["queued", "running"].includes(x.state) && x; }, 30000, "the run to end");
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.exit_status, 124);
    assert.equal(j.result.stdout, "spin\r\n");
    assert.equal(j.result.board_usable, true);
    assert.ok(j.result.duration_ms < 4000, `the script ran ${j.result.duration_ms} ms, past job_timeout`);
  });

  test("an explicit timeout_s still wins over job_timeout", async () => {
    const j = await runJob(d.url, "t1", { kind: "run", script: "import time\ntime.sleep(5)\nprint('slept')\n", timeout_s: 20 }, 40000);
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.timeout_s, 20);
    assert.equal(j.result.exit_status, 0);
    assert.equal(j.result.stdout, "slept\r\n");
  });
});
