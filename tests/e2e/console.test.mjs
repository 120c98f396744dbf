// The web console end to end in headless Chromium (Debian's, driven by playwright-core): virtual
// boards behind the real corrald, the fleet table live over /ws/v1/events, three boards flashed
// at once from the Flash dialog, a MicroPython board's console (type, copy, paste, read-only during
// a job), inventory editing, an unplug seen at once, a narrow window, a daemon restart, polling.
// Screenshots land in build/e2e-artifacts/.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, api, startCorrald, startVboard, waitFor, waitJob } from "../integration/lib.mjs";
import { launch, screenshots, steps } from "./browser.mjs";

const ARTIFACTS = path.join(ROOT, "build/e2e-artifacts");
const WEB_ROOT = process.env.CORRAL_WEB_ROOT || path.join(ROOT, "web");
const STUB_DIR = path.join(ROOT, "node_modules/esptool-js/lib/targets/stub_flasher");
const MKIMAGE = path.join(ROOT, "tests/vboard/mkimage");

const tmp = mkdtempSync(path.join(tmpdir(), "corral-e2e-"));
let corrald, ctx, page, pageErrors, vb = {}, images = {}, stateDir, port;

/** One control-channel command to a virtual board ("unplug") -> its JSON reply. */
function control(board, line) {
  const { port: p } = new URL(board.control.replace(/^tcp:/, "http:"));
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port: Number(p) });
    let buf = "";
    s.on("error", reject);
    s.on("connect", () => s.write(line + "\n"));
    s.on("data", (d) => {
      buf += d;
      if (!buf.includes("\n")) return;
      s.destroy();
      const r = JSON.parse(buf.slice(0, buf.indexOf("\n")));
      r.ok ? resolve(r) : reject(new Error(`${line}: ${r.error}`));
    });
  });
}

const shot = screenshots(ARTIFACTS, () => page);

/** Text of the row of the fleet table for board id, by cell class. */
const rowCell = (id, sel) => page.locator(`tr[data-board="${id}"] ${sel}`);

/** Lines of the terminal as rendered (xterm's DOM renderer: one div per row). */
const termLines = () => page.$$eval(".xterm-rows > div", (rows) => rows.map((r) => r.textContent.replace(/\s+$/, "")));

async function startDaemon() {
  const args = ["--stub-dir", STUB_DIR,
    "--port", `mp-1=${vb.mp.endpoint},family=micropython`,
    "--port", `nodemcu-a=${vb.e1.endpoint},family=esp8266`,
    "--port", `nodemcu-b=${vb.e2.endpoint},family=esp8266`,
    "--port", `esp32-a=${vb.e3.endpoint},family=esp32`];
  if (port) args.push("--listen", `127.0.0.1:${port}`); // a restart keeps the URL the page uses
  return startCorrald({ stateDir, keepState: true, args });
}

before(async () => {
  assert.ok(existsSync(path.join(WEB_ROOT, "vendor/xterm.js")),
    `${WEB_ROOT}/vendor/xterm.js is missing: run 'make web' first`);
  rmSync(ARTIFACTS, { recursive: true, force: true }); // this run's screenshots only
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [chip, args] of [["esp8266", ["--flash-mode", "qio"]], ["esp32", []]]) {
    images[chip] = path.join(tmp, `${chip}-1.25.0.bin`);
    execFileSync(MKIMAGE, ["--chip", chip, "--version", "1.25.0", ...args, "-o", images[chip]], { stdio: "ignore" });
  }
  [vb.mp, vb.e1, vb.e2, vb.e3] = await Promise.all([
    startVboard("micropython"),
    startVboard("esp8266", ["--module-modes", "dio,dout", "--flash-size", "4MB"]), // NodeMCU v3: DIO only
    startVboard("esp8266", ["--flash-size", "4MB"]),
    startVboard("esp32", ["--flash-size", "4MB"]),
  ]);
  stateDir = path.join(tmp, "state");
  mkdirSync(stateDir);
  corrald = await startDaemon();
  port = Number(new URL(corrald.url).port);
  ({ ctx, page, pageErrors } = await launch(path.join(tmp, "chromium"), { viewport: { width: 1280, height: 860 } }));
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: corrald.url });
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  if (corrald) {
    writeFileSync(path.join(ARTIFACTS, "corrald.log"), corrald.stderr());
    await corrald.stop();
  }
  await Promise.all(Object.values(vb).map((b) => b.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

test("web console: fleet, flash three boards, console, inventory, unplug, restart", { timeout: 170000 }, async (t) => {
  const step = steps(t, shot);

  await step("the fleet table lists every board, live over the event WebSocket", async () => {
    await page.goto(corrald.url + "/");
    await page.waitForSelector("#conn[data-mode=live]", { timeout: 20000 }).catch(async (e) => {
      const mode = await page.getAttribute("#conn", "data-mode");
      throw new Error(`the page never got the /ws/v1/events WebSocket (connection mode: ${mode}): ${e.message}`);
    });
    for (const id of ["mp-1", "nodemcu-a", "nodemcu-b", "esp32-a"]) {
      assert.equal(await rowCell(id, ".badge").textContent(), "online", `${id} online`);
      assert.equal(await rowCell(id, "td[data-label=Family]").textContent(), id === "mp-1" ? "micropython" : id.startsWith("esp32") ? "esp32" : "esp8266");
    }
    await shot("01-fleet");
  });

  const flashJobs = {};
  await step("three boards flashed at once from the dialog: bars reach 100 % with verdicts", async () => {
    // ESP8266s: a firmware already in the library (uploaded over the API); the ESP32: uploaded from
    // the dialog. The dialog never offers a path on corrald's host.
    const esp8266Sha = createHash("sha256").update(readFileSync(images.esp8266)).digest("hex");
    const up = await api(corrald.url, "POST", `/api/v1/firmware?filename=${path.basename(images.esp8266)}`,
      new Uint8Array(readFileSync(images.esp8266)), { "content-type": "application/octet-stream" });
    assert.ok(up.status === 201 || up.status === 200, JSON.stringify(up.body));
    for (const id of ["nodemcu-a", "nodemcu-b", "esp32-a"]) await rowCell(id, "td.sel input").check();
    await page.click("#flash-selected");
    const dlg = page.locator("dialog#flash-dialog");
    await dlg.waitFor({ state: "visible" });
    assert.equal(await dlg.locator(".flash-row").count(), 3);
    assert.equal(await dlg.locator("input.fw-path, option[value=path]").count(), 0, "no host-path choice");
    const g8266 = dlg.locator("fieldset.fw-group[data-family=esp8266]");
    await g8266.locator("select.fw-source").selectOption(`lib:${esp8266Sha}`);
    const g32 = dlg.locator("fieldset.fw-group[data-family=esp32]");
    await g32.locator("select.fw-source").selectOption("upload").catch((e) => {
      throw new Error(`no "Upload a file" choice: is the firmware library (GET /api/v1/firmware) missing? ${e.message}`);
    });
    await g32.locator("input.fw-file").setInputFiles(images.esp32);
    assert.equal(await dlg.locator("#flash-mode").inputValue(), "auto");
    assert.equal(await dlg.locator("#flash-erase").isChecked(), false);
    assert.equal(await dlg.locator("#flash-verify").inputValue(), "md5");
    await shot("02-flash-dialog");
    await page.click("#flash-start");
    for (const id of ["nodemcu-a", "nodemcu-b", "esp32-a"]) {
      const row = dlg.locator(`.flash-row[data-board="${id}"]`);
      await row.locator(".bar[data-state=succeeded]").waitFor({ timeout: 60000 });
      assert.equal(await row.locator(".pct").textContent(), "100 %");
      assert.equal(await row.locator(".bar .fill").evaluate((e) => e.style.width), "100%");
      const verdict = await row.locator(".verdict").textContent();
      // The daemon's own one-sentence verdict, after its boot check.
      assert.match(verdict, /^Flashed MicroPython v1\.25\.0 and it booted: MicroPython v1\.25\.0/, `${id} verdict: ${verdict}`);
    }
    await shot("03-flash-done");
    // What the dialog asked for: one job per board, DIO for the ESP8266s ("auto"), each image at
    // its chip's boot offset.
    const { jobs } = (await api(corrald.url, "GET", "/api/v1/jobs?limit=10")).body;
    for (const j of jobs.filter((x) => x.kind === "flash")) flashJobs[j.board] = j;
    assert.deepEqual(Object.keys(flashJobs).sort(), ["esp32-a", "nodemcu-a", "nodemcu-b"]);
    const esp32Sha = createHash("sha256").update(readFileSync(images.esp32)).digest("hex");
    for (const [id, j] of Object.entries(flashJobs)) {
      assert.equal(j.state, "succeeded", `${id}: ${JSON.stringify(j.error)}`);
      assert.equal(j.params.flash_mode, id.startsWith("nodemcu") ? "dio" : "keep");
      assert.equal(j.result.parts[0].offset, id === "esp32-a" ? 0x1000 : 0);
      if (id === "esp32-a") assert.equal(j.params.firmware, esp32Sha);
      else assert.equal(j.params.firmware, esp8266Sha);
    }
    await page.click("dialog#flash-dialog button:has-text('Close')");
    // the upload is in the library now: the next dialog offers it for the ESP32
    await page.click("#flash-selected");
    const offered = dlg.locator(`fieldset.fw-group[data-family=esp32] option[value="lib:${esp32Sha}"]`);
    await offered.waitFor({ state: "attached" });
    assert.match(await offered.textContent(), /esp32-1\.25\.0\.bin/);
    await page.click("dialog#flash-dialog button:has-text('Close')");
    for (const id of Object.keys(flashJobs))
      assert.match(await rowCell(id, ".job").textContent(), new RegExp(`^flash #${flashJobs[id].id} · Flashed MicroPython v1\\.25\\.0 and it booted`));
  });

  await step("identify fills chip, MAC and firmware version in the table", async () => {
    await page.click("#identify-selected");
    await waitFor(async () => {
      const { boards } = (await api(corrald.url, "GET", "/api/v1/boards")).body;
      return boards.filter((b) => b.id !== "mp-1").every((b) => b.facts.mp_version && b.state === "online");
    }, 30000, "identify on the flashed boards");
    const b = (await api(corrald.url, "GET", "/api/v1/boards/nodemcu-a")).body;
    await page.waitForFunction(([id, v]) => document.querySelector(`tr[data-board="${id}"] td[data-label=Firmware]`)?.textContent === v,
      ["nodemcu-a", b.facts.mp_version.value]);
    assert.equal(await rowCell("nodemcu-a", "td[data-label=MAC]").textContent(), b.facts.mac.value);
    assert.equal(await rowCell("nodemcu-a", "td[data-label=Chip]").textContent(), "ESP8266EX");
    await shot("04-fleet-identified");
  });

  await step("the MicroPython console: take the lock, type print(6*7), see 42", async () => {
    await page.click('tr[data-board="mp-1"] td.name a');
    await page.waitForSelector(".xterm-rows");
    await page.waitForFunction(() => document.querySelector("#console-lock-text")?.textContent.startsWith("Watching"));
    await page.click("#console-lock");
    await page.waitForFunction(() => document.querySelector("#console-lock-text")?.textContent.startsWith("You hold"));
    await page.click("#console-term");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => [...document.querySelectorAll(".xterm-rows > div")].some((r) => r.textContent.startsWith(">>>")));
    const before = (await termLines()).filter((l) => l === "42").length;
    await page.keyboard.type("print(6*7)");
    await page.keyboard.press("Enter");
    await waitFor(async () => (await termLines()).filter((l) => l === "42").length > before, 10000, "42 in the terminal");
    assert.ok((await termLines()).some((l) => l.endsWith("print(6*7)")), "the board echoed what was typed");
    await shot("05-console");
  });

  await step("the console pastes the clipboard and copies a selection", async () => {
    await page.evaluate(() => navigator.clipboard.writeText("print(6*7+1)"));
    await page.click("#console-paste");
    await page.click("#console-term");
    await page.keyboard.press("Enter");
    await waitFor(async () => (await termLines()).includes("43"), 10000, "43 after pasting print(6*7+1)");
    await page.evaluate(() => navigator.clipboard.writeText(""));
    // a double click on the row's first characters selects the word "43" (the rows sit under
    // xterm's mouse layer, so click at their coordinates)
    const box = await page.locator(".xterm-rows > div", { hasText: /^43\s*$/ }).last().boundingBox();
    await page.mouse.dblclick(box.x + 4, box.y + box.height / 2);
    await page.click("#console-copy");
    await waitFor(async () => (await page.evaluate(() => navigator.clipboard.readText())) === "43", 5000, "43 on the clipboard");
  });

  await step("the console is read-only, with a banner, while a job holds the port", async () => {
    const r = await api(corrald.url, "POST", "/api/v1/boards/mp-1/jobs", { kind: "identify" });
    assert.equal(r.status, 202);
    await page.waitForSelector("#console-banner.readonly", { state: "visible" });
    assert.match(await page.textContent("#console-banner"), /^Read-only: Job \d+ \(identify\)/);
    assert.ok(await page.isDisabled("#console-interrupt"));
    await shot("06-console-readonly");
    await waitJob(corrald.url, r.body.id);
    await page.waitForSelector("#console-banner", { state: "hidden" });
    // the job shows up in the history; opening it shows its log and result as the API has them
    const d = page.locator(`#board-jobs details[data-job="${r.body.id}"]`);
    await d.locator(".jstate.succeeded").waitFor();
    await d.locator("summary").first().click();
    await d.locator("pre.log").waitFor();
    const job = (await api(corrald.url, "GET", `/api/v1/jobs/${r.body.id}`)).body;
    const shown = await d.locator("pre.log").textContent();
    for (const l of job.log) assert.ok(shown.includes(l.line), `log line ${l.line}`);
    assert.equal(await d.locator("details.result pre").textContent(), JSON.stringify(job.result, null, 2));
  });

  await step("inventory edits are saved; the API's error message is shown as is", async () => {
    await page.fill("#inv-name", "repl-bench");
    await page.fill("#inv-labels", "bench-2, repl");
    await page.fill("#inv-notes", "the wasm one");
    await page.click("form.inventory button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#inv-status")?.textContent === "Saved.");
    const b = (await api(corrald.url, "GET", "/api/v1/boards/mp-1")).body;
    assert.equal(b.name, "repl-bench");
    assert.deepEqual(b.labels, ["bench-2", "repl"]);
    assert.equal(b.notes, "the wasm one");
    const long = "x".repeat(80); // labels are at most 64 characters
    const expected = (await api(corrald.url, "PATCH", "/api/v1/boards/mp-1", { name: "repl-bench", labels: [long], notes: "the wasm one" })).body;
    assert.ok(expected.error && expected.error.message, "the API refuses an 80-character label");
    await page.fill("#inv-labels", long);
    await page.click("form.inventory button[type=submit]");
    await page.waitForSelector("#inv-status.error");
    assert.equal(await page.textContent("#inv-status"), expected.error.message);
    await page.fill("#inv-labels", "bench-2, repl");
    await page.click("form.inventory button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#inv-status")?.textContent === "Saved.");
  });

  await step("an unplugged board goes offline in the table at once", async () => {
    await page.click("a.brand");
    await page.waitForSelector('tr[data-board="mp-1"]');
    assert.equal(await rowCell("mp-1", "td.name a").textContent(), "repl-bench");
    assert.equal(await rowCell("mp-1", "td.labels").textContent(), "bench-2repl");
    const t0 = Date.now();
    await control(vb.e2, "unplug");
    await page.waitForFunction(() => document.querySelector('tr[data-board="nodemcu-b"] .badge')?.textContent === "offline", null, { timeout: 3000 });
    const ms = Date.now() - t0;
    assert.ok(ms < 3000, `offline shown after ${ms} ms`);
    assert.ok(await page.locator('tr[data-board="nodemcu-b"]').evaluate((tr) => tr.classList.contains("offline")));
    assert.equal(await rowCell("nodemcu-a", ".badge").textContent(), "online");
    await shot("07-unplugged");
  });

  await step("a narrow window shows the table as cards without sideways scrolling", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no horizontal overflow");
    assert.equal(await page.locator("table.boards thead").isVisible(), false);
    await shot("08-narrow-fleet");
    await page.click('tr[data-board="mp-1"] td.name a');
    await page.waitForSelector(".xterm-rows");
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "board page fits");
    await shot("09-narrow-board");
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.click("a.brand");
  });

  await step("after a daemon restart the page reconnects and reloads the fleet", async () => {
    await corrald.stop();
    await page.waitForSelector("#conn[data-mode=reconnecting]", { timeout: 10000 });
    // A restart that takes a few seconds (as on a loaded host): the page's WebSocket fails twice
    // meanwhile; it must still come back live, not stay on polling.
    await new Promise((r) => setTimeout(r, 3000));
    corrald = await startDaemon();
    await page.waitForSelector("#conn[data-mode=live]", { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector('tr[data-board="mp-1"] .badge')?.textContent === "online");
    assert.equal(await rowCell("mp-1", "td.name a").textContent(), "repl-bench", "names come back from the store");
    assert.equal(await rowCell("nodemcu-b", ".badge").textContent(), "offline", "still unplugged");
  });

  await step("with ?poll the page follows events by polling GET /api/v1/events", async () => {
    const p2 = await ctx.newPage();
    try {
      await p2.goto(corrald.url + "/?poll");
      await p2.waitForSelector("#conn[data-mode=polling]");
      await p2.waitForFunction(() => document.querySelector('tr[data-board="nodemcu-b"] .badge')?.textContent === "offline");
      await control(vb.e2, "replug");
      for (const p of [p2, page])
        await p.waitForFunction(() => document.querySelector('tr[data-board="nodemcu-b"] .badge')?.textContent === "online", null, { timeout: 10000 });
    } finally {
      await p2.close();
    }
  });

  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
});
