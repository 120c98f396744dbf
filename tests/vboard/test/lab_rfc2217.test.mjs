// RFC 2217 server codec (lib/rfc2217.js), byte by byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rfc2217Session, escapeIac, IAC, WILL, WONT, DO, DONT, SB, SE, OPT_BINARY, OPT_SGA, OPT_COM_PORT } from "../lib/rfc2217.js";

function session(opts) {
  const ev = { sent: [], data: [], bauds: [], lines: [], breaks: [], purges: [] };
  const s = new Rfc2217Session(
    {
      send: (b) => ev.sent.push(...b),
      onData: (b) => ev.data.push(...b),
      onBaud: (b) => ev.bauds.push(b),
      onLines: (l) => ev.lines.push(l),
      onBreak: (on) => ev.breaks.push(on),
      onPurge: (w) => ev.purges.push(w),
    },
    opts,
  );
  return { s, ev };
}

const sb = (...body) => [IAC, SB, OPT_COM_PORT, ...body, IAC, SE];

test("SET-BAUDRATE is answered with code 101 and the baud in network order", () => {
  const { s, ev } = session();
  s.feed(Buffer.from(sb(1, 0x00, 0x00, 0x25, 0x80)));
  assert.deepEqual(ev.bauds, [9600]);
  assert.deepEqual(ev.sent, sb(101, 0x00, 0x00, 0x25, 0x80));
});

test("a baud query (0) reports the current baud without changing it", () => {
  const { s, ev } = session({ baud: 115200 });
  s.feed(Buffer.from(sb(1, 0, 0, 0, 0)));
  assert.deepEqual(ev.bauds, []);
  assert.deepEqual(ev.sent, sb(101, 0x00, 0x01, 0xc2, 0x00));
});

test("SET-CONTROL DTR/RTS change the lines and are echoed with code 105", () => {
  const { s, ev } = session();
  s.feed(Buffer.from([...sb(5, 8), ...sb(5, 11), ...sb(5, 9)]));
  assert.deepEqual(ev.lines, [
    { dtr: true, rts: false },
    { dtr: true, rts: true },
    { dtr: false, rts: true },
  ]);
  assert.deepEqual(ev.sent, [...sb(105, 8), ...sb(105, 11), ...sb(105, 9)]);
});

test("SET-CONTROL BREAK reaches the board; PURGE-DATA is answered with code 112", () => {
  const { s, ev } = session();
  s.feed(Buffer.from([...sb(5, 5), ...sb(5, 6), ...sb(12, 3)]));
  assert.deepEqual(ev.breaks, [true, false]);
  assert.deepEqual(ev.purges, [3]);
  assert.deepEqual(ev.sent, [...sb(105, 5), ...sb(105, 6), ...sb(112, 3)]);
});

test("a DTR state request is answered with the current state", () => {
  const { s, ev } = session();
  s.feed(Buffer.from([...sb(5, 8), ...sb(5, 7)]));
  assert.deepEqual(ev.sent.slice(-7), sb(105, 8));
});

test("IAC IAC in client data is one 0xFF byte; board data has its 0xFF doubled", () => {
  const { s, ev } = session();
  s.feed(Buffer.from([0x41, IAC, IAC, 0x42]));
  assert.deepEqual(ev.data, [0x41, 0xff, 0x42]);
  assert.deepEqual([...escapeIac(Buffer.from([1, 0xff, 2, 0xff]))], [1, 0xff, 0xff, 2, 0xff, 0xff]);
});

test("client WILL/DO for BINARY, SGA and COM-PORT-OPTION are accepted once, unknown options refused", () => {
  const { s, ev } = session();
  s.feed(Buffer.from([IAC, WILL, OPT_COM_PORT, IAC, DO, OPT_BINARY, IAC, WILL, OPT_SGA, IAC, DO, 1, IAC, WILL, 24]));
  assert.deepEqual(ev.sent, [IAC, DO, OPT_COM_PORT, IAC, WILL, OPT_BINARY, IAC, DO, OPT_SGA, IAC, WONT, 1, IAC, DONT, 24]);
  ev.sent.length = 0;
  s.feed(Buffer.from([IAC, WILL, OPT_COM_PORT, IAC, DO, OPT_BINARY])); // repeated: no answer, no loop
  assert.deepEqual(ev.sent, []);
  assert.equal(s.comPortActive, true);
});

test("the server's own requests are not answered twice when the client agrees", () => {
  const { s, ev } = session();
  s.start();
  const opening = ev.sent.length;
  assert.ok(opening > 0);
  s.feed(Buffer.from([IAC, DO, OPT_BINARY, IAC, WILL, OPT_BINARY, IAC, WILL, OPT_COM_PORT]));
  assert.equal(ev.sent.length, opening);
});

test("data and commands keep their order across one packet", () => {
  const order = [];
  const s = new Rfc2217Session({
    send: () => {},
    onData: (b) => order.push(`data:${b.toString()}`),
    onLines: (l) => order.push(`rts:${l.rts}`),
  });
  s.feed(Buffer.from([0x61, ...sb(5, 11), 0x62]));
  assert.deepEqual(order, ["data:a", "rts:true", "data:b"]);
});
