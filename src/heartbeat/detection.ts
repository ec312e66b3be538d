/**
 * detectionBoundMs: how long after a peer's last beat it is declared dead, from the options, as
 * docs/failure-detection.md ("Detection time") derives it. When phi reaches a threshold is the
 * engine's own arithmetic (sf__hb_detection_time_ms in native/heartbeat/detector.c, through the
 * binding); this file adds the mesh's indirect probes and the engine's timer tick, by the rules that
 * document states.
 */
import { binding } from '../binding';
import { invalidArgType } from './errors';
import { engineDefaults } from './heartbeat';
import { resolveTuning, type HeartbeatOptions } from './options';

/** The engine checks deadlines on a timer ticking every max(interval / 4, 5 ms) (engine.c). */
const MIN_TICK_MS = 5;

/**
 * The detection bound of docs/failure-detection.md: the time, in ms after a peer's last beat, by which
 * a steady peer (one that beat every `intervalMs`) that falls silent is declared `dead` with these
 * options. That is when phi reaches `phiThreshold`, with the inter-arrival standard deviation at its
 * floor and the acceptable pause added to the mean (for `role: 'mesh'`, or when the indirect probes,
 * which start at `suspect` and run for twice the interval, end later), plus one tick of the engine's
 * timer. Options left out take the defaults: at 100 ms beats, about 898 ms. A jittery peer's bound is
 * longer (its standard deviation is over the floor).
 * @throws {@link HeartbeatError} `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for a bad option.
 */
export function detectionBoundMs(options: Partial<HeartbeatOptions> = {}): number {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  const defaults = engineDefaults();
  const t = resolveTuning(options, defaults);
  const interval = t.intervalMs ?? defaults.intervalMs;
  const floor = t.minStdDevMs ?? 0; // 0: the engine's default, a multiple of the interval
  const pause = t.acceptablePauseMs ?? 0;
  let conviction = binding.hbDetectionTime(interval, t.deadPhi ?? defaults.deadPhi, floor, pause);
  if (options.role === 'mesh') {
    const probeTimeout = defaults.probeTimeoutMs || 2 * interval; // the engine's rule for probe_timeout_ms 0
    const suspect = binding.hbDetectionTime(interval, t.suspectPhi ?? defaults.suspectPhi, floor, pause);
    conviction = Math.max(conviction, suspect + probeTimeout);
  }
  return conviction + Math.max(Math.floor(interval / 4), MIN_TICK_MS);
}
