// The Heartbeat API at its edges, as a review of the binding and TS layer found them: listeners that
// throw, addresses at the limits of their forms, repeated peers, errors that name the option they came
// from, iterators side by side, close() without a goodbye, and the CLI's JSON lines and key files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { Heartbeat, type HeartbeatEvent } from '../../src/index';
import { formatEventJson, parseHeartbeatCommand, readKeyFile } from '../../src/heartbeat/cli-commands';
import { dist as distDir, runNode } from '../helpers';
import { addressOf, cleanup, eventWait, open, openMonitor, SLOW, thrown } from './helpers';

afterEach(cleanup);

/** Runs an ES module in a child process (so that it may have uncaught exceptions) and returns its stdout lines. */
function child(source: string): string[] {
  const result = runNode(['--no-warnings', '--input-type=module', '-e', source]);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.trim().split('\n');
}

const dist = JSON.stringify(path.join(distDir, 'index.mjs'));

describe('listeners that throw', () => {
  test("close() resolves although a 'close' listener throws, and that error is still uncaught", () => {
    const lines = child(`
      import { Heartbeat } from ${dist};
      setTimeout(() => process.exit(3), ${20_000 * SLOW}).unref();
      process.on('uncaughtException', (err) => console.log('uncaught ' + err.message));
      const monitor = new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0' });
      monitor.on('close', () => { throw new Error('from close'); });
      await monitor.close();
      console.log('resolved');
    `);
    expect(lines.sort()).toEqual(['resolved', 'uncaught from close']);
  });

  test("a listener that throws on 'alive' does not keep the event from the 'event' listeners", () => {
    const lines = child(`
      import { Heartbeat } from ${dist};
      setTimeout(() => process.exit(3), ${20_000 * SLOW}).unref();
      process.on('uncaughtException', (err) => console.log('uncaught ' + err.message));
      const monitor = new Heartbeat({ role: 'monitor', id: 'm', bind: '127.0.0.1:0' });
      const agent = new Heartbeat({ role: 'agent', id: 'a', peers: ['127.0.0.1:' + monitor.address.port] });
      monitor.on('alive', () => { throw new Error('from alive'); });
      await new Promise((resolve) => monitor.on('event', (e) => { console.log('event ' + e.type); resolve(); }));
      await agent.close({ leave: false });
      await monitor.close();
    `);
    expect(lines.sort()).toEqual(['event alive', 'uncaught from alive']);
  });
});

describe('addresses at their limits', () => {
  test('an IPv6 or localhost bind on port 0 works, and a port past 65535 or not an integer is refused in every form', () => {
    const base = { role: 'monitor' as const, key: Buffer.alloc(32, 1) };
    expect(open({ ...base, bind: '[::1]:0' }).address.family).toBe('IPv6');
    expect(open({ ...base, bind: 'localhost:0' }).address.address).toBe('127.0.0.1');
    for (const bind of [65536, '65536', ':65536', '127.0.0.1:65536', '[::1]:65536', 1.5, -1]) {
      expect(thrown(() => new Heartbeat({ ...base, bind })).code, String(bind)).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  test('a peer on port 0 is refused: beats cannot go there', () => {
    const err = thrown(() => new Heartbeat({ role: 'agent', bind: '127.0.0.1:0', peers: ['127.0.0.1:0'] }));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toMatch(/options\.peers\[0\]/);
  });

  test('an IPv6 address in brackets without a port is told it lacks the port, not the brackets', () => {
    for (const bind of ['[::1]', '[::1']) {
      const err = thrown(() => new Heartbeat({ role: 'monitor', bind }));
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message, bind).toMatch(/with the port/);
    }
  });

  test('a host name, an IPv6 zone or a bare IPv6 address is refused with a reason', () => {
    for (const [bind, reason] of [
      ['example.com:7400', /numeric IP/],
      ['[fe80::1%lo]:7400', /zone/],
      ['::1:7400', /brackets/],
    ] as const) {
      const err = thrown(() => new Heartbeat({ role: 'monitor', bind }));
      expect(err.code, bind).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message, bind).toMatch(reason);
    }
  });

  test('simulateLoss from an IPv6 address on an IPv4 socket is refused as an argument', () => {
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    expect(thrown(() => monitor.simulateLoss(0.5, '[::1]:7400')).code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('peers and keys', () => {
  test('addPeer of an address that is already a peer does nothing', () => {
    const { monitor } = openMonitor();
    const agent = open({ role: 'agent', id: 'twice', bind: '127.0.0.1:0', peers: [addressOf(monitor)] });
    agent.addPeer(addressOf(monitor));
    agent.addPeer(`localhost:${monitor.address.port}`);
    expect(agent.members()).toHaveLength(1);
  });

  test('addPeer and removePeer on a closed heartbeat throw SF_CLOSED', async () => {
    const agent = open({ role: 'agent', id: 'closed', bind: '127.0.0.1:0', peers: ['127.0.0.1:9'] });
    await agent.close({ leave: false });
    expect(thrown(() => agent.addPeer('127.0.0.1:10')).code).toBe('SF_CLOSED');
    expect(thrown(() => agent.removePeer('127.0.0.1:9')).code).toBe('SF_CLOSED');
  });

  test('a sendKeyId that no key has is named as the option or argument it came from', () => {
    const keys = [{ id: 1, key: Buffer.alloc(32, 1) }];
    const err = thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', key: keys, sendKeyId: 2 }));
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toMatch(/'options\.sendKeyId'/);
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0', key: keys });
    expect(thrown(() => monitor.setKeys(keys, 2)).message).toMatch(/'sendKeyId'/);
  });

  test('a SipHash key of 16 bytes and HMAC keys of 16 and 64 bytes are accepted', () => {
    open({ role: 'monitor', bind: '127.0.0.1:0', key: { id: 9, key: Buffer.alloc(16, 2), algorithm: 'siphash-2-4' } });
    open({ role: 'monitor', bind: '127.0.0.1:0', key: [{ id: 0, key: Buffer.alloc(16, 3) }] });
    open({ role: 'monitor', bind: '127.0.0.1:0', key: Buffer.alloc(64, 4) });
  });
});

describe('events', () => {
  test('two iterators each see every event, and one returning does not end the other', async () => {
    const { monitor, events } = openMonitor();
    const first = monitor.events();
    const second = monitor.events();
    open({ role: 'agent', id: 'both', bind: '127.0.0.1:0', peers: [addressOf(monitor)] });
    await events.waitFor('alive', 'both', eventWait);
    expect((await first.next()).value).toMatchObject({ type: 'alive', peer: { id: 'both' } });
    expect(await first.return!()).toEqual({ value: undefined, done: true });
    expect(await first.next()).toEqual({ value: undefined, done: true });
    expect((await second.next()).value).toMatchObject({ type: 'alive', peer: { id: 'both' } });
    await monitor.close();
    expect(await second.next()).toEqual({ value: undefined, done: true });
  });

  test('an iterator that is not read keeps the newest bufferSize events', async () => {
    const { monitor, events } = openMonitor();
    const iterator = monitor.events({ bufferSize: 1 });
    open({ role: 'agent', id: 'older', bind: '127.0.0.1:0', peers: [addressOf(monitor)] });
    await events.waitFor('alive', 'older', eventWait);
    open({ role: 'agent', id: 'newer', bind: '127.0.0.1:0', peers: [addressOf(monitor)] });
    await events.waitFor('alive', 'newer', eventWait);
    expect((await iterator.next()).value).toMatchObject({ type: 'alive', peer: { id: 'newer' } });
  });

  test('an iterator whose signal is already aborted rejects with an AbortError once, then is done', async () => {
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    const iterator = monitor.events({ signal: AbortSignal.abort() });
    await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  test('events() on a closed heartbeat is done at once', async () => {
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    await monitor.close();
    expect(await monitor.events().next()).toEqual({ value: undefined, done: true });
  });

  test('close({ leave: false }) says no goodbye: the monitor reports dead, not left', async () => {
    const { monitor, events } = openMonitor();
    const agent = open({ role: 'agent', id: 'silent', bind: '127.0.0.1:0', peers: [addressOf(monitor)] });
    await events.waitFor('alive', 'silent', eventWait);
    await agent.close({ leave: false });
    await events.waitFor('dead', 'silent', eventWait);
    expect(events.of('silent', 'left')).toEqual([]);
  });

  test('close() with a leave that is not a boolean rejects and leaves the heartbeat open', async () => {
    const monitor = open({ role: 'monitor', bind: '127.0.0.1:0' });
    await expect(monitor.close({ leave: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(monitor.closed).toBe(false);
    expect(monitor.stats().sent).toBeGreaterThanOrEqual(0);
  });
});

describe('the CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-hb-review-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const event = (over: Partial<HeartbeatEvent> = {}): HeartbeatEvent => ({
    type: 'dead',
    peer: { id: 'n', address: '127.0.0.1:5000', incarnation: '7' },
    phi: 8.3,
    lastSeenMs: 812,
    rttMs: null,
    lagMs: 0.2,
    at: 0,
    ...over,
  });
  const self = { id: 'me', address: '127.0.0.1:7400' };

  test('a --json line has exactly the documented keys, and a restarted one adds previousIncarnation', () => {
    const keys = ['at', 'event', 'id', 'state', 'address', 'incarnation', 'phi', 'lastSeenMs', 'rttMs', 'lagMs'];
    expect(Object.keys(JSON.parse(formatEventJson(event(), self)))).toEqual(keys);
    const restarted = JSON.parse(formatEventJson(event({ type: 'restarted', previousIncarnation: '6' }), self));
    expect(Object.keys(restarted)).toEqual([...keys, 'previousIncarnation']);
    expect(restarted).toMatchObject({ event: 'restarted', state: 'alive', incarnation: '7', previousIncarnation: '6' });
  });

  test('a paused line names this node, with no state and no incarnation', () => {
    const paused = JSON.parse(formatEventJson(event({ type: 'paused', peer: { id: '', address: '', incarnation: '0' } }), self));
    expect(paused).toMatchObject({ event: 'paused', id: 'me', address: '127.0.0.1:7400', state: null, incarnation: null });
  });

  test('a key file is hex with whitespace and an optional 0x; anything else is refused', () => {
    const file = path.join(tmp, 'k');
    fs.writeFileSync(file, '0x0011 2233\n4455\t6677\r\n8899aabbccddeeff\n');
    expect(readKeyFile(file).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    for (const text of ['', '001', 'zz', '00 1']) {
      fs.writeFileSync(file, text);
      expect(thrown(() => readKeyFile(file)).code, JSON.stringify(text)).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  test('the argument parser takes repeated --monitor, and refuses a monitor on port 0 or --key-id alone', () => {
    expect(parseHeartbeatCommand('agent', ['--monitor', '127.0.0.1:1', '--monitor', '[::1]:2'])).toMatchObject({
      monitors: ['127.0.0.1:1', '[::1]:2'],
    });
    expect(parseHeartbeatCommand('agent', ['--monitor', '127.0.0.1:0'])).toHaveProperty('usage');
    expect(parseHeartbeatCommand('monitor', ['--listen', '7400', '--key-id', '1'])).toHaveProperty('usage');
    expect(parseHeartbeatCommand('monitor', ['--listen', '7400', '--interval', '10.5'])).toHaveProperty('usage');
  });
});

describe('key errors', () => {
  test('a key given as bytes alone is named as the option itself when its length is wrong', () => {
    const err = thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', key: Buffer.alloc(8) }));
    expect(err.message).toMatch(/'options\.key' must be 16 to 64 bytes/);
    const inObject = thrown(() => new Heartbeat({ role: 'monitor', bind: '127.0.0.1:0', key: { id: 1, key: Buffer.alloc(8) } }));
    expect(inObject.message).toMatch(/'options\.key\.key' must be 16 to 64 bytes/);
  });
});
