/* crc_sse42.c: CRC-32C with the SSE4.2 crc32 instruction (x86-64 only; built with -msse4.2).
 *
 * The instruction has a latency of three cycles and a throughput of one, so one dependency chain
 * uses a third of the unit. Long inputs are cut into three equal blocks whose chains run
 * interleaved; the three registers are then joined by shifting the earlier ones over the later
 * blocks' length. A shift by a fixed length is multiplication by a fixed x^(8B) mod P, which is
 * linear in the register, so it is four table lookups (tables built once at load time).
 */
#if defined(__x86_64__)

#include <nmmintrin.h>

#include "crc_internal.h"

#define SF__SSE42_LONG 2048 /* bytes per chain in a long block (3 x 2048 per step) */
#define SF__SSE42_SHORT 256

static uint32_t sf__shift_long[4][256];
static uint32_t sf__shift_short[4][256];

static void sf__shift_table_init(uint32_t table[4][256], uint64_t bytes) {
  uint32_t k = sf__crc_xpow8n(&sf__crc32c_poly, bytes);
  for (unsigned j = 0; j < 4; j++)
    for (unsigned b = 0; b < 256; b++)
      table[j][b] = sf__crc_multiply(SF__CRC32C_POLY, (uint32_t)b << (8 * j), k);
}

void sf__crc32c_sse42_init(void) {
  sf__shift_table_init(sf__shift_long, SF__SSE42_LONG);
  sf__shift_table_init(sf__shift_short, SF__SSE42_SHORT);
}

static inline uint32_t sf__shift(const uint32_t table[4][256], uint32_t raw) {
  return table[0][raw & 0xff] ^ table[1][(raw >> 8) & 0xff] ^ table[2][(raw >> 16) & 0xff] ^
         table[3][raw >> 24];
}

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
  return sf__shift(shift, sf__shift(shift, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
}

uint32_t sf__crc32c_sse42(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t raw = ~crc;
  for (; len >= 3 * SF__SSE42_LONG; p += 3 * SF__SSE42_LONG, len -= 3 * SF__SSE42_LONG)
    raw = sf__three_way(sf__shift_long, SF__SSE42_LONG, raw, p);
  for (; len >= 3 * SF__SSE42_SHORT; p += 3 * SF__SSE42_SHORT, len -= 3 * SF__SSE42_SHORT)
    raw = sf__three_way(sf__shift_short, SF__SSE42_SHORT, raw, p);
  return ~sf__crc32c_sse42_raw(raw, p, len);
}

#endif /* __x86_64__ */
