// Power control: a hung virtual board (vboard `hang`: it swallows input and says nothing) is
// recovered by the recovery ladder's last rung, a power cycle, through the vboard power backend
// and through corrald's real uhubctl backend running the lab's stand-in uhubctl (same command line
// and output as Debian's, driving the virtual board's power); the power_cycle job kind; bad
// power specs stop start-up with a clear message.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { control, mkimage, submitFlash, watchJob } from "./esp_lib.mjs";
import { CORRALD, ROOT, api, runJob, startCorrald, startVboard, waitFor } from "./lib.mjs";

const VB = "pv", HUB = "ph", NONE = "pn";

describe("power cycles recover hung boards", () => {
  let d, vb, hb, nb, dir;
  before(async () => {
    [vb, hb, nb] = await Promise.all([startVboard("micropython", ["--name", VB]), startVboard("micropython", ["--name", HUB]),
      startVboard("micropython", ["--name", NONE])]);
    dir = mkdtempSync(path.join(tmpdir(), "corral-power-"));
    const map = path.join(dir, "hubs.json");
    writeFileSync(map, JSON.stringify({ "1-1": { "2": hb.control } }));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, [
      `uhubctl = ${path.join(ROOT, "tests/vboard/uhubctl")}`,
      "power_off_ms = 300",
      `[port ${VB}]`, `url = ${vb.endpoint}`, "family = micropython", `power = vboard:${vb.control}`,
      `[port ${HUB}]`, `url = ${hb.endpoint}`, "family = micropython", "power = uhubctl:1-1:2",
      `[port ${NONE}]`, `url = ${nb.endpoint}`, "family = micropython", "",
    ].join("\n"));
    d = await startCorrald({ args: ["--config", conf], env: { VBOARD_UHUBCTL_MAP: map } });
    for (const b of [VB, HUB, NONE])
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, `${b} online`);
  });
  after(async () => {
    await d?.stop();
    await Promise.all([vb?.stop(), hb?.stop(), nb?.stop()]);
  });

  async function hungBoardRecovers(board, ctl) {
    assert.equal((await runJob(d.url, board, { kind: "run", script: "print(1)" })).state, "succeeded");
    await control(ctl, "hang");
    assert.equal((await control(ctl, "state")).state.hung, true);
    const j = await runJob(d.url, board, { kind: "run", script: "print(6*7)", timeout_s: 120 }, 150000);
    const log = (await api(d.url, "GET", `/api/v1/jobs/${j.id}`)).body.log.map((l) => l.line);
    assert.equal(j.state, "succeeded", JSON.stringify([j.error, log]));
    assert.equal(j.result.stdout, "42\r\n");
    assert.ok(log.some((l) => l === "recover 4/5 (hard reset): no raw prompt"), log.join("\n"));
    assert.ok(log.some((l) => l === "recover 5/5 (power cycle): raw REPL is back"), log.join("\n"));
    const st = (await control(ctl, "state")).state;
    assert.equal(st.hung, false);
    assert.equal(st.plugged, true);
    const h = (await api(d.url, "GET", `/api/v1/boards/${board}/health`)).body;
    assert.equal(h.counters.power_cycles, 1);
    assert.ok(h.counters.sync_retries >= 4, JSON.stringify(h.counters));
    return log;
  }

  test("through the vboard power backend", async () => {
    const log = await hungBoardRecovers(VB, vb.control);
    assert.ok(log.some((l) => l.startsWith(`power: vboard (${vb.control}) said: {"ok":true`)), log.join("\n"));
  });

  test("through the uhubctl backend (the lab's stand-in uhubctl)", async () => {
    const log = await hungBoardRecovers(HUB, hb.control);
    const said = log.find((l) => l.startsWith("power: uhubctl (hub 1-1 port 2) said:"));
    assert.ok(said, log.join("\n"));
    assert.match(said, /New status for hub 1-1 .*\n  Port 2: 0103 power enable connect/s);
  });

  test("power_cycle job kind, and a board without a power backend", async () => {
    const j = await runJob(d.url, HUB, { kind: "power_cycle" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.power.backend, "uhubctl");
    assert.equal(j.result.power.target, "hub 1-1 port 2");
    assert.match(j.result.power.output, /Sent power on request/);
    assert.equal((await runJob(d.url, HUB, { kind: "run", script: "print(2)" })).result.stdout, "2\r\n");
    const n = await runJob(d.url, NONE, { kind: "power_cycle" });
    assert.equal(n.state, "failed");
    assert.equal(n.error.code, "no_power_backend");
    assert.match(n.error.message, /has no power backend/);
    const bad = await api(d.url, "POST", `/api/v1/boards/${HUB}/jobs`, { kind: "power_cycle", off_ms: 3 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /power_cycle takes no parameter 'off_ms'/);
    const h = (await api(d.url, "GET", `/api/v1/boards/${HUB}/health`)).body;
    assert.ok(h.counters.power_cycles >= 2);
  });

  test("a bad power spec stops start-up with file:line and the forms allowed", () => {
    const conf = path.join(dir, "bad.conf");
    writeFileSync(conf, `[port x]\nurl = socket://127.0.0.1:1\npower = uhubctl:1-1\n`);
    const r = spawnSync(CORRALD, ["--config", conf, "--state-dir", dir, "--no-udev"], { encoding: "utf8", timeout: 20000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bad\.conf:3: 'power' must be uhubctl .*uhubctl:LOCATION:PORT .*not 'uhubctl:1-1'/);
  });
});

describe("an ESP flash whose ROM loader does not answer cycles the power first", () => {
  let d, eb;
  before(async () => {
    eb = await startVboard("esp8266", ["--name", "pe"]);
    d = await startCorrald({ args: ["--port", `pe=${eb.endpoint},family=esp8266,power=vboard:${eb.control}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/pe")).body.state === "online", 10000, "pe online");
  });
  after(async () => {
    await d?.stop();
    await eb?.stop();
  });

  test("a hung ESP8266 is power-cycled and then flashed", async () => {
    await control(eb.control, "hang");
    const img = mkimage("esp8266", ["--flash-mode", "dio"]);
    const q = await submitFlash(d.url, "pe", [{ offset: 0, data: img.data, path: img.path }], { boot_check: false, timeout_s: 240 });
    const { job } = await watchJob(d.url, q.id, 300000);
    const log = (await api(d.url, "GET", `/api/v1/jobs/${q.id}`)).body.log.map((l) => l.line);
    assert.equal(job.state, "succeeded", JSON.stringify([job.error, log.slice(-12)]));
    assert.ok(log.some((l) => /^The ROM loader does not answer .*: cycling the board's power$/.test(l)), log.join("\n"));
    assert.ok(log.some((l) => l.startsWith("power: power cycled through vboard")), log.join("\n"));
    const h = (await api(d.url, "GET", "/api/v1/boards/pe/health")).body;
    assert.equal(h.counters.power_cycles, 1);
    assert.equal(h.counters.flash_succeeded, 1);
    assert.ok(h.counters.sync_retries > 0, JSON.stringify(h.counters));
    assert.ok(h.rates.flash_kbit_per_s > 0, JSON.stringify(h.rates));
  });
});
