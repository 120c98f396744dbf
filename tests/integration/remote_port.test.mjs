// Remote ports: a lease with "expose": ["rfc2217"] gets its board as an RFC 2217 server that
// unmodified pyserial (Debian's python3-serial), esptool-js and MicroPython's raw REPL use; corrald
// performs esptool's reset into the ROM loader with board-side timing; one connection, from the
// requester's address, only while the lease lives; jobs queue behind the session.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import { api, CORRALD, ROOT, startCorrald, startVboard, waitFor, waitJob } from "./lib.mjs";
import * as E from "./esp_lib.mjs";
import WebSocket from "ws";
import { Rfc2217SerialPort, makeLoader } from "../vboard/test/esptool_adapter.mjs";
import { buildFirmware } from "../vboard/kinds/esp/image.js";

const PY = "/usr/bin/python3"; // Debian's, with python3-serial
const CLIENT = path.join(ROOT, "tests/integration/py/rfc2217_client.py");
const RESETS = 20;

function py(args, ms = 120000) {
  return new Promise((resolve, reject) => {
    execFile(PY, [CLIENT, ...args], { timeout: ms }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args[0]}: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

/** A python client in the background: opened resolves on its first line ({"opened": true}),
 * done to its last. */
function pyBackground(args, ms = 60000) {
  let out = "";
  let opened, release;
  const openedP = new Promise((r) => { opened = r; });
  const done = new Promise((resolve, reject) => {
    const child = execFile(PY, [CLIENT, ...args], { timeout: ms }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args[0]}: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
    child.stdout.on("data", (d) => { out += d; if (out.includes("\n")) opened(); });
    release = () => child.stdin.end();
  });
  // release(): a `hold` ends its session now (its stdin ends) rather than when its time is up
  return { opened: Promise.race([openedP, done]), done, release };
}

const cleanup = [];
let c, e32, e8266, mp;
before(async () => {
  e32 = await startVboard("esp32");
  cleanup.push(() => e32.stop());
  e8266 = await startVboard("esp8266");
  cleanup.push(() => e8266.stop());
  mp = await startVboard("micropython");
  cleanup.push(() => mp.stop());
  c = await startCorrald({ args: [
    "--port", `esp32=${e32.endpoint},family=esp32`,
    "--port", `esp8266=${e8266.endpoint},family=esp8266`,
    "--port", `mp=${mp.endpoint},family=micropython`,
    "--stub-dir", E.STUB_DIR,
  ] });
  cleanup.push(() => c.stop());
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function lease(board, extra = {}) {
  const r = await api(c.url, "POST", "/api/v1/reservations", { match: { board }, owner: "tester", expose: ["rfc2217"], ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.match(r.body.remote.rfc2217, /^rfc2217:\/\/127\.0\.0\.1:\d+$/);
  const { port } = new URL(r.body.remote.rfc2217.replace("rfc2217:", "http:"));
  return { id: r.body.id, token: r.body.token, url: r.body.remote.rfc2217, port: Number(port) };
}

async function release(l) {
  const r = await api(c.url, "DELETE", `/api/v1/reservations/${l.id}`, undefined, { "X-Corral-Lease": l.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** Connect and report whether the server closed it (or refused) within ms. */
function connectOutcome(port, { localAddress } = {}, ms = 3000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    const t = setTimeout(() => { s.destroy(); resolve("open"); }, ms);
    s.on("error", (e) => { clearTimeout(t); resolve(e.code === "ECONNREFUSED" ? "refused" : e.code); });
    s.on("close", () => { clearTimeout(t); resolve("closed"); });
    s.on("data", () => {});
  });
}

for (const kind of ["esp32", "esp8266"]) {
  test(`${kind}: esptool's classic reset through pyserial's rfc2217:// gets the ROM loader's SYNC answer ${RESETS} times in a row (no --hold-io0)`, async (t) => {
    const board = kind === "esp32" ? e32 : e8266;
    const l = await lease(kind);
    try {
      // the ESP32 ROM's banner is readable at 115200 (the ESP8266's, at 74880, is not)
      const r = await py(["esp-sync", l.url, String(RESETS), board.control, ...(kind === "esp32" ? ["waiting for download"] : [])]);
      t.diagnostic(`${kind}: ${r.ok}/${RESETS} SYNC answered; per try (ms): ${r.results.map((x) => x.ms).join(" ")}`);
      if (kind === "esp32") t.diagnostic(`esp32: the ROM banner complete after the reset's last line change + 50 ms + (ms): ${r.results.map((x) => x.banner_ms).join(" ")}`);
      const bad = r.results.some((x) => x.mode_before === "rom" || x.mode_after !== "rom" || !x.sync || (kind === "esp32" && !x.download_banner));
      if (bad) {
        const ev = (await E.control(board.control, "events")).events;
        t.diagnostic(`${kind}: board events:\n${ev.map((x) => JSON.stringify(x)).join("\n")}`);
        t.diagnostic(c.stderr().split("\n").filter((x) => /remote|reset|loader/.test(x)).slice(-60).join("\n"));
      }
      for (const x of r.results) {
        const why = JSON.stringify(x);
        assert.notEqual(x.mode_before, "rom", `the hard reset left the loader (the firmware ran): ${why}`);
        assert.equal(x.mode_after, "rom", `the board is in the ROM loader: ${why}`);
        // (the ESP8266 ROM prints at 74880 baud: unreadable at 115200)
        if (kind === "esp32") assert.ok(x.download_banner, `the ROM printed 'waiting for download': ${why}`);
        assert.ok(x.sync, `SYNC answered: ${why}`);
      }
      assert.equal(r.ok, RESETS);
    } finally {
      await release(l);
    }
  });
}

test("straight to the virtual board (plain RFC 2217, pyserial's ~50 ms per line) the same reset boots the firmware: the lab models the strap timing", async () => {
  const b = await startVboard("esp32");
  try {
    const r = await py(["esp-sync", b.endpoint, "2", b.control]);
    assert.equal(r.ok, 0, JSON.stringify(r.results));
    for (const x of r.results) assert.notEqual(x.mode_after, "rom");
  } finally {
    await b.stop();
  }
});

test("a baud change to 921600 over RFC 2217 reaches the board's line", async () => {
  const l = await lease("esp32");
  try {
    const r = await py(["baud", l.url, "921600", e32.control]);
    assert.equal(r.after, 921600, JSON.stringify(r));
    assert.notEqual(r.before, 921600);
  } finally {
    await release(l);
  }
});

test("esptool-js flashes a virtual ESP32 through the remote port and the flash reads back identical", async (t) => {
  const l = await lease("esp32");
  const img = buildFirmware({ chip: "esp32", version: "1.22.1", size: 20000 });
  const { loader, transport, lines } = makeLoader(new Rfc2217SerialPort("127.0.0.1", l.port), { baudrate: 460800, romBaudrate: 115200 });
  try {
    await loader.main("default_reset");
    await loader.writeFlash({
      fileArray: [{ data: new Uint8Array(img), address: 0x1000 }], flashMode: "keep", flashFreq: "keep", flashSize: "keep",
      eraseAll: false, compress: true, calculateMD5Hash: (d) => createHash("md5").update(d).digest("hex"),
    });
    // esptool's --after hard_reset: esptool-js 0.7's HardReset never asserts RTS (the lab's notes,
    // §5.2), and its transport re-sends a stale DTR=true with every RTS change (that would release
    // EN within 2 ms), so the lines esptool (Python) sets: DTR off + RTS on (EN low), 100 ms, RTS
    // off. pyserial waits for the server's SET-CONTROL answer (sent once the board's line is set)
    // before it sleeps; the lab's port does not wait, so the test waits for the board's reset.
    await transport.device.setSignals({ dataTerminalReady: false, requestToSend: true });
    await waitFor(async () => (await E.control(e32.control, "state")).state.mode === "reset", 5000, "EN low at the board");
    await new Promise((r) => setTimeout(r, 100));
    await transport.device.setSignals({ requestToSend: false });
  } finally {
    await transport.disconnect().catch(() => {});
  }
  try {
    for (const x of lines.filter((s) => /^(Chip is|Wrote|Hash)/.test(s))) t.diagnostic(x);
    assert.match(lines.join("\n"), /Hash of data verified/);
    assert.equal(await E.flashSha(e32, 0x1000, img.length), E.sha256(img), "the board's flash holds the image");
    // --after hard_reset through the remote port: the board leaves the flasher stub and runs the image.
    const modes = [];
    for (const end = Date.now() + 10000; modes.at(-1) !== "app" && Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
      modes.push((await E.control(e32.control, "state")).state.mode);
    assert.equal(modes.at(-1), "app", `the firmware runs after esptool-js's hard_reset (modes seen: ${[...new Set(modes)]}); ` +
      c.stderr().split("\n").filter((x) => /remote|reset/.test(x)).slice(-8).join("\n"));
  } finally {
    await release(l);
  }
});

test("MicroPython: a raw-REPL exec through the remote port", async () => {
  const l = await lease("mp");
  try {
    const r = await py(["raw-repl", l.url, "print(6*7)"]);
    assert.equal(r.stdout, "42\r\n");
    assert.equal(r.stderr, "");
  } finally {
    await release(l);
  }
});

test("mpremote's flow through the remote port: soft reset on connect, exec, fs cp and read back, reset, Ctrl-B on disconnect", async () => {
  const l = await lease("mp");
  const dir = mkdtempSync(path.join(tmpdir(), "corral-mpremote-"));
  const local = path.join(dir, "blob.bin");
  const blob = randomBytes(1500); // every byte value likely, 0xff (IAC) included
  blob[0] = 0xff; blob[1] = 0xff;
  writeFileSync(local, blob);
  const want = createHash("sha256").update(blob).digest("hex");
  const boots = async () => (await E.control(mp.control, "state")).state.boots;
  try {
    const b0 = await boots();
    const r1 = await py(["mpremote", l.url, "exec:marker = 6*7\nprint(marker)", `cp:${local}:blob.bin`, "cat:blob.bin", "reset"]);
    assert.equal(r1.soft_reboots, 1, "mpremote's connect soft-reset the board");
    assert.equal(r1.raw_paste, true, "raw-paste mode (with its flow control) went through the port");
    assert.equal(r1.results[0].exec, "42\r\n");
    assert.equal(r1.results[2].sha256, want, "fs cp reads back identical");
    assert.equal(r1.results[3].reset, true);
    const b1 = await boots();
    assert.equal(b1.soft, b0.soft + 1, JSON.stringify([b0, b1]));
    await waitFor(async () => (await boots()).hard === b0.hard + 1, 10000, "machine.reset() to hard-reset the board");
    // A new connection (mpremote again): soft reset, the state is gone, the file stayed.
    const r2 = await py(["mpremote", l.url, "eval:'marker' in globals()", "cat:blob.bin"]);
    assert.equal(r2.soft_reboots, 1);
    assert.equal(r2.results[0].eval, "False");
    assert.equal(r2.results[1].sha256, want);
    // mpremote's Ctrl-B on disconnect (written just before it closes) reached the board: the
    // next client finds the friendly REPL, which answers a CR with its prompt (the raw one is silent).
    assert.match((await py(["prompt", l.url])).reply, />>> $/);
    assert.equal((await boots()).soft, b0.soft + 2);
  } finally {
    await release(l);
  }
});

test("one connection at a time, from the requester's address; the board shows the session; a job queues behind it and runs when it ends", async () => {
  const l = await lease("esp32");
  try {
    const hold = pyBackground(["hold", l.url, "60"]);
    await hold.opened;
    const b = await waitFor(async () => {
      const r = (await api(c.url, "GET", "/api/v1/boards/esp32")).body;
      return r.remote?.session ? r : null;
    }, 10000, "the session in the board state");
    assert.equal(b.state, "busy");
    assert.equal(b.remote.rfc2217, l.url);
    assert.equal(b.remote.session.owner, "tester");
    assert.equal(b.remote.session.peer, "127.0.0.1");
    assert.ok(b.remote.session.bytes_to_board >= 0 && typeof b.remote.session.since === "string");
    assert.equal(await connectOutcome(l.port), "closed", "a second connection is closed at once");
    assert.equal(await connectOutcome(l.port, { localAddress: "127.0.0.2" }), "closed", "another address is refused");
    const job = await api(c.url, "POST", "/api/v1/boards/esp32/jobs", { kind: "reset" }, { "X-Corral-Lease": l.token });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await api(c.url, "GET", `/api/v1/jobs/${job.body.id}`)).body.state, "queued", "the job waits for the session");
    hold.release();
    const held = await hold.done;
    assert.equal(held.closed_by_server, false);
    const done = await waitJob(c.url, job.body.id, 20000);
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    const after = (await api(c.url, "GET", "/api/v1/boards/esp32")).body;
    assert.equal(after.remote.session, null, "the session is gone from the board state");
  } finally {
    await release(l);
  }
});

test("console viewers see a remote session's traffic read-only; the console is writable again when it ends", async () => {
  const l = await lease("mp");
  const ws = new WebSocket(c.url.replace(/^http/, "ws") + "/ws/v1/boards/mp/console");
  const v = { msgs: [], bytes: "" };
  ws.on("message", (d, bin) => { if (bin) v.bytes += d.toString("latin1"); else v.msgs.push(JSON.parse(d.toString())); });
  await new Promise((r, j) => { ws.once("open", r); ws.once("error", j); });
  const msg = (pred, what) => waitFor(() => v.msgs.find(pred), 10000, what);
  try {
    ws.send(JSON.stringify({ type: "take", lease: l.token }));
    await msg((m) => m.type === "lock" && m.writer === true, "the write lock");
    const hold = pyBackground(["hold", l.url, "60"]);
    await hold.opened;
    const busy = await msg((m) => m.type === "status" && m.busy === true, "a busy status");
    assert.match(busy.reason, /^A remote RFC 2217 session \(tester, from 127\.0\.0\.1\) is using the port; the console is read-only/);
    ws.send(Buffer.from("typed during the session\r"));
    const refused = await msg((m) => m.type === "error", "input refused");
    assert.equal(refused.code, "read_only");
    hold.release();
    await hold.done;
    const out = await py(["raw-repl", l.url, "print('seen', 'by', 'viewers')"]);
    assert.equal(out.stdout, "seen by viewers\r\n");
    await waitFor(() => v.bytes.includes("seen by viewers\r\n"), 5000, "the viewer to see the session's output");
    await waitFor(() => v.msgs.filter((m) => m.type === "status").at(-1)?.busy === false, 5000, "an idle status");
  } finally {
    ws.close();
    await release(l);
  }
});

test("the port closes when the lease is released (the connected client is dropped) or expires; then connections are refused", async () => {
  const l = await lease("esp32");
  const hold = pyBackground(["hold", l.url, "20"]);
  await hold.opened;
  await release(l);
  const held = await hold.done;
  assert.equal(held.closed_by_server, true, JSON.stringify(held));
  assert.ok(held.held_s < 10, `dropped within seconds of the release (${held.held_s} s)`);
  assert.equal(await connectOutcome(l.port), "refused");
  assert.equal((await api(c.url, "GET", "/api/v1/boards/esp32")).body.remote, undefined);

  const short = await lease("esp8266", { ttl_s: 2 });
  const held2 = pyBackground(["hold", short.url, "30"]);
  await held2.opened;
  const h2 = await held2.done;
  assert.equal(h2.closed_by_server, true, `the connected client is dropped when the lease expires: ${JSON.stringify(h2)}`);
  assert.ok(h2.held_s < 15, `dropped within seconds of the expiry (${h2.held_s} s)`);
  assert.equal(await connectOutcome(short.port), "refused");
  assert.equal((await api(c.url, "GET", "/api/v1/boards/esp8266")).body.remote, undefined);
});

test("the port closes when the board goes away (its static port removed by a reload): the client is dropped, then connections are refused", async () => {
  const b = await startVboard("micropython");
  const dir = mkdtempSync(path.join(tmpdir(), "corral-remote-gone-"));
  const conf = path.join(dir, "corrald.conf");
  writeFileSync(conf, `[port gone]\nurl = ${b.endpoint}\nfamily = micropython\n`);
  const d = await startCorrald({ args: ["--config", conf] });
  try {
    await waitFor(async () => (await api(d.url, "GET", "/api/v1/boards/gone")).body.state === "online", 10000, "online");
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "gone" }, owner: "tester", expose: ["rfc2217"] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const port = Number(new URL(r.body.remote.rfc2217.replace("rfc2217:", "http:")).port);
    const hold = pyBackground(["hold", r.body.remote.rfc2217, "20"]);
    await hold.opened;
    writeFileSync(conf, "\n");
    d.proc.kill("SIGHUP");
    const held = await hold.done;
    assert.equal(held.closed_by_server, true, JSON.stringify(held));
    assert.ok(held.held_s < 15, `dropped within seconds (${held.held_s} s)`);
    await waitFor(async () => (await connectOutcome(port, {}, 500)) === "refused", 10000, "the port to close");
    assert.match(d.stderr(), new RegExp(`remote port ${port} of board gone \\(reservation ${r.body.id}\\) closed: the board is gone`));
  } finally {
    await d.stop();
    await b.stop();
  }
});

test("an unplugged board: the client is dropped, connections are closed at once while it is away, served again when it is back", async () => {
  const b = await startVboard("micropython");
  const d = await startCorrald({ args: ["--port", `unp=${b.endpoint},family=micropython`] });
  const state = async () => (await api(d.url, "GET", "/api/v1/boards/unp")).body.state;
  try {
    await waitFor(async () => (await state()) === "online", 10000, "online");
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "unp" }, owner: "tester", expose: ["rfc2217"] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const url = r.body.remote.rfc2217;
    const port = Number(new URL(url.replace("rfc2217:", "http:")).port);
    const hold = pyBackground(["hold", url, "20"]);
    await hold.opened;
    await E.control(b.control, "unplug");
    const held = await hold.done;
    assert.equal(held.closed_by_server, true, JSON.stringify(held));
    await waitFor(async () => (await state()) !== "online", 15000, "the board to go offline");
    assert.equal(await connectOutcome(port), "closed", "a client is closed at once while the board is away");
    await E.control(b.control, "replug");
    await waitFor(async () => (await state()) === "online", 15000, "the board back online");
    const out = await py(["raw-repl", url, "print(2+3)"]);
    assert.equal(out.stdout, "5\r\n", "the same lease's port serves again");
  } finally {
    await d.stop();
    await b.stop();
  }
});

test("a lease without 'expose' has no remote port", async () => {
  const r = await api(c.url, "POST", "/api/v1/reservations", { match: { board: "esp32" }, owner: "tester" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  try {
    assert.equal(r.body.remote, undefined);
    assert.equal((await api(c.url, "GET", "/api/v1/boards/esp32")).body.remote, undefined);
  } finally {
    await release({ id: r.body.id, token: r.body.token });
  }
});

test("a bad 'expose' is a 400 naming the field; expose with 'boards' too", async () => {
  let r = await api(c.url, "POST", "/api/v1/reservations", { match: { board: "esp32" }, expose: ["telnet"] });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_expose");
  r = await api(c.url, "POST", "/api/v1/reservations", { boards: [{ role: "a", match: { board: "esp32" } }], expose: ["rfc2217"] });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_expose");
});

test("`corral reserve --expose rfc2217` prints the token, then the remote port; the port serves pyserial", async () => {
  const cli = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");
  const r = await new Promise((resolve) => {
    execFile(cli, ["reserve", "--board", "mp", "--expose", "rfc2217", "--owner", "cli"],
      { env: { ...process.env, CORRAL_LEASE: "", CORRAL_URL: c.url } },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  const [token, url] = r.stdout.trim().split("\n");
  assert.match(token, /^cl-\d+-/);
  assert.match(url, /^rfc2217:\/\/127\.0\.0\.1:\d+$/);
  assert.match(r.stderr, /remote port rfc2217:\/\/.*esptool --port/);
  const out = await py(["raw-repl", url, "print('via cli')"]);
  assert.equal(out.stdout, "via cli\r\n");
  const id = /^cl-(\d+)-/.exec(token)[1];
  assert.equal((await api(c.url, "DELETE", `/api/v1/reservations/${id}`, undefined, { "X-Corral-Lease": token })).status, 200);
});

test("a remote port asked for later: PATCH {expose: [\"rfc2217\"]} by the holder opens it (idempotent), pyserial gets SYNC, [] closes it; others are refused", async (t) => {
  const r = await api(c.url, "POST", "/api/v1/reservations", { match: { board: "esp32" }, owner: "tester" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const l = { id: r.body.id, token: r.body.token };
  const patch = (body, headers = { "X-Corral-Lease": l.token }, id = l.id) =>
    api(c.url, "PATCH", `/api/v1/reservations/${id}`, body, headers);
  try {
    assert.equal(r.body.remote, undefined);
    let p = await patch({ expose: ["rfc2217"] }, {});
    assert.equal(p.status, 401, JSON.stringify(p.body));
    assert.equal(p.body.error.code, "lease_required");
    p = await patch({ expose: ["rfc2217"] }, { "X-Corral-Lease": `cl-${l.id}-${"0".repeat(64)}` });
    assert.equal(p.status, 403, JSON.stringify(p.body));
    assert.equal(p.body.error.code, "lease_mismatch");
    assert.equal((await api(c.url, "GET", "/api/v1/boards/esp32")).body.remote, undefined, "a refused PATCH opened nothing");
    p = await patch({ expose: ["telnet"] });
    assert.equal(p.status, 400);
    assert.equal(p.body.error.code, "invalid_expose");
    p = await patch({});
    assert.equal(p.status, 400);
    assert.equal(p.body.error.code, "invalid_expose");
    assert.match(p.body.error.message, /'expose'/);
    p = await patch({ expose: ["rfc2217"], ttl_s: 60 });
    assert.equal(p.status, 400);
    assert.equal(p.body.error.code, "unknown_field");
    p = await patch({ expose: ["rfc2217"] }, { "X-Corral-Lease": l.token }, 999999);
    assert.equal(p.status, 404);
    assert.equal(p.body.error.code, "reservation_not_found");

    p = await patch({ expose: ["rfc2217"] });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.id, l.id);
    assert.equal(p.body.token, undefined, "the token is shown only at creation");
    const url = p.body.remote.rfc2217;
    assert.match(url, /^rfc2217:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(url.replace("rfc2217:", "http:")).port);
    const again = await patch({ expose: ["rfc2217"] });
    assert.equal(again.status, 200);
    assert.equal(again.body.remote.rfc2217, url, "asking again answers the same port");
    assert.equal((await api(c.url, "GET", "/api/v1/boards/esp32")).body.remote.reservation, l.id);

    const s = await py(["esp-sync", url, "5", e32.control]);
    t.diagnostic(`esp32 through a port opened later: ${s.ok}/5 SYNC answered`);
    for (const x of s.results) assert.ok(x.sync && x.mode_after === "rom", JSON.stringify(x));
    assert.equal(s.ok, 5);

    const hold = pyBackground(["hold", url, "20"]);
    await hold.opened;
    p = await patch({ expose: [] });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.remote, undefined);
    const held = await hold.done;
    assert.equal(held.closed_by_server, true, `closing the port drops the client: ${JSON.stringify(held)}`);
    assert.equal(await connectOutcome(port), "refused");
    assert.equal((await api(c.url, "GET", "/api/v1/boards/esp32")).body.remote, undefined);
    p = await patch({ expose: [] });
    assert.equal(p.status, 200, "closing a closed port is fine");
    assert.equal(p.body.state, "active", "the lease stays");
  } finally {
    await release(l);
  }
  const p = await api(c.url, "PATCH", `/api/v1/reservations/${l.id}`, { expose: ["rfc2217"] }, { "X-Corral-Lease": l.token });
  assert.equal(p.status, 409);
  assert.equal(p.body.error.code, "reservation_ended");
});

test("`corral expose ID rfc2217` prints the port of an existing lease; `corral expose ID none` closes it", async () => {
  const cli = process.env.CORRAL_CLI || path.join(ROOT, "build/corral");
  const run = (args, lease) => new Promise((resolve) => {
    execFile(cli, args, { env: { ...process.env, CORRAL_LEASE: lease, CORRAL_URL: c.url } },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  const r = await api(c.url, "POST", "/api/v1/reservations", { match: { board: "mp" }, owner: "cli" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const l = { id: r.body.id, token: r.body.token };
  try {
    const o = await run(["expose", String(l.id), "rfc2217"], l.token);
    assert.equal(o.code, 0, o.stderr);
    const url = o.stdout.trim();
    assert.match(url, /^rfc2217:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await py(["raw-repl", url, "print('later')"])).stdout, "later\r\n");
    const wrong = await run(["expose", String(l.id), "rfc2217"], `cl-${l.id}-${"0".repeat(64)}`);
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /cannot open the remote port/);
    const off = await run(["expose", "none"], l.token); // the id from the lease token
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, "");
    assert.match(off.stderr, /has no remote port now/);
    assert.equal((await api(c.url, "GET", "/api/v1/boards/mp")).body.remote, undefined);
  } finally {
    await release(l);
  }
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** A corrald without tokens whose board id (a new vboard of kind) has a static remote_port; once
 * the board is online: {b, conf, port, d, url}. */
async function staticPort(kind, id) {
  const b = await startVboard(kind);
  const conf = path.join(mkdtempSync(path.join(tmpdir(), "corral-remote-static-")), "corrald.conf");
  const port = await freePort();
  writeFileSync(conf, `[port ${id}]\nurl = ${b.endpoint}\nfamily = ${kind}\nremote_port = ${port}\n`);
  const d = await startCorrald({ args: ["--config", conf] });
  await waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${id}`)).body.state === "online", 10000, "online");
  return { b, conf, port, d, url: `rfc2217://127.0.0.1:${port}` };
}

test("without tokens a static remote_port serves its board without a lease (SYNC, jobs queue behind it); a reload without it closes it", async (t) => {
  const { b, conf, port, d, url } = await staticPort("esp32", "st");
  try {
    const bj = (await api(d.url, "GET", "/api/v1/boards/st")).body;
    assert.deepEqual({ ...bj.remote, session: undefined }, { rfc2217: url, reservation: null, owner: "static", static: true, session: undefined });
    const s = await py(["esp-sync", url, "5", b.control]);
    t.diagnostic(`static port: ${s.ok}/5 SYNC answered`);
    for (const x of s.results) assert.ok(x.sync && x.mode_after === "rom", JSON.stringify(x));
    assert.equal(s.ok, 5);
    const hold = pyBackground(["hold", url, "60"]);
    await hold.opened;
    const job = await api(d.url, "POST", "/api/v1/boards/st/jobs", { kind: "reset" });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await api(d.url, "GET", `/api/v1/jobs/${job.body.id}`)).body.state, "queued", "the job waits for the session");
    assert.equal((await api(d.url, "GET", "/api/v1/boards/st")).body.remote.session.owner, "static");
    hold.release();
    assert.equal((await hold.done).closed_by_server, false);
    assert.equal((await waitJob(d.url, job.body.id, 20000)).state, "succeeded");
    writeFileSync(conf, `[port st]\nurl = ${b.endpoint}\nfamily = esp32\n`);
    d.proc.kill("SIGHUP");
    await waitFor(async () => (await connectOutcome(port, {}, 500)) === "refused", 10000, "the static port to close");
    assert.equal((await api(d.url, "GET", "/api/v1/boards/st")).body.remote, undefined);
    assert.match(d.stderr(), new RegExp(`remote port ${port} of board st .*closed: no longer configured`));
  } finally {
    await d.stop();
    await b.stop();
  }
});

/** Connect, collect what the server sends until it closes (or ms pass): {outcome, bytes}. */
function connectRead(port, ms = 3000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let bytes = 0;
    const t = setTimeout(() => { s.destroy(); resolve({ outcome: "open", bytes }); }, ms);
    s.on("data", (d) => { bytes += d.length; });
    s.on("error", (e) => { clearTimeout(t); resolve({ outcome: e.code, bytes }); });
    s.on("close", () => { clearTimeout(t); resolve({ outcome: "closed", bytes }); });
  });
}

test("a static remote_port refuses connections (closed, no data) while someone leases its board, drops the session it was serving, and serves again when the lease ends", async () => {
  const { b, port, d, url } = await staticPort("micropython", "sl");
  try {
    assert.equal((await py(["raw-repl", url, "print(1+1)"])).stdout, "2\r\n", "served without a lease");
    const hold = pyBackground(["hold", url, "20"]);
    await hold.opened;
    const r = await api(d.url, "POST", "/api/v1/reservations", { match: { board: "sl" }, owner: "tester" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const held = await hold.done;
    assert.equal(held.closed_by_server, true, `the static session is dropped when a lease takes the board: ${JSON.stringify(held)}`);
    assert.ok(held.held_s < 10, `dropped within seconds (${held.held_s} s)`);
    assert.deepEqual(await connectRead(port), { outcome: "closed", bytes: 0 }, "refused while leased: closed with no data");
    assert.match(d.stderr(), new RegExp(`remote port ${port} of board sl: connection from 127\\.0\\.0\\.1 refused: the board is leased \\(reservation ${r.body.id}\\)`));
    assert.equal((await api(d.url, "GET", "/api/v1/boards/sl")).body.remote.static, true, "the port stays configured");
    const del = await api(d.url, "DELETE", `/api/v1/reservations/${r.body.id}`, undefined, { "X-Corral-Lease": r.body.token });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal((await py(["raw-repl", url, "print(2+3)"])).stdout, "5\r\n", "served again once the lease ended");
  } finally {
    await d.stop();
    await b.stop();
  }
});

test("a static remote_port with tokens configured is refused at config load, saying why", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "corral-remote-static-tok-"));
  const conf = path.join(dir, "corrald.conf");
  writeFileSync(conf, "[port st]\nurl = socket://127.0.0.1:9\nremote_port = 4001\n\n[token ops]\nrole = operator\nsecret = operator-secret-5d8e2b44\n");
  const r = await new Promise((resolve, reject) => {
    const p = execFile(CORRALD, ["--config", conf, "--listen", "127.0.0.1:0", "--state-dir", dir, "--no-udev"], { timeout: 20000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr }));
    p.on("error", reject);
  });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /port 'st' has remote_port = 4001, but tokens are configured: a static remote port would bypass leases/);
  assert.doesNotMatch(r.stderr, /listening on/);
});
