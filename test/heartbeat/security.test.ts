// Authentication, replay protection and robustness of a keyed monitor, attacked from this process:
// datagrams crafted with the package's own encoder (src/heartbeat/packet.ts) and sent with node:dgram
// to the monitor's loopback port. Every datagram the engine reads is either accepted or counted in
// exactly one dropped* field; each test checks which one, and that nothing forged is ever tracked.
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type Heartbeat, type HeartbeatKey, type HeartbeatStats } from '../../src/index';
import { encodePacket, type PacketFields } from '../../src/heartbeat/packet';
import { runNode } from '../helpers';
import { addressOf, cleanup, emulated, eventWait, open, openMonitor, SLOW, until, watchFor } from './helpers';

afterEach(cleanup);

const KEY: HeartbeatKey = { id: 1, key: Buffer.alloc(32, 0x5a), algorithm: 'hmac-sha256' };
const WRONG: HeartbeatKey = { id: 1, key: Buffer.alloc(32, 0xa5), algorithm: 'hmac-sha256' };

let socket: dgram.Socket;
beforeAll(async () => {
  socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => socket.close(() => r())));

function send(to: Heartbeat, ...packets: Uint8Array[]): Promise<void> {
  const { port } = to.address;
  return Promise.all(
    packets.map((p) => new Promise<void>((resolve, reject) => socket.send(p, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))),
  ).then(() => {});
}

/** Sends the packets and waits until the engine has read them all (its `received` counter). */
async function deliver(to: Heartbeat, ...packets: Uint8Array[]): Promise<HeartbeatStats> {
  const before = to.stats().received;
  await send(to, ...packets);
  await until(() => to.stats().received >= before + packets.length, 10_000 * SLOW, `${packets.length} datagrams read`);
  return to.stats();
}

const DROPPED = ['droppedMalformed', 'droppedVersion', 'droppedAuth', 'droppedReplay', 'droppedUnknown', 'droppedInjected'] as const;
/** Every datagram read was accepted or dropped for exactly one reason. */
function expectBalanced(s: HeartbeatStats): void {
  expect(s.accepted + DROPPED.reduce((sum, field) => sum + s[field], 0)).toBe(s.received);
}

// A forged sender: its own incarnation, sequence numbers from 1, the fields a real beat has.
const incarnation = BigInt(Date.now()) * 1_000_000n;
function beat(seq: number | bigint, overrides: Partial<PacketFields> = {}): PacketFields {
  return {
    type: 'beat' as const,
    sender: 'forger',
    incarnation,
    seq: BigInt(seq),
    sendTime: process.hrtime.bigint(),
    lagUs: 0,
    intervalMs: 100,
    rttUs: 0,
    flags: 0,
    ...overrides,
  };
}

function keyedMonitor() {
  return openMonitor({ key: KEY });
}

describe('packets a keyed monitor rejects', () => {
  test('a beat tagged with the wrong key is dropped as an auth failure and never tracked', async () => {
    const { monitor, events } = keyedMonitor();
    const s = await deliver(monitor, ...[1, 2, 3, 4, 5].map((seq) => encodePacket(beat(seq), WRONG)));
    expect(s).toMatchObject({ received: 5, accepted: 0, droppedAuth: 5 });
    expectBalanced(s);
    expect(monitor.members()).toEqual([]);
    expect(events.all).toEqual([]);
  });

  test('a beat signed with a key id the monitor does not hold is dropped as an auth failure', async () => {
    const { monitor } = keyedMonitor();
    const s = await deliver(monitor, encodePacket(beat(1), { ...KEY, id: 9 }));
    expect(s).toMatchObject({ accepted: 0, droppedAuth: 1 });
    expectBalanced(s);
  });

  test('an unauthenticated (CRC-32C) beat sent to a keyed monitor is dropped as an auth failure', async () => {
    const { monitor } = keyedMonitor();
    const s = await deliver(monitor, encodePacket(beat(1)));
    expect(s).toMatchObject({ accepted: 0, droppedAuth: 1 });
    expect(monitor.members()).toEqual([]);
  });

  test('a beat signed with SipHash under the wrong key is dropped, and under the right one tracked', async () => {
    const sip: HeartbeatKey = { id: 3, key: Buffer.alloc(16, 0x11), algorithm: 'siphash-2-4' };
    const { monitor, events } = openMonitor({ key: sip });
    let s = await deliver(monitor, encodePacket(beat(1), { ...sip, key: Buffer.alloc(16, 0x22) }));
    expect(s).toMatchObject({ accepted: 0, droppedAuth: 1 });
    s = await deliver(monitor, encodePacket(beat(2), sip));
    expect(s).toMatchObject({ accepted: 1, droppedAuth: 1 });
    await events.waitFor('alive', 'forger', eventWait);
  });

  test('a valid beat sent twice is accepted once; the copy is dropped as a replay', async () => {
    const { monitor, events } = keyedMonitor();
    const packet = encodePacket(beat(1), KEY);
    let s = await deliver(monitor, packet);
    expect(s).toMatchObject({ accepted: 1, droppedReplay: 0 });
    await events.waitFor('alive', 'forger', eventWait);
    s = await deliver(monitor, packet, packet);
    expect(s).toMatchObject({ accepted: 1, droppedReplay: 2 });
    expectBalanced(s);
  });

  test('a sequence number older than the replay window is a replay, one inside it and unseen is not', async () => {
    const { monitor } = keyedMonitor();
    let s = await deliver(monitor, encodePacket(beat(1000), KEY));
    expect(s.accepted).toBe(1);
    // Reordered by the network, within the window (256 by default): still accepted, once.
    s = await deliver(monitor, encodePacket(beat(990), KEY));
    expect(s).toMatchObject({ accepted: 2, droppedReplay: 0 });
    s = await deliver(monitor, encodePacket(beat(500), KEY), encodePacket(beat(990), KEY));
    expect(s).toMatchObject({ accepted: 2, droppedReplay: 2 });
  });

  test('a beat of an older incarnation than the one known is a replay, and raises no event', async () => {
    const { monitor, events } = keyedMonitor();
    await deliver(monitor, encodePacket(beat(1), KEY));
    await events.waitFor('alive', 'forger', eventWait);
    const mark = events.mark;
    const s = await deliver(monitor, encodePacket(beat(2, { incarnation: incarnation - 1n }), KEY));
    expect(s).toMatchObject({ accepted: 1, droppedReplay: 1 });
    expect(monitor.members()[0].incarnation).toBe(String(incarnation));
    expect(events.all.slice(mark).filter((e) => e.type === 'restarted')).toEqual([]);
  });

  test('a truncated beat is dropped as malformed, whether shorter than a header or than its length field says', async () => {
    const { monitor } = keyedMonitor();
    const packet = encodePacket(beat(1), KEY);
    const s = await deliver(monitor, packet.subarray(0, 30), packet.subarray(0, packet.length - 1), packet.subarray(0, 48));
    expect(s).toMatchObject({ accepted: 0, droppedMalformed: 3 });
    expectBalanced(s);
  });

  test('a beat of another protocol version is dropped as a version mismatch', async () => {
    const { monitor } = keyedMonitor();
    const packet = Buffer.from(encodePacket(beat(1), KEY));
    packet[4] = 2; // the version byte
    const s = await deliver(monitor, packet);
    expect(s).toMatchObject({ accepted: 0, droppedVersion: 1 });
  });

  test('random datagrams are all dropped and counted, and none is tracked', async () => {
    const { monitor } = keyedMonitor();
    const short = Array.from({ length: 50 }, (_, i) => randomBytes(1 + (i % 47)));
    const long = Array.from({ length: 200 }, (_, i) => randomBytes(48 + ((i * 7) % 400)));
    const s = await deliver(monitor, ...short, ...long);
    expect(s.accepted).toBe(0);
    expect(s.droppedMalformed).toBeGreaterThanOrEqual(50);
    // Without the magic a datagram is another protocol's (or noise): counted as a version mismatch.
    expect(s.droppedVersion + s.droppedMalformed).toBe(250);
    expectBalanced(s);
    expect(monitor.members()).toEqual([]);
  });
});

describe('keys', () => {
  test('a keyed monitor never tracks an agent without the key', async () => {
    const { monitor, events } = keyedMonitor();
    open({ role: 'agent', id: 'keyless', peers: [addressOf(monitor)] });
    await until(() => monitor.stats().droppedAuth >= 5, eventWait, 'five refused beats');
    expect(monitor.stats().accepted).toBe(0);
    expect(monitor.members()).toEqual([]);
    expect(events.all).toEqual([]);
  });

  test('keys rotate without an event: the monitor accepts old and new, the agent switches, then the old key goes', async () => {
    const OLD: HeartbeatKey = { id: 1, key: Buffer.alloc(32, 1) };
    const NEW: HeartbeatKey = { id: 2, key: Buffer.alloc(32, 2) };
    const { monitor, events } = openMonitor({ key: [OLD, NEW] });
    const agent = open({ role: 'agent', id: 'rotor', peers: [addressOf(monitor)], key: [OLD] });
    await events.waitFor('alive', 'rotor', eventWait);
    const mark = events.mark;
    agent.setKeys([OLD, NEW], 2);
    let accepted = monitor.stats().accepted;
    await until(() => monitor.stats().accepted >= accepted + 5, eventWait, 'five beats after the agent switched');
    // Only the new key from here on: the agent signs with it, so its beats still verify.
    monitor.setKeys(NEW);
    accepted = monitor.stats().accepted;
    await until(() => monitor.stats().accepted >= accepted + 5, eventWait, 'five beats after the monitor dropped the old key');
    await watchFor(500 * SLOW);
    expect(monitor.stats().droppedAuth).toBe(0);
    expect(agent.stats().droppedAuth, 'the acks the agent got back').toBe(0);
    expect(events.all.slice(mark)).toEqual([]);
    expect(monitor.members()[0]).toMatchObject({ id: 'rotor', state: 'alive' });
  });

  test('without a key, a warning (SF_HB_NO_KEY) is emitted once per process, and not for a keyed engine', () => {
    const result = runNode([path.join(__dirname, 'fixtures', 'no-key-warning.mjs')]);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.afterKeyed).toBe(0);
    expect(report.total).toBe(1);
    expect(report.messages[0]).toMatch(/forge/i);
  });
});

describe('a flood', () => {
  const FLOOD = emulated ? 4000 : 20_000;

  test(`${FLOOD} garbage, forged and replayed datagrams do not keep the monitor from tracking a real agent`, async () => {
    const { monitor, events } = keyedMonitor();
    const agent = open({ role: 'agent', id: 'real', peers: [addressOf(monitor)], key: KEY });
    await events.waitFor('alive', 'real', eventWait);
    const replayed = encodePacket(beat(1), KEY);
    await deliver(monitor, replayed);
    const kinds = [
      () => randomBytes(64 + Math.floor(Math.random() * 200)),
      () => encodePacket(beat(2 + Math.floor(Math.random() * 1e6)), WRONG),
      () => replayed,
      () => encodePacket(beat(1, { sender: 'real', incarnation: 1n }), KEY), // a stale incarnation of the real agent
    ];
    const started = performance.now();
    for (let sent = 0; sent < FLOOD; sent += 500) {
      await send(monitor, ...Array.from({ length: 500 }, (_, i) => kinds[(sent + i) % kinds.length]()));
    }
    const floodMs = performance.now() - started;
    // The kernel may drop some of the flood when the socket's buffer is full; the engine counts what it reads.
    await until(() => monitor.stats().received >= FLOOD / 4, 10_000 * SLOW, 'the flood read');
    const s = monitor.stats();
    expectBalanced(s);
    expect(s.droppedAuth + s.droppedVersion + s.droppedReplay).toBeGreaterThan(FLOOD / 4);
    expect(s.droppedReplay).toBeGreaterThan(0);
    expect(events.of('real', 'dead'), `dead during a ${floodMs.toFixed(0)} ms flood`).toEqual([]);
    expect(monitor.members().map((m) => [m.id, m.state]).sort()).toEqual([
      ['forger', expect.any(String)],
      ['real', 'alive'],
    ]);
    // Detection still works: the agent stops without saying goodbye and is found dead.
    await agent.close({ leave: false });
    await events.waitFor('dead', 'real', eventWait);
  }, 120_000 * SLOW);
});
