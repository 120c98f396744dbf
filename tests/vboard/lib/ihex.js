// Intel HEX to a flat binary image (used for the micro:bit firmware that QEMU loads at address 0).

/**
 * Parse Intel HEX text. Returns {image: Buffer (from address 0, gaps 0xFF), skipped: [addresses]}.
 * Records at or above `limit` (e.g. the nRF51 UICR at 0x10001000) are left out of the image.
 * Throws on a bad checksum or an unknown record type.
 */
export function hexToBin(text, { limit = 0x10000000 } = {}) {
  let base = 0;
  let end = 0;
  const chunks = [];
  const skipped = [];
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln].trim();
    if (!line) continue;
    if (line[0] !== ":") throw new Error(`line ${ln + 1}: not an Intel HEX record`);
    const rec = Buffer.from(line.slice(1), "hex");
    if (rec.length < 5 || rec.length !== rec[0] + 5) throw new Error(`line ${ln + 1}: bad record length`);
    let sum = 0;
    for (const b of rec) sum = (sum + b) & 0xff;
    if (sum !== 0) throw new Error(`line ${ln + 1}: bad checksum`);
    const n = rec[0];
    const addr = rec.readUInt16BE(1);
    const type = rec[3];
    const data = rec.subarray(4, 4 + n);
    switch (type) {
      case 0: {
        const a = base + addr;
        if (a >= limit) {
          skipped.push(a);
          break;
        }
        chunks.push([a, data]);
        end = Math.max(end, a + n);
        break;
      }
      case 1:
        ln = lines.length; // end of file
        break;
      case 2:
        base = data.readUInt16BE(0) * 16;
        break;
      case 4:
        base = data.readUInt16BE(0) * 65536;
        break;
      case 3:
      case 5:
        break; // start address: irrelevant for a flat image
      default:
        throw new Error(`line ${ln + 1}: unknown record type ${type}`);
    }
  }
  const image = Buffer.alloc(end, 0xff);
  for (const [a, d] of chunks) d.copy(image, a);
  return { image, skipped };
}
