// MicroPython jobs end to end through corrald against a real firmware: Debian's micro:bit
// MicroPython 1.9.2 under qemu-system-arm -M microbit, reached over socket:// (no reset lines, no
// raw-paste, no binascii/hashlib, a flat ~15 KB filesystem, 8 KB of heap). One QEMU per file;
// if it cannot start, every test here fails (the before hook throws): no silent skip.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test as nodeTest } from "node:test";
import { api, runJob, startCorrald, startVboard, waitFor } from "./lib.mjs";
import { mpCancelTest, mpRunTests } from "./mp_lib.mjs";

const MB = "microbit";
const NAME = "corral.bin";

// The largest file named NAME the empty filesystem takes, measured on the board: write one byte
// at a time until the filesystem refuses (it then deletes the file itself).
const MEASURE_PY = `import os
f=open('${NAME}','wb')
n=0
try:
 while f.write(b'\\x5a')==1:n+=1
except OSError:pass
try:f.close()
except OSError:pass
try:os.remove('${NAME}')
except OSError:pass
print(n)
`;

describe("MicroPython jobs on the QEMU micro:bit", () => {
  let d, vb, startError;
  // A throwing before hook only marks the tests "cancelled"; keep the cause and fail each test.
  before(async () => {
    try {
      vb = await startVboard("qemu-microbit");
      d = await startCorrald({ args: ["--port", `${MB}=${vb.endpoint},family=micropython`] });
      await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${MB}`)).body.state === "online", 10000, "board online");
    } catch (e) {
      startError = new Error(`the QEMU micro:bit did not start: ${e.message}`);
    }
  });
  const test = (name, fn) => nodeTest(name, async (t) => {
    if (startError) throw startError;
    return fn(t);
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
  });

  const run = (body, ms) => runJob(d.url, MB, { kind: "run", ...body }, ms);

  // First, while the filesystem is fresh: the micro:bit reclaims deleted chunks lazily, and many
  // writes and deletes leave less room for a while.
  describe("the largest file the filesystem allows", () => {
    let limit, blob, sha;
    before(async () => {
      if (startError) return;
      const ls = await runJob(d.url, MB, { kind: "fs_ls" });
      assert.deepEqual(ls.result.entries, [], "an empty filesystem to measure");
      const m = await run({ script: MEASURE_PY, timeout_s: 60 }, 90000);
      assert.equal(m.result?.exit_status, 0, JSON.stringify(m.result ?? m.error));
      limit = Number(m.result.stdout.trim());
      // A file that fills the filesystem to the last byte sometimes loses its last few bytes
      // without an error (firmware 1.9.2; seen: 26 of 15107 bytes, about 1 run in 8). corral
      // catches that (no_space), but the round trip below must not depend on luck: it stays one
      // filesystem chunk (128 bytes) short of the measured limit.
      blob = crypto.randomBytes(limit - 128);
      sha = crypto.createHash("sha256").update(blob).digest("hex");
    });

    test("the empty filesystem takes a file of about 15 KB (measured on the board)", (t) => {
      t.diagnostic(`largest file named ${NAME} on an empty filesystem: ${limit} bytes`);
      assert.ok(limit > 10000 && limit < 32768, `measured ${limit} bytes`);
    });

    test("fs_put writes a binary file one chunk short of that size and fs_get reads it back byte-identical", async () => {
      const put = await runJob(d.url, MB, { kind: "fs_put", path: `/${NAME}`, content_b64: blob.toString("base64") }, 90000);
      assert.equal(put.state, "succeeded", JSON.stringify(put.error));
      assert.equal(put.result.size, blob.length);
      const get = await runJob(d.url, MB, { kind: "fs_get", path: `/${NAME}` }, 90000);
      assert.equal(get.state, "succeeded", JSON.stringify(get.error));
      assert.equal(get.result.sha256, sha);
      assert.ok(Buffer.from(get.result.content_b64, "base64").equals(blob), "the bytes read back equal the bytes written");
    });

    test("fs_ls shows the file with its size", async () => {
      const ls = await runJob(d.url, MB, { kind: "fs_ls" });
      assert.equal(ls.state, "succeeded", JSON.stringify(ls.error));
      assert.deepEqual(ls.result.entries, [{ path: `/${NAME}`, type: "file", size: blob.length }]);
    });

    test("fs_rm removes the file: fs_ls no longer shows it and fs_get fails with not_found", async () => {
      const rm = await runJob(d.url, MB, { kind: "fs_rm", path: `/${NAME}` });
      assert.equal(rm.state, "succeeded", JSON.stringify(rm.error));
      const ls = await runJob(d.url, MB, { kind: "fs_ls" });
      assert.deepEqual(ls.result.entries, []);
      const get = await runJob(d.url, MB, { kind: "fs_get", path: `/${NAME}` });
      assert.equal(get.state, "failed");
      assert.equal(get.error.code, "not_found", JSON.stringify(get.error));
    });

    test("fs_put of one byte more fails as no_space and leaves no partial file", async () => {
      const big = crypto.randomBytes(limit + 1);
      const put = await runJob(d.url, MB, { kind: "fs_put", path: `/${NAME}`, content_b64: big.toString("base64") }, 90000);
      assert.equal(put.state, "failed");
      assert.equal(put.error.code, "no_space", JSON.stringify(put.error));
      assert.match(put.error.message, /filesystem is full/);
      const ls = await runJob(d.url, MB, { kind: "fs_ls" });
      assert.deepEqual(ls.result.entries, []);
    });
  });

  test("identify stores the MicroPython version and the micro:bit machine as facts of the board", async () => {
    const j = await runJob(d.url, MB, { kind: "identify" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    const { facts } = (await api(d.url, "GET", `/api/v1/boards/${MB}`)).body;
    assert.equal(facts.mp_version.value, "1.9.2");
    assert.equal(facts.machine.value, "micro:bit with nRF51822");
    assert.equal(facts.platform.value, "microbit");
    assert.match(facts.banner.value, /^MicroPython v1\.9\.2\b.*micro:bit/);
    assert.match(facts.unique_id.value, /^[0-9a-f]{16}$/);
    assert.equal(facts.mp_version.job, j.id);
  });

  mpRunTests(test, run, "<string>"); // firmware 1.9.2 has no compile(): its traceback names the script "<string>"

  mpCancelTest(test, run, () => d.url, MB);

  test("run puts its files first (flat filesystem), then runs a script that imports them", async () => {
    const helper = Buffer.from("def answer():\n    return 6 * 7\n").toString("base64");
    const j = await run({ files: [{ path: "/corral_helper.py", content_b64: helper }],
      script: "import corral_helper\nprint(corral_helper.answer())\n" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.stdout, "42\r\n");
    const rm = await runJob(d.url, MB, { kind: "fs_rm", path: "/corral_helper.py" });
    assert.equal(rm.state, "succeeded", JSON.stringify(rm.error));
  });

  // fs_get used to read 256 bytes per chunk, which needs 1032 contiguous bytes for one tuple: after
  // a put had fragmented the 8 KB heap, 9 of 20 such round trips failed with MemoryError. Random
  // contents each time (the put's literals, and so the heap's layout, depend on the bytes).
  test("three fs_put/fs_get round trips of random 4 KB files read back byte-identical (no MemoryError)", async () => {
    for (let i = 0; i < 3; i++) {
      const blob = crypto.randomBytes(4096);
      const put = await runJob(d.url, MB, { kind: "fs_put", path: "/rt.bin", content_b64: blob.toString("base64") }, 90000);
      assert.equal(put.state, "succeeded", `round trip ${i}: ${JSON.stringify(put.error)}`);
      const get = await runJob(d.url, MB, { kind: "fs_get", path: "/rt.bin" }, 90000);
      assert.equal(get.state, "succeeded", `round trip ${i}: ${JSON.stringify(get.error)}`);
      assert.ok(Buffer.from(get.result.content_b64, "base64").equals(blob), `round trip ${i}: the bytes read back differ`);
    }
    const rm = await runJob(d.url, MB, { kind: "fs_rm", path: "/rt.bin" });
    assert.equal(rm.state, "succeeded", JSON.stringify(rm.error));
  });
});
