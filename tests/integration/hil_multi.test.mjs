// Multi-board HIL tests and spec files (issue 21): `corral test --spec` with roles leased together
// (all or none) on virtual ESP32s running scripted apps, a capture of one board sent to another
// through ${ROLE.NAME}, one JUnit testsuite per role, two such tests at once on 3 boards (no
// deadlock, no board shared), a clear refusal without waiting, bad specs and bad group requests.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, api, startCorrald, startVboard, corral } from "./lib.mjs";
import { MKIMAGE } from "./esp_lib.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "corral-hilm-"));

function appImage(name, script, out = path.join(dir, `${name}.bin`)) {
  const js = path.join(dir, `${name}.json`);
  writeFileSync(js, JSON.stringify(script));
  execFileSync(MKIMAGE, ["--chip", "esp32", "--app-script", js, "-o", out], { stdio: "ignore" });
  return out;
}

function parseJunit(file) {
  const py = `
import json, sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
print(json.dumps([{"name": s.get("name"), "tests": int(s.get("tests")), "failures": int(s.get("failures")),
  "errors": int(s.get("errors")), "cases": [c.get("name") for c in s.findall("testcase")]} for s in r.findall("testsuite")]))`;
  return new Promise((resolve, reject) =>
    execFile("python3", ["-c", py, file], (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(JSON.parse(out)))));
}

/** A spec: ap prints token, sta must receive it through send and echo it back. */
function writeSpec(name, token, extra = {}) {
  const ap = appImage(`${name}-ap`, { steps: [{ print: "ap up" }, { delay_ms: 50 }, { print: `token=${token}` }, { delay_ms: 3000 }] });
  const sta = appImage(`${name}-sta`, { steps: [{ print: "sta ready" }, { wait_for: "\n" }, { print: "sta done" }] });
  const spec = {
    name, timeout_s: 120, wait_s: 0, ...extra,
    roles: {
      ap: { family: "esp32", firmware: path.basename(ap), steps: [{ expect_re: "token=(?<token>[0-9a-z]+)" }] },
      sta: { family: "esp32", firmware: path.basename(sta), steps: [{ expect: "sta ready" }, { send: "${ap.token}", timeout_ms: 60000 },
        { expect: token }, { expect: "sta done" }] },
    },
  };
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

describe("corral test --spec with several boards by role", () => {
  let d;
  const boards = [];
  before(async () => {
    for (let i = 0; i < 3; i++) boards.push(await startVboard("esp32", ["--no-pacing"]));
    d = await startCorrald({ args: boards.flatMap((b, i) => ["--port", `e${i}=${b.endpoint},family=esp32`]) });
  });
  after(async () => {
    await d?.stop();
    for (const b of boards) await b.stop();
  });

  test("a two-board test: the token ap prints reaches sta through send; one JUnit testsuite per role", async () => {
    const spec = writeSpec("pair", "k9x2q7");
    const junit = path.join(dir, "pair.xml");
    const r = await corral(["test", "--spec", spec, "--junit", junit, "--json"], d.url);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.roles.ap.result.captures.token, "k9x2q7");
    assert.equal(out.roles.sta.result.steps_done, 4);
    assert.notEqual(out.roles.ap.board, out.roles.sta.board);
    const x = await parseJunit(junit);
    assert.deepEqual(x.map((s) => [s.name, s.tests, s.failures, s.errors]),
      [[`corral.ap.${out.roles.ap.board}`, 1, 0, 0], [`corral.sta.${out.roles.sta.board}`, 1, 0, 0]]);
    const leases = (await api(d.url, "GET", "/api/v1/reservations")).body.reservations;
    assert.deepEqual(leases, [], "the test released its boards");
    // flashed in parallel: by the jobs' own records, each started before the other finished flashing
    const jobs = {};
    for (const role of ["ap", "sta"]) jobs[role] = (await api(d.url, "GET", `/api/v1/jobs/${out.roles[role].job}`)).body;
    const flashed = (j) => Date.parse(j.log.find((l) => l.line.startsWith("Flashed; now the expect steps")).t);
    const spans = Object.values(jobs).map((j) => [Date.parse(j.started_at), flashed(j)]);
    assert.ok(spans[0][0] < spans[1][1] && spans[1][0] < spans[0][1], `flash spans ${JSON.stringify(spans)} do not overlap`);
  });

  test("two such tests at once on 3 boards: both finish, the second waits, no board is held by both at once", async () => {
    const a = writeSpec("twoA", "aaa111", { wait_s: 200 }), b = writeSpec("twoB", "bbb222", { wait_s: 200 });
    const [ra, rb] = await Promise.all([corral(["test", "--spec", a, "--json"], d.url), corral(["test", "--spec", b, "--json"], d.url)]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const runs = [JSON.parse(ra.stdout), JSON.parse(rb.stdout)];
    assert.equal(runs[0].roles.ap.result.captures.token, "aaa111");
    assert.equal(runs[1].roles.ap.result.captures.token, "bbb222");
    const leases = [];
    for (const run of runs) {
      for (const role of ["ap", "sta"]) {
        const l = (await api(d.url, "GET", `/api/v1/reservations/${run.roles[role].reservation}`)).body;
        assert.equal(l.board, run.roles[role].board);
        assert.equal(l.state, "released");
        leases.push({ board: l.board, from: Date.parse(l.created_at), to: Date.parse(l.ended_at) });
      }
    }
    // same run: two boards; across runs: a board in both is never leased by both at the same time
    assert.notEqual(leases[0].board, leases[1].board);
    assert.notEqual(leases[2].board, leases[3].board);
    for (const x of leases.slice(0, 2))
      for (const y of leases.slice(2))
        if (x.board === y.board) assert.ok(x.to <= y.from || y.to <= x.from, JSON.stringify([x, y]));
    // with 3 boards, 4 leases: at least one board served both, so one test waited for the other
    assert.ok(new Set(leases.map((l) => l.board)).size <= 3);
  });

  test("the README's spec and its CI command line run as written", async () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("**HIL tests kept next to the code"));
    const spec = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)[1]);
    const cmds = [...section.matchAll(/(?:run|script): (corral test --spec .*)$/gm)].map((m) => m[1]);
    assert.equal(cmds.length, 2, "a GitHub and a GitLab example");
    assert.equal(cmds[0], cmds[1]);
    const [specPath] = cmds[0].split(" ").slice(cmds[0].split(" ").indexOf("--spec") + 1);
    const repo = path.join(dir, "repo"), specDir = path.dirname(path.join(repo, specPath));
    // the apps the spec names: ap prints its token; sta answers "connected" only to "join <that token>"
    for (const [role, script] of [["ap", { steps: [{ print: "AP up, token=q7w8e9" }, { delay_ms: 3000 }] }],
      ["sta", { steps: [{ write: "sta> " }, { wait_for: "join q7w8e9\n" }, { print: "connected" }] }]]) {
      const out = path.join(specDir, spec.roles[role].firmware);
      mkdirSync(path.dirname(out), { recursive: true });
      appImage(`readme-${role}`, script, out);
    }
    writeFileSync(path.join(repo, specPath), JSON.stringify(spec));
    const r = await corral(cmds[0].split(" ").slice(1), { server: d.url, cwd: repo });
    assert.equal(r.code, 0, r.stderr);
    // passing means sta printed "connected", which it does only after "join q7w8e9"
    const x = await parseJunit(path.join(repo, "hil.xml"));
    assert.deepEqual(x.map((su) => [su.name.split(".")[1], su.tests, su.failures, su.errors]), [["ap", 1, 0, 0], ["sta", 1, 0, 0]]);
  });

  test("without wait_s, a test that cannot get all its boards fails cleanly (exit 3) and takes none", async () => {
    const held = await api(d.url, "POST", "/api/v1/reservations", { owner: "holder", boards: [{ role: "x", match: {} }, { role: "y", match: {} }] });
    assert.equal(held.status, 201, JSON.stringify(held.body));
    assert.equal(held.body.reservations.length, 2);
    const r = await corral(["test", "--spec", writeSpec("busy", "ccc333")], d.url);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reserve the test's boards: Not enough of the matching boards are free for all 2 roles at once; none was taken/);
    const leases = (await api(d.url, "GET", "/api/v1/reservations")).body.reservations;
    assert.deepEqual(leases.map((l) => l.owner).sort(), ["holder", "holder"]);
    for (const l of held.body.reservations)
      assert.equal((await api(d.url, "DELETE", `/api/v1/reservations/${l.id}`, undefined, { "x-corral-lease": l.token })).status, 200);
  });

  test("bad multi-board reservation requests: 400 naming the field", async () => {
    const cases = [
      [{ boards: [] }, /'boards' must be a list of 1 to 8/],
      [{ boards: [{ role: "a", match: {} }, { role: "a", match: {} }] }, /boards\[1\]\.role: this role is given twice/],
      [{ boards: [{ role: "a b", match: {} }] }, /boards\[0\]\.role must be 1 to 32 letters/],
      [{ boards: [{ role: "a" }] }, /boards\[0\]\.match is missing/],
      [{ boards: [{ role: "a", match: { labels: "x" } }] }, /boards\[0\]\.match must be an object/],
      [{ boards: [{ role: "a", match: {} }], match: {} }, /either 'match' \(one board\) or 'boards'/],
    ];
    for (const [body, re] of cases) {
      const r = await api(d.url, "POST", "/api/v1/reservations", body);
      assert.equal(r.status, 400, JSON.stringify([body, r.body]));
      assert.match(r.body.error.message, re);
    }
    const r = await api(d.url, "POST", "/api/v1/reservations", { boards: [{ role: "a", match: { family: "esp8266" } }] });
    assert.equal(r.status, 404);
    assert.match(r.body.error.message, /No board matches role 'a'/);
    const four = await api(d.url, "POST", "/api/v1/reservations", { boards: ["a", "b", "c", "d"].map((role) => ({ role, match: {} })) });
    assert.equal(four.status, 409);
    assert.equal(four.body.error.code, "not_enough_boards");
  });

  test("bad spec files: exit 2 naming the field", async () => {
    const cases = [
      [{ roles: { ap: { family: "esp32" } } }, /roles\.ap\.steps is missing/],
      [{ roles: { ap: { family: "esp32", steps: [{ expect: "x" }], stpes: [] } } }, /roles\.ap: unknown key 'stpes'/],
      [{ steps: [{ expect: "x" }], timeout_s: "10" }, /timeout_s must be a whole number of seconds/],
      [{ roles: { sta: { steps: [{ send: "${ap.token}" }] } } }, /roles\.sta\.steps\[0\]\.send refers to role 'ap', which the spec's 'roles' does not name/],
      [{ steps: [{ expect: "x" }], reset: "yes" }, /reset must be true or false/],
      [{ steps: "x" }, /steps must be a list/],
    ];
    for (const [spec, re] of cases) {
      const f = path.join(dir, "bad.json");
      writeFileSync(f, JSON.stringify(spec));
      const r = await corral(["test", "--spec", f], d.url);
      assert.equal(r.code, 2, `${JSON.stringify(spec)}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    writeFileSync(path.join(dir, "broken.json"), "{\"steps\": [");
    const r = await corral(["test", "--spec", path.join(dir, "broken.json")], d.url);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /broken\.json:1:\d+: /);
  });
});
