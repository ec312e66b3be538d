/**
 * detectionBoundMs: how long after a peer's last beat it is declared dead, from the options, as
 * docs/failure-detection.md ("Detection time") derives it. The arithmetic is the engine's own
 * (sf_hb_detection_bound_ms in native/heartbeat/engine.c, through the binding).
 */
import { binding } from '../binding';
import { invalidArgType } from './errors';
import { engineDefaults } from './heartbeat';
import { resolveTuning, type HeartbeatOptions } from './options';

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
  return binding.hbDetectionBound({ role: options.role === 'mesh' ? 'mesh' : 'monitor', ...resolveTuning(options, engineDefaults()) });
}
