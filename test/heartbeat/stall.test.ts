// App stalls: an agent whose JS thread is wedged in a busy loop for 5 s keeps beating (the engine has
// its own thread), and its beats carry the growing event-loop lag. The monitor must show it alive and
// stalled, then resumed, and never dead: a wedged process is not a gone one.
import { afterEach, expect, test } from 'vitest';
import { addressOf, cleanup, eventWait, NodeChild, openMonitor, SLOW } from './helpers';

afterEach(cleanup);

const BLOCK_MS = 5000;

test('an agent whose JS thread is blocked for 5 s is stalled and then resumed, alive throughout and never dead', async () => {
  const { monitor, events } = openMonitor();
  const child = new NodeChild({ role: 'agent', id: 'busy', peers: [addressOf(monitor)] });
  await child.ready();
  await events.waitFor('alive', 'busy', eventWait);
  const before = events.mark;
  const blocked = child.command({ cmd: 'block', ms: BLOCK_MS }, BLOCK_MS * 3 + 30_000 * SLOW);
  const stalled = await events.waitFor('stalled', 'busy', BLOCK_MS + eventWait, before);
  // The lag the beat carried passed the stall threshold (1000 ms by default), and the peer still beats.
  expect(stalled.lagMs).not.toBeNull();
  expect(stalled.lagMs!).toBeGreaterThanOrEqual(1000);
  const during = monitor.members().find((m) => m.id === 'busy');
  expect(during).toMatchObject({ state: 'alive', stalled: true });
  const { ms } = await blocked;
  expect(ms).toBeGreaterThanOrEqual(BLOCK_MS);
  const resumed = await events.waitFor('resumed', 'busy', eventWait, before);
  expect(resumed.lagMs === null || resumed.lagMs < 1000).toBe(true);
  expect(monitor.members().find((m) => m.id === 'busy')).toMatchObject({ state: 'alive', stalled: false });
  expect(events.of('busy', 'dead', 'restarted')).toEqual([]);
  // Stalled came before resumed, once each.
  expect(events.of('busy', 'stalled', 'resumed').map((e) => e.type)).toEqual(['stalled', 'resumed']);
});
