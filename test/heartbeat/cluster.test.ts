// Multi-process clusters on loopback: a monitor in this process and agents in child processes
// (fixtures/node.mjs), killed, stopped, restarted and closed for real. The monitor's events carry
// the engine's own evidence (how long since the peer's last valid packet), and that is what the
// detection bound is checked against: the parent's clock would add this process's scheduling.
import { afterEach, describe, expect, test } from 'vitest';
import { detectionBoundMs } from '../../src/index';
import { addressOf, cleanup, emulated, EventLog, freePort, NodeChild, open, openMonitor, SLOW, watchFor } from './helpers';

afterEach(cleanup);

// The documented bound is exact arithmetic over the options; the slack covers the engine's tick
// granularity and a loaded machine (two cores shared by many processes here, QEMU in CI).
const bound = detectionBoundMs();
const slack = emulated ? bound + 2000 : bound / 2 + 250;
// How long to wait for an event the bound promises: the bound, the slack, and the children's start-up.
const eventWait = (bound + slack) * 4 + 5000 * SLOW;

function agent(id: string, monitorAddress: string): NodeChild {
  return new NodeChild({ role: 'agent', id, peers: [monitorAddress] });
}

describe('a monitor watching agents in other processes', () => {
  test('an agent that is SIGKILLed is declared dead, with its last beat no longer ago than the documented bound', async () => {
    const { monitor, events } = openMonitor();
    const child = agent('victim', addressOf(monitor));
    await child.ready();
    await events.waitFor('alive', 'victim', eventWait);
    const beforeKill = events.mark;
    child.kill('SIGKILL');
    const dead = await events.waitFor('dead', 'victim', eventWait, beforeKill);
    expect(events.of('victim', 'dead').length, 'declared dead before it was killed').toBe(1);
    expect(dead.lastSeenMs).toBeGreaterThan(0);
    expect(dead.lastSeenMs, `dead after ${dead.lastSeenMs} ms without a beat; the bound is ${bound} ms`).toBeLessThanOrEqual(bound + slack);
    expect(dead.phi).toBeGreaterThanOrEqual(8);
    expect(dead.peer.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(monitor.members().find((m) => m.id === 'victim')?.state).toBe('dead');
  });

  test('an agent that is SIGSTOPped goes suspect, and is alive again after SIGCONT', async () => {
    const { monitor, events } = openMonitor();
    const child = agent('sleeper', addressOf(monitor));
    await child.ready();
    const first = await events.waitFor('alive', 'sleeper', eventWait);
    const beforeStop = events.mark;
    child.kill('SIGSTOP');
    await events.waitFor('suspect', 'sleeper', eventWait, beforeStop);
    // Stopped long enough to be dead too (a real outage as the monitor sees it), then continued.
    await events.waitFor('dead', 'sleeper', eventWait, beforeStop);
    const beforeCont = events.mark;
    child.kill('SIGCONT');
    const back = await events.waitFor('alive', 'sleeper', eventWait, beforeCont);
    // The same process, so the same incarnation: alive, not restarted.
    expect(back.peer.incarnation).toBe(first.peer.incarnation);
    expect(events.of('sleeper', 'restarted')).toEqual([]);
    expect(monitor.members().find((m) => m.id === 'sleeper')?.state).toBe('alive');
  });

  test('an agent started again under the same id is reported restarted, with a newer incarnation', async () => {
    const { monitor, events } = openMonitor();
    const first = agent('phoenix', addressOf(monitor));
    const firstReady = await first.ready();
    await events.waitFor('alive', 'phoenix', eventWait);
    first.kill('SIGKILL');
    await first.exited;
    const second = agent('phoenix', addressOf(monitor));
    const secondReady = await second.ready();
    const restarted = await events.waitFor('restarted', 'phoenix', eventWait);
    expect(restarted.previousIncarnation).toBe(firstReady.incarnation);
    expect(restarted.peer.incarnation).toBe(secondReady.incarnation);
    expect(BigInt(restarted.previousIncarnation!)).toBeLessThan(BigInt(restarted.peer.incarnation));
    const member = monitor.members().find((m) => m.id === 'phoenix');
    expect(member?.incarnation).toBe(secondReady.incarnation);
  });

  test('an agent that closes on purpose is reported left, and never dead', async () => {
    const { monitor, events } = openMonitor();
    const child = agent('leaver', addressOf(monitor));
    await child.ready();
    await events.waitFor('alive', 'leaver', eventWait);
    await child.command({ cmd: 'close', leave: true });
    await events.waitFor('left', 'leaver', eventWait);
    expect((await child.exited).code).toBe(0);
    // Long past the detection bound: a peer that left is not then found dead.
    await watchFor(bound + slack + 500);
    expect(events.of('leaver', 'dead', 'suspect')).toEqual([]);
    expect(monitor.members().find((m) => m.id === 'leaver')?.state).toBe('left');
  });

  test('several agents are tracked apart: killing one leaves the others alive', async () => {
    const { monitor, events } = openMonitor();
    const ids = ['n1', 'n2', 'n3'];
    const nodes = ids.map((id) => agent(id, addressOf(monitor)));
    await Promise.all(nodes.map((n) => n.ready()));
    await Promise.all(ids.map((id) => events.waitFor('alive', id, eventWait)));
    const beforeKill = events.mark;
    nodes[1].kill('SIGKILL');
    await events.waitFor('dead', 'n2', eventWait, beforeKill);
    // From the kill on (three emulated children starting at once may starve each other before it).
    const after = events.all.slice(beforeKill);
    expect(after.filter((e) => e.type === 'dead').map((e) => e.peer.id)).toEqual(['n2']);
    const states = Object.fromEntries(monitor.members().map((m) => [m.id, m.state]));
    expect(states).toEqual({ n1: 'alive', n2: 'dead', n3: 'alive' });
  });
});

describe('a mesh with a member in another process', () => {
  test('a member that is SIGKILLed is declared dead by every other member, within the bound with indirect probes', async () => {
    const meshBound = detectionBoundMs({ role: 'mesh' });
    const meshSlack = emulated ? meshBound + 2000 : meshBound / 2 + 250;
    const addresses: string[] = [];
    for (let i = 0; i < 3; i++) addresses.push(`127.0.0.1:${await freePort()}`);
    const others = (i: number) => addresses.filter((_, j) => j !== i);
    const a = open({ role: 'mesh', id: 'mesh-a', bind: addresses[0], peers: others(0) });
    const b = open({ role: 'mesh', id: 'mesh-b', bind: addresses[1], peers: others(1) });
    const logs = [new EventLog(a), new EventLog(b)];
    const child = new NodeChild({ role: 'mesh', id: 'mesh-c', bind: addresses[2], peers: others(2) });
    await child.ready();
    await child.waitFor((l) => l.event?.type === 'alive' && l.event.peer.id === 'mesh-a', eventWait, 'c never saw a');
    for (const log of logs) await log.waitFor('alive', 'mesh-c', eventWait);
    const marks = logs.map((log) => log.mark);
    child.kill('SIGKILL');
    const deaths = await Promise.all(logs.map((log, i) => log.waitFor('dead', 'mesh-c', eventWait, marks[i])));
    for (const dead of deaths) {
      expect(dead.lastSeenMs, `dead after ${dead.lastSeenMs} ms without a beat; the mesh bound is ${meshBound} ms`).toBeLessThanOrEqual(
        meshBound + meshSlack,
      );
    }
    expect(logs[0].of('mesh-b', 'dead')).toEqual([]);
    expect(logs[1].of('mesh-a', 'dead')).toEqual([]);
    expect(a.members().find((m) => m.id === 'mesh-c')?.state).toBe('dead');
  });
});
