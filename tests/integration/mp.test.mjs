// MicroPython jobs end to end through corrald against the virtual board (the real interpreter in
// wasm behind RFC 2217): run (output, exception, timeout, live output, files, cancel), the file
// jobs, identify, and boards that never answer (silent, garbage). One vboard and one corrald for
// the whole file; each test leaves the board at a prompt for the next.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { api, eventsSince, garbageServer, runJob, silentServer, startCorrald, startVboard, waitFor, waitJob } from "./lib.mjs";
import { mpCancelTest, mpRunTests } from "./mp_lib.mjs";

const MP = "mp";

describe("MicroPython jobs on the virtual board", () => {
  let d, vb, silent, noise;
  before(async () => {
    vb = await startVboard("micropython");
    silent = await silentServer();
    noise = await garbageServer();
    d = await startCorrald({ args: [
      "--port", `${MP}=${vb.endpoint},family=micropython`,
      "--port", `quiet=socket://127.0.0.1:${silent.port},family=micropython`,
      "--port", `noise=socket://127.0.0.1:${noise.port},family=micropython`,
    ] });
    for (const b of [MP, "quiet", "noise"])
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, `${b} online`);
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
    silent?.close();
    noise?.close();
  });

  const run = (body, ms) => runJob(d.url, MP, { kind: "run", ...body }, ms);

  mpRunTests(test, run, "<stdin>");

  test("run streams stdout live as job.output events while the script still runs", async () => {
    const since = (await api(d.url, "GET", "/api/v1/events")).body.last_seq;
    const r = await api(d.url, "POST", `/api/v1/boards/${MP}/jobs`,
      { kind: "run", script: "print('first')\nimport time\ntime.sleep(3)\nprint('second')\n" });
    assert.equal(r.status, 202);
    const outputOf = async () => (await eventsSince(d.url, since))
      .filter((e) => e.type === "job.output" && e.data.job === r.body.id);
    const text = async () => (await outputOf()).map((e) => e.data.data).join("");
    await waitFor(async () => (await text()).includes("first\r\n"), 15000, "'first' in job.output events");
    assert.equal((await api(d.url, "GET", `/api/v1/jobs/${r.body.id}`)).body.state, "running");
    const j = await waitJob(d.url, r.body.id, 30000);
    assert.equal(j.result.stdout, "first\r\nsecond\r\n");
    const out = await outputOf();
    assert.ok(out.every((e) => e.data.stream === "stdout" && e.data.board === MP));
    assert.equal(out.map((e) => e.data.data).join(""), j.result.stdout);
  });

  test("run puts its files first, then runs a script that imports them", async () => {
    const helper = Buffer.from("def answer():\n    return 6 * 7\n").toString("base64");
    const j = await run({ files: [{ path: "/lib/corral_helper.py", content_b64: helper }],
      script: "import corral_helper\nprint(corral_helper.answer())\n" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.stdout, "42\r\n");
    assert.ok(j.log.some((l) => /put \/lib\/corral_helper.py \(\d+ bytes, verified\)/.test(l.line)), JSON.stringify(j.log));
  });

  mpCancelTest(test, run, () => d.url, MP);

  describe("files", () => {
    const blob = crypto.randomBytes(20 * 1024);
    const sha = crypto.createHash("sha256").update(blob).digest("hex");

    test("fs_put writes a 20 KB binary file and fs_get reads it back byte-identical", async () => {
      assert.ok(new Set(blob).size === 256, "the test data holds every byte value");
      const put = await runJob(d.url, MP, { kind: "fs_put", path: "/data/blob.bin", content_b64: blob.toString("base64") }, 90000);
      assert.equal(put.state, "succeeded", JSON.stringify(put.error));
      assert.deepEqual([put.result.size, put.result.sha256], [blob.length, sha]);
      const get = await runJob(d.url, MP, { kind: "fs_get", path: "/data/blob.bin" }, 90000);
      assert.equal(get.state, "succeeded", JSON.stringify(get.error));
      assert.equal(get.result.sha256, sha);
      assert.ok(Buffer.from(get.result.content_b64, "base64").equals(blob), "the bytes read back equal the bytes written");
    });

    test("fs_ls shows the file with its size", async () => {
      const ls = await runJob(d.url, MP, { kind: "fs_ls", path: "/data" });
      assert.equal(ls.state, "succeeded", JSON.stringify(ls.error));
      assert.deepEqual(ls.result.entries, [{ path: "/data/blob.bin", type: "file", size: blob.length }]);
    });

    test("fs_rm removes the file: fs_ls no longer shows it and fs_get fails with not_found", async () => {
      const rm = await runJob(d.url, MP, { kind: "fs_rm", path: "/data/blob.bin" });
      assert.equal(rm.state, "succeeded", JSON.stringify(rm.error));
      const ls = await runJob(d.url, MP, { kind: "fs_ls", path: "/data" });
      assert.deepEqual(ls.result.entries, []);
      const get = await runJob(d.url, MP, { kind: "fs_get", path: "/data/blob.bin" });
      assert.equal(get.state, "failed");
      assert.equal(get.error.code, "not_found", JSON.stringify(get.error));
    });
  });

  describe("boards that never show a prompt", { concurrency: true }, () => {
    const TIMEOUT_S = 40;

    test("a silent board fails the job as board_silent, naming power or the wrong port, within the job timeout", async () => {
      const t0 = Date.now();
      const j = await runJob(d.url, "quiet", { kind: "run", script: "print(1)", timeout_s: TIMEOUT_S }, 60000);
      assert.equal(j.state, "failed");
      assert.equal(j.error.code, "board_silent", JSON.stringify(j.error));
      assert.match(j.error.message, /sent nothing at all.*powered.*right port/);
      assert.ok(Date.now() - t0 < TIMEOUT_S * 1000, `failed after ${Date.now() - t0} ms`);
    });

    test("a board printing noise fails the job as garbage, naming the baud rate, within the job timeout", async () => {
      const t0 = Date.now();
      const j = await runJob(d.url, "noise", { kind: "run", script: "print(1)", timeout_s: TIMEOUT_S }, 60000);
      assert.equal(j.state, "failed");
      assert.equal(j.error.code, "garbage", JSON.stringify(j.error));
      assert.match(j.error.message, /no readable text.*baud rate/);
      assert.ok(Date.now() - t0 < TIMEOUT_S * 1000, `failed after ${Date.now() - t0} ms`);
    });
  });
});

describe("identify on the virtual MicroPython board", () => {
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

  test("identify stores the MicroPython version and machine as facts of the board", async () => {
    const initial = (await api(d.url, "GET", `/api/v1/boards/${MP}`)).body.facts;
    assert.equal(initial.mp_version, undefined, "no facts before identify");
    const j = await runJob(d.url, MP, { kind: "identify" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    const { facts } = (await api(d.url, "GET", `/api/v1/boards/${MP}`)).body;
    assert.match(facts.mp_version.value, /^\d+\.\d+\.\d+$/);
    assert.match(facts.banner.value, new RegExp(`^MicroPython v${facts.mp_version.value.replaceAll(".", "\\.")}\\b`));
    assert.equal(facts.machine.value, "JS with Emscripten");
    assert.equal(facts.platform.value, "webassembly");
    assert.equal(facts.firmware.value, "micropython");
    assert.equal(facts.mp_version.job, j.id);
    assert.ok(!Number.isNaN(Date.parse(facts.mp_version.learned_at)));
  });
});
