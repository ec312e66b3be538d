/**
 * The heartbeat's errors: {@link HeartbeatError}, one class for bad options and for what the engine or
 * the system refused (a port in use, an address this host does not have), and the helpers that make them.
 * Loads no binding, so the CLI can check its arguments without it.
 */
import { SteadfastError, invalidArgType as argTypeError } from '../errors';

/**
 * Codes a {@link HeartbeatError} carries:
 * - `'ERR_INVALID_ARG_TYPE'`, `'ERR_INVALID_ARG_VALUE'`: a bad option or argument (the message names it);
 * - `'ERR_INVALID_STATE'`: a call the role does not allow (`addPeer` on a monitor);
 * - `'SF_CLOSED'`: the heartbeat was closed;
 * - an errno name from binding the socket or sending: `'EADDRINUSE'` (the port is taken),
 *   `'EADDRNOTAVAIL'` (this host has no such address), `'EACCES'` (a privileged port), `'EINVAL'`...
 */
export type HeartbeatErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_STATE'
  | 'SF_CLOSED'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EACCES'
  | 'EINVAL'
  | (string & {});

/** Details a {@link HeartbeatError} may carry, each present only when it applies. */
export interface HeartbeatErrorDetails {
  /** The address concerned: `'127.0.0.1:7400'` or `'[::1]:7400'`. */
  address?: string;
  /** The C error number (`-98` for EADDRINUSE), for errors the engine returned. */
  errno?: number;
}

/** A heartbeat failure or a bad heartbeat option, with a stable {@link HeartbeatErrorCode}. */
export class HeartbeatError extends SteadfastError implements HeartbeatErrorDetails {
  declare readonly code: HeartbeatErrorCode;
  // `declare`: no class fields, so a detail that does not apply is absent rather than undefined.
  declare readonly address?: string;
  declare readonly errno?: number;

  /**
   * The heartbeat creates these itself; construct one to make a test double.
   * @param code the stable code, e.g. `'EADDRINUSE'`.
   * @param message what failed, in words.
   * @param details the details that apply.
   */
  constructor(code: HeartbeatErrorCode, message: string, details: HeartbeatErrorDetails = {}) {
    super(code, message);
    this.name = 'HeartbeatError';
    if (details.address !== undefined) Object.assign(this, { address: details.address });
    if (details.errno !== undefined) Object.assign(this, { errno: details.errno });
  }
}

/** `ERR_INVALID_ARG_TYPE`, worded as Node's own checks word it. Internal. */
export function invalidArgType(name: string, expected: string, actual: unknown): HeartbeatError {
  return new HeartbeatError('ERR_INVALID_ARG_TYPE', argTypeError(name, expected, actual).message);
}

/** `ERR_INVALID_ARG_VALUE`: "The argument 'name' REASON. Received VALUE". Internal. */
export function invalidArgValue(name: string, value: unknown, reason: string): HeartbeatError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? `[${value.length} items]` : String(value);
  return new HeartbeatError('ERR_INVALID_ARG_VALUE', `The argument '${name}' ${reason}. Received ${shown}`);
}

/** The `SF_CLOSED` error of a closed heartbeat. Internal. */
export function closedError(what: string): HeartbeatError {
  return new HeartbeatError('SF_CLOSED', `${what}: the heartbeat is closed`);
}

/**
 * Turns an error the binding threw (an Error with `code`, `errno` and maybe `address`) into a
 * {@link HeartbeatError}; anything else passes through unchanged. Internal.
 */
export function toHeartbeatError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof HeartbeatError) return err;
  const native = err as Error & { code?: unknown; errno?: unknown; address?: unknown };
  if (typeof native.code !== 'string') return err;
  return new HeartbeatError(native.code, native.message, {
    address: typeof native.address === 'string' ? native.address : undefined,
    errno: typeof native.errno === 'number' ? native.errno : undefined,
  });
}
