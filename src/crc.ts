/**
 * CRC-32C (Castagnoli: iSCSI, ext4, etcd) and CRC-32 (IEEE 802.3: zlib, gzip, PNG), computed natively
 * with the fastest path the CPU offers. Argument checks live here; the binding trusts them.
 */
import { Buffer } from 'node:buffer';
import { isAnyArrayBuffer } from 'node:util/types';
import { binding } from './binding';
import { SteadfastError, invalidArgType, outOfRange } from './errors';

/** Bytes to checksum. A view covers only its own range; a string is encoded as UTF-8. */
export type CrcInput = ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string;

/** Names of the implementations steadfast can contain. */
export type CrcImplementationName =
  | 'portable'
  | 'sse42'
  | 'pclmul'
  | 'vpclmul'
  | 'zbc'
  | 'armcrc'
  | 'pmull'
  | (string & {});

const INPUT_TYPES = 'of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer';

/** The bytes of `data` as a view: views as they are (the common case, first), the rest converted. */
function toView(data: unknown): ArrayBufferView {
  if (ArrayBuffer.isView(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  // isAnyArrayBuffer, not instanceof: an ArrayBuffer from another realm (vm context) is one too.
  if (isAnyArrayBuffer(data)) return new Uint8Array(data);
  throw invalidArgType('data', INPUT_TYPES, data);
}

// `>>>` alone would throw on a bigint, hence the typeof test (which V8 folds into the fast path).
function isUint32(value: unknown): value is number {
  return typeof value === 'number' && value >>> 0 === value;
}

function checkCrc(name: string, value: unknown): never {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  throw outOfRange(name, 'an integer >= 0 and <= 4294967295', value);
}

/**
 * CRC-32C (Castagnoli) of `data`. Pass an earlier result as `value` to continue it:
 * `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`.
 *
 * @example
 * crc32c('123456789').toString(16) // 'e3069283'
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for other `data`; RangeError (`ERR_OUT_OF_RANGE`) when
 * `value` is not a uint32.
 */
export function crc32c(data: CrcInput, value = 0): number {
  // The common case first and with the fewest checks: heartbeat packets are 64-512 bytes.
  if (!isUint32(value)) checkCrc('value', value);
  return binding.crc32c(toView(data), value);
}

/**
 * CRC-32 (IEEE 802.3, the one zlib computes) of `data`; equal to `zlib.crc32(data, value)`.
 *
 * @example
 * crc32('123456789').toString(16) // 'cbf43926'
 */
export function crc32(data: CrcInput, value = 0): number {
  if (!isUint32(value)) checkCrc('value', value);
  return binding.crc32(toView(data), value);
}

function checkCombine(crcA: unknown, crcB: unknown, lengthB: unknown): void {
  if (!isUint32(crcA)) checkCrc('crcA', crcA);
  if (!isUint32(crcB)) checkCrc('crcB', crcB);
  if (typeof lengthB !== 'number') throw invalidArgType('lengthB', 'of type number', lengthB);
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) {
    throw outOfRange('lengthB', `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, lengthB);
  }
}

/**
 * The CRC-32C of A followed by B, from `crcA = crc32c(A)`, `crcB = crc32c(B)` and B's length in bytes,
 * without the data. Costs O(log lengthB).
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  checkCombine(crcA, crcB, lengthB);
  return binding.crc32cCombine(crcA, crcB, lengthB);
}

/** The CRC-32 of A followed by B; see {@link crc32cCombine}. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  checkCombine(crcA, crcB, lengthB);
  return binding.crc32Combine(crcA, crcB, lengthB);
}

/** What {@link crcInfo} reports. */
export interface CrcInfo {
  /** The implementation `crc32c()` uses. */
  crc32c: CrcImplementationName;
  /** The implementation `crc32()` uses. */
  crc32: CrcImplementationName;
  /** The name forced with `STEADFAST_CRC`, or `null` when detection chose. */
  forced: CrcImplementationName | null;
  /** Implementations this CPU can run, fastest first (always ends with `'portable'`). */
  available: CrcImplementationName[];
  /** Implementations compiled into this binary, fastest first. */
  compiled: CrcImplementationName[];
  /** CPU features detected, e.g. `['sse4.2', 'pclmulqdq']`, `['zbc']` or `['crc32', 'pmull']`. */
  features: string[];
  /** How the features were detected: `'cpuid'`, `'riscv_hwprobe'`, `'getauxval(AT_HWCAP)'`, or why detection was not possible. */
  detector: string;
}

/** Which CRC implementation each function uses, and which ones this CPU supports. */
export function crcInfo(): CrcInfo {
  const selection = binding.crcSelection();
  const impls = binding.crcImplementations();
  return {
    crc32c: selection.crc32c,
    crc32: selection.crc32,
    forced: selection.forced,
    available: impls.filter((i) => i.available).map((i) => i.name),
    compiled: impls.map((i) => i.name),
    features: selection.features ? selection.features.split(' ') : [],
    detector: selection.detector,
  };
}

/** One implementation's functions, called directly (tests and benchmarks). */
export interface CrcImplementation {
  name: CrcImplementationName;
  /** Whether detection found this CPU able to run it. Calling one that is not available may crash with SIGILL. */
  available: boolean;
  /** Present when this implementation computes CRC-32C. */
  crc32c?: (data: CrcInput, value?: number) => number;
  /** Present when this implementation computes CRC-32. */
  crc32?: (data: CrcInput, value?: number) => number;
}

/**
 * The named implementation, bypassing the dispatcher, for tests and benchmarks that compare paths.
 * @throws SteadfastError `ERR_STEADFAST_CRC_UNKNOWN` when this binary has no such implementation.
 */
export function crcImplementation(name: CrcImplementationName): CrcImplementation {
  const impls = binding.crcImplementations();
  const index = impls.findIndex((i) => i.name === name);
  if (index < 0) throw unknownImplementation(name, impls.map((i) => i.name));
  const impl = impls[index];
  const result: CrcImplementation = { name: impl.name, available: impl.available };
  if (impl.crc32c) {
    result.crc32c = (data, value = 0) => {
      if (!isUint32(value)) checkCrc('value', value);
      return binding.crc32cWith(index, toView(data), value);
    };
  }
  if (impl.crc32) {
    result.crc32 = (data, value = 0) => {
      if (!isUint32(value)) checkCrc('value', value);
      return binding.crc32With(index, toView(data), value);
    };
  }
  return result;
}

function unknownImplementation(name: string, known: string[]): SteadfastError {
  return new SteadfastError(
    'ERR_STEADFAST_CRC_UNKNOWN',
    `${JSON.stringify(name)} is not a CRC implementation in this build of steadfast (${process.arch}); ` +
      `known: ${known.join(', ')}`,
  );
}

/**
 * `STEADFAST_CRC` is applied by the native library itself, once per process, when it is loaded: a
 * name forces that implementation for both functions where it has them (even one detection did not
 * find; that is how the Zbc path is tested under QEMU, which cannot report it). An unknown name is
 * an error here, when the package is loaded.
 */
function checkEnvironment(): void {
  const unknown = binding.crcSelection().unknown;
  if (unknown !== null) throw unknownImplementation(unknown, binding.crcImplementations().map((i) => i.name));
}

checkEnvironment();
