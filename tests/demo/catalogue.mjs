#!/usr/bin/env node
// The demo's firmware catalogue: MicroPython images per family made by the lab (tests/vboard/
// mkimage), uploaded with a title, version and release notes, and the newest pinned as its
// family's known-good, so the Flash dialog offers "MicroPython 1.25.0 for ESP8266 (known good)".
// Used by `make demo` (tests/demo/run) and the beginner e2e test.
//   node tests/demo/catalogue.mjs http://127.0.0.1:7070 [WORKDIR]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MKIMAGE = path.join(ROOT, "tests/vboard/mkimage");

export const CATALOGUE = [
  { family: "esp8266", chip: "esp8266", mcu: "ESP8266", version: "1.24.1", date: "2024-11-29" },
  { family: "esp8266", chip: "esp8266", mcu: "ESP8266", version: "1.25.0", date: "2025-04-15", knownGood: true },
  { family: "esp32", chip: "esp32", mcu: "ESP32", version: "1.24.1", date: "2024-11-29" },
  { family: "esp32", chip: "esp32", mcu: "ESP32", version: "1.25.0", date: "2025-04-15", knownGood: true },
];

async function call(base, method, p, body, type = "application/json") {
  const res = await fetch(base + p, { method, headers: { "content-type": type }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Upload the catalogue into corrald at base; returns [{...entry, id}]. */
export async function seedCatalogue(base, workDir) {
  const dir = workDir || mkdtempSync(path.join(tmpdir(), "corral-catalogue-"));
  const out = [];
  try {
    for (const e of CATALOGUE) {
      const file = path.join(dir, `${e.chip}-${e.version}.bin`);
      execFileSync(MKIMAGE, ["--chip", e.chip, "--version", e.version, "--date", e.date, "--flash-mode", "dio", "-o", file],
        { stdio: "ignore" });
      const q = new URLSearchParams({
        filename: `${e.mcu}_GENERIC-${e.date.replaceAll("-", "")}-v${e.version}.bin`,
        title: `MicroPython ${e.version} for ${e.mcu}`,
        family: e.family, version: e.version,
        release_notes: `MicroPython v${e.version} (${e.date}), generic ${e.mcu} build made by corral's lab ` +
          `(tests/vboard/mkimage): DIO flash mode, boots on every module.`,
      });
      const row = await call(base, "POST", `/api/v1/firmware?${q}`, readFileSync(file), "application/octet-stream");
      if (e.knownGood) await call(base, "PUT", `/api/v1/firmware/${row.id}/known-good`, JSON.stringify({ family: e.family }));
      out.push({ ...e, id: row.id });
    }
  } finally {
    if (!workDir) rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const base = process.argv[2];
  if (!base) { console.error("usage: catalogue.mjs CORRALD_URL [WORKDIR]"); process.exit(2); }
  seedCatalogue(base, process.argv[3]).then((list) => {
    for (const e of list) console.log(`${e.knownGood ? "*" : " "} MicroPython ${e.version} for ${e.mcu}  ${e.id.slice(0, 12)}`);
  }, (e) => { console.error(`catalogue: ${e.message}`); process.exit(1); });
}
