/* crc_combine.c: arithmetic modulo P on reflected 32-bit values, and CRC combination.
 *
 * For CRCs with pre- and post-inversion, CRC(A || B) = CRC(A) * x^(8 |B|) mod P  xor  CRC(B): the
 * inversions contributed by B's start and end cancel out, which is why no raw register appears here.
 * x^(8n) is built from the precomputed squares x^(2^k), so a combine costs O(log n) multiplies.
 */
#include "crc_internal.h"

uint32_t sf__crc_multiply(uint32_t poly, uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = 0x80000000u; m; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
  }
  return product;
}

uint32_t sf__crc_xpow8n(const sf__crc_poly_t *c, uint64_t n) {
  uint32_t r = 0x80000000u; /* x^0 */
  /* 8n = n << 3, so bit k of n selects x^(2^(k + 3)); x2n reaches k + 3 = 66. */
  for (int k = 3; n; k++, n >>= 1)
    if (n & 1) r = sf__crc_multiply(c->poly, r, c->x2n[k]);
  return r;
}

static uint32_t sf__crc_combine(const sf__crc_poly_t *c, uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return sf__crc_multiply(c->poly, sf__crc_xpow8n(c, len_b), crc_a) ^ crc_b;
}

uint32_t sf_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return sf__crc_combine(&sf__crc32c_poly, crc_a, crc_b, len_b);
}

uint32_t sf_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return sf__crc_combine(&sf__crc32_poly, crc_a, crc_b, len_b);
}
