// The board fact "boot" (issue 18): a blank virtual NodeMCU (as in make demo) loops in its ROM,
// printing at 74880 baud; the console's annotator decodes that and corrald records
// facts.boot = {state: "boot_loop", reason: "flash blank", rst_cause, source: "console", seen}
// without any viewer or job, so the fleet table can say "blank (boot loop)". A flash whose boot
// check sees MicroPython start replaces it ("booted"); an erase makes the board loop again and
// the console says so again.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as E from "./esp_lib.mjs";
import { api, eventsSince, runJob, waitFor } from "./lib.mjs";

const bootFact = async (base, id) => (await api(base, "GET", `/api/v1/boards/${id}`)).body.facts?.boot;

describe("facts.boot of a blank ESP8266", () => {
  let d, nodemcu;
  before(async () => {
    nodemcu = await E.board("esp8266", ["--no-pacing", "--flash-size", "4MB"]);
    d = await E.corraldWith({ nodemcu }, ["--stub-dir", E.STUB_DIR]);
  });
  after(async () => {
    await d?.stop();
    await nodemcu?.stop();
  });

  test("the console's decoded ROM log is recorded as boot_loop / flash blank, with no viewer and no job", async () => {
    const f = await waitFor(async () => {
      const b = await bootFact(d.url, "nodemcu");
      return b && b.value.state === "boot_loop" && b;
    }, 30000, "facts.boot = boot_loop");
    assert.equal(f.value.reason, "flash blank");
    assert.equal(f.value.source, "console");
    assert.ok(Number.isInteger(f.value.rst_cause), JSON.stringify(f.value));
    assert.ok(f.value.resets >= 2, JSON.stringify(f.value));
    assert.match(f.value.seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.equal(f.job, null, "learned by the console, not by a job");
    const { jobs } = (await api(d.url, "GET", "/api/v1/jobs")).body;
    assert.deepEqual(jobs, [], "no job was needed");
    const ev = (await eventsSince(d.url, 0)).filter((e) => e.type === "board.fact" && e.data.key === "boot");
    assert.equal(ev.length, 1, "one event: the same loop seen again is not news");
    assert.equal(ev[0].data.value.state, "boot_loop");
  });

  test("a flash that boots MicroPython replaces it with booted; an erase brings the loop back", async () => {
    const img = E.mkimage("esp8266");
    const id = await E.uploadFirmware(d.url, img.data, "ESP8266_GENERIC-20240602-v1.24.1.bin");
    const job = await runJob(d.url, "nodemcu", { kind: "flash", firmware: id }, 180000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const f = await bootFact(d.url, "nodemcu");
    assert.equal(f.value.state, "booted", JSON.stringify(f));
    assert.equal(f.value.source, "flash");
    assert.equal(f.job, job.id);
    const erase = await runJob(d.url, "nodemcu", { kind: "erase" }, 120000);
    assert.equal(erase.state, "succeeded", JSON.stringify(erase.error));
    const again = await waitFor(async () => {
      const b = await bootFact(d.url, "nodemcu");
      return b && b.value.state === "boot_loop" && b;
    }, 60000, "facts.boot = boot_loop after the erase");
    assert.equal(again.value.reason, "flash blank");
    assert.equal(again.value.source, "console");
  });
});
