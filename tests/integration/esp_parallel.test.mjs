// Eight virtual ESP32 boards (one vboard process each) flashed with the same image at the same
// time through one corrald: every job succeeds and every flash holds the expected bytes. The
// timing (parallel vs one board, paced wire) is a figure of tests/bench/esp.bench.mjs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as E from "./esp_lib.mjs";

const N = 8;
const boards = {};
let corrald;

before(async () => {
  const started = await Promise.all(Array.from({ length: N }, () => E.board("esp32", ["--no-pacing"])));
  started.forEach((b, i) => { boards[`p${i}`] = b; });
  corrald = await E.corraldWith(boards);
});

after(async () => {
  await corrald?.stop();
  await Promise.all(Object.values(boards).map((b) => b.stop()));
});

test("parallel flashes of one image compress it once and share it", async () => {
  const parts = E.multipart("esp32", { appSize: "80k" }); // first test of the file: nothing cached yet
  const queued = await Promise.all(Object.keys(boards).map((id) => E.submitFlash(corrald.url, id, parts, { skip_unchanged: false })));
  const jobs = await Promise.all(queued.map((q) => E.watchJob(corrald.url, q.id, 120000)));
  for (const { job } of jobs) assert.equal(job.state, "succeeded", `${job.board}: ${JSON.stringify(job.error)}`);
  const fromCache = jobs.reduce((n, { job }) => n + job.result.compressed_from_cache, 0);
  assert.equal(fromCache, N * parts.length - parts.length, "each part compressed by one job only");
});

test("8 boards flashed in parallel all succeed with the right bytes", async () => {
  const parts = E.multipart("esp32", { appSize: "64k" });
  const queued = await Promise.all(Object.keys(boards).map((id) => E.submitFlash(corrald.url, id, parts, { flash_mode: "dio" })));
  const jobs = await Promise.all(queued.map((q) => E.watchJob(corrald.url, q.id, 120000)));
  for (const { job } of jobs) assert.equal(job.state, "succeeded", `${job.board}: ${JSON.stringify(job.error)}`);
  for (const [id, b] of Object.entries(boards))
    assert.deepEqual(await E.partsDiffering(b, "esp32", parts, "dio"), [], id);
});
