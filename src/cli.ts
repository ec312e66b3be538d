#!/usr/bin/env node
/**
 * The `steadfast` command. `steadfast doctor [--json]` reports the platform, the loaded binary and the
 * CRC paths, and exits 1 when the self-check fails. `steadfast checkpoint|log inspect|verify` check a
 * checkpoint store or an append log on disk (src/store/cli-commands.ts). `steadfast monitor` and
 * `steadfast agent` run a heartbeat monitor or agent until SIGINT/SIGTERM (src/heartbeat/cli-commands.ts).
 */
import type * as Doctor from './doctor';
// Load no binding by themselves: the store and heartbeat commands require it only when they run.
import { STORE_USAGE, parseStoreCommand, runStoreCommand } from './store/cli-commands';
import { HEARTBEAT_USAGE, parseHeartbeatCommand, runHeartbeatCommand } from './heartbeat/cli-commands';

const USAGE = `Usage: steadfast <command> [options]

Commands:
  doctor [--json]   platform, loaded binary, CRC implementations, and a self-check
                    (exit code 1 when the self-check fails)
${STORE_USAGE}

${HEARTBEAT_USAGE}

Options:
  -h, --help        this text
  -v, --version     the package version`;

function main(argv: string[]): number | Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../package.json') as { version: string }).version}\n`);
    return 0;
  }
  if (command === 'doctor') {
    const unknown = rest.filter((a) => a !== '--json');
    if (unknown.length) return usageError(`unknown option for doctor: ${unknown.join(' ')}`);
    // Loaded here, not at the top, so that a binding that fails to load (no binary for this platform,
    // a bad STEADFAST_CRC) is reported as one clear line below rather than a stack trace.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { doctor, formatDoctor } = require('./doctor') as typeof Doctor;
    const report = doctor();
    process.stdout.write(rest.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
    return report.ok ? 0 : 1;
  }
  if (command === 'checkpoint' || command === 'log') {
    const parsed = parseStoreCommand(command, rest);
    if ('usage' in parsed) return usageError(parsed.usage);
    return runStoreCommand(parsed);
  }
  if (command === 'monitor' || command === 'agent') {
    const parsed = parseHeartbeatCommand(command, rest);
    if ('usage' in parsed) return usageError(parsed.usage);
    return runHeartbeatCommand(parsed);
  }
  return usageError(`unknown command: ${command}`);
}

function usageError(message: string): number {
  process.stderr.write(`steadfast: ${message}\n\n${USAGE}\n`);
  return 2;
}

function fail(err: unknown): void {
  const e = err as { code?: string; message?: string; path?: string };
  const where = e.path && !e.message?.includes(e.path) ? ` (${e.path})` : '';
  process.stderr.write(`steadfast: ${e.message ?? String(err)}${where}${e.code ? ` [${e.code}]` : ''}\n`);
  process.exitCode = 1;
}

try {
  Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code;
  }, fail);
} catch (err) {
  fail(err);
}
