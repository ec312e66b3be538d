/**
 * The heartbeat's options: their types, their checks (each bad option gets a {@link HeartbeatError} that
 * names it), addresses ('host:port', '[v6]:port', a port) and keys. Loads no binding: the engine's own
 * defaults come in as an argument, and the CLI checks its arguments with these functions alone.
 */
import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import * as os from 'node:os';
import { isUint8Array } from 'node:util/types';
import { isAbortSignal } from '../errors';
import { invalidArgType, invalidArgValue } from './errors';
import type { NativeHeartbeatDefaults, NativeHeartbeatKey } from './native';

/**
 * What a {@link Heartbeat} does:
 * - `'monitor'` listens, learns every agent that beats to it, and reports their state;
 * - `'agent'` beats to one or more monitors (and measures its round trip to them);
 * - `'mesh'` beats to every member of a list and tracks each, asking others to probe a silent member
 *   before it declares it dead.
 */
export type HeartbeatRole = 'monitor' | 'agent' | 'mesh';

/**
 * How packets are authenticated with a key: HMAC-SHA-256 truncated to 128 bits (keys of 16 to 64 bytes),
 * or SipHash-2-4 (keys of exactly 16 bytes; cheaper, with a 64-bit tag).
 */
export type HeartbeatAlgorithm = 'hmac-sha256' | 'siphash-2-4';

/** A cluster key. Each packet names the id of the key that signed it, so keys rotate without downtime. */
export interface HeartbeatKey {
  /** 0..255, carried in every packet. */
  id: number;
  /** The secret: 16..64 bytes for `'hmac-sha256'`, exactly 16 for `'siphash-2-4'`. */
  key: Uint8Array;
  /** Default `'hmac-sha256'`. */
  algorithm?: HeartbeatAlgorithm;
}

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** What this node does: see {@link HeartbeatRole}. */
  role: HeartbeatRole;
  /**
   * This node's id, 1..64 bytes of UTF-8. Default `` `${os.hostname()}-${process.pid}` ``, so two
   * heartbeats in one process that talk to each other need ids of their own: an engine ignores
   * packets that carry its own id (a mesh list may name the member itself).
   */
  id?: string;
  /**
   * The local address: `'host:port'`, `'[v6]:port'`, `':port'` or a port number, with a numeric IP or
   * `'localhost'`. Default: `'0.0.0.0:7400'` for a monitor, `'0.0.0.0:0'` (any free port) otherwise, or
   * `'[::]:0'` when a peer is IPv6 (an IPv6 socket reaches IPv4 peers too).
   */
  bind?: string | number;
  /**
   * Agent: the monitors' addresses (at least one). Mesh: the other members' addresses (more can be
   * added with {@link Heartbeat.addPeer}). A monitor has none. Same forms as `bind`; a bare port means
   * 127.0.0.1. An IPv4 `bind` cannot reach IPv6 peers.
   */
  peers?: string[];
  /** Beat interval, 10..60000 ms. Default 100. */
  intervalMs?: number;
  /** The phi at which a peer is declared `dead`. Default 8. */
  phiThreshold?: number;
  /** The phi at which a peer becomes `suspect`; below `phiThreshold`. Default 3 (half of phiThreshold when that is 3 or less). */
  suspectPhi?: number;
  /**
   * Floor of the standard deviation of a peer's inter-arrival times in the phi detector. Default: the
   * peer's interval (docs/failure-detection.md).
   */
  minStdDevMs?: number;
  /**
   * Silence tolerated on top of the mean inter-arrival time before phi rises (0 allowed). Default: 2.5
   * times the peer's interval.
   */
  acceptablePauseMs?: number;
  /** A peer whose JS event-loop lag passes this is `stalled` (and `resumed` under it). Default 1000. */
  stallMs?: number;
  /** Mesh: members asked to probe a silent member before it is declared dead, 0..16. Default 3. */
  indirectProbes?: number;
  /**
   * The cluster key(s). A Uint8Array alone is `{ id: 0, key, algorithm: 'hmac-sha256' }`; several keys
   * (up to 4) all verify, and `sendKeyId` signs. Without a key, packets carry a CRC-32C only and anyone
   * on the network can forge them: a warning (`SF_HB_NO_KEY`) says so once per process (per thread, in worker threads).
   */
  key?: Uint8Array | HeartbeatKey | HeartbeatKey[];
  /** With several keys: the id of the one that signs what this node sends. Default: the first. */
  sendKeyId?: number;
  /** Do not keep the process alive for this heartbeat (as `timer.unref()`). Default false. */
  unref?: boolean;
  /** Aborting it closes the heartbeat (as `close()`, with a leave). */
  signal?: AbortSignal;
}

/** An address, parsed: a numeric IP (IPv6 without brackets) and a port. */
export interface ParsedAddress {
  host: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** The options after checking, as {@link Heartbeat} uses them. Internal. */
export interface ResolvedOptions {
  role: HeartbeatRole;
  id: string;
  bind: ParsedAddress;
  peers: ParsedAddress[];
  /** Only the tuning the caller gave (or derived from it); the engine's defaults stand for the rest. */
  tuning: {
    intervalMs?: number;
    deadPhi?: number;
    suspectPhi?: number;
    minStdDevMs?: number;
    acceptablePauseMs?: number;
    stallMs?: number;
    indirectProbes?: number;
  };
  keys: NativeHeartbeatKey[];
  sendKeyId: number;
  unref: boolean;
  signal: AbortSignal | undefined;
}

const ROLES: readonly HeartbeatRole[] = ['monitor', 'agent', 'mesh'];
const MAX_ID_BYTES = 64;
const MAX_KEYS = 4;
/** The port a monitor listens on when `bind` is not given. */
export const DEFAULT_MONITOR_PORT = 7400;

/** `'1.2.3.4:5'` or `'[::1]:5'`. */
export function formatAddress(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function parsePort(text: string, name: string, value: unknown, allowZero: boolean): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= (allowZero ? 0 : 1) && port <= 65535)) {
    throw invalidArgValue(name, value, `must have a port from ${allowZero ? 0 : 1} to 65535`);
  }
  return port;
}

function parseHost(host: string, name: string, value: unknown): ParsedAddress['host'] {
  if (host === 'localhost') return '127.0.0.1';
  if (net.isIPv4(host)) return host;
  if (host.includes('%')) throw invalidArgValue(name, value, 'must not have an IPv6 zone index (link-local addresses are not supported)');
  if (net.isIPv6(host)) return host;
  throw invalidArgValue(
    name,
    value,
    "must be a numeric IP address ('10.0.0.5:7400', '[fd00::5]:7400') or localhost; resolve host names first, e.g. with dns.promises.lookup",
  );
}

/**
 * Parses an address: `'host:port'`, `'[v6]:port'`, `':port'`, `'port'` or a port number, the host a
 * numeric IP or `'localhost'` (127.0.0.1). A missing host is `defaultHost`.
 * @param name the option's name, for the error.
 * @param allowZero port 0 (any free port) is allowed: for a local address, not a peer's.
 * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`.
 */
export function parseAddress(value: unknown, name: string, defaultHost: string, allowZero: boolean): ParsedAddress {
  let host: string;
  let port: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw invalidArgValue(name, value, 'must be an integer port');
    port = parsePort(String(value), name, value, allowZero);
    host = defaultHost;
  } else if (typeof value === 'string') {
    const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(value);
    if (bracketed) {
      host = parseHost(bracketed[1]!, name, value);
      if (!net.isIPv6(host)) throw invalidArgValue(name, value, 'must have an IPv6 address between the brackets');
      port = parsePort(bracketed[2]!, name, value, allowZero);
    } else if (/^:?\d+$/.test(value)) {
      host = defaultHost;
      port = parsePort(value.replace(/^:/, ''), name, value, allowZero);
    } else {
      const colon = value.lastIndexOf(':');
      if (colon < 0) throw invalidArgValue(name, value, "must have a port ('host:port')");
      const hostPart = value.slice(0, colon);
      if (value.startsWith('[')) throw invalidArgValue(name, value, "must be '[v6]:port', with the port ('[::1]:7400')");
      if (hostPart.includes(':')) {
        throw invalidArgValue(name, value, "must put an IPv6 address in brackets ('[::1]:7400')");
      }
      host = parseHost(hostPart, name, value);
      port = parsePort(value.slice(colon + 1), name, value, allowZero);
    }
  } else {
    throw invalidArgType(name, 'of type string or number', value);
  }
  return { host, port, family: net.isIPv6(host) ? 'IPv6' : 'IPv4' };
}

/** The default id: `${os.hostname()}-${process.pid}`, the host name shortened to fit 64 bytes. */
export function defaultId(): string {
  const suffix = `-${process.pid}`;
  let host = os.hostname() || 'node';
  while (host.length > 0 && Buffer.byteLength(host + suffix) > MAX_ID_BYTES) host = host.slice(0, -1);
  return host + suffix;
}

/** Checks a node id: 1..64 bytes of UTF-8, no NUL. */
export function checkId(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  const bytes = Buffer.byteLength(value);
  if (bytes < 1 || bytes > MAX_ID_BYTES) throw invalidArgValue(name, value, `must be 1 to ${MAX_ID_BYTES} bytes of UTF-8 (it is ${bytes})`);
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must not contain null bytes');
  return value;
}

/** Checks a number in [min, max] (an integer if asked); `exclusiveMin` excludes min itself. */
export function checkNumber(
  value: unknown,
  name: string,
  min: number,
  max: number,
  { integer = false, exclusiveMin = false }: { integer?: boolean; exclusiveMin?: boolean } = {},
): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || (exclusiveMin && value === min) || value > max) {
    const what = integer ? 'an integer' : 'a number';
    throw invalidArgValue(name, value, `must be ${what} ${exclusiveMin ? '>' : '>='} ${min} and <= ${max}`);
  }
  return value;
}

/** `bytesName`: what to call the key's bytes in an error (`name` itself when they were given alone). */
function checkKey(value: unknown, name: string, bytesName = `${name}.key`): NativeHeartbeatKey {
  if (typeof value !== 'object' || value === null) throw invalidArgType(name, 'a Uint8Array or a { id, key, algorithm } object', value);
  const { id, key, algorithm = 'hmac-sha256' } = value as Partial<HeartbeatKey>;
  checkNumber(id, `${name}.id`, 0, 255, { integer: true });
  if (algorithm !== 'hmac-sha256' && algorithm !== 'siphash-2-4') {
    throw invalidArgValue(`${name}.algorithm`, algorithm, "must be 'hmac-sha256' or 'siphash-2-4'");
  }
  if (!isUint8Array(key)) throw invalidArgType(bytesName, 'an instance of Uint8Array or Buffer', key);
  if (algorithm === 'hmac-sha256' && (key.byteLength < 16 || key.byteLength > 64)) {
    throw invalidArgValue(bytesName, `${key.byteLength} bytes`, 'must be 16 to 64 bytes long for hmac-sha256');
  }
  if (algorithm === 'siphash-2-4' && key.byteLength !== 16) {
    throw invalidArgValue(bytesName, `${key.byteLength} bytes`, 'must be exactly 16 bytes long for siphash-2-4');
  }
  // A copy: the caller may reuse or wipe its buffer.
  return { id: id!, algorithm, key: Uint8Array.from(key) };
}

/**
 * Checks the `key` and `sendKeyId` options: one key as bytes or an object, or up to 4 with distinct ids.
 * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` (a key of the wrong length).
 */
export function resolveKeys(
  value: unknown,
  sendKeyId: unknown,
  name = 'options.key',
  sendKeyIdName = 'options.sendKeyId',
): { keys: NativeHeartbeatKey[]; sendKeyId: number } {
  let keys: NativeHeartbeatKey[];
  if (isUint8Array(value)) keys = [checkKey({ id: 0, key: value }, name, name)];
  else if (Array.isArray(value)) {
    if (value.length < 1 || value.length > MAX_KEYS) throw invalidArgValue(name, value, `must hold 1 to ${MAX_KEYS} keys`);
    keys = value.map((k, i) => checkKey(k, `${name}[${i}]`));
    if (new Set(keys.map((k) => k.id)).size !== keys.length) throw invalidArgValue(name, value, 'must not use a key id twice');
  } else keys = [checkKey(value, name)];
  let send = keys[0]!.id;
  if (sendKeyId !== undefined) {
    send = checkNumber(sendKeyId, sendKeyIdName, 0, 255, { integer: true });
    if (!keys.some((k) => k.id === send)) throw invalidArgValue(sendKeyIdName, sendKeyId, 'must be the id of one of the keys');
  }
  return { keys, sendKeyId: send };
}

function checkBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

/** Checks that `signal` is undefined or an AbortSignal. */
export function checkSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined || isAbortSignal(value)) return value;
  throw invalidArgType(name, 'an instance of AbortSignal', value);
}

/**
 * Checks every option and fills in the ones the TypeScript side decides (id, bind, peers). Tuning the
 * caller left out stays out, so that the engine's defaults (`defaults`, from sf_hb_options_init) apply.
 * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`, naming the option.
 */
export function resolveOptions(options: unknown, defaults: NativeHeartbeatDefaults): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  const o = options as Partial<Record<keyof HeartbeatOptions, unknown>>;
  if (typeof o.role !== 'string') throw invalidArgType('options.role', "one of 'monitor', 'agent' or 'mesh'", o.role);
  if (!ROLES.includes(o.role as HeartbeatRole)) throw invalidArgValue('options.role', o.role, "must be 'monitor', 'agent' or 'mesh'");
  const role = o.role as HeartbeatRole;
  const id = o.id === undefined ? defaultId() : checkId(o.id, 'options.id');

  let peers: ParsedAddress[] = [];
  if (o.peers !== undefined) {
    if (!Array.isArray(o.peers)) throw invalidArgType('options.peers', 'an array of addresses', o.peers);
    const seen = new Set<string>();
    for (const [i, peer] of (o.peers as unknown[]).entries()) {
      const parsed = parseAddress(peer, `options.peers[${i}]`, '127.0.0.1', false);
      const key = formatAddress(parsed);
      if (!seen.has(key)) peers.push(parsed);
      seen.add(key);
    }
  }
  if (role === 'monitor' && peers.length > 0) {
    throw invalidArgValue('options.peers', o.peers, 'must be empty for a monitor: agents find it by beating to it');
  }
  if (role === 'agent' && peers.length === 0) throw invalidArgValue('options.peers', o.peers, "must name at least one monitor for an agent ('host:port')");

  let bind: ParsedAddress;
  if (o.bind !== undefined) bind = parseAddress(o.bind, 'options.bind', '0.0.0.0', true);
  else if (peers.some((p) => p.family === 'IPv6')) bind = { host: '::', port: 0, family: 'IPv6' };
  else bind = { host: '0.0.0.0', port: role === 'monitor' ? DEFAULT_MONITOR_PORT : 0, family: 'IPv4' };
  peers = peers.map((p) => checkFamily(p, bind, 'options.peers'));

  const tuning = resolveTuning(o, defaults);

  let keys: NativeHeartbeatKey[] = [];
  let sendKeyId = 0;
  if (o.key !== undefined) ({ keys, sendKeyId } = resolveKeys(o.key, o.sendKeyId, 'options.key'));
  else if (o.sendKeyId !== undefined) throw invalidArgValue('options.sendKeyId', o.sendKeyId, 'needs options.key');

  return {
    role,
    id,
    bind,
    peers,
    tuning,
    keys,
    sendKeyId,
    unref: checkBoolean(o.unref, 'options.unref'),
    signal: checkSignal(o.signal, 'options.signal'),
  };
}

/** The engine treats 0 as "use the default", so an acceptable pause of 0 is passed as this instead. */
const NO_PAUSE_MS = 1e-6;

/**
 * Checks the detector's tuning options (intervalMs, phiThreshold, suspectPhi, minStdDevMs,
 * acceptablePauseMs, stallMs, indirectProbes) and returns those given, as the engine names them; a
 * suspectPhi is derived when the default one would not be below phiThreshold.
 */
export function resolveTuning(o: Partial<Record<keyof HeartbeatOptions, unknown>>, defaults: NativeHeartbeatDefaults): ResolvedOptions['tuning'] {
  const tuning: ResolvedOptions['tuning'] = {};
  if (o.intervalMs !== undefined) tuning.intervalMs = checkNumber(o.intervalMs, 'options.intervalMs', 10, 60000, { integer: true });
  if (o.phiThreshold !== undefined) tuning.deadPhi = checkNumber(o.phiThreshold, 'options.phiThreshold', 0, 1000, { exclusiveMin: true });
  const deadPhi = tuning.deadPhi ?? defaults.deadPhi;
  if (o.suspectPhi !== undefined) {
    tuning.suspectPhi = checkNumber(o.suspectPhi, 'options.suspectPhi', 0, 1000, { exclusiveMin: true });
    if (tuning.suspectPhi >= deadPhi) throw invalidArgValue('options.suspectPhi', o.suspectPhi, `must be below phiThreshold (${deadPhi})`);
  } else if (defaults.suspectPhi >= deadPhi) {
    tuning.suspectPhi = deadPhi / 2;
  }
  if (o.minStdDevMs !== undefined) tuning.minStdDevMs = checkNumber(o.minStdDevMs, 'options.minStdDevMs', 0, 600000, { exclusiveMin: true });
  if (o.acceptablePauseMs !== undefined) {
    tuning.acceptablePauseMs = checkNumber(o.acceptablePauseMs, 'options.acceptablePauseMs', 0, 600000) || NO_PAUSE_MS;
  }
  if (o.stallMs !== undefined) tuning.stallMs = checkNumber(o.stallMs, 'options.stallMs', 0, 3600000, { exclusiveMin: true });
  if (o.indirectProbes !== undefined) tuning.indirectProbes = checkNumber(o.indirectProbes, 'options.indirectProbes', 0, 16, { integer: true });
  return tuning;
}

/**
 * A peer must be reachable from the socket: an IPv4 socket cannot reach an IPv6 peer. (An IPv6 socket
 * reaches IPv4 peers too: the engine turns off IPV6_V6ONLY and uses v4-mapped addresses.)
 */
export function checkFamily(peer: ParsedAddress, local: { family: 'IPv4' | 'IPv6' }, name: string): ParsedAddress {
  if (peer.family === 'IPv6' && local.family === 'IPv4') {
    throw invalidArgValue(name, formatAddress(peer), "is IPv6, which an IPv4 socket cannot reach (bind to '[::]:0' to reach both)");
  }
  return peer;
}
