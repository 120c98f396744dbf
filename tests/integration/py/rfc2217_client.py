#!/usr/bin/env python3
"""Drive a remote port with pyserial's own rfc2217:// client (Debian's python3-serial, unmodified),
the way esptool and mpremote do. One JSON line on stdout per run.

  esp-sync URL N [CONTROL [BANNER]]
                             N times: esptool's ClassicReset (its exact line order and sleeps),
                             then the ROM SYNC; between tries esptool's HardReset (the firmware
                             runs). With CONTROL (the vboard's tcp://host:port control channel)
                             the board's mode is checked after each step. With BANNER (text the
                             ROM prints in download mode) the output after the reset is read
                             until it has come (at most 1 s) before the SYNC.
  baud URL BAUD CONTROL      open at 115200, set BAUD over RFC 2217; report the board's host baud
  raw-repl URL CODE          MicroPython raw REPL: Ctrl-C, Ctrl-A, CODE, Ctrl-D; report the output
  prompt URL                 send CR, report the answer within 1 s ('>>> ' in the friendly REPL)
  hold URL SECONDS           open, stay connected SECONDS, until stdin ends (the test is done with
                             the session) or until the server closes; report
  mpremote URL ACTION...     mpremote's own serial flow (its SerialTransport, mpremote 1.2x):
                             connect = Ctrl-C, Ctrl-A, soft reset (Ctrl-D, "soft reboot"), raw
                             REPL; commands through raw-paste mode with its flow control; exit =
                             Ctrl-B, close. ACTIONs: exec:CODE, eval:EXPR, cp:LOCAL:REMOTE (its
                             fs_writefile), cat:REMOTE (its fs_readfile; reports the sha256),
                             reset (its `reset`: machine.reset() without waiting, then close)
"""
import ast
import hashlib
import json
import select
import socket
import struct
import sys
import time

import serial


def control(url, line):
    host, port = url.replace("tcp://", "").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((line + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    return json.loads(buf.split(b"\n", 1)[0])


def board_state(ctl):
    return control(ctl, "state")["state"]


# esptool/reset.py (v4/v5): _setRTS also sets DTR again (the usbser.sys workaround), as esptool does.
def set_dtr(port, v):
    port.dtr = v


def set_rts(port, v):
    port.rts = v
    port.dtr = port.dtr


def classic_reset(port, delay=0.05):
    set_dtr(port, False)  # IO0 high
    set_rts(port, True)   # EN low: in reset
    time.sleep(0.1)
    set_dtr(port, True)   # IO0 low
    set_rts(port, False)  # EN high
    time.sleep(delay)
    set_dtr(port, False)  # IO0 high again


def hard_reset(port):
    set_rts(port, True)
    time.sleep(0.1)
    set_rts(port, False)


def slip(payload):
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


SYNC_DATA = b"\x07\x07\x12\x20" + b"\x55" * 32
SYNC_CMD = slip(struct.pack("<BBHI", 0, 0x08, len(SYNC_DATA), 0) + SYNC_DATA)


def frames(buf):
    out = []
    for part in buf.split(b"\xc0"):
        if len(part) >= 8:
            out.append(part.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))
    return out


def sync(port, timeout=1.0):
    """esptool's sync(): SYNC, read the answer. True when the ROM answered SYNC with status 0."""
    port.reset_input_buffer()
    port.write(SYNC_CMD)
    deadline = time.time() + timeout
    buf = b""
    while time.time() < deadline:
        buf += port.read(port.in_waiting or 1)
        for f in frames(buf):
            if f[0] == 1 and f[1] == 0x08 and len(f) >= 10 and f[8] == 0:
                return True
    return False


def read_until_marker(port, marker, timeout=1.0):
    """What the board printed since the last read: what has arrived, and with a marker (the ROM's
    banner) on until it has come or timeout s passed. The bytes arrive through the remote port and
    pyserial's reader thread; a single read is a snapshot of a stream still arriving."""
    buf = port.read(port.in_waiting or 1)
    deadline = time.time() + timeout
    while marker and marker not in buf and time.time() < deadline:
        buf += port.read(port.in_waiting or 1)
    return buf


def esp_sync(url, n, ctl=None, banner=None):
    banner = banner.encode() if banner else None
    results = []
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
    try:
        # pyserial opens with DTR and RTS asserted; esptool's HardReset runs after its ClassicReset
        # has left DTR released, so release it first (else the RTS pulse cannot pull EN low).
        set_dtr(port, False)
        for i in range(n):
            hard_reset(port)  # the firmware runs: the loader must come from the next reset
            time.sleep(0.2)
            mode_before = board_state(ctl).get("mode") if ctl else None
            t0 = time.time()
            classic_reset(port)
            time.sleep(0.05)
            t1 = time.time()
            boot = read_until_marker(port, banner)
            banner_ms = round((time.time() - t1) * 1000) if banner and banner in boot else None
            ok = sync(port)
            mode_after = board_state(ctl).get("mode") if ctl else None
            results.append({"try": i + 1, "sync": ok, "ms": round((time.time() - t0) * 1000),
                            "mode_before": mode_before, "mode_after": mode_after,
                            "download_banner": b"waiting for download" in boot, "banner_ms": banner_ms,
                            "at": round(t1 * 1000), "boot_tail": boot[-80:].decode("latin1")})
    finally:
        port.close()
    print(json.dumps({"results": results, "ok": sum(1 for r in results if r["sync"])}))


def baud(url, rate, ctl):
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    try:
        before = board_state(ctl).get("host_baud")
        port.baudrate = rate
        time.sleep(0.1)
        after = board_state(ctl).get("host_baud")
    finally:
        port.close()
    print(json.dumps({"before": before, "after": after}))


def raw_repl(url, code):
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    pending = [b""]

    def read_until(marker, timeout=5.0):
        deadline = time.time() + timeout
        while marker not in pending[0] and time.time() < deadline:
            pending[0] += port.read(port.in_waiting or 1)
        if marker not in pending[0]:
            raise RuntimeError("no %r in %r" % (marker, pending[0][-200:]))
        head, pending[0] = pending[0].split(marker, 1)
        return head

    try:
        # pyboard.py's enter_raw_repl: Ctrl-C twice, flush, Ctrl-A
        port.write(b"\r\x03\x03")
        time.sleep(0.1)
        port.reset_input_buffer()
        port.write(b"\r\x01")
        read_until(b"raw REPL; CTRL-B to exit\r\n>")
        port.write(code.encode() + b"\x04")
        read_until(b"OK")
        out = read_until(b"\x04")
        err = read_until(b"\x04")
        read_until(b">")
        port.write(b"\x02")  # back to the friendly REPL
    finally:
        port.close()
    print(json.dumps({"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}))


def hold(url, seconds):
    t0 = time.time()
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    print(json.dumps({"opened": True}), flush=True)
    closed_by_server = False
    try:
        while time.time() - t0 < seconds:
            if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.buffer.read1(1):
                break  # stdin ended: the test has checked what it wanted during the session
            try:
                port.read(1)
                if not port._thread or not port._thread.is_alive():
                    closed_by_server = True
                    break
            except serial.SerialException:
                closed_by_server = True
                break
    finally:
        try:
            port.close()
        except Exception:
            pass
    print(json.dumps({"held_s": round(time.time() - t0, 2), "closed_by_server": closed_by_server}))


class MpRemote:
    """mpremote's SerialTransport on pyserial's rfc2217:// (mpremote opens rfc2217 URLs with
    serial_for_url and leaves DTR/RTS as pyserial sets them)."""

    def __init__(self, url):
        self.serial = serial.serial_for_url(url, baudrate=115200, interCharTimeout=1, timeout=0.1)
        self.in_raw_repl = False
        self.use_raw_paste = True
        self.soft_reboots = 0

    def read_until(self, ending, timeout=10):
        data = b""
        deadline = time.time() + timeout
        while not data.endswith(ending):
            if time.time() > deadline:
                raise RuntimeError("timeout waiting for %r after %r" % (ending, data[-200:]))
            data += self.serial.read(1)
        return data

    def enter_raw_repl(self, soft_reset=True):
        self.serial.write(b"\r\x03")
        n = self.serial.in_waiting
        while n > 0:
            self.serial.read(n)
            n = self.serial.in_waiting
        self.serial.write(b"\r\x01")
        if soft_reset:
            self.read_until(b"raw REPL; CTRL-B to exit\r\n>")
            self.serial.write(b"\x04")
            self.read_until(b"soft reboot\r\n")
            self.soft_reboots += 1
        self.read_until(b"raw REPL; CTRL-B to exit\r\n")
        self.in_raw_repl = True

    def exit_raw_repl(self):
        self.serial.write(b"\r\x02")
        self.in_raw_repl = False

    def raw_paste_write(self, cmd):
        window = struct.unpack("<H", self.serial.read(2))[0]
        remain = window
        i = 0
        while i < len(cmd):
            while remain == 0 or self.serial.in_waiting:
                d = self.serial.read(1)
                if d == b"\x01":
                    remain += window
                elif d == b"\x04":
                    self.serial.write(b"\x04")
                    return
                elif d:
                    raise RuntimeError("unexpected read during raw paste: %r" % d)
            b = cmd[i:i + remain]
            self.serial.write(b)
            remain -= len(b)
            i += len(b)
        self.serial.write(b"\x04")
        self.read_until(b"\x04")

    def exec_raw_no_follow(self, command):
        cmd = command.encode() if isinstance(command, str) else command
        if self.read_until(b">", 1) != b">":
            raise RuntimeError("could not enter raw repl")
        if self.use_raw_paste:
            self.serial.write(b"\x05A\x01")
            d = self.serial.read(2)
            if d == b"R\x01":
                return self.raw_paste_write(cmd)
            if d != b"R\x00":
                self.read_until(b"w REPL; CTRL-B to exit\r\n>")
            self.use_raw_paste = False
        for i in range(0, len(cmd), 256):
            self.serial.write(cmd[i:i + 256])
            time.sleep(0.01)
        self.serial.write(b"\x04")
        d = self.serial.read(2)
        if d != b"OK":
            raise RuntimeError("could not exec command (response: %r)" % d)

    def exec(self, command):
        self.exec_raw_no_follow(command)
        out = self.read_until(b"\x04")[:-1]
        err = self.read_until(b"\x04")[:-1]
        if err:
            raise RuntimeError("exec %r: %r" % (command[:60], err))
        return out

    def eval(self, expr):
        return ast.literal_eval(self.exec("print(repr(%s))" % expr).decode())

    def fs_writefile(self, dest, data, chunk=256):
        self.exec("f=open('%s','wb')\nw=f.write" % dest)
        while data:
            self.exec("w(" + repr(data[:chunk]) + ")")
            data = data[chunk:]
        self.exec("f.close()")

    def fs_readfile(self, src, chunk=256):
        out = bytearray()
        self.exec("f=open('%s','rb')\nr=f.read" % src)
        while True:
            b = self.eval("r(%d)" % chunk)
            if not b:
                break
            out.extend(b)
        self.exec("f.close()")
        return bytes(out)

    def reset(self):
        self.exec_raw_no_follow("import machine; machine.reset()")
        self.serial.close()
        self.serial = None

    def disconnect(self):
        if self.serial is None:
            return
        if self.in_raw_repl:
            self.exit_raw_repl()
        self.serial.close()


def mpremote(url, actions):
    t = MpRemote(url)
    results = []
    try:
        t.enter_raw_repl(soft_reset=True)
        for a in actions:
            kind, _, arg = a.partition(":")
            if kind == "exec":
                results.append({"exec": t.exec(arg).decode(errors="replace")})
            elif kind == "eval":
                results.append({"eval": repr(t.eval(arg))})
            elif kind == "cp":
                local, remote = arg.rsplit(":", 1)
                with open(local, "rb") as f:
                    t.fs_writefile(remote, f.read())
                results.append({"cp": remote})
            elif kind == "cat":
                results.append({"sha256": hashlib.sha256(t.fs_readfile(arg)).hexdigest()})
            elif kind == "reset":
                t.reset()
                results.append({"reset": True})
                break
            else:
                raise SystemExit("unknown action " + a)
    finally:
        t.disconnect()
    print(json.dumps({"soft_reboots": t.soft_reboots, "raw_paste": t.use_raw_paste, "results": results}))


def prompt(url):
    """Open, send a CR, report what comes back within a second (the friendly REPL answers with
    its '>>> ' prompt; the raw REPL stays silent)."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    try:
        port.write(b"\r")
        got = b""
        deadline = time.time() + 1.0
        while time.time() < deadline and b">>> " not in got:
            got += port.read(port.in_waiting or 1)
    finally:
        port.close()
    print(json.dumps({"reply": got.decode(errors="replace")}))


def main():
    cmd = sys.argv[1]
    if cmd == "esp-sync":
        esp_sync(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None,
                 sys.argv[5] if len(sys.argv) > 5 else None)
    elif cmd == "baud":
        baud(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "raw-repl":
        raw_repl(sys.argv[2], sys.argv[3])
    elif cmd == "mpremote":
        mpremote(sys.argv[2], sys.argv[3:])
    elif cmd == "prompt":
        prompt(sys.argv[2])
    elif cmd == "hold":
        hold(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
