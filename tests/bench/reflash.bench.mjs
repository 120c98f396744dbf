// make bench: reflashing an unchanged image on a paced virtual ESP32 (115200, ROM) against the
// first flash of it, on the same board in one run, both pinned at 115200 (the automatic baud is
// esp.bench.mjs's subject): the MD5 skip should make the second flash a
// small fraction of the first (target ≤ 15 %). Prints a markdown table; nothing is asserted.
import * as E from "../integration/esp_lib.mjs";

const out = (s) => process.stdout.write(s + "\n");
const ms = (job) => Date.parse(job.finished_at) - Date.parse(job.started_at);

const esp32 = await E.board("esp32");
const corrald = await E.corraldWith({ esp32 });
try {
  out("\n### Reflash of an unchanged image (virtual ESP32, paced 115200, ROM loader)\n");
  out("| app size | first flash ms | same image again ms | ratio | bytes written again | target |");
  out("|---|---|---|---|---|---|");
  for (const appSize of ["96k", "256k"]) {
    const parts = E.multipart("esp32", { appSize });
    const first = (await E.watchJob(corrald.url, (await E.submitFlash(corrald.url, "esp32", parts, { baud: 115200 })).id, 300000)).job;
    const again = (await E.watchJob(corrald.url, (await E.submitFlash(corrald.url, "esp32", parts, { baud: 115200 })).id, 300000)).job;
    if (first.state !== "succeeded" || again.state !== "succeeded") {
      out(`| ${appSize} | ${first.state} | ${again.state} | – | – | ≤ 15 % |`);
      continue;
    }
    const ratio = (100 * ms(again)) / ms(first);
    out(`| ${appSize} | ${ms(first)} | ${ms(again)} | ${ratio.toFixed(1)} % | ${again.result.bytes_written} | ≤ 15 % |`);
  }
} finally {
  await corrald.stop();
  await esp32.stop();
}
