/* crc_x86.h: what the x86-64 CRC files share (included only by files built with SSE4.2 and PCLMUL). */
#ifndef STEADFAST_CRC_X86_H
#define STEADFAST_CRC_X86_H

#include <immintrin.h>

#include "crc_internal.h"

/* The 128-bit folding path on the raw register (crc_pclmul.c). */
uint32_t sf__crc_pclmul_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n);

/* Folds the remaining whole 16-byte blocks of p into the lane x, then finishes the CRC of the lane
 * and of the last n % 16 bytes (crc_pclmul.c). */
uint32_t sf__crc_pclmul_finish(const sf__crc_poly_t *c, __m128i x, const uint8_t *p, size_t n);

#endif /* STEADFAST_CRC_X86_H */
