/**
 * Heartbeat packets from JS, for tests and benchmarks (the engine builds and checks its own in C; the
 * wire format is docs/protocol.md). Internal: not exported from the package.
 */
import { binding } from '../binding';
import { invalidArgType, invalidArgValue } from './errors';
import { checkId, checkNumber, resolveKeys, type HeartbeatKey } from './options';
import type { NativeHeartbeatKey, NativePacketFields } from './native';

/** Packet types, with their sf_hb_type_t numbers. */
const TYPES = { beat: 1, ack: 2, 'ping-req': 3, ping: 4, 'ping-ack': 5 } as const;

/** A packet type: `'beat'`, `'ack'`, `'ping-req'`, `'ping'` or `'ping-ack'`. */
export type PacketType = keyof typeof TYPES;

/** A packet's fields (sf_hb_packet_t). */
export interface PacketFields {
  /** A name, or a raw type number (to build packets of an unknown type). */
  type: PacketType | number;
  /** The sender's node id. */
  sender: string;
  incarnation: bigint;
  seq: bigint;
  /** Sender's CLOCK_MONOTONIC, ns. */
  sendTime: bigint;
  /** Sender's JS event-loop lag, µs (0xffffffff: unknown). Default 0. */
  lagUs?: number;
  /** Default 100. */
  intervalMs?: number;
  /** Default 0. */
  rttUs?: number;
  /** 1: want an ack; 2: leaving. Default 0. */
  flags?: number;
  /** ack, ping, ping-req and ping-ack only. */
  target?: string;
  probeId?: bigint;
  echoTime?: bigint;
}

/** A decoded packet: its fields, its protocol version, and how it was authenticated. */
export interface DecodedPacket extends Required<Omit<PacketFields, 'target' | 'probeId' | 'echoTime' | 'type'>> {
  type: PacketType;
  version: number;
  /** `'crc32c'` (no key), `'hmac-sha256'` or `'siphash-2-4'`. */
  auth: 'crc32c' | 'hmac-sha256' | 'siphash-2-4';
  keyId: number;
  target?: string;
  probeId?: bigint;
  echoTime?: bigint;
}

/** Why a packet was refused. */
export interface PacketError {
  error: 'SF_MALFORMED' | 'SF_PROTO_VERSION' | 'SF_AUTH';
}

function bigintField(value: unknown, name: string): bigint {
  if (typeof value === 'bigint' && value >= 0n && value < 1n << 64n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw invalidArgType(name, 'a bigint from 0 to 2^64 - 1', value);
}

function oneKey(key: Uint8Array | HeartbeatKey | undefined | null): NativeHeartbeatKey | null {
  return key == null ? null : resolveKeys(key, undefined, 'key').keys[0]!;
}

/**
 * Encodes and tags a packet (always of protocol version 1): with `key`, HMAC-SHA-256-128 or SipHash-2-4
 * under its id; without, CRC-32C. To build a packet of another version, change byte 4 and the tag.
 * @throws {@link HeartbeatError} for a bad field.
 */
export function encodePacket(fields: PacketFields, key?: Uint8Array | HeartbeatKey | null): Buffer {
  if (typeof fields !== 'object' || fields === null) throw invalidArgType('fields', 'of type object', fields);
  const type = typeof fields.type === 'number' ? checkNumber(fields.type, 'fields.type', 0, 255, { integer: true }) : TYPES[fields.type];
  if (type === undefined) throw invalidArgValue('fields.type', fields.type, `must be one of ${Object.keys(TYPES).join(', ')}`);
  const u32 = (value: unknown, name: string, fallback: number): number =>
    value === undefined ? fallback : checkNumber(value, name, 0, 0xffffffff, { integer: true });
  const out: NativePacketFields = {
    type,
    flags: fields.flags === undefined ? 0 : checkNumber(fields.flags, 'fields.flags', 0, 255, { integer: true }),
    sender: checkId(fields.sender, 'fields.sender'),
    incarnation: bigintField(fields.incarnation, 'fields.incarnation'),
    seq: bigintField(fields.seq, 'fields.seq'),
    sendTime: bigintField(fields.sendTime, 'fields.sendTime'),
    lagUs: u32(fields.lagUs, 'fields.lagUs', 0),
    intervalMs: u32(fields.intervalMs, 'fields.intervalMs', 100),
    rttUs: u32(fields.rttUs, 'fields.rttUs', 0),
    target: fields.target === undefined || fields.target === '' ? '' : checkId(fields.target, 'fields.target'),
    probeId: fields.probeId === undefined ? 0n : bigintField(fields.probeId, 'fields.probeId'),
    echoTime: fields.echoTime === undefined ? 0n : bigintField(fields.echoTime, 'fields.echoTime'),
  };
  return binding.hbEncodePacket(out, oneKey(key));
}

const NAMES = Object.fromEntries(Object.entries(TYPES).map(([name, n]) => [n, name])) as Record<number, PacketType>;

/**
 * Decodes and verifies a packet as the engine does: with `keys`, only packets tagged by one of them pass;
 * without, only CRC-32C packets do.
 * @returns the fields, or `{ error }` naming why the engine would drop it.
 */
export function decodePacket(bytes: Uint8Array, keys?: Uint8Array | HeartbeatKey | HeartbeatKey[] | null): DecodedPacket | PacketError {
  if (!(bytes instanceof Uint8Array)) throw invalidArgType('bytes', 'an instance of Uint8Array or Buffer', bytes);
  const verified = keys == null ? [] : resolveKeys(keys, undefined, 'keys').keys;
  const decoded = binding.hbDecodePacket(bytes, verified);
  if ('error' in decoded) return { error: decoded.error as PacketError['error'] };
  const { type, target, probeId, echoTime, ...rest } = decoded;
  // A beat has no body (docs/protocol.md): the binding's empty target, probeId and echoTime are left out.
  const body = type === TYPES.beat ? {} : { target, probeId, echoTime };
  return { ...rest, ...body, type: NAMES[type] ?? (String(type) as PacketType) } as DecodedPacket;
}
