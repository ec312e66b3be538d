// The Heartbeat class as an application uses it, in this process on loopback: option checks and their
// error codes, IPv4 and IPv6, the members() snapshot, peers added and removed at run time, the async
// iterator, closing (idempotent, by AbortSignal, many times over without leaking descriptors), unref,
// and engines in worker threads.
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { Heartbeat, HeartbeatError, SteadfastError, type HeartbeatEvent } from '../../src/index';
import { runNode } from '../helpers';
import { addressOf, cleanup, emulated, eventWait, EventLog, freePort, open, openMonitor, SLOW, thrown, until } from './helpers';

afterEach(cleanup);

describe('options', () => {
  test('a bind address that is not an address throws ERR_INVALID_ARG_VALUE', () => {
    for (const bind of ['nowhere:7400', '127.0.0.1:99999', '127.0.0.1:-1', '[::1', '300.0.0.1:7400']) {
      expect(thrown(() => new Heartbeat({ role: 'monitor', bind })).code, bind).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  test('a peer address that is not an address throws ERR_INVALID_ARG_VALUE', () => {
    expect(thrown(() => new Heartbeat({ role: 'agent', bind: '127.0.0.1:0', peers: ['localhost'] })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('a port already bound throws EADDRINUSE, a HeartbeatError naming the address', async () => {
    const { monitor } = openMonitor();
    const err = thrown(() => new Heartbeat({ role: 'monitor', bind: addressOf(monitor) }));
    expect(err).toBeInstanceOf(HeartbeatError);
    expect(err).toBeInstanceOf(SteadfastError);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.message).toContain(String(monitor.address.port));
  });

  test('an address this machine does not have throws EADDRNOTAVAIL', () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a host.
    expect(thrown(() => new Heartbeat({ role: 'monitor', bind: '192.0.2.1:0' })).code).toBe('EADDRNOTAVAIL');
  });

  test('a key of the wrong length for its algorithm throws ERR_INVALID_ARG_VALUE', () => {
    const base = { role: 'monitor' as const, bind: '127.0.0.1:0' };
    expect(thrown(() => new Heartbeat({ ...base, key: Buffer.alloc(8) })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new Heartbeat({ ...base, key: Buffer.alloc(65) })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new Heartbeat({ ...base, key: { id: 0, key: Buffer.alloc(32), algorithm: 'siphash-2-4' } })).code).toBe(
      'ERR_INVALID_ARG_VALUE',
    );
  });

  test('a key that is not bytes throws ERR_INVALID_ARG_TYPE', () => {
    expect(thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', key: 'secret' as never })).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  test('two keys with the same id, or a sendKeyId no key has, throw ERR_INVALID_ARG_VALUE', () => {
    const base = { role: 'monitor' as const, bind: '127.0.0.1:0' };
    const k = (id: number) => ({ id, key: Buffer.alloc(32, id) });
    expect(thrown(() => new Heartbeat({ ...base, key: [k(1), k(1)] })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new Heartbeat({ ...base, key: [k(1), k(2)], sendKeyId: 3 })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('suspectPhi at or above phiThreshold is refused', () => {
    const err = thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', suspectPhi: 8, phiThreshold: 8 }));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toMatch(/suspectPhi/);
  });

  test('an intervalMs outside 10..60000 is refused', () => {
    for (const intervalMs of [0, 9, 60_001, Number.NaN]) {
      expect(thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', intervalMs })).code, String(intervalMs)).toBe(
        'ERR_INVALID_ARG_VALUE',
      );
    }
  });

  test('an unknown role throws ERR_INVALID_ARG_VALUE', () => {
    expect(thrown(() => new Heartbeat({ role: 'leader' as never })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('an agent without a monitor to beat to is refused', () => {
    expect(thrown(() => new Heartbeat({ role: 'agent', bind: '127.0.0.1:0' })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new Heartbeat({ role: 'agent', bind: '127.0.0.1:0', peers: [] })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('an id of more than 64 UTF-8 bytes, or an empty one, is refused', () => {
    expect(thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', id: 'é'.repeat(33) })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', id: '' })).code).toBe('ERR_INVALID_ARG_VALUE');
    // 64 bytes exactly is fine.
    open({ role: 'monitor', bind: '127.0.0.1:0', id: 'é'.repeat(32) });
  });

  test('a refused option leaves nothing bound: the same port binds right after', async () => {
    const port = await freePort();
    thrown(() => new Heartbeat({ role: 'monitor', bind: `127.0.0.1:${port}`, suspectPhi: 9, phiThreshold: 8 }));
    expect(open({ role: 'monitor', bind: `127.0.0.1:${port}` }).address.port).toBe(port);
  });
});

describe('an engine', () => {
  test('has its role, an id of host and pid by default, a decimal incarnation from the wall clock, and its bound address', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    expect(monitor.role).toBe('monitor');
    expect(monitor.id).toBe(`${os.hostname()}-${process.pid}`);
    expect(monitor.incarnation).toMatch(/^\d+$/);
    expect(BigInt(monitor.incarnation)).toBeGreaterThanOrEqual(before);
    expect(monitor.address).toEqual({ address: '127.0.0.1', family: 'IPv4', port: expect.any(Number) });
    expect(monitor.address.port).toBeGreaterThan(0);
    expect(monitor.closed).toBe(false);
    expect(Heartbeat.agent({ id: 'a', bind: '127.0.0.1:0', peers: [addressOf(monitor)], unref: true }).role).toBe('agent');
  });

  test('a monitor and an agent work over IPv6 loopback, and the peer address is bracketed', async () => {
    const { monitor, events } = openMonitor({ bind: '[::1]:0' });
    expect(monitor.address).toMatchObject({ address: '::1', family: 'IPv6' });
    open({ role: 'agent', id: 'six', peers: [addressOf(monitor)] });
    const alive = await events.waitFor('alive', 'six', eventWait);
    expect(alive.peer.address).toMatch(/^\[::1\]:\d+$/);
    expect(monitor.members()[0]).toMatchObject({ id: 'six', state: 'alive' });
  });

  test('members() is a snapshot of every tracked peer with its evidence', async () => {
    const { monitor, events } = openMonitor();
    const agent = open({ role: 'agent', id: 'snap', peers: [addressOf(monitor)], intervalMs: 50 });
    await events.waitFor('alive', 'snap', eventWait);
    await until(() => (monitor.members()[0]?.beats ?? 0) >= 10 && monitor.members()[0]?.rttMs !== null, eventWait, 'ten beats');
    const [m] = monitor.members();
    expect(m).toEqual({
      id: 'snap',
      address: `127.0.0.1:${agent.address.port}`,
      state: 'alive',
      stalled: false,
      incarnation: agent.incarnation,
      phi: expect.any(Number),
      lastSeenMs: expect.any(Number),
      rttMs: expect.any(Number),
      lagMs: expect.any(Number),
      meanIntervalMs: expect.any(Number),
      beats: expect.any(Number),
    });
    expect(m.phi).toBeGreaterThanOrEqual(0);
    expect(m.phi).toBeLessThan(3);
    expect(m.meanIntervalMs).toBeGreaterThan(25);
    expect(m.meanIntervalMs).toBeLessThan(500);
    expect(m.lastSeenMs!).toBeGreaterThanOrEqual(0);
    // A copy: changing it changes nothing inside.
    (m as { state: string }).state = 'dead';
    expect(monitor.members()[0].state).toBe('alive');
  });

  test('an agent beats to a monitor added at run time, and stops when it is removed', async () => {
    const { monitor: first, events: firstEvents } = openMonitor();
    const { monitor: second, events: secondEvents } = openMonitor();
    const agent = open({ role: 'agent', id: 'mover', peers: [addressOf(first)] });
    await firstEvents.waitFor('alive', 'mover', eventWait);
    expect(second.stats().received).toBe(0);
    agent.addPeer(addressOf(second));
    await secondEvents.waitFor('alive', 'mover', eventWait);
    expect(agent.removePeer(addressOf(second))).toBe(true);
    expect(agent.removePeer(addressOf(second))).toBe(false);
    const beats = second.stats().received;
    await secondEvents.waitFor('dead', 'mover', eventWait);
    // The first monitor still hears it.
    expect(firstEvents.of('mover', 'dead')).toEqual([]);
    expect(second.stats().received - beats).toBeLessThanOrEqual(2);
  });

  test('forget() drops a learned peer without an event, and it is learned again on its next beat', async () => {
    const { monitor, events } = openMonitor();
    open({ role: 'agent', id: 'forgotten', peers: [addressOf(monitor)] });
    await events.waitFor('alive', 'forgotten', eventWait);
    expect(monitor.forget('forgotten')).toBe(true);
    expect(monitor.forget('nobody')).toBe(false);
    const mark = events.mark;
    await events.waitFor('alive', 'forgotten', eventWait, mark);
    expect(events.all.slice(mark).map((e) => e.type)).toEqual(['alive']);
  });

  test('events are emitted by type and as "event", with the peer and the evidence', async () => {
    const { monitor } = openMonitor();
    const typed: HeartbeatEvent[] = [];
    monitor.on('alive', (e: HeartbeatEvent) => typed.push(e));
    const log = new EventLog(monitor);
    const agent = open({ role: 'agent', id: 'typed', peers: [addressOf(monitor)] });
    const event = await log.waitFor('alive', 'typed', eventWait);
    expect(typed).toHaveLength(1);
    expect(event).toMatchObject({
      type: 'alive',
      peer: { id: 'typed', address: `127.0.0.1:${agent.address.port}`, incarnation: agent.incarnation },
      phi: expect.any(Number),
      lastSeenMs: expect.any(Number),
    });
    expect(Math.abs(event.at - Date.now())).toBeLessThan(60_000);
  });

  test('events() is an async iterator of events that ends when its signal aborts', async () => {
    const { monitor } = openMonitor();
    open({ role: 'agent', id: 'iter', peers: [addressOf(monitor)] });
    const controller = new AbortController();
    const seen: string[] = [];
    let ended = false;
    const loop = (async () => {
      try {
        for await (const event of monitor.events({ signal: controller.signal })) {
          seen.push(`${event.type} ${event.peer.id}`);
          if (event.type === 'alive') controller.abort();
        }
      } catch (err) {
        // Ending by throwing an AbortError is as good as ending quietly.
        expect((err as Error).name).toBe('AbortError');
      }
      ended = true;
    })();
    await loop;
    expect(ended).toBe(true);
    expect(seen).toEqual(['alive iter']);
    expect(monitor.closed).toBe(false);
  });

  test('the engine itself is async iterable, and close() ends the iteration', async () => {
    const { monitor } = openMonitor();
    open({ role: 'agent', id: 'iter2', peers: [addressOf(monitor)] });
    const seen: string[] = [];
    for await (const event of monitor) {
      seen.push(event.type);
      if (event.type === 'alive') void monitor.close();
    }
    expect(seen[0]).toBe('alive');
    expect(monitor.closed).toBe(true);
  });

  test('close() is idempotent, emits "close" once, and then every method throws SF_CLOSED', async () => {
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    let closes = 0;
    monitor.on('close', () => closes++);
    await Promise.all([monitor.close(), monitor.close()]);
    await monitor.close();
    expect(monitor.closed).toBe(true);
    expect(closes).toBe(1);
    for (const call of [
      () => monitor.members(),
      () => monitor.stats(),
      () => monitor.forget('x'),
      () => monitor.simulateLoss(0),
      () => monitor.setKeys(Buffer.alloc(32)),
    ]) {
      const err = thrown(call);
      expect(err.code).toBe('SF_CLOSED');
      expect(err).toBeInstanceOf(HeartbeatError);
    }
    // The port is free again.
    expect(open({ role: 'monitor', bind: addressOf(monitor) }).address.port).toBe(monitor.address.port);
  });

  test('an aborted signal closes the engine', async () => {
    const controller = new AbortController();
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0', signal: controller.signal });
    const closed = new Promise<void>((r) => monitor.once('close', () => r()));
    controller.abort();
    await closed;
    expect(monitor.closed).toBe(true);
  });

  test(`opening and closing ${emulated ? 50 : 200} engines leaks no file descriptor`, () => {
    const result = runNode(['--no-warnings', path.join(__dirname, 'fixtures', 'churn.mjs'), String(emulated ? 50 : 200)]);
    expect(result.status, result.stderr).toBe(0);
    const { before, after } = JSON.parse(result.stdout);
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(before);
  }, 120_000 * SLOW);

  test('an unref()ed engine lets its process exit by itself', () => {
    const result = runNode([path.join(__dirname, 'fixtures', 'unref.mjs')]);
    expect(result.signal).toBeNull();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('alive');
  }, 120_000 * SLOW);

  test('workers that open engines and end, are terminated or exit leave the process running and its own engines working', () => {
    const result = runNode([path.join(__dirname, 'fixtures', 'worker.cjs'), String(emulated ? 1 : 3)]);
    expect(result.signal).toBeNull();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('ok');
  }, 180_000 * SLOW);
});
