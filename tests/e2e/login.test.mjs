// The web console with auth on, in headless Chromium: the first 401 shows the login box, a wrong
// token is refused in plain words, the right one sets the session cookie and the fleet (REST and
// the /ws/v1/events stream) works with it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { silentServer, startCorrald } from "../integration/lib.mjs";
import { launch } from "./browser.mjs";

const SECRET = "web-viewer-secret-8d2f61";
let d, ctx, page, quiet, dir;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "corral-login-"));
  writeFileSync(path.join(dir, "corrald.conf"), `[token web]\nrole = viewer\nsecret = ${SECRET}\n`);
  quiet = await silentServer();
  d = await startCorrald({ args: ["--config", path.join(dir, "corrald.conf"),
    "--port", `quiet=socket://127.0.0.1:${quiet.port},family=micropython`] });
  ({ ctx, page } = await launch(path.join(dir, "chromium")));
});

after(async () => {
  await ctx?.close();
  await d?.stop();
  quiet?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("without a session the console shows the login box", async () => {
  await page.goto(d.url + "/");
  await page.locator("form.login").waitFor({ timeout: 15000 });
  assert.equal(await page.locator("form.login input[name=token]").getAttribute("type"), "password");
});

test("a wrong token is refused in the box", async () => {
  await page.fill("form.login input[name=token]", "not-the-token-at-all");
  await page.click("form.login button[type=submit]");
  await page.locator(".login-error", { hasText: "not valid" }).waitFor({ timeout: 10000 });
});

test("the right token logs in: the box goes, the fleet lists the board, events are live", async () => {
  await page.fill("form.login input[name=token]", SECRET);
  await Promise.all([page.waitForEvent("load"), page.click("form.login button[type=submit]")]);
  await page.locator('tr[data-board="quiet"]').waitFor({ timeout: 15000 });
  assert.equal(await page.locator("form.login").count(), 0);
  await page.locator("#conn[data-mode=live]").waitFor({ timeout: 15000 });
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === "corral_session");
  assert.ok(c && c.httpOnly && c.sameSite === "Strict");
});
