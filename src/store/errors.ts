/**
 * The errors of the checkpoint store and the append log: {@link StoreError} for failures the C core
 * reports (with the file, offset and LSNs concerned), {@link AbortError} for an operation cancelled by
 * its `AbortSignal`, and the argument checks the store's entry points share.
 */
import { binding } from '../binding';
import { SteadfastError, invalidArgType, isAbortSignal, outOfRange, type CodedError } from '../errors';

/**
 * Codes a {@link StoreError} carries: an errno name from the system (`'EIO'`, `'ENOSPC'`, `'ENOENT'`,
 * `'EACCES'`, ...) or one of steadfast's own:
 * - `'SF_CORRUPT'`: stored data failed a check (CRC, length, sequence);
 * - `'SF_LOCKED'`: another process (or handle) holds the store or log (`pid` names it);
 * - `'SF_VERSION'`: written by a newer, incompatible format version;
 * - `'SF_FORMAT'`: not a steadfast file at all;
 * - `'SF_CLOSED'`: the store or log was closed;
 * - `'SF_FAILED'`: an earlier write or sync failed, so the log refuses further writes (reopen it);
 * - `'SF_EMPTY'`: checkpoint files exist but none of them is valid.
 */
export type StoreErrorCode =
  | 'SF_CORRUPT'
  | 'SF_LOCKED'
  | 'SF_VERSION'
  | 'SF_FORMAT'
  | 'SF_CLOSED'
  | 'SF_FAILED'
  | 'SF_EMPTY'
  | 'EIO'
  | 'ENOSPC'
  | 'ENOENT'
  | 'EACCES'
  | (string & {});

/** Details a {@link StoreError} may carry, each present only when it applies. */
export interface StoreErrorDetails {
  /** The file or directory concerned. */
  path?: string;
  /** Byte offset in `path` where the problem was found. */
  offset?: number;
  /** Log: the first LSN concerned (e.g. of a corrupt range). */
  lsnFirst?: number;
  /** Log: the last LSN concerned. */
  lsnLast?: number;
  /** `SF_LOCKED`: the pid the holder of the lock recorded. */
  pid?: number;
  /** The C error number: `-errno` (`-5` for EIO) or a steadfast code (`-30001` for SF_CORRUPT, ...). */
  errno?: number;
}

/** A failure of the checkpoint store or the append log, with a stable {@link StoreErrorCode}. */
export class StoreError extends SteadfastError implements StoreErrorDetails {
  declare readonly code: StoreErrorCode;
  // `declare`: no class fields, so a detail that does not apply is absent rather than undefined.
  declare readonly path?: string;
  declare readonly offset?: number;
  declare readonly lsnFirst?: number;
  declare readonly lsnLast?: number;
  declare readonly pid?: number;
  declare readonly errno?: number;

  /**
   * The store creates these itself (from the binding's coded errors); construct one to make a test
   * double or to wrap a store failure of your own in the same shape.
   * @param code the stable code, e.g. `'SF_CORRUPT'` or `'EIO'`.
   * @param message what failed, in words (the store's messages end with the path concerned).
   * @param details the details that apply; the others stay absent from the error rather than undefined.
   */
  constructor(code: StoreErrorCode, message: string, details: StoreErrorDetails = {}) {
    super(code, message);
    this.name = 'StoreError';
    for (const key of ['path', 'offset', 'lsnFirst', 'lsnLast', 'pid', 'errno'] as const) {
      if (details[key] !== undefined) Object.assign(this, { [key]: details[key] });
    }
  }
}

/** The stable name the C core gives an error number, e.g. `storeErrorName(-30001) === 'SF_CORRUPT'`. */
export function storeErrorName(errno: number): StoreErrorCode {
  if (!Number.isInteger(errno)) throw invalidArgType('errno', 'an integer', errno);
  return (binding as unknown as { storeErrorName(code: number): string }).storeErrorName(errno);
}

/** The shape of the errors the binding rejects with (native/napi/store.cc). */
interface NativeStoreError extends Error, StoreErrorDetails {
  code: string;
}

/**
 * Turns an error from the binding into a {@link StoreError}; anything else (an argument error, a
 * codec's exception) passes through unchanged. Internal.
 */
export function toStoreError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof StoreError) return err;
  const native = err as NativeStoreError;
  if (typeof native.code !== 'string' || typeof native.errno !== 'number') return err;
  const { path, offset, lsnFirst, lsnLast, pid, errno } = native;
  return new StoreError(native.code, native.message, { path, offset, lsnFirst, lsnLast, pid, errno });
}

/** Runs a binding call and converts its failure into a {@link StoreError}. Internal. */
export async function native<R>(call: () => Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (err) {
    throw toStoreError(err);
  }
}

/** The `SF_CLOSED` error of a closed store or log. Internal. */
export function closedError(what: string): StoreError {
  return new StoreError('SF_CLOSED', `the ${what} is closed`, { errno: -30005 });
}

/**
 * The error an operation rejects with when its `AbortSignal` was aborted before it started: `name`
 * `'AbortError'` and `code` `'ABORT_ERR'`, as Node's own APIs use; `cause` is the signal's reason.
 */
export class AbortError extends Error {
  /** Always `'ABORT_ERR'`. */
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Throws an {@link AbortError} if `signal` is aborted. Internal. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/** Checks that `signal` is undefined or an AbortSignal. Internal. */
export function checkSignal(signal: unknown, name = 'signal'): AbortSignal | undefined {
  if (signal === undefined || isAbortSignal(signal)) return signal;
  throw invalidArgType(name, 'an instance of AbortSignal', signal);
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE`, as Node's own checks throw. Internal. */
export function invalidArgValue(name: string, value: unknown, reason: string): CodedError<TypeError> {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const err = new TypeError(`The argument '${name}' ${reason}. Received ${shown}`) as CodedError<TypeError>;
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

/** Checks an options argument: undefined (giving `{}`) or an object. Internal. */
export function checkOptions<O extends object>(options: unknown, name = 'options'): Partial<O> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalidArgType(name, 'of type object', options);
  return options as Partial<O>;
}

/** Checks a path argument: a non-empty string without NUL bytes. Internal. */
export function checkPath(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.length === 0) throw invalidArgValue(name, value, 'must be a non-empty path');
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must not contain null bytes');
  return value;
}

/** Checks an integer argument in [min, max]. Internal. */
export function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}
