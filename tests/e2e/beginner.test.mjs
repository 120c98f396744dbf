// The beginner's flow in the browser (issue 18), on the demo's boards (a MicroPython board, a blank
// NodeMCU v3 ESP8266, an ESP32) behind the real corrald with its firmware catalogue: the fleet fills
// in by itself, the blank board's console explains its boot loop, the NodeMCU is flashed from the
// catalogue, then a program is written, run, fails with its line marked, stopped; main.py is
// created and runs at boot; a file goes up and comes back byte-identical; all of it at 390 px too.
// Screenshots land in build/test-logs/e2e/beginner/.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { seedCatalogue } from "../demo/catalogue.mjs";
import { ROOT, api, startCorrald, startVboard, waitFor } from "../integration/lib.mjs";
import { launch, screenshots, steps } from "./browser.mjs";

const ARTIFACTS = path.join(ROOT, "build/test-logs/e2e/beginner");
const WEB_ROOT = process.env.CORRAL_WEB_ROOT || path.join(ROOT, "web");
const STUB_DIR = path.join(ROOT, "node_modules/esptool-js/lib/targets/stub_flasher");

const tmp = mkdtempSync(path.join(tmpdir(), "corral-beginner-"));
let corrald, ctx, page, pageErrors, vb = {}, fleetMs = null;

const shot = screenshots(ARTIFACTS, () => page);
const termText = () => page.$$eval(".xterm-rows > div", (rows) => rows.map((r) => r.textContent.replace(/\s+$/, "")).join("\n"));
// A line longer than the terminal is wrapped over several rows (the ESP8266's 74880-baud boot
// noise before main.py's output has a random length): rows are matched as lines and run together.
const waitTerm = (re, timeout = 15000) => page.waitForFunction(([src, flags]) => {
  const rows = [...document.querySelectorAll(".xterm-rows > div")].map((r) => r.textContent);
  return new RegExp(src, flags).test(rows.join("\n")) || new RegExp(src, flags).test(rows.join(""));
}, [re.source, re.flags], { timeout });
const runStatus = () => page.textContent("#run-status");
// at a phone's 390 px nothing may scroll sideways: the page is exactly as wide as the screen
const noSideScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= 390);
const wideElements = () => page.evaluate(() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > 390.5 && getComputedStyle(e).position !== "fixed" && e.offsetParent)
  .slice(0, 8).map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${[...e.classList].join(".")} ` +
    `right=${Math.round(e.getBoundingClientRect().right)}`));
async function assertFits(what) {
  assert.ok(await noSideScroll(), `${what} fits 390 px; too wide: ${(await wideElements()).join(", ")}`);
}

/** Replace the editor's buffer with text, typed as a person would: each line's indentation is
 * CodeMirror's (it indents after a colon), so lines are given without their own. */
async function typeProgram(text) {
  await page.click("#editor .cm-content");
  await page.keyboard.press("Control+a");
  await page.keyboard.press("Delete");
  for (const [i, line] of text.split("\n").entries()) {
    if (i) await page.keyboard.press("Enter");
    await page.keyboard.type(line.trimStart());
  }
}
const editorLines = () => page.$$eval("#editor .cm-line", (ls) => ls.map((l) => l.textContent));

async function openBoard(id) {
  await page.goto(`${corrald.url}/#/boards/${id}`);
  await page.waitForSelector("#editor[data-ready]");
  await page.waitForSelector(".xterm-rows");
}

before(async () => {
  assert.ok(existsSync(path.join(WEB_ROOT, "vendor/editor.js")), `${WEB_ROOT}/vendor/editor.js is missing: run 'make web' first`);
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  [vb.mp, vb.nodemcu, vb.esp32] = await Promise.all([
    startVboard("micropython"),
    // a blank NodeMCU v3; its filesystem survives resets in a state dir, as in make demo
    startVboard("esp8266", ["--module-modes", "dio,dout", "--flash-size", "4MB", "--state-dir", path.join(tmp, "nodemcu")]),
    startVboard("esp32", ["--flash-size", "4MB"]),
  ]);
  ({ ctx, page, pageErrors } = await launch(path.join(tmp, "chromium"), { viewport: { width: 1280, height: 900 }, acceptDownloads: true }));
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  if (corrald) {
    // every job with its log, for whoever reads a failure
    const jobs = await api(corrald.url, "GET", "/api/v1/jobs?limit=200").then((r) => r.body.jobs || [], () => []);
    const full = await Promise.all(jobs.map((j) => api(corrald.url, "GET", `/api/v1/jobs/${j.id}`).then((r) => r.body, () => j)));
    writeFileSync(path.join(ARTIFACTS, "jobs.json"), JSON.stringify(full, null, 1));
    writeFileSync(path.join(ARTIFACTS, "corrald.log"), corrald.stderr());
    await corrald.stop();
  }
  for (const [name, b] of Object.entries(vb)) writeFileSync(path.join(ARTIFACTS, `vboard-${name}.log`), b.stderr());
  await Promise.all(Object.values(vb).map((b) => b.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

test("the beginner's flow: fleet, boot-loop note, flash, edit, run, stop, files, phone width", { timeout: 240000 }, async (t) => {
  const step = steps(t, shot);

  await step("the fleet fills in chip, MAC and firmware by itself within 10 s", async () => {
    const t0 = Date.now();
    corrald = await startCorrald({ autoIdentify: true, args: ["--stub-dir", STUB_DIR,
      "--port", `mp-1=${vb.mp.endpoint},family=micropython`,
      "--port", `nodemcu-v3=${vb.nodemcu.endpoint},family=esp8266`,
      "--port", `esp32-devkit=${vb.esp32.endpoint},family=esp32`] });
    await page.goto(corrald.url + "/");
    await page.waitForSelector("#conn[data-mode=live]");
    const cell = (id, label) => `document.querySelector('tr[data-board="${id}"] td[data-label=${label}]')?.textContent`;
    await page.waitForFunction(`${cell("mp-1", "Firmware")} && ${cell("nodemcu-v3", "Chip")} && ${cell("nodemcu-v3", "MAC")}` +
      ` && ${cell("esp32-devkit", "Chip")} && ${cell("esp32-devkit", "MAC")}`, null, { timeout: 10000 });
    fleetMs = Date.now() - t0;
    t.diagnostic(`fleet filled ${fleetMs} ms after corrald was started, without a click`);
    const { jobs } = (await api(corrald.url, "GET", "/api/v1/jobs")).body;
    assert.deepEqual(jobs.map((j) => `${j.board}:${j.kind}`).sort(), ["esp32-devkit:identify", "mp-1:identify", "nodemcu-v3:identify"]);
    assert.match(await page.textContent('tr[data-board="nodemcu-v3"] td[data-label=Chip]'), /ESP8266/);
    assert.match(await page.textContent('tr[data-board="mp-1"] td[data-label=Firmware]'), /^1\.\d+\.\d+/);
    // a blank board says what its console saw: corrald decoded its ROM boot loop into the fact "boot"
    const fw = 'tr[data-board="nodemcu-v3"] td[data-label=Firmware]';
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === "blank (boot loop)", fw, { timeout: 20000 });
    assert.match(await page.getAttribute(fw, "title"), /^boot loop: flash blank \(rst cause \d+\), seen by the console /);
    const boot = (await api(corrald.url, "GET", "/api/v1/boards/nodemcu-v3")).body.facts.boot.value;
    assert.deepEqual([boot.state, boot.reason, boot.source], ["boot_loop", "flash blank", "console"]);
    await shot("01-fleet-filled");
  });

  await step("the blank NodeMCU's console explains its boot loop", async () => {
    await seedCatalogue(corrald.url, tmp);
    await openBoard("nodemcu-v3");
    // corrald's line in the stream, kept in view above the garbage it explains
    await page.waitForFunction(() => /^ESP8266 boot loop: the flash is blank \(rst cause \d+\)\. Flash MicroPython to this board\.$/
      .test(document.querySelector("#console-explain:not([hidden]) .what")?.textContent || ""));
    assert.match(await page.textContent("#console-explain .rom"), /^Decoded: ets Jan  8 2013,rst cause:\d+, boot mode:\(3,6\)/);
    // the board page says it too, beside the firmware
    assert.equal(await page.textContent("dl.ident dd[data-k=firmware]"), "blank (boot loop)");
    assert.match(await page.textContent("dl.ident dd.boot-bad[data-k=boot]"), /^boot loop: flash blank \(rst cause \d+\), seen by the console /);
    // the facts table renders nested values as key: value lines and lists, no raw JSON
    await page.waitForSelector(".facts table.facts");
    assert.doesNotMatch(await page.textContent(".facts"), /[{}\[\]"]/);
    // and each value gets the side column's width under its name (the boot fact's time was once one
    // character a line beside a wide name column)
    const narrowest = await page.$$eval("table.facts td:not(.muted)", (tds) => Math.min(...tds.map((td) => td.getBoundingClientRect().width)));
    assert.ok(narrowest >= 240, `fact values are ${Math.round(narrowest)} px wide in the side column`);
    await shot("02-blank-board-console");
  });

  await step("the NodeMCU is flashed from the catalogue: the known-good MicroPython by default", async () => {
    await page.click("button:has-text('Flash…')");
    const dlg = page.locator("dialog#flash-dialog");
    await dlg.waitFor({ state: "visible" });
    const sel = dlg.locator("fieldset.fw-group[data-family=esp8266] select.fw-source");
    assert.equal(await sel.evaluate((s) => s.selectedOptions[0].textContent), "MicroPython 1.25.0 for ESP8266 (known good)");
    assert.match(await dlg.locator(".fw-notes").textContent(), /MicroPython v1\.25\.0/);
    await shot("03-flash-dialog-catalogue");
    // the entry's catalogue fields are edited in place (PATCH /firmware/{id}); a bad value is refused by name
    const group = dlg.locator("fieldset.fw-group[data-family=esp8266]");
    await group.locator("button.fw-edit-open").click();
    const form = group.locator("fieldset.fw-edit");
    await form.waitFor({ state: "visible" });
    assert.equal(await form.locator(".fwe-title").inputValue(), "MicroPython 1.25.0 for ESP8266");
    assert.equal(await form.locator(".fwe-known-good").isChecked(), true);
    await form.locator(".fwe-family").fill("ESP 8266");
    await form.locator(".fwe-save").click();
    await form.locator(".fwe-message.error").waitFor();
    assert.match(await form.locator(".fwe-message").textContent(), /^'family' must be a board family/);
    await form.locator(".fwe-family").fill("esp8266");
    await form.locator(".fwe-title").fill("MicroPython 1.25.0 for ESP8266 (lab build)");
    await form.locator(".fwe-release-notes").fill("Edited in the Flash dialog: the lab's DIO build.");
    await form.locator(".fwe-save").click();
    await form.locator(".fwe-message.ok").waitFor();
    assert.equal(await sel.evaluate((s) => s.selectedOptions[0].textContent), "MicroPython 1.25.0 for ESP8266 (lab build) (known good)");
    assert.equal(await group.locator(".fw-notes").textContent(), "Edited in the Flash dialog: the lab's DIO build.");
    const saved = (await api(corrald.url, "GET", `/api/v1/firmware/${(await sel.inputValue()).slice(4)}`)).body;
    assert.deepEqual([saved.title, saved.release_notes, saved.known_good_for],
      ["MicroPython 1.25.0 for ESP8266 (lab build)", "Edited in the Flash dialog: the lab's DIO build.", ["esp8266"]]);
    await shot("03b-flash-dialog-edit");
    await form.locator(".fwe-cancel").click();
    await page.click("#flash-start");
    const row = dlg.locator('.flash-row[data-board="nodemcu-v3"]');
    await row.locator(".bar[data-state=succeeded]").waitFor({ timeout: 90000 });
    assert.match(await row.locator(".verdict").textContent(), /^Flashed MicroPython v1\.25\.0 and it booted/);
    await shot("04-flashed");
    await page.click("dialog#flash-dialog button:has-text('Close')");
  });

  await step("a program typed in the editor runs: output in the console, exit status at the end", async () => {
    await typeProgram("print('Hi it is me ESP8266')\nprint(6 * 7)");
    await page.click("#editor-run");
    await page.waitForFunction(() => /^Exit status/.test(document.querySelector("#run-status").textContent), null, { timeout: 30000 });
    assert.match(await runStatus(), /^Exit status 0 · \d+ ms$/);
    await waitTerm(/Hi it is me ESP8266\n42/);
    await waitTerm(/Exit status 0/);
    // kept per board: a reload brings the buffer back
    await page.reload();
    await page.waitForSelector("#editor[data-ready]");
    assert.match(await page.textContent("#editor .cm-content"), /print\('Hi it is me ESP8266'\)/);
    await shot("05-run-output");
  });

  await step("a program with an error marks its line (and Ctrl-Enter runs)", async () => {
    await typeProgram("x = 1\ny = 0\nprint(x / y)\nprint('never')");
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction(() => /^Exit status 1/.test(document.querySelector("#run-status").textContent), null, { timeout: 30000 });
    assert.match(await runStatus(), /^Exit status 1 · \d+ ms · ZeroDivisionError: .*\(line 3\)$/);
    await page.waitForSelector('.cm-error-line[data-error-line="3"]');
    assert.equal(await page.locator(".cm-error-line").count(), 1);
    await shot("06-error-line");
  });

  await step("Stop interrupts a while True loop", async () => {
    await typeProgram("import time\nn = 0\nwhile True:\nn += 1\nprint('tick', n)\ntime.sleep(0.05)");
    // CodeMirror keeps the loop body indented after "while True:"
    assert.deepEqual((await editorLines()).slice(2), ["while True:", "    n += 1", "    print('tick', n)", "    time.sleep(0.05)"]);
    await page.click("#editor-run");
    await waitTerm(/tick 5/);
    await page.click("#editor-stop");
    await page.waitForFunction(() => /^Stopped/.test(document.querySelector("#run-status").textContent), null, { timeout: 20000 });
    const ticks = (await termText()).match(/tick \d+/g).length;
    await typeProgram("print('after stop')");
    await page.click("#editor-run");
    await page.waitForFunction(() => /^Exit status 0/.test(document.querySelector("#run-status").textContent), null, { timeout: 30000 });
    await waitTerm(/after stop/);
    assert.equal((await termText()).match(/tick \d+/g).length, ticks, "no tick after Stop");
    await shot("07-stopped");
  });

  await step("the files panel creates main.py, saves it, and Save and reset shows it running at boot", async () => {
    await page.click("#fs-refresh"); // listing is a job: only when asked
    await page.waitForFunction(() => !document.querySelector(".files-panel.busy") && document.querySelector("#fs-tree li:not(.muted), #fs-tree li.muted:only-child"));
    await page.waitForFunction(() => document.querySelector("#fs-refresh").textContent === "↻ Refresh");
    await page.fill("#fs-new-name", "main.py");
    await page.click("#fs-new-file");
    const entry = page.locator('#fs-tree li[data-path="/main.py"]');
    await entry.waitFor();
    assert.equal(await entry.locator(".fs-boot").textContent(), "runs at boot");
    assert.equal(await page.inputValue("#editor-path"), "/main.py");
    await typeProgram("print('main.py says hi at boot')");
    await page.click("#editor-save");
    await page.waitForFunction(() => /^Saved \/main\.py \(\d+ bytes, verified\)/.test(document.querySelector("#run-status").textContent), null, { timeout: 30000 });
    await page.click("#editor-save-reset");
    await waitTerm(/main\.py says hi at boot/, 30000);
    await page.waitForFunction(() => /and reset the board/.test(document.querySelector("#run-status").textContent));
    // the board's own copy says the same
    const r = await api(corrald.url, "POST", "/api/v1/boards/nodemcu-v3/jobs", { kind: "fs_get", path: "/main.py" });
    await waitFor(async () => (await api(corrald.url, "GET", `/api/v1/jobs/${r.body.id}`)).body.state === "succeeded", 30000, "fs_get");
    const got = (await api(corrald.url, "GET", `/api/v1/jobs/${r.body.id}`)).body.result;
    assert.equal(Buffer.from(got.content_b64, "base64").toString(), "print('main.py says hi at boot')");
    await shot("08-main-py-at-boot");
  });

  await step("a file uploaded from disk appears and downloads byte-identical", async () => {
    const data = Buffer.concat([Buffer.from([...Array(256).keys()]), randomBytes(3000)]);
    const file = path.join(tmp, "data.bin");
    writeFileSync(file, data);
    await page.setInputFiles("#fs-upload-input", file);
    const entry = page.locator('#fs-tree li[data-path="/data.bin"]');
    await entry.waitFor({ timeout: 60000 });
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), entry.locator(".fs-download").click()]);
    assert.equal(dl.suggestedFilename(), "data.bin");
    const saved = path.join(tmp, "downloaded.bin");
    await dl.saveAs(saved);
    const sha = (b) => createHash("sha256").update(b).digest("hex");
    assert.equal(sha(readFileSync(saved)), sha(data));
    // and the history shows each job with its verdict and duration, its log on click
    const d = page.locator("#board-jobs details").first();
    await d.locator("summary .dur").waitFor();
    assert.match(await d.locator("summary .dur").textContent(), /^\d+(\.\d)? s$/);
    await shot("09-upload-download");
  });

  await step("all of it at 390 px: fleet, board page, files, console, run", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(corrald.url + "/");
    await page.waitForSelector('tr[data-board="nodemcu-v3"]');
    // flashed and seen booting by the flash job's boot check: the boot loop is over
    assert.equal(await page.textContent('tr[data-board="nodemcu-v3"] td[data-label=Firmware]'), "1.25.0");
    await assertFits("the fleet");
    await shot("10-phone-fleet");
    await openBoard("nodemcu-v3");
    await assertFits("the board page");
    for (const sel of ["#editor-run", "#editor-stop", "#editor-save", "#editor-save-reset", "#fs-new-file", "#fs-upload"]) {
      const box = await page.locator(sel).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 391, `${sel} within the screen`);
    }
    await typeProgram("print('from a phone', 2 + 2)");
    await page.click("#editor-run");
    await page.waitForFunction(() => /^Exit status 0/.test(document.querySelector("#run-status").textContent), null, { timeout: 30000 });
    await waitTerm(/from a phone 4/);
    await assertFits("the board page after a run");
    await shot("11-phone-board");
    // each part of the page on its own, at full size, for whoever reviews the phone layout
    const part = (sel, name) => page.locator(sel).screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
    await part("header.board-head", "11a-phone-board-head");
    await part(".main-col", "11b-phone-editor-console");
    await page.click("#fs-refresh");
    await page.locator('#fs-tree li[data-path="/main.py"]').waitFor({ timeout: 30000 });
    await assertFits("the files panel");
    await page.locator("#board-files").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, "12-phone-files.png") });
    await part("#board-files", "12a-phone-files-panel");
    await part("#board-jobs", "12b-phone-jobs");
    await part(".side-col", "12d-phone-side-column");
    // a fact's value gets the card's width under its name, not a sliver beside it
    const narrowest = await page.$$eval("table.facts td:not(.muted)", (tds) => Math.min(...tds.map((td) => td.getBoundingClientRect().width)));
    assert.ok(narrowest >= 300, `fact values are ${Math.round(narrowest)} px wide at 390 px`);
    await page.click("button:has-text('Flash…')");
    await page.locator("dialog#flash-dialog button.fw-edit-open").first().click();
    await assertFits("the flash dialog with its edit form");
    // the dialog scrolls itself: its content must fit it too (a long title in a select once pushed it out)
    assert.ok(await page.$eval("dialog#flash-dialog", (d) => d.scrollWidth <= d.clientWidth),
      "the flash dialog's content fits its width");
    await page.locator("dialog#flash-dialog").screenshot({ path: path.join(ARTIFACTS, "12c-phone-flash-edit.png") });
    await page.click("dialog#flash-dialog button:has-text('Close')");
    await openBoard("mp-1");
    await waitTerm(/^>>>/m); // joining an idle MicroPython board shows a fresh prompt (the board printed none before)
    await assertFits("the console page");
    await shot("13-phone-mp-console");
    await part(".console-box", "13a-phone-console");
  });

  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
});
