// Keeps docs/architecture.md and the README's Layout table honest: every directory under daemon/
// and api/ and every mutex / rwlock field found in the C code must be named in the doc (a new
// module or lock without a line there fails); every directory must appear in the Layout table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const layout = readme.slice(readme.indexOf('## Layout'), readme.indexOf('\n## ', readme.indexOf('## Layout') + 1));

function dirs(rel) {
        const out = [rel + '/'];
        for (const e of readdirSync(join(root, rel))) {
                if (statSync(join(root, rel, e)).isDirectory()) out.push(...dirs(rel + '/' + e));
        }
        return out;
}

function sources(rel) {
        const out = [];
        for (const e of readdirSync(join(root, rel))) {
                const p = rel + '/' + e;
                if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
                else if (/\.[ch]$/.test(e)) out.push(p);
        }
        return out;
}

// Every `pthread_mutex_t name` / `pthread_rwlock_t name` (fields and statics) as "name (file)".
export function lockNames(files) {
        const found = [];
        for (const f of files) {
                const text = readFileSync(join(root, f), 'utf8');
                for (const m of text.matchAll(/pthread_(?:mutex|rwlock)_t\s+\**(\w+)/g))
                        found.push({ name: m[1], file: f });
        }
        return found;
}

const allDirs = [...dirs('daemon'), ...dirs('api')];

test('every directory under daemon/ and api/ is named in docs/architecture.md', () => {
        const missing = allDirs.filter((d) => !doc.includes('`' + d + '`'));
        assert.deepEqual(missing, [], 'add a line for these directories to docs/architecture.md');
});

test("every directory under daemon/ and api/ is in the README's Layout table", () => {
        assert.ok(layout.includes('| where | what |'), 'README has a Layout table');
        const missing = allDirs.filter((d) => d !== 'daemon/' && d !== 'daemon/engines/' && !layout.includes('`' + d));
        assert.deepEqual(missing, [], 'add these directories to the README Layout table');
});

test('every mutex in daemon/ and api/ is named in the lock section of docs/architecture.md', () => {
        const locks = lockNames([...sources('daemon'), ...sources('api')]);
        assert.ok(locks.length >= 15, `found ${locks.length} locks; the scan is broken`);
        const section = doc.slice(doc.indexOf('## Lock order'));
        // Each lock has a line naming its file's base name and its field, both in backticks.
        const lines = section.split('\n');
        const missing = locks.filter(({ name, file }) => {
                const base = file.split('/').pop();
                return !lines.some((l) => l.includes('`' + base + '`') && l.includes('`' + name + '`'));
        }).map(({ name, file }) => `${file}: ${name}`);
        assert.deepEqual(missing, [], 'add these locks to the "Lock order" section of docs/architecture.md');
});
