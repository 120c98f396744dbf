// Input edges (issue 14, finding 6), each as the request that used to get through: two 'file'
// parts in one upload, an upload cut short by SIGKILL, an empty path segment, URLs decoded twice
// (%00 and %2500), a negative events cursor, and a NUL byte inside Authorization or Cookie.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { api, startCorrald, waitFor } from "./lib.mjs";

const SECRET = "operator-secret-edges-9";
const sha = (s) => createHash("sha256").update(s).digest("hex");

/** Send raw bytes, resolve {status, headers, body} of the one answer. */
function raw(base, bytes) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.end(bytes));
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => { buf = Buffer.concat([buf, d]); });
    sock.on("error", reject);
    sock.on("close", () => {
      const text = buf.toString("latin1");
      const [head, ...rest] = text.split("\r\n\r\n");
      const status = Number((head.match(/^HTTP\/1\.\d (\d{3})/) || [])[1]);
      const headers = Object.fromEntries(head.split("\r\n").slice(1).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      }));
      resolve({ status, headers, body: rest.join("\r\n\r\n") });
    });
  });
}
const req = (method, p, extra = "") => `${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`;

describe("input edges (no tokens)", () => {
  let d;
  before(async () => { d = await startCorrald(); });
  after(async () => { await d?.stop(); });

  test("two 'file' parts in one multipart upload are refused (400 duplicate_file), nothing is stored", async () => {
    const fd = new FormData();
    fd.append("file", new Blob([randomBytes(1000)]), "a.bin");
    fd.append("file", new Blob([randomBytes(1000)]), "b.bin");
    const res = await fetch(`${d.url}/api/v1/firmware`, { method: "POST", body: fd });
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error.code, "duplicate_file");
    assert.deepEqual((await api(d.url, "GET", "/api/v1/firmware")).body.firmware, []);
    const fw = path.join(d.stateDir, "firmware");
    assert.deepEqual(existsSync(fw) ? readdirSync(fw) : [], [], "no temp file is left once the 400 is read");
    const one = new FormData();
    one.append("file", new Blob([randomBytes(1000)]), "a.bin");
    assert.equal((await fetch(`${d.url}/api/v1/firmware`, { method: "POST", body: one })).status, 201);
  });

  test("an empty path segment is 400 bad_path, never 500", async () => {
    for (const p of ["/api/v1//firmware", "/api/v1/boards//jobs", "//api/v1/boards"]) {
      const r = await raw(d.url, req("POST", p, "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n") + "abcd");
      assert.notEqual(r.status, 500, `${p}: ${r.body}`);
      if (p.startsWith("/api/")) {
        assert.equal(r.status, 400, `${p}: ${r.body}`);
        assert.equal(JSON.parse(r.body).error.code, "bad_path");
      }
    }
  });

  test("a URL is percent-decoded once: %00 is 400, %2500 is the literal name '%00'", async () => {
    const nul = await raw(d.url, req("GET", "/api/v1/boards/%00"));
    assert.equal(nul.status, 400, nul.body);
    assert.equal(JSON.parse(nul.body).error.code, "bad_path");
    const twice = await raw(d.url, req("GET", "/api/v1/boards/%2500"));
    assert.equal(twice.status, 404, twice.body);
    assert.equal(JSON.parse(twice.body).error.code, "board_not_found");
    const enc = await raw(d.url, req("GET", "/api/v1/b%6Fards"));
    assert.equal(enc.status, 200, enc.body);
    assert.ok(Array.isArray(JSON.parse(enc.body).boards));
    // Query values too: decoded once.
    const q = await api(d.url, "GET", "/api/v1/firmware?chip=esp%2532");
    assert.equal(q.status, 200);
  });

  test("malformed request heads get corral's JSON error, never libmicrohttpd's HTML page", async () => {
    const cases = [
      ["GARBAGE\r\n\r\n", 400, "bad_request"],
      ["GET  HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"],
      ["GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "bad_request"],
      ["GET /api/v1/health HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"],
      [`GET /${"a".repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, "header_too_large"],
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20000)}\r\n\r\n`, 431, "header_too_large"],
    ];
    for (const [bytes, status, code] of cases) {
      const r = await raw(d.url, bytes);
      const what = JSON.stringify(bytes.slice(0, 40));
      assert.equal(r.status, status, what);
      assert.match(r.headers["content-type"] || "", /^application\/json/, what);
      const e = JSON.parse(r.body).error;
      assert.equal(e.code, code, what);
      assert.ok(e.message.length > 10, what);
    }
    // The daemon still answers a well-formed request afterwards.
    assert.equal((await api(d.url, "GET", "/api/v1/health")).status, 200);
  });

  test("events?since= takes only a sequence number: -1, +1 and ' 1' are 400", async () => {
    for (const v of ["-1", "%2B1", "%201", "1x", ""]) {
      const r = await api(d.url, "GET", `/api/v1/events?since=${v}`);
      assert.equal(r.status, 400, `since=${v}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_filter");
    }
    assert.equal((await api(d.url, "GET", "/api/v1/events?since=0")).status, 200);
  });
});

describe("input edges (tokens)", () => {
  let d, dir;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "corral-edges-"));
    writeFileSync(path.join(dir, "corrald.conf"), `[token ops]\nrole = operator\nsecret = sha256:${sha(SECRET)}\n`);
    d = await startCorrald({ args: ["--config", path.join(dir, "corrald.conf")] });
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a NUL inside Authorization does not cut the token short: 401, not accepted", async () => {
    const ok = await raw(d.url, req("GET", "/api/v1/boards", `Authorization: Bearer ${SECRET}\r\n`));
    assert.equal(ok.status, 200, ok.body);
    const spaced = await raw(d.url, req("GET", "/api/v1/boards", `Authorization: Bearer ${SECRET}   \r\nX-After: 1\r\n`));
    assert.equal(spaced.status, 200, spaced.body);
    const nul = await raw(d.url, req("GET", "/api/v1/boards", `Authorization: Bearer ${SECRET}\0junk\r\n`));
    assert.equal(nul.status, 401, nul.body);
    assert.equal(JSON.parse(nul.body).error.code, "invalid_token");
    const login = await api(d.url, "POST", "/api/v1/login", { token: SECRET });
    const cookie = login.headers.get("set-cookie").split(";")[0];
    const c = await raw(d.url, req("GET", "/api/v1/boards", `Cookie: ${cookie}\0x\r\n`));
    assert.equal(c.status, 401, c.body);
  });
});

test("a SIGKILL mid-upload leaves a firmware/.upload-* temp file; the next start removes it", async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), "corral-edges-kill-"));
  try {
    const d1 = await startCorrald({ stateDir });
    const u = new URL(d1.url);
    const r = http.request({ host: u.hostname, port: u.port, path: "/api/v1/firmware", method: "POST",
      headers: { "content-type": "application/octet-stream", "content-length": 1024 * 1024 } });
    r.on("error", () => {});
    r.write(randomBytes(128 * 1024));
    const fw = path.join(stateDir, "firmware");
    const temps = () => (existsSync(fw) ? readdirSync(fw).filter((f) => f.startsWith(".upload-")) : []);
    await waitFor(() => temps().length === 1, 10000, "the upload's temp file");
    await d1.stop("SIGKILL");
    r.destroy();
    assert.equal(temps().length, 1, "precondition: the killed upload left its temp file");
    const d2 = await startCorrald({ stateDir });
    try {
      assert.deepEqual(temps(), []);
      assert.match(d2.stderr(), /removed 1 unfinished upload/);
    } finally {
      await d2.stop();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});
