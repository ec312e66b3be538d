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
#include "crc_three_way.h"

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

static inline uint64_t sf__sse42_step(const sf__crc_poly_t *c, uint64_t raw, uint64_t word) {
  (void)c;
  return _mm_crc32_u64(raw, word);
}

uint32_t sf__crc32c_sse42(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t raw = ~crc;
  if (len >= 3 * SF__CRC_BLOCK_SHORT + 7) {
    for (; (uintptr_t)p & 7; p++, len--) raw = _mm_crc32_u8(raw, *p);
    raw = sf__crc_three_way_blocks(&sf__crc32c_poly, sf__sse42_step, raw, &p, &len);
  }
  return ~sf__crc32c_sse42_raw(raw, p, len);
}

#endif /* __x86_64__ */
