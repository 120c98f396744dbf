// Issue 14, finding 1, written as the attack: an operator (or an admin outside firmware_dirs) asks a
// flash job to read a file on corrald's host (the config holding an admin's plain secret, the state
// directory), by image_path, parts[].path, a ".." or a symlink leading out, or points stub_dir at a
// directory of its choosing. Every attempt is 403 path_not_allowed, queues nothing and answers the
// same whether the file exists. An admin inside firmware_dirs flashes the file, and a file swapped
// for a symlink after queueing is refused when the job reads it.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { api, silentServer, startCorrald, waitFor } from "./lib.mjs";
import * as E from "./esp_lib.mjs";

const SECRETS = { ops: "operator-secret-1b2c3d4e", boss: "admin-secret-5f6a7b8c" };
const bearer = (who) => ({ authorization: `Bearer ${SECRETS[who]}` });

let d, esp, mute, root, fw, conf, image, blob, fwId;

before(async () => {
  root = E.tmp("corral-priv-");
  fw = path.join(root, "fw");
  mkdirSync(fw);
  mkdirSync(path.join(root, "out"));
  writeFileSync(path.join(root, "out", "secret.conf"), "secret = not-for-you\n");
  mkdirSync(path.join(root, "fw-evil"));
  writeFileSync(path.join(root, "fw-evil", "x.bin"), "evil");
  // The prize: corrald's own config, with the admin's secret in plain text.
  conf = path.join(root, "corrald.conf");
  writeFileSync(conf, `firmware_dirs = ${fw}\n\n[token ops]\nrole = operator\nsecret = ${SECRETS.ops}\n\n` +
    `[token boss]\nrole = admin\nsecret = ${SECRETS.boss}\n`);
  image = E.mkimage("esp8266", ["--flash-mode", "dio"], fw);
  blob = { path: path.join(fw, "blob.bin"), data: Buffer.alloc(4096, 0xa5) };
  writeFileSync(blob.path, blob.data);
  symlinkSync(conf, path.join(fw, "abs.bin"));                 // absolute link out
  symlinkSync("../corrald.conf", path.join(fw, "rel.bin"));    // relative link out
  symlinkSync("../out", path.join(fw, "dir"));                 // a directory link out
  esp = await E.board("esp8266", ["--no-pacing"]);
  mute = await silentServer();
  d = await startCorrald({ args: ["--config", conf, "--port", `esp=${esp.endpoint},family=esp8266`,
    "--port", `mute=socket://127.0.0.1:${mute.port},family=esp8266`] });
  fwId = await E.uploadFirmware(d.url, image.data, "good.bin", bearer("ops"));
});

after(async () => {
  const r = await d?.stop();
  assert.equal(r?.code, 0, d?.stderr().slice(-3000));
  assert.doesNotMatch(d.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
  await esp?.stop();
  mute?.close();
  rmSync(root, { recursive: true, force: true });
});

const submit = (who, body, board = "esp") => api(d.url, "POST", `/api/v1/boards/${board}/jobs`, body, bearer(who));
const jobCount = async () => (await api(d.url, "GET", "/api/v1/jobs?limit=1000", undefined, bearer("boss"))).body.jobs.length;

/** The attempt is 403 path_not_allowed, says "not allowed" and nothing about existence. */
function refused(r, what) {
  assert.equal(r.status, 403, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, "path_not_allowed", what);
  assert.match(r.body.error.message, /not allowed/, what);
  assert.doesNotMatch(r.body.error.message, /exist|no such|not a (readable|regular)|empty|too large|cannot be read/i, what);
  return r.body.error.message;
}

/** Two refusals, for a path that exists and one that does not, differ only in the path. */
function sameAnswer(m1, p1, m2, p2) {
  assert.equal(m1.split(p1).join("<path>"), m2.split(p2).join("<path>"));
}

describe("an operator", () => {
  test("cannot read any host file: image_path, parts[].path, inside or outside firmware_dirs", async () => {
    const n0 = await jobCount();
    const stateFile = path.join(d.stateDir, readdirSync(d.stateDir).find((f) => f.endsWith(".db")) ?? "");
    const attempts = [
      ["config by image_path", { kind: "flash", image_path: conf, offset: 0 }],
      ["state dir by image_path", { kind: "flash", image_path: stateFile, offset: 0 }],
      ["config by parts[].path", { kind: "flash", parts: [{ offset: 0, path: conf }] }],
      ["a file inside firmware_dirs", { kind: "flash", image_path: image.path, offset: 0 }],
      ["a part inside firmware_dirs", { kind: "flash", parts: [{ offset: 0, firmware: fwId }, { offset: 0x80000, path: blob.path }] }],
    ];
    for (const [what, body] of attempts) refused(await submit("ops", body), what);
    const there = refused(await submit("ops", { kind: "flash", image_path: conf }), "existing");
    const missing = "/etc/corral/no-such-file.conf";
    sameAnswer(there, conf, refused(await submit("ops", { kind: "flash", image_path: missing }), "missing"), missing);
    assert.equal(await jobCount(), n0, "nothing was queued");
  });

  test("cannot point the flasher stub at a directory (stub_dir is config only)", async () => {
    for (const dir of ["/etc/corral", fw]) {
      refused(await submit("ops", { kind: "flash", firmware: fwId, stub_dir: dir }), `flash stub_dir ${dir}`);
      refused(await submit("ops", { kind: "erase", stub_dir: dir }), `erase stub_dir ${dir}`);
    }
  });

  test("still flashes from the library (upload, then id)", async () => {
    const r = await submit("ops", { kind: "flash", firmware: fwId, boot_check: false });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await waitForJob(r.body.id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(await E.flashSha(esp, 0, image.data.length), E.sha256(image.data));
  });
});

describe("an admin", () => {
  test("outside firmware_dirs, or escaping them by '..' or a symlink, is refused the same way", async () => {
    const n0 = await jobCount();
    const attempts = [
      ["config by image_path", conf],
      ["'..' out of the dir", `${fw}/../corrald.conf`],
      ["'..' that comes back in", `${fw}/../fw/blob.bin`],
      ["absolute symlink out", path.join(fw, "abs.bin")],
      ["relative symlink out", path.join(fw, "rel.bin")],
      ["directory symlink out", path.join(fw, "dir", "secret.conf")],
      ["a sibling sharing the prefix", path.join(root, "fw-evil", "x.bin")],
      ["the firmware dir itself", fw],
      ["/proc magic link", "/proc/self/root/etc/passwd"],
    ];
    for (const [what, p] of attempts) {
      refused(await submit("boss", { kind: "flash", image_path: p, offset: 0 }), `image_path: ${what}`);
      refused(await submit("boss", { kind: "flash", parts: [{ offset: 0, path: p }] }), `parts: ${what}`);
    }
    const there = refused(await submit("boss", { kind: "flash", image_path: `${fw}/../corrald.conf` }), "existing");
    const missing = `${fw}/../nothing-here.conf`;
    sameAnswer(there, `${fw}/../corrald.conf`,
      refused(await submit("boss", { kind: "flash", image_path: missing }), "missing"), missing);
    refused(await submit("boss", { kind: "flash", firmware: fwId, stub_dir: "/etc/corral" }), "admin stub_dir");
    assert.equal(await jobCount(), n0, "nothing was queued");
  });

  test("inside firmware_dirs flashes the files: the board holds exactly their bytes", async () => {
    let r = await submit("boss", { kind: "flash", image_path: image.path, offset: 0, boot_check: false });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    let job = await waitForJob(r.body.id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(job.result.parts[0].length, image.data.length);
    r = await submit("boss", { kind: "flash", parts: [{ offset: 0, path: image.path }, { offset: 0x80000, path: blob.path }],
      boot_check: false, skip_unchanged: false });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    job = await waitForJob(r.body.id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.equal(await E.flashSha(esp, 0, image.data.length), E.sha256(image.data));
    assert.equal(await E.flashSha(esp, 0x80000, blob.data.length), E.sha256(blob.data));
    // Inside, but missing: an admin may be told so (422), nothing is queued.
    r = await submit("boss", { kind: "flash", image_path: path.join(fw, "missing.bin") });
    assert.equal(r.status, 422, JSON.stringify(r.body));
  });

  test("a file swapped for a symlink after queueing is refused when the job reads it", async () => {
    const swap = path.join(fw, "swap.bin");
    writeFileSync(swap, image.data);
    // The board says nothing: the first job keeps trying to connect while the second waits.
    const first = await submit("boss", { kind: "flash", firmware: fwId }, "mute");
    assert.equal(first.status, 202, JSON.stringify(first.body));
    await waitFor(async () => (await jobOf(first.body.id)).state === "running", 10000, "the first job to run");
    const second = await submit("boss", { kind: "flash", image_path: swap, offset: 0 }, "mute");
    assert.equal(second.status, 202, JSON.stringify(second.body));
    const tmpLink = `${swap}.link`;
    symlinkSync(conf, tmpLink);
    renameSync(tmpLink, swap);
    assert.equal((await jobOf(second.body.id)).state, "queued", "the swap happened before the job read the file");
    await api(d.url, "POST", `/api/v1/jobs/${first.body.id}/cancel`, undefined, bearer("boss"));
    const job = await waitForJob(second.body.id);
    assert.equal(job.state, "failed");
    assert.equal(job.error.code, "path_not_allowed", JSON.stringify(job.error));
    assert.match(job.error.message, /not allowed/);
  });
});

const jobOf = async (id) => (await api(d.url, "GET", `/api/v1/jobs/${id}`, undefined, bearer("boss"))).body;
const waitForJob = (id, ms = 60000) => waitFor(async () => {
  const j = await jobOf(id);
  return ["queued", "running"].includes(j.state) ? null : j;
}, ms, `job ${id}`);

describe("loopback without tokens (one user, who is admin)", () => {
  test("host files stay confined: nothing without firmware_dirs, stub_dir refused", async () => {
    const q = await silentServer();
    const open = await startCorrald({ args: ["--port", `q=socket://127.0.0.1:${q.port},family=esp8266`] });
    try {
      for (const body of [{ kind: "flash", image_path: conf }, { kind: "flash", parts: [{ offset: 0, path: image.path }] },
        { kind: "erase", stub_dir: fw }]) {
        const r = await api(open.url, "POST", "/api/v1/boards/q/jobs", body);
        refused(r, JSON.stringify(body));
      }
    } finally {
      await open.stop();
      q.close();
    }
  });
});
