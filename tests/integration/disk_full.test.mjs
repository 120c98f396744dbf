// A full disk can be repaired through the API (issue 14, finding 5): deleting firmware and
// unpinning work on a full disk, every write path answers 507 disk_full (never 500), audit rows
// that cannot be written are counted (metric and health), and the library has a quota.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { api, silentServer, startCorrald, waitFor } from "./lib.mjs";

/** A 2 MiB tmpfs as a state dir (make check runs as root; a failed mount is a named failure). */
function smallDisk() {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-diskfull-"));
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]);
  if (m.status === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  assert.fail(`precondition: a 2 MiB tmpfs must be mountable (uid ${process.getuid()}): ${String(m.stderr || m.error).trim()}`);
}
function dropDisk(dir) {
  spawnSync("umount", [dir]);
  rmSync(dir, { recursive: true, force: true });
}
/** Fill the rest of the disk; returns the filler's path. */
function fillDisk(dir) {
  const p = path.join(dir, "filler");
  try { writeFileSync(p, Buffer.alloc(4 * 1024 * 1024)); } catch (e) { assert.equal(e.code, "ENOSPC"); }
  return p;
}
async function stopClean(d) {
  const { code, sig } = await d.stop();
  const err = d.stderr();
  assert.equal(code, 0, `corrald exit ${code ?? sig}; stderr tail:\n${err.slice(-3000)}`);
  assert.doesNotMatch(err, /ERROR: AddressSanitizer|LeakSanitizer|runtime error:/, err.slice(-6000));
}
const upload = (d, data, name) => api(d.url, "POST", `/api/v1/firmware?filename=${name}`, data,
  { "content-type": "application/octet-stream" });
const metric = (text, name) => Number((text.match(new RegExp(`^${name} (\\d+)$`, "m")) || [])[1]);

test("on a full disk: firmware delete and unpin work, PATCH and lease writes say 507 disk_full, audit losses are counted", async () => {
  const stateDir = smallDisk();
  const quiet = await silentServer();
  let d;
  try {
    d = await startCorrald({ stateDir, args: ["--port", `quiet=socket://127.0.0.1:${quiet.port}`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/quiet")).body.state === "online", 10000, "quiet online");
    const pinned = await upload(d, randomBytes(64 * 1024), "pinned.bin");
    assert.equal(pinned.status, 201, JSON.stringify(pinned.body));
    const spare = await upload(d, randomBytes(256 * 1024), "spare.bin");
    assert.equal(spare.status, 201, JSON.stringify(spare.body));
    const pin = await api(d.url, "PUT", `/api/v1/firmware/${pinned.body.id}/known-good`, { family: "esp32" });
    assert.equal(pin.status, 200, JSON.stringify(pin.body));

    const filler = fillDisk(stateDir);
    try {
      const patch = await api(d.url, "PATCH", "/api/v1/boards/quiet", { notes: "x".repeat(3000) });
      assert.equal(patch.status, 507, JSON.stringify(patch.body));
      assert.equal(patch.body.error.code, "disk_full");
      const lease = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "quiet" }, ttl_s: 60, owner: "disk-test" });
      assert.equal(lease.status, 507, JSON.stringify(lease.body));
      assert.equal(lease.body.error.code, "disk_full");

      // The repair: delete firmware that is no longer needed, on the full disk.
      const del = await api(d.url, "DELETE", `/api/v1/firmware/${spare.body.id}`);
      assert.equal(del.status, 204, JSON.stringify(del.body));
      assert.equal((await api(d.url, "GET", `/api/v1/firmware/${spare.body.id}`)).status, 404);
      assert.ok(!existsSync(path.join(stateDir, "firmware", spare.body.id)), "the file is gone");
      // Fill what the delete freed, then unpin: also on a full disk.
      fillDisk(path.join(stateDir, "firmware"));
      const unpin = await api(d.url, "DELETE", "/api/v1/firmware/known-good/esp32");
      assert.equal(unpin.status, 204, JSON.stringify(unpin.body));
      assert.equal((await api(d.url, "GET", "/api/v1/firmware/known-good/esp32")).status, 404);

      // Audit rows lost to the full disk are counted, not dropped silently.
      const h = await api(d.url, "GET", "/api/v1/health");
      assert.equal(h.status, 200);
      assert.ok(h.body.audit.failures >= 1, JSON.stringify(h.body));
      const m = await api(d.url, "GET", "/metrics");
      assert.ok(metric(m.body, "corral_audit_failures_total") >= 1, m.body);
      assert.match(d.stderr(), /audit: cannot record PATCH \/api\/v1\/boards\/quiet/);
    } finally {
      rmSync(filler, { force: true });
      rmSync(path.join(stateDir, "firmware", "filler"), { force: true });
    }
    const again = await api(d.url, "PATCH", "/api/v1/boards/quiet", { notes: "space again" });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    await stopClean(d);
  } finally {
    await d?.stop();
    quiet.close();
    dropDisk(stateDir);
  }
});

test("max_library: an upload over the library quota is 507 library_full; the same image again is not", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-quota-"));
  const cfg = path.join(dir, "corrald.conf");
  writeFileSync(cfg, "max_library = 100K\n");
  const d = await startCorrald({ args: ["--config", cfg] });
  try {
    const a = randomBytes(60 * 1024);
    const first = await upload(d, a, "a.bin");
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const second = await upload(d, randomBytes(60 * 1024), "b.bin");
    assert.equal(second.status, 507, JSON.stringify(second.body));
    assert.equal(second.body.error.code, "library_full");
    assert.equal(second.body.error.details.limit_bytes, 100 * 1024);
    assert.equal(second.body.error.details.used_bytes, 60 * 1024);
    assert.match(second.body.error.message, /max_library/);
    assert.deepEqual(readdirSync(path.join(d.stateDir, "firmware")), [first.body.id], "nothing of the refused upload is kept");
    const same = await upload(d, a, "a-again.bin");
    assert.equal(same.status, 200, JSON.stringify(same.body));
    assert.equal((await api(d.url, "DELETE", `/api/v1/firmware/${first.body.id}`)).status, 204);
    assert.equal((await upload(d, randomBytes(60 * 1024), "c.bin")).status, 201, "room again after a delete");
    await stopClean(d);
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
