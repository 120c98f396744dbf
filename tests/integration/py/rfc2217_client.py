#!/usr/bin/env python3
"""Drive a remote port with pyserial's own rfc2217:// client (Debian's python3-serial, unmodified),
the way esptool and mpremote do. One JSON line on stdout per run.

  esp-sync URL N [CONTROL]   N times: esptool's ClassicReset (its exact line order and sleeps),
                             then the ROM SYNC; between tries esptool's HardReset (the firmware
                             runs). With CONTROL (the vboard's tcp://host:port control channel)
                             the board's mode is checked after each step.
  baud URL BAUD CONTROL      open at 115200, set BAUD over RFC 2217; report the board's host baud
  raw-repl URL CODE          MicroPython raw REPL: Ctrl-C, Ctrl-A, CODE, Ctrl-D; report the output
  hold URL SECONDS           open, stay connected SECONDS (or until the server closes), report
"""
import json
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


def esp_sync(url, n, ctl=None):
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
            boot = port.read(port.in_waiting or 1)
            ok = sync(port)
            mode_after = board_state(ctl).get("mode") if ctl else None
            results.append({"try": i + 1, "sync": ok, "ms": round((time.time() - t0) * 1000),
                            "mode_before": mode_before, "mode_after": mode_after,
                            "download_banner": b"waiting for download" in boot})
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


def main():
    cmd = sys.argv[1]
    if cmd == "esp-sync":
        esp_sync(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
    elif cmd == "baud":
        baud(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "raw-repl":
        raw_repl(sys.argv[2], sys.argv[3])
    elif cmd == "hold":
        hold(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
