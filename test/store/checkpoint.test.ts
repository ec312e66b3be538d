// CheckpointStore through the binding, on real files: codecs, generations, mirrors repaired on load,
// fallback past a corrupt newest generation, read-only listing, locks, versions, closing and aborting,
// and the argument checks.
import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { CheckpointStore, StoreError, SteadfastError, crc32c, inspectCheckpoints, type Codec } from '../../src/index';
import { dist } from '../helpers';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

/** A fresh temporary directory holding `count` empty mirror directories. */
function mirrors(count = 1): string[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-ckpt-'));
  roots.push(root);
  return Array.from({ length: count }, (_, i) => {
    const dir = path.join(root, `m${i}`);
    fs.mkdirSync(dir);
    return dir;
  });
}

const fileName = (generation: number) => `ckpt-${generation.toString(16).padStart(16, '0')}.sfc`;

/** Every file of the directories with its bytes, to show that something changed nothing. */
function snapshot(dirs: string[]): Record<string, string> {
  const all: Record<string, string> = {};
  for (const dir of dirs) {
    for (const name of fs.readdirSync(dir)) all[path.join(dir, name)] = fs.readFileSync(path.join(dir, name)).toString('hex');
  }
  return all;
}

/** Overwrites `length` bytes of the payload (which starts after the 64-byte header and the CRC table). */
function damagePayload(file: string, at = 2, length = 4): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, 64 + 4 + at);
  } finally {
    fs.closeSync(fd);
  }
}

async function withStore<T = Buffer, R = void>(options: Parameters<typeof CheckpointStore.open<T>>[0], fn: (s: CheckpointStore<T>) => Promise<R>): Promise<R> {
  const store = await CheckpointStore.open<T>(options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe('codecs', () => {
  test('raw: a Buffer saved is the Buffer loaded, and a Uint8Array is accepted too', async () => {
    const dirs = mirrors();
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)); // more than one chunk
    await withStore({ dirs }, async (store) => {
      await store.save(bytes);
      const loaded = await store.load();
      expect(Buffer.isBuffer(loaded?.state)).toBe(true);
      expect(loaded?.state.equals(bytes)).toBe(true);
      await store.save(new Uint8Array([1, 2, 3]) as Buffer); // the type says Buffer; any Uint8Array works
      expect([...((await store.load())?.state ?? [])]).toEqual([1, 2, 3]);
    });
  });

  test('raw: an empty Buffer round-trips as an empty Buffer', async () => {
    await withStore({ dirs: mirrors() }, async (store) => {
      await store.save(Buffer.alloc(0));
      const loaded = await store.load();
      expect(loaded?.generation).toBe(1);
      expect(loaded?.state.length).toBe(0);
    });
  });

  test('json: an object round-trips through JSON', async () => {
    const state = { name: 'node-7', counters: [1, 2, 3], nested: { ok: true, text: 'héllo ✓' } };
    await withStore<typeof state, void>({ dirs: mirrors(), codec: 'json' }, async (store) => {
      const saved = await store.save(state);
      expect(saved.bytes).toBe(Buffer.byteLength(JSON.stringify(state)));
      expect((await store.load())?.state).toEqual(state);
    });
  });

  test('v8: Maps, Sets, Dates and bigints round-trip through the structured clone serializer', async () => {
    const state = { map: new Map([['a', 1]]), set: new Set([1, 2]), when: new Date(1_700_000_000_000), big: 2n ** 70n };
    await withStore<typeof state, void>({ dirs: mirrors(), codec: 'v8' }, async (store) => {
      await store.save(state);
      expect((await store.load())?.state).toEqual(state);
    });
  });

  test('a custom codec encodes on save and decodes on load', async () => {
    const codec: Codec<string[]> = {
      encode: (lines) => Buffer.from(lines.join('\n')),
      decode: (bytes) => bytes.toString().split('\n'),
    };
    await withStore({ dirs: mirrors(), codec }, async (store) => {
      await store.save(['a', 'b', 'c']);
      expect((await store.load())?.state).toEqual(['a', 'b', 'c']);
    });
  });

  test('the state is encoded when save is called, so changing it afterwards changes nothing saved', async () => {
    await withStore<{ n: number }, void>({ dirs: mirrors(), codec: 'json' }, async (store) => {
      const state = { n: 1 };
      const saving = store.save(state);
      state.n = 2;
      await saving;
      expect((await store.load())?.state).toEqual({ n: 1 });
    });
  });

  test('the raw codec refuses a state that is not a Uint8Array with ERR_INVALID_ARG_TYPE', async () => {
    const dirs = mirrors();
    await withStore({ dirs }, async (store) => {
      await expect(store.save('text' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      await expect(store.save({} as never)).rejects.toThrow(TypeError);
    });
    expect(fs.readdirSync(dirs[0]).filter((n) => n.startsWith('ckpt-'))).toEqual([]);
  });

  test('a custom encoder that returns something else than bytes is ERR_INVALID_RETURN_VALUE', async () => {
    const codec = { encode: () => 'nope' as unknown as Uint8Array, decode: () => 0 };
    await withStore({ dirs: mirrors(), codec }, async (store) => {
      await expect(store.save(1)).rejects.toMatchObject({ code: 'ERR_INVALID_RETURN_VALUE' });
    });
  });
});

describe('generations', () => {
  test('a store with no checkpoint loads as undefined', async () => {
    await withStore({ dirs: mirrors(2) }, async (store) => {
      expect(await store.load()).toBeUndefined();
    });
  });

  test('each save is the next generation, and load returns the newest with its lsn and time', async () => {
    const before = Date.now();
    await withStore<number, void>({ dirs: mirrors(), codec: 'json' }, async (store) => {
      expect(await store.save(10)).toEqual({ generation: 1, bytes: 2, crcMs: expect.any(Number) });
      expect((await store.save(20, { lsn: 7 })).generation).toBe(2);
      expect((await store.save(30, { lsn: 2 ** 40 })).generation).toBe(3);
      const loaded = await store.load();
      expect(loaded).toMatchObject({ generation: 3, state: 30, lsn: 2 ** 40, fellBack: false, newestSeen: 3, pieced: false });
      expect(loaded?.repaired).toEqual([]);
      expect(loaded?.createdAt).toBeInstanceOf(Date);
      expect(loaded!.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    });
  });

  test('a save reports the milliseconds its CRCs took as a finite number >= 0', async () => {
    await withStore({ dirs: mirrors() }, async (store) => {
      for (const size of [0, 1000, 300_000]) {
        const { crcMs } = await store.save(Buffer.alloc(size, 5));
        expect(typeof crcMs).toBe('number');
        expect(Number.isFinite(crcMs)).toBe(true);
        expect(crcMs).toBeGreaterThanOrEqual(0);
      }
    });
  });

  test('saves called together run one at a time, in call order', async () => {
    await withStore<number, void>({ dirs: mirrors(2), codec: 'json', keep: 10 }, async (store) => {
      const results = await Promise.all([1, 2, 3, 4, 5].map((n) => store.save(n)));
      expect(results.map((r) => r.generation)).toEqual([1, 2, 3, 4, 5]);
      expect((await store.load())?.state).toBe(5);
    });
  });

  test('generations continue after a reopen', async () => {
    const dirs = mirrors(2);
    await withStore<string, unknown>({ dirs, codec: 'json' }, (store) => store.save('a'));
    await withStore<string, void>({ dirs, codec: 'json' }, async (store) => {
      expect((await store.load())?.state).toBe('a');
      expect((await store.save('b')).generation).toBe(2);
    });
  });

  test('keep bounds the generations left in every mirror', async () => {
    const dirs = mirrors(2);
    await withStore<number, void>({ dirs, codec: 'json', keep: 2 }, async (store) => {
      for (let n = 1; n <= 4; n++) await store.save(n);
      const files = await store.list();
      expect(files.map((f) => f.generation)).toEqual([3, 3, 4, 4]);
    });
    await withStore<number, void>({ dirs, codec: 'json', keep: 1 }, async (store) => {
      await store.save(5);
      expect((await store.list()).map((f) => f.generation)).toEqual([5, 5]);
    });
  });
});

describe('mirrors and repair', () => {
  test('a deleted copy is restored by load, which names it, and is whole afterwards', async () => {
    const dirs = mirrors(2);
    await withStore<string, void>({ dirs, codec: 'json' }, async (store) => {
      await store.save('first');
      await store.save('second');
      const lost = path.join(dirs[1], fileName(2));
      fs.unlinkSync(lost);
      const loaded = await store.load();
      expect(loaded?.state).toBe('second');
      expect(loaded?.repaired).toEqual([{ action: 'restored', generation: 2, path: lost, problem: 'missing' }]);
      expect(fs.readFileSync(lost)).toEqual(fs.readFileSync(path.join(dirs[0], fileName(2))));
      expect((await store.verify()).ok).toBe(true);
    });
  });

  test('a copy with garbage in it is rewritten from the good mirror, and load names it', async () => {
    const dirs = mirrors(2);
    await withStore<string, void>({ dirs, codec: 'json' }, async (store) => {
      await store.save('the state that must survive');
      const damaged = path.join(dirs[0], fileName(1));
      damagePayload(damaged);
      const loaded = await store.load();
      expect(loaded?.state).toBe('the state that must survive');
      expect(loaded?.fellBack).toBe(false);
      // The damaged file is first moved aside (kept for a post-mortem), then the good copy takes its name.
      expect(loaded?.repaired.map((r) => r.action)).toEqual(['moved-aside', 'rewrote']);
      for (const repair of loaded?.repaired ?? []) {
        expect(repair).toMatchObject({ generation: 1, path: damaged });
        expect(repair.problem).toMatch(/CRC/);
      }
      expect(fs.readdirSync(dirs[0]).filter((n) => n.startsWith(`${fileName(1)}.corrupt`))).toHaveLength(1);
      expect(fs.readFileSync(damaged)).toEqual(fs.readFileSync(path.join(dirs[1], fileName(1))));
      const files = await inspectCheckpoints(dirs);
      expect(files.every((f) => f.ok)).toBe(true);
    });
  });

  test('a corrupt newest generation with one mirror falls back to the one before and moves the bad file aside', async () => {
    const [dir] = mirrors(1);
    await withStore<string, void>({ dirs: dir, codec: 'json' }, async (store) => {
      await store.save('older');
      await store.save('newer');
      const bad = path.join(dir, fileName(2));
      damagePayload(bad);
      const loaded = await store.load();
      expect(loaded).toMatchObject({ generation: 1, state: 'older', fellBack: true, newestSeen: 2 });
      expect(loaded?.repaired).toEqual([expect.objectContaining({ action: 'moved-aside', generation: 2, path: bad })]);
      expect(fs.existsSync(bad)).toBe(false);
      expect(fs.existsSync(`${bad}.corrupt`)).toBe(true);
      // The next save does not reuse the generation the corrupt file had.
      expect((await store.save('next')).generation).toBeGreaterThan(2);
    });
  });

  test('list and verify report a damaged and a missing copy without changing any file', async () => {
    const dirs = mirrors(2);
    await withStore<string, void>({ dirs, codec: 'json', keep: 3 }, async (store) => {
      await store.save('one');
      await store.save('two');
      const damaged = path.join(dirs[0], fileName(2));
      damagePayload(damaged);
      fs.unlinkSync(path.join(dirs[1], fileName(1)));
      const before = snapshot(dirs);

      const files = await store.list();
      expect(files.map((f) => [f.generation, f.ok])).toEqual([
        [1, true],
        [2, false],
        [2, true],
      ]);
      const bad = files.find((f) => !f.ok)!;
      expect(bad).toMatchObject({ path: damaged, code: 'SF_CORRUPT', version: '1.0', chunkSize: 65536 });
      expect(bad.problem).toMatch(/CRC/);
      expect(bad.badOffset).toBeGreaterThanOrEqual(64);

      const report = await store.verify();
      expect(report.ok).toBe(false);
      expect(report.files).toEqual(files);
      expect(report.problems).toHaveLength(2);
      expect(report.problems[0]).toContain(damaged);
      expect(report.problems[1]).toContain(dirs[1]);
      expect(report.problems[1]).toContain('generation 1');

      expect(snapshot(dirs)).toEqual(before);
    });
  });

  test('inspectCheckpoints reads a store another handle has open, and changes nothing', async () => {
    const dirs = mirrors(2);
    await withStore<string, void>({ dirs, codec: 'json' }, async (store) => {
      await store.save('x', { lsn: 12 });
      const before = snapshot(dirs);
      const files = await inspectCheckpoints(dirs);
      expect(files).toHaveLength(2);
      expect(files[0]).toMatchObject({ generation: 1, lsn: 12, payloadLength: 3, ok: true, code: null, problem: null, badOffset: null });
      expect(files[0].createdAt).toBeInstanceOf(Date);
      expect(snapshot(dirs)).toEqual(before);
    });
  });
});

describe('failures', () => {
  test('a second open of the same directory is SF_LOCKED naming this process', async () => {
    const dirs = mirrors(2);
    await withStore({ dirs }, async () => {
      const err = await CheckpointStore.open({ dirs: dirs[1] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toBeInstanceOf(SteadfastError);
      expect(err).toMatchObject({ code: 'SF_LOCKED', pid: process.pid });
      expect((err as StoreError).path).toContain(dirs[1]);
    });
    // Closing released the locks.
    await withStore({ dirs }, async () => undefined);
  });

  test('a directory that does not exist is ENOENT naming it', async () => {
    const [dir] = mirrors(1);
    const missing = path.join(dir, 'nope');
    const err = await CheckpointStore.open({ dirs: [dir, missing] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'ENOENT', path: missing });
    expect((err as Error).message).toContain(missing);
    // The failed open released the lock it had taken in the first directory.
    await withStore({ dirs: dir }, async () => undefined);
  });

  test('a file of a newer major format version is SF_VERSION and stays untouched', async () => {
    const [dir] = mirrors(1);
    await withStore({ dirs: dir }, (store) => store.save(Buffer.from('from the future')));
    const file = path.join(dir, fileName(1));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt16LE(2, 8); // version major
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 60)), 60); // a header a version-2 writer would have made
    fs.writeFileSync(file, bytes);

    await withStore({ dirs: dir }, async (store) => {
      const err = await store.load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'SF_VERSION', path: file });
    });
    expect(fs.readFileSync(file)).toEqual(bytes);
    expect(fs.readdirSync(dir).sort()).toEqual(['LOCK', fileName(1)]);
    expect((await inspectCheckpoints(dir))[0]).toMatchObject({ ok: false, code: 'SF_VERSION', version: '2.0' });
  });

  test('after close, save, load and list reject with SF_CLOSED, and close again resolves', async () => {
    const store = await CheckpointStore.open({ dirs: mirrors() });
    await store.close();
    await expect(store.save(Buffer.from('x'))).rejects.toMatchObject({ code: 'SF_CLOSED' });
    await expect(store.load()).rejects.toBeInstanceOf(StoreError);
    await expect(store.list()).rejects.toMatchObject({ code: 'SF_CLOSED' });
    await expect(store.close()).resolves.toBeUndefined();
  });

  test('close waits for the saves already called, which all complete', async () => {
    const dirs = mirrors(2);
    const store = await CheckpointStore.open<number>({ dirs, codec: 'json' });
    const saves = [store.save(1), store.save(2)];
    await store.close();
    expect((await Promise.all(saves)).map((s) => s.generation)).toEqual([1, 2]);
    await withStore<number, void>({ dirs, codec: 'json' }, async (again) => expect((await again.load())?.state).toBe(2));
  });

  test('a save with an aborted signal rejects with AbortError and writes nothing', async () => {
    const dirs = mirrors(2);
    await withStore({ dirs }, async (store) => {
      const before = snapshot(dirs);
      const controller = new AbortController();
      controller.abort(new Error('shutting down'));
      const err = await store.save(Buffer.from('x'), { signal: controller.signal }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect((err as Error).cause).toBe(controller.signal.reason);
      expect(snapshot(dirs)).toEqual(before);
    });
  });

  test('a save aborted while it waits behind another is not written; the one before it is', async () => {
    await withStore<number, void>({ dirs: mirrors(), codec: 'json' }, async (store) => {
      const controller = new AbortController();
      const first = store.save(1);
      const second = store.save(2, { signal: controller.signal });
      controller.abort();
      await expect(first).resolves.toMatchObject({ generation: 1 });
      await expect(second).rejects.toMatchObject({ code: 'ABORT_ERR' });
      expect((await store.list()).map((f) => f.generation)).toEqual([1]);
    });
  });

  test('open and load honour an aborted signal too', async () => {
    const dirs = mirrors();
    await expect(CheckpointStore.open({ dirs }, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    await withStore({ dirs }, async (store) => {
      await expect(store.load({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    });
  });

  test('a store left open by a worker thread that ends is closed by the binding, releasing its locks', async () => {
    const dirs = mirrors(2);
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { CheckpointStore } = require(workerData.entry);
      parentPort.on('message', () => {}); // keeps the worker alive until it is terminated
      CheckpointStore.open({ dirs: workerData.dirs }).then((store) => {
        globalThis.store = store;
        parentPort.postMessage('open');
      });`;
    const worker = new Worker(source, { eval: true, workerData: { dirs, entry: path.join(dist, 'index.js') } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await expect(CheckpointStore.open({ dirs })).rejects.toMatchObject({ code: 'SF_LOCKED' });
    await worker.terminate();
    await withStore({ dirs }, async (store) => expect(await store.load()).toBeUndefined());
  });
});

describe('arguments', () => {
  const dir = os.tmpdir();
  test.each<[string, unknown, string]>([
    ['options missing', undefined, 'ERR_INVALID_ARG_TYPE'],
    ['dirs a number', { dirs: 5 }, 'ERR_INVALID_ARG_TYPE'],
    ['dirs an empty string', { dirs: '' }, 'ERR_INVALID_ARG_VALUE'],
    ['dirs an empty array', { dirs: [] }, 'ERR_OUT_OF_RANGE'],
    ['dirs 17 entries', { dirs: Array.from({ length: 17 }, (_, i) => `${dir}/d${i}`) }, 'ERR_OUT_OF_RANGE'],
    ['dirs holding a non-string', { dirs: [dir, 3] }, 'ERR_INVALID_ARG_TYPE'],
    ['dirs naming one directory twice', { dirs: [dir, `${dir}/.`] }, 'ERR_INVALID_ARG_VALUE'],
    ['keep 0', { dirs: dir, keep: 0 }, 'ERR_OUT_OF_RANGE'],
    ['keep 1.5', { dirs: dir, keep: 1.5 }, 'ERR_OUT_OF_RANGE'],
    ['keep a string', { dirs: dir, keep: '2' }, 'ERR_INVALID_ARG_TYPE'],
    ['chunkSize not a power of two', { dirs: dir, chunkSize: 5000 }, 'ERR_OUT_OF_RANGE'],
    ['chunkSize 2048', { dirs: dir, chunkSize: 2048 }, 'ERR_OUT_OF_RANGE'],
    ['chunkSize 32 MiB', { dirs: dir, chunkSize: 32 * 1024 * 1024 }, 'ERR_OUT_OF_RANGE'],
    ['codec unknown', { dirs: dir, codec: 'yaml' }, 'ERR_INVALID_ARG_VALUE'],
    ['codec without decode', { dirs: dir, codec: { encode: () => new Uint8Array() } }, 'ERR_INVALID_ARG_TYPE'],
  ])('open with %s is rejected with %s', async (_, options, code) => {
    await expect(CheckpointStore.open(options as never)).rejects.toMatchObject({ code });
  });

  test('open with a signal that is not an AbortSignal is ERR_INVALID_ARG_TYPE', async () => {
    await expect(CheckpointStore.open({ dirs: mirrors() }, {} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('a bad lsn is rejected before anything is written', async () => {
    const dirs = mirrors();
    await withStore({ dirs }, async (store) => {
      await expect(store.save(Buffer.from('x'), { lsn: -1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      await expect(store.save(Buffer.from('x'), { lsn: 2 ** 53 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      await expect(store.save(Buffer.from('x'), { lsn: '1' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      expect(await store.list()).toEqual([]);
    });
  });

  test('a chunk size in range shapes the file: one CRC per chunk', async () => {
    await withStore({ dirs: mirrors(), chunkSize: 4096 }, async (store) => {
      await store.save(Buffer.alloc(10_000, 1));
      const [file] = await store.list();
      expect(file.chunkSize).toBe(4096);
      expect(file.size).toBe(64 + 4 * 3 + 10_000 + 32);
    });
  });
});
