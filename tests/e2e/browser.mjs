// Headless Chromium for the web e2e tests (Debian's, driven by playwright-core): one launch with the
// lab's flags on a persistent profile, screenshots into an artifacts directory, and steps that skip
// the rest of a flow after a failed step (screenshotting the failure).
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Launch Chromium on profile directory profileDir; opts go to launchPersistentContext (viewport,
 * acceptDownloads...). Returns {ctx, page, pageErrors}: the first page (15 s default timeout) and
 * the messages of the uncaught errors it throws. The caller closes ctx.
 */
export async function launch(profileDir, opts = {}) {
  const ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, ...opts,
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(15000);
  const pageErrors = [];
  page.on("pageerror", (e) => { pageErrors.push(e.message); });
  return { ctx, page, pageErrors };
}

/** shot(name): a full-page screenshot of getPage() to dir/name.png. */
export const screenshots = (dir, getPage) => (name) =>
  getPage().screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });

/**
 * step(name, fn) for a flow in test t: runs fn as subtest name; after a step failed, it shots
 * "failed-<name>" and every later step is skipped ("an earlier step failed").
 */
export function steps(t, shot) {
  let failed = false;
  return async (name, fn) => {
    if (failed) return t.test(name, { skip: "an earlier step failed" }, () => {});
    return t.test(name, async () => {
      try { await fn(); } catch (e) {
        failed = true;
        await shot(`failed-${name.replace(/\W+/g, "-")}`).catch(() => {});
        throw e;
      }
    });
  };
}
