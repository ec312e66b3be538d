// `steadfast checkpoint inspect|verify` and `steadfast log inspect|verify`, run as a user runs them (the
// built CLI in a child process) on stores and logs made with the API, whole and then damaged with fs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppendLog, CheckpointStore } from '../../src/index';
import { dist, runNode } from '../helpers';

const cli = path.join(dist, 'cli.js');
const steadfast = (...args: string[]) => runNode([cli, ...args]);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh copy of a directory the tests share, to damage without touching the original. */
let copies = 0;
function copyOf(dir: string): string {
  const copy = path.join(tmp, `${path.basename(dir)}-copy-${++copies}`);
  fs.cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Flips every bit of the byte at `offset` of `file`. */
function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, offset);
    byte[0] ^= 0xff;
    fs.writeSync(fd, byte, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

const ckptFile = (dir: string, generation: number) => path.join(dir, `ckpt-${generation.toString(16).padStart(16, '0')}.sfc`);

// Two mirrors holding generations 2 and 3 (the default keep is 2), and a log of 10 records of 40 bytes:
// each frame is then 24 + 40 = 64 bytes, record i (from 0) at 32 + 64 * i of the one segment.
const mirrorA = path.join(tmp, 'a');
const mirrorB = path.join(tmp, 'b');
const logDir = path.join(tmp, 'log');
const RECORDS = 10;
const frameOffset = (i: number) => 32 + 64 * i;
let segment = '';
// And a log of 200 such records in 4 KiB segments: 63 records fill one (32 + 63 * 64 = 4064 bytes).
const longLogDir = path.join(tmp, 'long-log');
const segmentName = (firstLsn: number) => `log-${firstLsn.toString(16).padStart(16, '0')}.sfl`;

beforeAll(async () => {
  for (const dir of [mirrorA, mirrorB, logDir, longLogDir]) fs.mkdirSync(dir);
  const store = await CheckpointStore.open({ dirs: [mirrorA, mirrorB] });
  for (let generation = 1; generation <= 3; generation++) {
    await store.save(Buffer.alloc(5000 * generation, generation), { lsn: generation * 3 });
  }
  await store.close();
  const log = await AppendLog.open({ dir: logDir, segmentSize: 64 * 1024 });
  for (let i = 1; i <= RECORDS; i++) await log.append(Buffer.alloc(40, i));
  await log.close();
  [segment] = fs.readdirSync(logDir).filter((n) => n.endsWith('.sfl'));
  const long = await AppendLog.open({ dir: longLogDir, segmentSize: 4096 });
  for (let i = 1; i <= 200; i++) await long.append(Buffer.alloc(40, i));
  await long.close();
});

describe('steadfast checkpoint', () => {
  test('inspect --json of a whole store exits 0 and lists every copy of every kept generation', () => {
    const r = steadfast('checkpoint', 'inspect', mirrorA, mirrorB, '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.newestValidGeneration).toBe(3);
    expect(report.files.map((f: { generation: number }) => f.generation)).toEqual([2, 2, 3, 3]);
    expect(report.files.map((f: { path: string }) => f.path)).toEqual([
      ckptFile(mirrorA, 2),
      ckptFile(mirrorB, 2),
      ckptFile(mirrorA, 3),
      ckptFile(mirrorB, 3),
    ]);
    expect(report.files[2]).toMatchObject({ ok: true, payloadLength: 15000, lsn: 9, problem: null });
    expect(report.problems).toEqual([]);
  });

  test('inspect prints a table with generation, sizes, LSN, creation time and status per file', () => {
    const r = steadfast('checkpoint', 'inspect', mirrorA, mirrorB);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^GENERATION +SIZE +PAYLOAD +LSN +CREATED +VERSION +FILE +STATUS$/m);
    const row = r.stdout.split('\n').find((line) => line.includes(ckptFile(mirrorB, 3)));
    expect(row).toMatch(/^ +3 +\d+ +15000 +9 +\d{4}-\d\d-\d\dT\S+Z +1\.0 +\S+ +ok$/);
    expect(r.stdout).toMatch(/newest valid generation 3 \(LSN 9\); OK$/m);
  });

  test('verify of a whole store exits 0 with a one-line verdict', () => {
    const r = steadfast('checkpoint', 'verify', mirrorA, mirrorB);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout.trim()).toMatch(/^checkpoint verify: 4 files in 2 directories; .*; OK$/);
  });

  test('verify exits 1 and names the file when one copy has a flipped payload byte', () => {
    const [a, b] = [copyOf(mirrorA), copyOf(mirrorB)];
    const damaged = ckptFile(b, 3);
    flipByte(damaged, fs.statSync(damaged).size - 32 - 1); // the payload's last byte
    const r = steadfast('checkpoint', 'verify', a, b);
    expect(r.status).toBe(1);
    const problems = r.stdout.split('\n').filter((line) => line.startsWith('PROBLEM'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${damaged}: generation 3: `);
    expect(problems[0]).toContain('[SF_CORRUPT]');
    expect(r.stdout).toMatch(/newest valid generation 3 .*; 1 problem$/m);

    const json = steadfast('checkpoint', 'verify', a, b, '--json');
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ path: damaged, generation: 3, code: 'SF_CORRUPT' })]);
    expect(report.newestValidGeneration).toBe(3); // the other mirror still holds it
  });

  test('inspect exits 1 and shows the problem in the damaged file\'s row', () => {
    const a = copyOf(mirrorA);
    flipByte(ckptFile(a, 2), 20); // inside the header: its CRC no longer matches
    const r = steadfast('checkpoint', 'inspect', a);
    expect(r.status).toBe(1);
    const row = r.stdout.split('\n').find((line) => line.includes(ckptFile(a, 2)));
    expect(row).toMatch(/\[SF_CORRUPT\]$/);
    expect(r.stdout).toMatch(/; 1 problem$/m);
  });

  test('when the newest generation has no valid copy, the verdict names the one a load falls back to', () => {
    const a = copyOf(mirrorA);
    flipByte(ckptFile(a, 3), 70); // the chunk table
    const r = steadfast('checkpoint', 'verify', a);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/newest valid generation 2 \(LSN 6\); generation 3 has no valid copy; 1 problem$/m);
  });

  test('a store whose only copy of every generation is damaged says a load would fail', () => {
    const a = copyOf(mirrorA);
    for (const generation of [2, 3]) flipByte(ckptFile(a, generation), 20);
    const r = steadfast('checkpoint', 'verify', a, '--json');
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.newestValidGeneration).toBeNull();
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(['SF_CORRUPT', 'SF_CORRUPT', 'SF_EMPTY']);
  });

  test('a generation missing from one mirror is a warning, not a failure', () => {
    const [a, b] = [copyOf(mirrorA), copyOf(mirrorB)];
    fs.rmSync(ckptFile(b, 3));
    const r = steadfast('checkpoint', 'verify', a, b);
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toContain(`warning ${b}: no copy of generation 3`);
  });

  test('an empty directory is a store with no checkpoint yet', () => {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const r = steadfast('checkpoint', 'inspect', empty);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`no checkpoint files in ${empty}`);
  });

  test('works on a store another process holds open (it takes no lock)', async () => {
    const store = await CheckpointStore.open({ dirs: [mirrorA, mirrorB] });
    try {
      const r = steadfast('checkpoint', 'verify', mirrorA, mirrorB);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      await store.close();
    }
  });

  test('a missing directory exits 1 with one line naming it', () => {
    const missing = path.join(tmp, 'no-such-dir');
    const r = steadfast('checkpoint', 'verify', mirrorA, missing);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(`steadfast: ${missing}: no such directory [ENOENT]`);
  });
});

describe('steadfast log', () => {
  test('inspect --json of a whole log exits 0 with its segment, LSNs and records', () => {
    const r = steadfast('log', 'inspect', logDir, '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, firstLsn: 1, lastLsn: RECORDS, records: RECORDS, problems: [] });
    expect(report.segments).toEqual([
      expect.objectContaining({ path: path.join(logDir, segment), firstLsn: 1, lastLsn: RECORDS, dataEnd: frameOffset(RECORDS), ok: true }),
    ]);
  });

  test('inspect prints one row per segment: LSN range, records, data end, size, status', () => {
    const r = steadfast('log', 'inspect', logDir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SEGMENT +LSNS +RECORDS +DATA END +SIZE +STATUS$/m);
    expect(r.stdout).toMatch(new RegExp(`^${segment} +1\\.\\.${RECORDS} +${RECORDS} +${frameOffset(RECORDS)} +\\d+ +ok$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^log inspect: 1 segment; LSNs 1\\.\\.${RECORDS} \\(${RECORDS} records\\); OK$`, 'm'));
  });

  test('verify reports a torn tail in the last segment as a note and exits 0: a live log shows one mid-commit', () => {
    const dir = copyOf(logDir);
    const file = path.join(dir, segment);
    flipByte(file, frameOffset(RECORDS - 1) + 24); // the last record's payload: as if its write was cut short
    const r = steadfast('log', 'verify', dir);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((line) => line.startsWith('PROBLEM'))).toEqual([]);
    const notes = r.stdout.split('\n').filter((line) => line.startsWith('note'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(`${file}: `);
    expect(notes[0]).toContain(`(at byte ${frameOffset(RECORDS - 1)})`);
    expect(notes[0]).toMatch(/torn/i);
    expect(notes[0]).toContain('the next open cuts it');
    expect(r.stdout).toMatch(new RegExp(`LSNs 1\\.\\.${RECORDS - 1} \\(${RECORDS - 1} records\\); OK$`, 'm'));
    const report = JSON.parse(steadfast('log', 'verify', dir, '--json').stdout);
    expect(report).toMatchObject({ ok: true, problems: [] });
  });

  test('verify exits 1 on a torn tail in a segment that is not the last', () => {
    const dir = copyOf(longLogDir);
    const file = path.join(dir, segmentName(1));
    flipByte(file, frameOffset(62) + 24); // LSN 63, the first segment's last record; segments follow
    const r = steadfast('log', 'verify', dir, '--json');
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ path: file, offset: frameOffset(62), code: 'SF_CORRUPT' }));
  });

  test('verify exits 1 on a corrupt record in the middle, with the LSNs after it still counted', () => {
    const dir = copyOf(logDir);
    const file = path.join(dir, segment);
    flipByte(file, frameOffset(3) + 30); // LSN 4's payload; valid records follow
    const r = steadfast('log', 'verify', dir, '--json');
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ path: file, offset: frameOffset(3), code: 'SF_CORRUPT' })]);
    expect(report.problems[0].problem).not.toMatch(/torn/i);

    const text = steadfast('log', 'inspect', dir);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^${segment} .*\\(at byte ${frameOffset(3)}\\) \\[SF_CORRUPT\\]$`, 'm'));
  });

  test('inspect lists the segments of a longer log in LSN order', () => {
    const r = steadfast('log', 'inspect', longLogDir, '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const ranges = report.segments.map((s: { path: string; firstLsn: number; lastLsn: number }) => [path.basename(s.path), s.firstLsn, s.lastLsn]);
    expect(ranges).toEqual([
      [segmentName(1), 1, 63],
      [segmentName(64), 64, 126],
      [segmentName(127), 127, 189],
      [segmentName(190), 190, 200],
    ]);
  });

  test('verify exits 1 when a segment is missing from the middle, naming the LSNs lost', () => {
    const dir = copyOf(longLogDir);
    fs.rmSync(path.join(dir, segmentName(64)));
    const r = steadfast('log', 'verify', dir);
    expect(r.status).toBe(1);
    const problems = r.stdout.split('\n').filter((line) => line.startsWith('PROBLEM'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path.join(dir, segmentName(127)));
    expect(problems[0]).toContain('64..126');
  });

  test('works on a log another process holds open (it takes no lock)', async () => {
    const log = await AppendLog.open({ dir: logDir, segmentSize: 64 * 1024 });
    try {
      const r = steadfast('log', 'verify', logDir);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      await log.close();
    }
  });

  test('a missing directory exits 1 naming it', () => {
    const missing = path.join(tmp, 'no-such-log');
    const r = steadfast('log', 'inspect', missing);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`steadfast: ${missing}: no such directory [ENOENT]`);
  });
});

describe('usage errors exit 2 with the usage text', () => {
  test.each([
    [['checkpoint']],
    [['checkpoint', 'repair', '/tmp']],
    [['checkpoint', 'inspect']],
    [['checkpoint', 'verify', '--yaml', '/tmp']],
    [['log', 'inspect', '/tmp', '/var']],
    [['log', 'verify']],
  ])('steadfast %j', (args) => {
    const r = steadfast(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^steadfast: /);
    expect(r.stderr).toContain('Usage: steadfast <command> [options]');
    expect(r.stderr).toContain('checkpoint inspect DIR...');
  });

  test('--help lists the store commands and exits 0', () => {
    const r = steadfast('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('log verify DIR [--json]');
    expect(r.stdout).toContain('doctor [--json]');
  });
});
