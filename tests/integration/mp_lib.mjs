// The run-job tests every MicroPython board passes the same way (the virtual board in mp.test.mjs,
// the QEMU micro:bit's firmware 1.9.2 in microbit.test.mjs): output, an uncaught exception, a timeout.
import assert from "node:assert/strict";

/**
 * Register the tests with test(name, fn) (node:test's or a wrapper); run(body, ms): a finished run
 * job on the board. traceFile: the file name the firmware's traceback gives the script's frames.
 */
export function mpRunTests(test, run, traceFile) {
  test("run reports the script's output with exit status 0", async () => {
    const j = await run({ script: "for i in range(3):\n print('line', i)\n" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.exit_status, 0);
    assert.equal(j.result.stdout, "line 0\r\nline 1\r\nline 2\r\n");
    assert.equal(j.result.stderr, "");
    assert.equal(typeof j.result.duration_ms, "number");
  });

  test("run with an uncaught exception exits 1 with its type, message and line parsed", async () => {
    const j = await run({ script: "def f():\n raise ValueError('bad value 7')\nprint('before')\nf()\n" });
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.exit_status, 1);
    assert.equal(j.result.exception_type, "ValueError");
    assert.equal(j.result.exception_message, "bad value 7");
    assert.equal(j.result.exception_line, 2);
    assert.equal(j.result.stdout, "before\r\n");
    // The script's own frames and line numbers: nothing of the transfer helper it ran through.
    assert.equal(j.result.stderr, `Traceback (most recent call last):\r\n  File "${traceFile}", line 4, in <module>\r\n` +
      `  File "${traceFile}", line 2, in f\r\nValueError: bad value 7\r\n`);
  });

  test("run still running at its timeout_s exits 124, and the next job on the board succeeds", async () => {
    const j = await run({ script: "print('start')\nwhile True:\n pass\n", timeout_s: 2 }, 30000);
    assert.equal(j.state, "succeeded", JSON.stringify(j.error));
    assert.equal(j.result.exit_status, 124);
    assert.equal(j.result.stdout, "start\r\n");
    assert.equal(j.result.board_usable, true);
    assert.ok(j.result.duration_ms >= 2000, `the script got its whole 2 s (job took ${j.result.duration_ms} ms)`);
    const next = await run({ script: "print(6*7)" });
    assert.equal(next.state, "succeeded", JSON.stringify(next.error));
    assert.equal(next.result.stdout, "42\r\n");
  });
}
