/* detector.c: the phi-accrual failure detector (Hayashibara, Defago, Yared and Katayama, "The phi
 * accrual failure detector", SRDS 2004), computed the way Akka's PhiAccrualFailureDetector does: a
 * normal distribution fitted to the recent inter-arrival times, its mean raised by an acceptable
 * pause and its standard deviation floored, and the normal CDF replaced by a logistic approximation.
 * It owns sf_hb_phi, its inverse, and the per-peer history (a ring with exact running sums).
 * docs/failure-detection.md gives the defaults and the detection times that follow from them. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "steadfast/heartbeat.h"
#include "detector_internal.h"

/* The logistic approximation of the standard normal CDF that Akka uses (after Bowling et al., "A
 * logistic approximation to the cumulative normal distribution", 2009): 1 - F(y) ~ e / (1 + e) with
 * e = exp(-y * (1.5976 + 0.070566 y^2)). So phi = -log10(e / (1 + e)) = (z + ln(1 + exp(-z))) / ln 10
 * with z = y (1.5976 + 0.070566 y^2). Akka evaluates e itself and takes two branches (e / (1 + e)
 * above the mean, 1 - 1 / (1 + e) below) to stay accurate; written with z, one softplus does both
 * and never overflows: exp() only ever sees a non-positive argument. */
static double sf__phi_of_y(double y) {
  /* Beyond these, phi is either 0 to double precision or far past any threshold; clamping keeps
   * y^3 finite. */
  if (y > 1e6) y = 1e6;
  if (y < -1e6) y = -1e6;
  double z = y * (1.5976 + 0.070566 * y * y);
  double ln_phi = z >= 0 ? z + log1p(exp(-z)) : log1p(exp(z));
  return ln_phi / M_LN10;
}

double sf_hb_phi(double elapsed_ms, double mean_ms, double std_dev_ms) {
  if (isnan(elapsed_ms) || isnan(mean_ms)) return 0;
  /* A zero or broken std dev would divide by zero; the engine always floors it, this guards other
   * callers. */
  if (!(std_dev_ms > 1e-9)) std_dev_ms = 1e-9;
  return sf__phi_of_y((elapsed_ms - mean_ms) / std_dev_ms);
}

double sf__hb_phi_inverse_y(double phi) {
  /* phi(y) increases monotonically; bisection to a relative precision far beyond what a deadline in
   * nanoseconds needs. phi(-40) ~ 1e-30 and phi(40) ~ 2000, which brackets every sane threshold. */
  double lo = -40, hi = 40;
  if (phi <= sf__phi_of_y(lo)) return lo;
  if (phi >= sf__phi_of_y(hi)) return hi;
  for (int i = 0; i < 100 && hi - lo > 1e-12; i++) {
    double mid = 0.5 * (lo + hi);
    if (sf__phi_of_y(mid) < phi)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

double sf__hb_time_for_phi(double mean_ms, double std_dev_ms, double phi) {
  return mean_ms + sf__hb_phi_inverse_y(phi) * std_dev_ms;
}

/* ---- History --------------------------------------------------------------------------------------- */

void sf__hb_history_reset(sf__hb_history_t *h, uint32_t *storage, uint32_t cap, double first_interval_ms) {
  memset(h, 0, sizeof *h);
  h->samples_us = storage;
  h->cap = cap < 2 ? 2 : cap;
  if (!(first_interval_ms > 0)) first_interval_ms = 1000;
  /* Beyond the longest sample the history can hold anyway; also keeps the conversions below defined
   * (a double too large for int64_t is undefined behaviour, and options only check >= 0). */
  if (first_interval_ms > SF__HB_MAX_SAMPLE_US / 1000.0) first_interval_ms = SF__HB_MAX_SAMPLE_US / 1000.0;
  double quarter_us = first_interval_ms * 250.0;
  sf__hb_history_add(h, (int64_t)(first_interval_ms * 1000.0 - quarter_us));
  sf__hb_history_add(h, (int64_t)(first_interval_ms * 1000.0 + quarter_us));
}

void sf__hb_history_add(sf__hb_history_t *h, int64_t sample_us) {
  if (sample_us < 0) sample_us = 0;
  if (sample_us > (int64_t)SF__HB_MAX_SAMPLE_US) sample_us = SF__HB_MAX_SAMPLE_US;
  uint64_t s = (uint64_t)sample_us;
  if (h->count == h->cap) {
    uint64_t old = h->samples_us[h->head];
    h->sum_us -= old;
    h->sum_sq_us -= old * old;
  } else {
    h->count++;
  }
  h->samples_us[h->head] = (uint32_t)s;
  h->sum_us += s;
  h->sum_sq_us += s * s;
  h->head = h->head + 1 == h->cap ? 0 : h->head + 1;
}

double sf__hb_history_mean_ms(const sf__hb_history_t *h) {
  if (h->count == 0) return 0;
  return (double)h->sum_us / h->count / 1000.0;
}

double sf__hb_history_std_dev_ms(const sf__hb_history_t *h) {
  if (h->count == 0) return 0;
  /* E[x^2] - E[x]^2 from exact integer sums: no drift however long the peer lives. The subtraction
   * can still lose digits when the spread is tiny next to the mean, hence the clamp at 0; a tiny
   * spread is below the floor anyway. */
  double n = h->count;
  double mean = (double)h->sum_us / n;
  double var = (double)h->sum_sq_us / n - mean * mean;
  return var > 0 ? sqrt(var) / 1000.0 : 0;
}

/* ---- Parameters ------------------------------------------------------------------------------------ */

void sf__hb_detector_params(const sf_hb_phi_options_t *o, double peer_interval_ms, sf__hb_detector_params_t *out) {
  out->min_std_dev_ms = o->min_std_dev_ms > 0 ? o->min_std_dev_ms : SF__HB_DEFAULT_STD_DEV_FACTOR * peer_interval_ms;
  out->acceptable_pause_ms =
      o->acceptable_pause_ms > 0 ? o->acceptable_pause_ms : SF__HB_DEFAULT_PAUSE_FACTOR * peer_interval_ms;
}

void sf__hb_detector_distribution(const sf__hb_history_t *h, const sf__hb_detector_params_t *p, double *mean_ms,
                                  double *std_dev_ms) {
  double sd = sf__hb_history_std_dev_ms(h);
  *mean_ms = sf__hb_history_mean_ms(h) + p->acceptable_pause_ms;
  *std_dev_ms = sd > p->min_std_dev_ms ? sd : p->min_std_dev_ms;
}

double sf__hb_detection_time_ms(const sf_hb_phi_options_t *o, double interval_ms, double phi) {
  sf__hb_detector_params_t p;
  sf__hb_detector_params(o, interval_ms, &p);
  /* Exact intervals: mean = interval, std dev 0, so the floor applies. */
  return sf__hb_time_for_phi(interval_ms + p.acceptable_pause_ms, p.min_std_dev_ms, phi);
}
