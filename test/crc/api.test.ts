// The public CRC functions: accepted inputs (each view's own byte range), combine, and clear,
// coded errors for everything else.
import { Buffer } from 'node:buffer';
import { describe, expect, test } from 'vitest';
import { crc32, crc32c, crc32cCombine, crc32Combine, crcImplementation, SteadfastError } from '../../src/index';
import { CRC32C_POLY, reference } from './reference';

const bytes = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);

describe('inputs', () => {
  test('a Buffer, a Uint8Array and an ArrayBuffer with the same bytes give the same CRC', () => {
    const want = reference(CRC32C_POLY, bytes);
    expect(crc32c(Buffer.from(bytes))).toBe(want);
    expect(crc32c(bytes)).toBe(want);
    expect(crc32c(bytes.slice().buffer)).toBe(want);
  });

  test('a view covers only its own range of a larger buffer', () => {
    const backing = new Uint8Array(300).fill(0xaa);
    backing.set(bytes, 5);
    const want = reference(CRC32C_POLY, bytes);
    expect(crc32c(backing.subarray(5, 261))).toBe(want);
    expect(crc32c(new DataView(backing.buffer, 5, 256))).toBe(want);
    expect(crc32c(Buffer.from(backing.buffer, 5, 256))).toBe(want);
  });

  test('wider typed arrays count bytes, not elements', () => {
    const backing = new ArrayBuffer(8 + 256);
    new Uint8Array(backing, 8).set(bytes);
    const want = reference(CRC32C_POLY, bytes);
    expect(crc32c(new Uint16Array(backing, 8, 128))).toBe(want);
    expect(crc32c(new Int32Array(backing, 8, 64))).toBe(want);
    expect(crc32c(new Float64Array(backing, 8, 32))).toBe(want);
    expect(crc32c(new BigUint64Array(backing, 8, 32))).toBe(want);
  });

  test('a SharedArrayBuffer is read like an ArrayBuffer', () => {
    const shared = new SharedArrayBuffer(256);
    new Uint8Array(shared).set(bytes);
    expect(crc32c(shared)).toBe(reference(CRC32C_POLY, bytes));
  });

  test('a string is checksummed as its UTF-8 bytes', () => {
    const text = 'héllo wörld ✓ 🚀';
    expect(crc32c(text)).toBe(crc32c(Buffer.from(text, 'utf8')));
    expect(crc32(text)).toBe(crc32(Buffer.from(text, 'utf8')));
  });

  test('empty input returns the starting value', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c('', 0x1234)).toBe(0x1234);
    expect(crc32(new ArrayBuffer(0), 0xffffffff)).toBe(0xffffffff);
  });
});

describe('combine', () => {
  test('crc32cCombine and crc32Combine join the CRCs of adjacent pieces', () => {
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 131 + (i >> 3)) & 0xff);
    for (const split of [0, 1, 15, 16, 17, 1000, 4999, 5000]) {
      const a = data.subarray(0, split);
      const b = data.subarray(split);
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(data));
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(data));
    }
  });

  test('combining with an empty second piece returns the first CRC', () => {
    expect(crc32cCombine(0xe3069283, 0, 0)).toBe(0xe3069283);
  });

  test('lengths of 4 GiB and more are used whole, not cut to 32 bits', () => {
    // combine(a, b, m + n) computed two ways: once with the long length itself, once as two steps
    // whose lengths stay below 2^32. They agree only if the long length reaches the C code intact.
    const a = crc32c('first piece');
    const b = crc32c('second piece');
    for (const [m, n] of [
      [2 ** 31, 2 ** 31],
      [2 ** 31 + 5, 2 ** 31 + 7],
      [2 ** 40, 3],
      [2 ** 52, 2 ** 52 - 1],
    ]) {
      const viaSteps = crc32cCombine(crc32cCombine(a, 0, m), b, n);
      expect(viaSteps).toBe(crc32cCombine(a, b, m + n));
      expect(crc32Combine(crc32Combine(a, 0, m), b, n)).toBe(crc32Combine(a, b, m + n));
    }
  });
});

describe('bad arguments', () => {
  const notData: unknown[] = [undefined, null, 42, true, {}, [1, 2, 3], () => 0, Symbol('x'), 10n];
  test.each(notData.map((v) => [String(typeof v === 'symbol' ? 'symbol' : Array.isArray(v) ? 'array' : v), v]))(
    'data %s is a TypeError with code ERR_INVALID_ARG_TYPE',
    (_, v) => {
      for (const fn of [crc32c, crc32]) {
        expect(() => fn(v as never)).toThrow(TypeError);
        expect(() => fn(v as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      }
    },
  );

  test.each([-1, 2 ** 32, 1.5, Number.NaN, Infinity])('value %s is a RangeError with code ERR_OUT_OF_RANGE', (v) => {
    for (const fn of [crc32c, crc32]) {
      expect(() => fn('abc', v)).toThrow(RangeError);
      expect(() => fn('abc', v)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
  });

  test.each(['5', null, 5n, {}])('value %s is a TypeError with code ERR_INVALID_ARG_TYPE', (v) => {
    expect(() => crc32c('abc', v as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('combine rejects bad CRCs and lengths with coded errors', () => {
    expect(() => crc32cCombine(-1, 0, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => crc32Combine(0, 2 ** 32, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => crc32cCombine(0, 0, -1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => crc32cCombine(0, 0, 2 ** 53)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => crc32cCombine(0, 0, '3' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('an unknown implementation name is a SteadfastError with code ERR_STEADFAST_CRC_UNKNOWN', () => {
    expect(() => crcImplementation('avx9000')).toThrow(SteadfastError);
    expect(() => crcImplementation('avx9000')).toThrow(expect.objectContaining({ code: 'ERR_STEADFAST_CRC_UNKNOWN' }));
    expect(() => crcImplementation('avx9000')).toThrow(/known: .*portable/);
  });

  test('a failed call leaves the next call correct', () => {
    expect(() => crc32c({} as never)).toThrow(TypeError);
    expect(crc32c('123456789')).toBe(0xe3069283);
  });
});
