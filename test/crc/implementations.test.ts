// One shared table of checks, run against every CRC implementation this CPU can run, plus the one
// forced with STEADFAST_CRC (under QEMU: zbc, which QEMU executes but cannot report), plus the
// dispatched functions. Each path must agree with the definition on every length and alignment.
import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { crc32, crc32c, crcImplementation, crcInfo } from '../../src/index';
import { CRC32C_POLY, CRC32_POLY, reference, referencePrefixes } from './reference';

type Fn = (data: Uint8Array | string, value?: number) => number;
interface Case {
  label: string;
  fn: Fn;
}

const info = crcInfo();
const names = [...new Set([...info.available, ...(info.forced ? [info.forced] : [])])];
const impls = names.map((name) => crcImplementation(name));
const crc32cCases: Case[] = [
  { label: 'dispatched crc32c', fn: crc32c },
  ...impls.filter((i) => i.crc32c).map((i) => ({ label: `${i.name} crc32c`, fn: i.crc32c! })),
];
const crc32Cases: Case[] = [
  { label: 'dispatched crc32', fn: crc32 },
  ...impls.filter((i) => i.crc32).map((i) => ({ label: `${i.name} crc32`, fn: i.crc32! })),
];

/** Deterministic bytes (xorshift32), so a failure can be replayed. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const data = randomBytes(4096 + 16, 0x5eed);

/** Every length 0..4096 at every offset 0..15, against the reference's prefix CRCs. */
function checkAllLengths(poly: number, fn: Fn): void {
  for (let offset = 0; offset < 16; offset++) {
    const bytes = data.subarray(offset, offset + 4096);
    const want = referencePrefixes(poly, bytes);
    for (let len = 0; len <= 4096; len++) {
      const got = fn(bytes.subarray(0, len));
      if (got !== want[len]) {
        expect.fail(`offset ${offset} length ${len}: got ${got.toString(16)}, want ${want[len].toString(16)}`);
      }
    }
  }
}

/** Lengths around the thresholds where the paths switch loops: 16/64/256-byte folds, the 3-way
 * blocks at 3 x 256 and 3 x 2048 bytes, each at an aligned and an unaligned start. */
function checkThresholds(poly: number, fn: Fn): void {
  const big = randomBytes(20_000, 0xb10c);
  for (const offset of [0, 5]) {
    const bytes = big.subarray(offset);
    const want = referencePrefixes(poly, bytes.subarray(0, 19_000));
    for (const edge of [768, 775, 1536, 6144, 6151, 12288, 18432]) {
      for (let len = edge - 9; len <= edge + 9; len++) {
        const got = fn(bytes.subarray(0, len));
        if (got !== want[len]) expect.fail(`offset ${offset} length ${len}: got ${got.toString(16)}, want ${want[len].toString(16)}`);
      }
    }
  }
}

function checkContinuation(fn: Fn): void {
  const bytes = data.subarray(3, 3 + 4000);
  const whole = fn(bytes);
  for (let split = 0; split <= bytes.length; split += 37) {
    expect(fn(bytes.subarray(split), fn(bytes.subarray(0, split)))).toBe(whole);
  }
}

test('the suite covers the selected and the forced implementations', () => {
  expect(names).toContain(info.crc32c);
  expect(names).toContain(info.crc32);
  expect(names).toContain('portable');
  if (process.env.STEADFAST_CRC) expect(names).toContain(process.env.STEADFAST_CRC);
});

// The QEMU runs (STEADFAST_EXPECT_ARCH set) must leave no compiled path untested: under riscv64 the
// Zbc path is reached only because the run forces it, and dropping that would otherwise go unseen.
// On a host, a path the CPU cannot run (vpclmul without AVX-512) cannot be tested, so only the
// available ones are required there.
test('covers every compiled implementation this run can execute', () => {
  const emulated = Boolean(process.env.STEADFAST_EXPECT_ARCH);
  const required = emulated ? info.compiled : info.compiled.filter((n) => info.available.includes(n));
  for (const name of required) expect(names).toContain(name);
});

describe.each(crc32cCases)('$label', ({ fn }) => {
  test('gives e3069283 for "123456789"', () => {
    expect(fn('123456789')).toBe(0xe3069283);
  });

  test('matches the RFC 3720 B.4 examples', () => {
    const iota = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(fn(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(fn(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(fn(iota)).toBe(0x46dd794e);
    expect(fn(iota.slice().reverse())).toBe(0x113fdb5c);
    // The iSCSI SCSI Read (10) command PDU of B.4.
    const pdu = new Uint8Array(48);
    pdu.set([0x01, 0xc0], 0);
    pdu.set([0x14], 16);
    pdu.set([0x04], 22);
    pdu.set([0x14], 27);
    pdu.set([0x18], 31);
    pdu.set([0x28], 32);
    pdu.set([0x02], 40);
    expect(fn(pdu)).toBe(0xd9963a56);
  });

  test('matches the reference for every length 0..4096 at offsets 0..15', () => {
    checkAllLengths(CRC32C_POLY, fn);
  });

  test('continues from a previous result', () => {
    checkContinuation(fn);
  });

  test('matches the reference around the block-size thresholds up to 18 KiB', () => {
    checkThresholds(CRC32C_POLY, fn);
  });

  test('matches the reference on 1 MiB at an odd offset with a starting value', () => {
    const big = randomBytes((1 << 20) + 1, 77).subarray(1);
    expect(fn(big, 0xdeadbeef)).toBe(reference(CRC32C_POLY, big, 0xdeadbeef));
  });
});

describe.each(crc32Cases)('$label', ({ fn }) => {
  test('gives cbf43926 for "123456789"', () => {
    expect(fn('123456789')).toBe(0xcbf43926);
  });

  test('matches the reference for every length 0..4096 at offsets 0..15', () => {
    checkAllLengths(CRC32_POLY, fn);
  });

  test('continues from a previous result', () => {
    checkContinuation(fn);
  });

  test('matches the reference around the block-size thresholds up to 18 KiB', () => {
    checkThresholds(CRC32_POLY, fn);
  });

  test('equals zlib.crc32 on 1 MiB at an odd offset, also when continued', () => {
    const zcrc = (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32;
    const big = randomBytes((1 << 20) + 1, 78).subarray(1);
    expect(fn(big)).toBe(zcrc(big));
    expect(fn(big, 0x12345678)).toBe(zcrc(big, 0x12345678));
    expect(fn(big)).toBe(reference(CRC32_POLY, big));
  });
});
