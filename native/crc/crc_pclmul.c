/* crc_pclmul.c: CRC-32C and CRC-32 by folding with PCLMULQDQ (x86-64; built with -msse4.2 -mpclmul).
 *
 * Folding keeps four 128-bit lanes of the message and, for each next 64 bytes, multiplies every lane
 * forward by x^512 and adds the new data, so the message shrinks without changing its remainder mod P.
 * What is left, one lane, is then an ordinary 16-byte message whose CRC (from a zero register) is
 * the CRC of everything before it: that last step, and inputs too short to fold, use the CRC-32C
 * instruction or the portable tables. The multipliers and their derivation are in crc_portable.c.
 */
#if defined(__x86_64__)

#include "crc_x86.h"

static inline __m128i sf__load128(const uint8_t *p) {
  return _mm_loadu_si128((const __m128i *)p);
}

static inline uint32_t sf__tail(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  return c == &sf__crc32c_poly ? sf__crc32c_sse42_raw(raw, p, n) : sf__crc_portable_raw(c, raw, p, n);
}

uint32_t sf__crc_pclmul_finish(const sf__crc_poly_t *c, __m128i x, const uint8_t *p, size_t n) {
  for (; n >= 16; p += 16, n -= 16) x = _mm_xor_si128(sf__fold128(x, c, 0), sf__load128(p));
  /* The lane shrinks to one word with the same remainder (crc_portable.c, finish). */
  const __m128i k = _mm_loadu_si128((const __m128i *)c->finish);
  __m128i l1 = _mm_and_si128(x, _mm_set_epi64x(0, 0xffffffff)); /* bytes 0..3 */
  __m128i l0 = _mm_srli_epi64(x, 32);                           /* bytes 4..7 in the low word */
  __m128i y = _mm_xor_si128(_mm_clmulepi64_si128(l1, k, 0x00), _mm_clmulepi64_si128(l0, k, 0x10));
  uint64_t word = (uint64_t)_mm_cvtsi128_si64(y) ^ (uint64_t)_mm_extract_epi64(x, 1);
  uint32_t raw = c == &sf__crc32c_poly ? (uint32_t)_mm_crc32_u64(0, word) : sf__crc_word(c, word);
  return sf__tail(c, raw, p, n);
}

uint32_t sf__crc_pclmul_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  if (n < 64) return sf__tail(c, raw, p, n);

  __m128i x0 = _mm_xor_si128(sf__load128(p), _mm_cvtsi32_si128((int)raw));
  __m128i x1 = sf__load128(p + 16), x2 = sf__load128(p + 32), x3 = sf__load128(p + 48);
  for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
    x0 = _mm_xor_si128(sf__fold128(x0, c, 3), sf__load128(p));
    x1 = _mm_xor_si128(sf__fold128(x1, c, 3), sf__load128(p + 16));
    x2 = _mm_xor_si128(sf__fold128(x2, c, 3), sf__load128(p + 32));
    x3 = _mm_xor_si128(sf__fold128(x3, c, 3), sf__load128(p + 48));
  }
  __m128i x = _mm_xor_si128(_mm_xor_si128(sf__fold128(x0, c, 2), sf__fold128(x1, c, 1)),
                            _mm_xor_si128(sf__fold128(x2, c, 0), x3));
  return sf__crc_pclmul_finish(c, x, p, n);
}

uint32_t sf__crc32c_pclmul(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_pclmul_raw(&sf__crc32c_poly, ~crc, data, len);
}

uint32_t sf__crc32_pclmul(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_pclmul_raw(&sf__crc32_poly, ~crc, data, len);
}

#endif /* __x86_64__ */
