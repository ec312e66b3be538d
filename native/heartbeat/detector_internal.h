/* detector_internal.h: the phi-accrual detector's per-peer state, shared by detector.c (which owns
 * it), engine.c and the engine test. Not part of the public API (steadfast/heartbeat.h holds only
 * sf_hb_phi). docs/failure-detection.md explains the model and every default. */
#ifndef STEADFAST_HEARTBEAT_DETECTOR_INTERNAL_H
#define STEADFAST_HEARTBEAT_DETECTOR_INTERNAL_H

#include <stdint.h>

#include "steadfast/heartbeat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the options the detector accepts (sf_hb_engine_start refuses others with -EINVAL). The
 * running sums are exact 64-bit integers of microseconds: with samples clamped to SF__HB_MAX_SAMPLE_US
 * and at most SF__HB_MAX_SAMPLES of them, the sum of squares stays below 2^64 (1.44e16 * 1000). */
#define SF__HB_MAX_SAMPLES 1000
#define SF__HB_DEFAULT_SAMPLES 200
#define SF__HB_MAX_SAMPLE_US 120000000u /* 120 s: twice the longest interval allowed */

/* Defaults of the std dev floor and the acceptable pause, as multiples of the peer's beat interval
 * (the interval_ms its beats carry), used when the options leave them at 0. At 100 ms: a floor of
 * 100 ms and a pause of 250 ms, so suspect comes 656 ms and dead 873 ms after the last beat. */
#define SF__HB_DEFAULT_STD_DEV_FACTOR 1.0
#define SF__HB_DEFAULT_PAUSE_FACTOR 2.5

/* The inter-arrival history of one peer: a ring of the last `cap` samples with running sums. The
 * ring's storage belongs to the caller (the engine allocates it with the peer). */
typedef struct sf__hb_history_s {
  uint32_t *samples_us;
  uint32_t cap;   /* 2..SF__HB_MAX_SAMPLES */
  uint32_t head;  /* where the next sample goes */
  uint32_t count; /* samples held, <= cap */
  uint64_t sum_us;
  uint64_t sum_sq_us; /* sum of squares, exact */
} sf__hb_history_t;

/* Starts the history over with two samples, first_interval_ms -/+ a quarter of it: mean the
 * interval, std dev a quarter of it (Akka seeds its history the same way), so that phi means
 * something from the first beat on. */
void sf__hb_history_reset(sf__hb_history_t *h, uint32_t *storage, uint32_t cap, double first_interval_ms);

/* Adds one inter-arrival time, dropping the oldest when the ring is full. Clamped to
 * [0, SF__HB_MAX_SAMPLE_US]. */
void sf__hb_history_add(sf__hb_history_t *h, int64_t sample_us);

double sf__hb_history_mean_ms(const sf__hb_history_t *h);
double sf__hb_history_std_dev_ms(const sf__hb_history_t *h);

/* The detector's parameters for one peer, resolved from the options and the peer's interval. */
typedef struct sf__hb_detector_params_s {
  double min_std_dev_ms;
  double acceptable_pause_ms;
} sf__hb_detector_params_t;

void sf__hb_detector_params(const sf_hb_phi_options_t *o, double peer_interval_ms, sf__hb_detector_params_t *out);

/* The distribution phi is computed against: mean + pause, max(std dev, floor). */
void sf__hb_detector_distribution(const sf__hb_history_t *h, const sf__hb_detector_params_t *p, double *mean_ms,
                                  double *std_dev_ms);

/* The inverse of phi in standard units: the y = (t - mean) / std dev at which sf_hb_phi reaches
 * `phi` (phi is increasing in y). The engine computes it once per threshold at start, so a
 * deadline is one multiply-add per beat: t = mean + y * std dev. */
double sf__hb_phi_inverse_y(double phi);

/* Time after the last beat (ms) at which phi reaches `phi`, for a distribution (mean, std dev) as
 * sf__hb_detector_distribution gives it. */
double sf__hb_time_for_phi(double mean_ms, double std_dev_ms, double phi);

/* The detection bound of docs/failure-detection.md: ms after the last beat at which a peer that
 * beats every interval_ms (a history of exact intervals) reaches `phi`, with the options' floor and
 * pause (0: the defaults). */
double sf__hb_detection_time_ms(const sf_hb_phi_options_t *o, double interval_ms, double phi);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_HEARTBEAT_DETECTOR_INTERNAL_H */
