// The web console's fleet health in headless Chromium: a virtual board whose link drops bytes is
// quarantined by the policy; the fleet table's health column says so (the healthy board says
// good), and its health page shows the reason, the evidence (counters, recent history), the
// recent history as uPlot charts, and "Re-check and release" queues the check (which, on a link
// that still drops bytes, fails and is added to the evidence). Screenshots land in
// build/e2e-artifacts/health-*.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, api, runJob, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { launch, screenshots } from "./browser.mjs";

const ARTIFACTS = path.join(ROOT, "build/e2e-artifacts");
const WEB_ROOT = process.env.CORRAL_WEB_ROOT || path.join(ROOT, "web");

const tmp = mkdtempSync(path.join(tmpdir(), "corral-e2e-health-"));
let corrald, ctx, page, pageErrors, sick, well;

before(async () => {
  assert.ok(existsSync(path.join(WEB_ROOT, "vendor/uPlot.iife.min.js")), `${WEB_ROOT}/vendor/uPlot.iife.min.js is missing: run 'make web' first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  [sick, well] = await Promise.all([
    startVboard("micropython", ["--no-raw-paste", "--rx-drop", "1.5%", "--rx-seed", "2020", "--name", "bench-3"]),
    startVboard("micropython", ["--name", "bench-1"]),
  ]);
  const conf = path.join(tmp, "corrald.conf");
  writeFileSync(conf, ["quarantine_after_link_errors = 60",
    "[port bench-3]", `url = ${sick.endpoint}`, "family = micropython",
    "[port bench-1]", `url = ${well.endpoint}`, "family = micropython", ""].join("\n"));
  corrald = await startCorrald({ args: ["--config", conf] });
  for (const b of ["bench-1", "bench-3"])
    await waitFor(async () => (await api(corrald.url, "GET", `/api/v1/boards/${b}`)).body.state === "online", 10000, b);
  ({ ctx, page, pageErrors } = await launch(path.join(tmp, "chromium"), { viewport: { width: 1280, height: 900 } }));
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  if (corrald) {
    writeFileSync(path.join(ARTIFACTS, "health-corrald.log"), corrald.stderr());
    await corrald.stop();
  }
  await Promise.all([sick?.stop(), well?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

const shot = screenshots(ARTIFACTS, () => page);
const script = (n) => Array.from({ length: 12 }, (_, k) => `x${k}=${k}*${n}`).join("\n") + "\nprint(x11)\n";

test("health view: a quarantined board, its reason, evidence and charts, and a re-check", { timeout: 170000 }, async () => {
  await page.goto(corrald.url + "/");
  await page.locator('tr[data-board="bench-1"] td.health .hbadge').waitFor();
  assert.equal(await page.locator('tr[data-board="bench-3"] td.health .hbadge').textContent(), "good");

  // Jobs on both boards; the lossy one collects link errors until the rule fires, live in the table.
  for (let n = 0; n < 3; n++) assert.equal((await runJob(corrald.url, "bench-1", { kind: "run", script: script(n + 2) })).state, "succeeded");
  let hr;
  for (let n = 0; n < 10; n++) {
    await runJob(corrald.url, "bench-3", { kind: "run", script: script(n + 3), timeout_s: 60 }, 90000);
    hr = (await api(corrald.url, "GET", "/api/v1/boards/bench-3/health")).body;
    if (hr.state === "quarantined") break;
  }
  assert.equal(hr.state, "quarantined", JSON.stringify(hr.counters));
  await waitFor(async () => (await page.locator('tr[data-board="bench-3"] td.health .hbadge').textContent()) === "quarantined",
    10000, "the fleet table to show the quarantine (board.health event)");
  assert.equal(await page.locator('tr[data-board="bench-1"] td.health .hbadge').textContent(), "good");
  assert.match(await page.locator('tr[data-board="bench-3"] td.health .reason').textContent(), /link errors since the last passed check/);
  await shot("health-fleet");

  await page.locator('tr[data-board="bench-3"] td.health a.hbadge').click();
  await page.waitForURL(/#\/boards\/bench-3\/health$/);
  await page.locator("#health-state.quarantined").waitFor();
  assert.match(await page.locator("#health-reason").textContent(), /rule: quarantine_after_link_errors = 60/);
  const ev = await page.locator("#health-evidence").textContent();
  assert.match(ev, /link_errors/);
  assert.match(ev, /run job \d+ succeeded/);
  await page.locator('.chart[data-chart="link_errors"] canvas').waitFor();
  await page.locator('.chart[data-chart="sync_ms_total"] canvas').waitFor();
  assert.ok(await page.locator("#unquarantine").isVisible());
  await shot("health-quarantined");

  await page.locator("#unquarantine").click();
  await page.locator("#health-message").filter({ hasText: /Health check job \d+ queued/ }).waitFor();
  await page.locator("#health-evidence").filter({ hasText: /Release refused/ }).waitFor({ timeout: 90000 });
  assert.equal(await page.locator("#health-state").textContent(), "quarantined");
  await shot("health-release-refused");
  assert.deepEqual(pageErrors, []);
});
