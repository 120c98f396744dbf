// The fleet page of a farm in headless Chromium: two corrald on one private PostgreSQL (pg.mjs),
// each with its own virtual boards. With one host's boards the page has no host filter and no
// Host column; once boards come from two hosts, the page (served by either host) shows each
// board's host, groups the rows by host (z1 on bench-a comes before bench-b's b1, b2: by name alone
// it would come last), and the host filter shows only that host's boards.
// Screenshot: build/e2e-artifacts/fleet-hosts.png.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { startFarm } from "../integration/farm_lib.mjs";
import { ROOT, api, waitFor } from "../integration/lib.mjs";
import { launch, screenshots } from "./browser.mjs";

const ARTIFACTS = path.join(ROOT, "build/e2e-artifacts");
const LAYOUT = { "bench-a": ["z1"], "bench-b": ["b1", "b2"] };

let farm, hosts, ctx, page, pageErrors;
const shot = screenshots(ARTIFACTS, () => page);

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  farm = await startFarm(LAYOUT, { db: "hosts", start: ["bench-a"] }); // bench-b joins in a test
  hosts = farm.hosts;
  ({ ctx, page, pageErrors } = await launch(path.join(farm.dir, "chromium"), { viewport: { width: 1280, height: 900 } }));
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await farm?.stop();
});

const visibleRows = () => page.locator("table.boards tbody tr:not([hidden])").evaluateAll((trs) => trs.map((t) => t.dataset.board));

test("one host: no host filter, no Host column", async () => {
  await page.goto(hosts["bench-a"].url + "/");
  await page.locator('tr[data-board="z1"]').waitFor();
  assert.equal(await page.locator("#host-filter").isVisible(), false);
  assert.equal(await page.locator("table.boards th", { hasText: "Host" }).isVisible(), false);
  assert.equal(await page.locator('tr[data-board="z1"] td.host').isVisible(), false);
});

test("two hosts: each board's host, rows grouped by host, and the filter shows one host's boards", { timeout: 90000 }, async () => {
  await farm.startHost("bench-b");
  await waitFor(async () => (await api(hosts["bench-a"].url, "GET", "/api/v1/boards")).body.boards.length === 3, 30000,
    "bench-a to list bench-b's boards");
  for (const h of ["bench-a", "bench-b"]) {
    await page.goto(hosts[h].url + "/");
    await page.locator('tr[data-board="b2"]').waitFor();
    await page.locator("#host-filter").waitFor({ state: "visible" });
    assert.deepEqual(await page.locator("#host-filter option").allTextContents(), ["All hosts", "bench-a", "bench-b"]);
    assert.equal(await page.locator('tr[data-board="b1"] td.host').textContent(), "bench-b");
    assert.equal(await page.locator('tr[data-board="z1"] td.host').textContent(), "bench-a");
    assert.deepEqual(await visibleRows(), ["z1", "b1", "b2"], `grouped by host, on ${h}'s page`);

    await page.locator("#host-filter").selectOption("bench-b");
    assert.deepEqual(await visibleRows(), ["b1", "b2"]);
    await page.locator("#host-filter").selectOption("bench-a");
    assert.deepEqual(await visibleRows(), ["z1"]);
    // the text filter and the host filter combine
    await page.locator("input.filter").fill("b1");
    assert.deepEqual(await visibleRows(), []);
    await page.locator("#host-filter").selectOption("");
    assert.deepEqual(await visibleRows(), ["b1"]);
    await page.locator("input.filter").fill("");
  }
  await page.locator("#host-filter").selectOption("bench-b");
  await shot("fleet-hosts");
  assert.deepEqual(pageErrors, []);
});
