// What a board does when it starts, from its fact "boot" (set by corrald's console when it decodes
// an ESP ROM boot log, by a flash job's boot check, by an identify): the fleet's firmware cell and
// the board page say "blank (boot loop)" instead of leaving a blank board unexplained.
import { fmtTime } from "./dom.js";
import { fact } from "./store.js";

/** The board fact "boot" when it says the board does not start its firmware ("blank (boot loop)",
 * "boot loop", "does not boot", "in download mode"), else "". The fact is replaced when a flash
 * or an identify sees the board boot, so it goes before older firmware facts. */
export function bootText(boot) {
  if (!boot || typeof boot !== "object") return "";
  const blank = boot.reason === "flash blank";
  if (boot.state === "boot_loop") return blank ? "blank (boot loop)" : "boot loop";
  if (boot.state === "no_boot") return blank ? "blank (does not boot)" : "does not boot";
  if (boot.state === "download_mode") return "in download mode";
  return "";
}

/** The boot fact in a sentence for the board page: "boot loop: flash blank (rst cause 2), seen by
 * the console at 10:31:02", or "" when there is none. */
export function bootDetail(b) {
  const boot = fact(b, "boot");
  if (!boot || typeof boot !== "object" || !boot.state) return "";
  const state = { boot_loop: "boot loop", no_boot: "does not boot", download_mode: "waiting in download mode",
    booted: "boots", flashed: "flashed, boot not checked" }[boot.state] || boot.state;
  const rst = Number.isInteger(boot.rst_cause) ? ` (rst cause ${boot.rst_cause})` : "";
  const by = boot.source ? ` by the ${boot.source === "flash" ? "flash job" : boot.source}` : "";
  return `${state}${boot.reason ? `: ${boot.reason}` : ""}${rst}, seen${by} ${fmtTime(boot.seen)}`.trim();
}
