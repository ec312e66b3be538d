/**
 * steadfast: fault tolerance for Node.js services on small clusters of Linux boards (riscv64 first,
 * x86-64 equally). This release provides the native foundation, CRC-32C and CRC-32 with hardware
 * paths, and durable state built on it: {@link CheckpointStore} (mirrored snapshots that are checked
 * and repaired on load) and {@link AppendLog} (an append-only log with group commit), both proven by
 * CRC-32C and recovering from torn writes after a crash; and heartbeats: {@link Heartbeat}, a monitor,
 * agent or mesh member on a native UDP engine with its own thread, which tells a dead peer from a
 * stalled one within about a second.
 *
 * @packageDocumentation
 */
export {
  crc32c,
  crc32,
  crc32cCombine,
  crc32Combine,
  crcInfo,
  crcImplementation,
  type CrcInput,
  type CrcInfo,
  type CrcImplementation,
  type CrcImplementationName,
} from './crc';
export { SteadfastError, type CodedError } from './errors';
export * from './store/index';
export * from './heartbeat/index';
export { bindingOrigin, type BindingOrigin } from './binding';
