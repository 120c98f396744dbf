// Kind micropython over its real RFC 2217 endpoint: REPL behaviour a daemon relies on.
// One board for the file; every test starts from a fresh client at the friendly prompt.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startVboard, Rfc2217Client, controlCmd, friendlyPrompt, rawRepl, T } from "./helpers.mjs";

const BANNER = /MicroPython v1\.27\.0 on \S+; JS with Emscripten\r\nType "help\(\)" for more information\.\r\n>>> $/;

describe("micropython kind", () => {
  let vb;
  let c;
  before(async () => {
    vb = await startVboard(["micropython", "--name", "mp-repl"]);
  });
  after(async () => {
    await vb?.kill();
  });
  beforeEach(async () => {
    c = await Rfc2217Client.connect(vb.endpoint);
    await friendlyPrompt(c);
  });
  afterEach(() => c.close());

  const exec = async (line, until = ">>> ") => {
    c.mark();
    c.write(line + "\r");
    return c.waitFor(until);
  };

  test("raw REPL exec of print(6*7) answers exactly OK42\\r\\n\\x04\\x04>", async () => {
    await rawRepl(c);
    c.write("print(6*7)\x04");
    const got = await c.waitFor("\x04>");
    assert.equal(got, "OK42\r\n\x04\x04>");
  });

  test("friendly REPL ends every line with CRLF", async () => {
    const got = await exec("print('a\\nb')");
    assert.equal(got, "print('a\\nb')\r\na\r\nb\r\n>>> ");
  });

  test("Ctrl-D soft reset prints MPY: soft reboot and a fresh banner", async () => {
    await exec("x = 1");
    c.mark();
    c.write("\x04");
    const got = await c.waitFor(BANNER);
    assert.match(got, /^\r\nMPY: soft reboot\r\nMicroPython v1\.27\.0/);
    assert.match(await exec("x"), /NameError: name 'x' isn't defined/);
  });

  test("a file written survives a soft reset", async () => {
    await exec("f = open('keep.txt', 'w'); f.write('kept'); f.close()");
    c.mark();
    c.write("\x04");
    await c.waitFor(BANNER);
    assert.match(await exec("print(open('keep.txt').read())"), /\r\nkept\r\n>>> $/);
  });

  test("Ctrl-C interrupts while True: pass and the prompt returns", async () => {
    await exec("y = 7");
    c.mark();
    c.write("while True: pass\r\r");
    await c.waitFor("... \r\n");
    c.mark();
    c.write("\x03");
    const got = await c.waitFor(/KeyboardInterrupt: \r\n>>> $/, { timeoutMs: T(10000) });
    assert.match(got, /^Traceback \(most recent call last\):\r\n/);
    assert.match(await exec("print(1+1)"), /\r\n2\r\n>>> $/);
  });

  test("Ctrl-C interrupts a time.sleep loop natively and keeps the variables", async () => {
    await exec("import time");
    await exec("n = 0");
    c.mark();
    c.write("while True:\r n += 1; print('tick', n); time.sleep(0.05)\r\r");
    await c.waitFor("tick 2\r\n");
    c.write("\x03");
    await c.waitFor(/KeyboardInterrupt: \r\n>>> $/);
    assert.match(await exec("print(n > 1)"), /\r\nTrue\r\n>>> $/);
  });

  test("Ctrl-C stops a program that prints without pause within a few seconds", async () => {
    c.mark();
    c.write("i = 0\rwhile True:\r i += 1; print('spam', i)\r\r");
    await c.waitFor("spam 500\r\n");
    const t0 = Date.now();
    c.write("\x03");
    await c.waitFor(/KeyboardInterrupt: \r\n>>> $/);
    assert.ok(Date.now() - t0 < T(3000), `interrupt took ${Date.now() - t0} ms`);
  });

  test("Ctrl-C in raw REPL returns \\x04, a KeyboardInterrupt and the raw prompt", async () => {
    await rawRepl(c);
    c.write("while True: pass\x04");
    await c.waitFor("OK");
    c.mark();
    c.write("\x03");
    const got = await c.waitFor("\x04>");
    assert.match(got, /^\x04Traceback \(most recent call last\):\r\n.*KeyboardInterrupt: \r\n\x04>$/s);
    c.mark();
    c.write("print('raw')\x04");
    assert.equal(await c.waitFor("\x04>"), "OKraw\r\n\x04\x04>");
  });

  test("raw-paste request is answered with R\\x01 and runs the pasted code with flow control", async () => {
    await rawRepl(c);
    c.write("\x05A\x01");
    const hdr = await c.waitBytes(4);
    assert.equal(hdr.slice(0, 2), "R\x01");
    const win = hdr.charCodeAt(2) | (hdr.charCodeAt(3) << 8);
    assert.ok(win > 0);
    c.mark();
    const code = "s = 0\n" + "s += 1\n".repeat(100) + "print(s)\n"; // several windows
    let i = 0;
    let credit = win;
    let acks = 0;
    while (i < code.length) {
      if (credit === 0) {
        await c.waitFor("\x01");
        acks++;
        credit += win;
      }
      const n = Math.min(credit, code.length - i);
      c.write(code.slice(i, i + n));
      i += n;
      credit -= n;
    }
    c.write("\x04");
    const got = await c.waitFor(/\x04>$/);
    assert.ok(acks >= 2);
    assert.equal(got, "\x04100\r\n\x04\x04>");
  });

  test("output streams while a program runs, not only at its end", async () => {
    await rawRepl(c);
    c.write("import time\nfor i in range(3):\n  print('step', i)\n  time.sleep(0.4)\n\x04");
    const first = await c.waitFor("step 0\r\n");
    assert.ok(!first.includes("\x04"), "output came only at the end of exec");
    await c.waitFor("\x04\x04>");
  });

  test("time.sleep takes real time without busy-waiting", async () => {
    await exec("import time");
    const stat = () => fs.readFileSync(`/proc/${vb.proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
    const cpu = () => Number(stat()[11]) + Number(stat()[12]); // utime + stime, clock ticks
    const cpu0 = cpu();
    const t0 = Date.now();
    await exec("time.sleep(1)");
    const wall = Date.now() - t0;
    const used = ((cpu() - cpu0) * 1000) / 100; // USER_HZ = 100 on Linux
    assert.ok(wall >= 950, `slept ${wall} ms`);
    assert.ok(used < wall / 2, `used ${used} ms of CPU in ${wall} ms`);
  });

  test("input() in a program reads a line from the UART", async () => {
    c.mark();
    c.write("name = input('who? ')\r");
    await c.waitFor("who? ");
    c.write("ada\r");
    await c.waitFor(">>> ");
    assert.match(await exec("print(name)"), /\r\nada\r\n>>> $/);
  });

  test("os.uname(), sys.implementation and the banner name the same machine", async () => {
    const got = await exec("import os, sys, machine; print(os.uname().machine == sys.implementation._machine, len(machine.unique_id()))");
    assert.match(got, /\r\nTrue 6\r\n>>> $/);
  });

  test("machine.reset() hard resets: banner, variables gone, files kept", async () => {
    await exec("f = open('hard.txt', 'w'); f.write('x'); f.close(); z = 1");
    c.mark();
    c.write("import machine; machine.reset()\r");
    await c.waitFor(BANNER);
    assert.match(await exec("print(open('hard.txt').read(), 'z' in globals())"), /\r\nx False\r\n>>> $/);
  });

  test("a DTR/RTS reset pulse (EN low while RTS && !DTR) reboots with a banner", async () => {
    await exec("w = 1");
    await c.setDtr(false);
    await c.setRts(true);
    const t0 = Date.now();
    for (;;) {
      const st = await controlCmd(vb.control, "state");
      if (st.state.status === "reset") break;
      assert.ok(Date.now() - t0 < T(5000), "board never went into reset");
    }
    c.mark();
    await c.setRts(false);
    await c.waitFor(BANNER);
    assert.match(await exec("print('w' in globals())"), /\r\nFalse\r\n>>> $/);
  });

  test("a host at a wrong baud receives garbage instead of the banner", async () => {
    await c.setBaud(9600);
    c.mark();
    await controlCmd(vb.control, "reset");
    await c.waitBytes(4, { timeoutMs: T(5000) });
    await controlCmd(vb.control, "state"); // let the rest of the banner arrive
    assert.ok(!c.text.includes("MicroPython"), `banner readable at 9600: ${JSON.stringify(c.text)}`);
    await c.setBaud(115200);
    await friendlyPrompt(c);
  });
});
