/**
 * The JS lag timer: one 250 ms interval per thread, shared by every open heartbeat, that measures how
 * late it fires (the event loop's lag) and tells each engine. The beats an engine sends carry that lag,
 * so a blocked JS thread shows up at the peers as `stalled` while the engine keeps beating; when the loop
 * is blocked the timer cannot fire at all, and the engine counts how overdue the next tick is itself.
 * The timer is unref'd: it never keeps the process alive.
 */
import { performance } from 'node:perf_hooks';
import { binding } from '../binding';
import type { NativeHeartbeatHandle } from './native';

/**
 * The timer's period; the engine is told it with every tick. 250 ms resolves the 1000 ms default stall
 * threshold well, and each wake-up of the event loop costs CPU (a 50 ms timer alone was about half of an
 * idle monitor's CPU in bench:heartbeat).
 */
const PERIOD_MS = 250;
const MAX_LAG_US = 0xfffffffe; // 0xffffffff means "unknown" on the wire

const handles = new Set<NativeHeartbeatHandle>();
let timer: NodeJS.Timeout | undefined;
let last = 0;

function tick(): void {
  const now = performance.now();
  const lagUs = Math.min(MAX_LAG_US, Math.round(Math.max(0, now - last - PERIOD_MS) * 1000));
  last = now;
  for (const handle of handles) binding.hbTick(handle, PERIOD_MS, lagUs);
}

/** Starts reporting this thread's lag to an engine (with a first tick now). Internal. */
export function watchLag(handle: NativeHeartbeatHandle): void {
  handles.add(handle);
  binding.hbTick(handle, PERIOD_MS, 0);
  if (timer === undefined) {
    last = performance.now();
    timer = setInterval(tick, PERIOD_MS);
    timer.unref();
  }
}

/** Stops reporting to an engine; the timer stops with the last one. Internal. */
export function unwatchLag(handle: NativeHeartbeatHandle): void {
  handles.delete(handle);
  if (handles.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}
