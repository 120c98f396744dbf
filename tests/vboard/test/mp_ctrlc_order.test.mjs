// Kind micropython: Ctrl-C Ctrl-C Ctrl-B typed while the interpreter is busy with interrupts disabled are
// taken in the order they were typed once it reads the REPL again, so the banner and its prompt come last.
// Deterministic: the interpreter is held busy (micropython.kbd_intr(-1) and a loop on time.ticks_ms, which
// consumes no input) for far longer than the Ctrl-C watchdog's period (--intr-grace 60: a check every
// 30 ms), so the watchdog always sees a pending Ctrl-C with bytes typed after it. (It used to append that
// Ctrl-C behind them: Ctrl-C Ctrl-B Ctrl-C, a prompt after the banner; the lab_faults flake.)
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startVboard, Rfc2217Client, controlCmd, friendlyPrompt, T } from "./helpers.mjs";

const BANNER = 'MicroPython v1.27.0 on 2025-12-10; JS with Emscripten\r\nType "help()" for more information.\r\n>>> ';

describe("micropython kind: Ctrl-C typed while the interpreter is busy", () => {
  let vb;
  let c;
  before(async () => {
    vb = await startVboard(["micropython", "--name", "mp-ctrlc", "--intr-grace", "60"]);
    c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
  });
  after(async () => {
    c?.close();
    await vb?.kill();
  });

  test("Ctrl-C Ctrl-C Ctrl-B sent during a busy spell give the banner and its prompt last, in order", async () => {
    const boots = (await controlCmd(vb.control, "state")).state.boots;
    // One exec (the REPL turns interrupts back on for each): interrupts off, as while a REPL reads; say so;
    // then stay busy for 1.5 s without reading input.
    c.write(
      "import micropython,time;exec(\"micropython.kbd_intr(-1)\\nprint('bu'+'sy')\\nt=time.ticks_ms()\\n" +
        "while time.ticks_diff(time.ticks_ms(),t)<1500:pass\")\r",
    );
    await c.waitFor("busy\r\n");
    c.mark();
    c.write("\x03\x03\x02");
    const got = await c.waitFor(BANNER, { timeoutMs: T(15000) });
    // Typed in order, the two Ctrl-C give prompts before the banner; nothing may follow the banner's prompt.
    c.write("print('after')\r");
    const rest = await c.waitFor("after\r\n>>> ");
    assert.equal(rest, "print('after')\r\nafter\r\n>>> ", `output after the banner: ${JSON.stringify(rest)}`);
    // The busy line's prompt, one per Ctrl-C, then the banner: exactly, in that order. (With the Ctrl-C
    // appended behind the others, the watchdog then saw no progress and restarted the interpreter: a
    // KeyboardInterrupt where a Ctrl-C is a character.)
    assert.equal(got, ">>> \r\n>>> \r\n>>> \r\n" + BANNER);
    const after = (await controlCmd(vb.control, "state")).state.boots;
    assert.deepEqual(after, boots, "the interpreter was not restarted");
  });
});
