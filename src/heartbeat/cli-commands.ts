/**
 * `steadfast monitor --listen ADDR` and `steadfast agent --monitor ADDR [--id NAME]`: the heartbeat as
 * two programs. Each prints a line per state change (or, with --json, one JSON object per line), and a
 * monitor on a terminal keeps a table of its peers redrawn every second; both run until SIGINT or
 * SIGTERM, then close cleanly (an agent says it leaves) and exit 0. Argument parsing and the formatting
 * are plain functions; the binding is loaded only when a command runs, so a usage error never depends
 * on it.
 */
import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type * as Api from '../index';
import { HeartbeatError } from './errors';
import type { HeartbeatEvent, HeartbeatMember } from './events';
import { checkId, checkNumber, formatAddress, parseAddress, type HeartbeatAlgorithm, type HeartbeatOptions } from './options';

/** The heartbeat commands' usage lines, for the CLI's help text. */
export const HEARTBEAT_USAGE = `  monitor --listen ADDR [--json] [--interval MS] [--key-file F [--key-id N] [--algorithm A]]
                    listen for agents' beats on ADDR ('0.0.0.0:7400', '[::]:7400', '7400') and
                    print a line per state change (alive, suspect, dead, restarted, stalled,
                    resumed, left); on a terminal, also a table of peers redrawn every second
  agent --monitor ADDR [--monitor ADDR...] [--id NAME] [--bind ADDR] [--json] [--interval MS]
        [--key-file F [--key-id N] [--algorithm A]]
                    beat to one or more monitors (default id: host name and pid)

  --json            one JSON object per line per state change: at, event, id, state, address,
                    incarnation, phi, lastSeenMs, rttMs, lagMs
  --key-file F      the cluster key, as hex (whitespace ignored); the same on every node.
                    --key-id N (0..255, default 0), --algorithm hmac-sha256 (default) or siphash-2-4
  --interval MS     beat interval, 10..60000 (default 100); give every node the same

  monitor and agent run until SIGINT or SIGTERM, then close cleanly and exit 0; they exit 2 on a
  usage error and 1 when the socket cannot be bound.`;

/** A command line the heartbeat commands accept. */
export interface HeartbeatCommand {
  /** `steadfast monitor` or `steadfast agent`. */
  role: 'monitor' | 'agent';
  /** Monitor: the address to listen on. Agent: the local address (undefined: any free port). */
  bind: string | undefined;
  /** Agent: the monitors' addresses. */
  monitors: string[];
  /** Agent: this node's id (undefined: the default, host name and pid). */
  id: string | undefined;
  /** `--json`: one JSON object per line instead of text. */
  json: boolean;
  /** `--interval`, or undefined for the default. */
  intervalMs: number | undefined;
  /** `--key-file`, read when the command runs. */
  keyFile: string | undefined;
  /** `--key-id` (default 0). */
  keyId: number;
  /** `--algorithm` (default `'hmac-sha256'`). */
  algorithm: HeartbeatAlgorithm;
}

/** Parses the arguments after `monitor` or `agent`: a command, or the reason it is not one. */
export function parseHeartbeatCommand(role: 'monitor' | 'agent', args: string[]): HeartbeatCommand | { usage: string } {
  const options: ParseArgsConfig['options'] = {
    json: { type: 'boolean' },
    interval: { type: 'string' },
    'key-file': { type: 'string' },
    'key-id': { type: 'string' },
    algorithm: { type: 'string' },
    ...(role === 'monitor'
      ? { listen: { type: 'string' } }
      : { monitor: { type: 'string', multiple: true }, id: { type: 'string' }, bind: { type: 'string' } }),
  };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, allowPositionals: false, strict: true }));
  } catch (err) {
    return { usage: `${role}: ${(err as Error).message}` };
  }
  try {
    const str = (name: string): string | undefined => values[name] as string | undefined;
    let bind: string | undefined;
    let monitors: string[] = [];
    if (role === 'monitor') {
      bind = str('listen');
      if (bind === undefined) return { usage: "monitor: missing --listen ADDR (e.g. '0.0.0.0:7400')" };
      parseAddress(bind, '--listen', '0.0.0.0', true);
    } else {
      monitors = (values.monitor as string[] | undefined) ?? [];
      if (monitors.length === 0) return { usage: "agent: missing --monitor ADDR (e.g. '10.0.0.1:7400')" };
      for (const m of monitors) parseAddress(m, '--monitor', '127.0.0.1', false);
      bind = str('bind');
      if (bind !== undefined) parseAddress(bind, '--bind', '0.0.0.0', true);
      if (str('id') !== undefined) checkId(str('id'), '--id');
    }
    const interval = str('interval');
    const intervalMs = interval === undefined ? undefined : checkNumber(numeric(interval), '--interval', 10, 60000, { integer: true });
    const keyFile = str('key-file');
    const keyIdText = str('key-id');
    const algorithm = str('algorithm') ?? 'hmac-sha256';
    if (keyFile === undefined && (keyIdText !== undefined || str('algorithm') !== undefined)) {
      return { usage: `${role}: --key-id and --algorithm need --key-file` };
    }
    if (algorithm !== 'hmac-sha256' && algorithm !== 'siphash-2-4') {
      return { usage: `${role}: --algorithm must be hmac-sha256 or siphash-2-4, not ${algorithm}` };
    }
    const keyId = keyIdText === undefined ? 0 : checkNumber(numeric(keyIdText), '--key-id', 0, 255, { integer: true });
    return { role, bind, monitors, id: str('id'), json: values.json === true, intervalMs, keyFile, keyId, algorithm };
  } catch (err) {
    if (err instanceof HeartbeatError) return { usage: `${role}: ${err.message}` };
    throw err;
  }
}

function numeric(text: string): number | string {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text;
}

/**
 * Reads a key file: the key as hex, whitespace (and a `0x` prefix) ignored.
 * @throws {@link HeartbeatError} `ERR_INVALID_ARG_VALUE` if it is not hex; the fs error if unreadable.
 */
export function readKeyFile(file: string): Buffer {
  const text = fs.readFileSync(file, 'utf8').replace(/\s+/g, '').replace(/^0x/i, '');
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(text)) {
    throw new HeartbeatError('ERR_INVALID_ARG_VALUE', `--key-file ${file}: expected the key as hex digits (an even number of them)`);
  }
  return Buffer.from(text, 'hex');
}

// --- formatting -------------------------------------------------------------------------------------

/** The state a peer is in after an event, as the JSON lines report it (`stalled` for a stalled peer). */
export function stateAfter(type: HeartbeatEvent['type']): string | null {
  switch (type) {
    case 'alive':
    case 'restarted':
    case 'resumed':
      return 'alive';
    case 'stalled':
      return 'stalled';
    case 'paused':
      return null;
    default:
      return type;
  }
}

function clock(at: number): string {
  const d = new Date(at);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function ms(value: number): string {
  return value >= 10 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

/** The line `steadfast monitor` prints for an event: "12:00:01.234 node-a 127.0.0.1:5000 dead (phi 8.3, last seen 812 ms)". */
export function formatEventLine(e: HeartbeatEvent): string {
  if (e.type === 'paused') {
    return `${clock(e.at)} paused: this process was not scheduled for ${ms(e.lastSeenMs)} (beats missed meanwhile are not held against peers)`;
  }
  const details = [`phi ${e.phi.toFixed(1)}`, `last seen ${ms(e.lastSeenMs)}`];
  if (e.rttMs !== null) details.push(`rtt ${ms(e.rttMs)}`);
  if (e.lagMs !== null && (e.type === 'stalled' || e.type === 'resumed' || e.lagMs >= 100)) details.push(`lag ${ms(e.lagMs)}`);
  if (e.type === 'restarted') details.push(`incarnation ${e.previousIncarnation ?? '?'} -> ${e.peer.incarnation}`);
  return `${clock(e.at)} ${e.peer.id} ${e.peer.address} ${e.type} (${details.join(', ')})`;
}

/** The JSON line `--json` prints for an event (`self` names this node, for a `paused` event). */
export function formatEventJson(e: HeartbeatEvent, self: { id: string; address: string }): string {
  const paused = e.type === 'paused';
  const line: Record<string, unknown> = {
    at: new Date(e.at).toISOString(),
    event: e.type,
    id: paused ? self.id : e.peer.id,
    state: stateAfter(e.type),
    address: paused ? self.address : e.peer.address,
    incarnation: paused ? null : e.peer.incarnation,
    phi: e.phi,
    lastSeenMs: e.lastSeenMs,
    rttMs: e.rttMs,
    lagMs: e.lagMs,
  };
  if (e.previousIncarnation !== undefined) line.previousIncarnation = e.previousIncarnation;
  return JSON.stringify(line);
}

/** The table of peers a monitor (or agent) on a terminal keeps redrawn. */
export function formatMemberTable(members: HeartbeatMember[], title: string): string {
  if (members.length === 0) return `${title}: no peers yet`;
  const rows = [...members]
    .sort((a, b) => a.id.localeCompare(b.id) || a.address.localeCompare(b.address))
    .map((m) => [
      m.id || '-',
      m.address,
      m.stalled ? `${m.state} (stalled)` : m.state,
      m.phi.toFixed(1),
      m.lastSeenMs === null ? '-' : ms(m.lastSeenMs),
      m.rttMs === null ? '-' : ms(m.rttMs),
      m.lagMs === null ? '-' : ms(m.lagMs),
      String(m.beats),
    ]);
  const header = ['ID', 'ADDRESS', 'STATE', 'PHI', 'LAST SEEN', 'RTT', 'LAG', 'BEATS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [`${title}: ${members.length} peer${members.length === 1 ? '' : 's'}`, line(header), ...rows.map(line)].join('\n');
}

// --- running ----------------------------------------------------------------------------------------

/** Where a running command writes, and the signals that stop it (tests pass their own). */
export interface CommandIo {
  /** Event lines (and, on a terminal, the table). */
  stdout: NodeJS.WriteStream;
  /** The start-up line and argument errors. */
  stderr: NodeJS.WriteStream;
  /** Resolves when the command should stop (default: the first SIGINT or SIGTERM). */
  stopped?: Promise<unknown>;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Runs `monitor` or `agent` until SIGINT/SIGTERM (or `io.stopped`), then closes and resolves 0.
 * Resolves 2 for an invalid argument found only now (a bad key); rejects with the error if the socket
 * cannot be bound or the key file read (the CLI prints it and exits 1).
 */
export async function runHeartbeatCommand(
  command: HeartbeatCommand,
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const stopped = io.stopped ?? untilSignal();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('../index') as typeof Api;
  const options: HeartbeatOptions = { role: command.role };
  if (command.bind !== undefined) options.bind = command.bind;
  if (command.role === 'agent') options.peers = command.monitors;
  if (command.id !== undefined) options.id = command.id;
  if (command.intervalMs !== undefined) options.intervalMs = command.intervalMs;
  let heartbeat: Api.Heartbeat;
  try {
    if (command.keyFile !== undefined) {
      options.key = { id: command.keyId, key: readKeyFile(command.keyFile), algorithm: command.algorithm };
    }
    heartbeat = new api.Heartbeat(options);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof HeartbeatError && typeof code === 'string' && code.startsWith('ERR_INVALID_ARG')) {
      io.stderr.write(`steadfast ${command.role}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const local = formatAddress({ host: heartbeat.address.address, port: heartbeat.address.port });
  const interval = command.intervalMs ?? 100;
  const bound = Math.round(api.detectionBoundMs({ intervalMs: command.intervalMs }));
  io.stderr.write(
    command.role === 'monitor'
      ? `steadfast monitor: ${heartbeat.id} listening on ${local} (a silent peer is dead after about ${bound} ms)\n`
      : `steadfast agent: ${heartbeat.id} beating from ${local} to ${command.monitors.join(', ')} every ${interval} ms\n`,
  );

  const table = !command.json && io.stdout.isTTY === true;
  let tableLines = 0;
  // On a terminal the table sits below the event lines: erase it, write the new lines, draw it again.
  const write = (lines: string[]): void => {
    let out = '';
    if (table && tableLines > 0) out += `\x1b[${tableLines}A\r\x1b[J`;
    out += lines.map((l) => `${l}\n`).join('');
    if (table) {
      const text = formatMemberTable(heartbeat.members(), `${command.role} ${heartbeat.id} on ${local}`);
      tableLines = text.split('\n').length;
      out += `${text}\n`;
    }
    if (out) io.stdout.write(out);
  };
  heartbeat.on('event', (e) => {
    write([command.json ? formatEventJson(e, { id: heartbeat.id, address: local }) : formatEventLine(e)]);
  });
  // The first table comes with the first event or a second from now, after the warnings Node prints
  // on stderr (which shares the terminal) at the next tick.
  const redraw = table ? setInterval(() => write([]), 1000) : undefined;

  await stopped;
  if (redraw) clearInterval(redraw);
  await heartbeat.close({ leave: true });
  return 0;
}
