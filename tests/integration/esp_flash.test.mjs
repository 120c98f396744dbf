// Flashing ESP boards through corrald's REST API, end to end: virtual ESP8266, ESP32 and ESP32-C3
// boards (tests/vboard) as static rfc2217 ports; the expected flash contents are computed here in
// JS (header patch, SHA-256 rehash) and compared with the virtual flash over the control channel.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { api, waitFor, waitJob } from "./lib.mjs";
import * as E from "./esp_lib.mjs";

const KINDS = ["esp8266", "esp32", "esp32c3"];
const boards = {};
let corrald;

before(async () => {
  for (const k of KINDS) boards[k] = await E.board(k, ["--no-pacing"]);
  corrald = await E.corraldWith(boards);
});

after(async () => {
  await corrald?.stop();
  for (const b of Object.values(boards)) await b.stop();
});

async function flash(boardId, parts, params = {}, ms = 60000) {
  const q = await E.submitFlash(corrald.url, boardId, parts, params);
  return waitJob(corrald.url, q.id, ms);
}

test("an ESP8266 image for an ESP32 (chip not known yet) fails with a plain message and writes nothing", async () => {
  const img = E.mkimage("esp8266", ["--flash-mode", "dio"]);
  const before_ = await E.flashSha(boards.esp32, 0, 0x2000);
  const job = await flash("esp32", [{ offset: 0x1000, path: img.path, data: img.data }]);
  assert.equal(job.state, "failed");
  assert.match(job.error.message, /ESP8266 image, but the board is an ESP32/);
  assert.equal(await E.flashSha(boards.esp32, 0, 0x2000), before_);
});

for (const kind of KINDS) {
  test(`${kind}: a multi-part image flashed with flash_mode dio leaves exactly the expected bytes`, async () => {
    const parts = E.multipart(kind);
    const job = await flash(kind, parts, { flash_mode: "dio" });
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const len = E.extent(parts);
    const want = E.expectedFlash(kind, parts, "dio", len);
    assert.equal(await E.flashSha(boards[kind], 0, len), E.sha256(want));
  });
}

test("the QIO bootloader gets byte 2 = DIO, other parts are written untouched", async () => {
  const parts = E.multipart("esp32");
  const job = await flash("esp32", parts, { flash_mode: "dio" });
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  const boot = await E.flashRead(boards.esp32, 0x1000, 16);
  assert.equal(parts[0].data[2], 0, "mkimage made a QIO bootloader");
  assert.equal(boot[2], 2);
  const app = await E.flashRead(boards.esp32, 0x10000, parts[2].data.length);
  assert.ok(app.equals(parts[2].data), "the app at 0x10000 is not the bootloader: never patched");
  assert.equal(job.result.patched_header, true);
});

test("a patched bootloader with an appended SHA-256 carries a recomputed, valid digest", async () => {
  const parts = E.multipart("esp32c3");
  const job = await flash("esp32c3", parts, { flash_mode: "dio" });
  assert.equal(job.state, "succeeded", JSON.stringify(job.error));
  const img = await E.flashRead(boards.esp32c3, 0, parts[0].data.length);
  const n = E.imageDataLength(img, true);
  assert.equal(img[23], 1, "hash_appended");
  assert.equal(img.subarray(n, n + 32).toString("hex"), E.sha256(img.subarray(0, n)));
  assert.notEqual(img.subarray(n, n + 32).toString("hex"), parts[0].data.subarray(n, n + 32).toString("hex"));
});

test("esp32: flashing the same image again compares MD5s and writes nothing", async () => {
  const parts = E.multipart("esp32", { appSize: "24k" }); // not written by an earlier test
  const first = await flash("esp32", parts, { flash_mode: "dio" });
  assert.equal(first.state, "succeeded", JSON.stringify(first.error));
  const again = await flash("esp32", parts, { flash_mode: "dio" });
  assert.equal(again.state, "succeeded", JSON.stringify(again.error));
  assert.ok(first.result.bytes_written >= 24 * 1024, "the new app was written the first time");
  assert.equal(again.result.bytes_written, 0);
  assert.equal(again.result.bytes_skipped, first.result.bytes_written + first.result.bytes_skipped);
  assert.ok(again.result.parts.every((p) => p.skipped));
});

test("esp8266 ROM: the same image is written again, and the job says why it cannot skip", async () => {
  const parts = E.multipart("esp8266", { seed: 3 });
  await flash("esp8266", parts, { flash_mode: "dio" });
  const again = await flash("esp8266", parts, { flash_mode: "dio" });
  assert.equal(again.state, "succeeded", JSON.stringify(again.error));
  assert.equal(again.result.skip_unchanged, "not_possible");
  assert.equal(again.result.bytes_skipped, 0);
  assert.match(again.log.map((l) => l.line).join("\n"), /cannot be skipped: the ESP8266 ROM loader has no MD5/);
});

test("esp8266 with the flasher stub: the same image is skipped by MD5", async (t) => {
  // The stub directory is corrald's config (--stub-dir), never a job parameter: its own corrald.
  const stubBoard = await E.board("esp8266", ["--no-pacing"]);
  const stubbed = await E.corraldWith({ esp8266: stubBoard }, ["--stub-dir", E.STUB_DIR]);
  t.after(async () => { await stubbed.stop(); await stubBoard.stop(); });
  const flashStub = async (p, params) => waitJob(stubbed.url, (await E.submitFlash(stubbed.url, "esp8266", p, params)).id, 60000);
  const parts = E.multipart("esp8266", { seed: 5 });
  const first = await flashStub(parts, { flash_mode: "dio" });
  assert.equal(first.state, "succeeded", JSON.stringify(first.error));
  assert.equal(first.result.loader, "stub");
  const again = await flashStub(parts, { flash_mode: "dio" });
  assert.equal(again.state, "succeeded", JSON.stringify(again.error));
  assert.equal(again.result.skip_unchanged, "md5");
  assert.equal(again.result.bytes_written, 0);
  const len = E.extent(parts);
  assert.equal(await E.flashSha(stubBoard, 0, len), E.sha256(E.expectedFlash("esp8266", parts, "dio", len)));
});

test("identify stores chip, revision, MAC, flash size and flash vendor for each ESP board", async () => {
  const want = {
    esp8266: { chip: "ESP8266", chip_revision: null },
    esp32: { chip: "ESP32", chip_revision: "v3.0" },
    esp32c3: { chip: "ESP32-C3", chip_revision: "v0.4" },
  };
  for (const kind of KINDS) {
    const r = await api(corrald.url, "POST", `/api/v1/boards/${kind}/jobs`, { kind: "identify", method: "esp" });
    const job = await waitJob(corrald.url, r.body.id, 60000);
    assert.equal(job.state, "succeeded", `${kind}: ${JSON.stringify(job.error)}`);
    assert.equal(job.result.answered, "esp-rom", kind);
    assert.equal(job.result.facts.chip, want[kind].chip, `${kind}: the ROM facts stay in the result`);
    const facts = (await api(corrald.url, "GET", `/api/v1/boards/${kind}`)).body.facts;
    const st = (await E.control(boards[kind].control, "state")).state;
    assert.equal(facts.chip.value, want[kind].chip, kind);
    assert.ok("chip_revision" in facts, `${kind}: chip_revision fact`);
    assert.equal(facts.chip_revision.value, want[kind].chip_revision, kind);
    assert.equal(facts.mac.value, st.mac, kind);
    assert.equal(facts.flash_size.value, "4MB", kind);
    assert.equal(facts.flash_vendor.value, "Winbond", kind);
  }
});

test("a chip known from identify makes a wrong-chip image fail before any reset", async () => {
  const facts = (await api(corrald.url, "GET", "/api/v1/boards/esp32c3")).body.facts;
  assert.equal(facts.chip?.value, "ESP32-C3", "needs the identify test's facts");
  const img = E.mkimage("esp8266", []);
  const st0 = (await E.control(boards.esp32c3.control, "state")).state;
  const job = await flash("esp32c3", [{ offset: 0, path: img.path, data: img.data }]);
  const st1 = (await E.control(boards.esp32c3.control, "state")).state;
  assert.equal(job.state, "failed");
  assert.equal(job.error.code, "wrong_chip");
  assert.match(job.error.message, /ESP8266 image, but the board is an ESP32-C3/);
  assert.equal(st1.boot_count, st0.boot_count, "the board was not reset");
});

test("a board that does not answer gives the not-in-download-mode / wrong-port message", async () => {
  await E.control(boards.esp8266.control, "hang");
  try {
    const parts = E.multipart("esp8266", { seed: 4 });
    const job = await flash("esp8266", parts, {}, 90000);
    assert.equal(job.state, "failed");
    assert.equal(job.error.code, "esp_no_answer");
    assert.match(job.error.message, /not in download mode .* or this is the wrong port/);
  } finally {
    await E.control(boards.esp8266.control, "unhang");
  }
});
