// `steadfast monitor` and `steadfast agent`, run as a user runs them: the built CLI (dist/cli.js) in
// child processes on loopback. The monitor listens on a port found free first, since the agent must
// be told where it is before the monitor could say.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { detectionBoundMs } from '../../src/index';
import { dist, runNode } from '../helpers';
import { cleanup, freePort, NodeChild, SLOW } from './helpers';

afterEach(cleanup);

const cli = path.join(dist, 'cli.js');
const steadfast = (...args: string[]) => new NodeChild([cli, ...args]);
const eventWait = detectionBoundMs() * 4 + 10_000 * SLOW;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-hb-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('steadfast monitor and agent --json', () => {
  test('the monitor prints a JSON line with the id and the new state when an agent appears, and when it stops on SIGTERM', async () => {
    const port = await freePort();
    const monitor = steadfast('monitor', '--listen', `127.0.0.1:${port}`, '--json');
    const agent = steadfast('agent', '--monitor', `127.0.0.1:${port}`, '--id', 'cli-agent', '--json');
    const alive = await monitor.waitFor((l) => l.event === 'alive' && l.id === 'cli-agent', eventWait, 'no alive line');
    expect(alive).toMatchObject({ state: 'alive', address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(alive.incarnation).toMatch(/^\d+$/);
    expect(Number.isNaN(Date.parse(alive.at))).toBe(false);
    expect(typeof alive.phi).toBe('number');
    // SIGTERM: the agent closes cleanly (saying goodbye) and exits 0.
    agent.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    const left = await monitor.waitFor((l) => l.event === 'left' && l.id === 'cli-agent', eventWait, 'no left line');
    expect(left.state).toBe('left');
    monitor.kill('SIGTERM');
    expect(await monitor.exited).toEqual({ code: 0, signal: null });
    expect(monitor.lines.filter((l) => l.text !== undefined)).toEqual([]); // nothing but JSON on stdout
  });

  test('an agent killed with SIGKILL is a dead line with its evidence', async () => {
    const port = await freePort();
    const monitor = steadfast('monitor', '--listen', `127.0.0.1:${port}`, '--json');
    const agent = steadfast('agent', '--monitor', `127.0.0.1:${port}`, '--id', 'cli-victim');
    await monitor.waitFor((l) => l.event === 'alive' && l.id === 'cli-victim', eventWait, 'no alive line');
    agent.kill('SIGKILL');
    const dead = await monitor.waitFor((l) => l.event === 'dead' && l.id === 'cli-victim', eventWait, 'no dead line');
    expect(dead.state).toBe('dead');
    expect(dead.lastSeenMs).toBeGreaterThan(0);
    expect(dead.phi).toBeGreaterThanOrEqual(8);
  });

  test('with --key-file the monitor tracks the agent that has the key, and never one without it', async () => {
    const keyFile = path.join(tmp, 'cluster.key');
    // Hex, whitespace ignored.
    fs.writeFileSync(keyFile, `${'00112233445566778899aabbccddeeff'}\n ${'ffeeddccbbaa99887766554433221100'}\n`);
    const port = await freePort();
    const monitor = steadfast('monitor', '--listen', `127.0.0.1:${port}`, '--json', '--key-file', keyFile);
    steadfast('agent', '--monitor', `127.0.0.1:${port}`, '--id', 'outsider', '--json');
    steadfast('agent', '--monitor', `127.0.0.1:${port}`, '--id', 'insider', '--json', '--key-file', keyFile);
    await monitor.waitFor((l) => l.event === 'alive' && l.id === 'insider', eventWait, 'the keyed agent was not seen');
    expect(monitor.lines.filter((l) => l.id === 'outsider')).toEqual([]);
    // No warning about running without a key, either.
    expect(monitor.stderr).not.toContain('SF_HB_NO_KEY');
  });

  test('without --json the monitor prints a human line per state change', async () => {
    const port = await freePort();
    const monitor = steadfast('monitor', '--listen', `127.0.0.1:${port}`);
    steadfast('agent', '--monitor', `127.0.0.1:${port}`, '--id', 'human-agent');
    const line = await monitor.waitFor((l) => /human-agent .*alive/.test(l.text ?? ''), eventWait, 'no human line');
    expect(line.text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} human-agent 127\.0\.0\.1:\d+ alive/);
  });
});

describe('usage errors exit 2', () => {
  test.each([
    [['monitor']],
    [['agent']],
    [['agent', '--id', 'x']],
    [['monitor', '--listen', '127.0.0.1:0', '--bogus']],
    [['agent', '--monitor', '127.0.0.1:7400', '--interval', 'often']],
  ])('steadfast %j', (args) => {
    const r = runNode([cli, ...args]);
    expect(r.status, r.stdout).toBe(2);
    expect(r.stderr).toMatch(/steadfast: /);
  });

  test('--help lists the monitor and agent commands', () => {
    const r = runNode([cli, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/monitor --listen/);
    expect(r.stdout).toMatch(/agent --monitor/);
  });
});
