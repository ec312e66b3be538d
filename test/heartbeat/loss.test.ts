// Packet loss, injected by the engine's test hook (simulateLoss drops incoming datagrams at random
// before they are parsed): 5% loss must not produce a false `dead`, and in a mesh a link that loses
// everything must not kill a healthy member, because the other members probe it on the asker's behalf.
import { afterEach, describe, expect, test } from 'vitest';
import { detectionBoundMs, type Heartbeat } from '../../src/index';
import { addressOf, cleanup, emulated, eventWait, EventLog, freePort, open, openMonitor, SLOW, until, watchFor } from './helpers';

afterEach(cleanup);

const bound = detectionBoundMs();
const RUN_MS = emulated ? 5000 : 10_000;

describe('5% loss on a monitor', () => {
  test('agents beating through 5% loss are never declared dead, and the loss did happen', async () => {
    const { monitor, events } = openMonitor();
    monitor.simulateLoss(0.05);
    const ids = ['lossy-1', 'lossy-2', 'lossy-3', 'lossy-4'];
    for (const id of ids) open({ role: 'agent', id, peers: [addressOf(monitor)] });
    await Promise.all(ids.map((id) => events.waitFor('alive', id, eventWait)));
    await watchFor(RUN_MS);
    const stats = monitor.stats();
    expect(events.all.filter((e) => e.type === 'dead'), 'false dead events').toEqual([]);
    expect(stats.droppedInjected).toBeGreaterThan(0);
    // Roughly 5% of what arrived was dropped (bounds loose enough for any random run of this length).
    expect(stats.droppedInjected / stats.received).toBeGreaterThan(0.01);
    expect(stats.droppedInjected / stats.received).toBeLessThan(0.15);
    const states = Object.fromEntries(monitor.members().map((m) => [m.id, m.state]));
    expect(states).toEqual(Object.fromEntries(ids.map((id) => [id, 'alive'])));
  }, RUN_MS + 60_000 * SLOW);

  test('simulateLoss(0) stops the dropping', async () => {
    const { monitor, events } = openMonitor();
    monitor.simulateLoss(1);
    open({ role: 'agent', id: 'muted', peers: [addressOf(monitor)] });
    await until(() => monitor.stats().droppedInjected >= 3, eventWait, 'three dropped beats');
    expect(monitor.members()).toEqual([]);
    monitor.simulateLoss(0);
    await events.waitFor('alive', 'muted', eventWait);
    const dropped = monitor.stats().droppedInjected;
    await until(() => monitor.stats().accepted >= 5, eventWait, 'five accepted beats');
    expect(monitor.stats().droppedInjected).toBe(dropped);
  });
});

describe('a mesh with a broken link', () => {
  /** A mesh of `n` members on loopback ports found first, each listing all the others. */
  async function mesh(names: string[]): Promise<{ members: Heartbeat[]; logs: EventLog[]; addresses: string[] }> {
    const ports = [];
    for (let i = 0; i < names.length; i++) ports.push(await freePort());
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    const members = names.map((id, i) =>
      open({ role: 'mesh', id, bind: addresses[i], peers: addresses.filter((_, j) => j !== i) }),
    );
    const logs = members.map((m) => new EventLog(m));
    for (const [i, log] of logs.entries()) {
      await Promise.all(names.filter((_, j) => j !== i).map((id) => log.waitFor('alive', id, eventWait)));
    }
    return { members, logs, addresses };
  }

  test('a member that hears nothing from another, while a third one does, never declares it dead', async () => {
    const { members, logs, addresses } = await mesh(['m-a', 'm-b', 'm-c']);
    const [a] = members;
    const [logA] = logs;
    // Everything from b to a is lost; c still hears b, and answers a's indirect probes of it.
    a.simulateLoss(1, addresses[1]);
    await watchFor(Math.max(RUN_MS / 2, bound * 3));
    expect(a.stats().droppedInjected).toBeGreaterThan(0);
    expect(logA.of('m-b', 'dead'), 'a declared b dead although c could reach it').toEqual([]);
    expect(a.members().find((m) => m.id === 'm-b')?.state).not.toBe('dead');
    expect(logs[2].of('m-b', 'dead')).toEqual([]);
  }, 60_000 * SLOW);

  test('with no third member to ask, the same broken link does end in dead', async () => {
    // The control for the test above: without indirect probes the loss is an outage.
    const { members, logs, addresses } = await mesh(['p-a', 'p-b']);
    members[0].simulateLoss(1, addresses[1]);
    const dead = await logs[0].waitFor('dead', 'p-b', eventWait);
    expect(dead.lastSeenMs).toBeGreaterThan(0);
    expect(logs[1].of('p-a', 'dead')).toEqual([]);
  }, 60_000 * SLOW);
});
