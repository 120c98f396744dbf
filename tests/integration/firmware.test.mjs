// The firmware library over the real HTTP API: raw and multipart uploads, list/get/download,
// the max_upload limit (413), content that contradicts what was declared (422), delete and its
// guards, flash jobs by firmware id, known-good pins, and editing an entry (PATCH, its rights and
// audit). Images come from tests/vboard/mkimage.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as E from "./esp_lib.mjs";
import { api, ROOT, silentServer, startCorrald, waitFor, waitJob } from "./lib.mjs";

const MKIMAGE = path.join(ROOT, "tests/vboard/mkimage");
const work = mkdtempSync(path.join(tmpdir(), "corral-fw-"));

function mkimage(chip, version, extra = []) {
  const out = path.join(work, `${chip}-${version}-${extra.join("_").replace(/\W/g, "")}.bin`);
  execFileSync(MKIMAGE, ["--chip", chip, "--version", version, ...extra, "-o", out], { stdio: "ignore" });
  return readFileSync(out);
}

const octet = { "content-type": "application/octet-stream" };
after(() => rmSync(work, { recursive: true, force: true }));

async function uploadRaw(base, bytes, query = "") {
  return api(base, "POST", `/api/v1/firmware${query}`, new Uint8Array(bytes), octet);
}

async function uploadForm(base, bytes, filename, fields = {}) {
  const form = new FormData();
  form.append("file", new Blob([bytes]), filename);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${base}/api/v1/firmware`, { method: "POST", body: form });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe("firmware library API", () => {
  let d, silent, esp8266, esp32, big;
  before(async () => {
    esp8266 = mkimage("esp8266", "1.25.0");
    esp32 = mkimage("esp32", "1.25.0");
    big = mkimage("esp8266", "1.24.1", ["--size", "100k"]);
    const conf = path.join(work, "corrald.conf");
    writeFileSync(conf, "max_upload = 64K\n");
    silent = await silentServer();
    d = await startCorrald({
      args: ["--config", conf, "--port", `quiet=socket://127.0.0.1:${silent.port},family=esp8266`],
    });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/quiet")).body.state === "online", 10000,
      "board online");
  });
  after(async () => {
    await d.stop();
    silent.close();
  });

  test("a raw upload is stored under its SHA-256 with what the header and name say", async () => {
    const r = await uploadRaw(d.url, esp8266, "?name=generic&filename=ESP8266_GENERIC-20250415-v1.25.0.bin");
    assert.equal(r.status, 201);
    assert.match(r.body.id, /^[0-9a-f]{64}$/);
    assert.equal(r.headers.get("location"), `/api/v1/firmware/${r.body.id}`);
    assert.equal(r.body.kind, "esp-image");
    assert.equal(r.body.chip, "esp8266");
    assert.equal(r.body.micropython.version, "1.25.0");
    assert.equal(r.body.micropython.board, "ESP8266_GENERIC");
    assert.equal(r.body.name, "generic");
    assert.equal(r.body.size, esp8266.length);
  });

  test("a multipart upload takes the file part and the name and notes fields", async () => {
    const r = await uploadForm(d.url, esp32, "ESP32_GENERIC-20250415-v1.25.0.bin", { name: "esp32 mp", notes: "bench" });
    assert.equal(r.status, 201);
    assert.equal(r.body.chip, "esp32");
    assert.equal(r.body.name, "esp32 mp");
    assert.equal(r.body.notes, "bench");
    assert.equal(r.body.filename, "ESP32_GENERIC-20250415-v1.25.0.bin");
    assert.equal(r.body.esp.flash_mode, "dio");
  });

  test("the same bytes again return the existing firmware with 200", async () => {
    const r = await uploadRaw(d.url, esp8266, "?name=again");
    assert.equal(r.status, 200);
    assert.equal(r.body.created, false);
    assert.equal(r.body.name, "generic");
  });

  test("the list filters by chip, family and version", async () => {
    const all = await api(d.url, "GET", "/api/v1/firmware");
    assert.equal(all.status, 200);
    assert.ok(all.body.firmware.length >= 2);
    const e32 = await api(d.url, "GET", "/api/v1/firmware?chip=esp32");
    assert.deepEqual(e32.body.firmware.map((f) => f.chip), ["esp32"]);
    const fam = await api(d.url, "GET", "/api/v1/firmware?family=esp8266");
    assert.ok(fam.body.firmware.every((f) => f.family === "esp8266"));
    const none = await api(d.url, "GET", "/api/v1/firmware?version=9.9.9");
    assert.equal(none.body.firmware.length, 0);
  });

  test("GET returns the metadata and ?download=1 the identical bytes", async () => {
    const up = await uploadRaw(d.url, esp8266);
    const meta = await api(d.url, "GET", `/api/v1/firmware/${up.body.id}`);
    assert.equal(meta.status, 200);
    assert.equal(meta.body.id, up.body.id);
    const res = await fetch(`${d.url}/api/v1/firmware/${up.body.id}?download=1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(esp8266));
  });

  test("an unknown or malformed id is 404 or 400", async () => {
    assert.equal((await api(d.url, "GET", `/api/v1/firmware/${"0".repeat(64)}`)).status, 404);
    const bad = await api(d.url, "GET", "/api/v1/firmware/nothex");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid_firmware_id");
  });

  test("an upload over max_upload is 413 and leaves nothing behind", async () => {
    const before = (await api(d.url, "GET", "/api/v1/firmware")).body.firmware.length;
    const r = await uploadRaw(d.url, big);
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "upload_too_large");
    assert.equal(r.body.error.details.limit_bytes, 64 * 1024);
    assert.equal((await api(d.url, "GET", "/api/v1/firmware")).body.firmware.length, before);
  });

  test("a multipart upload over max_upload is 413 too", async () => {
    const r = await uploadForm(d.url, big, "big.bin");
    assert.equal(r.status, 413);
  });

  test("a declared chip the header contradicts is 422 with the reason", async () => {
    const r = await uploadRaw(d.url, esp8266, "?chip=esp32");
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, "content_mismatch");
    assert.match(r.body.error.message, /esp32.*esp8266/);
  });

  test("a .hex that is not Intel HEX and a .uf2 without UF2 magic are 422", async () => {
    const hex = await uploadRaw(d.url, Buffer.from("not hex at all"), "?filename=fw.hex");
    assert.equal(hex.status, 422);
    assert.match(hex.body.error.message, /Intel HEX/);
    const uf2 = await uploadForm(d.url, Buffer.from("not uf2"), "fw.uf2");
    assert.equal(uf2.status, 422);
    assert.match(uf2.body.error.message, /UF2/);
  });

  test("a release name of another chip than the image is 422", async () => {
    const r = await uploadRaw(d.url, esp32, "?filename=ESP8266_GENERIC-20250415-v1.25.0.bin");
    assert.equal(r.status, 422);
  });

  test("an empty upload is 400 and another content type 415", async () => {
    assert.equal((await uploadRaw(d.url, Buffer.alloc(0))).status, 400);
    const t = await api(d.url, "POST", "/api/v1/firmware", "text", { "content-type": "text/plain" });
    assert.equal(t.status, 415);
  });

  test("DELETE removes the firmware", async () => {
    const up = await uploadRaw(d.url, Buffer.from("delete me please"), "?name=tmp");
    assert.equal(up.status, 201);
    assert.equal((await api(d.url, "DELETE", `/api/v1/firmware/${up.body.id}`)).status, 204);
    assert.equal((await api(d.url, "GET", `/api/v1/firmware/${up.body.id}`)).status, 404);
  });

  test("a flash job naming an unknown firmware id is 422", async () => {
    const r = await api(d.url, "POST", "/api/v1/boards/quiet/jobs", { kind: "flash", firmware: "a".repeat(64) });
    assert.equal(r.status, 422);
    assert.match(r.body.error.message, /unknown firmware id/);
  });

  test("DELETE is refused with 409 while a queued or running job references the firmware", async () => {
    const up = await uploadRaw(d.url, esp8266);
    const job = await api(d.url, "POST", "/api/v1/boards/quiet/jobs",
      { kind: "flash", firmware: up.body.id, timeout_s: 60 });
    assert.equal(job.status, 202);
    const r = await api(d.url, "DELETE", `/api/v1/firmware/${up.body.id}`);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "firmware_in_use");
    assert.equal(r.body.error.details.job, job.body.id);
    await api(d.url, "POST", `/api/v1/jobs/${job.body.id}/cancel`);
    assert.equal((await waitJob(d.url, job.body.id)).state, "cancelled");
  });

  test("a known-good pin is set by hand, read back, guards delete and is removed", async () => {
    const up = await uploadRaw(d.url, esp32);
    const pin = await api(d.url, "PUT", `/api/v1/firmware/${up.body.id}/known-good`, { family: "esp32" });
    assert.equal(pin.status, 200);
    assert.equal(pin.body.family, "esp32");
    assert.equal(pin.body.pinned_by, "manual");
    const read = await api(d.url, "GET", "/api/v1/firmware/known-good/esp32");
    assert.equal(read.status, 200);
    assert.equal(read.body.firmware_id, up.body.id);
    assert.equal(read.body.firmware.chip, "esp32");
    const list = await api(d.url, "GET", "/api/v1/firmware/known-good");
    assert.ok(list.body.known_good.some((p) => p.family === "esp32" && p.firmware_id === up.body.id));
    assert.equal((await api(d.url, "DELETE", `/api/v1/firmware/${up.body.id}`)).status, 409);
    assert.equal((await api(d.url, "DELETE", "/api/v1/firmware/known-good/esp32")).status, 204);
    assert.equal((await api(d.url, "GET", "/api/v1/firmware/known-good/esp32")).status, 404);
  });

  test("pinning firmware for another family than its chip is 422; no body pins its own family", async () => {
    const up = await uploadRaw(d.url, esp8266);
    const wrong = await api(d.url, "PUT", `/api/v1/firmware/${up.body.id}/known-good`, { family: "esp32" });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.error.code, "family_mismatch");
    const own = await api(d.url, "PUT", `/api/v1/firmware/${up.body.id}/known-good`);
    assert.equal(own.status, 200);
    assert.equal(own.body.family, "esp8266");
    await api(d.url, "DELETE", "/api/v1/firmware/known-good/esp8266");
  });
});

describe("editing a library entry: PATCH /firmware/{id}", () => {
  const SECRETS = { view: "viewer-secret-fw-31c8", ops: "operator-secret-fw-77a2", boss: "admin-secret-fw-0b5e" };
  const as = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });
  let d, img, id;
  before(async () => {
    img = mkimage("esp8266", "1.24.1");
    const conf = path.join(work, "auth.conf");
    writeFileSync(conf, Object.entries({ view: "viewer", ops: "operator", boss: "admin" })
      .map(([n, role]) => `[token ${n}]\nrole = ${role}\nsecret = ${SECRETS[n]}\n`).join("\n"));
    d = await startCorrald({ args: ["--config", conf] });
    const up = await api(d.url, "POST", "/api/v1/firmware?filename=ESP8266_GENERIC-20240602-v1.24.1.bin",
      new Uint8Array(img), { ...octet, ...as("ops") });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    id = up.body.id;
  });
  after(async () => { await d?.stop(); });
  const patch = (body, who = "ops", fid = id) => api(d.url, "PATCH", `/api/v1/firmware/${fid}`, body, as(who));

  test("the catalogue fields, name, notes and labels change; the others stay; GET shows the same", async () => {
    const r = await patch({ title: "MicroPython 1.24.1 for ESP8266", version: "v1.24.1-lab", release_notes: "Lab build.",
      notes: "from the lab", labels: ["lab", "old"] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.title, "MicroPython 1.24.1 for ESP8266");
    assert.equal(r.body.version, "1.24.1-lab", "a leading v is dropped");
    assert.equal(r.body.release_notes, "Lab build.");
    assert.equal(r.body.notes, "from the lab");
    assert.deepEqual(r.body.labels, ["lab", "old"]);
    assert.equal(r.body.family, "esp8266", "untouched");
    assert.equal(r.body.filename, "ESP8266_GENERIC-20240602-v1.24.1.bin", "untouched");
    assert.equal(r.body.download_url, `/api/v1/firmware/${id}?download=1`);
    const g = await api(d.url, "GET", `/api/v1/firmware/${id}`, undefined, as("view"));
    assert.deepEqual(g.body, r.body);
    const only = await patch({ name: "generic 1.24" });
    assert.equal(only.body.name, "generic 1.24");
    assert.equal(only.body.title, "MicroPython 1.24.1 for ESP8266", "a field not sent stays");
  });

  test("known_good pins it for its family and unpins it; a family change under a pin is 409", async () => {
    const pin = await patch({ known_good: true });
    assert.equal(pin.status, 200, JSON.stringify(pin.body));
    assert.deepEqual(pin.body.known_good_for, ["esp8266"]);
    assert.equal((await api(d.url, "GET", "/api/v1/firmware/known-good/esp8266", undefined, as("view"))).body.firmware_id, id);
    const moved = await patch({ family: "esp8285" });
    assert.equal(moved.status, 409);
    assert.equal(moved.body.error.code, "firmware_pinned");
    assert.equal(moved.body.error.details.pinned_family, "esp8266");
    assert.equal((await api(d.url, "GET", `/api/v1/firmware/${id}`, undefined, as("view"))).body.family, "esp8266",
      "nothing changed");
    const both = await patch({ family: "esp8285", known_good: false });
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.equal(both.body.family, "esp8285");
    assert.deepEqual(both.body.known_good_for, []);
    assert.equal((await api(d.url, "GET", "/api/v1/firmware/known-good/esp8266", undefined, as("view"))).status, 404);
    const repin = await patch({ family: "esp8266", known_good: true });
    assert.deepEqual(repin.body.known_good_for, ["esp8266"]);
    assert.equal((await patch({ known_good: false })).body.known_good_for.length, 0);
  });

  test("bad fields are 400 naming the field, and nothing changes", async () => {
    const before = (await api(d.url, "GET", `/api/v1/firmware/${id}`, undefined, as("view"))).body;
    const cases = [
      [{ title: 7 }, "invalid_field", "title"],
      [{ title: "x".repeat(201) }, "invalid_field", "title"],
      [{ version: "1".repeat(41) }, "invalid_field", "version"],
      [{ release_notes: "n".repeat(8001) }, "invalid_field", "release_notes"],
      [{ name: "" }, "invalid_field", "name"],
      [{ notes: null }, "invalid_field", "notes"],
      [{ family: "ESP 8266" }, "invalid_field", "family"],
      [{ labels: "a,b" }, "invalid_field", "labels"],
      [{ labels: ["ok", ""] }, "invalid_field", "labels"],
      [{ known_good: "yes" }, "invalid_field", "known_good"],
      [{ title: "fine", chip: "esp32" }, "unknown_field", "chip"],
      [{ title: "fine", id: "0".repeat(64) }, "unknown_field", "id"],
    ];
    for (const [body, code, field] of cases) {
      const r = await patch(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, code, JSON.stringify(body));
      assert.equal(r.body.error.details.field, field, JSON.stringify(body));
      assert.match(r.body.error.message, new RegExp(`'${field}'`));
    }
    assert.equal((await patch("[1]")).body.error.code, "invalid_body");
    assert.equal((await patch("{nope")).body.error.code, "malformed_json");
    assert.equal((await api(d.url, "PATCH", `/api/v1/firmware/${id}`, undefined, as("ops"))).body.error.code, "missing_body");
    assert.deepEqual((await api(d.url, "GET", `/api/v1/firmware/${id}`, undefined, as("view"))).body, before);
  });

  test("an unknown id is 404, a malformed one 400", async () => {
    const r = await patch({ title: "x" }, "ops", "0".repeat(64));
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, "firmware_not_found");
    const bad = await patch({ title: "x" }, "ops", "nothex");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid_firmware_id");
  });

  test("a viewer may not edit (403), an operator may, and the audit log has both", async () => {
    const v = await patch({ title: "by a viewer" }, "view");
    assert.equal(v.status, 403);
    assert.notEqual((await api(d.url, "GET", `/api/v1/firmware/${id}`, undefined, as("view"))).body.title, "by a viewer");
    const o = await patch({ title: "by an operator" }, "ops");
    assert.equal(o.status, 200);
    const { entries } = (await api(d.url, "GET", "/api/v1/audit?limit=50", undefined, as("boss"))).body;
    const mine = entries.filter((e) => e.path === `/api/v1/firmware/${id}` && e.method === "PATCH");
    assert.deepEqual(mine.slice(0, 2).map((e) => `${e.token} ${e.status}`), ["ops 200", "view 403"]);
  });
});

describe("flash jobs by firmware id", () => {
  let esp32board, d;
  before(async () => {
    esp32board = await E.board("esp32", ["--no-pacing"]);
    d = await E.corraldWith({ esp32: esp32board });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/esp32")).body.state === "online", 10000,
      "board online");
  });
  after(async () => {
    await d?.stop();
    await esp32board?.stop();
  });

  test("{kind: flash, firmware: id} writes the library file at the chip's boot offset", async () => {
    const img = mkimage("esp32", "1.25.0");
    const up = await uploadRaw(d.url, img, "?filename=ESP32_GENERIC-20250415-v1.25.0.bin");
    assert.equal(up.status, 201);
    const q = await api(d.url, "POST", "/api/v1/boards/esp32/jobs", { kind: "flash", firmware: up.body.id });
    assert.equal(q.status, 202);
    const job = await waitJob(d.url, q.body.id, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(await E.flashSha(esp32board, 0x1000, img.length), E.sha256(img));
  });
});
