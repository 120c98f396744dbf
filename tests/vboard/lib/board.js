// The contract between a virtual board (the chip side of a UART) and the transport in front of it.
// Kinds implement Board; lib/uart.js sits between a Board and an endpoint (RFC 2217 server or pty)
// and models the wire: baud mismatch, pacing, latency and faults.
import { EventEmitter } from "node:events";

/**
 * A virtual board. Subclasses override the on*() hooks and call this.tx(bytes) to transmit.
 *
 * Events emitted (consumed by lib/uart.js):
 *   "tx"  (Buffer)  bytes leaving the board's UART TX pin, sent at this.txBaud
 *
 * Hooks called by lib/uart.js:
 *   onRx(buf)                bytes that arrived intact at the board's RX pin (the uart layer has already
 *                            garbled them if the host's baud differs from this.rxBaud)
 *   onLines({dtr, rts}, at)  host modem-control lines changed (logical: true = asserted); at = when the
 *                            change reached the board (performance.now() of the read that carried it:
 *                            changes read together are simultaneous, however long the lab takes to apply
 *                            them; omitted = now)
 *   onBreak(on)              host BREAK condition
 *   onPurge()                host asked to purge buffers (RFC 2217 PURGE-DATA)
 *   onHostBaud(baud)         host changed its line baud (informational; garbling is done in uart.js)
 *   start()                  endpoint is up: power-on (may print a boot log)
 *   stop()                   SIGTERM: persist state, free resources (async allowed)
 *
 * Optional hooks (added later; the defaults below keep older kinds working unchanged):
 *   onPower(on)              USB power lost (control `unplug`) / restored (`replug`); a real board
 *                            powered from USB loses its RAM state and boots again on replug
 *   onControl(cmd, args)     a control-port command the lab does not know (e.g. `hold-io0 on`);
 *                            return a plain object (merged into the JSON reply) if handled,
 *                            undefined if not (the lab answers "unknown command"); may be async
 *   describe()               board-specific facts merged into the control `state` reply
 *
 * Provided to kinds by lib/uart.js (default here: 0):
 *   txPending()              bytes the wire still has to deliver to the host (pacing backlog); a kind
 *                            with an unbounded producer can hold back while it is large
 */
export class Board extends EventEmitter {
  constructor(opts = {}) {
    super();
    this.opts = opts;
    this.rxBaud = opts.baud || 115200; // baud the board's UART receives at
    this.txBaud = opts.baud || 115200; // baud the board's UART transmits at
  }
  /** Transmit bytes from the board to the host. */
  tx(bytes) {
    if (bytes && bytes.length) this.emit("tx", Buffer.from(bytes));
  }
  /** Change the board's own UART baud (both directions), e.g. ROM 74880 -> firmware 115200. */
  setBaud(baud) {
    this.rxBaud = baud;
    this.txBaud = baud;
  }
  onRx(_buf) {}
  onLines(_lines, _at) {}
  onBreak(_on) {}
  onPurge() {}
  onHostBaud(_baud) {}
  onPower(_on) {}
  onControl(_cmd, _args) {
    return undefined;
  }
  describe() {
    return {};
  }
  txPending() {
    return 0;
  }
  async start() {}
  async stop() {}
}
