/**
 * `steadfast checkpoint inspect|verify DIR...` and `steadfast log inspect|verify DIR`: what is on disk,
 * checked file by file, for a store or log that may be in use by another process (inspectCheckpoints and
 * inspectLog read only and take no lock). Argument parsing and the reports are plain functions; the
 * binding is loaded only when a command runs, so that a usage error never depends on it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type * as Api from '../index';

/** One file as inspectCheckpoints reports it. */
export type CheckpointFile = Awaited<ReturnType<typeof Api.inspectCheckpoints>>[number];
/** One segment as inspectLog reports it. */
export type LogSegment = Awaited<ReturnType<typeof Api.inspectLog>>[number];

/** The store commands' usage lines, for the CLI's help text. */
export const STORE_USAGE = `  checkpoint inspect DIR... [--json]
                    every checkpoint file in the store's mirror directories, each checked completely
  checkpoint verify DIR... [--json]
                    one line per problem found, then a verdict
  log inspect DIR [--json]
                    every segment of an append log, each checked record by record
  log verify DIR [--json]
                    one line per problem found, then a verdict

  inspect and verify read only and take no lock, so they work on a store in use. They exit 0 when
  everything checked out, 1 when something is wrong or a directory cannot be read, 2 on a usage error.
  What a store in use shows mid-write is not wrong: a generation missing from one mirror is a warning,
  a torn tail in the log's last segment a note; both exit 0.`;

/** A command line the store commands accept. */
export interface StoreCommand {
  /** `steadfast checkpoint ...` or `steadfast log ...`. */
  area: 'checkpoint' | 'log';
  /** `inspect` reports every file; `verify` reports only what is wrong, then a verdict. */
  action: 'inspect' | 'verify';
  /** The directories named: a store's mirror directories, or exactly one log directory. */
  dirs: string[];
  /** `--json`: print the report ({@link CheckpointReport} or {@link LogReport}) as JSON instead of text. */
  json: boolean;
}

/** Parses the arguments after `checkpoint` or `log`: a command, or the reason it is not one. */
export function parseStoreCommand(area: 'checkpoint' | 'log', args: string[]): StoreCommand | { usage: string } {
  const [action, ...rest] = args;
  if (action !== 'inspect' && action !== 'verify') {
    return { usage: action === undefined ? `${area}: missing subcommand (inspect or verify)` : `${area}: unknown subcommand: ${action}` };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    return { usage: `${area} ${action}: ${(err as Error).message}` };
  }
  const dirs = parsed.positionals;
  if (dirs.length === 0) return { usage: `${area} ${action}: missing directory` };
  if (area === 'log' && dirs.length > 1) return { usage: `log ${action}: one directory, not ${dirs.length}` };
  if (new Set(dirs.map((dir) => path.resolve(dir))).size !== dirs.length) {
    return { usage: `${area} ${action}: a directory is named twice` };
  }
  return { area, action, dirs, json: parsed.values.json === true };
}

// --- checkpoint report -------------------------------------------------------------------------------

/** Something wrong with one file, or with the files together (`scope: 'store'`). */
export interface StoreProblem {
  /** `'file'`: the problem is in the file at `path`; `'store'`: between files (`path` names the one it shows in). */
  scope: 'file' | 'store';
  /** The file with the problem. */
  path: string;
  /** A store error code, as {@link StoreError} has: `'SF_CORRUPT'`, `'SF_FORMAT'`, `'SF_VERSION'`, `'SF_EMPTY'`, `'EIO'`... */
  code: string;
  /** What is wrong, in words. */
  problem: string;
  /** Byte offset of the problem in the file; null when it has none. */
  offset: number | null;
  /** Checkpoint problems: the generation of the file, when known. */
  generation?: number;
  /** Log problems: the first LSN that is not readable because of it. */
  lsnFirst?: number;
  /** Log problems: the last LSN not readable, when the range is known. */
  lsnLast?: number;
}

/** What `steadfast checkpoint inspect|verify --json` prints. */
export interface CheckpointReport {
  /** The command that made the report: `'checkpoint inspect'` or `'checkpoint verify'`. */
  command: string;
  /** True when `problems` is empty (warnings and notes do not count); the command then exits 0. */
  ok: boolean;
  /** The mirror directories, as given. */
  dirs: string[];
  /** The newest generation with a whole, valid copy (what a load returns), null when there is none. */
  newestValidGeneration: number | null;
  /** The highest generation among the files, valid or not. */
  newestGeneration: number | null;
  files: CheckpointFile[];
  /** Damaged or unreadable files, and a store whose files are all invalid. Any of them makes ok false. */
  problems: StoreProblem[];
  /** Missing mirror copies: expected while a save or a cleanup runs, else repaired by the next load. */
  warnings: string[];
  /** Left-overs worth knowing about: files moved aside earlier, temporary files. */
  notes: string[];
}

/** Judges what inspectCheckpoints found in `dirs` (each directory's file names in `listings`). */
export function checkpointReport(command: string, dirs: string[], files: CheckpointFile[], listings: string[][]): CheckpointReport {
  const sorted = [...files].sort(
    (a, b) => a.generation - b.generation || dirIndex(dirs, a.path) - dirIndex(dirs, b.path) || a.path.localeCompare(b.path),
  );
  const problems: StoreProblem[] = sorted
    .filter((f) => !f.ok)
    .map((f) => ({
      scope: 'file' as const,
      path: f.path,
      code: f.code ?? 'SF_CORRUPT',
      problem: f.problem ?? 'invalid',
      offset: f.badOffset,
      generation: f.generation,
    }));
  const valid = sorted.filter((f) => f.ok).map((f) => f.generation);
  const newestValidGeneration = valid.length ? Math.max(...valid) : null;
  const newestGeneration = sorted.length ? Math.max(...sorted.map((f) => f.generation)) : null;
  if (sorted.length && newestValidGeneration === null) {
    problems.push({
      scope: 'store',
      path: dirs.join(', '),
      code: 'SF_EMPTY',
      problem:
        dirs.length > 1
          ? 'no checkpoint file is valid: a load fails unless damaged copies of one generation can be pieced together'
          : 'no checkpoint file is valid: a load fails',
      offset: null,
    });
  }

  const warnings: string[] = [];
  if (dirs.length > 1) {
    for (const generation of new Set(sorted.map((f) => f.generation))) {
      const holders = new Set(sorted.filter((f) => f.generation === generation).map((f) => dirIndex(dirs, f.path)));
      for (const [i, dir] of dirs.entries()) {
        if (holders.has(i)) continue;
        warnings.push(`${dir}: no copy of generation ${generation} (a save or clean-up in progress, or the next load restores it)`);
      }
    }
  }
  const notes: string[] = [];
  for (const [i, names] of listings.entries()) {
    const aside = names.filter((n) => /^ckpt-.*\.corrupt(-\d+)?$/.test(n));
    const temporary = names.filter((n) => /^\.ckpt-.*\.tmp$/.test(n));
    if (aside.length) notes.push(`${dirs[i]}: ${aside.length} file(s) moved aside by an earlier load: ${aside.sort().join(' ')}`);
    if (temporary.length) notes.push(`${dirs[i]}: temporary file(s) of a save in progress or a crashed one: ${temporary.sort().join(' ')}`);
  }
  return { command, ok: problems.length === 0, dirs, newestValidGeneration, newestGeneration, files: sorted, problems, warnings, notes };
}

function dirIndex(dirs: string[], file: string): number {
  const dir = path.dirname(file);
  const i = dirs.findIndex((d) => path.resolve(d) === path.resolve(dir));
  return i < 0 ? dirs.length : i;
}

function checkpointSummary(r: CheckpointReport): string {
  const files = `${r.files.length} file${r.files.length === 1 ? '' : 's'} in ${r.dirs.length} director${r.dirs.length === 1 ? 'y' : 'ies'}`;
  let state: string;
  if (r.files.length === 0) state = 'no checkpoint yet';
  else if (r.newestValidGeneration === null) state = 'no valid generation';
  else {
    const newest = r.files.find((f) => f.ok && f.generation === r.newestValidGeneration)!;
    state = `newest valid generation ${r.newestValidGeneration} (LSN ${newest.lsn})`;
    if (r.newestGeneration !== r.newestValidGeneration) {
      const refused = r.files.some((f) => f.generation === r.newestGeneration && f.code === 'SF_VERSION');
      state += refused
        ? `, but generation ${r.newestGeneration} was written by a newer format version: a load refuses the store`
        : `; generation ${r.newestGeneration} has no valid copy`;
    }
  }
  return `${r.command}: ${files}; ${state}; ${verdict(r.problems.length)}`;
}

/** The text `steadfast checkpoint inspect` prints. */
export function formatCheckpointInspect(r: CheckpointReport): string {
  const rows = r.files.map((f) => [
    String(f.generation),
    String(f.size),
    String(f.payloadLength),
    String(f.lsn),
    f.createdAt ? new Date(f.createdAt).toISOString() : '-',
    f.version || '-',
    f.path,
    f.ok ? 'ok' : describeProblem(f.code, f.problem, f.badOffset),
  ]);
  const lines = rows.length
    ? [table(['GENERATION', 'SIZE', 'PAYLOAD', 'LSN', 'CREATED', 'VERSION', 'FILE', 'STATUS'], rows, [0, 1, 2, 3])]
    : [`no checkpoint files in ${r.dirs.join(', ')}`];
  for (const p of r.problems.filter((p) => p.scope === 'store')) lines.push(`PROBLEM ${p.path}: ${p.problem}`);
  lines.push(...r.warnings.map((w) => `warning ${w}`), ...r.notes.map((n) => `note ${n}`), checkpointSummary(r));
  return lines.join('\n');
}

/** The text `steadfast checkpoint verify` prints. */
export function formatCheckpointVerify(r: CheckpointReport): string {
  const lines = r.problems.map((p) => {
    const generation = p.generation !== undefined ? `generation ${p.generation}: ` : '';
    return `PROBLEM ${p.path}: ${generation}${describeProblem(p.code, p.problem, p.offset)}`;
  });
  lines.push(...r.warnings.map((w) => `warning ${w}`), ...r.notes.map((n) => `note ${n}`), checkpointSummary(r));
  return lines.join('\n');
}

// --- log report --------------------------------------------------------------------------------------

/** What `steadfast log inspect|verify --json` prints. */
export interface LogReport {
  /** The command that made the report: `'log inspect'` or `'log verify'`. */
  command: string;
  /** True when `problems` is empty; the command then exits 0. */
  ok: boolean;
  /** The log's directory, as given. */
  dir: string;
  /** First readable LSN over all segments (0 when there is none). */
  firstLsn: number;
  /** Last readable LSN over all segments (0 when there is none). */
  lastLsn: number;
  /** Readable records over all segments. */
  records: number;
  /** Every segment, in LSN order, as inspectLog reports it (a torn tail shows in its segment's `problem`). */
  segments: LogSegment[];
  /** Damaged segments and LSN ranges missing between segments. Any of them makes ok false. */
  problems: StoreProblem[];
  /**
   * A torn tail in the last segment (a commit caught half-written in a live log, or a crash; the next
   * open cuts it), side files of earlier recoveries, and temporary files. None of them makes ok false.
   */
  notes: string[];
}

/** Judges what inspectLog found in `dir` (its file names in `listing`). */
export function logReport(command: string, dir: string, segments: LogSegment[], listing: string[]): LogReport {
  const sorted = [...segments].sort((a, b) => a.firstLsn - b.firstLsn || a.path.localeCompare(b.path));
  const problems: StoreProblem[] = [];
  const notes: string[] = [];
  for (const [i, s] of sorted.entries()) {
    if (i === sorted.length - 1 && isTornTail(s)) {
      // The last segment of a live log ends in a torn tail whenever a commit is caught half-written,
      // and recovery cuts a torn tail without losing an acknowledged record: not a problem.
      notes.push(
        `${s.path}: ${describeProblem(s.code, s.problem, s.problemOffset)}: a commit in progress, or a crash; ` +
          `the next open cuts it`,
      );
    } else if (!s.ok || s.problem) {
      problems.push({
        scope: 'file',
        path: s.path,
        code: s.code ?? 'SF_CORRUPT',
        problem: s.problem ?? 'invalid',
        offset: s.problemOffset,
        lsnFirst: s.lastLsn + 1,
      });
    }
    // inspectLog checks the sequence across segments too; this catches what it might not, once.
    const next = sorted[i + 1];
    if (next && next.ok && !next.problem && next.firstLsn !== s.lastLsn + 1) {
      problems.push(
        next.firstLsn > s.lastLsn + 1
          ? {
              scope: 'store',
              path: next.path,
              code: 'SF_CORRUPT',
              problem:
                `LSNs ${s.lastLsn + 1}..${next.firstLsn - 1} are not readable ` +
                `between ${path.basename(s.path)} and ${path.basename(next.path)}`,
              offset: null,
              lsnFirst: s.lastLsn + 1,
              lsnLast: next.firstLsn - 1,
            }
          : {
              scope: 'store',
              path: next.path,
              code: 'SF_CORRUPT',
              problem: `starts at LSN ${next.firstLsn}, inside ${path.basename(s.path)} (which reaches LSN ${s.lastLsn})`,
              offset: null,
            },
      );
    }
  }
  const withRecords = sorted.filter((s) => s.records > 0);
  const torn = listing.filter((n) => /^log-.*\.sfl\.torn-\d+$/.test(n));
  const aside = listing.filter((n) => /^log-.*\.corrupt(-\d+)?$/.test(n));
  const temporary = listing.filter((n) => /^log-.*\.sfl\.tmp$/.test(n));
  if (torn.length) notes.push(`torn tail(s) cut by an earlier recovery, kept in: ${torn.sort().join(' ')}`);
  if (aside.length) notes.push(`file(s) set aside by an earlier recovery: ${aside.sort().join(' ')}`);
  if (temporary.length) notes.push(`temporary segment file(s) of a segment being created, or of a crash: ${temporary.sort().join(' ')}`);
  return {
    command,
    ok: problems.length === 0,
    dir,
    firstLsn: withRecords.length ? withRecords[0].firstLsn : 0,
    lastLsn: withRecords.length ? withRecords[withRecords.length - 1].lastLsn : 0,
    records: sorted.reduce((n, s) => n + s.records, 0),
    segments: sorted,
    problems,
    notes,
  };
}

/** A segment whose only problem is a torn tail: a last record cut short, with nothing valid after it. */
function isTornTail(s: LogSegment): boolean {
  // inspectLog reports a torn tail with its problem text; the code is SF_CORRUPT or none.
  return s.problem !== null && /torn tail/i.test(s.problem) && (s.code === null || s.code === 'SF_CORRUPT');
}

function logSummary(r: LogReport): string {
  const segments = `${r.segments.length} segment${r.segments.length === 1 ? '' : 's'}`;
  const records = r.records ? `LSNs ${r.firstLsn}..${r.lastLsn} (${r.records} record${r.records === 1 ? '' : 's'})` : 'no records';
  return `${r.command}: ${segments}; ${records}; ${verdict(r.problems.length)}`;
}

/** The text `steadfast log inspect` prints. */
export function formatLogInspect(r: LogReport): string {
  const rows = r.segments.map((s) => [
    path.basename(s.path),
    s.records ? `${s.firstLsn}..${s.lastLsn}` : `${s.firstLsn}..(none)`,
    String(s.records),
    String(s.dataEnd),
    String(s.size),
    s.ok && !s.problem ? 'ok' : describeProblem(s.code, s.problem, s.problemOffset),
  ]);
  const lines = rows.length
    ? [`${r.dir}:`, table(['SEGMENT', 'LSNS', 'RECORDS', 'DATA END', 'SIZE', 'STATUS'], rows, [2, 3, 4])]
    : [`no log segments in ${r.dir}`];
  // A segment's own problem is in its row; problems between segments are not.
  for (const p of r.problems.filter((p) => p.scope === 'store')) lines.push(`PROBLEM ${p.path}: ${p.problem}`);
  lines.push(...r.notes.map((n) => `note ${n}`), logSummary(r));
  return lines.join('\n');
}

/** The text `steadfast log verify` prints. */
export function formatLogVerify(r: LogReport): string {
  const lines = r.problems.map((p) => `PROBLEM ${p.path}: ${describeProblem(p.code, p.problem, p.offset)}`);
  lines.push(...r.notes.map((n) => `note ${n}`), logSummary(r));
  return lines.join('\n');
}

// --- shared ------------------------------------------------------------------------------------------

function describeProblem(code: string | null, problem: string | null, offset: number | null): string {
  return `${problem ?? 'invalid'}${offset !== null && offset >= 0 ? ` (at byte ${offset})` : ''} [${code ?? 'SF_CORRUPT'}]`;
}

function verdict(problems: number): string {
  return problems === 0 ? 'OK' : `${problems} problem${problems === 1 ? '' : 's'}`;
}

/** Columns padded to their widest cell; the columns numbered in `numeric` are right-aligned. */
function table(header: string[], rows: string[][], numeric: number[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : numeric.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** A directory's entries, with a clear error when it is missing or not a directory. */
async function listDirectory(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? 'no such directory' : e.code === 'ENOTDIR' ? 'not a directory' : e.message;
    throw Object.assign(new Error(`${dir}: ${what}`), { code: e.code });
  }
}

/** Runs a parsed store command: prints its report and returns the exit code (0 all good, 1 otherwise). */
export async function runStoreCommand(command: StoreCommand): Promise<number> {
  const name = `${command.area} ${command.action}`;
  // Every directory must be there before anything is checked: a mistyped mirror path is an answer on
  // its own, not an empty store.
  const listings = await Promise.all(command.dirs.map(listDirectory));
  // Loaded here so that usage errors and a missing directory never depend on the native binding.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('../index') as typeof Api;
  let text: string;
  let ok: boolean;
  let document: CheckpointReport | LogReport;
  if (command.area === 'checkpoint') {
    const report = checkpointReport(name, command.dirs, await api.inspectCheckpoints(command.dirs), listings);
    text = command.action === 'inspect' ? formatCheckpointInspect(report) : formatCheckpointVerify(report);
    ({ ok } = report);
    document = report;
  } else {
    const report = logReport(name, command.dirs[0], await api.inspectLog(command.dirs[0]), listings[0]);
    text = command.action === 'inspect' ? formatLogInspect(report) : formatLogVerify(report);
    ({ ok } = report);
    document = report;
  }
  process.stdout.write(command.json ? `${JSON.stringify(document, null, 2)}\n` : `${text}\n`);
  return ok ? 0 : 1;
}
