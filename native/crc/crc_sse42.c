/* crc_sse42.c: CRC-32C with the SSE4.2 crc32 instruction (x86-64 only; built with -msse4.2).
 *
 * The instruction has a latency of three cycles and a throughput of one, so one dependency chain
 * uses a third of the unit. Long inputs are cut into three equal blocks whose chains run
 * interleaved; the three registers are then joined by shifting the earlier ones over the later
 * blocks' length: four lookups in the shift tables of crc_internal.h.
 */
#if defined(__x86_64__)

#include <nmmintrin.h>

#include "crc_internal.h"

uint32_t sf__crc32c_sse42_raw(uint32_t raw, const uint8_t *p, size_t n) {
  uint64_t r = raw;
  while (n >= 8) {
    r = _mm_crc32_u64(r, sf__load64(p));
    p += 8;
    n -= 8;
  }
  while (n--) r = _mm_crc32_u8((uint32_t)r, *p++);
  return (uint32_t)r;
}

/* Runs three chains over [p, p + b), [p + b, p + 2b), [p + 2b, p + 3b) and joins them. */
static inline uint32_t sf__three_way(const uint32_t shift[4][256], size_t b, uint32_t raw,
                                     const uint8_t *p) {
  uint64_t c0 = raw, c1 = 0, c2 = 0;
  for (size_t i = 0; i < b; i += 8) {
    c0 = _mm_crc32_u64(c0, sf__load64(p + i));
    c1 = _mm_crc32_u64(c1, sf__load64(p + b + i));
    c2 = _mm_crc32_u64(c2, sf__load64(p + 2 * b + i));
  }
  return sf__crc_shift(shift, sf__crc_shift(shift, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
}

uint32_t sf__crc32c_sse42(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t raw = ~crc;
  const sf__crc_poly_t *c = &sf__crc32c_poly;
  for (; len >= 3 * SF__CRC_BLOCK_LONG; p += 3 * SF__CRC_BLOCK_LONG, len -= 3 * SF__CRC_BLOCK_LONG)
    raw = sf__three_way(c->shift_long, SF__CRC_BLOCK_LONG, raw, p);
  for (; len >= 3 * SF__CRC_BLOCK_SHORT; p += 3 * SF__CRC_BLOCK_SHORT, len -= 3 * SF__CRC_BLOCK_SHORT)
    raw = sf__three_way(c->shift_short, SF__CRC_BLOCK_SHORT, raw, p);
  return ~sf__crc32c_sse42_raw(raw, p, len);
}

#endif /* __x86_64__ */
