// The store's error model: every failure the C core reports reaches JS as a StoreError (a
// SteadfastError) whose code is a stable string and whose errno names the same code; argument errors
// stay TypeError/RangeError; aborts are AbortError.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  AbortError,
  AppendLog,
  CheckpointStore,
  StoreError,
  SteadfastError,
  crc32c,
  storeErrorName,
} from '../../src/index';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-err-'));
  roots.push(dir);
  return dir;
}

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  const result = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (result === undefined) throw new Error('expected the promise to reject');
  return result as StoreError;
}

/** Checks what every StoreError must be. */
function expectStoreError(err: unknown, code: string): void {
  expect(err).toBeInstanceOf(StoreError);
  expect(err).toBeInstanceOf(SteadfastError);
  expect(err).toBeInstanceOf(Error);
  const e = err as StoreError;
  expect(e.name).toBe('StoreError');
  expect(typeof e.code).toBe('string');
  expect(e.code).toBe(code);
  expect(typeof e.errno).toBe('number');
  expect(e.errno).toBeLessThan(0);
  expect(storeErrorName(e.errno!)).toBe(code);
  expect(e.message.length).toBeGreaterThan(0);
}

describe('names', () => {
  test('each steadfast code has its stable name', () => {
    expect([-30001, -30002, -30003, -30004, -30005, -30006, -30007].map(storeErrorName)).toEqual([
      'SF_CORRUPT',
      'SF_LOCKED',
      'SF_VERSION',
      'SF_FORMAT',
      'SF_CLOSED',
      'SF_FAILED',
      'SF_EMPTY',
    ]);
  });

  test('errno values get the names Node.js gives them on this platform', () => {
    for (const name of ['EIO', 'ENOSPC', 'ENOENT', 'EACCES', 'EROFS', 'EEXIST', 'ENOTDIR'] as const) {
      expect(storeErrorName(-os.constants.errno[name])).toBe(name);
    }
  });

  test('a code without a name is EUNKNOWN', () => {
    expect(storeErrorName(-29999)).toBe('EUNKNOWN');
  });
});

describe('StoreError', () => {
  test.each(['SF_CORRUPT', 'SF_LOCKED', 'SF_VERSION', 'SF_FORMAT', 'SF_CLOSED', 'SF_FAILED', 'SF_EMPTY', 'EIO', 'ENOSPC'])(
    '%s is a string code on a StoreError that is a SteadfastError',
    (code) => {
      const err = new StoreError(code, 'something failed: /x', { path: '/x', offset: 8 });
      expect(err).toBeInstanceOf(SteadfastError);
      expect(err).toMatchObject({ name: 'StoreError', code, path: '/x', offset: 8, message: 'something failed: /x' });
    },
  );

  test('details that do not apply are absent, not undefined', () => {
    const err = new StoreError('EIO', 'write failed', { path: '/x' });
    expect(Object.keys(err)).toContain('path');
    expect('offset' in err).toBe(false);
    expect('pid' in err).toBe(false);
  });

  test('AbortError carries name AbortError and code ABORT_ERR', () => {
    const err = new AbortError(undefined, { cause: 'why' });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'why' });
  });
});

describe('errors from real files', () => {
  test('SF_LOCKED carries the path of the lock and the pid of its holder', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open({ dirs: dir });
    try {
      const err = await rejection(CheckpointStore.open({ dirs: dir }));
      expectStoreError(err, 'SF_LOCKED');
      expect(err.pid).toBe(process.pid);
      expect(err.path).toBe(path.join(dir, 'LOCK'));
      expect(err.message).toContain(err.path);
    } finally {
      await store.close();
    }
  });

  test('ENOENT carries the missing directory, for the store and for the log', async () => {
    const missing = path.join(tempDir(), 'missing');
    const fromStore = await rejection(CheckpointStore.open({ dirs: missing }));
    expectStoreError(fromStore, 'ENOENT');
    expect(fromStore.path).toBe(missing);
    const fromLog = await rejection(AppendLog.open({ dir: missing }));
    expectStoreError(fromLog, 'ENOENT');
    expect(fromLog.path).toBe(missing);
  });

  test('SF_CLOSED comes from a closed store and a closed log', async () => {
    const store = await CheckpointStore.open({ dirs: tempDir() });
    await store.close();
    expectStoreError(await rejection(store.load()), 'SF_CLOSED');
    const log = await AppendLog.open({ dir: tempDir(), segmentSize: 64 * 1024 });
    await log.close();
    expectStoreError(await rejection(log.append('x')), 'SF_CLOSED');
  });

  test('SF_EMPTY when every checkpoint file is damaged, naming one of them', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open({ dirs: dir });
    try {
      await store.save(Buffer.from('only copy'));
      const file = path.join(dir, 'ckpt-0000000000000001.sfc');
      const bytes = fs.readFileSync(file);
      bytes[70] ^= 0xff;
      fs.writeFileSync(file, bytes);
      const err = await rejection(store.load());
      expectStoreError(err, 'SF_EMPTY');
      expect(err.path).toBe(file);
      expect(fs.existsSync(file)).toBe(true); // nothing valid: everything stays for whoever investigates
    } finally {
      await store.close();
    }
  });

  test('SF_VERSION for a file written by a newer major version', async () => {
    const dir = tempDir();
    const store = await CheckpointStore.open({ dirs: dir });
    try {
      await store.save(Buffer.from('x'));
      const file = path.join(dir, 'ckpt-0000000000000001.sfc');
      const bytes = fs.readFileSync(file);
      bytes.writeUInt16LE(7, 8);
      bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60);
      fs.writeFileSync(file, bytes);
      expectStoreError(await rejection(store.load()), 'SF_VERSION');
    } finally {
      await store.close();
    }
  });

  test('SF_CORRUPT for a damaged record in the middle of the log, with the LSNs lost', async () => {
    const dir = tempDir();
    const log = await AppendLog.open({ dir, segmentSize: 64 * 1024 }); // small: recovery reads it to the end
    // One commit each: damage followed by a later commit's record is corruption, not a torn tail.
    for (const record of ['one', 'two', 'three']) await log.append(record);
    await log.close();
    const segment = path.join(dir, 'log-0000000000000001.sfl');
    const fd = fs.openSync(segment, 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, 32 + 32 + 24); // first payload byte of record 2
    fs.closeSync(fd);
    const err = await rejection(AppendLog.open({ dir, segmentSize: 64 * 1024 }));
    expectStoreError(err, 'SF_CORRUPT');
    expect(err).toMatchObject({ path: segment, lsnFirst: 2, lsnLast: 2 });
  });

  test('argument errors stay TypeError and RangeError, not StoreError', async () => {
    const err = await rejection(CheckpointStore.open({ dirs: 42 as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err).not.toBeInstanceOf(StoreError);
    const range = await rejection(AppendLog.open({ dir: tempDir(), segmentSize: 1 }));
    expect(range).toBeInstanceOf(RangeError);
    const beyondFormat = await rejection(AppendLog.open({ dir: tempDir(), segmentSize: 2 ** 31 }));
    expect(beyondFormat).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});
