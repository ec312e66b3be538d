/**
 * Heartbeat: one native heartbeat engine (native/heartbeat/engine.c, on its own thread) as an
 * EventEmitter. This file starts and stops the engine and turns its event batches into events; the
 * engine learns this thread's event-loop lag from the shared lag timer (lag.ts).
 */
import { EventEmitter } from 'node:events';
import { binding } from '../binding';
import { throwIfAborted } from '../store/errors';
import { closedError, HeartbeatError, invalidArgValue, toHeartbeatError } from './errors';
import { toEvent, type HeartbeatEvent, type HeartbeatEventType, type HeartbeatMember, type HeartbeatStats } from './events';
import { EventQueue } from './iterator';
import { unwatchLag, watchLag } from './lag';
import type { NativeHeartbeatDefaults, NativeHeartbeatEvent, NativeHeartbeatHandle } from './native';
import {
  checkFamily,
  checkNumber,
  checkSignal,
  checkId,
  formatAddress,
  parseAddress,
  resolveKeys,
  resolveOptions,
  type HeartbeatKey,
  type HeartbeatOptions,
  type HeartbeatRole,
} from './options';

/** The events a {@link Heartbeat} emits, with their arguments. */
export interface HeartbeatEventMap {
  alive: [HeartbeatEvent];
  suspect: [HeartbeatEvent];
  dead: [HeartbeatEvent];
  restarted: [HeartbeatEvent];
  stalled: [HeartbeatEvent];
  resumed: [HeartbeatEvent];
  left: [HeartbeatEvent];
  paused: [HeartbeatEvent];
  /** Every event above, after its own. */
  event: [HeartbeatEvent];
  /** The heartbeat closed; no event follows. */
  close: [];
}

/** Options of {@link Heartbeat.events}. */
export interface HeartbeatEventsOptions {
  /** Aborting it ends the iteration with an AbortError. */
  signal?: AbortSignal;
  /** The most events kept for a consumer that reads slower than they come; the oldest go first. Default 1024. */
  bufferSize?: number;
}

/** Options of {@link Heartbeat.close}. */
export interface HeartbeatCloseOptions {
  /** Send a last beat saying this node leaves, so its peers report `left` at once rather than `dead` later. Default true. */
  leave?: boolean;
}

/** The socket's local address. */
export interface HeartbeatAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

let defaults: NativeHeartbeatDefaults | undefined;
/** The engine's defaults (sf_hb_options_init), read once. Internal. */
export function engineDefaults(): NativeHeartbeatDefaults {
  defaults ??= binding.hbDefaults();
  return defaults;
}

let warnedNoKey = false;
function warnNoKey(): void {
  if (warnedNoKey) return;
  warnedNoKey = true;
  process.emitWarning(
    'steadfast heartbeats without a key are protected by a CRC-32C only: anyone who can send UDP to this ' +
      'node can forge beats (keep a dead peer "alive", or make a live one look restarted). Pass a `key` ' +
      '(16..64 random bytes, the same on every node).',
    { code: 'SF_HB_NO_KEY' },
  );
}

/**
 * A heartbeat node: a monitor, an agent or a mesh member (see {@link HeartbeatOptions.role}). The
 * constructor binds the UDP socket and starts the engine's thread at once; events arrive on the
 * JS thread in batches. Peers move `alive` → `suspect` → `dead` (and back to `alive`) as the phi-accrual
 * detector judges the silence, and report `restarted`, `stalled`/`resumed` and `left` as they happen.
 *
 * @example
 * const monitor = Heartbeat.monitor({ bind: '0.0.0.0:7400', key });
 * monitor.on('dead', (e) => console.log(`${e.peer.id} is dead (last seen ${e.lastSeenMs} ms ago)`));
 *
 * const agent = Heartbeat.agent({ peers: ['10.0.0.1:7400'], id: 'worker-1', key });
 * // ... on shutdown:
 * await agent.close();
 */
export class Heartbeat extends EventEmitter<HeartbeatEventMap> {
  /** This node's id. */
  readonly id: string;
  /** What this node does. */
  readonly role: HeartbeatRole;
  /** This node's incarnation: a decimal string, the wall-clock time in ns when it started. */
  readonly incarnation: string;
  /** The socket's local address (with the port chosen, when bind asked for port 0). */
  readonly address: HeartbeatAddress;
  private readonly handle: NativeHeartbeatHandle;
  private readonly queues = new Set<EventQueue>();
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => void this.close();
  private closing: Promise<void> | null = null;

  /**
   * Checks the options, binds the socket and starts the engine.
   * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for a bad option
   * (the message names it); `EADDRINUSE`, `EADDRNOTAVAIL` or `EACCES` (with `address`) if the socket
   * cannot be bound. An AbortError if `signal` is already aborted.
   */
  constructor(options: HeartbeatOptions) {
    super();
    const o = resolveOptions(options, engineDefaults());
    throwIfAborted(o.signal);
    let started;
    try {
      started = binding.hbStart({
        role: o.role,
        id: o.id,
        host: o.bind.host,
        port: o.bind.port,
        onEvents: (events) => this.deliver(events),
        ...o.tuning,
        keys: o.keys,
        sendKeyId: o.sendKeyId,
      });
    } catch (err) {
      throw toHeartbeatError(err);
    }
    this.handle = started.handle;
    try {
      for (const peer of o.peers) binding.hbAddTarget(this.handle, peer.host, peer.port);
      this.address = binding.hbAddress(this.handle);
    } catch (err) {
      binding.hbStop(this.handle, false);
      throw toHeartbeatError(err);
    }
    this.id = o.id;
    this.role = o.role;
    this.incarnation = started.incarnation;
    if (o.unref) binding.hbUnref(this.handle);
    watchLag(this.handle);
    this.signal = o.signal;
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (o.keys.length === 0) warnNoKey();
  }

  /** A monitor: `new Heartbeat({ ...options, role: 'monitor' })`. */
  static monitor(options: Omit<HeartbeatOptions, 'role'> = {}): Heartbeat {
    return new Heartbeat({ ...options, role: 'monitor' });
  }

  /** An agent: `new Heartbeat({ ...options, role: 'agent' })`; `peers` names the monitors. */
  static agent(options: Omit<HeartbeatOptions, 'role'>): Heartbeat {
    return new Heartbeat({ ...options, role: 'agent' });
  }

  /** A mesh member: `new Heartbeat({ ...options, role: 'mesh' })`; `peers` names the other members. */
  static mesh(options: Omit<HeartbeatOptions, 'role'> = {}): Heartbeat {
    return new Heartbeat({ ...options, role: 'mesh' });
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * The peers, now: a monitor's every agent heard from, a mesh's every member, an agent's monitors
   * (with the round trip to each).
   * @throws {@link HeartbeatError} `SF_CLOSED`.
   */
  members(): HeartbeatMember[] {
    if (this.closed) throw closedError('members');
    return binding.hbMembers(this.handle);
  }

  /**
   * The engine's counters, now.
   * @throws {@link HeartbeatError} `SF_CLOSED`.
   */
  stats(): HeartbeatStats {
    if (this.closed) throw closedError('stats');
    return binding.hbStats(this.handle);
  }

  /**
   * Agent and mesh: beats go to `address` too (a mesh tracks it once it beats back). Adding a peer
   * that is already one does nothing, as the `peers` option ignores a repeated address.
   * @throws {@link HeartbeatError} `ERR_INVALID_ARG_VALUE` for a bad address or one of the other family,
   * `ERR_INVALID_STATE` on a monitor, `SF_CLOSED`; `ENOSPC` past 65536 peers.
   */
  addPeer(address: string): void {
    const peer = this.peerArgument(address, 'addPeer');
    try {
      binding.hbAddTarget(this.handle, peer.host, peer.port);
    } catch (err) {
      const error = toHeartbeatError(err);
      if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
    }
  }

  /**
   * Agent and mesh: stops beating to `address` and forgets the member there (with no event).
   * @returns false if it was not a peer.
   * @throws {@link HeartbeatError} as {@link addPeer} does.
   */
  removePeer(address: string): boolean {
    const peer = this.peerArgument(address, 'removePeer');
    try {
      binding.hbRemoveTarget(this.handle, peer.host, peer.port);
      return true;
    } catch (err) {
      const error = toHeartbeatError(err);
      if ((error as { code?: unknown }).code === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Monitor: forgets the peer `id` (with no event), as for an agent retired on purpose. It is learned
   * again if it beats again.
   * @returns false if no such peer is tracked.
   * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for a bad id, `SF_CLOSED`.
   */
  forget(id: string): boolean {
    checkId(id, 'id');
    if (this.closed) throw closedError('forget');
    try {
      binding.hbForget(this.handle, id);
      return true;
    } catch (err) {
      const error = toHeartbeatError(err);
      if ((error as { code?: unknown }).code === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Replaces the keys, for a rotation without downtime: first give every node both keys (signing with the
   * old one), then make the new one sign everywhere, then drop the old one.
   * @param key as {@link HeartbeatOptions.key}.
   * @param sendKeyId the id of the key that signs; default the first.
   * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for a bad key (as the
   * `key` option), `SF_CLOSED`.
   */
  setKeys(key: Uint8Array | HeartbeatKey | HeartbeatKey[], sendKeyId?: number): void {
    const resolved = resolveKeys(key, sendKeyId, 'key', 'sendKeyId');
    if (this.closed) throw closedError('setKeys');
    try {
      binding.hbSetKeys(this.handle, resolved.keys, resolved.sendKeyId);
    } catch (err) {
      throw toHeartbeatError(err);
    }
  }

  /**
   * The events as an async iterator, from this call on, until the heartbeat closes.
   * @example
   * for await (const event of monitor.events({ signal })) console.log(event.type, event.peer.id);
   */
  events(options: HeartbeatEventsOptions = {}): AsyncIterableIterator<HeartbeatEvent> {
    if (typeof options !== 'object' || options === null) throw invalidArgValue('options', options, 'must be an object');
    const signal = checkSignal(options.signal, 'options.signal');
    const size = options.bufferSize === undefined ? 1024 : checkNumber(options.bufferSize, 'options.bufferSize', 1, 1 << 20, { integer: true });
    const onAbort = (): void => queue.abort(signal!.reason);
    const queue = new EventQueue(size, (q) => {
      this.queues.delete(q);
      signal?.removeEventListener('abort', onAbort);
    });
    this.queues.add(queue);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (this.closed) queue.end();
    return queue;
  }

  /** `for await (const event of heartbeat)`: {@link events} with no options. */
  [Symbol.asyncIterator](): AsyncIterableIterator<HeartbeatEvent> {
    return this.events();
  }

  /**
   * Stops the engine (after a last beat saying this node leaves, unless `leave` is false) and closes the
   * socket. Idempotent: every call returns the same promise. `'close'` is emitted, and event iterators
   * end, before it resolves.
   */
  close(options: HeartbeatCloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    const leave = options?.leave ?? true;
    if (typeof leave !== 'boolean') return Promise.reject(invalidArgValue('options.leave', leave, 'must be a boolean'));
    this.closing = new Promise((resolve) => {
      process.nextTick(() => {
        // Resolved even if a 'close' listener throws (its exception is then an uncaught one, as for
        // any listener): a close() that never settles would hang every caller awaiting it.
        try {
          this.emit('close');
        } finally {
          resolve();
        }
      });
    });
    unwatchLag(this.handle);
    this.signal?.removeEventListener('abort', this.onAbort);
    binding.hbStop(this.handle, leave);
    for (const queue of [...this.queues]) queue.end();
    return this.closing;
  }

  /**
   * TEST HOOK: drops incoming datagrams at random with probability `rate` (0..1), from every sender or
   * from `fromAddress` only; they are counted in `stats().droppedInjected`. For tests of loss tolerance,
   * never for production.
   */
  simulateLoss(rate: number, fromAddress?: string): void {
    checkNumber(rate, 'rate', 0, 1);
    const from =
      fromAddress === undefined ? undefined : checkFamily(parseAddress(fromAddress, 'fromAddress', '127.0.0.1', false), this.address, 'fromAddress');
    if (this.closed) throw closedError('simulateLoss');
    try {
      binding.hbSetLoss(this.handle, rate, from?.host, from?.port);
    } catch (err) {
      throw toHeartbeatError(err);
    }
  }

  /** A peer address argument of addPeer/removePeer, checked against the role and the socket's family. */
  private peerArgument(address: unknown, method: string): { host: string; port: number } {
    const peer = parseAddress(address, 'address', '127.0.0.1', false);
    checkFamily(peer, this.address, 'address');
    if (this.closed) throw closedError(method);
    if (this.role === 'monitor') {
      throw new HeartbeatError('ERR_INVALID_STATE', `${method}: a monitor has no peers of its own (agents find it by beating to it)`, {
        address: formatAddress(peer),
      });
    }
    return peer;
  }

  /**
   * JS thread, from the binding: one batch of events. A listener's exception is rethrown on the next
   * tick, where it is an ordinary uncaught exception: thrown from here, into the binding's thread-safe
   * function call, Node would swallow it. The rest of the batch is still delivered.
   */
  private deliver(batch: NativeHeartbeatEvent[]): void {
    for (const native of batch) {
      if (this.closed) return;
      const event = toEvent(native);
      for (const queue of this.queues) queue.push(event);
      // Apart, so that a throwing listener of one name does not keep the event from the other's.
      this.emitSafely(event.type, event);
      this.emitSafely('event', event);
    }
  }

  private emitSafely(name: HeartbeatEventType | 'event', event: HeartbeatEvent): void {
    try {
      this.emit(name, event);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
