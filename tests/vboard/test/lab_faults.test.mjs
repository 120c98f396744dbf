// Faults injected through the control channel, seen from a real RFC 2217 client (kind micropython).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startVboard, Rfc2217Client, controlCmd, friendlyPrompt, T } from "./helpers.mjs";

const refused = (url) =>
  new Promise((resolve) => {
    const m = /:(\d+)$/.exec(url);
    const s = net.connect({ host: "127.0.0.1", port: Number(m[1]) });
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", (e) => resolve(e.code === "ECONNREFUSED"));
  });

describe("control channel faults", () => {
  let vb;
  before(async () => {
    vb = await startVboard(["micropython", "--name", "faults"]);
  });
  after(async () => {
    await vb?.kill();
  });

  test("unplug closes the client connection and refuses new ones until replug", async () => {
    const c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
    assert.deepEqual(await controlCmd(vb.control, "unplug"), { ok: true });
    await c.waitClosed();
    assert.equal(await refused(vb.endpoint), true);
    assert.equal((await controlCmd(vb.control, "state")).state.plugged, false);
    await controlCmd(vb.control, "replug");
    const c2 = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c2);
    c2.close();
  });

  test("hang swallows input and answers nothing until unhang", async () => {
    const c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
    await controlCmd(vb.control, "hang");
    c.write("print('during hang')\r");
    await assert.rejects(c.waitFor(">>> ", { timeoutMs: 700 }));
    await controlCmd(vb.control, "unhang");
    c.mark();
    c.write("print('after')\r");
    const got = await c.waitFor(">>> ");
    assert.ok(!got.includes("during hang"));
    assert.match(got, /after\r\n>>> $/);
    c.close();
  });

  test("garbage N sends exactly N bytes to the client", async () => {
    const c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
    assert.deepEqual(await controlCmd(vb.control, "garbage 300"), { ok: true, sent: 300 });
    const got = await c.waitBytes(300);
    assert.equal(got.length, 300);
    c.close();
  });

  test("unknown control commands are answered with an error", async () => {
    const r = await controlCmd(vb.control, "frobnicate");
    assert.equal(r.ok, false);
    assert.match(r.error, /unknown command/);
  });

  test("latency MS delays every answer by at least MS", async () => {
    const c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
    await controlCmd(vb.control, "latency 400");
    try {
      const t0 = Date.now();
      c.write("\r");
      await c.waitFor(">>> ", { timeoutMs: T(5000) });
      assert.ok(Date.now() - t0 >= 390, `answered after ${Date.now() - t0} ms`);
    } finally {
      await controlCmd(vb.control, "latency 0");
      c.close();
    }
  });
});
