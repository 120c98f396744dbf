// The flashing baud corral picks by itself: the fastest the bridge holds, stepping down when a
// virtual bridge garbles above its limit (vboard --bridge-max-baud), remembered per board (the
// flash_baud fact) so the next flash starts there; a job's baud still wins; per-phase timing in the
// result; and an installed corrald (stubs next to it, no --stub-dir) uses the flasher stub.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { api, CORRALD, startCorrald } from "./lib.mjs";
import * as E from "./esp_lib.mjs";

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function setup(kind, boardArgs, corraldArgs = ["--stub-dir", E.STUB_DIR]) {
  const b = await E.board(kind, boardArgs);
  cleanup.push(() => b.stop());
  const c = await E.corraldWith({ [kind]: b }, corraldArgs);
  cleanup.push(() => c.stop());
  return { b, c };
}

async function flash(c, id, parts, params = {}) {
  const { job } = await E.watchJob(c.url, (await E.submitFlash(c.url, id, parts, { boot_check: false, ...params })).id);
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  return job;
}

const app = (chip, size = "64k") => {
  const img = E.mkimage(chip, ["--size", size]);
  return [{ offset: 0x10000, path: img.path, data: img.data }];
};

test("a bridge limited to 460800: corral steps down from 2 Mbaud, succeeds, remembers, and starts there next time", async () => {
  const { b, c } = await setup("esp32", ["--bridge-max-baud", "460800"]);
  const parts = app("esp32");
  const first = await flash(c, "esp32", parts, { skip_unchanged: false });
  const r = first.result.baud;
  assert.equal(r.used, 460800, JSON.stringify(r));
  assert.equal(r.chosen_by, "auto");
  assert.deepEqual(r.tried.map((t) => [t.baud, t.ok]), [[2000000, false], [1500000, false], [921600, false], [460800, true]]);
  assert.match(r.tried[0].error, /does not hold 2000000 baud/);
  assert.ok(first.log.some((l) => /Uploading the stub at 2000000 baud failed/.test(l.line)),
    "the first step is tried before the stub upload (the ROM changes the baud)");
  assert.equal(first.result.loader, "stub");
  assert.equal(await E.flashSha(b, 0x10000, parts[0].data.length), E.sha256(parts[0].data), "the flash holds the image");
  const facts = (await api(c.url, "GET", "/api/v1/boards/esp32")).body.facts;
  assert.equal(facts.flash_baud.value.baud, 460800);
  assert.equal(facts.flash_baud.value.failed, 921600);

  const second = await flash(c, "esp32", app("esp32", "48k"), { skip_unchanged: false });
  assert.equal(second.result.baud.chosen_by, "remembered");
  assert.deepEqual(second.result.baud.tried.map((t) => [t.baud, t.ok]), [[460800, true]], "the second flash starts at 460800");
  assert.equal(second.result.baud.used, 460800);
});

test("a bridge that holds 2 Mbaud: the first try holds; phases are measured; next time the stub goes up at 2 Mbaud", async () => {
  const { c } = await setup("esp32", ["--bridge-max-baud", "2000000"]);
  const parts = app("esp32");
  const job = await flash(c, "esp32", parts);
  assert.deepEqual(job.result.baud.tried.map((t) => [t.baud, t.ok]), [[2000000, true]]);
  const p = job.result.phases;
  assert.ok(job.log.some((l) => /Uploaded the flasher stub at 2000000 baud \(the ROM changed the baud first\)/.test(l.line)),
    "first contact: the stub goes up at the plan's first step, not at 115200");
  for (const k of ["connect_s", "stub_s", "baud_s", "erase_s", "compare_s", "write_s", "verify_s", "reset_s", "verified_s", "total_s"])
    assert.ok(typeof p[k] === "number" && p[k] >= 0, `${k}: ${JSON.stringify(p)}`);
  assert.ok(p.stub_s > 0 && p.write_s > 0 && p.verify_s > 0 && p.connect_s > 0, JSON.stringify(p));
  const sum = p.connect_s + p.stub_s + p.baud_s + p.erase_s + p.compare_s + p.write_s + p.verify_s;
  assert.ok(sum <= p.verified_s + 0.01, `phases ${sum} within connect to verified ${p.verified_s}`);
  assert.ok(Math.abs(p.verified_s + p.reset_s - p.total_s) < 0.01, JSON.stringify(p));
  // The same image again: the remembered 2 Mbaud is set before the stub upload, nothing is written.
  const again = await flash(c, "esp32", parts);
  assert.equal(again.result.bytes_written, 0);
  assert.deepEqual(again.result.baud.tried.map((t) => [t.baud, t.ok]), [[2000000, true]]);
  assert.equal(again.result.baud.chosen_by, "remembered");
  assert.ok(again.log.some((l) => /Uploaded the flasher stub at 2000000 baud/.test(l.line)), "stub uploaded at 2 Mbaud");
});

test("without a stub, nothing to write: the baud is never raised", async () => {
  const { c } = await setup("esp32", [], []);
  const parts = app("esp32", "32k");
  const first = await flash(c, "esp32", parts);
  assert.equal(first.result.loader, "rom");
  assert.equal(first.result.baud.used, 2000000);
  const again = await flash(c, "esp32", parts);
  assert.equal(again.result.bytes_written, 0);
  assert.equal(again.result.baud.tried, undefined, JSON.stringify(again.result.baud));
  assert.equal(again.result.baud.used, 115200);
  assert.equal(again.result.baud.chosen_by, "not_needed");
});

test("a job's baud wins over the automatic choice (and the bridge limit)", async () => {
  const { c } = await setup("esp32", ["--bridge-max-baud", "460800"]);
  const job = await flash(c, "esp32", app("esp32", "32k"), { baud: 230400, skip_unchanged: false });
  assert.equal(job.result.baud.chosen_by, "job");
  assert.equal(job.result.baud.used, 230400);
  assert.equal(job.result.baud.tried, undefined);
  const facts = (await api(c.url, "GET", "/api/v1/boards/esp32")).body.facts;
  assert.equal(facts.flash_baud, undefined, "a job's own baud is not remembered as what the bridge holds");
});

test("the ESP8266 ROM loader (no stub) stays at 115200 and says why", async () => {
  const { c } = await setup("esp8266", [], []);
  const job = await flash(c, "esp8266", app("esp8266", "16k"), { skip_unchanged: false });
  assert.equal(job.result.loader, "rom");
  assert.equal(job.result.baud.chosen_by, "rom");
  assert.equal(job.result.baud.used, 115200);
  assert.match(job.result.baud.why, /cannot change the baud/);
});

test("an installed corrald (stubs next to it, no --stub-dir) uses the flasher stub and a fast baud", async () => {
  const root = E.tmp("corral-install-");
  mkdirSync(path.join(root, "sbin"));
  mkdirSync(path.join(root, "share/corral/stubs"), { recursive: true });
  copyFileSync(CORRALD, path.join(root, "sbin/corrald"));
  for (const f of readdirSync(E.STUB_DIR)) copyFileSync(path.join(E.STUB_DIR, f), path.join(root, "share/corral/stubs", f));
  const b = await E.board("esp8266", ["--bridge-max-baud", "2000000"]);
  cleanup.push(() => b.stop());
  const c = await startCorrald({ bin: path.join(root, "sbin/corrald"), args: ["--port", `esp8266=${b.endpoint},family=esp8266`] });
  cleanup.push(() => c.stop());
  const parts = app("esp8266", "64k");
  const job = await flash(c, "esp8266", parts, { skip_unchanged: false });
  assert.equal(job.result.loader, "stub");
  assert.equal(job.result.baud.used, 2000000);
  assert.equal(job.result.verify, "md5");
  assert.equal(await E.flashSha(b, 0x10000, parts[0].data.length), E.sha256(parts[0].data));
});
