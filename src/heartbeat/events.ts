/**
 * What a {@link Heartbeat} reports: its events (a peer's change of state, with the evidence), its
 * members and its counters, as the public types, and the conversion of the binding's events (its
 * members and counters already have the public shape).
 */
import type { NativeHeartbeatEvent } from './native';

/**
 * - `'alive'`: a peer's first beat, or beats again after `suspect` or `dead`;
 * - `'suspect'`: phi passed `suspectPhi`;
 * - `'dead'`: phi passed `phiThreshold` (in a mesh, after no indirect probe got through);
 * - `'restarted'`: a beat with a newer incarnation: the peer's process started again;
 * - `'stalled'`: the peer beats, but its JS event loop has been blocked for more than `stallMs`;
 * - `'resumed'`: its event-loop lag fell back under `stallMs`;
 * - `'left'`: the peer closed on purpose;
 * - `'paused'`: this process itself was not scheduled for a while (`lastSeenMs` holds how long); peers'
 *   beats missed meanwhile are not held against them. `peer` is empty.
 */
export type HeartbeatEventType = 'alive' | 'suspect' | 'dead' | 'restarted' | 'stalled' | 'resumed' | 'left' | 'paused';

/** One change of a peer's state, with the evidence. */
export interface HeartbeatEvent {
  type: HeartbeatEventType;
  /** Who: its id, where its packets come from, and its incarnation (a decimal string; new on every start). */
  peer: { id: string; address: string; incarnation: string };
  /** `restarted` only: the incarnation before. */
  previousIncarnation?: string;
  /** The peer's phi when the event happened. */
  phi: number;
  /** Milliseconds since the peer's last valid packet (`paused`: how long this process was paused). */
  lastSeenMs: number;
  /** The latest round-trip time to the peer, or null if none was measured. */
  rttMs: number | null;
  /** The peer's JS event-loop lag as it last reported it, or null if unknown. */
  lagMs: number | null;
  /** When, in ms since the epoch. */
  at: number;
}

/** A member as {@link Heartbeat.members} shows it. */
export interface HeartbeatMember {
  /** Its id; `''` for a peer not heard from yet. */
  id: string;
  /** Where its packets come from (or, for a peer not heard from yet, where beats go). */
  address: string;
  /**
   * `'unknown'`: a mesh member not heard from yet, or an agent's monitor (an agent does not judge its
   * monitors; it measures the round trip to them).
   */
  state: 'unknown' | 'alive' | 'suspect' | 'dead' | 'left';
  /** True while its event-loop lag is over `stallMs`. */
  stalled: boolean;
  /** Its incarnation, a decimal string (`'0'` until heard from). */
  incarnation: string;
  /** Its phi now: how unlikely its silence so far is, on a log10 scale (0 for a member never heard from). */
  phi: number;
  /** Milliseconds since its last valid packet, or null if never. */
  lastSeenMs: number | null;
  /** The latest round-trip time to it, or null if none was measured. */
  rttMs: number | null;
  /** Its JS event-loop lag as it last reported it, or null if unknown. */
  lagMs: number | null;
  /** The mean interval between its beats, as the detector sees it. */
  meanIntervalMs: number;
  /** Valid packets received from it. */
  beats: number;
}

/** The engine's counters. Every datagram dropped is counted in exactly one `dropped*` field. */
export interface HeartbeatStats {
  /** Datagrams read from the socket. */
  received: number;
  /** Datagrams that passed every check. */
  accepted: number;
  /** Datagrams sent. */
  sent: number;
  /** Sends that failed (the datagram is lost, as on a lossy network). */
  sendErrors: number;
  /** Too short, a bad length or id, an unknown type. */
  droppedMalformed: number;
  /** Wrong magic or an unknown protocol version. */
  droppedVersion: number;
  /** A tag that does not verify, an unknown key id, or no tag where a key is required. */
  droppedAuth: number;
  /** Already seen, too old for the replay window, or of an older incarnation. */
  droppedReplay: number;
  /** Valid, but from a sender this role does not track. */
  droppedUnknown: number;
  /** Dropped by {@link Heartbeat.simulateLoss}. */
  droppedInjected: number;
  /** Times this process was found not to have been scheduled for a while. */
  pauses: number;
  /** Engine timer expirations handled. */
  ticks: number;
}

/** The binding's event as the public type. Internal. */
export function toEvent(e: NativeHeartbeatEvent): HeartbeatEvent {
  const event: HeartbeatEvent = {
    type: e.type,
    peer: { id: e.id, address: e.address, incarnation: e.incarnation },
    phi: e.phi,
    lastSeenMs: e.lastSeenMs,
    rttMs: e.rttMs,
    lagMs: e.lagMs,
    at: e.at,
  };
  if (e.type === 'restarted') event.previousIncarnation = e.previousIncarnation;
  return event;
}
