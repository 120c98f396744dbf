// The layering the design promises, checked in the source (no corrald needed): the daemon speaks
// corral error codes (daemon/error.h) and only api/ knows HTTP statuses, so no HTTP status
// literal is used as a status anywhere under daemon/, and nothing under daemon/ includes the HTTP
// or WebSocket libraries or an api/ header (but daemon/main.c, which starts the API server).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.[ch]$/.test(name)) out.push(p);
  }
  return out;
}

// A 4xx/5xx number used as an HTTP status: after "HTTP" or "status", before an error code's
// name ("409 board_reserved"), or handed to an error setter. Buffer sizes, delays and limits
// (char msg[512], 500 ms, MAX 512) are none of these.
const STATUS = String.raw`\b[45]\d\d\b`;
const RULES = [
  ["HTTP and a status", new RegExp(String.raw`\bHTTP\b[^\n]{0,40}?` + STATUS, "i")],
  ["the word status and a status", new RegExp(String.raw`\bstatus\b[^\n;]{0,40}?` + STATUS, "i")],
  ["a status before an error code", new RegExp(STATUS + String.raw`\s+\x60?[a-z]+_[a-z_]+\x60?`)],
  ["a status handed to an error setter", new RegExp(String.raw`error\w*\([^()\n]*,\s*` + STATUS)],
  ["an errno mapped to a status", new RegExp(String.raw`-E[A-Z]+\s*(?:=|\()\s*` + STATUS)],
];

test("no HTTP status literal under daemon/ (only api/ knows HTTP)", () => {
  const hits = [];
  const files = sources(path.join(ROOT, "daemon"));
  assert.ok(files.length > 50, `found only ${files.length} sources under daemon/`);
  for (const f of files) {
    readFileSync(f, "utf8").split("\n").forEach((line, i) => {
      for (const [why, re] of RULES)
        if (re.test(line)) hits.push(`${path.relative(ROOT, f)}:${i + 1}: ${why}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, [], hits.join("\n"));
});

test("the checks above do catch what they are for", () => {
  const caught = (line) => RULES.some(([, re]) => re.test(line));
  assert.ok(caught("return reg_error_set(err, 404, \"board_not_found\", NULL, -ENOENT, \"x\");"));
  assert.ok(caught("/* otherwise -EPERM with err 409 board_reserved */"));
  assert.ok(caught("/* Validate params before queueing (HTTP 400/422 on failure). */"));
  assert.ok(caught("e->status = 503;"));
  assert.ok(caught("conventions (-EBADMSG = 422)"));
  assert.ok(!caught("char msg[512];"));
  assert.ok(!caught("port_sleep_ms(jr_port(jr), 500);"));
  assert.ok(!caught("#define RESV_MAX_ACTIVE 512"));
});

test("daemon/ includes neither the HTTP nor the WebSocket library nor an api/ header (main.c aside)", () => {
  const api = new Set(readdirSync(path.join(ROOT, "api")).filter((n) => n.endsWith(".h")));
  const hits = [];
  for (const f of sources(path.join(ROOT, "daemon")).filter((p) => path.relative(ROOT, p) !== "daemon/main.c")) {
    readFileSync(f, "utf8").split("\n").forEach((line, i) => {
      const m = /^\s*#\s*include\s*[<"]([^>"]+)[>"]/.exec(line);
      if (m && (/^(microhttpd|libwebsockets)\.h$/.test(m[1]) || api.has(m[1])))
        hits.push(`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, [], hits.join("\n"));
});
