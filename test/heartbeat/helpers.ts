// Shared by the heartbeat tests: engines opened here and closed after each test, a recorder of one
// engine's events that waits for the one a test expects, child processes running fixtures/node.mjs (a
// monitor, agent or mesh member driven by JSON lines on stdin, reporting on stdout), and free ports.
// Everything waits for events with a bound, never for a fixed time, except where a test must prove
// that something does NOT happen within a window.
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { detectionBoundMs, Heartbeat, type HeartbeatEvent, type HeartbeatOptions } from '../../src/index';
import { emulated } from '../helpers';

export { emulated };
/** How much longer waits are under emulation. */
export const SLOW = emulated ? 10 : 1;
/** How long to wait for an event the detection bound promises (default options), with start-up slack. */
export const eventWait = detectionBoundMs() * 4 + 5000 * SLOW;

export const nodeFixture = path.join(__dirname, 'fixtures', 'node.mjs');

/** 'host:port', with brackets for IPv6, as peers and events spell addresses. */
export function addressOf(hb: Heartbeat): string {
  const { address, family, port } = hb.address;
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A UDP port nobody is bound to right now (bound to 0, read, closed: another process could take it
 * before the caller does, which on a test machine it does not). */
export function freePort(type: 'udp4' | 'udp6' = 'udp4'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(type);
    socket.once('error', reject);
    socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

const opened: Heartbeat[] = [];
const children: NodeChild[] = [];

/** An engine in this process, closed by cleanup() if the test did not close it. */
export function open(options: HeartbeatOptions): Heartbeat {
  const hb = new Heartbeat(options);
  opened.push(hb);
  return hb;
}

/** A monitor on an ephemeral loopback port, with its event recorder. */
export function openMonitor(options: Partial<HeartbeatOptions> = {}): { monitor: Heartbeat; events: EventLog } {
  const monitor = open({ role: 'monitor', id: 'monitor', bind: '127.0.0.1:0', ...options });
  return { monitor, events: new EventLog(monitor) };
}

/** Closes every engine opened and kills every child started by the test; for afterEach. */
export async function cleanup(): Promise<void> {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(opened.splice(0).map((hb) => hb.close({ leave: false }).catch(() => {})));
}

/** Resolves when `condition()` holds, polling every 20 ms; rejects after `timeoutMs` naming `what`.
 * For what no event announces (counters). */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves after `ms`: only to watch that something does NOT happen during a window. */
export const watchFor = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The error `fn` throws (the test fails if it throws none). */
export function thrown(fn: () => unknown): Error & { code?: string; address?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw, got none');
}

export function describeEvent(e: HeartbeatEvent): string {
  return `${e.type} ${e.peer.id} ${e.peer.address} inc ${e.peer.incarnation} phi ${e.phi.toFixed(2)} last ${e.lastSeenMs.toFixed(0)} ms`;
}

/** Every event one engine emits, in order, with the parent's clock (performance.now()) of its arrival. */
export class EventLog {
  readonly all: (HeartbeatEvent & { receivedAt: number })[] = [];
  private waiters: { from: number; match: (e: HeartbeatEvent) => boolean; resolve: (e: HeartbeatEvent) => void }[] = [];

  constructor(hb: Heartbeat) {
    hb.on('event', (event: HeartbeatEvent) => {
      this.all.push({ ...event, receivedAt: performance.now() });
      const index = this.all.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (index < w.from || !w.match(event)) return true;
        w.resolve(event);
        return false;
      });
    });
  }

  /** The events about one peer id, optionally of the given types. */
  of(id: string, ...types: HeartbeatEvent['type'][]): HeartbeatEvent[] {
    return this.all.filter((e) => e.peer.id === id && (types.length === 0 || types.includes(e.type)));
  }

  /** How many events are recorded: a position to wait from. */
  get mark(): number {
    return this.all.length;
  }

  /** The first event from position `from` on (already recorded or still to come) of `type` about `id`. */
  waitFor(type: HeartbeatEvent['type'], id: string, timeoutMs: number, from = 0): Promise<HeartbeatEvent> {
    const match = (e: HeartbeatEvent) => e.type === type && e.peer.id === id;
    const found = this.all.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        const seen = this.all.map(describeEvent).join('\n  ') || '(none)';
        reject(new Error(`no ${type} event for ${id} within ${timeoutMs} ms; events so far:\n  ${seen}`));
      }, timeoutMs);
      const done = (e: HeartbeatEvent) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiters.push({ from, match, resolve: done });
    });
  }
}

/** What fixtures/node.mjs takes as its one argument. */
export interface FixtureOptions {
  role: 'monitor' | 'agent' | 'mesh';
  id: string;
  peers?: string[];
  bind?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Line = Record<string, any>;

/** A child process running fixtures/node.mjs (given its options) or node with other arguments (the
 * CLI): its stdout lines (parsed as JSON, or else `{ text }`), commands to it, and its end. */
export class NodeChild {
  readonly process: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { match: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(options: FixtureOptions | string[]) {
    const args = Array.isArray(options) ? options : [nodeFixture, JSON.stringify(options)];
    this.process = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(this);
    let buffered = '';
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!text.trim()) continue;
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          line = { text };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.process.stdin!.on('error', () => {}); // a killed child closes its end
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first line (seen or to come) that matches; rejects after `timeoutMs` or if the child exits. */
  waitFor(match: (l: Line) => boolean, timeoutMs: number, what: string): Promise<Line> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${what}: ${why}\nstdout:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`));
      };
      const timer = setTimeout(() => fail(`not within ${timeoutMs} ms`), timeoutMs);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        fail(`the child exited (code ${code}, signal ${signal})`);
      });
      const done = (l: Line) => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Waits for the child's ready line: its engine is bound and running. */
  ready(): Promise<Line> {
    return this.waitFor((l) => l.ready === true, 60_000 * (emulated ? 3 : 1), 'the child never got ready');
  }

  /** Sends a command and waits for its reply line. */
  async command(cmd: Line, timeoutMs = 30_000 * SLOW): Promise<Line> {
    const tag = Math.random().toString(36).slice(2);
    this.process.stdin!.write(`${JSON.stringify({ ...cmd, tag })}\n`);
    return this.waitFor((l) => l.tag === tag, timeoutMs, `no reply to ${cmd.cmd}`);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }
}
