// The wire model (lib/uart.js) against a stub board: garbling, pacing, latency, faults.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Board } from "../lib/board.js";
import { Uart, garble, baudsMatch } from "../lib/uart.js";

class StubBoard extends Board {
  constructor() {
    super();
    this.rx = [];
    this.power = [];
  }
  onRx(b) {
    this.rx.push(...b);
  }
  onPower(on) {
    this.power.push(on);
  }
}

function hostLink(uart, baud) {
  const got = [];
  const link = uart.attach({ write: (b) => got.push({ t: performance.now(), b: Buffer.from(b) }), close() {}, baud });
  return { link, got, bytes: () => Buffer.concat(got.map((g) => g.b)) };
}

const until = async (cond, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("garble is deterministic and does not pass the text through", () => {
  const text = Buffer.from("print('hello')\r");
  const a = garble(text, 9600, 115200);
  const b = garble(text, 9600, 115200);
  assert.deepEqual(a, b);
  assert.ok(a.length > 0);
  assert.ok(!a.toString("latin1").includes("hello"));
});

test("a slower receiver sees fewer bytes than were sent", () => {
  const g = garble(Buffer.alloc(1200, 0x41), 115200, 9600);
  assert.equal(g.length, 100);
});

test("bauds within 3 % match; 74880 vs 115200 does not", () => {
  assert.ok(baudsMatch(115200, 116000));
  assert.ok(!baudsMatch(74880, 115200));
});

test("host bytes at a wrong baud reach the board garbled", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: false });
  const { link } = hostLink(uart, 9600);
  link.rx(Buffer.from("print(1)\r"));
  await until(() => board.rx.length > 0);
  assert.ok(!Buffer.from(board.rx).toString("latin1").includes("print"));
});

test("host bytes at the board's baud arrive intact", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: false });
  hostLink(uart, 115200).link.rx(Buffer.from("print(1)\r"));
  await until(() => board.rx.length === 9);
  assert.equal(Buffer.from(board.rx).toString(), "print(1)\r");
});

test("a bridge limit garbles both ways above it and passes at or below it", async () => {
  const board = new StubBoard();
  board.setBaud(921600); // the board followed the host's baud change
  const uart = new Uart(board, { pacing: false, bridgeMaxBaud: 460800 });
  const { link, bytes } = hostLink(uart, 921600);
  link.rx(Buffer.from("print(1)\r"));
  await until(() => board.rx.length > 0);
  assert.ok(!Buffer.from(board.rx).toString("latin1").includes("print"), "host to board garbled above the limit");
  board.tx(Buffer.from("OK hello"));
  await until(() => bytes().length > 0);
  assert.ok(!bytes().toString("latin1").includes("hello"), "board to host garbled above the limit");
  assert.equal(uart.state().bridge_max_baud, 460800);

  const b2 = new StubBoard();
  b2.setBaud(460800);
  const u2 = new Uart(b2, { pacing: false, bridgeMaxBaud: 460800 });
  const h2 = hostLink(u2, 460800);
  h2.link.rx(Buffer.from("print(1)\r"));
  await until(() => b2.rx.length === 9);
  assert.equal(Buffer.from(b2.rx).toString(), "print(1)\r");
  b2.tx(Buffer.from("hello"));
  await until(() => h2.bytes().length === 5);
  assert.equal(h2.bytes().toString(), "hello");
});

test("board output is paced at baud/10 bytes per second", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: true });
  const h = hostLink(uart, 115200);
  const t0 = performance.now();
  board.tx(Buffer.alloc(2304, 0x55)); // 200 ms at 11520 bytes/s
  await until(() => h.bytes().length === 2304);
  const took = h.got[h.got.length - 1].t - t0;
  assert.ok(took >= 180, `took ${took} ms`);
});

test("latency delays every response", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: false, latencyMs: 150 });
  const h = hostLink(uart, 115200);
  const t0 = performance.now();
  board.tx(Buffer.from("ok"));
  await until(() => h.bytes().length === 2);
  assert.ok(h.got[0].t - t0 >= 145);
});

test("hang swallows input and sends nothing; unhang resumes", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: false });
  const h = hostLink(uart, 115200);
  uart.hang(true);
  h.link.rx(Buffer.from("x"));
  board.tx(Buffer.from("y"));
  uart.hang(false);
  h.link.rx(Buffer.from("a"));
  board.tx(Buffer.from("b"));
  await until(() => board.rx.length === 1 && h.bytes().length === 1);
  assert.equal(Buffer.from(board.rx).toString(), "a");
  assert.equal(h.bytes().toString(), "b");
});

test("unplug cuts power and closes the host connection; replug powers up", () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: false });
  let closed = 0;
  uart.attach({ write() {}, close: () => closed++, baud: 115200 });
  uart.unplug();
  uart.replug();
  assert.equal(closed, 1);
  assert.deepEqual(board.power, [false, true]);
  assert.equal(uart.links.size, 0);
});

test("PURGE-DATA 1 drops what the board sent and the host has not got; 2 drops host bytes not yet at the board", async () => {
  const board = new StubBoard();
  const uart = new Uart(board, { pacing: true });
  const h = hostLink(uart, 9600); // ~1 byte per ms each way: both queues hold bytes for a while
  board.setBaud(9600);
  board.emit("tx", Buffer.alloc(400, 0x41)); // board -> host, queued
  h.link.rx(Buffer.alloc(400, 0x42));       // host -> board, queued
  await new Promise((r) => setTimeout(r, 20));
  h.link.purge(1);
  const toHostNow = h.bytes().length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(h.bytes().length, toHostNow, "no more board bytes reach the host after purge 1");
  assert.ok(board.rx.length > 20, "host bytes still flow to the board after purge 1");
  h.link.purge(2);
  const toBoardNow = board.rx.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(board.rx.length, toBoardNow, "no more host bytes reach the board after purge 2");
  assert.ok(toBoardNow < 400 && toHostNow < 400);
  uart.close();
});
