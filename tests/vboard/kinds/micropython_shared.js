// Layout of the SharedArrayBuffer between kinds/micropython.js (main thread) and micropython_worker.js.

export const SAB = Object.freeze({
  CTL_WORDS: 16,
  RING_OFFSET: 64, // bytes; the input ring follows the control words
  RING_SIZE: 1 << 16,
  OUT_OFFSET: 64 + (1 << 16), // the output ring follows the input ring
  OUT_SIZE: 1 << 16,
  OUT_LIMIT: 1024, // the worker blocks in print() beyond this many untaken bytes (a small TX FIFO)
  TOTAL: 64 + (2 << 16),
  W: 0, // bytes written by the main thread (monotonic)
  R: 1, // bytes consumed by the worker (monotonic)
  STATE: 2, // STATE.*
  INTR: 3, // 1 = Ctrl-C pending for running code
  INTR_POS: 4, // value of W when that Ctrl-C arrived
  IC: 5, // interrupt char last seen by the worker during execution (-1 = disabled, IC_UNKNOWN = not seen)
  PHASE: 6, // PHASE.*
  RAW: 7, // 1 = raw REPL
  SPARE: 8, // never notified: a place to sleep
  OW: 9, // output bytes written by the worker (monotonic)
  OR: 10, // output bytes taken by the main thread (monotonic)
  ARMED: 11, // 1 = the main thread wants a "kick" message at the next output byte
});

export const STATE = Object.freeze({ BOOT: 0, IDLE: 1, RUN: 2, INPUT: 3 });
export const PHASE = Object.freeze({ REPL: 0, BOOT: 1, MAIN: 2 });
export const IC_UNKNOWN = -2;
