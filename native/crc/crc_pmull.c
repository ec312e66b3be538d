/* crc_pmull.c: CRC-32C and CRC-32 by folding with the Armv8 PMULL carry-less multiply (arm64 only;
 * built with -march=armv8-a+crc+crypto, called when the kernel reports both HWCAP_PMULL and
 * HWCAP_CRC32).
 *
 * The folding of crc_pclmul.c, with vmull_p64 (low halves) and vmull_high_p64 (high halves): four
 * 128-bit lanes move 512 bits forward per 64 bytes, then fold onto one lane, which shrinks to one word
 * with the finish[] multipliers (crc_portable.c); the CRC32 instructions finish that word and the
 * tail, and take inputs too short to fold. */
#if defined(__aarch64__)

#include <arm_acle.h>
#include <arm_neon.h>

#include "crc_internal.h"

static inline uint64x2_t sf__load128(const uint8_t *p) {
  return vreinterpretq_u64_u8(vld1q_u8(p));
}

static inline uint64x2_t sf__fold(uint64x2_t x, const uint64_t k[2]) {
  uint64x2_t kv = vld1q_u64(k);
  poly128_t lo = vmull_p64((poly64_t)vgetq_lane_u64(x, 0), (poly64_t)k[0]);
  poly128_t hi = vmull_high_p64(vreinterpretq_p64_u64(x), vreinterpretq_p64_u64(kv));
  return veorq_u64(vreinterpretq_u64_p128(lo), vreinterpretq_u64_p128(hi));
}

/* The low 64 bits of a 64 x 64 carry-less product. */
static inline uint64_t sf__clmul_low(uint64_t a, uint64_t b) {
  return vgetq_lane_u64(vreinterpretq_u64_p128(vmull_p64((poly64_t)a, (poly64_t)b)), 0);
}

static uint32_t sf__crc_pmull_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  if (n < 64) return sf__crc_armcrc_raw(c, raw, p, n);

  uint64x2_t x0 = veorq_u64(sf__load128(p), vsetq_lane_u64(raw, vdupq_n_u64(0), 0));
  uint64x2_t x1 = sf__load128(p + 16), x2 = sf__load128(p + 32), x3 = sf__load128(p + 48);
  for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
    x0 = veorq_u64(sf__fold(x0, c->fold[3]), sf__load128(p));
    x1 = veorq_u64(sf__fold(x1, c->fold[3]), sf__load128(p + 16));
    x2 = veorq_u64(sf__fold(x2, c->fold[3]), sf__load128(p + 32));
    x3 = veorq_u64(sf__fold(x3, c->fold[3]), sf__load128(p + 48));
  }
  /* Lanes 0..2 move 384, 256 and 128 bits forward onto lane 3. */
  uint64x2_t x =
      veorq_u64(veorq_u64(sf__fold(x0, c->fold[2]), sf__fold(x1, c->fold[1])), veorq_u64(sf__fold(x2, c->fold[0]), x3));
  for (; n >= 16; p += 16, n -= 16) x = veorq_u64(sf__fold(x, c->fold[0]), sf__load128(p));

  uint64_t lo = vgetq_lane_u64(x, 0), hi = vgetq_lane_u64(x, 1);
  uint64_t word = sf__clmul_low(lo & 0xffffffff, c->finish[0]) ^ sf__clmul_low(lo >> 32, c->finish[1]) ^ hi;
  raw = c == &sf__crc32c_poly ? __crc32cd(0, word) : __crc32d(0, word);
  return sf__crc_armcrc_raw(c, raw, p, n);
}

uint32_t sf__crc32c_pmull(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_pmull_raw(&sf__crc32c_poly, ~crc, data, len);
}

uint32_t sf__crc32_pmull(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_pmull_raw(&sf__crc32_poly, ~crc, data, len);
}

#endif /* __aarch64__ */
