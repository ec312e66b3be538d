/**
 * EventQueue: the async iterator behind {@link Heartbeat.events}. It buffers the events that arrive
 * between `next()` calls, up to a bound (a consumer that stops reading must not grow memory without
 * end): past it the oldest are dropped and counted. It ends when the heartbeat closes, once the buffer
 * is read, and throws an AbortError when its signal aborts.
 */
import { AbortError } from '../store/errors';
import type { HeartbeatEvent } from './events';

interface Pending {
  resolve(result: IteratorResult<HeartbeatEvent>): void;
  reject(err: unknown): void;
}

const DONE: IteratorResult<HeartbeatEvent> = { value: undefined, done: true };

/** Internal: {@link Heartbeat.events} returns one. */
export class EventQueue implements AsyncIterableIterator<HeartbeatEvent> {
  /** Events dropped because the buffer was full. */
  dropped = 0;
  private readonly buffer: HeartbeatEvent[] = [];
  // next() calls waiting for an event; there are some only while the buffer is empty.
  private readonly pending: Pending[] = [];
  private ended = false;
  private failure: unknown = null;

  /**
   * @param capacity the most events buffered.
   * @param detach called once when the iteration ends, however it ends.
   */
  constructor(
    private readonly capacity: number,
    private readonly detach: (queue: EventQueue) => void,
  ) {}

  /** The heartbeat delivers an event. */
  push(event: HeartbeatEvent): void {
    if (this.ended) return;
    const waiting = this.pending.shift();
    if (waiting) {
      waiting.resolve({ value: event, done: false });
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length > this.capacity) {
      this.buffer.shift();
      this.dropped++;
    }
  }

  /** The heartbeat closed (or the consumer returned): what is buffered is still read, then done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.detach(this);
    for (const waiting of this.pending.splice(0)) waiting.resolve(DONE);
  }

  /** The signal aborted: the waiting `next()` calls, or else the next one, reject with an AbortError. */
  abort(reason: unknown): void {
    if (this.ended) return;
    const err = new AbortError(undefined, { cause: reason });
    this.buffer.length = 0;
    const waiting = this.pending.splice(0);
    this.end();
    if (waiting.length === 0) this.failure = err;
    for (const w of waiting) w.reject(err);
  }

  next(): Promise<IteratorResult<HeartbeatEvent>> {
    if (this.failure !== null) {
      const err = this.failure;
      this.failure = null;
      return Promise.reject(err);
    }
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<HeartbeatEvent>> {
    this.buffer.length = 0;
    this.failure = null;
    this.end();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<HeartbeatEvent> {
    return this;
  }
}
