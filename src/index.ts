/**
 * steadfast: fault tolerance for Node.js services on small clusters of Linux boards (riscv64 first,
 * x86-64 equally). This release provides the native foundation: CRC-32C and CRC-32 with hardware
 * paths. Heartbeats and durable checkpoints build on it.
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
export { bindingOrigin, type BindingOrigin } from './binding';
