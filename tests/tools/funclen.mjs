// Lists C functions whose body is longer than a limit (default 80 lines), for the layering test
// and by hand: `node tests/tools/funclen.mjs [limit] [dir...]` (dirs default to daemon api).
// A function is a top-level `{` block whose header (the text since the previous top-level `;`,
// `}` or preprocessor line) ends in `)` and has no `=`: tables and array initialisers
// (`static const x t[] = {`), structs, enums and unions are not functions and are never counted.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Comments, string and char literals blanked (newlines kept) so their braces do not count.
export function stripC(src) {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g,
    (m) => m.replace(/[^\n]/g, " "));
}

// [{ name, line, body }] for every function in one C source text; body = lines strictly between
// the line of the opening brace and the line of the closing brace.
export function functionsIn(src) {
  const lines = stripC(src).split("\n").map((l) => (/^\s*#/.test(l) ? "" : l));
  const text = lines.join("\n");
  const out = [];
  let depth = 0, header = "", start = -1, line = 1, name = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") { line++; if (depth === 0) header += " "; continue; }
    if (depth === 0) {
      if (c === "{") {
        const h = header.trim();
        const m = /([A-Za-z_]\w*)\s*\([^]*\)\s*$/.exec(h);
        name = m && !h.includes("=") && !/^(struct|enum|union)\b[^(]*$/.test(h) ? m[1] : null;
        start = line;
        depth = 1;
        header = "";
      } else if (c === ";" || c === "}") header = "";
      else header += c;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      if (name) out.push({ name, line: start, body: Math.max(0, line - start - 1) });
      header = "";
    }
  }
  return out;
}

function sources(dir) {
  const out = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.c$/.test(n)) out.push(p);
  }
  return out;
}

// "file:line name() N lines" for each function over limit under the dirs (relative to root).
export function longFunctions(root, dirs = ["daemon", "api"], limit = 80) {
  const hits = [];
  for (const d of dirs)
    for (const f of sources(path.join(root, d)))
      for (const fn of functionsIn(readFileSync(f, "utf8")))
        if (fn.body > limit) hits.push(`${path.relative(root, f)}:${fn.line} ${fn.name}() ${fn.body} lines`);
  return hits;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const limit = Number(process.argv[2] || 80);
  const dirs = process.argv.length > 3 ? process.argv.slice(3) : undefined;
  const hits = longFunctions(root, dirs, limit);
  for (const h of hits) console.log(h);
  process.exit(hits.length ? 1 : 0);
}
