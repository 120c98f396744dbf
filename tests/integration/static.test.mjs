// The web console's static files: no way out of the web root (.., encoded and double-encoded
// .., absolute paths, backslashes, symlinks), the right content types and cache headers.
// Requests are written byte for byte over node:net: fetch() would normalise the paths.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startCorrald } from "./lib.mjs";

const SECRET = "outside-the-web-root-4b1d";

/** Send one raw request line; resolves {status, headers (lowercase names), body}. */
function raw(url, target, { method = "GET", headers = {} } = {}) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname);
    const chunks = [];
    s.on("data", (d) => chunks.push(d));
    s.on("error", reject);
    s.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = text.slice(0, split).split("\r\n");
      const status = Number(head[0].split(" ")[1]);
      const h = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(":");
        h[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status, headers: h, body: text.slice(split + 4) });
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    s.write(`${method} ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${extra}Connection: close\r\n\r\n`);
  });
}

describe("static files", () => {
  let d, top, root;
  before(async () => {
    top = mkdtempSync(path.join(tmpdir(), "corral-static-"));
    root = path.join(top, "web");
    mkdirSync(path.join(root, "vendor"), { recursive: true });
    writeFileSync(path.join(root, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(path.join(root, "app.js"), "export {};\n");
    writeFileSync(path.join(root, "style.css"), "body{}\n");
    writeFileSync(path.join(root, "vendor", "xterm.js"), "/* xterm */\n");
    writeFileSync(path.join(root, "a..b.js"), "// dots inside a name are fine\n");
    writeFileSync(path.join(top, "secret.txt"), SECRET);                 // next to the root, not in it
    mkdirSync(path.join(top, "web-private"));
    writeFileSync(path.join(top, "web-private", "x.txt"), SECRET);       // a sibling sharing the prefix
    symlinkSync(path.join(top, "secret.txt"), path.join(root, "leak.txt"));
    symlinkSync(top, path.join(root, "up"));
    symlinkSync("app.js", path.join(root, "alias.js"));                  // inside the root: allowed
    d = await startCorrald({ args: ["--web-root", root] });
  });
  after(async () => { await d.stop(); rmSync(top, { recursive: true, force: true }); });

  const refused = (r) => {
    assert.ok(r.status === 400 || r.status === 404, `status ${r.status}`);
    assert.ok(!r.body.includes(SECRET) && !r.body.includes("root:x:0:0"), "no file content leaked");
  };

  test("GET /../../etc/passwd is refused", async () => {
    const r = await raw(d.url, "/../../etc/passwd");
    assert.equal(r.status, 400);
    refused(r);
  });

  test("percent-encoded dots /%2e%2e/%2e%2e/etc/passwd are refused", async () => {
    const r = await raw(d.url, "/%2e%2e/%2e%2e/etc/passwd");
    assert.equal(r.status, 400);
    refused(r);
  });

  test("double-encoded dots /%252e%252e/ are refused", async () => {
    refused(await raw(d.url, "/%252e%252e/%252e%252e/etc/passwd"));
    refused(await raw(d.url, "/%252e%252e/"));
  });

  test("mixed and upper-case encodings are refused", async () => {
    refused(await raw(d.url, "/.%2E/secret.txt"));
    refused(await raw(d.url, "/%2E%2E%2fsecret.txt"));
  });

  test("backslashes are refused", async () => {
    refused(await raw(d.url, "/..\\secret.txt"));
    refused(await raw(d.url, "/%5c..%5csecret.txt"));
  });

  test("//etc/passwd stays inside the web root", async () => {
    const r = await raw(d.url, "//etc/passwd");
    assert.equal(r.status, 404);
    refused(r);
  });

  test("an absolute path or a target without a leading slash is not a way out", async () => {
    refused(await raw(d.url, "/etc/passwd"));
    refused(await raw(d.url, "-private/x.txt"));
  });

  test("an absolute-form target (http://host/path, RFC 9112 3.2.2) is refused with 400, never served", async () => {
    // corrald is an origin server, not a proxy: it answers absolute-form with 400, so none of
    // these can reach a file, inside the web root or outside it.
    const { host } = new URL(d.url);
    for (const target of [`http://${host}/../secret.txt`, `http://${host}/%2e%2e/secret.txt`,
      `http://${host}/../web-private/x.txt`, `http://${host}//etc/passwd`, `http://${host}/etc/passwd`,
      "http://evil.example/../../etc/passwd", "file:///etc/passwd", `http://${host}/app.js`]) {
      const r = await raw(d.url, target);
      assert.equal(r.status, 400, `${target}: status ${r.status}`);
      refused(r);
      assert.ok(!r.body.includes("export {}"), `${target}: a web root file was served`);
    }
  });

  test("a symlink inside the web root pointing outside is not followed", async () => {
    const r = await raw(d.url, "/leak.txt");
    assert.equal(r.status, 404);
    refused(r);
    refused(await raw(d.url, "/up/secret.txt"));
  });

  test("a symlink that stays inside the web root is served", async () => {
    const r = await raw(d.url, "/alias.js");
    assert.equal(r.status, 200);
    assert.equal(r.body, "export {};\n");
  });

  test("a name with two dots inside it is an ordinary file", async () => {
    assert.equal((await raw(d.url, "/a..b.js")).status, 200);
  });

  test("/index.html is text/html, revalidated (no-cache) and not framable", async () => {
    const r = await raw(d.url, "/index.html");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.headers["x-frame-options"], "DENY");
    assert.match(r.headers.etag, /^".+"$/);
  });

  test("/ serves index.html", async () => {
    const r = await raw(d.url, "/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
  });

  test("/vendor/xterm.js is JavaScript cached for a day", async () => {
    const r = await raw(d.url, "/vendor/xterm.js");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(r.headers["cache-control"], "public, max-age=86400");
  });

  test("CSS is text/css", async () => {
    assert.equal((await raw(d.url, "/style.css")).headers["content-type"], "text/css; charset=utf-8");
  });

  test("a matching If-None-Match gets 304 without a body", async () => {
    const first = await raw(d.url, "/app.js");
    const r = await raw(d.url, "/app.js", { headers: { "If-None-Match": first.headers.etag } });
    assert.equal(r.status, 304);
    assert.equal(r.body, "");
  });

  test("a missing file is a JSON 404", async () => {
    const r = await raw(d.url, "/nope.js");
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).error.code, "not_found");
  });

  test("POST on a static path is 405", async () => {
    assert.equal((await raw(d.url, "/index.html", { method: "POST", headers: { "Content-Length": "0" } })).status, 405);
  });
});
