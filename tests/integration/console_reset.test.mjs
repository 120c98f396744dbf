// The board console right after a job or a reset corrald did itself (issue 18, "Save and reset"):
// an ESP8266's ROM prints its boot log at 74880 baud (garbage at the console's 115200), then the
// firmware prints at 115200. The console must show the firmware's lines: it may not switch the
// port to 74880 to decode that ROM log (the window would swallow them). A blank ESP8266 in a boot
// loop is still explained (bootcheck.test.mjs, e2e/beginner.test.mjs).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { mkimage, tmp } from "./esp_lib.mjs";
import { api, runJob, startCorrald, startVboard, waitFor } from "./lib.mjs";

/** Console viewer: every byte the board printed, as latin1 text. */
async function viewer(base, id) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws/v1/boards/${id}/console`);
  const v = { ws, text: "" };
  ws.on("message", (data, isBinary) => { if (isBinary) v.text += data.toString("latin1"); });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  return v;
}

describe("console output at 115200 right after a reset", () => {
  let d, vb;
  before(async () => {
    const dir = tmp("corral-console-reset-");
    const script = path.join(dir, "app.json");
    // an app that says hello at 115200 once the ROM handed over, as a main.py would
    writeFileSync(script, JSON.stringify({ line_delay_ms: 5, steps: [{ print: "app: hello at 115200" },
      { print: "app: main.py done, 2nd line" }] }));
    const img = mkimage("esp8266", ["--flash-mode", "dio", "--app-script", script], dir);
    vb = await startVboard("esp8266", ["--module-modes", "dio,dout", "--flash-size", "4MB", "--image", `${img.path}@0x0`]);
    d = await startCorrald({ args: ["--port", `nm=${vb.endpoint},family=esp8266`] });
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/nm")).body.state === "online", 10000, "nm online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
  });

  for (const via of ["a reset job", "the console's reset", "a reset job again"]) {
    test(`after ${via}, the firmware's lines at 115200 all reach the console`, async () => {
      const v = await viewer(d.url, "nm");
      try {
        await new Promise((r) => setTimeout(r, 100));
        const from = v.text.length;
        if (via === "the console's reset") {
          v.ws.send(JSON.stringify({ type: "take" }));
          v.ws.send(JSON.stringify({ type: "reset" }));
        } else {
          const j = await runJob(d.url, "nm", { kind: "reset" });
          assert.equal(j.state, "succeeded", JSON.stringify(j.error));
        }
        await waitFor(() => v.text.slice(from).includes("app: main.py done, 2nd line"), 10000,
          `the app's lines in the console after ${via}; got ${JSON.stringify(v.text.slice(from))}`);
        assert.match(v.text.slice(from), /app: hello at 115200\r\napp: main\.py done, 2nd line/);
        assert.doesNotMatch(v.text.slice(from), /\[corral\]/, "no wrong-baud note for a reset corrald did");
      } finally {
        v.ws.close();
      }
    });
  }
});
