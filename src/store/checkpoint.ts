/**
 * CheckpointStore: whole snapshots of state, mirrored over one or more directories, each copy checked
 * chunk by chunk with CRC-32C on load (native/store/checkpoint.c does the work). This file checks
 * arguments, applies defaults and codecs, and runs one operation at a time per store, because a C
 * store handle may be used from one thread at a time.
 */
import * as path from 'node:path';
import { binding } from '../binding';
import { invalidArgType, outOfRange } from '../errors';
import { resolveCodec, type Codec, type CodecName } from './codec';
import {
  checkInteger,
  checkOptions,
  checkPath,
  checkSignal,
  closedError,
  invalidArgValue,
  native,
  throwIfAborted,
} from './errors';

/** Options of {@link CheckpointStore.open}. */
export interface CheckpointStoreOptions<T> {
  /**
   * The directory, or the mirror directories (1 to 16, ideally on different disks), that hold the
   * checkpoint files. Each must exist. Every save writes a copy to each of them.
   */
  dirs: string | string[];
  /** How many generations to keep (older ones are deleted after a save); an integer >= 1, default 2. */
  keep?: number;
  /** How state becomes bytes: `'raw'` (default), `'json'`, `'v8'` or your own {@link Codec}. */
  codec?: CodecName | Codec<T>;
  /**
   * Bytes covered by one CRC-32C in the file, so that damage is found, and repaired from another
   * mirror, chunk by chunk: a power of two from 4096 to 16777216, default 65536.
   */
  chunkSize?: number;
}

/** Options of {@link CheckpointStore.save}. */
export interface SaveOptions {
  /** The log position this snapshot covers (see {@link AppendLog}); a safe integer >= 0, default 0 (none). */
  lsn?: number;
  /** Aborts the save if it has not started yet. A save that has started runs to its end. */
  signal?: AbortSignal;
}

/** What {@link CheckpointStore.save} resolves with. */
export interface SaveResult {
  /** The generation written (1 for the first save, then 2, 3, ...). */
  generation: number;
  /** Bytes of state written to each mirror (the encoded payload, without the file's header and trailer). */
  bytes: number;
  /**
   * Milliseconds the save spent computing CRC-32Cs (the chunk table, header and trailer), measured with
   * a monotonic clock inside the native save: a finite number >= 0, for metrics and benchmarks.
   */
  crcMs: number;
}

/** Options of {@link CheckpointStore.load}. */
export interface LoadOptions {
  /** Aborts the load if it has not started yet. */
  signal?: AbortSignal;
}

/** What a load did to one file to make the mirrors whole again. */
export interface CheckpointRepair {
  /**
   * `'rewrote'`: a damaged copy was replaced by a good one; `'restored'`: a missing copy was written;
   * `'moved-aside'`: an invalid file was renamed to `<name>.corrupt` (or `.corrupt-2`, ...), never deleted.
   */
  action: 'rewrote' | 'restored' | 'moved-aside';
  /** The generation of the file. */
  generation: number;
  /** The file repaired or restored, or the old name of the file moved aside. */
  path: string;
  /** What was wrong, e.g. `'chunk 3 CRC mismatch'` or `'missing'`. */
  problem: string;
}

/** A checkpoint as {@link CheckpointStore.load} returns it. */
export interface LoadedCheckpoint<T> {
  /** The generation loaded (1 for the first save, then 2, 3, ...). */
  generation: number;
  /** The state, decoded with the store's codec. */
  state: T;
  /** The log position saved with it (0: none). */
  lsn: number;
  /** When it was saved. */
  createdAt: Date;
  /** What the load repaired; empty when every mirror was whole. */
  repaired: CheckpointRepair[];
  /** True if a newer generation existed but no valid copy of it could be found (it was moved aside). */
  fellBack: boolean;
  /** The highest generation found among the files, valid or not. */
  newestSeen: number;
  /** True if the state was pieced together from the good chunks of several damaged copies. */
  pieced: boolean;
}

/** One checkpoint file, checked completely (every chunk CRC). */
export interface CheckpointFile {
  /** The file, `<dir>/ckpt-<generation as 16 hex digits>.sfc`. */
  path: string;
  /** From the header when it is valid, else from the file name. */
  generation: number;
  /** File size in bytes. */
  size: number;
  /** Bytes of state it holds. */
  payloadLength: number;
  /** The log position saved with it (0: none). */
  lsn: number;
  /** When it was saved; null when the header cannot be trusted. */
  createdAt: Date | null;
  /** Format version, `'major.minor'`, e.g. `'1.0'`. */
  version: string;
  /** Payload bytes covered by each CRC. */
  chunkSize: number;
  /** True if the copy is whole and valid. */
  ok: boolean;
  /** Why it is not: `'SF_CORRUPT'`, `'SF_FORMAT'`, `'SF_VERSION'`, ...; null when ok. */
  code: string | null;
  /** What is wrong, e.g. `'header CRC mismatch'`; null when ok. */
  problem: string | null;
  /** The first byte found wrong; null when none. */
  badOffset: number | null;
}

/** What {@link CheckpointStore.verify} reports. */
export interface CheckpointVerifyReport {
  /** True if every file is valid and every generation has a copy in every mirror. */
  ok: boolean;
  /** Every checkpoint file, oldest generation first. */
  files: CheckpointFile[];
  /** One sentence per problem found, each naming the file or directory. */
  problems: string[];
}

/** An open store handle (an External owned by native/napi/store.cc). */
type NativeHandle = object & { readonly __brand?: 'steadfast.ckpt' };

interface NativeCheckpointFile {
  path: string;
  generation: number;
  size: number;
  payloadLength: number;
  lsn: number;
  createdMs: number;
  versionMajor: number;
  versionMinor: number;
  chunkSize: number;
  code: string | null;
  problem: string | null;
  badOffset: number | null;
}

interface NativeLoaded {
  generation: number;
  lsn: number;
  createdMs: number;
  payload: Buffer | null;
  fellBack: boolean;
  newestSeen: number;
  pieced: boolean;
  repairs: CheckpointRepair[];
}

/** The part of the binding this file uses (native/napi/store.cc). */
interface CheckpointBinding {
  ckptOpen(dirs: string[], keep: number, chunkSize: number): Promise<NativeHandle>;
  ckptClose(handle: NativeHandle): Promise<void>;
  ckptSave(handle: NativeHandle, data: Uint8Array, lsn: number): Promise<{ generation: number; crcMs: number }>;
  ckptLoad(handle: NativeHandle): Promise<NativeLoaded>;
  ckptList(handle: NativeHandle): Promise<NativeCheckpointFile[]>;
  ckptInspect(dirs: string[]): Promise<NativeCheckpointFile[]>;
}

const nativeStore = binding as unknown as CheckpointBinding;

const MAX_DIRS = 16;
const MIN_CHUNK = 4096;
const MAX_CHUNK = 16 * 1024 * 1024;

function checkDirs(value: unknown, name: string): string[] {
  if (typeof value === 'string') return [checkPath(value, name)];
  if (!Array.isArray(value)) throw invalidArgType(name, 'of type string or an array of strings', value);
  if (value.length < 1 || value.length > MAX_DIRS) {
    throw outOfRange(`${name}.length`, `>= 1 and <= ${MAX_DIRS}`, value.length);
  }
  const dirs = value.map((dir, i) => checkPath(dir, `${name}[${i}]`));
  // The same directory twice would be one copy counted as two (and a lock conflict with itself).
  if (new Set(dirs.map((dir) => path.resolve(dir))).size !== dirs.length) {
    throw invalidArgValue(name, dirs.join(', '), 'must name distinct directories');
  }
  return dirs;
}

function checkChunkSize(value: unknown): number {
  const name = 'options.chunkSize';
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  // A power of two in range has exactly one bit set.
  if (!Number.isInteger(value) || value < MIN_CHUNK || value > MAX_CHUNK || (value & (value - 1)) !== 0) {
    throw outOfRange(name, `a power of two >= ${MIN_CHUNK} and <= ${MAX_CHUNK}`, value);
  }
  return value;
}

function toFile(f: NativeCheckpointFile): CheckpointFile {
  return {
    path: f.path,
    generation: f.generation,
    size: f.size,
    payloadLength: f.payloadLength,
    lsn: f.lsn,
    createdAt: f.createdMs > 0 ? new Date(f.createdMs) : null,
    version: `${f.versionMajor}.${f.versionMinor}`,
    chunkSize: f.chunkSize,
    ok: f.code === null,
    code: f.code,
    problem: f.problem,
    badOffset: f.badOffset,
  };
}

/**
 * A durable store of whole snapshots. Each {@link save} writes a new generation to every mirror
 * (temporary file, write, fdatasync, rename, directory fsync) and resolves only when all of them hold
 * it; {@link load} returns the newest generation with a valid copy, repairing the other mirrors from it.
 * A store holds a lock in each directory while open: a second open, in this process or another, fails
 * with `SF_LOCKED`.
 *
 * Operations on one store run one at a time, in the order they were called.
 *
 * @example
 * const store = await CheckpointStore.open<State>({ dirs: ['/data/a', '/mnt/b'], codec: 'json' });
 * const last = await store.load();
 * let state = last?.state ?? initial;
 * ...
 * await store.save(state);
 * await store.close();
 */
export class CheckpointStore<T = Buffer> {
  private readonly handle: NativeHandle;
  private readonly codec: Codec<T>;
  private readonly dirs: string[];
  private tail: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  private constructor(handle: NativeHandle, codec: Codec<T>, dirs: string[]) {
    this.handle = handle;
    this.codec = codec;
    this.dirs = dirs;
  }

  /**
   * Opens a store: takes the lock in every directory, removes temporary files a crashed save left
   * behind and finds the newest generation.
   * @param signal aborts the open if it has not started yet.
   * @throws TypeError/RangeError (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`)
   * for bad options; {@link StoreError} `SF_LOCKED` (with `pid`) when another handle holds a directory,
   * `ENOENT` (with `path`) when a directory does not exist.
   */
  static async open<T = Buffer>(options: CheckpointStoreOptions<T>, signal?: AbortSignal): Promise<CheckpointStore<T>> {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
    const dirs = checkDirs(options.dirs, 'options.dirs');
    const keep = options.keep === undefined ? 2 : checkInteger(options.keep, 'options.keep', 1, 0xffffffff);
    const chunkSize = options.chunkSize === undefined ? 65536 : checkChunkSize(options.chunkSize);
    const codec = resolveCodec<T>(options.codec);
    throwIfAborted(checkSignal(signal));
    const handle = await native(() => nativeStore.ckptOpen(dirs, keep, chunkSize));
    return new CheckpointStore(handle, codec, dirs);
  }

  /**
   * Saves `state` as the next generation, durably in every mirror, then deletes generations beyond
   * `keep`. The state is encoded when save is called, so changing it afterwards does not change what is
   * saved; with the `'raw'` codec the bytes themselves are written as they are when the save runs, so
   * do not modify or transfer them until the promise settles.
   * @returns the new generation, the number of payload bytes written per mirror, and `crcMs`: the
   * milliseconds the save spent computing CRC-32Cs (chunk table, header and trailer; measured with a
   * monotonic clock inside the native save), for metrics and benchmarks.
   * @throws {@link AbortError} if `options.signal` was aborted before the save started (nothing is
   * written); {@link StoreError} (`EIO`, `ENOSPC`, `SF_CLOSED`, ...) if it failed.
   */
  async save(state: T, options?: SaveOptions): Promise<SaveResult> {
    const o = checkOptions<SaveOptions>(options);
    const lsn = o.lsn === undefined ? 0 : checkInteger(o.lsn, 'options.lsn', 0);
    const signal = checkSignal(o.signal, 'options.signal');
    throwIfAborted(signal);
    if (this.closing) throw closedError('checkpoint store');
    const bytes = this.codec.encode(state);
    const { generation, crcMs } = await this.serially(signal, () => nativeStore.ckptSave(this.handle, bytes, lsn));
    return { generation, bytes: bytes.byteLength, crcMs };
  }

  /**
   * Loads the newest generation that has a valid copy (or can be pieced together from the good chunks
   * of several damaged copies), rewrites or restores the other mirrors from it and moves invalid files
   * aside; `repaired` lists what it did.
   * @returns undefined when the store holds no checkpoint at all.
   * @throws {@link StoreError} `SF_EMPTY` when checkpoint files exist but none is valid, `SF_VERSION`
   * when the newest one was written by a newer format version (nothing is changed then).
   */
  async load(options?: LoadOptions): Promise<LoadedCheckpoint<T> | undefined> {
    const signal = checkSignal(checkOptions<LoadOptions>(options).signal, 'options.signal');
    throwIfAborted(signal);
    if (this.closing) throw closedError('checkpoint store');
    const loaded = await this.serially(signal, () => nativeStore.ckptLoad(this.handle));
    if (loaded.generation === 0 || loaded.payload === null) return undefined;
    return {
      generation: loaded.generation,
      state: this.codec.decode(loaded.payload),
      lsn: loaded.lsn,
      createdAt: new Date(loaded.createdMs),
      repaired: loaded.repairs,
      fellBack: loaded.fellBack,
      newestSeen: loaded.newestSeen,
      pieced: loaded.pieced,
    };
  }

  /** Every checkpoint file of the store's directories, oldest generation first, each checked completely. Changes nothing. */
  async list(): Promise<CheckpointFile[]> {
    if (this.closing) throw closedError('checkpoint store');
    return (await this.serially(undefined, () => nativeStore.ckptList(this.handle))).map(toFile);
  }

  /**
   * Checks every file and that every generation has a copy in every mirror, and reports what is wrong.
   * Changes nothing: {@link load} repairs. A generation missing from one mirror is a problem here: this
   * handle holds the locks and runs verify after its own saves, so no save can be half-way through its
   * mirrors. (`steadfast checkpoint verify`, which looks at a store from outside while its owner may be
   * saving, reports the same thing as a warning and exits 0.)
   */
  async verify(): Promise<CheckpointVerifyReport> {
    const files = await this.list();
    const problems = files.filter((f) => !f.ok).map((f) => `${f.path}: ${f.problem ?? f.code}`);
    const generations = [...new Set(files.map((f) => f.generation))];
    for (const generation of generations) {
      for (const dir of this.dirs) {
        const here = files.some((f) => f.generation === generation && path.resolve(path.dirname(f.path)) === path.resolve(dir));
        if (!here) problems.push(`${dir}: generation ${generation} is missing`);
      }
    }
    return { ok: problems.length === 0, files, problems };
  }

  /**
   * Waits for the operations already called, then releases the locks. Later calls reject with
   * `SF_CLOSED`; closing again returns the same promise.
   */
  close(): Promise<void> {
    if (!this.closing) {
      const pending = this.tail;
      this.closing = pending.then(() => native(() => nativeStore.ckptClose(this.handle)));
    }
    return this.closing;
  }

  /** Runs op after every operation called before it, unless signal was aborted by then. */
  private serially<R>(signal: AbortSignal | undefined, op: () => Promise<R>): Promise<R> {
    const run = this.tail.then(() => {
      throwIfAborted(signal);
      return native(op);
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/**
 * Lists and checks every checkpoint file of `dirs` without taking the lock and without changing
 * anything, so it may run while another process has the store open (`steadfast checkpoint inspect`).
 * A file being written at that moment may show as invalid.
 */
export async function inspectCheckpoints(dirs: string | string[]): Promise<CheckpointFile[]> {
  const checked = checkDirs(dirs, 'dirs');
  return (await native(() => nativeStore.ckptInspect(checked))).map(toFile);
}
