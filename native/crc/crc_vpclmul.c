/* crc_vpclmul.c: CRC-32C and CRC-32 by folding with AVX-512 VPCLMULQDQ (x86-64; built with
 * -mavx512f -mavx512vl -mvpclmulqdq -mpclmul -msse4.2).
 *
 * The same folding as crc_pclmul.c, four 128-bit lanes per 512-bit register and four registers, so
 * 256 bytes move forward per step with eight multiplies and four three-way XORs (vpternlogq). Inputs
 * under 256 bytes and the last lane go to the 128-bit code, which has the lower start-up cost.
 */
#if defined(__x86_64__)

#include "crc_x86.h"

static inline __m512i sf__fold_k512(const sf__crc_poly_t *c, int i) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)c->fold[i]));
}

/* x * k + y, lane by lane. 0x96 is the truth table of a ^ b ^ c. */
static inline __m512i sf__fold_add(__m512i x, __m512i k, __m512i y) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);
}

static inline __m512i sf__load512(const uint8_t *p) {
  return _mm512_loadu_si512((const void *)p);
}

static uint32_t sf__crc_vpclmul_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  if (n < 256) return sf__crc_pclmul_raw(c, raw, p, n);

  __m512i z0 = _mm512_xor_si512(sf__load512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)raw)));
  __m512i z1 = sf__load512(p + 64), z2 = sf__load512(p + 128), z3 = sf__load512(p + 192);
  const __m512i k2048 = sf__fold_k512(c, 15);
  for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
    z0 = sf__fold_add(z0, k2048, sf__load512(p));
    z1 = sf__fold_add(z1, k2048, sf__load512(p + 64));
    z2 = sf__fold_add(z2, k2048, sf__load512(p + 128));
    z3 = sf__fold_add(z3, k2048, sf__load512(p + 192));
  }
  const __m512i k512 = sf__fold_k512(c, 3);
  __m512i z = sf__fold_add(z0, sf__fold_k512(c, 11), sf__fold_add(z1, sf__fold_k512(c, 7), sf__fold_add(z2, k512, z3)));
  for (; n >= 64; p += 64, n -= 64) z = sf__fold_add(z, k512, sf__load512(p));

  /* Lanes 0..2 move 384, 256 and 128 bits forward onto lane 3. */
  __m128i x =
      _mm_xor_si128(_mm_xor_si128(sf__fold128(_mm512_extracti32x4_epi32(z, 0), c, 2),
                                  sf__fold128(_mm512_extracti32x4_epi32(z, 1), c, 1)),
                    _mm_xor_si128(sf__fold128(_mm512_extracti32x4_epi32(z, 2), c, 0), _mm512_extracti32x4_epi32(z, 3)));
  return sf__crc_pclmul_finish(c, x, p, n);
}

uint32_t sf__crc32c_vpclmul(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_vpclmul_raw(&sf__crc32c_poly, ~crc, data, len);
}

uint32_t sf__crc32_vpclmul(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_vpclmul_raw(&sf__crc32_poly, ~crc, data, len);
}

#endif /* __x86_64__ */
