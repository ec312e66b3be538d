/**
 * AppendLog: an append-only log of records with consecutive LSNs (native/store/log.c does the work).
 * This file checks arguments and runs group commit: append() queues a record in memory at once and
 * waits for a commit to make it durable; one commit runs at a time and, when it ends, the next one
 * starts as soon as the writers it resolved have appended again (a microtask later), covering every
 * record that arrived meanwhile, so one fdatasync covers them all.
 */
import { Buffer } from 'node:buffer';
import { isUint8Array } from 'node:util/types';
import { binding } from '../binding';
import { invalidArgType, outOfRange } from '../errors';
import {
  checkInteger,
  checkOptions,
  checkPath,
  checkSignal,
  closedError,
  native,
  throwIfAborted,
  toStoreError,
} from './errors';

/** Options of {@link AppendLog.open}. */
export interface AppendLogOptions {
  /** The log's directory; it must exist. An empty directory gets a new log. */
  dir: string;
  /** Bytes per segment file: an integer from 4096 to 1 GiB, default 16 MiB. A larger record gets a segment of its own. */
  segmentSize?: number;
  /**
   * What to do with a corrupt record followed by valid ones: false (default) refuses to open with
   * `SF_CORRUPT`; true opens the log as it was just before the corruption, keeping the dropped bytes in
   * side files and reporting them in {@link AppendLog.recovery}.
   */
  pointInTime?: boolean;
}

/** What opening the log found and did. */
export interface LogRecovery {
  /** First record present (0 if the log is empty). */
  firstLsn: number;
  /** Last valid record (0 if the log is empty). */
  lastLsn: number;
  /** Segment files. */
  segments: number;
  /** Bytes cut from a torn tail (a write a crash interrupted); they are kept in `tornPath`. */
  tornBytes: number;
  /** The side file holding the cut bytes, or null if nothing was cut. */
  tornPath: string | null;
  /** Point-in-time recovery: valid records dropped after the corruption. */
  droppedRecords: number;
  /** Point-in-time recovery: the first LSN dropped, the damaged record's (0 when none). */
  droppedFirstLsn: number;
  /** Point-in-time recovery: the last LSN dropped, the last valid record after the damage (0 when none). */
  droppedLastLsn: number;
  /** Point-in-time recovery: the segment where the corruption was found, or null. */
  corruptPath: string | null;
  /** Point-in-time recovery: its offset in that segment, or null. */
  corruptOffset: number | null;
}

/** One record read back. */
export interface LogRecord {
  /** The record's log sequence number. */
  lsn: number;
  /** Its bytes, as appended (a string was stored as UTF-8). */
  data: Buffer;
}

/** One segment file as {@link inspectLog} sees it. */
export interface LogSegment {
  /** The segment file, `log-<first LSN as 16 hex digits>.sfl`. */
  path: string;
  /** File size (segments are preallocated, so this is usually the segment size). */
  size: number;
  /** Offset just past the last valid record. */
  dataEnd: number;
  /** The LSN of its first record, from the header (or the file name if the header is bad). */
  firstLsn: number;
  /** Last valid record; firstLsn - 1 when there is none. */
  lastLsn: number;
  /** Valid records. */
  records: number;
  /** The segment's random salt, which tells its records from stale ones of an earlier file. */
  salt: number;
  /** True if nothing is wrong with the segment. */
  ok: boolean;
  /** `'SF_CORRUPT'`, `'SF_FORMAT'` or `'SF_VERSION'`; null when ok. */
  code: string | null;
  /** What is wrong, e.g. `'record CRC mismatch (torn tail)'`; null when ok. */
  problem: string | null;
  /** Byte offset of the problem in the file; null when none. */
  problemOffset: number | null;
}

/** Options of {@link AppendLog.append}. */
export interface AppendOptions {
  /**
   * Aborts the append if the record has not been queued yet. Once it has (append queues at once unless
   * a truncateBefore is running), aborting does not un-write it: the record is committed and the
   * promise settles as it would have.
   */
  signal?: AbortSignal;
}

/** Options of {@link AppendLog.replay}. */
export interface ReplayOptions {
  /** Checked before each record is yielded: the iteration throws an AbortError once it is aborted. */
  signal?: AbortSignal;
}

type NativeHandle = object & { readonly __brand?: 'steadfast.log' };

type NativeLogSegment = Omit<LogSegment, 'ok'>;

/** The part of the binding this file uses (native/napi/store.cc). */
interface LogBinding {
  logOpen(dir: string, segmentSize: number, pointInTime: boolean): Promise<{ handle: NativeHandle; recovery: LogRecovery }>;
  logClose(handle: NativeHandle): Promise<void>;
  logAppend(handle: NativeHandle, data: Uint8Array): number;
  logCommit(handle: NativeHandle): Promise<number>;
  logRead(handle: NativeHandle, fromLsn: number, maxBytes: number): Promise<[number, Buffer][]>;
  logTruncateBefore(handle: NativeHandle, lsn: number): Promise<number>;
  logInspect(dir: string): Promise<NativeLogSegment[]>;
}

const nativeLog = binding as unknown as LogBinding;

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;
const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024; // the format's limit (docs/format.md)
const MAX_RECORD = 256 * 1024 * 1024;
const READ_BATCH = 1024 * 1024;

const ignore = (): void => undefined;

/**
 * Lets many operations run at once (shared: commits and reads, which the C log allows concurrently)
 * or one alone (exclusive: truncate and close), in the order they were asked for.
 */
class Gate {
  private tail: Promise<void> = Promise.resolve();
  private readonly running = new Set<Promise<void>>();
  private exclusives = 0;

  /** True while an exclusive operation waits or runs. */
  get blocked(): boolean {
    return this.exclusives > 0;
  }

  shared<R>(op: () => Promise<R>): Promise<R> {
    // With no exclusive operation waiting or running, everything before has settled: start at once
    // rather than a promise hop later (a commit's start is on every append's critical path).
    let run: Promise<R>;
    if (this.exclusives === 0) {
      try {
        run = op();
      } catch (err) {
        run = Promise.reject(err);
      }
    } else {
      run = this.tail.then(op);
    }
    const settled = run.then(ignore, ignore);
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return run;
  }

  exclusive<R>(op: () => Promise<R>): Promise<R> {
    this.exclusives++;
    const before = Promise.all([this.tail, ...this.running]);
    this.running.clear();
    const run = before.then(op).finally(() => this.exclusives--);
    this.tail = run.then(ignore, ignore);
    return run;
  }
}

interface Waiter {
  lsn: number;
  resolve(lsn: number): void;
  reject(err: unknown): void;
}

/** An append called while a truncateBefore ran (or while earlier such appends still waited). */
interface DeferredAppend {
  bytes: Uint8Array;
  signal: AbortSignal | undefined;
  resolve(lsn: number | Promise<number>): void;
  reject(err: unknown): void;
}

function toBytes(data: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (isUint8Array(data)) bytes = data;
  else if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
  else throw invalidArgType('data', 'of type string or an instance of Buffer or Uint8Array', data);
  if (bytes.byteLength > MAX_RECORD) throw outOfRange('data.byteLength', `<= ${MAX_RECORD}`, bytes.byteLength);
  return bytes;
}

/**
 * An append-only log. Records get consecutive LSNs from 1; {@link append} resolves once its record is
 * durable (written and fdatasynced), and appends that arrive together share one fdatasync (group
 * commit). The log holds a lock on its directory while open: a second open fails with `SF_LOCKED`.
 *
 * @example
 * const log = await AppendLog.open({ dir: '/data/log' });
 * for await (const { lsn, data } of log.replay(checkpoint.lsn + 1)) apply(data);
 * await log.append(JSON.stringify(change));
 */
export class AppendLog {
  /** What opening the log found and did (torn tail cut, records dropped by point-in-time recovery). */
  readonly recovery: LogRecovery;
  private readonly handle: NativeHandle;
  private readonly gate = new Gate();
  private last: number;
  private waiters: Waiter[] = []; // in LSN order: LSNs are handed out in call order
  private commit: Promise<void> | null = null; // the commit running, if any
  private scheduled = false; // a startCommit is queued as a microtask
  private closing: Promise<void> | null = null;
  // Appends called while an exclusive operation waited or ran, in call order. While any wait, later
  // appends wait behind them too, so that LSNs stay in call order.
  private deferred: DeferredAppend[] = [];
  private draining: Promise<void> | null = null; // queues the deferred appends once the gate opens

  private constructor(handle: NativeHandle, recovery: LogRecovery) {
    this.handle = handle;
    this.recovery = recovery;
    this.last = recovery.lastLsn;
  }

  /** The highest LSN handed out (durable or not yet), or the last one recovered. */
  get lastLsn(): number {
    return this.last;
  }

  /**
   * Opens the log, creating its first segment in an empty directory, and recovers it: a torn tail is
   * cut back to the last valid record (the cut bytes are kept in a side file, see `recovery.tornPath`).
   * @param signal aborts the open if it has not started yet.
   * @throws {@link StoreError} `SF_CORRUPT` (with `path`, `offset`, `lsnFirst`, `lsnLast`) for a corrupt
   * record followed by valid ones, unless `pointInTime` is set; `SF_LOCKED` (with `pid`); `ENOENT`.
   */
  static async open(options: AppendLogOptions, signal?: AbortSignal): Promise<AppendLog> {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
    const dir = checkPath(options.dir, 'options.dir');
    const segmentSize =
      options.segmentSize === undefined ? DEFAULT_SEGMENT_SIZE : checkInteger(options.segmentSize, 'options.segmentSize', 4096, MAX_SEGMENT_SIZE);
    const pointInTime = options.pointInTime ?? false;
    if (typeof pointInTime !== 'boolean') throw invalidArgType('options.pointInTime', 'of type boolean', pointInTime);
    throwIfAborted(checkSignal(signal));
    const { handle, recovery } = await native(() => nativeLog.logOpen(dir, segmentSize, pointInTime));
    return new AppendLog(handle, recovery);
  }

  /**
   * Appends one record (bytes, or a string stored as UTF-8; at most 256 MiB) and resolves with its LSN
   * once it is durable. The LSN is taken when append is called, so records are ordered as the calls were.
   * An abort of `options.signal` after the record was queued does not un-write it (see {@link AppendOptions}).
   * @throws {@link AbortError} if the signal was aborted before the record was queued; {@link StoreError}
   * `SF_FAILED` after a failed write or sync (reopen the log), `SF_CLOSED`, or the commit's own error
   * (`EIO`, `ENOSPC`) for the records that commit covered.
   */
  append(data: Uint8Array | string, options?: AppendOptions): Promise<number> {
    // Not an async function: the returned promise is the one commit settles, with no wrapper promise
    // and its extra ticks between the fdatasync and the caller. Errors still arrive as rejections.
    let bytes: Uint8Array;
    let signal: AbortSignal | undefined;
    try {
      bytes = toBytes(data);
      signal = checkSignal(checkOptions<AppendOptions>(options).signal, 'options.signal');
      throwIfAborted(signal);
      if (this.closing) throw closedError('log');
      if (this.gate.blocked || this.deferred.length > 0) return this.appendAfterGate(bytes, signal);
      return this.queue(bytes);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * append() while truncateBefore runs (whether append may run beside it is not part of the C contract),
   * or while appends that did still wait: it waits in line behind them.
   */
  private appendAfterGate(bytes: Uint8Array, signal: AbortSignal | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.deferred.push({ bytes, signal, resolve, reject });
      this.draining ??= this.drainDeferred();
    });
  }

  /**
   * Waits for the exclusive operations asked for so far, then queues every deferred append in call
   * order, in one synchronous pass so that no other append can come between them. An append accepted
   * before close() was called is queued even if close() has been called since: close waits for it.
   */
  private async drainDeferred(): Promise<void> {
    try {
      while (this.deferred.length > 0) {
        await this.gate.shared(async () => undefined);
        const batch = this.deferred;
        this.deferred = [];
        for (const append of batch) {
          try {
            throwIfAborted(append.signal);
            append.resolve(this.queue(append.bytes));
          } catch (err) {
            append.reject(err);
          }
        }
      }
    } finally {
      this.draining = null;
    }
  }

  /** Frames the record into the C queue (no I/O) and returns the promise its commit settles. */
  private queue(bytes: Uint8Array): Promise<number> {
    let lsn: number;
    try {
      lsn = nativeLog.logAppend(this.handle, bytes);
    } catch (err) {
      throw toStoreError(err);
    }
    this.last = lsn;
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({ lsn, resolve, reject });
      this.scheduleCommit();
    });
  }

  /**
   * The durable records with LSN >= `fromLsn` (default 1), in LSN order, up to the last LSN handed out
   * when replay was called; records appended later are not included. Reads in batches of about 1 MiB,
   * each batch re-checked against its CRCs.
   * @throws RangeError `ERR_OUT_OF_RANGE` (at once) for a bad `fromLsn`; during the iteration,
   * {@link StoreError} `SF_CORRUPT` for a record that no longer checks out, `SF_CLOSED`, or
   * {@link AbortError}.
   */
  replay(fromLsn = 1, options?: ReplayOptions): AsyncIterableIterator<LogRecord> {
    const from = checkInteger(fromLsn, 'fromLsn', 0);
    const signal = checkSignal(checkOptions<ReplayOptions>(options).signal, 'options.signal');
    return this.read(from, this.last, signal);
  }

  /**
   * Deletes every segment whose records all have LSN < `lsn` (never the last segment), e.g. after a
   * checkpoint that covers them. Waits for running commits and reads; appends wait for it.
   * @returns the number of segments deleted.
   */
  async truncateBefore(lsn: number): Promise<number> {
    checkInteger(lsn, 'lsn', 0);
    if (this.closing) throw closedError('log');
    return this.gate.exclusive(() => native(() => nativeLog.logTruncateBefore(this.handle, lsn)));
  }

  /**
   * Waits until every record appended so far is committed (their promises settle, including appends
   * still waiting behind a truncateBefore) and running reads end, then closes the log. Later calls
   * reject with `SF_CLOSED`; closing again returns the same promise.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        // A commit may be scheduled and not started yet: waiting one tick lets it start.
        while (this.commit || this.waiters.length > 0 || this.deferred.length > 0 || this.draining) {
          await (this.commit ?? this.draining ?? Promise.resolve());
        }
        await this.gate.exclusive(() => native(() => nativeLog.logClose(this.handle)));
      })();
    }
    return this.closing;
  }

  private async *read(from: number, end: number, signal: AbortSignal | undefined): AsyncIterableIterator<LogRecord> {
    let next = from;
    while (next <= end) {
      throwIfAborted(signal);
      if (this.closing) throw closedError('log');
      const batch = await this.gate.shared(() => native(() => nativeLog.logRead(this.handle, next, READ_BATCH)));
      if (batch.length === 0) return;
      for (const [lsn, data] of batch) {
        if (lsn > end) return;
        throwIfAborted(signal);
        yield { lsn, data };
      }
      next = batch[batch.length - 1][0] + 1;
    }
  }

  /**
   * Starts a commit once the current burst of synchronous work and microtasks has appended what it
   * will. When a commit settles, every writer it resolves resumes in a microtask queued before this
   * one, so their next records all go into the next commit instead of the first of them starting a
   * commit alone (writers that each wait for their own ack are bound by records per fdatasync).
   */
  private scheduleCommit(): void {
    if (this.commit || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.startCommit);
  }

  /** Starts a commit if none runs and records wait for one. */
  private readonly startCommit = (): void => {
    this.scheduled = false;
    if (this.commit || this.waiters.length === 0) return;
    const covered = this.last; // every record queued now is in this commit
    this.commit = this.gate.shared(() => nativeLog.logCommit(this.handle)).then(
      (durable) => this.settle(durable, undefined),
      (err: unknown) => this.settle(covered, toStoreError(err)),
    );
  };

  /** Settles the waiters up to upTo (resolving, or rejecting with error), then schedules the next commit. */
  private settle(upTo: number, error: unknown): void {
    const waiters = this.waiters;
    let n = 0;
    while (n < waiters.length && waiters[n].lsn <= upTo) n++;
    // Usually the commit covered every waiter: hand the array over instead of splicing it.
    this.waiters = n === waiters.length ? [] : waiters.slice(n);
    this.commit = null;
    for (let i = 0; i < n; i++) {
      const waiter = waiters[i];
      if (error === undefined) waiter.resolve(waiter.lsn);
      else waiter.reject(error);
    }
    if (this.waiters.length > 0) this.scheduleCommit();
  }
}

/**
 * Checks every segment of the log in `dir` without taking the lock and without changing anything, so
 * it may run while another process has the log open (`steadfast log inspect`).
 */
export async function inspectLog(dir: string): Promise<LogSegment[]> {
  const checked = checkPath(dir, 'dir');
  const segments = await native(() => nativeLog.logInspect(checked));
  return segments.map((s) => ({ ...s, ok: s.code === null }));
}
