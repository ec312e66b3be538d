/* crc_three_way.h: the 3-way interleaved block loop, shared by every path whose per-word step is one
 * long dependency chain: the portable tables, the SSE4.2 crc32 instruction and the Armv8 CRC32
 * instructions. Three chains run side by side over three adjacent blocks of B bytes, so an
 * out-of-order core overlaps them; the registers are then joined by shifting the earlier ones over
 * the later blocks (the shift tables of crc_internal.h), which costs two shifts per 3B bytes.
 *
 * The step is passed as a function pointer to always-inlined code, so each caller gets its own copy
 * of the loop with the step inlined: one loop to read, no indirect call at run time. */
#ifndef STEADFAST_CRC_THREE_WAY_H
#define STEADFAST_CRC_THREE_WAY_H

#include "crc_internal.h"

/* The raw register after the eight bytes of word (little-endian), continuing from raw. The register
 * travels zero-extended in 64 bits: the crc32 instructions take and give it so, and a 32-bit chain
 * would put a zero-extending move between every two of them (measured: a quarter slower on x86-64). */
typedef uint64_t (*sf__crc_step_fn)(const sf__crc_poly_t *c, uint64_t raw, uint64_t word);

static inline __attribute__((always_inline)) uint32_t sf__crc_three_way(const sf__crc_poly_t *c, sf__crc_step_fn step,
                                                                        const uint32_t shift[4][256], size_t b,
                                                                        uint32_t raw, const uint8_t *p) {
  uint64_t c0 = raw, c1 = 0, c2 = 0;
  for (size_t i = 0; i < b; i += 8) {
    c0 = step(c, c0, sf__load64(__builtin_assume_aligned(p + i, 8)));
    c1 = step(c, c1, sf__load64(__builtin_assume_aligned(p + b + i, 8)));
    c2 = step(c, c2, sf__load64(__builtin_assume_aligned(p + 2 * b + i, 8)));
  }
  return sf__crc_shift(shift, sf__crc_shift(shift, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
}

/* Consumes every whole 3-way block at the start of *p, which must be 8-aligned (boards without fast
 * misaligned loads would otherwise trap or split every load), and advances *p and *n past them. */
static inline __attribute__((always_inline)) uint32_t sf__crc_three_way_blocks(const sf__crc_poly_t *c,
                                                                               sf__crc_step_fn step, uint32_t raw,
                                                                               const uint8_t **p, size_t *n) {
  for (; *n >= 3 * SF__CRC_BLOCK_LONG; *p += 3 * SF__CRC_BLOCK_LONG, *n -= 3 * SF__CRC_BLOCK_LONG)
    raw = sf__crc_three_way(c, step, c->shift_long, SF__CRC_BLOCK_LONG, raw, *p);
  for (; *n >= 3 * SF__CRC_BLOCK_SHORT; *p += 3 * SF__CRC_BLOCK_SHORT, *n -= 3 * SF__CRC_BLOCK_SHORT)
    raw = sf__crc_three_way(c, step, c->shift_short, SF__CRC_BLOCK_SHORT, raw, *p);
  return raw;
}

#endif /* STEADFAST_CRC_THREE_WAY_H */
