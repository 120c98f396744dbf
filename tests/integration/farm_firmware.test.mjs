// Firmware once, flash anywhere: two corrald on one private PostgreSQL (pg.mjs), each with its own
// state dir and virtual ESP board. An image uploaded to host A is copied into the store
// (firmware_blobs); host B, which never saw the upload, flashes it: it fetches the bytes by id,
// checks their SHA-256 and caches them in its own library, and the virtual flash reads back what
// a correct flasher leaves. A store copy that is corrupt or missing gives a clear 422, never a
// crash; uploading the same bytes again repairs it, and so does restarting the host that has the
// file (it copies what the store lacks at start); deleting the image removes its bytes from the
// store; the library quota is farm-wide; a database that refuses the bytes fails the upload whole. `corral boards` shows a HOST column once the boards come from more than one host.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startFarm } from "./farm_lib.mjs";
import { api, corral, waitFor, waitJob } from "./lib.mjs";
import * as E from "./esp_lib.mjs";

describe("firmware uploaded to one host of a farm is flashed on another", () => {
  let farm, pg, hosts, boards;
  const sql = (q) => pg.psql("fw", q).trim();
  let kept; // uploaded on host-b, deleted through host-a
  const FAMILY = { a: "esp8266", b: "esp32" };
  /** Start (or start again, on the same state dir) a host with its board; extra: conf lines. */
  const startHost = (name, extra = "") => farm.startHost(name, { conf: extra });

  before(async () => {
    // each host keeps its state dir (its firmware library) across restarts
    farm = await startFarm({ "host-a": ["a"], "host-b": ["b"] }, { db: "fw", stateDirs: true,
      board: (id) => E.board(FAMILY[id], ["--no-pacing"]), family: (id) => FAMILY[id] });
    ({ pg, hosts, boards } = farm);
  });
  after(async () => { await farm?.stop(); });

  const libFile = (host, id) => path.join(hosts[host].stateDir, "firmware", id);

  test("an image uploaded on host-a is in the store, and host-b flashes it byte for byte", async () => {
    const parts = E.multipart("esp32", { appSize: "300k" }); // the app spans two 256 KiB chunks
    const ids = [];
    for (const p of parts) ids.push(await E.uploadFirmware(hosts["host-a"].url, p.data, path.basename(p.path)));
    for (const [i, id] of ids.entries()) {
      assert.ok(existsSync(libFile("host-a", id)), "the uploading host keeps its file");
      assert.ok(!existsSync(libFile("host-b", id)), "host-b has not seen the bytes yet");
      const [chunks, bytes, sha] = sql(`SELECT count(*), sum(length(data)), encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex')`
        + ` FROM firmware_blobs WHERE firmware_id = '${id}'`).split("|");
      assert.equal(Number(bytes), parts[i].data.length);
      assert.equal(Number(chunks), Math.ceil(parts[i].data.length / (256 * 1024)));
      assert.equal(sha, id, "the store's copy hashes to the id");
    }
    const row = await api(hosts["host-b"].url, "GET", `/api/v1/firmware/${ids[2]}`);
    assert.equal(row.status, 200, "the row is farm-wide");

    const q = await api(hosts["host-b"].url, "POST", "/api/v1/boards/b/jobs",
      { kind: "flash", flash_mode: "dio", parts: parts.map((p, i) => ({ offset: p.offset, firmware: ids[i] })) });
    assert.equal(q.status, 202, JSON.stringify(q.body));
    const job = await waitJob(hosts["host-b"].url, q.body.id, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    const len = E.extent(parts);
    assert.equal(await E.flashSha(boards.b, 0, len), E.sha256(E.expectedFlash("esp32", parts, "dio", len)),
      "the virtual flash holds what host-a was given");
    for (const [i, id] of ids.entries())
      assert.ok(readFileSync(libFile("host-b", id)).equals(parts[i].data), "host-b cached the verified bytes");
    const dl = await fetch(`${hosts["host-b"].url}/api/v1/firmware/${ids[2]}?download=1`);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(parts[2].data), "host-b serves the same bytes");
  });

  test("a corrupt store copy is refused with a clear 422 and nothing is cached; the host keeps serving", async () => {
    const img = E.mkimage("esp32", ["--flash-mode", "dio", "--size", "20k"]);
    const id = await E.uploadFirmware(hosts["host-a"].url, img.data, "corrupt-me.bin");
    sql(`UPDATE firmware_blobs SET data = set_byte(data, 100, get_byte(data, 100) # 255) WHERE firmware_id = '${id}' AND seq = 0`);
    const r = await api(hosts["host-b"].url, "POST", "/api/v1/boards/b/jobs", { kind: "flash", firmware: id });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.error.message, /corrupt copy in the store.*SHA-256.*upload it again/);
    assert.ok(!existsSync(libFile("host-b", id)), "no file from bad bytes");
    assert.equal((await api(hosts["host-b"].url, "GET", "/api/v1/health")).status, 200);

    // the same bytes uploaded again (to either host) repair the copy, and the flash goes through
    const again = await api(hosts["host-a"].url, "POST", "/api/v1/firmware?filename=corrupt-me.bin", new Uint8Array(img.data),
      { "content-type": "application/octet-stream" });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const q = await api(hosts["host-b"].url, "POST", "/api/v1/boards/b/jobs", { kind: "flash", firmware: id });
    assert.equal(q.status, 202, JSON.stringify(q.body));
    const job = await waitJob(hosts["host-b"].url, q.body.id, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.ok(readFileSync(libFile("host-b", id)).equals(img.data));
  });

  test("a missing store copy is a clear 422 naming the cure; deleting an image removes its bytes from the store", async () => {
    const img = E.mkimage("esp32", ["--flash-mode", "dio", "--size", "12k"]);
    const id = await E.uploadFirmware(hosts["host-a"].url, img.data, "lost.bin");
    sql(`DELETE FROM firmware_blobs WHERE firmware_id = '${id}'`);
    const r = await api(hosts["host-b"].url, "POST", "/api/v1/boards/b/jobs", { kind: "flash", firmware: id });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.error.message, /no bytes on this host and none in the store: upload it again/);
    // host-a still has its file: started again, it copies what the store lacks, and host-b can flash it
    assert.ok(existsSync(libFile("host-a", id)));
    await hosts["host-a"].stop();
    await startHost("host-a");
    assert.match(hosts["host-a"].stderr(), /copied 1 firmware image\(s\) into the shared store/);
    assert.equal(sql(`SELECT encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex') FROM firmware_blobs WHERE firmware_id = '${id}'`), id);
    const q = await api(hosts["host-b"].url, "POST", "/api/v1/boards/b/jobs", { kind: "flash", firmware: id });
    assert.equal(q.status, 202, JSON.stringify(q.body));
    const job = await waitJob(hosts["host-b"].url, q.body.id, 120000);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));

    kept = await E.uploadFirmware(hosts["host-b"].url, E.mkimage("esp32", ["--size", "8k"]).data, "kept.bin");
    assert.notEqual(sql(`SELECT count(*) FROM firmware_blobs WHERE firmware_id = '${kept}'`), "0");
    const del = await api(hosts["host-a"].url, "DELETE", `/api/v1/firmware/${kept}`);
    assert.equal(del.status, 204, JSON.stringify(del.body));
    assert.ok(existsSync(libFile("host-b", kept)), "host-b's copy stays until host-b starts again");
    assert.equal(sql(`SELECT count(*) FROM firmware_blobs WHERE firmware_id = '${kept}'`), "0", "the bytes went with the row");
    assert.equal(sql(`SELECT count(*) FROM firmware_blobs b WHERE NOT EXISTS (SELECT 1 FROM firmware f WHERE f.id = b.firmware_id)`), "0");
  });

  test("the library quota counts every host's uploads; a refused upload leaves nothing in the store; a restart drops copies of deleted images", async () => {
    const used = Number(sql("SELECT sum(size) FROM firmware"));
    assert.ok(used > 300 * 1024, "host-a's uploads are in the farm's library");
    await hosts["host-b"].stop();
    await startHost("host-b", `max_library = ${used + 1000}\n`);
    const img = E.mkimage("esp32", ["--size", "4k"]);
    const r = await api(hosts["host-b"].url, "POST", "/api/v1/firmware?filename=over.bin", new Uint8Array(img.data),
      { "content-type": "application/octet-stream" });
    assert.equal(r.status, 507, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "library_full");
    assert.equal(r.body.error.details.used_bytes, used, "the quota is farm-wide");
    assert.equal(sql(`SELECT count(*) FROM firmware_blobs WHERE firmware_id = '${E.sha256(img.data)}'`), "0");
    assert.ok(!existsSync(libFile("host-b", E.sha256(img.data))));
    // started again, host-b dropped its copy of the image deleted through host-a
    assert.ok(!existsSync(libFile("host-b", kept)));
    assert.match(hosts["host-b"].stderr(), /removed 1 cached image\(s\) deleted from the library through other hosts/);
    // host-b gets its default quota back: the tests below upload more than this one allowed
    await hosts["host-b"].stop();
    await startHost("host-b");
  });

  test("the same image uploaded to both hosts at once: both uploads succeed, one intact copy in the store", async () => {
    const data = E.randomFile(700 * 1024).data; // three chunks
    const id = E.sha256(data);
    const up = (h) => api(hosts[h].url, "POST", "/api/v1/firmware?filename=twice.bin", new Uint8Array(data),
      { "content-type": "application/octet-stream" });
    const replies = await Promise.all([up("host-a"), up("host-b"), up("host-a"), up("host-b")]);
    for (const r of replies) assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
    assert.equal(replies.filter((r) => r.status === 201).length, 1, "one upload created the row");
    assert.equal(sql(`SELECT count(*) || ' ' || sum(length(data)) || ' ' || encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex')`
      + ` FROM firmware_blobs WHERE firmware_id = '${id}'`), `3 ${data.length} ${id}`);
  });

  test("a database that refuses the bytes (disk full): the upload fails as a whole, no row and no file are left", async () => {
    sql("CREATE FUNCTION refuse_blob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      + " RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;"
      + " CREATE TRIGGER refuse_blob BEFORE INSERT ON firmware_blobs FOR EACH ROW EXECUTE FUNCTION refuse_blob()");
    try {
      const img = E.mkimage("esp32", ["--size", "6k"]);
      const id = E.sha256(img.data);
      const r = await api(hosts["host-a"].url, "POST", "/api/v1/firmware?filename=refused.bin", new Uint8Array(img.data),
        { "content-type": "application/octet-stream" });
      assert.equal(r.status, 507, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "disk_full");
      assert.equal(sql(`SELECT count(*) FROM firmware WHERE id = '${id}'`), "0", "no row another host could not use");
      assert.ok(!existsSync(libFile("host-a", id)));
      assert.equal((await api(hosts["host-b"].url, "GET", `/api/v1/firmware/${id}`)).status, 404);
    } finally {
      sql("DROP TRIGGER refuse_blob ON firmware_blobs; DROP FUNCTION refuse_blob()");
    }
  });

  test("`corral boards` against either host shows each board's host", async () => {
    for (const h of Object.values(hosts)) {
      // the flash jobs above ended; each host publishes its boards' live state on its heartbeat
      await waitFor(async () => (await api(h.url, "GET", "/api/v1/boards")).body.boards.every((b) => b.state === "online"),
        30000, `both boards online again as ${h.url} sees them`);
      const r = await corral(["boards"], h.url);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.match(lines[0], /^ID\s+HOST\s+STATE\s+FAMILY/);
      const row = (id) => lines.find((l) => l.startsWith(id + " "))?.split(/\s+/);
      assert.deepEqual(row("a").slice(0, 3), ["a", "host-a", "online"]);
      assert.deepEqual(row("b").slice(0, 3), ["b", "host-b", "online"]);
    }
  });
});
