/* replay.c: the anti-replay window of replay.h. The bitmap is a ring indexed by seq % 1024 (as in
 * RFC 6479) rather than a shift register (RFC 4303, appendix A2): moving the window forward only
 * clears the bits of the sequence numbers it passes over, so an in-order packet costs a few
 * instructions whatever the window size. The `size` limit is applied by comparison with top, so a
 * window smaller than the ring works the same way. */
#include <string.h>

#include "steadfast/heartbeat.h"
#include "replay.h"

static void sf__bit_clear(sf__hb_replay_t *w, uint64_t seq) {
  uint32_t i = (uint32_t)(seq % SF__HB_REPLAY_MAX);
  w->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static void sf__bit_set(sf__hb_replay_t *w, uint64_t seq) {
  uint32_t i = (uint32_t)(seq % SF__HB_REPLAY_MAX);
  w->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static int sf__bit_get(const sf__hb_replay_t *w, uint64_t seq) {
  uint32_t i = (uint32_t)(seq % SF__HB_REPLAY_MAX);
  return (int)((w->bits[i / 64] >> (i % 64)) & 1);
}

void sf__hb_replay_init(sf__hb_replay_t *w, uint32_t size) {
  memset(w, 0, sizeof *w);
  w->size = size < 1 ? 1 : size > SF__HB_REPLAY_MAX ? SF__HB_REPLAY_MAX : size;
}

/* Forgets everything and makes (incarnation, seq) the only packet seen. */
static void sf__restart(sf__hb_replay_t *w, uint64_t incarnation, uint64_t seq) {
  memset(w->bits, 0, sizeof w->bits);
  w->incarnation = incarnation;
  w->top = seq;
  w->started = 1;
  sf__bit_set(w, seq);
}

int sf__hb_replay_check(sf__hb_replay_t *w, uint64_t incarnation, uint64_t seq) {
  if (seq == 0) return SF_EREPLAY;
  if (!w->started) {
    sf__restart(w, incarnation, seq);
    return 0;
  }
  if (incarnation < w->incarnation) return SF_EREPLAY;
  if (incarnation > w->incarnation) {
    sf__restart(w, incarnation, seq);
    return SF__HB_REPLAY_RESTARTED;
  }
  if (seq > w->top) {
    /* Slide forward: the seqs passed over (top, seq) were not seen; their ring slots still hold bits
     * of seqs 1024 below, now outside any window, so clear them. */
    if (seq - w->top >= SF__HB_REPLAY_MAX) {
      memset(w->bits, 0, sizeof w->bits);
    } else {
      for (uint64_t s = w->top + 1; s < seq; s++) sf__bit_clear(w, s);
    }
    w->top = seq;
    sf__bit_set(w, seq);
    return 0;
  }
  /* seq <= top: inside the window means top - seq < size. */
  if (w->top - seq >= w->size) return SF_EREPLAY;
  if (sf__bit_get(w, seq)) return SF_EREPLAY;
  sf__bit_set(w, seq);
  return 0;
}
