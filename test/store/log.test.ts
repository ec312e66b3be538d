// AppendLog through the binding, on real files: LSNs, group commit under concurrent appends, replay,
// reopening, truncation, recovery from a torn tail and from corruption in the middle, locks,
// read-only inspection, closing and aborting, and the argument checks.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { binding } from '../../src/binding';
import { AppendLog, StoreError, inspectLog, type LogRecord } from '../../src/index';
import { runNode } from '../helpers';

const roots: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-log-'));
  roots.push(dir);
  return dir;
}

const segmentName = (firstLsn: number) => `log-${firstLsn.toString(16).padStart(16, '0')}.sfl`;
/** Bytes a record of `len` payload bytes takes in a segment: 24-byte frame header, payload, padding to 8. */
const frameSize = (len: number) => (24 + len + 7) & ~7;
const SEGMENT_HEADER = 32;
// Segments are preallocated, and recovery and inspection read them to the end: small ones keep the
// tests quick under QEMU (and light on a tmpfs /tmp).
const SMALL = 64 * 1024;

async function collect(records: AsyncIterable<LogRecord>): Promise<LogRecord[]> {
  const all: LogRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

function snapshot(dir: string): Record<string, string> {
  const all: Record<string, string> = {};
  for (const name of fs.readdirSync(dir)) all[name] = fs.readFileSync(path.join(dir, name)).toString('hex');
  return all;
}

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** A log in a fresh directory holding `records` (appended one by one), closed again. */
async function logWith(records: string[], segmentSize = SMALL): Promise<string> {
  const dir = tempDir();
  const log = await AppendLog.open({ dir, segmentSize });
  for (const record of records) await log.append(record);
  await log.close();
  return dir;
}

describe('append and replay', () => {
  test('appends resolve with consecutive LSNs from 1, and lastLsn follows', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      expect(log.lastLsn).toBe(0);
      expect(log.recovery).toMatchObject({ firstLsn: 0, lastLsn: 0, segments: 1, tornBytes: 0, tornPath: null });
      expect(await log.append('a')).toBe(1);
      expect(await log.append(Buffer.from('b'))).toBe(2);
      expect(await log.append(new Uint8Array([0xc]))).toBe(3);
      expect(log.lastLsn).toBe(3);
    } finally {
      await log.close();
    }
  });

  test('200 appends called together all resolve, with distinct LSNs in call order, and replay returns them intact', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 16 * 1024 });
    try {
      const data = Array.from({ length: 200 }, (_, i) => `record ${i} `.repeat((i % 7) + 1));
      const commits = vi.spyOn(binding as unknown as { logCommit(handle: object): Promise<number> }, 'logCommit');
      const lsns = await Promise.all(data.map((d, i) => log.append(i % 2 ? d : Buffer.from(d))));
      expect(lsns).toEqual(data.map((_, i) => i + 1));
      // Group commit: appends called together share fdatasyncs, so there are far fewer commits than appends.
      expect(commits.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(commits.mock.calls.length).toBeLessThanOrEqual(3);
      const replayed = await collect(log.replay());
      expect(replayed.map((r) => r.lsn)).toEqual(lsns);
      expect(replayed.map((r) => r.data.toString())).toEqual(data);
      expect(replayed.every((r) => Buffer.isBuffer(r.data))).toBe(true);
    } finally {
      await log.close();
    }
  });

  test('a string is stored as its UTF-8 bytes, and an empty record is a record', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      await log.append('héllo ✓');
      await log.append(new Uint8Array(0));
      const [text, empty] = await collect(log.replay());
      expect(text.data).toEqual(Buffer.from('héllo ✓', 'utf8'));
      expect(empty).toMatchObject({ lsn: 2 });
      expect(empty.data.length).toBe(0);
    } finally {
      await log.close();
    }
  });

  test('a reopened log has every record and continues with the next LSN', async () => {
    const dir = await logWith(['a', 'b', 'c']);
    const log = await AppendLog.open({ dir, segmentSize: SMALL });
    try {
      expect(log.recovery).toMatchObject({ firstLsn: 1, lastLsn: 3, tornBytes: 0, droppedRecords: 0, corruptPath: null });
      expect(log.lastLsn).toBe(3);
      expect(await log.append('d')).toBe(4);
      expect((await collect(log.replay())).map((r) => r.data.toString())).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await log.close();
    }
  });

  test('replay(from) starts at that LSN, and past the end yields nothing', async () => {
    const dir = await logWith(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
    const log = await AppendLog.open({ dir, segmentSize: SMALL });
    try {
      const tail = await collect(log.replay(6));
      expect(tail.map((r) => r.lsn)).toEqual([6, 7, 8, 9, 10]);
      expect(tail.map((r) => r.data.toString())).toEqual(['r6', 'r7', 'r8', 'r9', 'r10']);
      expect(await collect(log.replay(11))).toEqual([]);
      expect((await collect(log.replay(0))).length).toBe(10);
    } finally {
      await log.close();
    }
  });

  test('replay reads large logs in batches and stops with AbortError once its signal is aborted', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      const big = Buffer.alloc(256 * 1024, 7);
      for (let i = 0; i < 5; i++) await log.append(big); // 1.25 MiB: more than one 1 MiB batch
      expect((await collect(log.replay())).length).toBe(5);

      // The signal is checked before every record, not only before every batch: an abort during the
      // second record stops the iteration there, although the first batch holds four records.
      const controller = new AbortController();
      const seen: number[] = [];
      const err = await (async () => {
        for await (const record of log.replay(1, { signal: controller.signal })) {
          seen.push(record.lsn);
          if (record.lsn === 2) controller.abort();
        }
      })().catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect(seen).toEqual([1, 2]);
    } finally {
      await log.close();
    }
  });
});

describe('truncateBefore', () => {
  test('removes whole segments below the LSN and keeps every record from it on', async () => {
    const record = 'x'.repeat(1000); // four to a 4 KiB segment
    const dir = await logWith(
      Array.from({ length: 20 }, () => record),
      4096,
    );
    const log = await AppendLog.open({ dir, segmentSize: 4096 });
    try {
      const segments = log.recovery.segments;
      expect(segments).toBeGreaterThanOrEqual(5);
      const removed = await log.truncateBefore(15);
      expect(removed).toBeGreaterThanOrEqual(2);
      expect(fs.readdirSync(dir).filter((n) => n.endsWith('.sfl'))).toHaveLength(segments - removed);
      const left = await collect(log.replay());
      expect(left[0].lsn).toBeGreaterThan(1);
      expect(left[0].lsn).toBeLessThanOrEqual(15);
      expect(left.map((r) => r.lsn)).toEqual(Array.from({ length: 20 - left[0].lsn + 1 }, (_, i) => left[0].lsn + i));
      expect(fs.existsSync(path.join(dir, segmentName(1)))).toBe(false);
    } finally {
      await log.close();
    }
  });

  test('never removes the last segment, and appends continue after it', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 4096 });
    try {
      for (let i = 0; i < 3; i++) await log.append('small');
      await log.truncateBefore(1000);
      expect(await log.append('more')).toBe(4);
      expect((await collect(log.replay())).at(-1)).toMatchObject({ lsn: 4 });
    } finally {
      await log.close();
    }
  });
});

describe('appends during truncateBefore', () => {
  test('keep call order: an append called after one that waited for the truncate gets the later LSN', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 4096 });
    try {
      for (let i = 0; i < 10; i++) await log.append('x'.repeat(1000));
      const truncating = log.truncateBefore(8);
      const a = log.append('A');
      await truncating;
      const b = log.append('B');
      expect([await a, await b]).toEqual([11, 12]);
      expect((await collect(log.replay(11))).map((r) => r.data.toString())).toEqual(['A', 'B']);
    } finally {
      await log.close();
    }
  });

  test('many appends called around two truncates resolve with LSNs in call order', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 4096 });
    try {
      for (let i = 0; i < 10; i++) await log.append('x'.repeat(1000));
      const calls: Promise<number>[] = [log.append('0')];
      const first = log.truncateBefore(5);
      calls.push(log.append('1'), log.append('2'));
      const second = log.truncateBefore(9);
      calls.push(log.append('3'));
      await first;
      calls.push(log.append('4'));
      await second;
      calls.push(log.append('5'));
      expect(await Promise.all(calls)).toEqual([11, 12, 13, 14, 15, 16]);
      expect((await collect(log.replay(11))).map((r) => r.data.toString())).toEqual(['0', '1', '2', '3', '4', '5']);
    } finally {
      await log.close();
    }
  });

  test('close() called after an append that waits for a truncate commits that append', async () => {
    const dir = tempDir();
    const log = await AppendLog.open({ dir, segmentSize: 4096 });
    for (let i = 0; i < 10; i++) await log.append('x'.repeat(1000));
    const truncating = log.truncateBefore(9);
    const appending = log.append('C');
    const closing = log.close();
    await expect(log.append('late')).rejects.toMatchObject({ code: 'SF_CLOSED' });
    expect(await appending).toBe(11);
    await truncating;
    await closing;
    const again = await AppendLog.open({ dir, segmentSize: 4096 });
    try {
      expect(again.recovery.lastLsn).toBe(11);
      expect((await collect(again.replay(11))).map((r) => r.data.toString())).toEqual(['C']);
    } finally {
      await again.close();
    }
  });

  test('an append waiting for a truncate whose signal is aborted meanwhile rejects with AbortError and queues nothing', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 4096 });
    try {
      for (let i = 0; i < 10; i++) await log.append('x'.repeat(1000));
      const controller = new AbortController();
      const truncating = log.truncateBefore(8);
      const aborted = log.append('gone', { signal: controller.signal }).catch((e: unknown) => e);
      const kept = log.append('kept');
      controller.abort();
      await truncating;
      expect(await aborted).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect(await kept).toBe(11);
    } finally {
      await log.close();
    }
  });
});

describe('a failed commit', () => {
  const coded = (code: string, errno: number, message: string) => Object.assign(new Error(message), { code, errno });

  test('rejects the appends it covered with its error, later appends with SF_FAILED, and close still resolves', async () => {
    const native = binding as unknown as {
      logCommit(handle: object): Promise<number>;
      logAppend(handle: object, data: Uint8Array): number;
    };
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    expect(await log.append('before')).toBe(1);
    vi.spyOn(native, 'logCommit').mockImplementationOnce(() => Promise.reject(coded('EIO', -5, 'input/output error')));
    const covered = [log.append('a'), log.append('b')].map((p) => p.catch((e: unknown) => e));
    for (const err of await Promise.all(covered)) {
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'EIO', errno: -5 });
    }
    // The C log refuses further appends after a failed commit; the stub says what it would.
    vi.spyOn(native, 'logAppend').mockImplementation(() => {
      throw coded('SF_FAILED', -30006, 'an earlier write or sync failed');
    });
    const later = await log.append('c').catch((e: unknown) => e);
    expect(later).toBeInstanceOf(StoreError);
    expect(later).toMatchObject({ code: 'SF_FAILED', errno: -30006 });
    vi.restoreAllMocks();
    await expect(log.close()).resolves.toBeUndefined();
  });

  test('for real: a commit the kernel refuses (EFBIG under ulimit -f) rejects what it covered, and nothing durable is lost', () => {
    // No stub: the file-size limit makes the commit's new segment fail in the kernel, and the error comes
    // back through the binding's commit thread. `ulimit -f` counts 512-byte blocks: files up to 32 KiB.
    const dir = tempDir();
    const child = path.join(__dirname, 'fixtures', 'log-file-limit.cjs');
    const result = spawnSync('/bin/sh', ['-c', 'ulimit -f 64 && exec "$0" "$@"', process.execPath, child, dir], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const got = JSON.parse(result.stdout) as {
      before: { lsn: number };
      failed: { code: string; lsnFirst?: number; lsnLast?: number }[];
      after: { code: string };
      records: { lsn: number; data: string }[];
    };
    expect(got.before).toEqual({ lsn: 1 });
    // The error names the LSN whose segment could not be created.
    expect(got.failed).toEqual([
      { code: 'EFBIG', lsnFirst: 2 },
      { code: 'EFBIG', lsnFirst: 2 },
    ]);
    expect(got.after.code).toBe('SF_FAILED');
    expect(got.records).toEqual([{ lsn: 1, data: 'durable before' }]);
    // The half-made segment's temp file is gone; the durable segment is untouched.
    expect(fs.readdirSync(dir).sort()).toEqual(['LOCK', segmentName(1)]);
  });
});

describe('recovery', () => {
  test('garbage after the last record is a torn tail: reopening cuts it and keeps the bytes in a side file', async () => {
    const dir = await logWith(['alpha', 'beta']);
    const segment = path.join(dir, segmentName(1));
    const dataEnd = SEGMENT_HEADER + frameSize(5) + frameSize(4);
    const garbage = Buffer.from('a write the crash cut short....');
    overwrite(segment, dataEnd, garbage);

    const log = await AppendLog.open({ dir, segmentSize: SMALL });
    try {
      const { recovery } = log;
      expect(recovery.lastLsn).toBe(2);
      expect(recovery.tornBytes).toBeGreaterThanOrEqual(garbage.length);
      expect(recovery.tornPath).toBe(`${segment}.torn-${dataEnd}`);
      const kept = fs.readFileSync(recovery.tornPath!);
      expect(kept.length).toBe(recovery.tornBytes);
      expect(kept.subarray(0, garbage.length)).toEqual(garbage);
      expect(await log.append('gamma')).toBe(3);
      expect((await collect(log.replay())).map((r) => r.data.toString())).toEqual(['alpha', 'beta', 'gamma']);
    } finally {
      await log.close();
    }
    // The cut stays cut: the next open finds nothing torn.
    const again = await AppendLog.open({ dir, segmentSize: SMALL });
    expect(again.recovery.tornBytes).toBe(0);
    await again.close();
  });

  test('a damaged record followed by good ones is SF_CORRUPT naming the segment, offset and LSNs', async () => {
    const dir = await logWith(['one', 'two', 'three', 'four']);
    const segment = path.join(dir, segmentName(1));
    const second = SEGMENT_HEADER + frameSize(3);
    overwrite(segment, second + 24, Buffer.from('X'));
    const before = snapshot(dir);

    const err = await AppendLog.open({ dir, segmentSize: SMALL }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'SF_CORRUPT', path: segment, offset: second, lsnFirst: 2, lsnLast: 2 });
    expect((err as Error).message).toContain(segment);
    expect(snapshot(dir)).toEqual(before); // refusing changed nothing
  });

  test('pointInTime opens a corrupt log as it was before the damage and reports what it dropped', async () => {
    const dir = await logWith(['one', 'two', 'three', 'four', 'five']);
    const segment = path.join(dir, segmentName(1));
    const second = SEGMENT_HEADER + frameSize(3);
    overwrite(segment, second + 24, Buffer.from('X'));

    const log = await AppendLog.open({ dir, segmentSize: SMALL, pointInTime: true });
    try {
      // Dropped: the damaged record 2 and the valid 3, 4 and 5 after it.
      expect(log.recovery).toMatchObject({
        lastLsn: 1,
        droppedRecords: 3,
        droppedFirstLsn: 2,
        droppedLastLsn: 5,
        corruptPath: segment,
        corruptOffset: second,
      });
      const sideFiles = fs.readdirSync(dir).filter((n) => n.startsWith(`${segmentName(1)}.`));
      expect(sideFiles).toHaveLength(1);
      expect(fs.readFileSync(path.join(dir, sideFiles[0])).includes('three')).toBe(true);
      expect((await collect(log.replay())).map((r) => r.data.toString())).toEqual(['one']);
      expect(await log.append('two again')).toBe(2);
    } finally {
      await log.close();
    }
  });
});

describe('locks, inspection, closing', () => {
  test('a second open of the same directory is SF_LOCKED naming this process', async () => {
    const dir = tempDir();
    const log = await AppendLog.open({ dir, segmentSize: SMALL });
    try {
      await expect(AppendLog.open({ dir, segmentSize: SMALL })).rejects.toMatchObject({ code: 'SF_LOCKED', pid: process.pid });
    } finally {
      await log.close();
    }
    await (await AppendLog.open({ dir, segmentSize: SMALL })).close();
  });

  test('inspectLog reports every segment of an open log and changes nothing', async () => {
    const dir = tempDir();
    const log = await AppendLog.open({ dir, segmentSize: 4096 });
    try {
      for (let i = 0; i < 6; i++) await log.append('y'.repeat(1500)); // two to a segment
      const before = snapshot(dir);
      const segments = await inspectLog(dir);
      expect(segments.length).toBeGreaterThanOrEqual(3);
      expect(segments.every((s) => s.ok && s.code === null && s.problem === null)).toBe(true);
      expect(segments[0]).toMatchObject({ path: path.join(dir, segmentName(1)), firstLsn: 1 });
      expect(segments.reduce((n, s) => n + s.records, 0)).toBe(6);
      expect(segments.at(-1)?.lastLsn).toBe(6);
      for (const s of segments) expect(s.dataEnd).toBe(SEGMENT_HEADER + s.records * frameSize(1500));
      expect(snapshot(dir)).toEqual(before);
    } finally {
      await log.close();
    }
  });

  test('inspectLog shows a damaged record as a problem with its offset', async () => {
    const dir = await logWith(['one', 'two', 'three']);
    const second = SEGMENT_HEADER + frameSize(3);
    overwrite(path.join(dir, segmentName(1)), second + 24, Buffer.from('X'));
    const [segment] = await inspectLog(dir);
    expect(segment).toMatchObject({ ok: false, code: 'SF_CORRUPT', problemOffset: second, records: 1, lastLsn: 1 });
    expect(typeof segment.problem).toBe('string');
  });

  test('a log dropped without close() is closed when collected, and a process with a log open exits by itself', async () => {
    const dir = tempDir();
    const child = path.join(__dirname, 'fixtures', 'log-collected.cjs');
    const result = runNode(['--expose-gc', child, dir]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      reopened: true,
      records: [
        { lsn: 1, data: 'one' },
        { lsn: 2, data: 'two' },
        { lsn: 3, data: 'three' },
      ],
    });
    // The append made by the log left open was durable before the process exited.
    const log = await AppendLog.open({ dir, segmentSize: 4096 });
    try {
      expect((await collect(log.replay(4))).map((r) => r.data.toString())).toEqual(['four']);
    } finally {
      await log.close();
    }
  });

  test('close waits for the appends already called, which all become durable', async () => {
    const dir = tempDir();
    const log = await AppendLog.open({ dir, segmentSize: SMALL });
    const pending = Array.from({ length: 20 }, (_, i) => log.append(`r${i}`));
    await log.close();
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await expect(log.append('late')).rejects.toMatchObject({ code: 'SF_CLOSED' });
    await expect(log.truncateBefore(1)).rejects.toMatchObject({ code: 'SF_CLOSED' });
    await expect(collect(log.replay())).rejects.toMatchObject({ code: 'SF_CLOSED' });
    await expect(log.close()).resolves.toBeUndefined();
    const again = await AppendLog.open({ dir, segmentSize: SMALL });
    expect(again.recovery.lastLsn).toBe(20);
    await again.close();
  });

  test('an append with an aborted signal rejects with AbortError and queues nothing', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      const err = await log.append('x', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect(log.lastLsn).toBe(0);
      expect(await log.append('y')).toBe(1);
    } finally {
      await log.close();
    }
  });

  test('an abort after the record was queued does not un-write it', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      const controller = new AbortController();
      const appending = log.append('kept', { signal: controller.signal });
      controller.abort();
      expect(await appending).toBe(1);
      expect((await collect(log.replay())).map((r) => r.data.toString())).toEqual(['kept']);
    } finally {
      await log.close();
    }
  });
});

describe('arguments', () => {
  test.each<[string, unknown, string]>([
    ['options missing', undefined, 'ERR_INVALID_ARG_TYPE'],
    ['dir a number', { dir: 1 }, 'ERR_INVALID_ARG_TYPE'],
    ['dir empty', { dir: '' }, 'ERR_INVALID_ARG_VALUE'],
    ['segmentSize 4095', { dir: os.tmpdir(), segmentSize: 4095 }, 'ERR_OUT_OF_RANGE'],
    ['segmentSize 5000.5', { dir: os.tmpdir(), segmentSize: 5000.5 }, 'ERR_OUT_OF_RANGE'],
    ['segmentSize a string', { dir: os.tmpdir(), segmentSize: '4096' }, 'ERR_INVALID_ARG_TYPE'],
    ['pointInTime a string', { dir: os.tmpdir(), pointInTime: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
  ])('open with %s is rejected with %s', async (_, options, code) => {
    await expect(AppendLog.open(options as never)).rejects.toMatchObject({ code });
  });

  test('append, replay and truncateBefore reject bad arguments with coded errors', async () => {
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: SMALL });
    try {
      await expect(log.append(42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      await expect(log.append({} as never)).rejects.toBeInstanceOf(TypeError);
      await expect(log.append('x', { signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      // Larger than a record may be; the pages of this buffer are never touched.
      const huge = new Uint8Array(256 * 1024 * 1024 + 1);
      await expect(log.append(huge)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      expect(() => log.replay(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => log.replay(1.5)).toThrow(RangeError);
      await expect(log.truncateBefore(-1)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      await expect(log.truncateBefore(2 ** 53)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      expect(log.lastLsn).toBe(0);
    } finally {
      await log.close();
    }
  });
});
