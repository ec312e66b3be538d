/**
 * Errors with stable `code` values. Argument errors are the built-in `TypeError`/`RangeError` with a
 * Node-style `code`, so `instanceof` and `err.code` both work; steadfast's own failures are
 * {@link SteadfastError}.
 */

/** An error raised by steadfast itself, carrying a stable `code` such as `'ERR_STEADFAST_NO_BINARY'`. */
export class SteadfastError extends Error {
  /** Stable, machine-readable identifier of the failure. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'SteadfastError';
    this.code = code;
  }
}

/** A `TypeError` or `RangeError` with a `code`, as Node's own argument checks throw. */
export type CodedError<E extends Error> = E & { code: string };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}...` : value)})`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `type ${typeof value} (${String(value)})`;
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`: "The "name" argument must be EXPECTED. Received ..." */
export function invalidArgType(name: string, expected: string, actual: unknown): CodedError<TypeError> {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as CodedError<TypeError>;
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** `RangeError` with code `ERR_OUT_OF_RANGE`. */
export function outOfRange(name: string, range: string, actual: unknown): CodedError<RangeError> {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`) as CodedError<RangeError>;
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** True for an AbortSignal (from this realm or another: checked by shape). */
export function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === 'object' && value !== null && 'aborted' in value && 'addEventListener' in value;
}
