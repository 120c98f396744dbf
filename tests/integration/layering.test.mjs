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

// Include cycles between modules (a module is a .c file with its .h). Cycles are allowed only
// inside one concern, where a private header serves the files that implement it; each is listed
// here with why. Any other cycle (two concerns that know each other) fails.
const ALLOWED_CYCLES = new Map([
  ["daemon/store/db daemon/store/db_internal", "the db layer and its backends' private header"],
  ["daemon/store/store daemon/store/store_internal daemon/store/store_reserve", "the store and its private header; store_reserve is the disk reserve the store opens with"],
  ["daemon/power/power daemon/power/power_backends", "the power API and its backends"],
  ["daemon/reservations daemon/reservations_internal", "the leases and their private header (the lease table, shared with reservations_pick/_sync)"],
  ["daemon/jobs/job_run daemon/jobs/kinds daemon/jobs/port_memo daemon/jobs/worker daemon/jobs/worker_internal", "the worker and the job runtime it hands to each job kind"],
  ["api/api api/reply", "the REST handlers' request type and their reply helpers"],
  ["api/ws api/ws_internal", "the WebSocket server and its private header"],
  ["daemon/engines/mp/mp_repl daemon/engines/mp/mp_xfer", "the raw REPL and its verified transfer"],
]);

/** Strongly connected components (Tarjan) of size > 1 in the module include graph. */
function includeCycles(dirs) {
  const files = dirs.flatMap((d) => sources(path.join(ROOT, d))).map((p) => path.relative(ROOT, p));
  const mod = (f) => f.replace(/\.[ch]$/, "");
  const graph = new Map();
  for (const f of files) {
    for (const line of readFileSync(path.join(ROOT, f), "utf8").split("\n")) {
      const m = /^\s*#\s*include\s+"([^"]+)"/.exec(line);
      if (!m) continue;
      for (const c of files.filter((x) => x === m[1] || x.endsWith("/" + m[1])))
        if (mod(c) !== mod(f)) {
          if (!graph.has(mod(f))) graph.set(mod(f), new Set());
          graph.get(mod(f)).add(mod(c));
        }
    }
  }
  let n = 0;
  const index = new Map(), low = new Map(), stack = [], on = new Set(), out = [];
  const visit = (v) => {
    index.set(v, n); low.set(v, n); n++; stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const comp = [];
      for (let w; w !== v;) { w = stack.pop(); on.delete(w); comp.push(w); }
      if (comp.length > 1) out.push(comp.sort().join(" "));
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out.sort();
}

test("no include cycle between concerns under daemon/ and api/ (only the listed private-header ones)", () => {
  const cycles = includeCycles(["daemon", "api"]);
  const extra = cycles.filter((c) => !ALLOWED_CYCLES.has(c));
  assert.deepEqual(extra, [], `include cycles between concerns:\n${extra.join("\n")}`);
  const gone = [...ALLOWED_CYCLES.keys()].filter((c) => !cycles.includes(c));
  assert.deepEqual(gone, [], `listed cycles that no longer exist (remove them from ALLOWED_CYCLES):\n${gone.join("\n")}`);
});
