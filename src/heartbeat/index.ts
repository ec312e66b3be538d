/**
 * Heartbeats: {@link Heartbeat} (a monitor, an agent or a mesh member on a native UDP engine with its own
 * thread), its events, members and counters, its errors, and {@link detectionBoundMs}. Re-exported by
 * the package entry point (src/index.ts).
 */
export {
  Heartbeat,
  type HeartbeatEventMap,
  type HeartbeatEventsOptions,
  type HeartbeatCloseOptions,
  type HeartbeatAddress,
} from './heartbeat';
export { type HeartbeatOptions, type HeartbeatRole, type HeartbeatAlgorithm, type HeartbeatKey } from './options';
export { type HeartbeatEvent, type HeartbeatEventType, type HeartbeatMember, type HeartbeatStats } from './events';
export { HeartbeatError, type HeartbeatErrorCode, type HeartbeatErrorDetails } from './errors';
export { detectionBoundMs } from './detection';
