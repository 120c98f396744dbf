// Verified code transfer against a lossy link: a virtual MicroPython board without raw-paste whose
// UART drops 1 % of the host->board bytes (seeded, so every run loses the same bytes). Every run
// job must either print exactly what its script computes or fail as link_corrupt; every fs_put /
// fs_get round trip must give the bytes back or fail; never a wrong output, never a SyntaxError.
// LOSSY_RUNS / LOSSY_FS / LOSSY_LINES / LOSSY_SEED set the counts, script size and loss pattern
// (the defaults keep `make check` short); the totals are printed.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { control } from "./esp_lib.mjs";
import { api, runJob, startCorrald, startVboard, waitFor } from "./lib.mjs";

const RUNS = Number(process.env.LOSSY_RUNS || 4);
const FS = Number(process.env.LOSSY_FS || 3);
const LINES = Number(process.env.LOSSY_LINES || 8); // arithmetic lines per script (the "Must show" run: 30)
const B = "lossy";

/** A script whose output depends on every one of its lines and on its own source text. */
function makeScript(n) {
  const lines = ["s=1"];
  for (let k = 1; k <= LINES; k++) lines.push(`s=(s*31+${(n * 7919 + k * 104729) % 99991})%1000003`);
  const body = lines.join("\n") + "\n";
  let s = 1;
  for (let k = 1; k <= LINES; k++) s = (s * 31 + ((n * 7919 + k * 104729) % 99991)) % 1000003;
  // A checksum of the script's own source: the body above, kept as text in the script itself.
  let c = 0;
  for (const [i, b] of [...Buffer.from(body)].entries()) c = (c + (i + 1) * b) % 1000003;
  const script = body + `t=${JSON.stringify(body)}\n` +
    "c=0\nfor i,b in enumerate(t.encode()):\n c=(c+(i+1)*b)%1000003\n" + "print('s=%d c=%d'%(s,c))\n";
  return { script, want: `s=${s} c=${c}\r\n` };
}

function classify(j, want) {
  if (j.state === "succeeded" && j.result.exit_status === 0 && j.result.stdout === want) return "succeeded";
  if (j.state === "failed" && j.error?.code === "link_corrupt") {
    assert.match(j.error.message, /(about|more than) \d+\.\d+% of the bytes sent were lost or changed/, j.error.message);
    return "link_corrupt";
  }
  if (JSON.stringify(j.result || {}).includes("SyntaxError")) return "syntax_error";
  if (j.state === "succeeded") return "wrong";
  return `other:${j.error?.code}`;
}

describe("verified transfer over a link that loses 1% of the host->board bytes", () => {
  let d, vb;
  before(async () => {
    vb = await startVboard("micropython", ["--no-raw-paste", "--rx-drop", "1%", "--rx-seed", process.env.LOSSY_SEED || "1313", "--name", B]);
    d = await startCorrald({ args: ["--port", `${B}=${vb.endpoint},family=micropython`] });
    await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${B}`)).body.state === "online", 10000, "online");
  });
  after(async () => {
    await d?.stop();
    await vb?.stop();
  });

  test(`${RUNS} run jobs: each prints exactly its result or fails as link_corrupt`, async () => {
    const counts = {};
    for (let n = 0; n < RUNS; n++) {
      const { script, want } = makeScript(n);
      const j = await runJob(d.url, B, { kind: "run", script }, 120000);
      const c = classify(j, want);
      counts[c] = (counts[c] || 0) + 1;
      if (c !== "succeeded" && c !== "link_corrupt")
        assert.fail(`run ${n}: ${c}: ${JSON.stringify({ state: j.state, error: j.error, result: j.result })}`);
    }
    const st = (await control(vb.control, "state")).state.lossy;
    console.log(`# lossy runs: ${JSON.stringify(counts)}; the board lost ${st.dropped} of ${st.seen} bytes`);
    assert.ok(st.dropped > 0, "the link did lose bytes");
    assert.ok((counts.succeeded || 0) > 0, "some runs got through");
  });

  test(`${FS} fs_put/fs_get round trips: the same bytes back, or a failure`, async () => {
    const counts = {};
    for (let n = 0; n < FS; n++) {
      const data = crypto.createHash("sha256").update(`file ${n}`).digest();
      const content = Buffer.concat([data, Buffer.from(`print('file ${n}')\n`.repeat(Number(process.env.LOSSY_FS_REPEAT || 3))), data]);
      const path = `/f${n % 3}.bin`;
      const p = await runJob(d.url, B, { kind: "fs_put", path, content_b64: content.toString("base64") }, 120000);
      let c;
      if (p.state !== "succeeded") {
        c = p.error?.code === "link_corrupt" ? "link_corrupt" : `put_failed:${p.error?.code}`;
        if (c === "link_corrupt") assert.match(p.error.message, /\d+\.\d+% of the bytes sent were lost or changed/);
      } else {
        const g = await runJob(d.url, B, { kind: "fs_get", path }, 120000);
        if (g.state !== "succeeded") c = g.error?.code === "link_corrupt" ? "link_corrupt" : `get_failed:${g.error?.code}`;
        else c = Buffer.from(g.result.content_b64, "base64").equals(content) ? "identical" : "different";
      }
      counts[c] = (counts[c] || 0) + 1;
      if (c !== "identical" && c !== "link_corrupt") assert.fail(`round trip ${n}: ${c}: ${JSON.stringify(p.error)}`);
    }
    console.log(`# lossy fs round trips: ${JSON.stringify(counts)}`);
    assert.ok((counts.identical || 0) > 0, "some round trips got through");
  });

  test("a link that loses a third of the bytes fails the job as link_corrupt, naming the loss rate", async () => {
    await control(vb.control, "lossy 0.33 0 99");
    try {
      const j = await runJob(d.url, B, { kind: "run", script: "print('never')\n" }, 300000);
      assert.equal(j.state, "failed", JSON.stringify(j.result));
      assert.equal(j.error.code, "link_corrupt", JSON.stringify(j.error));
      // An estimate from the share of damaged steps ("about"), or a lower bound when none got through.
      const m = /(about|more than) (\d+\.\d+)% of the bytes sent were lost or changed/.exec(j.error.message);
      assert.ok(m, `the message names the loss rate: ${j.error.message}`);
      const pct = Number(m[2]);
      if (m[1] === "about") assert.ok(pct >= 10 && pct <= 60, `about 33 % lost: ${j.error.message}`);
      else assert.ok(pct >= 1 && pct <= 33, `a lower bound of the 33 % lost: ${j.error.message}`);
    } finally {
      await control(vb.control, "lossy off");
    }
    const ok = await runJob(d.url, B, { kind: "run", script: "print(6*7)\n" }, 60000);
    assert.equal(ok.state, "succeeded", JSON.stringify(ok.error));
    assert.equal(ok.result.stdout, "42\r\n");
  });
});
