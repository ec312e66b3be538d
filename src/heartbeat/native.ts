/**
 * The shapes the heartbeat part of the native binding (native/napi/heartbeat.cc) takes and returns.
 * Types only: nothing here loads the binding. Internal.
 */
import type { HeartbeatMember, HeartbeatStats } from './events';

/** An engine, as the binding hands it out (an External). */
export type NativeHeartbeatHandle = object & { readonly __brand?: 'steadfast.heartbeat' };

/** A key as the binding takes it; src/heartbeat/options.ts has checked it. */
export interface NativeHeartbeatKey {
  id: number;
  algorithm: 'hmac-sha256' | 'siphash-2-4';
  key: Uint8Array;
}

/** hbStart's argument. Tuning fields left out keep the engine's defaults (sf_hb_options_init). */
export interface NativeHeartbeatStart extends NativeHeartbeatTuning {
  role: 'monitor' | 'agent' | 'mesh';
  id: string;
  /** A numeric IPv4 or IPv6 address, without brackets. */
  host: string;
  port: number;
  /** Called on the JS thread with every event the engine queued since the last call. */
  onEvents(events: NativeHeartbeatEvent[]): void;
  keys?: NativeHeartbeatKey[];
  sendKeyId?: number;
}

/** The detector and probe tuning, as the engine names it (sf_hb_options_t); left out: the default. */
export interface NativeHeartbeatTuning {
  intervalMs?: number;
  suspectPhi?: number;
  deadPhi?: number;
  minStdDevMs?: number;
  acceptablePauseMs?: number;
  stallMs?: number;
  indirectProbes?: number;
}

/** An event as the binding delivers it (sf_hb_event_t). */
export interface NativeHeartbeatEvent {
  type: 'alive' | 'suspect' | 'dead' | 'restarted' | 'stalled' | 'resumed' | 'left' | 'paused';
  id: string;
  /** `'127.0.0.1:7400'`, `'[::1]:7400'`, or `''` (a `paused` event). */
  address: string;
  incarnation: string;
  previousIncarnation: string;
  phi: number;
  lastSeenMs: number;
  rttMs: number | null;
  lagMs: number | null;
  at: number;
}

/** A member as the binding lists it (sf_hb_member_t): already the public shape. */
export type NativeHeartbeatMember = HeartbeatMember;

/** The engine's counters (sf_hb_stats_t): already the public shape. */
export type NativeHeartbeatStats = HeartbeatStats;

/** The engine's defaults (sf_hb_options_init) that options.ts derives others from. */
export interface NativeHeartbeatDefaults {
  suspectPhi: number;
  deadPhi: number;
}

/** A packet's fields as hbEncodePacket takes them and hbDecodePacket returns them (sf_hb_packet_t). */
export interface NativePacketFields {
  /** Decoded packets only. */
  version?: number;
  /** sf_hb_type_t: 1 beat, 2 ack, 3 ping-req, 4 ping, 5 ping-ack. */
  type: number;
  flags: number;
  sender: string;
  incarnation: bigint;
  seq: bigint;
  sendTime: bigint;
  lagUs: number;
  intervalMs: number;
  rttUs: number;
  /** '' and 0n for a beat, which has no body. */
  target: string;
  probeId: bigint;
  echoTime: bigint;
  /** Decoded packets only. */
  auth?: 'crc32c' | 'hmac-sha256' | 'siphash-2-4';
  keyId?: number;
}

/** The heartbeat functions of the native module. */
export interface HeartbeatBinding {
  hbStart(options: NativeHeartbeatStart): { handle: NativeHeartbeatHandle; incarnation: string };
  hbStop(handle: NativeHeartbeatHandle, leave: boolean): void;
  hbUnref(handle: NativeHeartbeatHandle): void;
  hbAddress(handle: NativeHeartbeatHandle): { address: string; family: 'IPv4' | 'IPv6'; port: number };
  hbAddTarget(handle: NativeHeartbeatHandle, host: string, port: number): void;
  /** Throws ENOENT if it was not a target. */
  hbRemoveTarget(handle: NativeHeartbeatHandle, host: string, port: number): void;
  /** Throws ENOENT if no such peer. */
  hbForget(handle: NativeHeartbeatHandle, id: string): void;
  hbSetKeys(handle: NativeHeartbeatHandle, keys: NativeHeartbeatKey[], sendKeyId: number): void;
  hbTick(handle: NativeHeartbeatHandle, periodMs: number, lagUs: number): void;
  hbMembers(handle: NativeHeartbeatHandle): NativeHeartbeatMember[];
  hbStats(handle: NativeHeartbeatHandle): NativeHeartbeatStats;
  hbSetLoss(handle: NativeHeartbeatHandle, rate: number, host?: string, port?: number): void;
  hbEncodePacket(fields: NativePacketFields, key: NativeHeartbeatKey | null): Buffer;
  hbDecodePacket(bytes: Uint8Array, keys: NativeHeartbeatKey[]): NativePacketFields | { error: string };
  hbDefaults(): NativeHeartbeatDefaults;
  /** sf_hb_detection_bound_ms: the detection bound for a role and the tuning given (the rest: defaults). */
  hbDetectionBound(options: { role: 'monitor' | 'agent' | 'mesh' } & NativeHeartbeatTuning): number;
}
