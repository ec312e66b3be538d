/**
 * Durable state: {@link CheckpointStore} (whole snapshots, mirrored, checked by CRC-32C, repaired on
 * load) and {@link AppendLog} (every change between snapshots, with group commit), plus read-only
 * inspection of both and their errors. Re-exported by the package entry point (src/index.ts).
 */
export {
  CheckpointStore,
  inspectCheckpoints,
  type CheckpointStoreOptions,
  type SaveOptions,
  type SaveResult,
  type LoadOptions,
  type LoadedCheckpoint,
  type CheckpointRepair,
  type CheckpointFile,
  type CheckpointVerifyReport,
} from './checkpoint';
export {
  AppendLog,
  inspectLog,
  type AppendLogOptions,
  type AppendOptions,
  type ReplayOptions,
  type LogRecovery,
  type LogRecord,
  type LogSegment,
} from './log';
export { type Codec, type CodecName } from './codec';
export { StoreError, AbortError, storeErrorName, type StoreErrorCode, type StoreErrorDetails } from './errors';
