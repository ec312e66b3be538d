/* crc_x86.h: what the x86-64 CRC files share (included only by files built with SSE4.2 and PCLMUL). */
#ifndef STEADFAST_CRC_X86_H
#define STEADFAST_CRC_X86_H

#include <immintrin.h>

#include "crc_internal.h"

/* The lane x moved (i + 1) * 128 bits forward (crc_portable.c explains the multipliers). */
static inline __m128i sf__fold128(__m128i x, const sf__crc_poly_t *c, int i) {
  __m128i k = _mm_loadu_si128((const __m128i *)c->fold[i]);
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The 128-bit folding path on the raw register (crc_pclmul.c). */
uint32_t sf__crc_pclmul_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n);

/* Folds the remaining whole 16-byte blocks of p into the lane x, then finishes the CRC of the lane
 * and of the last n % 16 bytes (crc_pclmul.c). */
uint32_t sf__crc_pclmul_finish(const sf__crc_poly_t *c, __m128i x, const uint8_t *p, size_t n);

#endif /* STEADFAST_CRC_X86_H */
