// The run-job tests every MicroPython board passes the same way (the virtual board in mp.test.mjs,
// the QEMU micro:bit's firmware 1.9.2 in microbit.test.mjs): output, an uncaught exception, a
// timeout, a cancel.
import assert from "node:assert/strict";
import { api, eventsSince, waitFor, waitJob } from "./lib.mjs";

/**
 * Register the tests with test(name, fn) (node:test's or a wrapper); run(body, ms): a finished run
 * job on the board. traceFile: the file name the firmware's traceback gives the script's frames.
 */
export function mpRunTests(test, run, traceFile) {
  /** The result of a run job that succeeded (the job did) with exit status want. */
  const exited = async (body, want, ms) => {
    const j = await run(body, ms);
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.exit_status, want);
    return j.result;
  };

  test("run reports the script's output with exit status 0", async () => {
    const r = await exited({ script: "for i in range(3):\n print('line', i)\n" }, 0);
    assert.equal(r.stdout, "line 0\r\nline 1\r\nline 2\r\n");
    assert.equal(r.stderr, "");
    assert.equal(typeof r.duration_ms, "number");
  });

  test("run with an uncaught exception exits 1 with its type, message and line parsed", async () => {
    const r = await exited({ script: "def f():\n raise ValueError('bad value 7')\nprint('before')\nf()\n" }, 1);
    assert.deepEqual([r.exception_type, r.exception_message, r.exception_line], ["ValueError", "bad value 7", 2]);
    assert.equal(r.stdout, "before\r\n");
    // The script's own frames and line numbers: nothing of the transfer helper it ran through.
    assert.equal(r.stderr, `Traceback (most recent call last):\r\n  File "${traceFile}", line 4, in <module>\r\n` +
      `  File "${traceFile}", line 2, in f\r\nValueError: bad value 7\r\n`);
  });

  test("run still running at its timeout_s exits 124, and the next job on the board succeeds", async () => {
    const r = await exited({ script: "print('start')\nwhile True:\n pass\n", timeout_s: 2 }, 124, 30000);
    assert.equal(r.stdout, "start\r\n");
    assert.equal(r.board_usable, true);
    assert.ok(r.duration_ms >= 2000, `the script got its whole 2 s (job took ${r.duration_ms} ms)`);
    assert.equal((await exited({ script: "print(6*7)" }, 0)).stdout, "42\r\n");
  });
}

/** Register the cancel test for board on the corrald at url() (read when the test runs). */
export function mpCancelTest(test, run, url, board) {
  test("a cancelled run keeps its output so far, and the next job finds the board usable", async () => {
    // A cancelled job cannot send Ctrl-C itself (its port reads are cancelled); the next job's
    // connect interrupts the busy board (the vboard restarts a wasm loop that does not yield).
    const since = (await api(url(), "GET", "/api/v1/events")).body.last_seq;
    const r = await api(url(), "POST", `/api/v1/boards/${board}/jobs`, { kind: "run", script: "print('go')\nwhile True:\n pass\n" });
    await waitFor(async () => (await eventsSince(url(), since)).some((e) => e.type === "job.output" && e.data.job === r.body.id),
      15000, "the script to start");
    assert.equal((await api(url(), "POST", `/api/v1/jobs/${r.body.id}/cancel`)).status, 202);
    const j = await waitJob(url(), r.body.id, 15000);
    assert.equal(j.state, "cancelled");
    assert.equal(j.result.stdout, "go\r\n");
    const next = await run({ script: "print(6*7)" });
    assert.equal(next.state, "succeeded", JSON.stringify(next.error));
    assert.equal(next.result.stdout, "42\r\n");
  });
}
