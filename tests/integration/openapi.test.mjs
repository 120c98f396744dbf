// api/openapi.yaml is a valid YAML document (read by Debian's python3-yaml, as any OpenAPI tool
// would read it) and a coherent OpenAPI 3 description: every $ref points at something that exists
// and every operation lists its responses. Two descriptions once held ": " unquoted and the file did
// not parse at all; tests/unit/test_reply.c reads only its error codes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { ROOT } from "./lib.mjs";

const FILE = path.join(ROOT, "api/openapi.yaml");
const PY = "/usr/bin/python3"; // Debian's, with python3-yaml (make deps)
const load = (file) => JSON.parse(execFileSync(PY, ["-c",
  "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", file], { encoding: "utf8" }));

test("openapi.yaml parses as YAML and is an OpenAPI 3 document with paths", () => {
  const doc = load(FILE);
  assert.match(String(doc.openapi), /^3\./);
  assert.ok(Object.keys(doc.paths).length > 20, `${Object.keys(doc.paths).length} paths`);
});

test("every $ref resolves and every operation has responses", () => {
  const doc = load(FILE);
  const bad = [];
  const walk = (node, where) => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (!node || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref") {
        const target = String(v).replace(/^#\//, "").split("/").reduce((o, key) => o?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
        if (!String(v).startsWith("#/") || target === undefined) bad.push(`${where}: $ref ${v}`);
      } else walk(v, `${where}/${k}`);
    }
  };
  walk(doc, "");
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of ["get", "put", "post", "delete", "patch"]) {
      if (item[m] && !Object.keys(item[m].responses || {}).length) bad.push(`${m.toUpperCase()} ${p}: no responses`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the loader refuses what broke the file before (an unquoted ': ' in a description)", () => {
  assert.throws(() => execFileSync(PY, ["-c", "import sys, yaml; yaml.safe_load(sys.stdin)"],
    { input: "a:\n  description: see {\"x\": 1} here\n", encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }),
  (e) => /mapping values are not allowed/.test(e.stderr));
});
