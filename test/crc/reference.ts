// A plain CRC from the definition (reflected, one byte at a time from a 256-entry table built bit by
// bit), against which every native path is checked. Kept deliberately simple: it is the spec.
export const CRC32C_POLY = 0x82f63b78; // RFC 3720 B.4, reflected
export const CRC32_POLY = 0xedb88320; // IEEE 802.3, reflected

function table(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let r = b;
    for (let k = 0; k < 8; k++) r = r & 1 ? (r >>> 1) ^ poly : r >>> 1;
    t[b] = r >>> 0;
  }
  return t;
}

const tables = new Map<number, Uint32Array>();

/**
 * The finished CRC after each prefix of `bytes`: result[n] is the CRC of bytes[0..n), starting from
 * `value`. One pass gives the reference for every length at once.
 */
export function referencePrefixes(poly: number, bytes: Uint8Array, value = 0): Uint32Array {
  let t = tables.get(poly);
  if (!t) tables.set(poly, (t = table(poly)));
  const out = new Uint32Array(bytes.length + 1);
  let raw = ~value >>> 0;
  out[0] = value >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    raw = (raw >>> 8) ^ t[(raw ^ bytes[i]) & 0xff];
    out[i + 1] = ~raw >>> 0;
  }
  return out;
}

export function reference(poly: number, bytes: Uint8Array, value = 0): number {
  return referencePrefixes(poly, bytes, value)[bytes.length];
}
