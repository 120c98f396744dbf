// Kind micropython with --state-dir: the board's flash outlives the vboard process.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startVboard, Rfc2217Client, friendlyPrompt } from "./helpers.mjs";

async function session(stateDir, fn) {
  const vb = await startVboard(["micropython", "--state-dir", stateDir]);
  const c = await Rfc2217Client.connect(vb.endpoint);
  try {
    await friendlyPrompt(c);
    return await fn(async (line) => {
      c.mark();
      c.write(line + "\r");
      return c.waitFor(">>> ");
    });
  } finally {
    c.close();
    assert.deepEqual(await vb.kill(), { code: 0, sig: null });
  }
}

test("with --state-dir, files and the unique id survive a vboard restart", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vboard-state-"));
  try {
    const id1 = await session(dir, async (exec) => {
      await exec("import os; os.mkdir('lib'); f = open('lib/cfg.txt', 'w'); f.write('v=1'); f.close()");
      return (await exec("import machine; print(machine.unique_id().hex())")).match(/\r\n([0-9a-f]{12})\r\n/)[1];
    });
    assert.equal(fs.readFileSync(path.join(dir, "fs", "lib", "cfg.txt"), "utf8"), "v=1");
    const [id2, content] = await session(dir, async (exec) => {
      const id = (await exec("import machine; print(machine.unique_id().hex())")).match(/\r\n([0-9a-f]{12})\r\n/)[1];
      const got = await exec("print(open('lib/cfg.txt').read())");
      return [id, got];
    });
    assert.equal(id2, id1);
    assert.match(content, /\r\nv=1\r\n>>> $/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("main.py from the state dir runs at boot, before the banner", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vboard-state-"));
  try {
    fs.mkdirSync(path.join(dir, "fs"));
    fs.writeFileSync(path.join(dir, "fs", "main.py"), "print('main ran')\n");
    await session(dir, async (exec) => {
      const got = await exec("import machine; machine.reset()");
      assert.match(got, /main ran\r\nMicroPython v1\.27\.0/);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
