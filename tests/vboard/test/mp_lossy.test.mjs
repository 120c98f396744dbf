// Kind micropython with a lossy UART in the board->host direction (--tx-drop / --tx-corrupt / --tx-seed and
// the control command lossy-tx): the bytes the host receives are the board's output with some dropped or
// changed, seeded so the same output loses the same bytes; host->board bytes are untouched.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startVboard, Rfc2217Client, controlCmd, rawRepl, T } from "./helpers.mjs";

// What the raw REPL sends back for print('0123456789'*40): "OK", the output, the two ends and the prompt.
const CODE = "print('0123456789'*40)\x04";
const WANT = "OK" + "0123456789".repeat(40) + "\r\n\x04\x04>";

/** Is a a subsequence of b (b with some bytes removed)? */
function subsequence(a, b) {
  let j = 0;
  for (let i = 0; i < b.length && j < a.length; i++) if (a[j] === b[i]) j++;
  return j === a.length;
}

describe("micropython kind: board->host byte loss", () => {
  let vb;
  let c;
  before(async () => {
    vb = await startVboard(["micropython", "--name", "mp-tx", "--tx-drop", "2%", "--tx-corrupt", "0.5%", "--tx-seed", "5"]);
  });
  after(async () => {
    await vb?.kill();
  });
  beforeEach(async () => {
    await controlCmd(vb.control, "lossy-tx off");
    c = await Rfc2217Client.connect(vb.endpoint);
    await rawRepl(c);
  });
  afterEach(() => c.close());

  /** Send CODE with lossy-tx ARGS set just before; resolves with what arrived and the loss counters. */
  async function lossyExec(args) {
    const set = await controlCmd(vb.control, `lossy-tx ${args}`);
    assert.equal(set.ok, true, JSON.stringify(set));
    c.mark();
    c.write(CODE);
    // Wait by content: the board has passed all of its answer through the loss, then all that survived arrived.
    let st;
    const t0 = Date.now();
    for (;;) {
      st = (await controlCmd(vb.control, "state")).state.lossy_tx;
      if (st.seen >= WANT.length) break;
      if (Date.now() - t0 > T(10000)) assert.fail(`the board sent ${st.seen} of ${WANT.length} bytes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(st.seen, WANT.length, "nothing but the answer went through the loss");
    const got = await c.waitFor((t) => t.length >= WANT.length - st.dropped, { timeoutMs: T(10000) });
    return { got, st };
  }

  test("the options set the board->host loss, reported by state", async () => {
    const st = (await controlCmd(vb.control, "state")).state.lossy_tx;
    assert.equal(st.drop, 0, "beforeEach turned it off");
    // Start-up values: a fresh board with the options shows them before anything reset them.
    const vb2 = await startVboard(["micropython", "--name", "mp-tx2", "--tx-drop", "2%", "--tx-corrupt", "0.5%", "--tx-seed", "5"]);
    try {
      const s2 = (await controlCmd(vb2.control, "state")).state.lossy_tx;
      assert.equal(s2.drop, 0.02);
      assert.equal(s2.corrupt, 0.005);
      assert.equal(s2.seed, 5);
      assert.ok(s2.seen > 0, "the boot banner went through it");
      assert.equal((await controlCmd(vb2.control, "state")).state.lossy.drop, 0, "host->board is untouched");
    } finally {
      await vb2.kill();
    }
  });

  test("dropped bytes: what arrives is the answer with exactly the dropped bytes missing, the same for the same seed", async () => {
    const a = await lossyExec("20% 0 42");
    assert.ok(a.st.dropped > 40 && a.st.dropped < 130, `about 20 % of ${WANT.length} dropped: ${a.st.dropped}`);
    assert.equal(a.st.corrupted, 0);
    assert.equal(a.got.length, WANT.length - a.st.dropped);
    assert.ok(subsequence(a.got, WANT), "only removals, in order");
    const b = await lossyExec("20% 0 42");
    assert.equal(b.got, a.got, "the same seed loses the same bytes");
    const d = await lossyExec("20% 0 43");
    assert.notEqual(d.got, a.got, "another seed loses others");
  });

  test("corrupted bytes: same length, exactly the counted bytes differ", async () => {
    const a = await lossyExec("0 10% 7");
    assert.equal(a.st.dropped, 0);
    assert.ok(a.st.corrupted > 10, `some corrupted: ${a.st.corrupted}`);
    const got = a.got;
    assert.equal(got.length, WANT.length);
    let diff = 0;
    for (let i = 0; i < WANT.length; i++) diff += got[i] !== WANT[i];
    assert.equal(diff, a.st.corrupted);
  });

  test("lossy-tx off gives the answer back whole; bad arguments are refused", async () => {
    await lossyExec("30% 30% 1");
    assert.equal((await controlCmd(vb.control, "lossy-tx off")).lossy_tx.drop, 0);
    c.mark();
    c.write(CODE);
    assert.equal(await c.waitFor("\x04>"), WANT);
    const bad = await controlCmd(vb.control, "lossy-tx 2");
    assert.equal(bad.ok, false);
    assert.match(bad.error, /lossy-tx DROP: a rate from 0 to 1/);
    const seed = await controlCmd(vb.control, "lossy-tx 1% 0 x");
    assert.match(seed.error, /SEED must be a whole number/);
  });
});
