// The vboard command-line contract other tools rely on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startVboard, VBOARD, Rfc2217Client, friendlyPrompt } from "./helpers.mjs";

const run = (args) => spawnSync(process.execPath, [VBOARD, ...args], { encoding: "utf8", timeout: 20000 });

test("--help lists the options and exits 0", () => {
  const r = run(["--help"]);
  assert.equal(r.status, 0);
  for (const opt of ["--port", "--state-dir", "--image", "--flash-size", "--module-modes", "--no-pacing", "--latency", "--fault", "--spec", "--pty", "--hold-io0"])
    assert.ok(r.stdout.includes(opt), `--help does not mention ${opt}`);
});

test("an unknown kind exits non-zero with a message on stderr and nothing on stdout", () => {
  const r = run(["nosuchboard"]);
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /unknown kind/);
});

test("one JSON line on stdout, nothing more, and SIGTERM exits 0", async () => {
  const vb = await startVboard(["micropython"]);
  assert.equal(vb.info.kind, "micropython");
  assert.match(vb.info.endpoint, /^rfc2217:\/\/127\.0\.0\.1:\d+$/);
  assert.match(vb.info.control, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const c = await Rfc2217Client.connect(vb.endpoint);
  await friendlyPrompt(c);
  c.close();
  assert.deepEqual(await vb.kill("SIGTERM"), { code: 0, sig: null });
  assert.equal(vb.stdoutRest(), "");
});

test("--port fixes the endpoint's TCP port", async () => {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const vb = await startVboard(["micropython", "--port", String(port)]);
  try {
    assert.equal(vb.endpoint, `rfc2217://127.0.0.1:${port}`);
  } finally {
    await vb.kill();
  }
});

test("--spec starts every board and prints one named JSON line each", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vboard-spec-"));
  const spec = path.join(dir, "lab.json");
  fs.writeFileSync(spec, JSON.stringify([{ name: "left", kind: "micropython" }, { name: "right", kind: "micropython", no_pacing: true }]));
  const vb = await startVboard(["--spec", spec], { lines: 2 });
  try {
    assert.deepEqual(vb.infos.map((i) => i.name), ["left", "right"]);
    assert.notEqual(vb.infos[0].endpoint, vb.infos[1].endpoint);
    for (const info of vb.infos) {
      const c = await Rfc2217Client.connect(info.endpoint);
      await friendlyPrompt(c);
      c.close();
    }
  } finally {
    assert.deepEqual(await vb.kill("SIGINT"), { code: 0, sig: null });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
