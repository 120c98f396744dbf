// The fleet page of a farm in headless Chromium: two corrald on one private PostgreSQL (pg.mjs),
// each with its own virtual boards. With one host's boards the page has no host filter and no
// Host column; once boards come from two hosts, the page (served by either host) shows each
// board's host, groups the rows by host (z1 on bench-a comes before bench-b's b1, b2: by name alone
// it would come last), and the host filter shows only that host's boards.
// Screenshot: build/e2e-artifacts/fleet-hosts.png.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ROOT, api, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { startPostgres } from "../integration/pg.mjs";

const ARTIFACTS = path.join(ROOT, "build/e2e-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const LAYOUT = { "bench-a": ["z1"], "bench-b": ["b1", "b2"] };

const tmp = mkdtempSync(path.join(tmpdir(), "corral-e2e-hosts-"));
let pg, url, ctx, page;
const vboards = {}, hosts = {};
const pageErrors = [];

async function startHost(name) {
  const conf = path.join(tmp, `${name}.conf`);
  writeFileSync(conf, `store = ${url}\nhost_name = ${name}\n`);
  const ports = LAYOUT[name].flatMap((id) => ["--port", `${id}=${vboards[id].endpoint},family=micropython`]);
  hosts[name] = await startCorrald({ args: ["--config", conf, ...ports] });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  pg = startPostgres();
  url = pg.createDb("hosts");
  for (const ids of Object.values(LAYOUT)) for (const id of ids) vboards[id] = await startVboard("micropython");
  await startHost("bench-a");
  ctx = await chromium.launchPersistentContext(path.join(tmp, "chromium"), {
    executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, viewport: { width: 1280, height: 900 },
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => { pageErrors.push(e.message); });
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  for (const h of Object.values(hosts)) await h.stop();
  for (const v of Object.values(vboards)) await v.stop();
  await pg?.stop();
  rmSync(tmp, { recursive: true, force: true });
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
  await startHost("bench-b");
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
  await page.screenshot({ path: path.join(ARTIFACTS, "fleet-hosts.png"), fullPage: true });
  assert.deepEqual(pageErrors, []);
});
